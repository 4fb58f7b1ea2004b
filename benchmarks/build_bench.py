"""Benchmark of the dataset builder on a synthetic COCO-Stuff-like set.

Writes N stuffthingmaps-style label maps (default 2,000 at 640x480: half
train2017, half val2017, made by tests/datagen.py) and reports, in wall and CPU
time (CPU = user + system of this process and its pool workers, steadier on a
busy machine):

* images/s of ``build_split`` (split manual-20-60) with 1 and 2 workers, and the
  speed-up (target >= 1.8x, needs two idle cores);
* the time of only decoding every input PNG and encoding and writing every
  output PNG (same arrays, same PNG reader and writer as the builder:
  ``read_label_png``, ``encode_label_png`` + ``write_bytes_atomic``; one process)
  and the builder's ratio to it (target <= 1.3x); for comparison, decoding with
  Pillow alone and encoding with Pillow (``write_label_png``, adaptive filters,
  zlib level 1: the builder's writer before issue 16). goss-bench decodes with
  imagecodecs and compresses with its zlib-ng when installed (the ``fast``
  extra), else with Pillow and Python's zlib; the line "codecs" says which;
* whether the 1- and 2-worker outputs are byte-identical;
* the projected time for the full COCO-Stuff (123,287 maps) on 16 workers.

Usage::

    python benchmarks/build_bench.py [--images 2000] [--size 480 640] [--repeat 2] [--keep DIR]

``--keep DIR`` keeps (and on the next run reuses) the generated maps.

``--rss N1 N2 ...`` measures instead the peak resident memory (VmHWM) of the
building (parent) process alone, not of its pool workers, for a build of N1,
N2, ... maps with ``--workers`` workers (default 2) and for re-running the
finished build (everything reused), and prints the growth per 1,000 images
(flat = the parent holds O(1) state per image). Small maps keep it quick::

    python benchmarks/build_bench.py --rss 2000 20000 --size 64 64
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import datagen  # noqa: E402

from goss_bench.allocator import tune_allocator  # noqa: E402
from goss_bench.builder import build_split  # noqa: E402
from goss_bench.io import (  # noqa: E402
    deflate_backend,
    encode_label_png,
    read_label_png,
    write_bytes_atomic,
    write_label_png,
)

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


def _cpu() -> float:
    """CPU seconds of this process and its finished children (user + system)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def time_build(root: Path, out: Path, workers: int, repeat: int) -> tuple[float, float]:
    """Best (wall seconds, CPU seconds) of ``repeat`` builds."""
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        shutil.rmtree(out, ignore_errors=True)
        t0, c0 = time.perf_counter(), _cpu()
        build_split("coco", "manual-20-60", root, out, workers=workers)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, _cpu() - c0)
    return best, best_cpu


def time_decode_encode(
    root: Path, built: Path, scratch: Path, repeat: int, *, pillow: bool = False
) -> tuple[float, float]:
    """Best (wall, CPU) seconds of decoding every input and encoding + writing every
    output with the builder's reader and writer (``pillow``: Pillow's writer)."""
    inputs = sorted((root / "stuffthingmaps_trainval2017").glob("*/*.png"))
    outputs = sorted(p for p in built.glob("*/*/*.png"))
    arrays = [read_label_png(p, bits=(8, 16)) for p in outputs]
    targets = [scratch / p.relative_to(built) for p in outputs]  # the build's folders and names
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        shutil.rmtree(scratch, ignore_errors=True)
        t0, c0 = time.perf_counter(), _cpu()
        for p in inputs:
            read_label_png(p)
        for target, a in zip(targets, arrays, strict=True):
            if pillow:
                write_label_png(target, a)
            else:
                write_bytes_atomic(target, encode_label_png(a))
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, _cpu() - c0)
    return best, best_cpu


def time_pillow_decode(root: Path, repeat: int) -> float:
    """Best wall seconds of decoding every input with Pillow only."""
    inputs = sorted((root / "stuffthingmaps_trainval2017").glob("*/*.png"))
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for p in inputs:
            with Image.open(p) as im:
                np.asarray(im)
        best = min(best, time.perf_counter() - t0)
    return best


# One build in a fresh process that reports its own peak RSS (the pool workers are
# separate processes with their own VmHWM, so they are not counted).
_RSS_CHILD = """
import json, sys
from goss_bench.builder import build_split
s = build_split("coco", "manual-20-60", sys.argv[1], sys.argv[2], workers=int(sys.argv[3]))
hwm = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM:"))
print(json.dumps({"hwm_kib": hwm, "reused": s.reused}))
"""


def _child_build(root: Path, out: Path, workers: int) -> tuple[float, int, float]:
    """(peak RSS MiB of the building process, images reused, wall seconds) of one build."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", _RSS_CHILD, str(root), str(out), str(workers)],
                       capture_output=True, text=True, check=True)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    return res["hwm_kib"] / 1024, int(res["reused"]), time.perf_counter() - t0


# The work-item list alone (list_items), which the builder keeps by design.
_ITEMS_CHILD = """
import json, sys
from pathlib import Path
from goss_bench.builder.sources import list_items
items = list_items("coco", "png", Path(sys.argv[1]))
hwm = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM:"))
print(json.dumps({"hwm_kib": hwm, "items": sum(map(len, items.values()))}))
"""


def _child_items(root: Path) -> float:
    """Peak RSS MiB of a process that only lists the work items of ``root``."""
    r = subprocess.run([sys.executable, "-c", _ITEMS_CHILD, str(root)],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])["hwm_kib"] / 1024


def measure_rss(work: Path, sizes: list[int], h: int, w: int, workers: int) -> None:
    """Print the parent's peak RSS for fresh builds and re-runs of ``sizes`` maps."""
    sizes = sorted(set(sizes))
    full = work / f"coco-{sizes[-1]}-{h}x{w}"
    if not (full / "stuffthingmaps_trainval2017").is_dir():
        t0 = time.perf_counter()
        make_data(full, sizes[-1], h, w)
        print(f"generated {sizes[-1]} label maps {w}x{h} in {time.perf_counter() - t0:.1f} s")
    rows = []
    for n in sizes:
        root = full if n == sizes[-1] else work / f"coco-{n}-{h}x{w}"
        if not root.is_dir():  # the first n maps of the full set (the same maps), hard-linked
            for i in range(n):
                sub = "train2017" if i % 2 == 0 else "val2017"
                for rel in (f"stuffthingmaps_trainval2017/{sub}/{i + 1:012d}.png",
                            f"{sub}/{i + 1:012d}.jpg"):
                    (root / rel).parent.mkdir(parents=True, exist_ok=True)
                    os.link(full / rel, root / rel)
        out = work / f"rss-out-{n}"
        shutil.rmtree(out, ignore_errors=True)
        build = _child_build(root, out, workers)
        again = _child_build(root, out, workers)
        listed = _child_items(root)
        mbytes = (out / "manifest.json").stat().st_size / 2**20
        rows.append((n, build, again, listed))
        print(f"{n:7d} maps: build peak {build[0]:7.1f} MiB ({build[2]:6.1f} s), "
              f"re-run peak {again[0]:7.1f} MiB ({again[2]:6.1f} s, {again[1]} reused); "
              f"listing the items alone {listed:7.1f} MiB; manifest.json {mbytes:.1f} MiB")
    if len(rows) > 1:
        (n0, b0, a0, l0), (n1, b1, a1, l1) = rows[0], rows[-1]
        k = (n1 - n0) / 1000
        print(f"parent peak RSS growth per 1,000 images ({n0} -> {n1}, {workers} workers): "
              f"build {(b1[0] - b0[0]) / k:+.2f} MiB, re-run {(a1[0] - a0[0]) / k:+.2f} MiB; "
              f"of which the work-item list (list_items) {(l1 - l0) / k:+.2f} MiB")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", "--n", dest="n", type=int, default=2000,
                    help="number of label maps (default 2000; use e.g. 200 for a quick run)")
    ap.add_argument("--size", type=int, nargs=2, default=(480, 640), metavar=("H", "W"))
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per setting (best is kept)")
    ap.add_argument("--keep", default=None, help="work folder to keep (default: a temp folder)")
    ap.add_argument("--rss", type=int, nargs="+", default=None, metavar="N",
                    help="measure the building process's peak RSS for builds of N maps instead")
    ap.add_argument("--workers", type=int, default=2, help="workers of the --rss builds")
    args = ap.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="goss-build-bench-"))
    try:
        if args.rss:
            measure_rss(work, args.rss, *args.size, args.workers)
            return 0
        root = work / "coco"
        if not (root / "stuffthingmaps_trainval2017").is_dir():
            t0 = time.perf_counter()
            make_data(root, args.n, *args.size)
            print(f"generated {args.n} label maps {args.size[1]}x{args.size[0]} "
                  f"in {time.perf_counter() - t0:.1f} s")
        tune_allocator()  # as the goss-bench CLI does at start-up (inherited by the pool workers)
        t1, c1 = time_build(root, work / "out1", 1, args.repeat)
        t2, c2 = time_build(root, work / "out2", 2, args.repeat)
        same = all(
            (work / "out1" / p.relative_to(work / "out2")).read_bytes() == p.read_bytes()
            for p in (work / "out2").rglob("*") if p.is_file()
        )
        base, cbase = time_decode_encode(root, work / "out1", work / "scratch", args.repeat)
        pbase, cpbase = time_decode_encode(root, work / "out1", work / "scratch", args.repeat,
                                           pillow=True)
        t_pil = time_pillow_decode(root, args.repeat)
        n_out = sum(1 for _ in (work / "out1").glob("*/*/*.png"))
        n = args.n
        load = os.getloadavg()[0]
        print(f"inputs: {n} maps; outputs written: {n_out} PNGs; CPUs: {os.cpu_count()}, "
              f"load average {load:.1f}")
        try:
            import imagecodecs  # noqa: F401

            decoder = "imagecodecs (libpng)"
        except ImportError:
            decoder = "Pillow"
        print(f"codecs: decode {decoder}, encode goss-bench with {deflate_backend()} deflate")
        print(f"decode inputs + encode outputs : {base:7.2f} s wall ({n / base:6.1f} images/s), "
              f"{cbase:7.2f} s CPU")
        print(f"  the same, Pillow encoder     : {pbase:7.2f} s wall ({n / pbase:6.1f} images/s), "
              f"{cpbase:7.2f} s CPU")
        print(f"decode inputs only, Pillow     : {t_pil:7.2f} s wall")
        print(f"build, 1 worker                : {t1:7.2f} s wall ({n / t1:6.1f} images/s), "
              f"{c1:7.2f} s CPU")
        print(f"build, 2 workers               : {t2:7.2f} s wall ({n / t2:6.1f} images/s), "
              f"{c2:7.2f} s CPU")
        print(f"ratio build (1 worker) / decode+encode: wall {t1 / base:.2f}x, CPU {c1 / cbase:.2f}x "
              "(target <= 1.3x)")
        print(f"  (against the Pillow-encoder baseline: wall {t1 / pbase:.2f}x, CPU {c1 / cpbase:.2f}x)")
        print(f"speed-up 1 -> 2 workers (wall): {t1 / t2:.2f}x (target >= 1.8x; needs 2 idle cores)")
        print(f"1-worker and 2-worker outputs byte-identical: {same}")
        per_img = c1 / n
        print(f"projected full COCO-Stuff ({FULL_COCO:,} maps): {FULL_COCO * per_img / 60:.1f} CPU-min; "
              f"{FULL_COCO * per_img / 16 / 60:.1f} min on 16 workers (linear scaling)")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
