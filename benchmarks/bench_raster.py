"""kseg's N-dimensional engine on multiband rasters, against scikit-learn, in one run.

Run it from the repository root::

    python benchmarks/bench_raster.py            # 10 MP vs scikit-learn, then 50 MP (minutes)
    python benchmarks/bench_raster.py --quick    # 2 MP and 10 MP instead
    python benchmarks/bench_raster.py --check    # exit 1 if a target is missed

The scene is :func:`core.inputs.samples.synthetic_scene`: 4 bands (blue, green, red, NIR), uint16,
six land covers with smooth brightness variation and 4 % per-pixel noise, so nearly every
pixel is a distinct feature vector (the colour-histogram trick cannot help). Features are
:func:`core.inputs.raster.raster_features` (standardised float32), the same array for every method.

Part 1 — 4 bands, 10 MP, k = 8
    kseg        ``core.kmeans_features(x, 8)``: k-means++ and 10 restarts on a 100,000-pixel
                sample, then exact Lloyd on every pixel (Hamerly bounds, compiled).
    kseg-fit    the same with ``fit_pixels=1_000_000``: Lloyd on 1 MP, every pixel labelled.
    sklearn     ``sklearn.cluster.KMeans(8, random_state=0).fit(x)``, its defaults
                (n_init="auto" → 1 run of k-means++ then Lloyd; float32 kept).
    reference   ``KMeans(8, n_init=10, random_state=0)``: scikit-learn's best of 10.
    WCSS of every method is recomputed in float64 from its labels with centres at the
    member means. Targets: kseg ≥ 5× faster than sklearn, WCSS ≤ 1.01 × the reference.

Part 3 — clean-up: ``core.inputs.raster.sieve_labels`` (GDAL's sieve through rasterio: each small
    region joins its largest neighbour) against ``core.results.cleanup.merge_small_regions`` (each
    pixel of a small region takes the class of the nearest large region), on the labels of
    a 1 MP photo: time, and regions left (all, and under 20 px).

Part 4 — full resolution by blocks (``--blocks`` runs only this part): two tiled GeoTIFFs
    written in a temporary folder, strip by strip (deleted after): a 120 MP 3-band uint8 scene
    (12,000 × 10,000, 512 × 512 tiles; fitted exactly on its colour histogram) and a 50 MP
    4-band uint16 scene (8,000 × 6,250; sample + exact Lloyd passes over the windows),
    k = 8, each labelled by ``core.outputs.geotiff_blocks.segment_raster_blocks`` on a local
    Dask cluster of 2 worker processes (``core.collection.executors.local_client(2)``), in a
    fresh process per scene: the time, the peak RSS of every process (the client, which
    also runs the scheduler and the nannies, and each worker), and the WCSS of kseg's centres
    against scikit-learn's ``KMeans(8, n_init=3)`` fitted on a 1 MP sample of the scene
    (every pixel of a regular grid, the same standardisation), both evaluated on that sample.
    Target: every process under 1.5 GB.

Part 2 — 4 bands + NDVI, 50 MP, k = 8 (kseg only), in a fresh process: time to read the
    features from the bands, time to cluster, and peak memory (VmHWM reset once the scene
    exists, so making it does not count; the scene itself is 400 MB). Target: peak increase
    under 3 GB (features 1 GB, labels 0.2 GB, bounds 0.4 GB, and the NDVI temporaries).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_SPEEDUP = 5.0
TARGET_WCSS = 1.01
TARGET_PEAK_MB = 3072
TARGET_BLOCKS_PEAK_MB = 1536
BLOCK_SCENES = {  # name: (height, width, bands, dtype)
    "rgb8-120MP": (12_000, 10_000, 3, "uint8"),
    "4band16-50MP": (8_000, 6_250, 4, "uint16"),
}


def make_raster(megapixels: float, seed: int = 0):
    """A synthetic scene of about `megapixels` (aspect 4:3) as a core.inputs.raster.Raster."""
    from affine import Affine
    from rasterio.crs import CRS

    from core.inputs.raster import GeoReference, Raster
    from core.inputs.samples import SCENE_BANDS, synthetic_scene

    height = round((megapixels * 1e6 * 3 / 4) ** 0.5)
    width = round(megapixels * 1e6 / height)
    bands, _ = synthetic_scene(height, width, seed=seed)
    geo = GeoReference(CRS.from_epsg(32632), Affine(10, 0, 600_000, 0, -10, 5_100_000))
    return Raster(
        data=bands,
        valid=np.ones((height, width), dtype=bool),
        geo=geo,
        nodata=None,
        band_names=SCENE_BANDS,
        dtype="uint16",
        source_shape=(height, width),
    )


def wcss_of_labels(x: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Within-cluster sum of squares with centres at the member means (float64)."""
    labels = np.asarray(labels, dtype=np.int64).ravel()
    total = 0.0
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    sums = np.zeros((k, x.shape[1]))
    squares = 0.0
    for start in range(0, x.shape[0], 1 << 20):
        block = x[start : start + (1 << 20)].astype(np.float64)
        part = labels[start : start + (1 << 20)]
        for t in range(x.shape[1]):
            sums[:, t] += np.bincount(part, weights=block[:, t], minlength=k)
        squares += float((block * block).sum())
    filled = counts > 0
    total = squares - float((sums[filled] ** 2 / counts[filled, None]).sum())
    return total


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def part1(megapixels: float, k: int, seed: int, repeat: int) -> tuple[list[dict], dict]:
    from sklearn.cluster import KMeans

    from core.engine.kmeans_nd import kmeans_features
    from core.features.bands import raster_features

    raster = make_raster(megapixels, seed)
    x, _, _ = raster_features(raster)
    del raster
    rows = []
    kmeans_features(x[:200_000], k, seed=seed)  # load the compiled kernels from the cache

    for method, kwargs in (("kseg", {}), ("kseg-fit", {"fit_pixels": 1_000_000})):
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            result = kmeans_features(x, k, seed=seed, **kwargs)
            times.append(time.perf_counter() - started)
        rows.append(
            {
                "method": method,
                "time": float(np.median(times)),
                "n_iter": result.n_iter,
                "wcss": wcss_of_labels(x, result.labels, k),
            }
        )
    started = time.perf_counter()
    model = KMeans(n_clusters=k, random_state=seed).fit(x)
    rows.append(
        {
            "method": "sklearn",
            "time": time.perf_counter() - started,
            "n_iter": int(model.n_iter_),
            "wcss": wcss_of_labels(x, model.labels_, k),
        }
    )
    started = time.perf_counter()
    reference = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(x)
    ref = {
        "method": "reference (sklearn best of 10)",
        "time": time.perf_counter() - started,
        "n_iter": int(reference.n_iter_),
        "wcss": wcss_of_labels(x, reference.labels_, k),
    }
    return rows, ref


def part2_worker(megapixels: float, k: int, seed: int) -> dict:
    """In this fresh process: 4 bands + NDVI at `megapixels`, time and peak memory."""
    from core.engine.kmeans_nd import kmeans_features
    from core.features.bands import raster_features

    raster = make_raster(megapixels, seed)
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # forget the peak of making the scene
    baseline = _rss_mb()
    started = time.perf_counter()
    x, _, names = raster_features(raster, indices=["ndvi"])
    features_s = time.perf_counter() - started
    started = time.perf_counter()
    result = kmeans_features(x, k, seed=seed)
    cluster_s = time.perf_counter() - started
    return {
        "megapixels": raster.n_pixels / 1e6,
        "features": list(names),
        "features_s": features_s,
        "cluster_s": cluster_s,
        "n_iter": result.n_iter,
        "scene_mb": raster.data.nbytes / 2**20,
        "peak_mb": _peak_rss_mb() - baseline,
        "peak_rss_mb": _peak_rss_mb(),
    }


def part3_cleanup(seed: int, min_pixels: int = 20) -> list[dict]:
    """Sieve (GDAL, via rasterio) against kseg's merge_small_regions on a 1 MP photo, k = 8."""
    import cv2
    from scipy import ndimage
    from sklearn.datasets import load_sample_image

    from core.results.cleanup import merge_small_regions
    from core.results.raster_cleanup import sieve_labels
    from core.results.segmentation import segment

    base = load_sample_image("china.jpg")
    photo = cv2.resize(base, (1224, 817), interpolation=cv2.INTER_CUBIC)
    seg = segment(photo, 8, seed=seed)

    def regions(labels: np.ndarray) -> tuple[int, int]:
        total = small = 0
        for c in range(8):
            marked, n = ndimage.label(labels == c)
            sizes = np.bincount(marked.ravel())[1:]
            total += n
            small += int((sizes < min_pixels).sum())
        return total, small

    rows = [{"method": "k-means labels", "time": 0.0, **dict(zip(("regions", "small"),
             regions(seg.labels), strict=True))}]  # fmt: skip
    started = time.perf_counter()
    sieved = sieve_labels(seg.labels, min_pixels)
    elapsed = time.perf_counter() - started
    total, small = regions(sieved)
    rows.append({"method": "sieve_labels (GDAL)", "time": elapsed, "regions": total,
                 "small": small})  # fmt: skip
    started = time.perf_counter()
    merged, _ = merge_small_regions(seg, photo, min_pixels)
    elapsed = time.perf_counter() - started
    total, small = regions(np.asarray(merged.labels))
    rows.append({"method": "merge_small_regions", "time": elapsed, "regions": total,
                 "small": small})  # fmt: skip
    return rows


def write_block_scene(path: Path, height: int, width: int, count: int, dtype: str) -> None:
    """A tiled synthetic scene on disk, made strip by strip (bounded memory)."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    from core.inputs.samples import synthetic_scene

    strip = 1024
    profile = {
        "driver": "GTiff", "height": height, "width": width, "count": count, "dtype": dtype,
        "tiled": True, "blockxsize": 512, "blockysize": 512, "BIGTIFF": "IF_SAFER",
        "crs": "EPSG:32632", "transform": Affine(10, 0, 600_000, 0, -10, 5_100_000),
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        for i, row in enumerate(range(0, height, strip)):
            rows = min(strip, height - row)
            bands, _ = synthetic_scene(rows, width, seed=i)
            if dtype == "uint8":  # red, green, blue scaled to 8 bits
                bands = np.clip(bands[[2, 1, 0]] / 24.0, 0, 255).astype(np.uint8)
            dst.write(bands[:count], window=Window(0, row, width, rows))


def _process_peak(dask_worker=None) -> dict:
    import resource

    return {
        "pid": os.getpid(),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def blocks_worker(path: str, k: int, seed: int, workers: int) -> dict:
    """In this fresh process: label `path` by blocks on a local cluster, then compare WCSS."""
    import tempfile

    import rasterio
    from affine import Affine
    from rasterio.enums import Resampling

    from core.collection.executors import local_client
    from core.engine.kmeans_nd import label_features
    from core.features.bands import raster_features
    from core.inputs.raster import GeoReference, Raster
    from core.outputs.geotiff_blocks import segment_raster_blocks

    out = tempfile.mkdtemp(prefix="kseg-blocks-out-")
    with local_client(workers) as client:
        started = time.perf_counter()
        result = segment_raster_blocks(path, k, out_dir=out, seed=seed, client=client)
        elapsed = time.perf_counter() - started
        worker_peaks = client.run(_process_peak)
        scheduler_peak = client.run_on_scheduler(_process_peak)
    client_peak = _process_peak()
    sizes = {p.name: p.stat().st_size for p in result.files}
    with rasterio.open(result.files[0]) as labels:
        overviews = labels.overviews(1)
    # A sample scikit-learn can hold: every pixel of a regular grid, about 1 MP.
    with rasterio.open(path) as src:
        step = max(1, round((src.height * src.width / 1_000_000) ** 0.5))
        shape = (src.count, src.height // step, src.width // step)
        data = src.read(out_shape=shape, resampling=Resampling.nearest)
        names = tuple(src.descriptions[i] or f"band {i + 1}" for i in range(src.count))
    geo = GeoReference(None, Affine.identity())
    sample = Raster(data, np.ones(shape[1:], bool), geo, None, names, str(data.dtype))
    x, _, _ = raster_features(sample, standardize=False)
    x = ((x - result.mean) * result.scale).astype(np.float32)
    from sklearn.cluster import KMeans

    started = time.perf_counter()
    model = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(x)
    sklearn_s = time.perf_counter() - started
    _, kseg_wcss = label_features(x, result.centers)
    _, sklearn_wcss = label_features(x, model.cluster_centers_)
    for p in result.files:
        p.unlink()
    return {
        "megapixels": result.shape[0] * result.shape[1] / 1e6,
        "bands": len(result.feature_names),
        "method": result.method,
        "n_iter": result.n_iter,
        "windows": result.n_windows,
        "time_s": elapsed,
        "client_peak_mb": client_peak["peak_rss_mb"],
        "scheduler_peak_mb": scheduler_peak["peak_rss_mb"],
        "scheduler_in_client": scheduler_peak["pid"] == client_peak["pid"],
        "worker_peaks_mb": [w["peak_rss_mb"] for w in worker_peaks.values()],
        "files_mb": {name: size / 2**20 for name, size in sizes.items()},
        "label_overviews": list(overviews),
        "sample_pixels": int(x.shape[0]),
        "kseg_wcss": kseg_wcss,
        "sklearn_wcss": sklearn_wcss,
        "sklearn_s": sklearn_s,
    }


def part4_blocks(k: int, seed: int, workers: int = 2, scale: float = 1.0) -> bool:
    """Write the two scenes, label each in a fresh process, print the figures."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="kseg-blocks-"))
    ok = True
    try:
        for name, (height, width, count, dtype) in BLOCK_SCENES.items():
            height, width = round(height * scale), round(width * scale)
            path = folder / f"{name}.tif"
            started = time.perf_counter()
            write_block_scene(path, height, width, count, dtype)
            made = time.perf_counter() - started
            size_mb = path.stat().st_size / 2**20
            command = [sys.executable, str(Path(__file__).resolve()), "--blocks-worker",
                       str(path), "--k", str(k), "--seed", str(seed),
                       "--workers", str(workers)]  # fmt: skip
            env = dict(os.environ, PYTHONPATH=str(ROOT))
            done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT,
                                  check=False)  # fmt: skip
            path.unlink()
            if done.returncode != 0:
                print(done.stderr[-3000:])
                return False
            r = json.loads(done.stdout.strip().splitlines()[-1])
            peaks = [r["client_peak_mb"], *r["worker_peaks_mb"]]
            scheduler = (
                "in the client process"
                if r["scheduler_in_client"]
                else f"{r['scheduler_peak_mb']:.0f} MB"
            )
            workers_mb = ", ".join(f"{m:.0f}" for m in r["worker_peaks_mb"])
            print(
                f"\n{name}: {r['megapixels']:.0f} MP, {r['bands']} bands {dtype} "
                f"({size_mb:.0f} MB on disk, written in {made:.0f} s), k = {k}, {workers} "
                f"workers, {r['windows']} windows, fit: {r['method']} ({r['n_iter']} "
                f"iterations)\n"
                f"  time {r['time_s']:.1f} s; peak RSS: client {r['client_peak_mb']:.0f} MB "
                f"(scheduler {scheduler}), workers {workers_mb} MB\n"
                f"  files: {', '.join(f'{n} {mb:.0f} MB' for n, mb in r['files_mb'].items())};"
                f" label overviews {r['label_overviews']}\n"
                f"  WCSS on a {r['sample_pixels']:,}-pixel grid sample: kseg {r['kseg_wcss']:.6g}, "
                f"sklearn KMeans(n_init=3) fitted on that sample {r['sklearn_wcss']:.6g} "
                f"(ratio {r['kseg_wcss'] / r['sklearn_wcss']:.4f}; sklearn fit "
                f"{r['sklearn_s']:.1f} s)"
            )
            under = max(peaks) <= TARGET_BLOCKS_PEAK_MB
            ok = ok and under
            print(f"  target: every process ≤ {TARGET_BLOCKS_PEAK_MB} MB: "
                  f"{'PASS' if under else 'MISS'}")  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 MP and 10 MP instead")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--worker", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--blocks", action="store_true", help="only part 4 (full resolution)")
    parser.add_argument("--workers", type=int, default=2, help="Dask workers in part 4")
    parser.add_argument("--blocks-worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--blocks-scale", type=float, default=1.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.blocks_worker is not None:
        result = blocks_worker(args.blocks_worker, args.k, args.seed, args.workers)
        print(json.dumps(result))
        return 0
    if args.blocks:
        print(f"# kseg full-resolution blocks benchmark — {os.cpu_count()} CPUs, "
              f"{time.strftime('%Y-%m-%d %H:%M')}")  # fmt: skip
        ok = part4_blocks(args.k, args.seed, args.workers, args.blocks_scale)
        return 0 if ok or not args.check else 1
    if args.worker is not None:
        print(json.dumps(part2_worker(args.worker, args.k, args.seed)))
        return 0

    small, large = (2.0, 10.0) if args.quick else (10.0, 50.0)
    print(f"# kseg raster benchmark — {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}")  # fmt: skip
    print(f"\n## 4 bands uint16, {small:g} MP, k = {args.k}")
    rows, ref = part1(small, args.k, args.seed, args.repeat)
    sklearn_time = next(r["time"] for r in rows if r["method"] == "sklearn")
    print(f"{'method':<32}{'time (s)':>10}{'speed-up':>10}{'WCSS ratio':>12}{'iters':>7}")
    for row in [*rows, ref]:
        print(
            f"{row['method']:<32}{row['time']:>10.2f}{sklearn_time / row['time']:>9.1f}×"
            f"{row['wcss'] / ref['wcss']:>12.4f}{row['n_iter']:>7}"
        )
    kseg = rows[0]
    speedup = sklearn_time / kseg["time"]
    ratio = kseg["wcss"] / ref["wcss"]
    ok = speedup >= TARGET_SPEEDUP and ratio <= TARGET_WCSS
    print(
        f"target: kseg ≥ {TARGET_SPEEDUP:g}× sklearn ({speedup:.1f}×) and WCSS ≤ "
        f"{TARGET_WCSS} × best of 10 ({ratio:.4f}): {'PASS' if ok else 'MISS'}"
    )

    print(f"\n## 4 bands + NDVI, {large:g} MP, k = {args.k} (fresh process)")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(large),
               "--k", str(args.k), "--seed", str(args.seed)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    if done.returncode != 0:
        print(done.stderr[-2000:])
        return 1
    big = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"{big['megapixels']:.1f} MP, features {', '.join(big['features'])}: "
        f"features {big['features_s']:.2f} s, clustering {big['cluster_s']:.2f} s "
        f"({big['n_iter']} Lloyd iterations on every pixel); scene {big['scene_mb']:.0f} MB, "
        f"peak increase {big['peak_mb']:.0f} MB (peak RSS {big['peak_rss_mb']:.0f} MB)"
    )
    big_ok = big["peak_mb"] <= TARGET_PEAK_MB
    print(f"target: peak increase ≤ {TARGET_PEAK_MB} MB: {'PASS' if big_ok else 'MISS'}")

    print("\n## Clean-up: regions under 20 px, china.jpg at 1 MP, k = 8 (4-connected)")
    print(f"{'method':<24}{'time (s)':>10}{'regions':>10}{'< 20 px':>10}")
    for row in part3_cleanup(args.seed):
        print(f"{row['method']:<24}{row['time']:>10.3f}{row['regions']:>10,}{row['small']:>10,}")

    print(f"\n## Full resolution by blocks, k = {args.k}, {args.workers} Dask workers")
    blocks_ok = part4_blocks(args.k, args.seed, args.workers, args.blocks_scale)
    return 0 if (ok and big_ok and blocks_ok) or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
