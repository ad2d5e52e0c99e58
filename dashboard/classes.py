"""Named classes in the app: the edit (merge, rename, drop), its address, and its editor.

An :class:`Edit` says which clusters form which named class and which are dropped; applied
to a result's :attr:`core.Segmentation.model` it gives the edited :class:`core.ClassModel`
(:meth:`Edit.model`), and :meth:`core.Segmentation.relabel` shows the result in those
classes with no refit (:func:`dashboard.pipeline.relabelled` caches it, keyed on the edit).

The edit lives in the address, compactly: ``classes=water:0.3;forest:1&drop=5`` (only the
classes that are not a lone cluster with its default name). :func:`current_edit` reads it
on a session's first run, keeps it in the session after that, and forgets it when the
clusters it was made on change (another image, k, colour space …). Each edit pushes the
previous one on an undo stack.

The editor (:func:`render_editor`) draws, beside the clusters: a clickable image (the
original or the classes; a click picks the cluster under the pointer and highlights it,
with the ``streamlit-image-coordinates`` component, served by this server), one name
field per class, a multiselect of clusters with *Merge* and *Drop*, *Undo* and *Reset*,
and suggested merges of classes whose colours are within a CIEDE2000 threshold.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
import streamlit.components.v1 as components
import streamlit_image_coordinates  # type: ignore[import-untyped]
from streamlit.delta_generator import DeltaGenerator

import core
from core.features.ciede2000 import close_pairs
from core.results.classmodel import default_class_name
from dashboard import links
from dashboard.formats import percent

#: Longest class name the address carries (longer names are cut there).
NAME_MAX = 60
#: Default CIEDE2000 threshold of the suggested merges: under about 10, most people see
#: one colour.
MERGE_THRESHOLD = 10.0
#: At most this many suggested merges are offered at once (closest first).
SUGGESTIONS_MAX = 4
_CLUSTER_MAX = 255
_ESCAPES = {"%": "%25", ":": "%3A", ";": "%3B"}


def _escape(name: str) -> str:
    return "".join(_ESCAPES.get(ch, ch) for ch in name)


def _unescape(text: str) -> str:
    return re.sub(
        r"%(25|3A|3B)", lambda m: {"25": "%", "3A": ":", "3B": ";"}[m.group(1).upper()], text,
        flags=re.IGNORECASE,
    )  # fmt: skip


@dataclass(frozen=True)
class Edit:
    """Named and merged classes and dropped clusters, as the address writes them.

    Attributes
    ----------
    groups : tuple of (str, tuple of int)
        Each named (or merged) class and its clusters, ordered by their smallest cluster;
        clusters in no group and not dropped stay a class of their own with their
        default name.
    drop : tuple of int
        Dropped clusters, sorted.
    """

    groups: tuple[tuple[str, tuple[int, ...]], ...] = ()
    drop: tuple[int, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether the edit changes nothing (numbered clusters)."""
        return not self.groups and not self.drop

    # --- the address ----------------------------------------------------------------

    def classes_text(self) -> str:
        """``water:0.3;forest:1``: the groups for the address ("" when none)."""
        return ";".join(
            f"{_escape(name)}:{'.'.join(map(str, clusters))}" for name, clusters in self.groups
        )

    def drop_text(self) -> str:
        """``5.6``: the dropped clusters for the address ("" when none)."""
        return ".".join(map(str, self.drop))

    @classmethod
    def parse(cls, classes: str, drop: str) -> Edit:
        """The inverse of :meth:`classes_text` and :meth:`drop_text`.

        Raises
        ------
        ValueError
            If either is malformed: a name empty, too long or with control characters, a
            cluster not a whole number up to 255 or listed twice.
        """
        groups = []
        seen: set[int] = set()
        for part in filter(None, classes.split(";")):
            name, sep, numbers = part.rpartition(":")
            name = _unescape(name).strip()
            if not sep or not name or len(name) > NAME_MAX or not name.isprintable():
                raise ValueError("classes")
            groups.append((name, _clusters(numbers, seen, "classes")))
        return cls(_ordered(groups), _clusters(drop, seen, "drop") if drop else ())

    # --- the model ------------------------------------------------------------------

    def model(self, base: core.ClassModel) -> core.ClassModel:
        """`base` (a result's numbered clusters) in these classes.

        Raises
        ------
        ValueError
            If a cluster is out of range for `base`, names clash or every cluster is
            dropped (the message says which).
        """
        if self.empty:
            return base
        named = {c for _, clusters in self.groups for c in clusters} | set(self.drop)
        groups = [*self.groups]
        groups += [(default_class_name(i), (i,)) for i in range(base.k) if i not in named]
        return base.with_classes(dict(_ordered(groups)), drop=self.drop)

    @classmethod
    def of(cls, model: core.ClassModel) -> Edit:
        """The edit that gives `model` from its numbered clusters."""
        groups = [
            (name, clusters)
            for name, clusters in zip(model.class_names, model.clusters_of, strict=True)
            if not (len(clusters) == 1 and name == default_class_name(clusters[0]))
        ]
        return cls(_ordered(groups), tuple(sorted(model.dropped)))

    # --- editing (each returns a new edit; ValueError when the model refuses) --------

    def renamed(self, base: core.ClassModel, index: int, name: str) -> Edit:
        return Edit.of(self.model(base).rename(index, name[:NAME_MAX]))

    def merged(self, base: core.ClassModel, clusters: list[int], name: str | None) -> Edit:
        """The classes of `clusters` made one class, named `name` (default: the name of
        the first of them that has been named, else of the first)."""
        model = self.model(base)
        chosen = sorted(set(clusters) - set(model.dropped))
        if len(chosen) < 2 and not name:
            raise ValueError("Choose two clusters or more to merge (or type a new name).")
        if not chosen:
            raise ValueError("Choose the clusters to merge.")
        classes = sorted({int(model.class_of[c]) for c in chosen})
        if not name:
            names = [model.class_names[c] for c in classes]
            defaults = {default_class_name(c) for c in range(base.k)}
            name = next((n for n in names if n not in defaults), names[0])
        groups = []
        merged: list[int] = []
        for c, (old, members) in enumerate(zip(model.class_names, model.clusters_of, strict=True)):
            rest = tuple(m for m in members if m not in chosen)
            if c in classes:
                merged += [m for m in members if m in chosen]
                if rest:  # a class only partly chosen keeps the rest under its name
                    groups.append((old if old != name else f"{old} (rest)", rest))
            else:
                groups.append((old, rest))
        groups.append((name.strip()[:NAME_MAX], tuple(sorted(merged))))
        return Edit.of(base.with_classes(dict(_ordered(groups)), drop=model.dropped))

    def dropped(self, base: core.ClassModel, clusters: list[int]) -> Edit:
        """`clusters` dropped: their pixels count nowhere."""
        if not clusters:
            raise ValueError("Choose the clusters to drop.")
        model = self.model(base)
        drop = set(model.dropped) | set(clusters)
        groups = [
            (name, tuple(m for m in members if m not in drop))
            for name, members in zip(model.class_names, model.clusters_of, strict=True)
        ]
        groups = [(name, members) for name, members in groups if members]
        if not groups:
            raise ValueError("Every cluster would be dropped: keep at least one class.")
        return Edit.of(base.with_classes(dict(_ordered(groups)), drop=sorted(drop)))


def _clusters(text: str, seen: set[int], key: str) -> tuple[int, ...]:
    if not re.fullmatch(r"\d{1,3}(\.\d{1,3})*", text):
        raise ValueError(key)
    values = tuple(int(v) for v in text.split("."))
    if any(v > _CLUSTER_MAX or v in seen for v in values) or len(set(values)) != len(values):
        raise ValueError(key)
    seen.update(values)
    return tuple(sorted(values))


def _ordered(groups: list[tuple[str, tuple[int, ...]]]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    return tuple(sorted(((n, tuple(sorted(c))) for n, c in groups), key=lambda g: min(g[1])))


def _parse_setting(key: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        Edit.parse(text, "") if key.endswith("classes") else Edit.parse("", text)
        return text

    return parse


def declare(prefix: str) -> None:
    """Declare the address parameters of one editor (``classes`` and ``drop``, with a
    prefix for a second editor on the page): checked like every other setting."""
    for name in ("classes", "drop"):
        key = f"{prefix}{name}"
        links.SETTINGS[key] = links.Setting(key, "", _parse_setting(key), str)
    links.number(f"{prefix}merge_de", 1.0, 50.0, MERGE_THRESHOLD)


declare("")
declare("r")  # a GeoTIFF's band classes (:func:`dashboard.app._raster_classes`)


# --- the session's edit -------------------------------------------------------------------


def _state(prefix: str) -> dict[str, Any]:
    return st.session_state.setdefault(f"_classes_{prefix or 'image'}", {})


def current_edit(
    prefix: str, fit: Hashable, base: core.ClassModel, initial: Edit | None = None
) -> Edit:
    """The edit in force for the result `fit` names (file key and parameters), whose
    numbered clusters are `base`: from the address on a session's first run (else
    `initial`, e.g. an uploaded model's classes); `initial` again when the clusters change;
    forgotten (with a notice) when the address's edit does not fit them."""
    state = _state(prefix)
    initial = initial or Edit()
    if state.get("fit") != fit:
        edit = initial  # other clusters: the old names mean nothing for them
        if "fit" not in state:
            try:
                linked = Edit.parse(
                    links.remembered(f"{prefix}classes"), links.remembered(f"{prefix}drop")
                )
            except ValueError:
                linked = Edit()
            edit = linked if not linked.empty else initial
        state.update(fit=fit, edit=edit, history=[], picked=None)
        _write(prefix, edit)
    edit = state["edit"]
    try:
        edit.model(base)
    except ValueError as error:
        st.toast(f"Ignored the classes in the link: {error}", icon="⚠️")
        edit = Edit()
        state.update(edit=edit, history=[])
        _write(prefix, edit)
    return edit


def _write(prefix: str, edit: Edit) -> None:
    links.keep(f"{prefix}classes", edit.classes_text())
    links.keep(f"{prefix}drop", edit.drop_text())


def _apply(prefix: str, change: Callable[[Edit], Edit]) -> None:
    """Run `change` on the edit in force; push the old one on the undo stack. A change
    the model refuses leaves everything as it was and says why."""
    state = _state(prefix)
    old: Edit = state["edit"]
    try:
        new = change(old)
    except ValueError as error:
        state["message"] = str(error)
        return
    if new != old:
        state["history"] = [*state.get("history", []), old][-50:]
        state["edit"] = new
        _write(prefix, new)
    _forget_widgets(prefix)


def _forget_widgets(prefix: str) -> None:
    """The name fields show the edit's names again (not what was typed before it)."""
    for key in [k for k in st.session_state if str(k).startswith(f"{prefix}class_name_")]:
        del st.session_state[key]
    st.session_state[f"{prefix}classes_selected"] = []
    st.session_state[f"{prefix}classes_new_name"] = ""


def _undo(prefix: str) -> None:
    state = _state(prefix)
    if state.get("history"):
        state["edit"] = state["history"].pop()
        _write(prefix, state["edit"])
    _forget_widgets(prefix)


def _reset(prefix: str) -> None:
    _apply(prefix, lambda edit: Edit())


# --- picking by click -------------------------------------------------------------------

_FRONTEND = Path(str(streamlit_image_coordinates.__file__)).parent / "frontend"


def _pick_component() -> Any:
    """The component's own frontend (an <img> that reports clicks), declared under our
    name so that the image is sent as the cached preview bytes (the package's function
    re-encodes a PIL image or array on every rerun). Served by this server, like
    Streamlit's own files. Declared on use, in a script run: Streamlit registers a
    component only then, and the server imports this module before any run
    (:mod:`dashboard.server`)."""
    return components.declare_component("kseg_image_coordinates", path=str(_FRONTEND))


def pixel_at(click: dict[str, Any], shape: tuple[int, int]) -> tuple[int, int] | None:
    """The full-resolution ``(row, col)`` under a click on a scaled image.

    Parameters
    ----------
    click : dict
        The component's value: ``x``, ``y`` (CSS pixels from the image's top left) and
        ``width``, ``height`` (its size as shown).
    shape : (int, int)
        ``(H, W)`` of the full-resolution image.

    Returns
    -------
    (int, int) or None
        None when the click has no size (the image was not shown yet).
    """
    try:
        x, y = float(click["x"]), float(click["y"])
        width, height = float(click["width"]), float(click["height"])
    except (KeyError, TypeError, ValueError):
        return None
    if width <= 0 or height <= 0:
        return None
    rows, cols = shape
    row = min(rows - 1, max(0, int(y * rows / height)))
    col = min(cols - 1, max(0, int(x * cols / width)))
    return row, col


def data_uri(data: bytes) -> str:
    import base64

    mime = "image/jpeg" if data[:3] == b"\xff\xd8\xff" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def pick_ui(
    prefix: str,
    base: Any,
    images: Callable[[str, int | None], bytes],
    column: DeltaGenerator,
) -> int | None:
    """The clickable image in `column`; returns the picked cluster (None: none yet).

    `images(which, cluster)` gives the preview bytes of ``"original"`` or ``"classes"``
    with `cluster` highlighted (None: as it is)."""
    state = _state(prefix)
    with column:
        which = (
            st.segmented_control(
                "Click on",
                ["classes", "original"],
                default="classes",
                key=f"{prefix}pick_on",
                help="Click a pixel to pick its cluster: it is highlighted here and chosen "
                "in the list on the right.",
            )
            or "classes"
        )
        picked = state.get("picked")
        click = _pick_component()(
            src=data_uri(images(which, picked)),
            height=None,
            width="stretch",
            use_column_width=None,
            key=f"{prefix}pick_click",
            click_and_drag=False,
            cursor="crosshair",
            default=None,
        )
        if isinstance(click, dict) and click.get("unix_time") != state.get("click_time"):
            state["click_time"] = click.get("unix_time")
            where = pixel_at(click, base.shape)
            if where is not None:
                label = int(base.labels_at(np.array([where[0]]), np.array([where[1]]))[0, 0])
                picked = None if label < 0 else label
                state["picked"] = picked
                if picked is not None:
                    st.session_state[f"{prefix}classes_selected"] = [picked]
                st.rerun()  # draw the highlight now
        return picked


# --- the editor ---------------------------------------------------------------------------


#: One row per class on a phone too (Streamlit stacks columns under 640 px): swatch,
#: name field and share side by side, the share in smaller type.
_ROWS_CSS = """
<style>
@media (max-width: 640px) {
  [class*="class_rows"] [data-testid="stHorizontalBlock"] { flex-wrap: nowrap; gap: .5rem; }
  [class*="class_rows"] [data-testid="stColumn"] { min-width: 0 !important;
    width: auto !important; flex: 3 1 0 !important; }
  [class*="class_rows"] [data-testid="stColumn"]:first-child { flex: 0 0 1.3rem !important; }
  [class*="class_rows"] [data-testid="stColumn"]:last-child { flex: 2 1 0 !important;
    font-size: .8rem; }
}
</style>
"""


def _swatch(hex_color: str) -> str:
    return (
        f"<span style='display:inline-block;width:1.1rem;height:1.1rem;border-radius:.3rem;"
        f"background:{hex_color};border:1px solid rgba(128,128,128,.6);"
        "vertical-align:middle'></span>"
    )


def render_editor(
    prefix: str,
    base: Any,
    model: core.ClassModel,
    images: Callable[[str, int | None], bytes] | None = None,
) -> None:
    """The Classes editor for `base` (the numbered clusters) in `model`'s classes."""
    state = _state(prefix)
    base_model = base.model
    picked = state.get("picked")
    if images is not None:
        left, right = st.columns([1, 1], gap="medium")
        picked = pick_ui(prefix, base, images, left)
    else:
        right = st.container()
    with right:
        message = state.pop("message", None)
        if message:
            st.warning(message, icon=":material/warning:")
        st.html(_ROWS_CSS)
        rows = st.container(key=f"{prefix}class_rows")
        shares = base.shares
        for c, (name, members, hex_color) in enumerate(
            zip(model.class_names, model.clusters_of, model.hex_colors, strict=True)
        ):
            share = float(shares[list(members)].sum()) / max(
                float(shares[model.class_of >= 0].sum()), 1e-12
            )
            key = f"{prefix}class_name_{members[0]}"
            if key not in st.session_state:
                st.session_state[key] = name
            swatch, field, info = rows.columns([0.4, 3, 2.2], vertical_alignment="center")
            swatch.html(_swatch(hex_color))
            field.text_input(
                f"Name of class {c}",
                key=key,
                label_visibility="collapsed",
                max_chars=NAME_MAX,
                on_change=_rename_from_widget,
                args=(prefix, base_model, c, key),
            )
            mark = " · **picked**" if picked is not None and picked in members else ""
            info.markdown(
                f"{percent(share)} · cluster{'s' if len(members) > 1 else ''} "
                f"{', '.join(map(str, members))}{mark}"
            )
        if model.dropped:
            st.caption(
                ":material/visibility_off: Dropped (left out of shares, areas, the 3D "
                f"scatter and downloads): cluster{'s' if len(model.dropped) > 1 else ''} "
                + ", ".join(map(str, model.dropped))
            )
        options = list(range(base_model.k))
        st.multiselect(
            "Clusters",
            options,
            key=f"{prefix}classes_selected",
            format_func=lambda i: (
                f"{i} · dropped"
                if model.class_of[i] < 0
                else f"{i} · {model.class_names[int(model.class_of[i])]}"
            ),
            help="Pick clusters here (or by clicking the image), then merge them into one "
            "class or drop them.",
            placeholder="Choose clusters" + (" (or click the image)" if images else ""),
        )
        st.text_input(
            "Name for the merged class (optional)",
            key=f"{prefix}classes_new_name",
            max_chars=NAME_MAX,
        )
        merge, drop, undo, reset = st.columns(4)
        merge.button(
            "Merge",
            key=f"{prefix}classes_merge",
            icon=":material/merge:",
            on_click=_merge_from_widgets,
            args=(prefix, base_model),
            width="stretch",
            help="Make the chosen clusters one class.",
        )
        drop.button(
            "Drop",
            key=f"{prefix}classes_drop",
            icon=":material/delete:",
            on_click=_drop_from_widgets,
            args=(prefix, base_model),
            width="stretch",
            help="Leave the chosen clusters out: their pixels count in no share or area.",
        )
        undo.button(
            "Undo",
            key=f"{prefix}classes_undo",
            icon=":material/undo:",
            on_click=_undo,
            args=(prefix,),
            disabled=not state.get("history"),
            width="stretch",
        )
        reset.button(
            "Reset",
            key=f"{prefix}classes_reset",
            icon=":material/restart_alt:",
            on_click=_reset,
            args=(prefix,),
            disabled=state.get("edit", Edit()).empty,
            width="stretch",
            help="Back to one class per cluster, with the default names.",
        )
        render_suggestions(prefix, base_model, model)


def render_suggestions(prefix: str, base_model: core.ClassModel, model: core.ClassModel) -> None:
    """Classes whose colours are within the CIEDE2000 threshold, one click each."""
    threshold = links.drawn(
        f"{prefix}merge_de",
        st.slider,
        "Suggest merging colours closer than (CIEDE2000)",
        min_value=1.0,
        max_value=50.0,
        step=0.5,
        format="%.1f",
        help="CIEDE2000 is the CIE's measure of how different two colours look: about 1 is "
        "just visible side by side; under 10 most people call two colours the same.",
    )
    pairs = close_pairs(model.class_colors, threshold)[:SUGGESTIONS_MAX]
    if not pairs:
        st.caption(f":material/check: No two classes are closer than ΔE00 {threshold:g}.")
        return
    for i, j, delta in pairs:
        a, b = model.class_names[i], model.class_names[j]
        clusters = [*model.clusters_of[i], *model.clusters_of[j]]
        st.button(
            f"Merge {a} + {b} (ΔE00 {delta:.1f})",
            key=f"{prefix}suggest_{min(model.clusters_of[i])}_{min(model.clusters_of[j])}",
            icon=":material/join:",
            on_click=_merge,
            args=(prefix, base_model, clusters, None),
        )


def _rename_from_widget(prefix: str, base: core.ClassModel, index: int, key: str) -> None:
    name = str(st.session_state.get(key, ""))
    _apply(prefix, lambda edit: edit.renamed(base, index, name))


def _merge(prefix: str, base: core.ClassModel, clusters: list[int], name: str | None) -> None:
    _apply(prefix, lambda edit: edit.merged(base, clusters, name))


def _merge_from_widgets(prefix: str, base: core.ClassModel) -> None:
    clusters = list(st.session_state.get(f"{prefix}classes_selected") or [])
    name = str(st.session_state.get(f"{prefix}classes_new_name") or "").strip() or None
    _merge(prefix, base, clusters, name)


def _drop_from_widgets(prefix: str, base: core.ClassModel) -> None:
    clusters = list(st.session_state.get(f"{prefix}classes_selected") or [])
    _apply(prefix, lambda edit: edit.dropped(base, clusters))
