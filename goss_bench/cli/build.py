"""``goss-bench build-split``: build a GOSS split directory from COCO-Stuff or Cityscapes."""

from __future__ import annotations

import argparse
import sys

from goss_bench.builder.run import BuildSummary
from goss_bench.validate.files import check_output_dir
from goss_bench.validate.flags import add_workers_argument, int_range


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, choices=("coco", "cityscapes"))
    p.add_argument("--split", required=True,
                   help="official split name (e.g. manual-20-60) or path of a split .json file")
    p.add_argument("--root", default=None,
                   help="dataset folder (default: $GOSS_DATASETS/<dataset> or ./datasets/<dataset>)")
    p.add_argument("--out", default=None, help="output folder (default: ./goss_data/<dataset>-<split>)")
    p.add_argument("--source", choices=("png", "json"), default="png",
                   help="COCO: stuffthingmaps PNGs (default) or the COCO/COCO-Stuff JSON annotations")
    add_workers_argument(p, default=None, note="; the output does not depend on it")
    p.add_argument("--connectivity", type=int, choices=(4, 8), default=None,
                   help="neighbourhood of unknown groups and clusters (split file default: 8)")
    p.add_argument("--unknown-groups", choices=("connectivity", "instances"), default=None,
                   help="unknown groups from connected components (default) or instance masks")
    p.add_argument("--min-group-area", type=int_range(0), default=None,
                   help="unknown groups smaller than this many pixels become void (>= 0, default 0)")
    p.add_argument("--train-images", choices=("all", "without-unknown"), default=None,
                   help="which training images to keep (split file default)")
    p.add_argument("--train-unknown", choices=("void", "unknown"), default=None,
                   help="unknown pixels of training images become void (255, the paper's "
                        "benchmark; split file default) or N (to train an N+1 model)")
    p.add_argument("--test-images", choices=("all", "with-unknown"), default=None,
                   help="which test images to keep (split file default)")
    p.add_argument("--test-only", action="store_true",
                   help="build the test split alone (automatic when the root has no training labels)")
    p.add_argument("--require-images", action="store_true",
                   help="a missing photo is bad input (by default photos are optional: the GT is "
                        "built from the labels, images.txt lists the photos that exist)")
    p.add_argument("--skip-bad", action="store_true",
                   help="record bad inputs in manifest.json and continue instead of stopping")
    p.add_argument("--overwrite", action="store_true",
                   help="rebuild from scratch, replacing a previous build in --out (by default a "
                        "previous build of the same split and options is resumed)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.out is not None:  # checked before any work
        check_output_dir(args.out, "--out")
    try:
        summary = _build(args)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM (goss_bench.cli.main turns it into 130/143)
        print("finished images are recorded; run the same command again to resume",
              file=sys.stderr)
        raise
    print(format_summary(summary))
    return 0


def _build(args: argparse.Namespace) -> BuildSummary:
    from goss_bench.builder import build_split

    return build_split(
        args.dataset,
        args.split,
        args.root,
        args.out,
        source=args.source,
        workers=args.workers,
        progress=not args.no_progress,
        skip_bad=args.skip_bad,
        overwrite=args.overwrite,
        connectivity=args.connectivity,
        unknown_groups=args.unknown_groups,
        min_group_area=args.min_group_area,
        train_images=args.train_images,
        test_images=args.test_images,
        train_unknown=args.train_unknown,
        test_only=args.test_only,
        require_images=args.require_images,
    )


def _n(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


def format_summary(s: BuildSummary) -> str:
    """The build summary in the shape of the paper's Table 2."""
    head = (f"{'dataset':<11} {'split':<16} {'known (th/st)':>14} {'unknown (th/st)':>16} "
            f"{'train imgs':>11} {'paper':>8} {'test imgs':>10} {'paper':>8}")
    known = f"{s.num_known} ({s.known_things}/{s.known_stuff})"
    unknown = f"{s.unknown_things + s.unknown_stuff} ({s.unknown_things}/{s.unknown_stuff})"
    row = (f"{s.dataset:<11} {s.split:<16} {known:>14} {unknown:>16} {_n(s.train_images):>11} "
           f"{_n(s.expected_train):>8} {_n(s.test_images):>10} {_n(s.expected_test):>8}")
    lines = [head, row, ""]
    if s.layout is not None:
        only = "; only test (--test-only)" if s.test_only else ""
        lines.append(f"layout: {s.layout.summary()}{only}")
        kept = s.train_images + s.test_images
        lines.append(
            f"photos: {s.photos:,} of {kept:,} images (listed in images.txt)" if s.photos
            else "photos: no photos found; not needed (the ground truth comes from the labels, "
                 "sizes from the label maps); show and the baselines will say so"
        )
    if s.provenance is not None:
        p = s.provenance
        what = (f"official ({p.official_file})" if p.kind == "official"
                else f"custom{f' ({p.note})' if p.note else ''}")
        lines.append(f"split {s.split}: {what}, definition sha256 {p.definition_sha256[:12]}")
    lines.append(
        f"source images: train {s.candidates.get('train', 0):,}, test {s.candidates.get('test', 0):,}; "
        f"excluded by the rules: train {s.excluded.get('train', 0):,}, "
        f"test {s.excluded.get('test', 0):,}"
    )
    if s.reused:
        lines.append(f"reused from a previous run (verified by manifest.json): {s.reused:,}")
    if s.bad:
        lines.append(f"bad inputs skipped ({len(s.bad)}), listed in manifest.json:")
        lines += [f"  {b.path}: {b.error}" for b in s.bad[:10]]
        if len(s.bad) > 10:
            lines.append(f"  ... and {len(s.bad) - 10} more")
    lines.append(f"written to {s.out} in {s.elapsed_s:.1f} s")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    from goss_bench.cli import main

    sys.exit(main(["build-split", *sys.argv[1:]]))
