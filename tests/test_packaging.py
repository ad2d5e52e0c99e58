"""The two dependency lists (pyproject for pip, requirements.txt for Streamlit Cloud) agree."""

from __future__ import annotations

import tomllib
from pathlib import Path

from helpers import ROOT


def test_requirements_txt_matches_pyproject_dependencies():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = sorted(pyproject["project"]["dependencies"])
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    listed = sorted(line.strip() for line in lines if line.strip() and not line.startswith("#"))
    assert listed == declared


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = 'pip install -e ".[test]" && python -m pytest'
    assert command in readme
    assert command in ci.splitlines()


# Import name -> distribution name, where they differ.
_DISTRIBUTIONS = {"cv2": "opencv-python-headless", "PIL": "pillow", "sklearn": "scikit-learn"}


def _imported_packages(folder: Path) -> set[str]:
    import ast
    import sys

    found = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found.update(name.split(".")[0] for name in names)
    return {name for name in found if name not in sys.stdlib_module_names} - {"core", "dashboard"}


def test_every_imported_package_is_declared():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = {
        dep.split(">")[0].split("=")[0].split("[")[0].strip().lower()
        for dep in pyproject["project"]["dependencies"]
    }
    imported = _imported_packages(ROOT / "core") | _imported_packages(ROOT / "dashboard")
    assert imported  # the walk found something
    missing = {_DISTRIBUTIONS.get(name, name).lower() for name in imported} - declared
    assert not missing, f"imported but not in [project.dependencies]: {sorted(missing)}"


def test_one_version_number():
    from importlib.metadata import version

    import core

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert core.__version__ == version("kseg") == pyproject["project"]["version"]


def test_package_data_globs_match_files():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for package, globs in pyproject["tool"]["setuptools"]["package-data"].items():
        for pattern in globs:
            assert list((ROOT / package).glob(pattern)), f"{package}/{pattern} matches nothing"
