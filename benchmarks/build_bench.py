"""Benchmark of the dataset builder on a synthetic COCO-Stuff-like set.

Writes N stuffthingmaps-style label maps (default 2,000 at 640x480: half
train2017, half val2017, made by tests/datagen.py) and reports:

* images/s of ``build_split`` (split manual-20-60) with 1 and 2 workers, and the
  speed-up (target >= 1.7x);
* the time of only decoding every input PNG and encoding every output PNG
  (same arrays, same PNG writer, one process) and the builder's ratio to it
  (target <= 1.5x);
* the projected time for the full COCO-Stuff (123,287 maps) on 16 workers.

Usage::

    python benchmarks/build_bench.py [--n 2000] [--size 480 640] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import datagen  # noqa: E402

from goss_bench.builder import build_split  # noqa: E402
from goss_bench.io import read_label_png, write_label_png  # noqa: E402

FULL_COCO = 123_287


def make_data(root: Path, n: int, h: int, w: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    gray = Image.new("RGB", (w, h), (128, 128, 128))
    for i in range(n):
        sub = "train2017" if i % 2 == 0 else "val2017"
        stem = f"{i + 1:012d}"
        png, _, _ = datagen.coco_image(rng, h, w, (i // 2) % 2 == 0, 0, i + 1)
        write_label_png(root / "stuffthingmaps_trainval2017" / sub / f"{stem}.png", png)
        img = root / sub / f"{stem}.jpg"
        img.parent.mkdir(parents=True, exist_ok=True)
        gray.save(img, format="JPEG", quality=50)


def time_build(root: Path, out: Path, workers: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        build_split("coco", "manual-20-60", root, out, workers=workers)
        best = min(best, time.perf_counter() - t0)
    return best


def time_decode_encode(root: Path, built: Path, scratch: Path, repeat: int) -> float:
    inputs = sorted((root / "stuffthingmaps_trainval2017").glob("*/*.png"))
    outputs = sorted(p for p in built.glob("*/*/*.png"))
    arrays = [read_label_png(p, bits=(8, 16)) for p in outputs]
    best = float("inf")
    for _ in range(repeat):
        shutil.rmtree(scratch, ignore_errors=True)
        t0 = time.perf_counter()
        for p in inputs:
            read_label_png(p)
        for i, a in enumerate(arrays):
            write_label_png(scratch / f"{i}.png", a)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="number of label maps (default 2000)")
    ap.add_argument("--size", type=int, nargs=2, default=(480, 640), metavar=("H", "W"))
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per setting (best is kept)")
    ap.add_argument("--keep", default=None, help="work folder to keep (default: a temp folder)")
    args = ap.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="goss-build-bench-"))
    try:
        root = work / "coco"
        if not (root / "stuffthingmaps_trainval2017").is_dir():
            t0 = time.perf_counter()
            make_data(root, args.n, *args.size)
            print(f"generated {args.n} label maps {args.size[1]}x{args.size[0]} "
                  f"in {time.perf_counter() - t0:.1f} s")
        t1 = time_build(root, work / "out1", 1, args.repeat)
        t2 = time_build(root, work / "out2", 2, args.repeat)
        same = all(
            (work / "out1" / p.relative_to(work / "out2")).read_bytes() == p.read_bytes()
            for p in (work / "out2").rglob("*") if p.is_file()
        )
        base = time_decode_encode(root, work / "out1", work / "scratch", args.repeat)
        n_out = sum(1 for _ in (work / "out1").glob("*/*/*.png"))
        print(f"inputs: {args.n} maps; outputs written: {n_out} PNGs")
        print(f"decode inputs + encode outputs : {base:7.2f} s  ({args.n / base:7.1f} images/s)")
        print(f"build, 1 worker                : {t1:7.2f} s  ({args.n / t1:7.1f} images/s)  "
              f"ratio to decode+encode {t1 / base:.2f}x (target <= 1.5x)")
        print(f"build, 2 workers               : {t2:7.2f} s  ({args.n / t2:7.1f} images/s)  "
              f"speed-up {t1 / t2:.2f}x (target >= 1.7x)")
        print(f"1-worker and 2-worker outputs byte-identical: {same}")
        per_img = t1 / args.n
        print(f"projected full COCO-Stuff ({FULL_COCO:,} maps) with 16 workers: "
              f"{FULL_COCO * per_img / 16 / 60:.1f} min (assuming linear scaling)")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
