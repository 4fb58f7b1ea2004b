"""``goss-bench compare A B [GT]``: is B better than A, on which metrics, classes and images?

A and B are prediction folders (then GT is required) or score JSON files
written with ``goss-bench score PRED GT --json FILE --image-stats``.
Numbers are printed in percent; ``--json`` writes them as fractions (0..1).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

from goss_bench.errors import GossInputError
from goss_bench.io import write_text_atomic
from goss_bench.validate.files import check_output_dir, check_output_file
from goss_bench.validate.flags import (
    add_scoring_arguments,
    add_workers_argument,
    int_range,
)


def add_ci_arguments(p: argparse.ArgumentParser) -> None:
    """--bootstrap, --seed, --level (shared with ``score --ci``); the bootstrap checks
    --bootstrap and --level itself (one ``error:`` line naming the flag)."""
    p.add_argument(
        "--bootstrap", type=int, default=1000, metavar="B",
        help="bootstrap resamples (>= 1, default 1000)",
    )
    p.add_argument("--seed", type=int_range(0), default=0,
                   help="random seed of the resampling (>= 0, default 0)")
    p.add_argument(
        "--level", type=float, default=0.95,
        help="confidence level of the intervals (strictly between 0 and 1, default 0.95)",
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("a", help="A: prediction folder or score JSON with image_stats")
    p.add_argument("b", help="B: prediction folder or score JSON with image_stats")
    p.add_argument("gt", nargs="?", help="GT split directory or folder (when A or B is a folder)")
    add_scoring_arguments(p)
    add_workers_argument(p)
    add_ci_arguments(p)
    p.add_argument("--top", type=int_range(0), default=10,
                   help="images that differ most to list (>= 0, default 10)")
    p.add_argument(
        "--show", type=int_range(0), default=0, metavar="K",
        help="draw `show` panels of A and B for the K images that differ most (>= 0; needs --out)",
    )
    p.add_argument("--out", help="folder for the --show panels")
    p.add_argument("--json", metavar="FILE", help="write the comparison as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def pct(v: float | None, width: int = 6, sign: str = "") -> str:
    """A 0..1 value in percent (``sign="%"`` for values, "" for differences in points)."""
    return "n/a".rjust(width) if v is None else f"{100 * v:{width}.2f}{sign}"


def format_interval(value: float | None, low: float | None, high: float | None) -> str:
    """``9.15% [8.71%, 9.58%]`` (human output is percent with a % sign, METRICS.md "Units")."""
    if value is None:
        return "n/a"
    if low is None or high is None:
        return f"{100 * value:.2f}% [n/a]"
    return f"{100 * value:.2f}% [{100 * low:.2f}%, {100 * high:.2f}%]"


def format_intervals(ci: dict[str, Any], num: int, seed: int, level: float) -> str:
    """The ``score --ci`` block: one metric per line."""
    out = [f"{100 * level:g}% bootstrap intervals over images ({num} resamples, seed {seed}):"]
    for name, iv in ci.items():
        out.append(f"  {name:9s} {format_interval(iv.value, iv.low, iv.high)}")
    return "\n".join(out) + "\n"


def _is_json(path: str) -> bool:
    return Path(path).is_file()


def _stats_of(path: str, args: argparse.Namespace, progress: bool) -> Any:
    from goss_bench.diagnostics.collect import score_with_stats
    from goss_bench.diagnostics.compare import load_stats_json

    if _is_json(path):
        return load_stats_json(path)
    if not Path(path).is_dir():
        raise GossInputError(f"{path}: neither a prediction folder nor a score JSON file")
    if args.gt is None:
        raise GossInputError(f"{path} is a prediction folder: give the ground truth as GT")
    _, stats = score_with_stats(
        path,
        args.gt,
        num_known=args.num_known,
        workers=args.workers,
        average=args.average,
        lam=args.lam,
        allow_missing=args.allow_missing,
        void_as_unknown=args.void_as_unknown,
        fpr95=args.fpr95,
        oss_per_image=args.oss_per_image,
        progress=progress,
    )
    return stats


def format_comparison(cmp: Any, a_name: str, b_name: str) -> str:
    out = io.StringIO()
    w = out.write
    w(
        f"A = {a_name}\nB = {b_name}\n"
        f"Paired comparison over {cmp.num_images} images; A and B in %, B - A and its "
        "interval in percent points "
        f"({cmp.num_resamples} bootstrap resamples, seed {cmp.seed}, "
        f"{100 * cmp.level:g}% intervals)\n"
    )
    w(f"{'metric':9s} {'A':>8s} {'B':>8s} {'B-A':>7s}  {'interval':18s} {'p':>6s}\n")
    for d in cmp.metrics:
        iv = "n/a" if d.low is None else f"[{pct(d.low, 0)}, {pct(d.high, 0)}]"
        p = "n/a" if d.p_value is None else f"{d.p_value:.3f}"
        w(f"{d.metric:9s} {pct(d.a, 7, '%')} {pct(d.b, 7, '%')} {pct(d.diff, 7)}  {iv:18s} {p:>6s}\n")
    if cmp.per_class:
        w("\nPQ per class (B - A, most improved first):\n")
        w(f"{'id':>4s} {'class':24s} {'A':>8s} {'B':>8s} {'B-A':>7s}\n")
        for c in cmp.per_class:
            w(
                f"{c.train_id:4d} {c.name[:24]:24s} {pct(c.pq_a, 7, '%')} {pct(c.pq_b, 7, '%')} "
                f"{pct(c.diff, 7)}\n"
            )
    if cmp.images:
        w("\nImages where A and B differ most (image score, see METRICS.md):\n")
        w(f"{'image':32s} {'A':>8s} {'B':>8s} {'B-A':>7s}\n")
        for im in cmp.images:
            w(f"{im.stem[:32]:32s} {pct(im.a, 7, '%')} {pct(im.b, 7, '%')} {pct(im.diff, 7)}\n")
    return out.getvalue()


def _draw(args: argparse.Namespace, stems: list[str]) -> list[Path]:
    from goss_bench.cli.show import render_stem
    from goss_bench.io import write_bytes_atomic
    from goss_bench.scoring import resolve_gt
    from goss_bench.visualize import photo_paths

    gt = resolve_gt(args.gt, args.num_known)
    photos = photo_paths(gt)
    written = []
    for side, pred in (("A", args.a), ("B", args.b)):
        for stem in stems:
            buf = io.BytesIO()
            render_stem(Path(pred), gt, stem, photos).save(buf, format="PNG")
            path = Path(args.out) / f"{stem}_{side}.png"
            write_bytes_atomic(path, buf.getvalue())
            written.append(path)
    return written


def run(args: argparse.Namespace) -> int:
    from goss_bench.diagnostics.compare import compare_stats

    if args.workers < 1:
        raise GossInputError(f"--workers must be >= 1, got {args.workers}")
    if args.top < 0 or args.show < 0:
        raise GossInputError("--top and --show must be >= 0")
    if args.show and not args.out:
        raise GossInputError("--show needs --out DIR for the panels")
    if args.json is not None:  # outputs are checked before any work
        check_output_file(args.json, "--json")
    if args.out is not None:
        check_output_dir(args.out, "--out")
    if args.show and (_is_json(args.a) or _is_json(args.b) or args.gt is None):
        raise GossInputError("--show needs A and B as prediction folders and GT")
    progress = not args.quiet and sys.stderr.isatty()
    a = _stats_of(args.a, args, progress)
    b = _stats_of(args.b, args, progress)
    cmp = compare_stats(
        a, b, num=args.bootstrap, seed=args.seed, level=args.level, top=max(args.top, args.show)
    )
    if args.json is not None:
        d = cmp.to_dict()
        d.update(a=str(args.a), b=str(args.b))
        write_text_atomic(Path(args.json), json.dumps(d, indent=2) + "\n")
    sys.stdout.write(format_comparison(cmp, args.a, args.b))
    if args.show:
        for path in _draw(args, [im.stem for im in cmp.images[: args.show]]):
            print(path)
    return 0
