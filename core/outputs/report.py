""":func:`html_report`: one self-contained HTML page that tells a stakeholder what was found.

The page carries everything inside it (images as ``data:`` URIs, styles inline, no script,
no font or request to any server): it can be mailed, attached to a ticket or opened
offline years later. It shows the original and the classes side by side, the palette as a
bar, a table of the named classes with their pixels, shares and (when known) ground areas,
the parameters, and the ``kseg`` command that reproduces the result.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from core.formats import tables
from core.outputs import previews

__all__ = ["html_report"]

_STYLE = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
  color: #1f2328; background: #fff; }
main { max-width: 1100px; margin: 0 auto; padding: 2rem 1.25rem 3rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; } h2 { font-size: 1.15rem; margin: 2rem 0 .5rem; }
.muted { color: #59636e; font-size: .9rem; }
.images { display: grid; grid-template-columns: repeat(auto-fit, minmax(280px, 1fr));
  gap: 1rem; margin-top: 1rem; }
figure { margin: 0; } figure img { width: 100%; height: auto; border-radius: .4rem;
  background: repeating-conic-gradient(#e9ecef 0% 25%, #fff 0% 50%) 50% / 16px 16px; }
figcaption { font-size: .85rem; color: #59636e; margin-top: .25rem; }
.palette { display: flex; height: 1.6rem; border-radius: .5rem; overflow: hidden;
  box-shadow: 0 0 0 1px rgba(128,128,128,.6); }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #d1d9e0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.swatch { display: inline-block; width: 1rem; height: 1rem; border-radius: .25rem;
  border: 1px solid rgba(128,128,128,.6); vertical-align: middle; }
pre { background: #f6f8fa; padding: .75rem; border-radius: .4rem; overflow-x: auto;
  white-space: pre-wrap; word-break: break-all; }
code { font: .85rem ui-monospace, SFMono-Regular, Menlo, monospace; }
"""


def _data_uri(data: bytes) -> str:
    mime = "image/jpeg" if data[:3] == b"\xff\xd8\xff" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _image_preview(image: Any, max_pixels: int) -> bytes:
    array = np.asarray(getattr(image, "rgb", image))
    alpha = getattr(image, "alpha", None)
    if alpha is not None:
        array = np.dstack([array, np.asarray(alpha)])
    if array.ndim == 3 and array.shape[2] == 3:
        return previews.preview_bytes(array, max_pixels=max_pixels, format="jpeg", quality=85)
    return previews.preview_bytes(array, max_pixels=max_pixels)


def _classes_preview(result: Any, max_pixels: int) -> bytes:
    if hasattr(result, "segmented_image"):  # a RasterSegmentation
        return previews.preview_bytes(result.segmented_image(), max_pixels=max_pixels)
    return previews.segmented_preview(result, max_pixels=max_pixels)


def _number(value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}"


def html_report(
    result: Any,
    image: Any = None,
    *,
    title: str = "kseg report",
    command: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    areas_m2: Sequence[float] | None = None,
    area_basis: str | None = None,
    notes: Sequence[str] = (),
    max_pixels: int = 600_000,
) -> str:
    """One self-contained HTML page: images, named classes with areas, palette, parameters
    and the command that reproduces the result.

    Parameters
    ----------
    result : Segmentation or RasterSegmentation
        The result to report, in numbered clusters or in named classes
        (:meth:`core.Segmentation.relabel`, :func:`core.apply`).
    image : (H, W, 3) or (H, W, 4) ndarray of uint8, LoadedImage, or None
        The original, shown beside the classes; default a raster result's display image,
        else none.
    title : str
        The page's heading and ``<title>``.
    command : str, optional
        The ``kseg`` command(s) that reproduce the result, shown as they are.
    parameters : mapping, optional
        Parameters to list; default ``result.params`` when the result has them.
    areas_m2 : sequence of float, optional
        Ground area of each class in m²; default a raster result's ``areas_m2``.
    area_basis : str, optional
        How the areas were measured (``"ellipsoid"``, ``"plane"``, ``"pixel size"``).
    notes : sequence of str
        Sentences shown under the heading (e.g. which pixels were left out).
    max_pixels : int
        Size bound of each embedded image (see :func:`core.outputs.previews.screen_size`).

    Returns
    -------
    str
        The HTML document (UTF-8 text). Every value from the result or the caller is
        escaped; nothing in it asks for anything outside the file.

    Examples
    --------
    >>> import numpy as np, core
    >>> image = np.zeros((4, 6, 3), dtype=np.uint8); image[:, 3:] = 255
    >>> seg = core.segment(image, 2)
    >>> named = seg.relabel(seg.model.with_classes({"ink": [0], "paper": [1]}))
    >>> page = html_report(named, image, title="Page", command="kseg segment a.png -k 2")
    >>> page.startswith("<!DOCTYPE html>"), "paper" in page, "http" in page
    (True, True, False)
    """
    names = getattr(result, "class_names", None) or tuple(
        tables.default_class_name(i) for i in range(int(result.k))
    )
    hex_colors = list(result.hex_colors)
    counts = [int(c) for c in result.counts]
    if areas_m2 is None and getattr(result, "areas_m2", None) is not None:
        areas_m2 = [float(a) for a in result.areas_m2]
        area_basis = area_basis or getattr(result, "area_basis", None)
    rows = tables.area_rows(
        counts,
        hex_colors,
        names=list(names),
        areas_m2=None if areas_m2 is None else [float(a) for a in areas_m2],
        area_basis=area_basis,
    )
    model = getattr(result, "classes", None)
    members = None if model is None else model.clusters_of
    if parameters is None:
        parameters = getattr(result, "params", None) or {}
    if image is None and hasattr(result, "display_image"):
        image = result.display_image()

    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body><main>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="muted">{len(rows)} classes, {sum(counts):,} pixels counted. Made with '
        f"kseg on {_dt.date.today().isoformat()}.</p>",
    ]
    parts += [f'<p class="muted">{esc(note)}</p>' for note in notes]
    figures = []
    if image is not None:
        figures.append(("Original", _image_preview(image, max_pixels)))
    figures.append(("Classes", _classes_preview(result, max_pixels)))
    parts.append('<div class="images">')
    for caption, data in figures:
        parts.append(
            f'<figure><img alt="{esc(caption)}" src="{_data_uri(data)}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>"
        )
    parts.append('</div><h2>Palette</h2><div class="palette">')
    for row in rows:
        parts.append(
            f'<div title="{esc(row["name"])}: {row["share"]:.1%}" style="flex:'
            f'{max(row["share"], 0.002):.6f};background:{esc(row["hex"])}"></div>'
        )
    parts.append("</div><h2>Classes</h2><table><thead><tr><th>#</th><th></th><th>name</th>")
    if members is not None:
        parts.append("<th>clusters</th>")
    parts.append('<th>colour</th><th class="num">pixels</th><th class="num">share</th>')
    if areas_m2 is not None:
        parts.append('<th class="num">area (m²)</th><th class="num">area (ha)</th>')
    parts.append("</tr></thead><tbody>")
    for row in rows:
        c = row["class"]
        parts.append(
            f'<tr><td>{c}</td><td><span class="swatch" style="background:{esc(row["hex"])}">'
            f"</span></td><td>{esc(row['name'])}</td>"
        )
        if members is not None:
            parts.append(f"<td>{esc(', '.join(map(str, members[c])))}</td>")
        parts.append(
            f'<td><code>{esc(row["hex"])}</code></td><td class="num">{row["pixels"]:,}</td>'
            f'<td class="num">{row["share"]:.1%}</td>'
        )
        if areas_m2 is not None:
            parts.append(
                f'<td class="num">{_number(row["area_m2"], 0)}</td>'
                f'<td class="num">{_number(row["area_ha"], 2)}</td>'
            )
        parts.append("</tr>")
    parts.append("</tbody></table>")
    if model is not None and model.dropped:
        parts.append(
            f'<p class="muted">Left out (dropped): cluster{"s" if len(model.dropped) > 1 else ""} '
            f"{esc(', '.join(map(str, model.dropped)))}; their pixels count in no share "
            "or area.</p>"
        )
    if area_basis:
        parts.append(f'<p class="muted">Areas measured on the {esc(area_basis)}.</p>')
    if parameters:
        parts.append("<h2>Parameters</h2><table><tbody>")
        for key, value in parameters.items():
            parts.append(f"<tr><th>{esc(str(key))}</th><td>{esc(str(value))}</td></tr>")
        parts.append("</tbody></table>")
    if command:
        parts.append(
            f"<h2>Reproduce it</h2><pre><code>{esc(command)}</code></pre>"
            '<p class="muted">Run in the folder holding the image (and model.json).</p>'
        )
    parts.append("</main></body></html>")
    return "\n".join(parts)
