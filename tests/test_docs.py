"""The docs hold: every example in core's docstrings runs and shows what it says (numpydoc
Examples), and the README documents names that exist and the files kseg writes."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import core

# Every module of core, in every layer package (``__main__`` would run the command).
MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(core.__path__, prefix="core.")
    if not info.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # examples may show a warned-about case
        result = doctest.testmod(
            module,
            extraglobs={"np": np},
            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
            verbose=False,
        )
    assert result.failed == 0, f"{result.failed} failing example(s) in {name}"


# --- The README: the names it documents exist, and its Outputs table is what kseg writes.

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()

# Dotted names under ``core`` that the README mentions in code: each must resolve.
_DOTTED = sorted(set(re.findall(r"\bcore(?:\.[A-Za-z_][A-Za-z0-9_]*)+", README)))

# Attributes of result and model types that the README's examples use.
_ATTRIBUTES = {
    "Segmentation": (
        "labels palette segmented shares wcss centers cluster_mask params model relabel"
    ),
    "RasterSegmentation": "area_table class_statistics cleaned model relabel write",
    "ClassModel": (
        "with_classes class_names class_of class_colors cluster_colors rename save load "
        "to_json from_json shares wcss centers k"
    ),
    "Elbow": "ks wcss knee message",
}


def _resolve(dotted: str) -> object:
    """The object a dotted name under ``core`` names: a module, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute)
        return found
    raise ImportError(dotted)


def test_readme_mentions_dotted_names():
    assert len(_DOTTED) > 20  # the regex finds the README's names


@pytest.mark.parametrize("dotted", _DOTTED)
def test_readme_dotted_name_resolves(dotted):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # a deprecated alias still counts
        _resolve(dotted)


@pytest.mark.parametrize(
    "owner_attribute",
    [f"{owner}.{attribute}" for owner, names in _ATTRIBUTES.items() for attribute in names.split()],
)
def test_readme_attribute_exists(owner_attribute):
    owner, attribute = owner_attribute.split(".")
    assert f".{attribute}" in README, f"the README no longer shows .{attribute}"
    cls = getattr(core, owner)
    fields = getattr(cls, "__dataclass_fields__", {})
    assert hasattr(cls, attribute) or attribute in fields, f"{owner} has no {attribute}"


def _outputs_section() -> str:
    start = README.index("## Outputs")
    return README[start : README.index("\n## ", start + 1)]


def test_readme_areas_columns_are_the_tables():
    from core.formats.tables import AREA_COLUMNS

    section = _outputs_section()
    for column in AREA_COLUMNS:
        assert f"`{column}`" in section, f"areas.csv column {column} missing from Outputs"


def _documented_name(relative: Path) -> str:
    """How the Outputs table spells a written file (masks by their pattern)."""
    if relative.parts[0] == "masks":
        assert re.fullmatch(r"mask_\d\d_[0-9a-f]{6}\.png", relative.name), relative
        return "masks/mask_NN_rrggbb.png"
    return relative.as_posix()


def test_readme_outputs_list_what_kseg_segment_writes_for_a_photo(tmp_path):
    from PIL import Image

    from core.cli.main import main

    colours = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200]], dtype=np.uint8)
    image = colours[np.random.default_rng(0).integers(0, 3, (24, 32))]
    Image.fromarray(image).save(tmp_path / "photo.png")
    out = tmp_path / "out"
    assert main(["segment", str(tmp_path / "photo.png"), "-k", "3", "-q", "-o", str(out)]) == 0
    written = {_documented_name(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert "labels.png" in written  # the run wrote something to compare
    row = next(line for line in _outputs_section().splitlines() if "kseg segment photo" in line)
    for name in written:
        assert f"`{name}`" in row, f"kseg segment writes {name}; the Outputs table omits it"


def test_readme_outputs_list_what_kseg_segment_writes_for_a_geotiff(tmp_path):
    from core.cli.main import main

    scene = Path(core.__file__).parent / "data" / "sample_scene.tif"
    out = tmp_path / "out"
    assert main(["segment", str(scene), "-k", "3", "-q", "-o", str(out)]) == 0
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert "areas.csv" in written or any(n.endswith("areas.csv") for n in written)
    row = next(line for line in _outputs_section().splitlines() if "kseg segment scene" in line)
    for name in written:
        assert f"`{name}`" in row, f"kseg segment writes {name}; the Outputs table omits it"
