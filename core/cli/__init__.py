"""The ``kseg`` command line: :mod:`core.cli.main` (the parser and ``segment``, ``elbow``,
``sweep``), :mod:`core.cli.raster` (GeoTIFF options and outputs), :mod:`core.cli.batch`
(``batch`` and ``apply``), with the shared argument types in :mod:`core.cli.args`."""

from core.cli.args import EXIT_ERROR, add_fit_options, positive_int
from core.cli.main import build_parser, main

__all__ = ["EXIT_ERROR", "add_fit_options", "build_parser", "main", "positive_int"]
