"""Collections: kseg's shared palette against dask-ml and scikit-learn, and ``kseg batch``
end to end — in one run, on one machine, the same LocalCluster for every Dask engine.

Run it from the repository root (after ``pip install -e ".[dev]"``, which brings dask-ml)::

    python benchmarks/bench_batch.py            # 27 × 1 MP fit, 200 × 1 MP batch (minutes)
    python benchmarks/bench_batch.py --quick    # 9 × 0.25 MP fit, 40 × 0.25 MP batch
    python benchmarks/bench_batch.py --skip-fit --baseline /tmp/main   # batch, before/after

The collection is made here, nothing is downloaded: scikit-learn's two sample photos
(``china.jpg``, ``flower.jpg``), each image a seeded random crop (60–100 % of the side),
maybe mirrored, with a per-channel gain of ±12 %, resized to 1 MP (bicubic), with Gaussian
noise of σ = 2 levels (camera-like: hundreds of thousands of distinct colours per image),
saved as JPEG (quality 95) so that decoding is part of the work.

Fit, k = 8, RGB / 255 features (float64), on a LocalCluster of 2 worker processes with one
thread each (the same cluster for both Dask engines):

    kseg            ``core.fit_collection(paths, 8, color_space="rgb", client=client)``:
                    histogram per image on the workers, sparse sums, one exact weighted fit.
    dask-ml         ``dask_ml.cluster.KMeans(8, init="k-means||", random_state=0)`` on a
                    dask array of every pixel of the collection (the workers decode the files).
    sklearn-w       ``sklearn.cluster.KMeans(8, n_init=10, random_state=0)`` on the summed
                    histogram (distinct colours weighted by their counts), in this process.

WCSS is computed the same way for every method: each pixel of every image assigned to its
nearest centre, squared distances summed (on the summed histogram, which is the same sum).

Batch: ``python -m core batch DIR -k 8 -o OUT --workers 2`` (LocalCluster of 2) and
``--workers 0`` (in process, one core) on the same folder: MP/s over the run (after the
cluster is up; the wall time with start-up is printed too), peak resident memory per worker,
and the bytes Dask moved (tasks through the scheduler, results to the client, histograms
between workers), from the run's ``summary.json``.

``--baseline CHECKOUT`` first runs ``python -m core batch`` from another checkout (e.g. a
``git worktree`` of main) on the same images, so a change is measured before and after in
one run, under the same load.

Targets (issue 8): kseg ≥ 50× faster than dask-ml with WCSS ≤ dask-ml's; WCSS within 0.5 % of
weighted scikit-learn; batch ≥ 15 MP/s on 2 workers with < 1 GB per worker. ``--check``
exits 1 if one is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_collection(folder: Path, n: int, megapixels: float, seed: int = 0) -> list[str]:
    """`n` camera-like JPEGs of about `megapixels` each (see the module docstring)."""
    import cv2
    from sklearn.datasets import load_sample_image

    folder.mkdir(parents=True, exist_ok=True)
    bases = [load_sample_image("china.jpg"), load_sample_image("flower.jpg")]
    rng = np.random.default_rng(seed)
    aspect = 4 / 3
    height = round((megapixels * 1e6 / aspect) ** 0.5)
    width = round(height * aspect)
    paths = []
    for i in range(n):
        base = bases[i % 2]
        side = rng.uniform(0.6, 1.0)
        h, w = int(base.shape[0] * side), int(base.shape[1] * side)
        y, x = rng.integers(0, base.shape[0] - h + 1), rng.integers(0, base.shape[1] - w + 1)
        crop = base[y : y + h, x : x + w]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        big = cv2.resize(crop, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
        big *= rng.uniform(0.88, 1.12, size=3).astype(np.float32)
        big += rng.normal(0, 2, big.shape).astype(np.float32)
        image = np.clip(np.rint(big), 0, 255).astype(np.uint8)
        path = folder / f"photo_{i:03d}.jpg"
        cv2.imwrite(str(path), image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
        paths.append(str(path))
    return paths


def _pixels(path: str) -> np.ndarray:
    """Every pixel of one file as (n, 3) float64 RGB / 255 (runs on a dask-ml worker)."""
    import core

    return core.load_image(path).reshape(-1, 3).astype(np.float64) / 255.0


def wcss(colors: np.ndarray, counts: np.ndarray, centers: np.ndarray) -> float:
    """Σ over every pixel of the squared distance to the nearest centre (RGB / 255)."""
    from core.engine.assign import assign

    x = colors.astype(np.float64) / 255.0
    _, distances = assign(x, np.einsum("ij,ij->i", x, x), np.asarray(centers, np.float64))
    return float(counts.astype(np.float64) @ distances)


def bench_fit(paths: list[str], shape: tuple[int, int], k: int, skip_dask_ml: bool) -> dict:
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster
    from sklearn.cluster import KMeans

    import core
    from core.collection import collection_histogram

    rows: dict[str, dict] = {}
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(lambda: __import__("core").segment(np.zeros((2, 2, 3), np.uint8), 1))  # warm
        started = time.perf_counter()
        palette = core.fit_collection(paths, k, color_space="rgb", client=client)
        rows["kseg"] = {"seconds": time.perf_counter() - started, "centers": palette.centers}
        colors, counts = collection_histogram(paths, client=client)
        if not skip_dask_ml:
            from dask_ml.cluster import KMeans as DaskKMeans

            n = shape[0] * shape[1]
            pixels = da.concatenate(
                [
                    da.from_delayed(dask.delayed(_pixels)(p), shape=(n, 3), dtype=np.float64)
                    for p in paths
                ]
            )
            model = DaskKMeans(n_clusters=k, init="k-means||", random_state=0)
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(pixels)
            rows["dask-ml"] = {
                "seconds": time.perf_counter() - started,
                "centers": np.asarray(model.cluster_centers_),
            }
    features = colors.astype(np.float64) / 255.0
    started = time.perf_counter()
    model = KMeans(n_clusters=k, n_init=10, random_state=0).fit(features, sample_weight=counts)
    rows["sklearn-w"] = {
        "seconds": time.perf_counter() - started,
        "centers": model.cluster_centers_,
    }
    for row in rows.values():
        row["wcss"] = wcss(colors, counts, row["centers"])
        del row["centers"]
    return {
        "images": len(paths),
        "megapixels": round(len(paths) * shape[0] * shape[1] / 1e6, 2),
        "distinct_colours": int(colors.shape[0]),
        "methods": rows,
    }


def bench_batch(folder: Path, k: int, out_root: Path, root: Path = ROOT) -> dict:
    """``kseg batch`` from the checkout at `root` on 2 workers ("2") and in process ("0")."""
    import resource

    env = {**os.environ, "PYTHONPATH": str(root)}
    results = {}
    for workers in ("2", "0"):
        out = out_root / f"out_{root.name}_{workers}"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "core", "batch", str(folder), "-k", str(k), "-o", str(out),
             "--workers", workers, "-q"],
            cwd=root, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"kseg batch failed:\n{done.stderr}")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        summary = json.loads((out / "summary.json").read_text())
        summary["wall_seconds"] = wall
        # CPU seconds of the command and its worker processes: what the run costs whatever
        # else shares the machine.
        summary["cpu_seconds"] = (after.ru_utime - before.ru_utime) + (
            after.ru_stime - before.ru_stime
        )
        results[workers] = summary
    return results


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small collection (a minute)")
    parser.add_argument("--skip-dask-ml", action="store_true", help="leave the slow peer out")
    parser.add_argument("--skip-fit", action="store_true", help="run the batch part only")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="CHECKOUT",
        help="also run kseg batch from this checkout (e.g. `git worktree add /tmp/base main`) "
        "on the same images, before this one: before/after in one run",
    )
    args = parser.parse_args(argv)
    if args.quick:
        n_fit, n_batch, megapixels = 9, 40, 0.25
    else:
        n_fit, n_batch, megapixels = 27, 200, 1.0
    k = 8
    print(
        f"kseg collection benchmark — {platform.node()}, {os.cpu_count()} CPUs, "
        f"load average {load_average()} at start"
    )
    work = Path(tempfile.mkdtemp(prefix="kseg-bench-batch-"))
    try:
        started = time.perf_counter()
        paths = make_collection(work / "fit", 0 if args.skip_fit else n_fit, megapixels, seed=0)
        batch_dir = work / "batch"
        make_collection(batch_dir, n_batch, megapixels, seed=1)
        from PIL import Image

        with Image.open(make_collection(work / "probe", 1, megapixels)[0]) as first:
            shape = (first.height, first.width)
        print(f"made {len(paths)} + {n_batch} images of {shape[1]} × {shape[0]} in "
              f"{time.perf_counter() - started:.0f} s\n")  # fmt: skip

        methods: dict[str, dict] = {}
        fit: dict = {}
        if not args.skip_fit:
            fit = bench_fit(paths, shape, k, args.skip_dask_ml)
            methods = fit["methods"]
            ref = methods.get("dask-ml", methods["kseg"])
            print(
                f"Fit, k = {k}: {fit['images']} images, {fit['megapixels']} MP, "
                f"{fit['distinct_colours']:,} distinct colours; LocalCluster of 2 workers"
            )
            print(f"{'method':<10} {'seconds':>9} {'speed-up vs dask-ml':>20} {'WCSS':>14} "
                  f"{'WCSS / dask-ml':>15} {'WCSS / sklearn-w':>17}")  # fmt: skip
            for name, row in methods.items():
                print(
                    f"{name:<10} {row['seconds']:>9.2f} {ref['seconds'] / row['seconds']:>19.1f}× "
                    f"{row['wcss']:>14.2f} {row['wcss'] / ref['wcss']:>15.4f} "
                    f"{row['wcss'] / methods['sklearn-w']['wcss']:>17.4f}"
                )

        if args.baseline is not None:
            base = bench_batch(batch_dir, k, work, args.baseline.resolve())
            print(f"\nkseg batch from the baseline {args.baseline}:")
            for label, summary in (("2 workers", base["2"]), ("in process", base["0"])):
                print(
                    f"  {label:<11} {summary['megapixels_per_s']:>6.1f} MP/s over the run "
                    f"({summary['timings_s']['total']:.1f} s); wall with start-up "
                    f"{summary['wall_seconds']:.1f} s; CPU time {summary['cpu_seconds']:.1f} s"
                )
        batch = bench_batch(batch_dir, k, work)
        two, one = batch["2"], batch["0"]
        peaks = two["traffic"].get("peak_rss_per_worker", {})
        traffic = two["traffic"]
        print(f"\nkseg batch, k = {k}: {two['segmented']} images, {two['megapixels']} MP "
              "(decode, fit, label, write 2 PNGs per image, CSV)")  # fmt: skip
        for label, summary in (("2 workers", two), ("in process", one)):
            wall_rate = summary["megapixels"] / summary["wall_seconds"]
            print(
                f"  {label:<11} {summary['megapixels_per_s']:>6.1f} MP/s over the run "
                f"({summary['timings_s']['total']:.1f} s; fit {summary['timings_s']['fit']:.1f} s,"
                f" labels {summary['timings_s']['labels']:.1f} s); wall with start-up "
                f"{summary['wall_seconds']:.1f} s = {wall_rate:.1f} MP/s"
            )
        for label, summary in (("2 workers", two), ("in process", one)):
            print(
                f"  {label:<11} CPU time {summary['cpu_seconds']:.1f} s (all processes) = "
                f"{summary['megapixels'] / summary['cpu_seconds']:.1f} MP per CPU-second"
            )
        print(f"  speed-up 2 workers / in process: "
              f"{two['megapixels_per_s'] / one['megapixels_per_s']:.2f}×")  # fmt: skip
        print("  peak RSS per worker: "
              + ", ".join(f"{v / 2**20:.0f} MB" for v in peaks.values()))  # fmt: skip
        print(
            f"  bytes moved: tasks via the scheduler {traffic['task_bytes'] / 1e6:.2f} MB, "
            f"results to the client {traffic['result_bytes'] / 1e6:.2f} MB, "
            f"between workers (histograms, colour table) "
            f"{traffic['between_workers_bytes'] / 1e6:.1f} MB "
            f"(the pixels: {two['megapixels'] * 3:.0f} MB, never moved)"
        )
        print(f"\nload average {load_average()} at the end")
        figures = {"fit": fit, "batch": batch}
        if args.json is not None:
            args.json.write_text(json.dumps(figures, indent=1, default=str))
        missed = []
        if "dask-ml" in methods:
            if methods["dask-ml"]["seconds"] / methods["kseg"]["seconds"] < 50:
                missed.append("kseg ≥ 50× faster than dask-ml")
            if methods["kseg"]["wcss"] > methods["dask-ml"]["wcss"]:
                missed.append("kseg WCSS ≤ dask-ml's")
        if methods and methods["kseg"]["wcss"] > 1.005 * methods["sklearn-w"]["wcss"]:
            missed.append("WCSS within 0.5 % of weighted sklearn")
        if two["megapixels_per_s"] < 15:
            missed.append("batch ≥ 15 MP/s on 2 workers")
        if any(v >= 2**30 for v in peaks.values()):
            missed.append("< 1 GB per worker")
        if missed:
            print("targets missed: " + "; ".join(missed))
        else:
            print("all targets met")
        return 1 if (args.check and missed) else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
