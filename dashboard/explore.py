"""The "Understand k-means" tab: sweep over k, the algorithm step by step, features beyond
colour, engines side by side, and compression.

One small ``render_*`` function per panel; each draws what the cached calls of
:mod:`dashboard.pipeline` return and computes nothing itself.
"""

from __future__ import annotations

import shlex
from dataclasses import replace

import numpy as np
import streamlit as st

from core.explore.compare import ENGINE_RUNS
from core.explore.steps import Steps
from core.explore.sweep import DEFAULT_KS, sweep_gif, sweep_zip
from core.inputs.masking import n_counted, transparent_outside
from core.outputs import figures
from core.outputs.export import compact_number, segmented_image
from core.outputs.previews import preview_bytes
from dashboard import links, pipeline
from dashboard.controls import COLOR_SPACE_LABELS, Params
from dashboard.formats import plural, wcss_label
from dashboard.pipeline import k_range
from dashboard.views import CHECKERBOARD_CSS, PLOTLY_CONFIG

PANELS = {
    "sweep": ":material/animation: Sweep over k",
    "steps": ":material/footprint: Step by step",
    "features": ":material/texture: Position & texture",
    "engines": ":material/speed: Engines side by side",
    "compression": ":material/compress: Compression",
}
links.choice("explore", list(PANELS), "sweep")
#: Panels that leave out the pixels that don't count, as the segmentation does.
COUNTED_PANELS = ("sweep", "steps")
#: Pixels of each picture the panels draw.
PICTURE_PIXELS = 250_000


def _picture(image: np.ndarray) -> bytes:
    """A PNG for ``st.image`` sized by core for any aspect ratio (a 100,000 × 2 strip
    handed to ``st.image`` as an array would be scaled to zero rows)."""
    return preview_bytes(image, max_pixels=PICTURE_PIXELS)


def render_explore(
    key: str,
    work: np.ndarray,
    params: Params,
    *,
    counted: np.ndarray | None = None,
    file_name: str = "photo.jpg",
) -> None:
    """The panel picker and the chosen panel (only that one runs).

    `work` is the working-size image; `counted` the same with the pixels that do not count
    (``params.mask``) transparent (:func:`pipeline.counted_image`): the sweep and the steps
    run on it, so they leave out what the segmentation leaves out. The other panels need
    every pixel (features, engines, compression)."""
    links.prime("explore")
    choice = st.segmented_control(
        "Explore",
        list(PANELS),
        format_func=PANELS.__getitem__,
        required=True,
        key="explore",
        label_visibility="collapsed",
    ) or links.remembered("explore")  # required: never empty, but typed as if it could be
    links.keep("explore", choice)
    st.html(CHECKERBOARD_CSS)
    if choice in COUNTED_PANELS and counted is not None:
        if counted.shape[2] == 4:
            st.caption(
                ":material/texture: The pixels left out of the segmentation (sidebar: "
                "*Pixels that don't count*) are left out here too (checkerboard)."
            )
        work = counted
    if choice == "sweep":  # its shell command names the file
        render_sweep(key, work, _fit_k(work, params), file_name=file_name)
    else:
        RENDERERS[choice](key, work, _fit_k(work, params))


def _fit_k(work: np.ndarray, params: Params) -> Params:
    """`params` with k lowered to what the working image can hold, saying so."""
    k, note = k_range(params.k, n_counted(work))
    if note:
        st.caption(f":material/info: {note}")
    return replace(params, k=k)


def _ks_ui(key: str, work: np.ndarray) -> tuple[int, ...]:
    """Values of k to sweep, only those the working image can hold."""
    top, note = k_range(32, n_counted(work))
    options = list(range(2, top + 1)) or [1]
    default = [k for k in DEFAULT_KS if k in options] or options[:1]
    ks = st.multiselect(
        "Values of k",
        options,
        default=default,
        key=key,
        help="The sweep shares the image's colour table between every k.",
    )
    if note:
        st.caption(f":material/info: {note}")
    return tuple(sorted(ks)) or tuple(default)


def render_sweep(
    key: str, work: np.ndarray, params: Params, *, file_name: str = "photo.jpg"
) -> None:
    st.markdown("The same image for several k at once: watch detail appear as k grows.")
    ks = _ks_ui("sweep_ks", work)
    with st.spinner(f"Segmenting for k = {', '.join(map(str, ks))}…"):
        results = pipeline.sweep_results(key, work, params, ks)
    per_row = 4
    with st.container(key="sweep_images"):  # transparent where pixels do not count
        for start in range(0, len(results), per_row):
            columns = st.columns(per_row)
            for column, result in zip(columns, results[start : start + per_row], strict=False):
                column.image(
                    _picture(segmented_image(result)), caption=f"k = {result.k}", width="stretch"
                )
    st.plotly_chart(
        figures.wcss_curves_figure(
            {"WCSS": ([r.k for r in results], [r.wcss for r in results])},
            title="WCSS for each k of the sweep",
            x_title="k",
        ).update_layout(yaxis_title=wcss_label(COLOR_SPACE_LABELS[params.color_space])),
        key="sweep_wcss",
        config=PLOTLY_CONFIG,
    )
    left, right = st.columns(2)
    left.download_button(
        "Animated GIF (one frame per k)",
        data=lambda: sweep_gif(results),
        file_name=f"kseg_sweep_{params.color_space}.gif",
        mime="image/gif",
        icon=":material/gif_box:",
        key="dl_gif",
        width="stretch",
    )
    right.download_button(
        "Frames (ZIP of PNGs)",
        data=lambda: sweep_zip(results),
        file_name=f"kseg_sweep_{params.color_space}_frames.zip",
        mime="application/zip",
        icon=":material/folder_zip:",
        key="dl_frames",
        width="stretch",
    )
    command = (
        f"kseg sweep {shlex.quote(file_name)} --ks {','.join(map(str, ks))}"
        f" --color-space {params.color_space}"
        f" --seed {params.seed} --n-init {params.n_init} -o sweep.gif"
        + "".join(f" {shlex.quote(flag)}" for flag in params.mask.flags())
    )
    st.caption(f"Same from a shell: `{command}`.")


def render_steps(key: str, work: np.ndarray, params: Params) -> None:
    st.markdown(
        "**1.** pick k centres · **2.** give every pixel to the nearest · **3.** move each "
        "centre to the mean of its pixels · **4.** repeat until nothing moves. "
        "Below, one plain run of each initialisation from the same seed, iteration by "
        f"iteration, on a {pipeline.STEPS_PIXELS // 1000}k-pixel copy."
    )
    with st.spinner("Recording every iteration…"):
        small, plus = pipeline.steps_run(key, work, params, "k-means++")
        _, random = pipeline.steps_run(key, work, params, "random")
    longest = max(plus.n_iter, random.n_iter)
    if longest > 1:
        i = st.slider(
            "Iteration",
            0,
            longest - 1,
            0,
            key="step_i",
            help="0 shows the initial centres (step 1); the last shows convergence.",
        )
    else:  # one colour, or k = 1: the first centres are already the answer
        i = 0
        st.caption("k-means had nothing to move here: the first centres are the answer.")
    runs = {"k-means++": plus, "random": random}
    _render_iteration_images(runs, i)
    st.plotly_chart(
        figures.wcss_curves_figure(
            {name: (list(range(s.n_iter)), list(s.wcss)) for name, s in runs.items()},
            title="WCSS falls at every iteration",
            x_title="iteration",
            marker_x=i,
        ).update_layout(yaxis_title=wcss_label(COLOR_SPACE_LABELS[params.color_space])),
        key="steps_wcss",
        config=PLOTLY_CONFIG,
    )
    shown = st.radio(
        "Centroids in colour space for", ["k-means++", "random"], horizontal=True, key="steps_init"
    )
    steps = runs[shown]
    figure = figures.steps_figure(steps, small, min(i, steps.n_iter - 1))
    # Paths and outlines in a grey the dark theme shows too (see pipeline.CENTROID_OUTLINE).
    figure.update_traces(
        line_color=pipeline.CENTROID_OUTLINE,
        marker_line_color=pipeline.CENTROID_OUTLINE,
        selector=lambda trace: trace.name.startswith("centroid"),
    )
    st.plotly_chart(
        figure,
        key="steps_scatter",
        config=PLOTLY_CONFIG,
    )


def _render_iteration_images(runs: dict[str, Steps], i: int) -> None:
    """Each run's image at iteration `i` (or its last, if it converged sooner)."""
    columns = st.container(key="steps_images").columns(len(runs))  # transparent: left out
    for column, (name, steps) in zip(columns, runs.items(), strict=True):
        at = min(i, steps.n_iter - 1)
        column.image(
            _picture(transparent_outside(steps.segmented(at), steps.valid)),
            width="stretch",
            caption=f"{name}: iteration {at} of {steps.n_iter - 1}, "
            f"WCSS {compact_number(steps.wcss[at])}, {steps.n_changed[at]:,} pixels moved",
        )


def _feature_options_ui() -> tuple[float, float, int]:
    """Position weight, texture weight and the clean-up threshold (0 = off)."""
    left, middle, right = st.columns(3)
    position = left.slider(
        "Position weight",
        0.0,
        3.0,
        0.0,
        0.25,
        key="position_weight",
        help="0 = colour only. Around 1, position matters as much as colour.",
    )
    texture = middle.slider(
        "Texture weight",
        0.0,
        3.0,
        0.0,
        0.25,
        key="texture_weight",
        help="0 = no texture. Texture costs ~1 s per megapixel.",
    )
    min_region = right.number_input(
        "Merge regions smaller than (px)",
        0,
        10_000,
        0,
        10,
        key="min_region",
        help="Clean-up: connected regions smaller than this join the cluster around them. 0 = off.",
    )
    return float(position), float(texture), int(min_region)


def render_features(key: str, work: np.ndarray, params: Params) -> None:
    st.markdown(
        "Colour alone groups pixels that look alike wherever they are. Add each pixel's "
        "**position** to get compact regions, or its **texture** (the Leung–Malik filter "
        "bank) to tell grass from gravel of the same colour. Weights are relative to colour."
    )
    position, texture, min_region = _feature_options_ui()
    with st.spinner("Computing features and clustering every pixel…"):
        small, result, moved = pipeline.features_result(
            key, work, params, position, texture, min_region
        )
    a, b = st.columns(2)
    a.image(_picture(small), caption="Original (downscaled copy)", width="stretch")
    b.image(
        _picture(result.segmented),
        width="stretch",
        caption=f"k = {result.k}, colour"
        + (" + position" if position else "")
        + (" + texture" if texture else ""),
    )
    notes = []
    if position or texture:
        notes.append(
            f"Features give every pixel {result.centers.shape[1]} numbers, so pixels of one "
            f"colour can part ways: k-means ran on all {small.shape[0] * small.shape[1]:,} "
            "pixels (kseg's distinct-colour shortcut is exact only for colour)."
        )
    if min_region > 1:
        notes.append(f"Clean-up moved {moved:,} pixels into the clusters around them.")
    for note in notes:
        st.caption(note)
    with st.expander("The Leung–Malik filter bank"):
        st.plotly_chart(pipeline.filter_bank_figure(), key="lm_bank", config=PLOTLY_CONFIG)


#: Sizes the engines are compared at: label -> max pixels (None: the working image itself).
#: Two of the engines touch every pixel once per restart, so the default is a small copy
#: (issue 12: a few seconds, not 17 s at 0.25 MP).
ENGINE_SIZES: dict[str, int | None] = {
    "0.1 MP (quick)": 100_000,
    "0.25 MP": 250_000,
    "The working size": None,
}


def render_engines(key: str, work: np.ndarray, params: Params) -> None:
    st.markdown(
        "The same image and parameters through kseg and its peers. WCSS is measured on "
        "every pixel for all of them; agreement is the adjusted Rand index with kseg's "
        "labels (1 = the same partition)."
    )
    if not st.toggle(
        "Run the comparison",
        key="run_engines",
        help="A few seconds at 0.1 MP, ~15 s at 0.25 MP, a minute at 1 MP: two of the "
        "engines touch every pixel, once per restart (n_init from the sidebar, the same "
        "for every engine).",
    ):
        st.caption("Switch on to run scikit-learn and OpenCV on this image.")
        return
    size = st.radio(
        "Compare on",
        list(ENGINE_SIZES),
        key="engines_size",
        horizontal=True,
        help="Every engine gets the same pixels. The working size is the sidebar's "
        "(choose Full there to compare on every pixel of the photo).",
    )
    # The key names the pixels: the file, the working size, then the size compared at.
    key = f"{key}:{work.shape[1]}x{work.shape[0]}"
    image = pipeline.shrunk_image(key, work, ENGINE_SIZES[size])
    height, width = image.shape[:2]
    st.caption(
        f"Compared on {width} × {height} pixels ({width * height:,}), the same for every "
        f"engine; the working image is {work.shape[1]} × {work.shape[0]}."
    )
    with st.spinner(
        f"Running kseg, scikit-learn and OpenCV on {width * height:,} pixels, "
        f"{plural(params.n_init, 'restart')} each…",
        show_time=True,
    ):
        runs = pipeline.engine_runs(f"{key}:{width}x{height}", image, params)
    fastest = runs[0].seconds
    wcss = wcss_label(COLOR_SPACE_LABELS[params.color_space])
    st.dataframe(
        [
            {
                "engine": r.engine,
                "time (s)": round(r.seconds, 3),
                "× kseg's time": round(r.seconds / fastest, 1),
                "iterations": "—" if r.n_iter is None else str(r.n_iter),
                wcss: compact_number(r.wcss),
                "agreement (ARI)": round(r.agreement, 4),
            }
            for r in runs
        ],
        hide_index=True,
        column_config={"engine": st.column_config.TextColumn(width="medium")},
        key="engines_table",
    )
    # What each engine does, in full: a table cell cut these sentences off at its width.
    st.markdown("\n".join(f"- **{r.engine}**: {ENGINE_RUNS[r.engine]}" for r in runs))
    st.caption("OpenCV does not report its iterations (—).")


def render_compression(key: str, work: np.ndarray, params: Params) -> None:
    st.markdown(
        "k-means is also a compressor: keep k palette colours and one small index per "
        "pixel. Sizes are real indexed PNGs; PSNR says how close the result looks "
        "(30 dB and up is hard to tell apart)."
    )
    ks = _ks_ui("compression_ks", work)
    with st.spinner("Segmenting and encoding for every k…"):
        rows = pipeline.compression_rows(key, work, params, ks)
    st.plotly_chart(
        figures.compression_figure(
            [r.k for r in rows], [r.bits_per_pixel for r in rows], [r.psnr for r in rows]
        ),
        key="compression_chart",
        config=PLOTLY_CONFIG,
    )
    st.dataframe(
        [
            {
                "k": r.k,
                "index bits": r.index_bits,
                "indexed PNG (KB)": round(r.indexed_bytes / 1024, 1),
                "24-bit PNG (KB)": round(r.original_bytes / 1024, 1),
                "smaller by": f"{r.ratio:.1f}×",
                "bits per pixel": round(r.bits_per_pixel, 2),
                "PSNR (dB)": round(r.psnr, 1),
            }
            for r in rows
        ],
        hide_index=True,
    )


#: The function that draws each panel.
RENDERERS = {
    "sweep": render_sweep,
    "steps": render_steps,
    "features": render_features,
    "engines": render_engines,
    "compression": render_compression,
}
