"""``goss-bench oracle PRED GT``: where GQ is lost (oracle breakdown and error counts, METRICS.md)."""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

from goss_bench.io import write_text_atomic
from goss_bench.validate.files import check_output_file
from goss_bench.validate.flags import (
    add_scoring_arguments,
    add_workers_argument,
)

LABELS = {
    "identification": "(a) identification",
    "grouping": "(b) grouping",
    "classification": "(c) classification",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pred", help="prediction folder (semantic/, groups/)")
    p.add_argument("gt", help="GT split directory or folder with semantic/, groups/")
    add_scoring_arguments(p, oss=False)
    add_workers_argument(p)
    p.add_argument("--json", metavar="FILE", help="write the breakdown as JSON (fractions 0..1)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _pct(v: float) -> str:
    return f"{100 * v:6.2f}%"


def _share(part: int, whole: int) -> str:
    return f"{part} of {whole}" + (f" ({100 * part / whole:.2f}%)" if whole else "")


def format_breakdown(bd: Any) -> str:
    out = io.StringIO()
    w = out.write
    a = bd.actual
    w(
        f"Oracle breakdown over {a.num_images} images (gain = oracle GQ - actual GQ, percent points)\n"
        f"{'':20s} {'GQ':>7s} {'GQ_kn':>7s} {'GQ_uk':>7s} {'SQ_uk':>7s} {'RQ_uk':>7s} {'gain':>7s}\n"
    )
    rows = [("actual", a, None)] + [
        (LABELS[k], r, r.gq - a.gq) for k, r in bd.oracles.items()
    ]
    for label, r, gain in rows:
        g = "" if gain is None else f"{100 * gain:+7.2f}"
        w(
            f"{label:20s} {_pct(r.gq)} {_pct(r.gq_known)} {_pct(r.gq_unknown)} "
            f"{_pct(r.sq_unknown)} {_pct(r.rq_unknown)} {g:>7s}\n"
        )
    e = bd.errors
    names = [c.name for c in a.per_class]
    w("\nErrors by kind (pixels on GT void excluded):\n")
    w(f"  unknown pixels predicted known:   {_share(e.unknown_as_known, e.unknown_pixels)}\n")
    w(f"  unknown pixels not predicted:     {_share(e.unknown_as_none, e.unknown_pixels)}\n")
    w(f"  known pixels predicted unknown:   {_share(e.known_as_unknown, e.known_pixels)}\n")
    w(f"  GT unknown groups split:          {_share(e.split_groups, e.gt_groups)}\n")
    w(f"  predicted unknown groups merging: {_share(e.merged_groups, e.pred_groups)}\n")
    top = e.top_confusions()
    if top:
        w("  known-class confusions (GT -> predicted: pixels):\n")
        for g, p, c in top:
            w(f"    {names[g]} -> {names[p]}: {c}\n")
    return out.getvalue()


def run(args: argparse.Namespace) -> int:
    from goss_bench.diagnostics.oracle import oracle_breakdown

    if args.json is not None:  # checked before any work: '' or a folder is an error
        check_output_file(args.json, "--json")
    bd = oracle_breakdown(
        args.pred,
        args.gt,
        num_known=args.num_known,
        workers=args.workers,
        average=args.average,
        lam=args.lam,
        allow_missing=args.allow_missing,
        progress=not args.quiet and sys.stderr.isatty(),
    )
    if args.json:
        write_text_atomic(Path(args.json), json.dumps(bd.to_dict(), indent=2) + "\n")
    sys.stdout.write(format_breakdown(bd))
    return 0
