"""``goss-bench make-split``: write a new split definition file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from goss_bench.splits import Split

from goss_bench.validate.files import check_output_file
from goss_bench.validate.flags import int_range


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, choices=("coco", "cityscapes"))
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--known", nargs="+", metavar="CLASS",
                     help="known classes by name or source id (all other evaluated classes are unknown)")
    how.add_argument("--random", action="store_true",
                     help="draw --known-things things and --known-stuff stuff classes with --seed")
    how.add_argument("--manual-things", type=int_range(0), metavar="K",
                     help="the paper's Manual rule: K most frequent things, one or two per "
                          "supercategory (needs --stats); all stuff classes are known")
    p.add_argument("--known-things", type=int_range(0), default=None,
                   help="with --random (>= 0, at most the dataset's things)")
    p.add_argument("--known-stuff", type=int_range(0), default=None,
                   help="with --random (>= 0, at most the dataset's stuff classes)")
    p.add_argument("--seed", type=int_range(0), default=0,
                   help="with --random (>= 0, default 0)")
    p.add_argument("--stats", default=None,
                   help="per-class image counts (CSV of goss-bench stats) for --manual-things")
    p.add_argument("--void", nargs="+", default=[], metavar="CLASS",
                   help="evaluated classes to ignore (void) in this split")
    p.add_argument("--name", default=None,
                   help="split name (default: derived from the choice; an official name is "
                        "only kept for a definition identical to the official file, otherwise "
                        "a hash suffix is added)")
    p.add_argument("--description", default="")
    p.add_argument("--out", default=None, help="output file (default: ./<dataset>-<name>.json)")


def _resolve_once(dataset: str, tokens: list[str], flag: str) -> list[int]:
    """Source ids of ``tokens`` (names or ids); a class named twice is an error."""
    from goss_bench.builder.selection import resolve_classes
    from goss_bench.errors import GossInputError

    seen: dict[int, str] = {}
    for token in tokens:
        for part in (t.strip() for t in token.split(",")):
            if not part:
                continue
            (sid,) = resolve_classes(dataset, [part])
            if sid in seen:
                raise GossInputError(
                    f"{flag}: class {sid} is given twice ({seen[sid]!r} and {part!r})"
                )
            seen[sid] = part
    return sorted(seen)


def run(args: argparse.Namespace) -> int:
    from goss_bench.builder.selection import (
        manual_things,
        random_classes,
        stuff_ids,
    )
    from goss_bench.builder.stats import read_image_counts
    from goss_bench.errors import GossInputError
    from goss_bench.splits import (
        check_not_impersonating,
        make_split,
        provenance,
        write_split,
    )

    ds = args.dataset
    out = Path(args.out) if args.out is not None else None
    if out is not None:
        check_output_file(out, "--out")
    void = _resolve_once(ds, args.void, "--void")
    if args.known:
        known = _resolve_once(ds, args.known, "--known")
        both = sorted(set(known) & set(void))
        if both:
            raise GossInputError(
                f"class(es) {', '.join(map(str, both))} given both in --known and in --void"
            )
        how = f"known classes given by hand: {len(known)}"
    elif args.random:
        if args.known_things is None or args.known_stuff is None:
            raise GossInputError("--random needs --known-things and --known-stuff")
        known = random_classes(ds, args.known_things, args.known_stuff, args.seed)
        how = (f"random: {args.known_things} things + {args.known_stuff} stuff, "
               f"numpy default_rng(seed={args.seed})")
    else:
        if not args.stats:
            raise GossInputError("--manual-things needs --stats FILE (write it with goss-bench stats)")
        counts = read_image_counts(args.stats)
        known = manual_things(ds, counts, args.manual_things) + stuff_ids(ds)
        how = f"manual rule: {args.manual_things} things from image counts in {args.stats}"
    known = [k for k in known if k not in set(void)]
    if args.name:
        name = args.name
    else:
        from goss_bench.datasets import dataset_classes

        n_eval = sum(c.evaluable for c in dataset_classes(ds))
        kind = "random" if args.random else "manual" if args.manual_things else "custom"
        n_known = args.manual_things if args.manual_things else len(known)  # paper: Manual-20-60
        name = f"{kind}-{n_known}-{n_eval - len(known) - len(void)}"
    split = make_split(ds, name, known, void_ids=void,
                       description=args.description or how, reference=how)
    if not args.name and provenance(split).note:
        # an official name with another definition: derive a distinct one from the hash
        name = f"{name}-{split.definition_sha256[:8]}"
        split = make_split(ds, name, known, void_ids=void,
                           description=args.description or how, reference=how)
    check_not_impersonating(split)  # --name given: an official name needs the official definition
    out = out if out is not None else Path(f"{ds}-{split.name}.json")
    _check_out(out, split)
    write_split(split, out)
    prov = provenance(split)
    things = sum(c.kind == "thing" for c in split.known)
    print(f"wrote {out}: {split.dataset}/{split.name}, N = {split.num_known} known "
          f"({things} things, {split.num_known - things} stuff), {len(split.unknown)} unknown, "
          f"{len(split.void)} void")
    if prov.kind == "official":
        print(f"identical to the official split {prov.official_file} "
              f"(definition sha256 {prov.definition_sha256[:12]})")
    else:
        print(f"custom split, definition sha256 {prov.definition_sha256[:12]}")
    print(f"build it with: goss-bench build-split --dataset {ds} --split {out}")
    return 0


def _check_out(out: Path, split: Split) -> None:
    """Never write into the shipped split folder, nor a file named like a shipped one
    holding another definition (it would shadow the official file)."""
    from goss_bench.errors import GossInputError
    from goss_bench.splits import list_splits, load_split, splits_dir

    if out.resolve().parent == splits_dir().resolve():
        raise GossInputError(
            f"{out}: refusing to write into the folder of the official split files; "
            "choose another --out"
        )
    for _, _, path in list_splits():
        if path.name == out.name and load_split(path).definition_sha256 != split.definition_sha256:
            raise GossInputError(
                f"{out}: {out.name} is the file name of an official split and this split "
                "differs from it; choose another --out"
            )
