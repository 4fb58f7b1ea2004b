"""Benchmark of ``goss-bench score`` side by side with its peers (issue 16).

Generates synthetic GOSS data (``synth_goss.py``; GT written as ``build-split``
writes it, predictions with Pillow: COCO-like 640x480, N=111,
about 85 segments per image, many unknown groups, void, with ``scores/`` and
``clusters/``; Cityscapes-like 2048x1024, N=15, ego-vehicle void), caches it
under ``--data``, and prints in ONE run (ratios are only meaningful within a run):

  decode-pillow  decoding the PNGs the scorer reads, with Pillow
  decode-codec   the same with goss-bench's decoder (imagecodecs when installed)
  score-w1-in    ``goss_bench.score(workers=1)`` in this process
  score-w1       ``goss-bench score --workers 1``, a whole process
  score          ``goss-bench score`` with defaults (all cores), a whole process
  score-thread   in-process, all cores, thread pool (vs the process pool default)
  hotcoco        ``hotcoco.panoptic.pq_compute`` (all cores), a whole process, on
                 the ``goss-bench export-panoptic`` output (``pip install hotcoco``)
  cityscapes     cityscapesscripts' ``pq_compute_single_core``, a whole process

COCO-like is timed with scores/ + clusters/ (OSS and GS metrics) and without
(``--no-oss --no-gs``; the peers compute GQ/PQ only).  Per-class TP/FP/FN of
goss-bench, hotcoco and cityscapesscripts are checked equal.  Peak RSS of the
scorer's parent process (and of its largest worker) is measured for the small
and the large image count (the large set repeats the small one's files under
new names, hard links), with 1 worker and with the default.

Usage::

    python benchmarks/score_bench.py [--quick] [--data DIR] [--json FILE]

Measured on a shared machine the figures are noisy; compare ratios, not times.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synth_goss import CITYSCAPES_LIKE, COCO_LIKE, SynthConfig, generate  # noqa: E402

from goss_bench import score  # noqa: E402
from goss_bench.allocator import tune_allocator  # noqa: E402
from goss_bench.io import read_label_png  # noqa: E402
from goss_bench.panoptic import export_panoptic  # noqa: E402


def best_time(fn: Callable[[], object], repeat: int) -> float:
    """Minimum wall time of ``repeat`` calls (seconds)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def export_cached(root: Path) -> tuple[Path, Path]:
    """COCO panoptic export of gt/ and pred/ (cached next to the data)."""
    out = []
    for side, src in (("gt", root / "gt"), ("pred", root / "pred")):
        dst = root / f"{side}_panoptic"
        marker = dst / "done"
        if not marker.is_file():
            export_panoptic(src, dst, num_known=_num_known(root), workers=2)
            marker.write_text("ok")
        out.append(dst)
    return out[0], out[1]


def integer_ids(gt_pan: Path, pred_pan: Path) -> None:
    """panoptic_int.json beside each panoptic.json, with integer image ids (hotcoco needs them)."""
    docs = [json.loads((d / "panoptic.json").read_text()) for d in (gt_pan, pred_pan)]
    ids = {img["id"]: i for i, img in enumerate(docs[0]["images"])}
    for d, doc in zip((gt_pan, pred_pan), docs, strict=True):
        for img in doc.get("images", []):
            img["id"] = ids[img["id"]]
        for a in doc["annotations"]:
            a["image_id"] = ids[a["image_id"]]
        (d / "panoptic_int.json").write_text(json.dumps(doc))


def _num_known(root: Path) -> int:
    return int(json.loads((root / "gt" / "split.json").read_text())["num_known"])


_CLI_CHILD = """
import json, resource, sys, time

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0

t0 = time.perf_counter()
from goss_bench.cli import main
rc = main(sys.argv[2:])
wall = time.perf_counter() - t0
child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(sys.argv[1], "w") as fh:
    json.dump({"rc": rc, "wall_s": wall, "peak_kib": status("VmHWM"), "child_peak_kib": child}, fh)
"""

_HOTCOCO_CHILD = """
import contextlib, io, json, sys, time
t0 = time.perf_counter()
from hotcoco.panoptic import pq_compute
gt, pred, out = sys.argv[1:4]
with contextlib.redirect_stdout(io.StringIO()):
    res = pq_compute(gt + "/panoptic_int.json", pred + "/panoptic_int.json", gt + "/panoptic",
                     pred + "/panoptic")
counts = {str(k): [v["tp"], v["fp"], v["fn"]] for k, v in res["per_class"].items()}
json.dump({"wall_s": time.perf_counter() - t0, "counts": counts}, open(out, "w"))
"""

_CITYSCAPES_CHILD = """
import contextlib, io, json, sys, time
t0 = time.perf_counter()
from cityscapesscripts.evaluation import evalPanopticSemanticLabeling as pan
gt, pred, out = sys.argv[1:4]
gj = json.load(open(gt + "/panoptic.json"))
pj = json.load(open(pred + "/panoptic.json"))
cats = {c["id"]: c for c in gj["categories"]}
preds = {a["image_id"]: a for a in pj["annotations"]}
pairs = [(a, preds[a["image_id"]]) for a in gj["annotations"]]
with contextlib.redirect_stdout(io.StringIO()):
    stat = pan.pq_compute_single_core(0, pairs, gt + "/panoptic", pred + "/panoptic", cats)
counts = {str(k): [v.tp, v.fp, v.fn] for k, v in stat.pq_per_cat.items()}
json.dump({"wall_s": time.perf_counter() - t0, "counts": counts}, open(out, "w"))
"""


def run_child(code: str, args: list[str]) -> dict:
    """Run ``code`` in a fresh interpreter; it writes its JSON report to a temp file."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = fh.name
    try:
        if code is _CLI_CHILD:
            cmd = [sys.executable, "-c", code, out, *args]
        else:
            cmd = [sys.executable, "-c", code, *args, out]
        # as installed packages run: with cached bytecode (some CI images set
        # PYTHONDONTWRITEBYTECODE, which recompiles goss-bench at every start)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
        return json.loads(Path(out).read_text())
    finally:
        os.unlink(out)


def best_child(code: str, args: list[str], repeat: int) -> dict:
    runs = [run_child(code, args) for _ in range(repeat)]
    return min(runs, key=lambda r: r["wall_s"])


def decode_files(root: Path, num_known: int, extras: bool) -> list[tuple[Path, tuple[int, ...]]]:
    """The PNGs the scorer reads (groups only where semantic has N), with accepted depths."""
    gt, pred = root / "gt" / "test", root / "pred"
    files = []
    for p in sorted((gt / "semantic").iterdir()):
        stem = p.name
        for base in (gt, pred):
            files.append((base / "semantic" / stem, (8,)))
            sem = read_label_png(base / "semantic" / stem)
            if (sem == num_known).any():
                files.append((base / "groups" / stem, (8, 16)))
        if extras:
            files += [(pred / "scores" / stem, (8, 16)), (pred / "clusters" / stem, (8, 16)),
                      (gt / "clusters" / stem, (8, 16))]
    return files


def decode_pillow(files: list[tuple[Path, tuple[int, ...]]]) -> None:
    from PIL import Image

    for p, _ in files:
        with Image.open(p) as im:
            np.asarray(im)


def decode_codec(files: list[tuple[Path, tuple[int, ...]]]) -> None:
    for p, bits in files:
        read_label_png(p, bits=bits)


def counts_goss(res) -> dict[str, list[int]]:
    """Per-class TP/FP/FN keyed by the export's category id (train id + 1)."""
    return {str(c.train_id + 1): [c.tp, c.fp, c.fn] for c in res.per_class}


def bench_dataset(cfg: SynthConfig, data: Path, repeat: int, extras: bool) -> list[dict]:
    root = generate(cfg, data / cfg.name)
    n = cfg.num_known
    gt, pred = root / "gt", root / "pred"
    gt_pan, pred_pan = export_cached(root)
    integer_ids(gt_pan, pred_pan)
    k = cfg.num_images
    variants = [("+OSS+GS", [])] if extras else []
    variants.append(("GQ only", ["--no-oss", "--no-gs"]))
    rows = []
    for label, flags in variants:
        use = not flags
        files = decode_files(root, n, use)
        decode_codec(files)  # warm the page cache
        t = {
            "decode-pillow": best_time(lambda f=files: decode_pillow(f), repeat),
            "decode-codec": best_time(lambda f=files: decode_codec(f), repeat),
            "score-w1-in": best_time(
                lambda u=use: score(pred, gt, workers=1, use_scores=u, use_clusters=u), repeat),
            "score-thread": best_time(
                lambda u=use: score(pred, gt, executor="thread", use_scores=u, use_clusters=u),
                repeat),
            "score-process": best_time(
                lambda u=use: score(pred, gt, executor="process", use_scores=u, use_clusters=u),
                repeat),
        }
        cli = ["score", str(pred), str(gt), "--quiet", *flags]
        t["score-w1"] = best_child(_CLI_CHILD, [*cli, "--workers", "1"], repeat)["wall_s"]
        t["score"] = best_child(_CLI_CHILD, cli, repeat)["wall_s"]
        row = {"name": f"{cfg.name} ({label})", "images": k, "s": t}
        if not use:
            res = score(pred, gt, workers=1, average="present", use_scores=False,
                        use_clusters=False)
            mine = counts_goss(res)
            for peer, code in (("hotcoco", _HOTCOCO_CHILD), ("cityscapes", _CITYSCAPES_CHILD)):
                try:
                    r = best_child(code, [str(gt_pan), str(pred_pan)], repeat)
                except subprocess.CalledProcessError:
                    row[f"{peer}_parity"] = None  # not installed or failed
                    continue
                t[peer] = r["wall_s"]
                keys = set(mine) | set(r["counts"])
                row[f"{peer}_parity"] = all(
                    mine.get(key, [0, 0, 0]) == r["counts"].get(key, [0, 0, 0]) for key in keys
                )
        rows.append(row)
    return rows


def scale_copy(root: Path, k: int) -> Path:
    """``k`` images named 000000.. whose files are hard links to ``root``'s images, cycled."""
    dst = root.parent / f"{root.name}_x{k}"
    if (dst / "done").is_file():
        return dst
    subs = [d for d in ("gt/test/semantic", "gt/test/groups", "gt/test/clusters", "pred/semantic",
                        "pred/groups", "pred/scores", "pred/clusters") if (root / d).is_dir()]
    src = sorted(p.name for p in (root / "gt" / "test" / "semantic").iterdir())
    for d in subs:
        (dst / d).mkdir(parents=True, exist_ok=True)
        for i in range(k):
            link = dst / d / f"{i:06d}.png"
            if not link.exists():
                os.link(root / d / src[i % len(src)], link)
    (dst / "gt" / "split.json").write_text((root / "gt" / "split.json").read_text())
    (dst / "done").write_text("ok")
    return dst


def peak_rss(roots: dict[int, Path], repeat: int) -> list[dict]:
    """Peak RSS of ``goss-bench score`` (parent, largest worker) per image count and workers."""
    out = []
    for workers in ("1", None):
        for k, root in roots.items():
            args = ["score", str(root / "pred"), str(root / "gt"), "--quiet"]
            if workers:
                args += ["--workers", workers]
            r = run_child(_CLI_CHILD, args)
            out.append({"images": k, "workers": workers or "default", **r})
    return out


def bench_oss(num_pixels: int, repeat: int) -> dict:
    """OSS metrics on ``num_pixels`` pixels: goss-bench's histograms vs scikit-learn."""
    from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

    from goss_bench.metrics.oss import OSSCurve, image_histogram

    rng = np.random.default_rng(7)
    n = 19
    sem = rng.integers(0, n, size=num_pixels).astype(np.uint8)
    sem[rng.random(num_pixels) < 0.05] = n  # 5% unknown
    sem[rng.random(num_pixels) < 0.03] = 255  # void (excluded)
    noise = rng.normal(0, 1, num_pixels)
    scores = np.clip(20000 + 8000 * ((sem == n) + noise), 0, 65535).astype(np.uint16)
    chunk = 1 << 20  # as if images of 1 Mpx

    def goss() -> tuple[float, float, float]:
        hist = np.zeros((2, 1 << 16), dtype=np.int64)
        for i in range(0, num_pixels, chunk):
            hist += image_histogram(sem[i : i + chunk], scores[i : i + chunk], n)
        curve = OSSCurve.from_histogram(hist)
        return curve.auroc(), curve.aupr(), curve.fpr_at_tpr(0.95, "first")

    def sk() -> tuple[float, float, float]:
        used = sem != 255
        y = sem[used] == n
        s = scores[used]
        fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
        return (
            float(roc_auc_score(y, s)),
            float(average_precision_score(y, s)),
            float(fpr[np.flatnonzero(tpr >= 0.95)[0]]),
        )

    t_goss = best_time(goss, repeat)
    t_sk = best_time(sk, 1)
    vg, vs = goss(), sk()
    return {
        "pixels": num_pixels,
        "goss_s": t_goss,
        "sklearn_s": t_sk,
        "speedup": t_sk / t_goss,
        "goss": dict(zip(("auroc", "aupr", "fpr95"), vg, strict=True)),
        "sklearn": dict(zip(("auroc", "aupr", "fpr95"), vs, strict=True)),
        "max_abs_diff": max(abs(a - b) for a, b in zip(vg, vs, strict=True)),
    }


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="data folder (cached between runs)")
    ap.add_argument("--quick", action="store_true", help="60/600 COCO-like, 6 Cityscapes-like")
    ap.add_argument("--images", type=int, default=None, help="COCO-like image count (500)")
    ap.add_argument("--city-images", type=int, default=None,
                    help="Cityscapes-like image count (100)")
    ap.add_argument("--repeat", type=int, default=None, help="timing repetitions (best of)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    ap.add_argument("--skip", nargs="*", default=(), choices=("rss", "oss"),
                    help="leave out the peak-RSS or the OSS-vs-scikit-learn part")
    args = ap.parse_args(argv)
    tune_allocator()  # as the CLI does: in-process timings then match `goss-bench score`
    data = args.data or Path(tempfile.gettempdir()) / "goss-bench-score-bench"
    data.mkdir(parents=True, exist_ok=True)
    repeat = args.repeat or (1 if args.quick else 2)
    coco = replace(COCO_LIKE, extras=True, name="coco_like_x")
    city = CITYSCAPES_LIKE
    oss_pixels = 10_000_000
    if args.quick:
        coco = replace(coco, num_images=60, name="coco_like_x_quick")
        city = replace(city, num_images=6, name="cityscapes_like_quick")
        oss_pixels = 1_000_000
    if args.images:
        coco = replace(coco, num_images=args.images, name=f"coco_like_x_{args.images}")
    if args.city_images:
        city = replace(city, num_images=args.city_images,
                       name=f"cityscapes_like_{args.city_images}")
    big = 10 * coco.num_images

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"goss-bench score benchmark  (data: {data}, cores: {cores}, best of {repeat})")
    print("one run: compare ratios, not times (shared machines are noisy)")
    t0 = time.perf_counter()
    for cfg in (coco, city):
        generate(cfg, data / cfg.name)
    print(f"data ready in {time.perf_counter() - t0:.1f} s")

    report: dict = {"datasets": []}
    cols = ("decode-pillow", "decode-codec", "score-w1-in", "score-w1", "score",
            "score-thread", "score-process", "hotcoco", "cityscapes")
    print()
    print(f"{'ms per image':<34}" + "".join(f"{c:>14}" for c in cols))
    for cfg, extras in ((coco, True), (city, False)):
        for r in bench_dataset(cfg, data, repeat, extras):
            report["datasets"].append(r)
            ms = {c: 1e3 * v / r["images"] for c, v in r["s"].items()}
            print(f"{r['name'] + ' ' + str(r['images']):<34}"
                  + "".join(f"{ms[c]:>14.2f}" if c in ms else f"{'-':>14}" for c in cols))
    print()
    print("ratios (same run)")
    for r in report["datasets"]:
        t = r["s"]
        parts = [
            f"codec/pillow decode {t['decode-codec'] / t['decode-pillow']:.2f}",
            f"score-w1-in/decode-codec {t['score-w1-in'] / t['decode-codec']:.2f} (<= 1.3)",
            f"w1/default {t['score-w1'] / t['score']:.2f} (>= 1.8)",
            f"thread/process {t['score-thread'] / t['score-process']:.2f}",
        ]
        if "hotcoco" in t:
            parts.append(f"hotcoco/default {t['hotcoco'] / t['score']:.2f} (>= 1)")
        if "cityscapes" in t:
            parts.append(f"cityscapes/w1 {t['cityscapes'] / t['score-w1']:.2f}")
        for peer in ("hotcoco", "cityscapes"):
            if f"{peer}_parity" in r:
                v = r[f"{peer}_parity"]
                parts.append(f"{peer} TP/FP/FN {'equal' if v else 'NOT RUN' if v is None else 'DIFFER'}")
        print(f"  {r['name']}: " + "; ".join(parts))
    d = {r["name"]: r["s"] for r in report["datasets"]}
    full, gq = d.get(f"{coco.name} (+OSS+GS)"), d.get(f"{coco.name} (GQ only)")
    if full and gq:
        print(f"  {coco.name}: OSS+GS cost / GQ-only, 1 worker in process: "
              f"{(full['score-w1-in'] - gq['score-w1-in']) / gq['score-w1-in']:.2f} (<= 1)")

    if "rss" in args.skip:
        return _finish(args, report)
    rss = peak_rss({coco.num_images: data / coco.name,
                    big: scale_copy(data / coco.name, big)}, repeat)
    report["peak_rss"] = rss
    print()
    print(f"peak RSS of goss-bench score (with OSS+GS), {coco.num_images} vs {big} images:")
    for v in rss:
        print(f"  workers {v['workers']:>7}, {v['images']:>6} images: parent "
              f"{v['peak_kib'] / 1024:7.1f} MiB, largest worker {v['child_peak_kib'] / 1024:7.1f} MiB, "
              f"{1e3 * v['wall_s'] / v['images']:.2f} ms/img")

    if "oss" in args.skip:
        return _finish(args, report)
    oss = bench_oss(oss_pixels, repeat)
    report["oss"] = oss
    print()
    print(f"OSS metrics on {oss_pixels:.0e} pixels: goss-bench {oss['goss_s'] * 1e3:.1f} ms, "
          f"scikit-learn {oss['sklearn_s'] * 1e3:.1f} ms ({oss['speedup']:.1f}x), "
          f"max |difference| {oss['max_abs_diff']:.1e}")
    return _finish(args, report)


def _finish(args: argparse.Namespace, report: dict) -> int:
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
