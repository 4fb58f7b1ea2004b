"""``goss-bench stats``: per-class image and pixel counts of a source dataset (CSV)."""

from __future__ import annotations

import argparse

from goss_bench.validate.files import check_output_file
from goss_bench.validate.flags import add_workers_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, choices=("coco", "cityscapes"))
    p.add_argument("--root", default=None,
                   help="dataset folder (default: $GOSS_DATASETS/<dataset> or ./datasets/<dataset>)")
    p.add_argument("--source", choices=("png", "json"), default="png", help="COCO label source")
    p.add_argument("--out", default=None, help="CSV file to write (default: print to stdout)")
    add_workers_argument(p, default=None)
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from goss_bench.builder.stats import compute_stats, stats_to_csv
    from goss_bench.io import write_text_atomic

    if args.out is not None:
        check_output_file(args.out, "--out")
    stats = compute_stats(args.dataset, args.root, source=args.source, workers=args.workers,
                          progress=not args.no_progress)
    text = stats_to_csv(stats)
    if args.out is not None:
        write_text_atomic(args.out, text)
        top = sorted(stats, key=lambda s: (-s.images, s.source_id))[:5]
        print(f"wrote {args.out}: {len(stats)} classes; most frequent: "
              + ", ".join(f"{s.name} ({s.images:,} images)" for s in top))
        print(f"use it with: goss-bench make-split --dataset {args.dataset} --manual-things K "
              f"--stats {args.out}")
    else:
        print(text, end="")
    return 0
