"""``goss-bench score PRED GT``: score predictions and print a table."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from goss_bench.errors import GossInputError
from goss_bench.io import DEFAULT_MAX_PIXELS, write_text_atomic
from goss_bench.result import ScoreResult
from goss_bench.validate.files import check_output_file
from goss_bench.validate.flags import add_scoring_arguments, add_workers_argument, int_range


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "pred", help="prediction folder (semantic/, groups/, optional scores/, clusters/)"
    )
    p.add_argument(
        "gt", help="GT split directory (split.json + test/) or folder with semantic/, groups/"
    )
    p.add_argument("--json", metavar="FILE", help="write the full result as JSON")
    p.add_argument(
        "--csv-per-class", metavar="FILE", help="write per-class PQ/SQ/RQ/TP/FP/FN as CSV"
    )
    p.add_argument("--per-image", metavar="FILE", help="write per-image statistics as JSON lines")
    add_workers_argument(p, default=None)
    add_scoring_arguments(p)
    p.add_argument(
        "--protocol",
        choices=["goss", "authors"],
        default="goss",
        help="goss: the corrected definitions (default); authors: reproduce the GOSS "
        "release's evaluator with its quirks (METRICS.md)",
    )
    p.add_argument("--no-oss", action="store_true", help="ignore scores/ even when present")
    p.add_argument("--no-gs", action="store_true", help="ignore clusters/ even when present")
    p.add_argument(
        "--max-pixels",
        type=int_range(1),
        default=DEFAULT_MAX_PIXELS,
        help=f"refuse images with more pixels (>= 1, default {DEFAULT_MAX_PIXELS})",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--per-class", action="store_true", help="also print the per-class table")
    p.add_argument("--ci", action="store_true", help="bootstrap confidence intervals over images")
    p.add_argument(
        "--image-stats",
        action="store_true",
        help="save per-image statistics in the --json file (for goss-bench compare)",
    )
    from goss_bench.cli.compare import add_ci_arguments

    add_ci_arguments(p)


def _fmt(v: float | None) -> str:
    """A 0..1 value as percent with a % sign (human-facing output, METRICS.md "Units")."""
    if v is None:
        return "n/a"
    return f"{100 * v:6.2f}%"


def format_table(res: ScoreResult, per_class: bool = False) -> str:
    """Human-readable summary, values in percent (files and the API hold 0..1)."""
    out = io.StringIO()
    w = out.write
    w(
        f"GOSS scores over {res.num_images} images, N = {res.num_known} known classes "
        f"(average={res.average}: {res.num_known_averaged} known classes averaged, lam={res.lam})\n"
    )
    w(f"{'':8s} {'GQ/PQ':>8s} {'SQ':>8s} {'RQ':>8s}\n")
    w(f"{'all':8s} {_fmt(res.gq):>8s}\n")
    w(f"{'known':8s} {_fmt(res.gq_known):>8s} {_fmt(res.sq_known):>8s} {_fmt(res.rq_known):>8s}\n")
    w(
        f"{'unknown':8s} {_fmt(res.gq_unknown):>8s} {_fmt(res.sq_unknown):>8s} "
        f"{_fmt(res.rq_unknown):>8s}\n"
    )
    w(f"mIoU (known, closed-set): {_fmt(res.miou)}\n")
    if res.oss is not None:
        o = res.oss
        w(
            f"OSS ({o.pooling}, FPR95 rule={o.fpr95_rule}, void_as_unknown={o.void_as_unknown}): "
            f"AUROC {_fmt(o.auroc)}  AUPR {_fmt(o.aupr)}  FPR95 {_fmt(o.fpr95)}\n"
        )
    if res.gs is not None:
        g = res.gs
        w(
            f"GS: GQ_clu {_fmt(g.gq_clu)}  mIoU_clu {_fmt(g.miou_clu)}  covering {_fmt(g.covering)} "
            f"({g.num_gt_clusters} GT clusters)\n"
        )
    if per_class:
        w(
            f"\n{'id':>4s} {'class':24s} {'PQ':>8s} {'SQ':>8s} {'RQ':>8s} {'TP':>6s} {'FP':>6s} "
            f"{'FN':>6s} {'IoU':>8s}\n"
        )
        for c in res.per_class:
            w(
                f"{c.train_id:4d} {c.name[:24]:24s} {_fmt(c.pq):>8s} {_fmt(c.sq):>8s} {_fmt(c.rq):>8s} "
                f"{c.tp:6d} {c.fp:6d} {c.fn:6d} {_fmt(c.iou):>8s}\n"
            )
    return out.getvalue()


def per_class_csv(res: ScoreResult) -> str:
    buf = io.StringIO()
    wr = csv.writer(buf, lineterminator="\n")
    wr.writerow(
        [
            "train_id",
            "name",
            "pq [0-1]",  # the header says the unit (METRICS.md, "Units")
            "sq [0-1]",
            "rq [0-1]",
            "tp",
            "fp",
            "fn",
            "iou_sum",
            "present",
            "semantic_iou [0-1]",
        ]
    )
    for c in res.per_class:
        wr.writerow(
            [
                c.train_id,
                c.name,
                repr(c.pq),
                repr(c.sq),
                repr(c.rq),
                c.tp,
                c.fp,
                c.fn,
                repr(c.iou_sum),
                int(c.present),
                "" if c.iou is None else repr(c.iou),
            ]
        )
    return buf.getvalue()


def run(args: argparse.Namespace) -> int:
    from goss_bench.scoring import score

    outputs = {flag: getattr(args, flag[2:].replace("-", "_"))
               for flag in ("--json", "--csv-per-class", "--per-image")}
    for flag, path in outputs.items():
        if path is not None:  # checked before any work: '' or a folder is an error
            check_output_file(path, flag)
    if args.image_stats and args.json is None:
        raise GossInputError("--image-stats needs --json FILE")
    kwargs: dict[str, Any] = dict(
        num_known=args.num_known,
        workers=args.workers,
        average=args.average,
        lam=args.lam,
        allow_missing=args.allow_missing,
        progress=not args.quiet and sys.stderr.isatty(),
        void_as_unknown=args.void_as_unknown,
        fpr95=args.fpr95,
        oss_per_image=args.oss_per_image,
        per_image=args.per_image is not None,
        use_scores=False if args.no_oss else None,
        use_clusters=False if args.no_gs else None,
        max_pixels=args.max_pixels,
    )
    if args.ci or args.image_stats:
        if args.protocol != "goss":
            raise GossInputError("--ci and --image-stats use the default protocol, not --protocol authors")
        return _run_with_stats(args, kwargs)
    res = score(args.pred, args.gt, protocol=args.protocol, **kwargs)
    _write_outputs(args, res, res.to_dict())
    return 0


def _run_with_stats(args: argparse.Namespace, kwargs: dict[str, Any]) -> int:
    """``--ci`` / ``--image-stats``: score keeping per-image statistics."""
    from goss_bench.cli.compare import format_intervals
    from goss_bench.diagnostics.bootstrap import confidence_intervals
    from goss_bench.diagnostics.collect import score_with_stats

    res, stats = score_with_stats(args.pred, args.gt, **kwargs)
    d = res.to_dict()
    ci_text = ""
    if args.ci:
        ci = confidence_intervals(stats, args.bootstrap, args.seed, args.level)
        exact = res.summary()
        ci = {k: replace(v, value=exact.get(k, v.value)) for k, v in ci.items()}
        d["ci"] = {
            "method": "percentile bootstrap over images",
            "resamples": args.bootstrap,
            "seed": args.seed,
            "level": args.level,
            "metrics": {k: asdict(v) for k, v in ci.items()},
        }
        ci_text = format_intervals(ci, args.bootstrap, args.seed, args.level)
    if args.image_stats:
        d["image_stats"] = stats.to_json()
    _write_outputs(args, res, d, ci_text)
    return 0


def _write_outputs(
    args: argparse.Namespace, res: ScoreResult, d: dict[str, Any], extra: str = ""
) -> None:
    per_image = d.pop("per_image", None)
    if args.json is not None:
        write_text_atomic(Path(args.json), json.dumps(d, indent=2) + "\n")
    if args.csv_per_class is not None:
        write_text_atomic(Path(args.csv_per_class), per_class_csv(res))
    if args.per_image is not None:
        write_text_atomic(
            Path(args.per_image), "".join(json.dumps(r) + "\n" for r in per_image or [])
        )
    sys.stdout.write(format_table(res, per_class=args.per_class) + extra)
