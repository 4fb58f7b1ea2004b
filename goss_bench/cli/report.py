"""``goss-bench report PRED GT --out DIR``: a self-contained HTML page (DIR/index.html).

Needs matplotlib (``pip install 'goss-bench[report]'``).  Also writes
DIR/report.json with the numbers shown (fractions 0..1).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import asdict

from goss_bench.errors import GossInputError
from goss_bench.io import write_text_atomic
from goss_bench.validate.files import check_output_dir
from goss_bench.validate.flags import (
    add_scoring_arguments,
    add_workers_argument,
    int_range,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from goss_bench.cli.compare import add_ci_arguments

    p.add_argument("pred", help="prediction folder (semantic/, groups/, optional scores/, clusters/)")
    p.add_argument("gt", help="GT split directory or folder with semantic/, groups/")
    p.add_argument("--out", required=True, help="output folder (index.html, report.json)")
    add_scoring_arguments(p)
    add_workers_argument(p)
    p.add_argument("--worst", type=int_range(0), default=6,
                   help="worst images to draw (>= 0, default 6)")
    add_ci_arguments(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


_DEFAULTS = {
    "num_known": None, "workers": 1, "average": "all", "lam": 0.5, "fpr95": "first",
    "oss_per_image": False, "void_as_unknown": False, "allow_missing": False, "worst": 6,
    "bootstrap": 1000, "seed": 0,
}


def _command(args: argparse.Namespace) -> str:
    """The command line that reproduces this report (options that differ from the defaults)."""
    words = ["goss-bench", "report", args.pred, args.gt, "--out", args.out]
    for key, default in _DEFAULTS.items():
        value = getattr(args, key)
        if value == default:
            continue
        flag = "--" + key.replace("_", "-")
        words += [flag] if value is True else [flag, str(value)]
    return " ".join(shlex.quote(str(w)) for w in words)


def run(args: argparse.Namespace) -> int:
    from goss_bench.diagnostics.report import build_report, render_html

    if args.level != 0.95:
        raise GossInputError("the report shows 95% intervals; --level is not supported here")
    out = check_output_dir(args.out, "--out")
    command = _command(args)
    data = build_report(
        args.pred,
        args.gt,
        command=command,
        num_known=args.num_known,
        workers=args.workers,
        average=args.average,
        lam=args.lam,
        allow_missing=args.allow_missing,
        void_as_unknown=args.void_as_unknown,
        fpr95=args.fpr95,
        oss_per_image=args.oss_per_image,
        bootstrap=args.bootstrap,
        seed=args.seed,
        worst=args.worst,
        progress=not args.quiet and sys.stderr.isatty(),
    )
    page = render_html(data)
    numbers = {
        "result": data.result.to_dict(),
        "intervals": {k: asdict(v) for k, v in data.intervals.items()},
        "oracle": data.breakdown.to_dict(),
        "worst": [{"stem": s, "image_score": v} for s, v, _ in data.worst],
        "command": command,
        "settings": data.settings,
    }
    write_text_atomic(out / "report.json", json.dumps(numbers, indent=2) + "\n")
    write_text_atomic(out / "index.html", page)
    print(out / "index.html")
    return 0
