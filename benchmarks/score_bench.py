"""Benchmark of ``goss-bench score`` (issue 3, section 7).

Generates synthetic GOSS data (``synth_goss.py``: COCO-like, 500 images 640x480,
N=111, many unknown groups, void; Cityscapes-like, 100 images 2048x1024, N=15,
ego-vehicle void), caches it under ``--data``, and prints in one run:

  (a) decode only: ``goss_bench.io.read_label_png`` on the files the scorer reads
  (b) ``goss_bench.score(..., workers=1)``
  (c) ``goss_bench.score(..., workers=2)``
  (d) cityscapesscripts' ``pq_compute_single_core`` (panopticapi port) on the same
      data exported to COCO panoptic (export time not counted; its per-class
      TP/FP/FN are checked against (b))
  ratios (b)/(a), (d)/(b), (b)/(c); peak RSS of scoring 100 vs 500 images (fresh
  subprocess each, workers=1); OSS metrics on 1e7 pixels vs scikit-learn.

Targets: (b)/(a) <= 1.3, (d)/(b) >= 3, (b)/(c) >= 1.7, RSS flat, OSS >= 50x sklearn.

Usage::

    python benchmarks/score_bench.py [--quick] [--data DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import io
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


def decode_only(root: Path, num_known: int) -> int:
    """Decode exactly the PNGs the scorer reads (groups only where semantic has N)."""
    gt = root / "gt" / "test"
    pred = root / "pred"
    pixels = 0
    for p in sorted((gt / "semantic").iterdir()):
        stem = p.name
        for base in (gt, pred):
            sem = read_label_png(base / "semantic" / stem, bits=(8,))
            pixels += sem.size
            if (sem == num_known).any():
                read_label_png(base / "groups" / stem, bits=(8, 16))
    return pixels


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


def _num_known(root: Path) -> int:
    return int(json.loads((root / "gt" / "split.json").read_text())["num_known"])


def cityscapes_pq(gt_pan: Path, pred_pan: Path):
    """cityscapesscripts' panoptic evaluator, single core, stdout silenced."""
    from cityscapesscripts.evaluation import evalPanopticSemanticLabeling as pan

    gt_json = json.loads((gt_pan / "panoptic.json").read_text())
    pred_json = json.loads((pred_pan / "panoptic.json").read_text())
    cats = {c["id"]: c for c in gt_json["categories"]}
    preds = {a["image_id"]: a for a in pred_json["annotations"]}
    pairs = [(a, preds[a["image_id"]]) for a in gt_json["annotations"]]
    with contextlib.redirect_stdout(io.StringIO()):
        stat = pan.pq_compute_single_core(
            0, pairs, str(gt_pan / "panoptic"), str(pred_pan / "panoptic"), cats
        )
        results = pan.average_pq(stat, cats)
    return stat, results


def check_parity(res, stat) -> bool:
    for c, cr in enumerate(res.per_class):
        o = stat.pq_per_cat[c + 1]
        if (cr.tp, cr.fp, cr.fn) != (o.tp, o.fp, o.fn) or abs(cr.iou_sum - o.iou) > 1e-9:
            return False
    return True


def bench_dataset(cfg: SynthConfig, data: Path, repeat: int) -> dict:
    root = generate(cfg, data / cfg.name)
    n = cfg.num_known
    gt, pred = root / "gt", root / "pred"
    gt_pan, pred_pan = export_cached(root)
    decode_only(root, n)  # warm the page cache
    pixels = decode_only(root, n)
    t_a = best_time(lambda: decode_only(root, n), repeat)
    t_b = best_time(lambda: score(pred, gt, workers=1), repeat)
    t_c = best_time(lambda: score(pred, gt, workers=2), repeat)
    res = score(pred, gt, workers=1, average="present")
    holder: dict = {}

    def run_d() -> None:
        holder["stat"], holder["results"] = cityscapes_pq(gt_pan, pred_pan)

    t_d = best_time(run_d, repeat)
    parity = check_parity(res, holder["stat"])
    pq_ok = abs(res.gq_known - holder["results"]["Stuff"]["pq"]) < 1e-12
    k = cfg.num_images
    return {
        "name": cfg.name,
        "images": k,
        "size": f"{cfg.width}x{cfg.height}",
        "num_known": n,
        "pixels_decoded": pixels,
        "unknown_segments_gt": int(res.per_class[n].tp + res.per_class[n].fn),
        "a_decode_s": t_a,
        "b_score_w1_s": t_b,
        "c_score_w2_s": t_c,
        "d_cityscapes_s": t_d,
        "ms_per_image": {
            "a": 1e3 * t_a / k,
            "b": 1e3 * t_b / k,
            "c": 1e3 * t_c / k,
            "d": 1e3 * t_d / k,
        },
        "b_over_a": t_b / t_a,
        "d_over_b": t_d / t_b,
        "b_over_c": t_b / t_c,
        "oracle_parity": parity and pq_ok,
        "gq_all": score(pred, gt, workers=1).gq,
    }


_RSS_CHILD = """
import json, resource, sys


def status(key):
    try:
        for line in open("/proc/self/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


from goss_bench import score

base = status("VmRSS")
try:  # reset the high-water mark (VmHWM) to the current RSS (Linux >= 4.0)
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
except OSError:
    pass
res = score(sys.argv[1], sys.argv[2], workers=1)
peak = status("VmHWM")
if peak is None:  # ru_maxrss survives fork+exec, so it is only a fallback
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"base_kib": base, "peak_kib": peak, "images": res.num_images}))
"""


def make_subset(root: Path, k: int) -> Path:
    """A folder with the first k images of ``root`` (symlinks)."""
    sub = root / f"subset_{k}"
    if (sub / "done").is_file():
        return sub
    stems = sorted(p.name for p in (root / "gt" / "test" / "semantic").iterdir())[:k]
    for rel in ("gt/test/semantic", "gt/test/groups", "pred/semantic", "pred/groups"):
        (sub / rel).mkdir(parents=True, exist_ok=True)
        for s in stems:
            link = sub / rel / s
            if not link.exists():
                link.symlink_to((root / rel / s).resolve())
    (sub / "gt" / "split.json").write_text((root / "gt" / "split.json").read_text())
    (sub / "done").write_text("ok")
    return sub


def peak_rss(root: Path, sizes: tuple[int, ...]) -> dict[int, dict]:
    out = {}
    for k in sizes:
        sub = make_subset(root, k)
        proc = subprocess.run(
            [sys.executable, "-c", _RSS_CHILD, str(sub / "pred"), str(sub / "gt")],
            check=True,
            capture_output=True,
            text=True,
        )
        out[k] = json.loads(proc.stdout.strip().splitlines()[-1])
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
    ap.add_argument("--quick", action="store_true", help="fewer images, 1e6 OSS pixels")
    ap.add_argument("--repeat", type=int, default=None, help="timing repetitions (best of)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    args = ap.parse_args(argv)
    data = args.data or Path(tempfile.gettempdir()) / "goss-bench-score-bench"
    data.mkdir(parents=True, exist_ok=True)
    repeat = args.repeat or (1 if args.quick else 2)
    coco, city = COCO_LIKE, CITYSCAPES_LIKE
    rss_sizes = (100, 500)
    oss_pixels = 10_000_000
    if args.quick:
        coco = replace(coco, num_images=60, name="coco_like_quick")
        city = replace(city, num_images=8, name="cityscapes_like_quick")
        rss_sizes = (20, 60)
        oss_pixels = 1_000_000

    print(f"goss-bench score benchmark  (data: {data}, cpus: {os.cpu_count()}, best of {repeat})")
    t0 = time.perf_counter()
    for cfg in (coco, city):
        generate(cfg, data / cfg.name)
    print(f"data ready in {time.perf_counter() - t0:.1f} s")

    report: dict = {"datasets": []}
    print()
    hdr = f"{'dataset':<22}{'(a) decode':>12}{'(b) w=1':>10}{'(c) w=2':>10}{'(d) cs':>10}"
    hdr += f"{'b/a':>7}{'d/b':>7}{'b/c':>7}  parity"
    print(hdr + "    [ms per image]")
    for cfg in (coco, city):
        r = bench_dataset(cfg, data, repeat)
        report["datasets"].append(r)
        m = r["ms_per_image"]
        print(
            f"{r['name'] + ' (' + str(r['images']) + ')':<22}{m['a']:>12.2f}{m['b']:>10.2f}"
            f"{m['c']:>10.2f}{m['d']:>10.2f}{r['b_over_a']:>7.2f}{r['d_over_b']:>7.2f}"
            f"{r['b_over_c']:>7.2f}  {'ok' if r['oracle_parity'] else 'MISMATCH'}"
        )
    print("targets: (b)/(a) <= 1.3, (d)/(b) >= 3, (b)/(c) >= 1.7")
    for r in report["datasets"]:
        print(
            f"  {r['name']}: b/a {_mark(r['b_over_a'] <= 1.3)}, d/b {_mark(r['d_over_b'] >= 3)}, "
            f"b/c {_mark(r['b_over_c'] >= 1.7)}"
        )

    rss = peak_rss(data / coco.name, rss_sizes)
    report["peak_rss"] = rss
    print()
    print("peak RSS of score(workers=1) in a fresh process, coco-like:")
    for k, v in rss.items():
        print(
            f"  {k:>4} images: peak {v['peak_kib'] / 1024:7.1f} MiB "
            f"(after imports {(v['base_kib'] or 0) / 1024:6.1f} MiB)"
        )
    lo, hi = (rss[k]["peak_kib"] for k in rss_sizes)
    growth = hi / lo - 1
    report["rss_growth"] = growth
    print(f"  growth {100 * growth:+.1f}%  {_mark(growth < 0.10)} (target: flat)")

    oss = bench_oss(oss_pixels, repeat)
    report["oss"] = oss
    print()
    print(f"OSS metrics on {oss_pixels:.0e} pixels (uint16 scores):")
    print(
        f"  goss-bench {oss['goss_s'] * 1e3:8.1f} ms   scikit-learn {oss['sklearn_s'] * 1e3:8.1f} ms"
        f"   speedup {oss['speedup']:6.1f}x  {_mark(oss['speedup'] >= 50)} (target >= 50x)"
    )
    g, s = oss["goss"], oss["sklearn"]
    print(
        f"  AUROC {g['auroc']:.12f} vs {s['auroc']:.12f}; AUPR {g['aupr']:.12f} vs "
        f"{s['aupr']:.12f}; FPR95 {g['fpr95']:.12f} vs {s['fpr95']:.12f}"
    )
    print(f"  max |difference| {oss['max_abs_diff']:.2e}  {_mark(oss['max_abs_diff'] < 1e-9)}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
