"""Downloads: every file the single-image page offers, built only when its button is
clicked (``st.download_button`` with a callable ``data``, which Streamlit runs on click,
off the script thread), and the recipe and commands that reproduce a result.

The files are the library's (:mod:`core.outputs.export`, :mod:`core.formats.tables`) with
the classes' names added; :mod:`dashboard.views` draws the rest of the page.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

import core
from core.inputs.masking import MaskOptions
from core.outputs import export
from dashboard.formats import plural
from dashboard.pipeline import ImageFile


def class_names(seg: Any) -> tuple[str, ...]:
    """The name of every class of `seg`: its class names, else ``"cluster i"``."""
    names = getattr(seg, "class_names", None)
    return tuple(names) if names is not None else tuple(f"cluster {i}" for i in range(seg.k))


def classes_command(model: core.ClassModel, model_file: str = "model.json") -> str | None:
    """The ``kseg classes`` command that gives `model`'s classes from the model file
    ``kseg segment`` writes, or None when every cluster is its own default class."""
    if model.is_identity:
        return None
    import shlex

    command = ["kseg", "classes", model_file]
    for name, members in zip(model.class_names, model.clusters_of, strict=True):
        if len(members) == 1 and name == f"cluster {members[0]}":
            continue
        command += ["--group", f"{name}={','.join(map(str, members))}"]
    for cluster in model.dropped:
        command += ["--drop", str(cluster)]
    return shlex.join([*command, "-o", "classes.json"])


def recipe(
    seg: core.Segmentation,
    file_name: str,
    mask: MaskOptions | None = None,
    *,
    applied: bool = False,
) -> dict[str, Any]:
    """The recipe of `seg` (:func:`core.outputs.export.recipe`) with its classes: names,
    clusters, colours and shares, the dropped clusters, and the commands that reproduce
    them (``kseg segment`` then ``kseg classes``; ``kseg apply`` for an applied model)."""
    record = export.recipe(seg, image_name=file_name, mask=mask)
    model = seg.model
    if applied:
        import shlex

        record["command"] = shlex.join(["kseg", "apply", "model.json", file_name, "-o", "out"])
    if seg.class_names is not None:
        record["classes"] = model.class_table()
        record["dropped"] = list(model.dropped)
        command = None if applied else classes_command(model)
        if command is not None:
            record["classes_command"] = command
    return record


def commands(record: dict[str, Any]) -> str:
    """The command(s) of a :func:`recipe`, one a line."""
    return "\n".join(filter(None, [record["command"], record.get("classes_command")]))


def named_palette_rows(seg: core.Segmentation) -> list[dict[str, Any]]:
    """:func:`core.outputs.export.palette_rows` with each class's name after its number."""
    names = class_names(seg)
    return [
        {"cluster": row.pop("cluster"), "name": names[i], **row}
        for i, row in enumerate(export.palette_rows(seg))
    ]


def palette_csv(seg: core.Segmentation) -> str:
    """The palette as CSV: ``cluster,name,hex,r,g,b,pixels,share`` (share: 6 decimals)."""
    import csv
    import io

    buffer = io.StringIO()
    rows = named_palette_rows(seg)
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "share": f"{row['share']:.6f}"})
    return buffer.getvalue()


def palette_gpl(seg: core.Segmentation, name: str) -> str:
    """A GIMP / Inkscape / Krita palette, each colour named after its class."""
    lines = ["GIMP Palette", f"Name: {name}", "Columns: 0", "#"]
    for row in named_palette_rows(seg):
        lines.append(f"{row['r']:3d} {row['g']:3d} {row['b']:3d}\t{row['name']} {row['hex']}")
    return "\n".join(lines) + "\n"


def areas_csv(seg: core.Segmentation, areas_m2: Sequence[float] | np.ndarray | None = None,
              area_basis: str | None = None) -> str:  # fmt: skip
    """``areas.csv`` (:mod:`core.formats.tables`): class, name, hex, pixels, share, areas."""
    from core.formats import tables

    rows = tables.area_rows(
        seg.counts.tolist(),
        seg.hex_colors,
        names=class_names(seg),
        areas_m2=None if areas_m2 is None else [float(a) for a in areas_m2],
        area_basis=area_basis,
    )
    return tables.areas_csv(rows)


def render_downloads(
    loaded: core.LoadedImage,
    seg: core.Segmentation,
    file: ImageFile,
    mask: MaskOptions | None = None,
    *,
    applied: bool = False,
    areas_m2: np.ndarray | None = None,
) -> None:
    """Every download, built only when its button is clicked; the recipe records `mask`
    (the sidebar's pixels that don't count) so its command leaves out the same pixels.
    In named classes, every file names them; `applied`: `seg` came from an uploaded
    model (its command is ``kseg apply``)."""
    stem = Path(file.name).stem or "image"
    base = f"{stem}_k{seg.k}_{seg.color_space}"
    if seg.class_names is not None:
        base = f"{stem}_{seg.k}classes_{seg.color_space}"
    basis = None if areas_m2 is None else "ellipsoid"
    st.subheader("Downloads", anchor=False)

    def report() -> str:
        from core.outputs.report import html_report

        record = recipe(seg, file.name, mask, applied=applied)
        return html_report(
            seg,
            loaded,
            title=f"{file.name}: {plural(seg.k, 'class', 'classes')}",
            command=commands(record),
            areas_m2=None if areas_m2 is None else areas_m2.tolist(),
            area_basis=basis,
        )

    buttons: list[tuple[str, Callable[[], bytes | str], str, str, str, str]] = [
        (
            "Segmented image",
            lambda: export.segmented_png(seg),
            f"{base}.png",
            "image/png",
            ":material/image:",
            "PNG, full resolution, every pixel painted with its class's colour (dropped "
            "and left-out pixels transparent).",
        ),
        (
            "Masks",
            lambda: export.masks_zip(seg),
            f"{base}_masks.zip",
            "application/zip",
            ":material/layers:",
            "ZIP of one black-and-white PNG per class, full resolution.",
        ),
        (
            "Cut-outs",
            lambda: export.cutouts_zip(loaded.rgb, seg, alpha=loaded.alpha),
            f"{base}_cutouts.zip",
            "application/zip",
            ":material/content_cut:",
            "ZIP of one full-resolution PNG per class: its pixels on a transparent "
            "background. Large for big photos (about 20 MB at 12 MP, built in about a "
            "second); the download starts when the ZIP is ready.",
        ),
        (
            "Recipe",
            lambda: json.dumps(recipe(seg, file.name, mask, applied=applied), indent=2),
            f"{base}_recipe.json",
            "application/json",
            ":material/receipt_long:",
            "JSON: the parameters, the classes, a summary of the result, and the `kseg` "
            "commands that reproduce it.",
        ),
        (
            "Areas CSV",
            lambda: areas_csv(seg, areas_m2, basis),
            f"{base}_areas.csv",
            "text/csv",
            ":material/table:",
            "areas.csv: class, name, hex, pixels, share (and areas in m² and ha when "
            "known), one row per class; dropped clusters have none.",
        ),
        (
            "Palette CSV",
            lambda: palette_csv(seg),
            f"{base}_palette.csv",
            "text/csv",
            ":material/table_rows:",
            "cluster, name, hex, r, g, b, pixels, share: one row per class.",
        ),
        (
            "Palette JSON",
            lambda: json.dumps(named_palette_rows(seg), indent=2),
            f"{base}_palette.json",
            "application/json",
            ":material/data_object:",
            "cluster, name, hex, r, g, b, pixels, share per class, as a JSON list.",
        ),
        (
            "GIMP palette",
            lambda: palette_gpl(seg, name=base),
            f"{base}.gpl",
            "text/plain",
            ":material/palette:",
            ".gpl palette for GIMP, Inkscape and Krita, each colour named after its class.",
        ),
        (
            "Label PNG",
            lambda: export.label_png(seg.labels, seg.palette, seg.valid),
            f"{base}_labels.png",
            "image/png",
            ":material/label:",
            "The class of every pixel as an indexed PNG (value = class number, as in "
            "areas.csv; the classes' colours as its palette; left-out pixels transparent).",
        ),
        (
            "Model JSON",
            lambda: seg.model.to_json(),
            "model.json",
            "application/json",
            ":material/model_training:",
            "The fitted clusters and their classes: upload it on another image (sidebar: "
            "*Apply a model*) or run `kseg apply model.json IMAGES -o out/`.",
        ),
        (
            "Report (HTML)",
            report,
            f"{base}_report.html",
            "text/html",
            ":material/summarize:",
            "One self-contained page for sharing: the images, the named classes with "
            "their shares and areas, the parameters and the command that reproduces it.",
        ),
    ]
    raster = loaded.raster
    if raster is not None and seg.shape == (raster.height, raster.width):
        # rasterio (GDAL) loads only for a GeoTIFF, not with the page.
        from core.formats.geotiff import label_geotiff
        from core.formats.vectors import polygons_json
        from core.results.raster_cleanup import class_polygons

        names = list(class_names(seg))
        buttons += [
            (
                "Label GeoTIFF (display colours)",
                lambda: label_geotiff(seg.labels, seg.palette, raster.geo, class_names=names),
                f"{base}_display_labels.tif",
                "image/tiff",
                ":material/map:",
                "uint8 classes in the scene's CRS and transform, no-data 255, with the "
                "palette as colour table and the class names: opens in QGIS on top of the "
                "scene.",
            ),
            (
                "GeoJSON (display colours)",
                lambda: polygons_json(
                    class_polygons(
                        seg.labels,
                        raster.geo,
                        palette=seg.palette,
                        min_pixels=4,
                        class_names=names,
                    )
                ),
                f"{base}_display_classes.geojson",
                "application/geo+json",
                ":material/polyline:",
                "Each class's regions as polygons (WGS 84), regions under 4 pixels sieved "
                "away, with class, name, colour, pixels and area in m².",
            ),
        ]
    columns = st.columns(4)
    for index, (label, data, name, mime, icon, help_text) in enumerate(buttons):
        columns[index % 4].download_button(
            label,
            data=data,
            file_name=name,
            mime=mime,
            icon=icon,
            key=f"download_{name.rsplit('.', 1)[-1]}_{index}",
            help=help_text,
            on_click="ignore",  # a download needs no rerun
            width="stretch",
        )
    # Drawn only when opened (the expander tracks .open): st.code makes the browser load
    # a 1.5 MB syntax highlighter, which a first visit need not wait for.
    reproduce = st.expander(
        "Reproduce from the command line",
        icon=":material/terminal:",
        key="reproduce",
        on_change="rerun",
    )
    if reproduce.open:
        with reproduce:
            st.code(commands(recipe(seg, file.name, mask, applied=applied)), language="bash")
            if file.sample is not None:
                st.caption(
                    f"`{file.name}` is one of scikit-learn's sample images "
                    "(`sklearn/datasets/images/`)."
                )


def raster_report(result: core.RasterSegmentation, stem: str) -> str:
    """The HTML report of a GeoTIFF's band classes, with the commands that reproduce them."""
    from core.outputs.report import html_report

    features = ", ".join(result.feature_names)
    command = f"kseg segment {stem}.tif -k {result.clusters.k if result.clusters else result.k}"
    model = result.model
    classes = classes_command(model) if result.class_names is not None else None
    return html_report(
        result,
        None,
        title=f"{stem}: {plural(result.k, 'class', 'classes')} on {features}",
        command="\n".join(filter(None, [command, classes])),
        parameters={"features": features, "k": model.k, "classes": result.k},
    )
