"""The import picture: data flows one way through core's layers, and no module imports
another's private names (CONTRIBUTING.md, "Where things go")."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

from helpers import ROOT

#: core's modules, lowest layer first; a module may import only from its own layer or below.
LAYERS = [
    {"validation", "errors", "version", "_accel", "_accel_nd", "_kernels"},
    {"arrays", "io", "samples", "raster", "masking", "png"},
    {"colorspaces", "colortable", "texture", "features"},
    {"kmeans", "engines", "kmeans_nd"},
    {"cleanup", "segmentation", "raster_segmentation"},
    {"elbow", "sweep", "steps", "compare", "compression", "export", "collection"},
    {"figures", "previews", "cli", "cli_raster", "batch", "__main__", "__init__"},
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def _imports(path):
    """(module imported, names imported, type-checking only?) for each ``core`` import."""
    tree = ast.parse(path.read_text())
    type_only = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only.update(id(n) for n in ast.walk(node))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] != "core":
                continue
            names = [alias.name for alias in node.names]
            if len(parts) == 1:  # from core import x: x is a module, or the package's API
                for name in names:
                    yield (name if name in LAYER else "__init__"), [], id(node) in type_only
            else:
                yield parts[1], names, id(node) in type_only


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_every_core_module_has_a_layer():
    modules = {path.stem for path in (ROOT / "core").glob("*.py")}
    assert modules == set(LAYER)


def test_core_imports_point_down_and_never_at_private_names():
    upward, private = [], []
    for path in sorted((ROOT / "core").glob("*.py")):
        here = path.stem
        for module, names, type_only in _imports(path):
            if module != here and LAYER[module] > LAYER[here] and not type_only:
                if here != "__init__":
                    upward.append(f"{here} -> {module}")
            private += [f"{here}: {module}.{n}" for n in names if _is_private(n)]
    assert not upward, f"imports against the flow: {upward}"
    assert not private, f"private names imported: {private}"


def test_the_dashboard_uses_only_public_names_of_core():
    private = []
    for path in sorted((ROOT / "dashboard").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("core"):
                modules = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
                private += [m for m in modules if any(p.startswith("_") for p in m.split("."))]
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.value.id == "core" and node.attr.startswith("_"):
                    private.append(f"core.{node.attr}")
    assert not private, f"the dashboard reaches into core's private names: {private}"


def _modules_loaded_by(statement: str, *, top_level: bool = True) -> set[str]:
    """Names in ``sys.modules`` (top-level ones only by default) after `statement` runs in
    a fresh interpreter."""
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    names = set(done.stdout.split())
    return {name.split(".")[0] for name in names} if top_level else names


#: Peers that cost 0.1-1 s to import: imported where they are used, never by ``import core``.
HEAVY = {
    "sklearn",
    "scipy",
    "cv2",
    "numba",
    "plotly",
    "streamlit",
    "kneed",
    "rasterio",
    "dask",
    "distributed",
}


def test_import_core_loads_no_heavy_peer():
    assert not HEAVY & _modules_loaded_by("import core")


def test_collections_and_rasters_load_on_first_use():
    lazy = {"core.collection", "core.raster", "core.raster_segmentation", "core.kmeans_nd"}
    assert not lazy & _modules_loaded_by("import core", top_level=False)
    after = _modules_loaded_by("import core; core.fit_collection", top_level=False)
    assert "core.collection" in after


def test_import_dashboard_app_loads_no_compute_peer():
    # Streamlit (and the Plotly it renders with) are the app's own; the compute peers are not.
    loaded = _modules_loaded_by("import dashboard.app")
    assert not {"sklearn", "scipy", "cv2", "numba", "rasterio", "dask", "distributed"} & loaded
