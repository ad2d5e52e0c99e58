"""core.outputs.report.html_report: one self-contained page, named classes, areas, command."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser

import numpy as np
from PIL import Image

import core
from core.outputs.report import html_report


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.cells: list[list[str]] = []
        self._row: list[str] | None = None
        self._in_cell = False
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.urls.append(value)
        if tag == "tr":
            self._row = []
        if tag in ("td", "th") and self._row is not None:
            self._row.append("")
            self._in_cell = True

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._in_cell = False
        if tag == "tr" and self._row is not None:
            self.cells.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._in_cell and self._row is not None:
            self._row[-1] += data


def _image() -> np.ndarray:
    rng = np.random.default_rng(0)
    image = np.zeros((30, 40, 3), dtype=np.uint8)
    image[:, :10] = (20, 40, 200)
    image[:, 10:20] = (25, 45, 205)
    image[:, 20:30] = (30, 160, 40)
    image[:, 30:] = (240, 240, 240)
    return np.clip(image + rng.integers(0, 3, image.shape), 0, 255).astype(np.uint8)


def test_a_named_report_embeds_its_images_and_lists_its_classes():
    image = _image()
    seg = core.segment(image, 4, seed=0)
    white = int(np.argmax(seg.palette.sum(1)))
    blues = [i for i in range(4) if seg.palette[i, 2] > 150 and i != white]
    model = seg.model.with_classes({"water <b>": blues}, drop=[white])
    named = seg.relabel(model)
    page = html_report(
        named,
        image,
        title="Lake & forest",
        command="kseg segment lake.png -k 4 && kseg classes model.json --drop 3",
        areas_m2=[100.0 * c for c in named.counts],
        area_basis="pixel size",
    )
    parsed = _Page()
    parsed.feed(page)
    # Self-contained: every address is a data URI; no script.
    assert parsed.urls and all(url.startswith("data:image/") for url in parsed.urls)
    assert "script" not in parsed.tags
    assert not re.search(r"https?://", page)
    sizes = []
    for url in parsed.urls:
        data = base64.b64decode(url.split(",", 1)[1])
        sizes.append(Image.open(io.BytesIO(data)).size)
    assert sizes == [(40, 30), (40, 30)]  # the original and the classes, small: full size
    # The names are escaped, the class table holds every class with its pixels and area.
    assert "water &lt;b&gt;" in page and "<b>" not in page
    assert "Lake &amp; forest" in page
    body = [row for row in parsed.cells if row and row[0].isdigit()]
    assert [row[2] for row in body] == list(named.class_names)
    assert [int(row[5].replace(",", "")) for row in body] == named.counts.tolist()
    assert sum(named.counts) == 30 * 40 - int(seg.counts[white])
    assert [row[7] for row in body] == [f"{100.0 * c:,.0f}" for c in named.counts]
    assert [row[3] for row in body] == [", ".join(map(str, m)) for m in model.clusters_of]
    assert f"cluster {white};" in page  # the dropped cluster is said
    assert "kseg classes model.json --drop 3" in page.replace("&amp;", "&")
    # The parameters of the fit.
    assert "<th>color_space</th><td>lab</td>" in page


def test_a_plain_result_reports_numbered_clusters_without_areas():
    image = _image()
    seg = core.segment(image, 3, seed=1)
    page = html_report(seg, None)
    parsed = _Page()
    parsed.feed(page)
    assert len(parsed.urls) == 1  # the classes only
    body = [row for row in parsed.cells if row and row[0].isdigit()]
    assert [row[2] for row in body] == ["cluster 0", "cluster 1", "cluster 2"]
    assert "area (m²)" not in page and "Reproduce" not in page
