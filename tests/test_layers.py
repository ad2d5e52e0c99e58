"""The one map of the house: core's layers, lowest first, and the rules every module keeps.

CONTRIBUTING.md ("Where things go") and the README point here. Data flows one way:
bytes -> inputs -> features -> engine -> formats -> results -> outputs -> explore -> collection
-> cli.
A module imports only from its own layer or below -- imports inside functions count; only
``if TYPE_CHECKING:`` imports are exempt -- and the module graph has no cycle. No module uses
another module's ``_private`` names or assigns into another module. No module of ``core/`` or
``dashboard/`` is longer than 1,000 lines.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from helpers import ROOT

#: core's layers, lowest first: a module's layer is the first prefix that names it.
LAYERS: list[tuple[str, ...]] = [
    ("core.errors", "core.deprecation", "core.validation", "core.version", "core.accel"),
    ("core.inputs",),
    ("core.features",),
    ("core.engine",),
    ("core.formats",),
    ("core.results",),
    ("core.outputs",),
    ("core.explore",),
    ("core.collection",),
    ("core.cli", "core.__main__", "core.raster", "core"),
]
MAX_LINES = 1000


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(package: str) -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / package).rglob("*.py"))}


CORE = _modules("core")
DASHBOARD = _modules("dashboard")


def layer_of(module: str) -> int:
    for i, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes if p != "core"):
            return i
    assert module == "core", f"{module} has no layer: add it to LAYERS"
    return len(LAYERS) - 1


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return inside


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """``(module imported, names taken from it)`` for each core import of `path` that runs
    (at import time or in a function); ``if TYPE_CHECKING:`` imports left out."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_nodes(tree)
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.split(".")[0] == "core"]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            if module.split(".")[0] != "core":
                continue
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                if sub in CORE:  # from core.features import colorspaces: a module
                    found.append((sub, []))
                else:
                    found.append((module, [alias.name]))
    return found


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_every_module_has_a_layer_and_at_most_1000_lines():
    long = {}
    for name, path in {**CORE, **DASHBOARD}.items():
        if name.startswith("core"):
            layer_of(name)
        n = len(path.read_text().splitlines())
        if n > MAX_LINES:
            long[name] = n
    assert not long, f"modules over {MAX_LINES} lines (split them by job): {long}"


def test_core_imports_point_down_the_layers():
    upward = []
    for name, path in CORE.items():
        if name == "core":
            continue  # the package's API: lazily loads every layer
        for module, _ in imports(path):
            if module in CORE and layer_of(module) > layer_of(name):
                upward.append(f"{name} -> {module}")
    assert not upward, f"imports against the flow: {upward}"


def test_the_module_graph_has_no_cycle():
    graph = {
        name: {m for m, _ in imports(path) if m in CORE and m != name}
        for name, path in {**CORE, **DASHBOARD}.items()
    }
    for name, path in DASHBOARD.items():
        graph[name] |= {m for m, _ in imports_dashboard(path) if m in DASHBOARD and m != name}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, f"import cycles: {cycles}"


def imports_dashboard(path: Path) -> list[tuple[str, list[str]]]:
    """The dashboard's imports of its own modules (``from dashboard.x import y``)."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dashboard"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.append((sub, []) if sub in DASHBOARD else (node.module or "", [alias.name]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.startswith("dashboard")]
    return found


def _imported_modules(tree: ast.AST) -> dict[str, str]:
    """Local name -> module, for every ``import core.x as y`` / ``from core.x import mod``."""
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in {"core", "dashboard"}:
                    bound[a.asname or a.name.split(".")[0]] = a.name if a.asname else "core"
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                if sub in CORE or sub in DASHBOARD:
                    bound[a.asname or a.name] = sub
    return bound


def test_no_private_names_of_another_module_and_no_assigning_into_one():
    private, assigned = [], []
    for name, path in {**CORE, **DASHBOARD}.items():
        tree = ast.parse(path.read_text())
        for module, names in imports(path) + imports_dashboard(path):
            private += [f"{name}: from {module} import {n}" for n in names if _is_private(n)]
            if any(_is_private(part) for part in module.split(".")):
                private.append(f"{name}: imports {module}")
        modules = _imported_modules(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.value.id in modules and _is_private(node.attr):
                    private.append(f"{name}: {node.value.id}.{node.attr}")
                if node.value.id in modules and isinstance(node.ctx, ast.Store | ast.Del):
                    assigned.append(f"{name}: {node.value.id}.{node.attr} = ...")
            if isinstance(node, ast.Call) and ast.unparse(node.func) in {"setattr", "delattr"}:
                target = node.args[0] if node.args else None
                if isinstance(target, ast.Name) and target.id in modules:
                    assigned.append(f"{name}: {ast.unparse(node)}")
    assert not private, f"private names of another module: {private}"
    assert not assigned, f"modules assigned into: {assigned}"


def test_the_dashboard_uses_only_public_names_of_core():
    private = []
    for name, path in DASHBOARD.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("core"):
                modules = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
                private += [m for m in modules if any(_is_private(p) for p in m.split("."))]
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.value.id == "core" and _is_private(node.attr):
                    private.append(f"{name}: core.{node.attr}")
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
    lazy = {
        "core.collection",
        "core.inputs.raster",
        "core.results.raster_segmentation",
        "core.engine.kmeans_nd",
    }
    assert not lazy & _modules_loaded_by("import core", top_level=False)
    after = _modules_loaded_by("import core; core.fit_collection", top_level=False)
    assert "core.collection" in after


def test_import_dashboard_app_loads_no_compute_peer():
    # Streamlit (and the Plotly it renders with) are the app's own; the compute peers are not.
    loaded = _modules_loaded_by("import dashboard.app")
    assert not {"sklearn", "scipy", "cv2", "numba", "rasterio", "dask", "distributed"} & loaded
