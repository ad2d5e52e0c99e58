"""The ``kseg`` command: segment an image, or find k with the elbow method, from a shell.

Errors a user can cause (a bad file, a bad parameter, an unwritable folder) end with one
line on stderr, ``kseg: error: …``, and exit code 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from core.colorspaces import COLOR_SPACES
from core.kmeans import INITS
from core.segmentation import DEFAULT_N_INIT, ENGINES

__all__ = ["main"]

EXIT_USAGE = 2

_EPILOG = """\
examples:
  kseg segment photo.jpg -k 6                     writes photo_k6/ with the results
  kseg segment tile.tif -k 4 --color-space lab -o out/
  kseg segment huge.jpg -k 8 --fit-pixels 1000000 fit at 1 MP, label every pixel
  kseg elbow photo.jpg --k-max 12                 WCSS per k and a suggested k
"""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _add_fit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="image file (JPEG, PNG, WebP, TIFF, BMP, GIF, …)")
    parser.add_argument(
        "--color-space",
        choices=list(COLOR_SPACES),
        default="rgb",
        help="space in which colour distances are measured (default: rgb)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--init", choices=INITS, default="k-means++", help="initialisation")
    parser.add_argument(
        "--n-init", type=_positive_int, default=DEFAULT_N_INIT, help="restarts, best kept"
    )
    parser.add_argument("--max-iter", type=_positive_int, default=300, help="iteration cap")
    parser.add_argument("--tol", type=float, default=1e-4, help="relative tolerance")
    parser.add_argument(
        "--max-pixels",
        type=_positive_int,
        default=None,
        help="refuse images larger than this many pixels (default: 100 million)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    from core import __version__

    parser = argparse.ArgumentParser(
        prog="kseg",
        description="Exact, fast k-means image segmentation.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kseg {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    seg = commands.add_parser(
        "segment",
        help="segment an image into k colour clusters",
        description="Segment IMAGE into k clusters; write the segmented image, one mask "
        "per cluster, the palette (CSV) and a recipe (JSON).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_fit_options(seg)
    seg.add_argument("-k", type=_positive_int, required=True, help="number of clusters")
    seg.add_argument("--engine", choices=list(ENGINES), default="kseg", help="k-means engine")
    seg.add_argument(
        "--fit-pixels",
        type=_positive_int,
        default=None,
        help="fit the centres on a copy downscaled to this many pixels, then label every pixel",
    )
    seg.add_argument(
        "-o", "--output", type=Path, default=None, help="output folder (default: <image>_k<k>)"
    )
    seg.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    seg.set_defaults(run=_run_segment)

    elb = commands.add_parser(
        "elbow",
        help="WCSS for each k and the suggested k",
        description="Run k-means for k = K_MIN..K_MAX and suggest the k at the elbow.",
    )
    _add_fit_options(elb)
    elb.add_argument("--k-min", type=_positive_int, default=1, help="smallest k (default: 1)")
    elb.add_argument("--k-max", type=_positive_int, default=12, help="largest k (default: 12)")
    elb.set_defaults(run=_run_elbow)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``kseg`` command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            args.run(args)
        for warning in caught:
            print(f"kseg: warning: {warning.message}", file=sys.stderr)
    except (ValueError, OSError) as e:  # ImageError is a ValueError
        message = str(e) if isinstance(e, ValueError) else f"{e.strerror or e}: {e.filename or ''}"
        print(f"kseg: error: {message.strip()}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def _load(args: argparse.Namespace):
    from core.io import DEFAULT_MAX_PIXELS, open_image

    return open_image(args.image, max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS)


def _run_segment(args: argparse.Namespace) -> None:
    from core import export
    from core.segmentation import segment

    loaded = _load(args)
    result = segment(
        loaded.rgb,
        args.k,
        color_space=args.color_space,
        seed=args.seed,
        init=args.init,
        n_init=args.n_init,
        max_iter=args.max_iter,
        tol=args.tol,
        engine=args.engine,
        fit_pixels=args.fit_pixels,
    )
    out = args.output or Path(f"{Path(args.image).stem}_k{args.k}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "segmented.png").write_bytes(export.png_bytes(result.segmented))
    for i in range(result.k):
        (out / f"mask_{i:02d}.png").write_bytes(export.mask_png(result, i))
    (out / "palette.csv").write_text(export.palette_csv(result), encoding="utf-8")
    (out / "recipe.json").write_text(
        export.recipe_json(result, image_name=Path(args.image).name), encoding="utf-8"
    )
    if args.quiet:
        return
    print(
        f"{Path(args.image).name}: {result.shape[1]} × {result.shape[0]}, "
        f"{result.n_colors:,} distinct colours, k = {result.k}, {result.color_space}"
    )
    print(f"{'cluster':>7}  {'colour':<7}  {'share':>7}  {'pixels':>12}")
    for row in export.palette_rows(result):
        print(f"{row['cluster']:>7}  {row['hex']:<7}  {row['share']:>7.1%}  {row['pixels']:>12,}")
    print(f"WCSS {result.inertia:.6g} after {result.n_iter} iterations in {result.elapsed:.2f} s")
    print(f"wrote {out}/: segmented.png, {result.k} masks, palette.csv, recipe.json")


def _run_elbow(args: argparse.Namespace) -> None:
    from core.elbow import elbow

    if args.k_min > args.k_max:
        raise ValueError(f"--k-min ({args.k_min}) must not exceed --k-max ({args.k_max}).")
    loaded = _load(args)
    started = time.perf_counter()
    result = elbow(
        loaded.rgb,
        range(args.k_min, args.k_max + 1),
        color_space=args.color_space,
        seed=args.seed,
        init=args.init,
        n_init=args.n_init,
        max_iter=args.max_iter,
        tol=args.tol,
    )
    top = max(result.wcss) or 1.0
    print(f"{'k':>3}  {'WCSS':>12}")
    for k, wcss in zip(result.ks, result.wcss, strict=True):
        marker = "  ← suggested" if k == result.knee else ""
        print(f"{k:>3}  {wcss:>12.6g}  {'█' * round(30 * wcss / top)}{marker}")
    print(result.message)
    print(f"({time.perf_counter() - started:.2f} s)")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
