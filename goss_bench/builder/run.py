"""Building a GOSS split directory: orchestration, resume, manifest, summary.

:func:`build_split` lists the source images, converts them with a process pool
(:func:`goss_bench.builder.image.process_task`, one image per task, a tqdm bar
when asked), and writes the split directory of FORMAT.md plus manifest.json.
The output is byte-identical for any number of workers.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goss_bench.builder import core
from goss_bench.builder.image import Context, Record, init_worker, process_task
from goss_bench.builder.manifest import (
    MANIFEST,
    SPLIT_JSON,
    Journal,
    load_previous,
    manifest_text,
    sha256_file,
    split_json_text,
    write_manifest,
)
from goss_bench.builder.parallel import map_unordered
from goss_bench.builder.sources import SUBSETS, Layout, default_root, detect_layout, list_items
from goss_bench.errors import GossInputError
from goss_bench.io import write_text_atomic
from goss_bench.splits import Provenance, Split, load_split, provenance

OUTPUT_KINDS = {"train": ("semantic",), "test": ("semantic", "groups", "clusters")}


@dataclass(frozen=True)
class BadInput:
    """An input that could not be converted (``--skip-bad`` records and skips it)."""

    subset: str
    stem: str
    path: str
    error: str


@dataclass
class BuildSummary:
    """What a build produced, in the shape of the paper's Table 2.

    Attributes:
        dataset, split: what was built; out: the split directory.
        num_known: N; known_things/known_stuff/unknown_things/unknown_stuff: class counts.
        train_images, test_images: images written.
        expected_train, expected_test: the paper's counts (official splits), else None.
        candidates: source images per subset; excluded: images filtered out by the rules.
        bad: inputs skipped with --skip-bad.
        reused: images whose outputs a previous run had already verified (resume).
        elapsed_s: wall time.
        provenance: official or custom, with the definition hash (split.json has it too).
        layout: the dataset layout found under the root.
        photos: kept images whose photo exists (listed in images.txt).
        test_only: the training images were left out (--test-only).
    """

    dataset: str
    split: str
    out: Path
    num_known: int
    known_things: int
    known_stuff: int
    unknown_things: int
    unknown_stuff: int
    train_images: int
    test_images: int
    expected_train: int | None
    expected_test: int | None
    candidates: dict[str, int] = field(default_factory=dict)
    excluded: dict[str, int] = field(default_factory=dict)
    bad: list[BadInput] = field(default_factory=list)
    reused: int = 0
    elapsed_s: float = 0.0
    provenance: Provenance | None = None
    layout: Layout | None = None
    photos: int = 0
    test_only: bool = False


def build_split(
    dataset: str,
    split: str | Path | Split,
    root: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    *,
    source: str = "png",
    workers: int = 1,
    progress: bool = False,
    skip_bad: bool = False,
    overwrite: bool = False,
    connectivity: int | None = None,
    unknown_groups: str | None = None,
    min_group_area: int | None = None,
    train_images: str | None = None,
    test_images: str | None = None,
    train_unknown: str | None = None,
    test_only: bool = False,
    require_images: bool = False,
) -> BuildSummary:
    """Build the GOSS split directory of ``split`` from a COCO-Stuff or Cityscapes copy.

    Args:
        dataset: ``"coco"`` or ``"cityscapes"``.
        split: an official split name (``"manual-20-60"``), a split file path, or a Split.
        root: dataset folder (default ``$GOSS_DATASETS/<dataset>`` or ``./datasets/<dataset>``).
        out: output folder (default ``./goss_data/<dataset>-<split>``).
        source: COCO only: ``"png"`` (stuffthingmaps) or ``"json"`` (pycocotools).
        workers: processes (1 = in this process).
        progress: show a tqdm progress bar on a terminal.
        skip_bad: record bad inputs in the manifest and continue instead of stopping.
        overwrite: rebuild everything, ignoring (and replacing) a previous build in ``out``
            (by default a previous build of the same split and options is resumed, and
            one with other classes or options is an error).
        connectivity, unknown_groups, min_group_area, train_images, test_images,
        train_unknown: override the split's rules (None keeps the split file's value).
        test_only: build the test split alone (also automatic when the root has no
            training labels).
        require_images: a missing photo is bad input (by default the photos are
            optional: images.txt lists those that exist, sizes come from the labels).

    Returns:
        a :class:`BuildSummary`. Raises GossInputError on bad input (unless
        skip_bad), a wrongly laid out root, or an invalid option.
    """
    t0 = time.perf_counter()
    sp = split if isinstance(split, Split) else load_split(split, dataset)
    if sp.dataset != dataset:
        raise GossInputError(f"split {sp.name!r} is for dataset {sp.dataset!r}, not {dataset!r}")
    sp = sp.with_rules(
        connectivity=connectivity,
        unknown_groups=unknown_groups,
        min_group_area=min_group_area,
        train_images=train_images,
        test_images=test_images,
        train_unknown=train_unknown,
    )
    if sp.rules.unknown_groups == "instances" and dataset == "coco" and source == "png":
        raise GossInputError(
            "--unknown-groups instances needs instance masks: use --source json for COCO "
            "(the stuffthingmaps PNGs hold no instances)"
        )
    if workers < 1:
        raise GossInputError("--workers must be at least 1")
    root_p = Path(root) if root is not None else default_root(dataset)
    out_p = Path(out) if out is not None else Path("goss_data") / f"{dataset}-{sp.name}"

    from goss_bench import __version__

    # what determines the output (compared on resume); --skip-bad does not
    options: dict[str, Any] = {**sp.rules.to_dict(), "source": source}
    layout = detect_layout(dataset, source, root_p)
    items = list_items(dataset, source, root_p, instances=sp.rules.unknown_groups == "instances",
                       test_only=test_only, require_images=require_images, layout=layout)

    previous = _previous_records(out_p, sp, options, overwrite)
    journal = Journal(out_p, {"split_sha256": sp.sha256, "options": options})
    if not overwrite:
        previous.update(journal.read())
    out_p.mkdir(parents=True, exist_ok=True)
    journal.open(fresh=overwrite)
    files: dict[str, str] = {}
    text = split_json_text(sp, options, __version__)
    write_text_atomic(out_p / SPLIT_JSON, text)
    files[SPLIT_JSON] = sha256_file(out_p / SPLIT_JSON)

    ctx = Context(dataset=dataset, tables=core.make_tables(sp), rules=sp.rules, out=str(out_p))
    tasks = [(it, previous.get((it.subset, it.stem))) for s in SUBSETS for it in items[s]]
    records: dict[tuple[str, str], Record] = {}
    reused = 0

    def save_partial() -> None:
        write_manifest(
            out_p,
            manifest_text(split=sp, options=options, tool_version=__version__,
                          records=list(records.values()), files={}, complete=False),
        )

    def weight(result: tuple[Record, bool]) -> int:
        rec = result[0]
        return _task_cost(rec["subset"], (rec["subset"], rec["stem"]) in previous)

    try:
        results = map_unordered(
            process_task, tasks, workers=workers, progress=progress, desc="build",
            initializer=init_worker, initargs=(ctx,), weight=weight,
            total_weight=sum(_task_cost(it.subset, p is not None) for it, p in tasks),
        )
        try:
            for rec, was_reused in results:
                records[(rec["subset"], rec["stem"])] = rec
                reused += was_reused
                if rec["status"] == "bad" and not skip_bad:
                    raise GossInputError(
                        f"{rec['error']} (use --skip-bad to record bad inputs and continue)"
                    )
                journal.append(rec)
        finally:
            results.close()  # stops the worker pool at once on an error
    except BaseException:
        journal.close()
        if records:
            save_partial()
        raise

    ordered = sorted(records.values(), key=lambda r: (r["subset"], r["stem"]))
    by_item = {(it.subset, it.stem): it for s in SUBSETS for it in items[s]}
    photos = 0
    for s in SUBSETS:
        lines = [
            f"{r['stem']} {by_item[(s, r['stem'])].image}\n"
            for r in ordered
            if r["subset"] == s and r["status"] == "kept"
            and by_item[(s, r["stem"])].image is not None  # photos are optional
        ]
        photos += len(lines)
        rel = f"{s}/images.txt"
        write_text_atomic(out_p / rel, "".join(lines))
        files[rel] = sha256_file(out_p / rel)
    for r in ordered:
        files.update(r.get("files", {}) if r["status"] == "kept" else {})
    _remove_stale(out_p, files)
    write_manifest(
        out_p,
        manifest_text(split=sp, options=options, tool_version=__version__,
                      records=ordered, files=files, complete=True),
    )
    journal.remove()
    summary = _summary(sp, out_p, ordered, reused, time.perf_counter() - t0)
    summary.layout, summary.photos, summary.test_only = layout, photos, test_only
    return summary


def _task_cost(subset: str, has_previous: bool) -> int:
    """Relative cost of one task for the progress bar: a test image (three outputs,
    groups and clusters) takes about 3x a training image; a reusable one is hashed only."""
    if has_previous:
        return 1
    return 3 if subset == "test" else 1


def _previous_records(
    out: Path, sp: Split, options: dict[str, Any], overwrite: bool
) -> dict[tuple[str, str], Record]:
    prev = load_previous(out)
    if prev is None or overwrite:
        return {}
    same = prev.get("split_sha256") == sp.sha256 and prev.get("options") == options
    if not same:
        raise GossInputError(
            f"{out / MANIFEST}: {out} holds a build of split {prev.get('split')!r} with other "
            "classes or options; choose another --out or pass --overwrite to rebuild it"
        )
    return {
        (r["subset"], r["stem"]): r
        for r in prev.get("images", [])
        if isinstance(r, dict) and "subset" in r and "stem" in r
    }


def _remove_stale(out: Path, files: dict[str, str]) -> None:
    """Delete label PNGs of an earlier build that this build did not write, and temp files."""
    for d in (out, out / "train", out / "test"):
        for p in d.glob(".*.tmp") if d.is_dir() else ():
            if p.is_file():
                p.unlink()
    for s, kinds in OUTPUT_KINDS.items():
        for kind in ("semantic", "groups", "clusters"):
            d = out / s / kind
            if not d.is_dir():
                continue
            for p in d.iterdir():
                rel = f"{s}/{kind}/{p.name}"
                stale_png = p.suffix == ".png" and rel not in files
                temp = p.name.startswith(".") and p.name.endswith(".tmp")
                if (stale_png or temp) and p.is_file():
                    p.unlink()
            if kind not in kinds and not any(d.iterdir()):
                d.rmdir()


def _summary(sp: Split, out: Path, records: list[Record], reused: int, elapsed: float) -> BuildSummary:
    kept = {s: sum(r["subset"] == s and r["status"] == "kept" for r in records) for s in SUBSETS}
    cand = {s: sum(r["subset"] == s for r in records) for s in SUBSETS}
    excl = {s: sum(r["subset"] == s and r["status"] == "excluded" for r in records) for s in SUBSETS}
    bad = [
        BadInput(r["subset"], r["stem"], r["path"], r["error"]) for r in records if r["status"] == "bad"
    ]
    exp = sp.expected_images
    return BuildSummary(
        dataset=sp.dataset,
        split=sp.name,
        out=out,
        num_known=sp.num_known,
        known_things=sum(c.kind == "thing" for c in sp.known),
        known_stuff=sum(c.kind == "stuff" for c in sp.known),
        unknown_things=sum(c.kind == "thing" for c in sp.unknown),
        unknown_stuff=sum(c.kind == "stuff" for c in sp.unknown),
        train_images=kept["train"],
        test_images=kept["test"],
        expected_train=exp.get("train"),
        expected_test=exp.get("test"),
        candidates=cand,
        excluded=excl,
        bad=bad,
        reused=reused,
        elapsed_s=elapsed,
        provenance=provenance(sp),
    )
