"""Benchmark of the bootstrap over per-image statistics (issue 13).

Builds a synthetic per-image table of 5,000 images (N = 20 known classes,
realistic PQ counts; optionally OSS score histograms and GS counts, as
``goss-bench score --ci`` keeps them) and times, on one core (BLAS pinned to
one thread before numpy is imported):

  (a) ``confidence_intervals(stats, 1000, seed=0)`` on the GQ/mIoU columns only
  (b) the same with OSS histograms and GS columns (AUROC/AUPR/FPR95 per resample)
  (c) ``paired_comparison`` of two such tables with OSS and GS (1,000 resamples)
  (d) a peer in the same run: the textbook bootstrap that gathers the rows of
      each resample (``rows[idx].sum(axis=0)``) instead of one product with
      the multiplicity matrix, for the same GQ/mIoU columns

Target: (a) and (b) under 10 s.  Prints seconds, the ratio (d)/(a) and the
table's memory per 1,000 images.

Usage::

    python benchmarks/bootstrap_bench.py [--images 5000] [--resamples 1000]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from goss_bench.diagnostics.bootstrap import (  # noqa: E402
    confidence_intervals,
    paired_comparison,
    resample_weights,
)
from goss_bench.diagnostics.image_stats import (  # noqa: E402
    IOU_BITS,
    OSS_BINS,
    ImageStats,
    StatsLayout,
)
from goss_bench.diagnostics.summary import summarise  # noqa: E402


def synthetic(n_images: int, n: int, oss: bool, seed: int) -> ImageStats:
    """A table shaped like a COCO split's: a few known classes and unknown groups per image."""
    rng = np.random.default_rng(seed)
    layout = StatsLayout(n, oss, oss)
    b = layout.blocks
    rows = np.zeros((n_images, layout.width), dtype=np.int64)
    present = rng.random((n_images, n + 1)) < 4 / n
    present[:, n] = rng.random(n_images) < 0.8
    segs = present * np.where(np.arange(n + 1) == n, rng.poisson(3, (n_images, n + 1)) + 1, 1)
    tp = rng.binomial(segs, 0.6)
    rows[:, b["tp"]] = tp
    rows[:, b["fn"]] = segs - tp
    rows[:, b["fp"]] = rng.binomial(segs, 0.3)
    rows[:, b["iou"]] = np.rint(tp * rng.uniform(0.6, 0.9, tp.shape) * (1 << IOU_BITS))
    area = rng.integers(1000, 50000, (n_images, n))
    rows[:, b["sem_tp"]] = area * present[:, :n]
    rows[:, b["sem_fn"]] = (area // 5) * present[:, :n]
    rows[:, b["sem_fp"]] = (area // 6) * present[:, :n]
    hist = None
    if oss:
        g = rng.integers(20, 200, (n_images, 7))
        rows[:, b["gs"]] = np.c_[g[:, :3], g[:, 3:5] << IOU_BITS, g[:, 5], g[:, 6] << 20, g[:, 6] * 1000]
        rows[:, b["oss_img"]] = 0
        centers = rng.integers(0, OSS_BINS, (n_images, 2, 1))
        bins = np.arange(OSS_BINS)[None, None, :]
        hist = (300 * np.exp(-(((bins - centers) / 150.0) ** 2))).astype(np.int32)
    return ImageStats(layout, [f"{i:05d}" for i in range(n_images)], rows, hist)


def gathered_peer(stats: ImageStats, num: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    n = stats.num_images
    t = time.perf_counter()
    for _ in range(num):
        idx = rng.integers(0, n, n)
        summarise(stats, stats.rows[idx].sum(axis=0, dtype=np.int64)[None].astype(float))
    return time.perf_counter() - t


def timed(fn):  # noqa: ANN001, ANN201
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--known", type=int, default=20)
    args = ap.parse_args()
    n_img, num = args.images, args.resamples
    plain = synthetic(n_img, args.known, False, 0)
    full_a = synthetic(n_img, args.known, True, 1)
    full_b = synthetic(n_img, args.known, True, 2)
    list(resample_weights(10, 1, 0))  # warm-up imports
    ta = timed(lambda: confidence_intervals(plain, num, 0))
    tb = timed(lambda: confidence_intervals(full_a, num, 0))
    tc = timed(lambda: paired_comparison(full_a, full_b, num, 0))
    td = gathered_peer(plain, num, 0)
    per_k = 1000 / n_img / 2**20
    print(f"{num} resamples over {n_img} images, N = {args.known}, one core")
    print(f"(a) intervals, GQ/SQ/RQ/mIoU columns:          {ta:6.2f} s  (target < 10 s)")
    print(f"(b) intervals, + OSS histograms and GS:        {tb:6.2f} s  (target < 10 s)")
    print(f"(c) paired comparison, + OSS and GS:           {tc:6.2f} s")
    print(f"(d) peer: gather rows per resample (as (a)):   {td:6.2f} s  ratio (d)/(a) {td / ta:.1f}x")
    print(
        f"memory per 1,000 images: {plain.nbytes() * per_k:.2f} MiB (GQ/mIoU), "
        f"{full_a.nbytes() * per_k:.2f} MiB (with OSS and GS)"
    )


if __name__ == "__main__":
    main()
