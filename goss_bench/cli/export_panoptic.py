"""``goss-bench export-panoptic DIR OUT``: a GOSS folder as COCO panoptic PNG + JSON."""

from __future__ import annotations

import argparse
import sys

from goss_bench.panoptic import export_panoptic
from goss_bench.validate.files import check_output_dir
from goss_bench.validate.flags import add_workers_argument, int_range
from goss_bench.validate.labels import MAX_NUM_KNOWN


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "src",
        metavar="DIR",
        help="GOSS GT or prediction folder (semantic/, groups/) or a split directory (uses test/)",
    )
    p.add_argument(
        "out", metavar="OUT", help="output folder: receives panoptic/<stem>.png and panoptic.json"
    )
    p.add_argument(
        "--num-known", type=int_range(1, MAX_NUM_KNOWN), default=None,
        help=f"N, when DIR has no split.json (1..{MAX_NUM_KNOWN})",
    )
    add_workers_argument(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar, no summary")


def run(args: argparse.Namespace) -> int:
    check_output_dir(args.out, "OUT")
    res = export_panoptic(
        args.src,
        args.out,
        num_known=args.num_known,
        workers=args.workers,
        progress=not args.quiet,
    )
    if not args.quiet:
        print(
            f"wrote {res.num_images} images, {res.num_segments} segments "
            f"({res.num_unknown_segments} unknown) to {res.png_dir}/ and {res.json_path}\n"
            f"categories: 1..{res.num_known} known (isthing 0), {res.num_known + 1} unknown "
            "(isthing 1); id 0 = VOID",
            file=sys.stdout,
        )
    return 0
