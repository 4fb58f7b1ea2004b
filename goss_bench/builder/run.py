"""Building a GOSS split directory: orchestration, resume, manifest, summary.

:func:`build_split` lists the source images, converts them with a process pool
(:func:`goss_bench.builder.image.process_task`, one image per task, a tqdm bar
when asked), and writes the split directory of FORMAT.md plus manifest.json.
The output is byte-identical for any number of workers.

Memory is flat in the number of images: besides the work items the parent
keeps two bytes per image; the records go to the journal and to sorted spools
in ``<out>/.build-work/`` (:mod:`.store`), from which images.txt and
manifest.json are streamed, and a resumed build joins the previous records
with the work items on disk (:mod:`.resume`).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goss_bench.builder import core
from goss_bench.builder.image import Context, Record, init_worker, process_task
from goss_bench.builder.journal import Journal
from goss_bench.builder.manifest import (
    MANIFEST,
    SPLIT_JSON,
    Aggregator,
    PreviousManifest,
    open_previous,
    record_line,
    sha256_file,
    split_json_text,
)
from goss_bench.builder.parallel import map_unordered
from goss_bench.builder.resume import attach_previous, item_key, tasks_with_previous
from goss_bench.builder.sources import (
    SUBSETS,
    Layout,
    WorkItem,
    default_root,
    detect_layout,
    list_items,
)
from goss_bench.builder.spool import write_lines_atomic
from goss_bench.builder.store import OUTPUT_KINDS, RecordStore, remove_stale
from goss_bench.errors import GossInputError
from goss_bench.io import write_text_atomic
from goss_bench.splits import Provenance, Split, load_split, provenance

WORK_DIR = ".build-work"  # scratch folder in the output folder (sort runs); removed at the end
__all__ = ["OUTPUT_KINDS", "BadInput", "BuildSummary", "build_split"]


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

    # what determines the output (compared on resume); --skip-bad does not
    options: dict[str, Any] = {**sp.rules.to_dict(), "source": source}
    layout = detect_layout(dataset, source, root_p)
    items = list_items(dataset, source, root_p, instances=sp.rules.unknown_groups == "instances",
                       test_only=test_only, require_images=require_images, layout=layout)
    # the items of each subset sorted like the manifest's records (previous records are
    # merge-joined), training images first
    order = [it for s in SUBSETS for it in sorted(items[s], key=item_key)]
    del items
    previous = None if overwrite else _previous_manifest(out_p, sp, options)
    journal = Journal(out_p, {"split_sha256": sp.sha256, "options": options})
    out_p.mkdir(parents=True, exist_ok=True)
    work = out_p / WORK_DIR
    shutil.rmtree(work, ignore_errors=True)  # left by a killed run
    try:
        summary = _build(sp, options, order, out_p, work, previous, journal, workers=workers,
                         progress=progress, skip_bad=skip_bad, overwrite=overwrite)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary.elapsed_s = time.perf_counter() - t0
    summary.layout, summary.test_only = layout, test_only
    return summary


def _run_task(task: tuple[int, WorkItem, Record | None]) -> tuple[int, Record, bool]:
    """Pool entry point: (index, item, previous record) -> (index, record, reused)."""
    i, item, prev = task
    rec, reused = process_task((item, prev))
    return i, rec, reused


def _build(
    sp: Split,
    options: dict[str, Any],
    order: list[WorkItem],
    out_p: Path,
    work: Path,
    previous: PreviousManifest | None,
    journal: Journal,
    *,
    workers: int,
    progress: bool,
    skip_bad: bool,
    overwrite: bool,
) -> BuildSummary:
    """Convert every item of ``order`` (sorted by subset and stem) and write the outputs.

    The parent holds, per image, only its work item and two bytes (has a previous
    record, was kept); records stream through the journal and the record store.
    ``order``: each subset's items together, sorted by stem (:func:`attach_previous`).
    """
    from goss_bench import __version__

    if overwrite:
        has_prev, prev_path = bytearray(len(order)), None
    else:
        has_prev, prev_path = attach_previous(order, previous, journal, work)
    journal.open(fresh=overwrite)
    write_text_atomic(out_p / SPLIT_JSON, split_json_text(sp, options, __version__))

    ctx = Context(dataset=sp.dataset, tables=core.make_tables(sp), rules=sp.rules, out=str(out_p))
    store = RecordStore(work, sp)
    kept = bytearray(len(order))
    reused = 0

    def weight(result: tuple[int, Record, bool]) -> int:
        i = result[0]
        return _task_cost(order[i].subset, bool(has_prev[i]))

    try:
        results = map_unordered(
            _run_task, tasks_with_previous(order, has_prev, prev_path), count=len(order),
            workers=workers, progress=progress, desc="build",
            initializer=init_worker, initargs=(ctx,), weight=weight,
            total_weight=sum(_task_cost(it.subset, bool(p)) for it, p in zip(order, has_prev, strict=True)),
        )
        try:
            for i, rec, was_reused in results:
                line = record_line(rec)
                store.add(rec, line)
                reused += was_reused
                if rec["status"] == "bad" and not skip_bad:
                    raise GossInputError(
                        f"{rec['error']} (use --skip-bad to record bad inputs and continue)"
                    )
                journal.append(line)
                kept[i] = rec["status"] == "kept"
        finally:
            results.close()  # stops the worker pool at once on an error
    except BaseException:
        journal.close()
        if not store.empty():
            store.write_manifest(out_p, options=options, tool_version=__version__, complete=False)
        raise

    store.add_file(SPLIT_JSON, sha256_file(out_p / SPLIT_JSON))
    photos = 0
    for s in SUBSETS:
        rel = f"{s}/images.txt"
        sha, n = _write_images_txt(out_p / rel, s, order, kept)
        store.add_file(rel, sha)
        photos += n
    remove_stale(out_p, (rel for rel, _ in store.file_entries()), work)
    store.write_manifest(out_p, options=options, tool_version=__version__, complete=True)
    journal.remove()
    summary = _summary(sp, out_p, store.agg, reused)
    summary.photos = photos
    return summary


def _write_images_txt(
    path: Path, subset: str, order: list[WorkItem], kept: bytearray
) -> tuple[str, int]:
    """Write ``<stem> <photo>`` of the kept images of ``subset`` that have a photo (photos
    are optional); return (sha256, lines)."""
    n = 0

    def lines() -> Iterator[str]:
        nonlocal n
        for it, k in zip(order, kept, strict=True):
            if k and it.subset == subset and it.image is not None:
                n += 1
                yield f"{it.stem} {it.image}\n"

    return write_lines_atomic(path, lines()), n


def _task_cost(subset: str, has_previous: bool) -> int:
    """Relative cost of one task for the progress bar: a test image (three outputs,
    groups and clusters) takes about 3x a training image; a reusable one is hashed only."""
    if has_previous:
        return 1
    return 3 if subset == "test" else 1


def _previous_manifest(out: Path, sp: Split, options: dict[str, Any]) -> PreviousManifest | None:
    """The previous build's manifest in ``out`` if it is of this split and these options.

    Raises GossInputError for a build of another split or options (only its first
    line is read).
    """
    prev = open_previous(out)
    if prev is None:
        return None
    head = prev.header
    if head.get("split_sha256") != sp.sha256 or head.get("options") != options:
        raise GossInputError(
            f"{out / MANIFEST}: {out} holds a build of split {head.get('split')!r} with other "
            "classes or options; choose another --out or pass --overwrite to rebuild it"
        )
    return prev


def _summary(sp: Split, out: Path, agg: Aggregator, reused: int) -> BuildSummary:
    counts = agg.counts
    bad = [BadInput(b["subset"], b["stem"], b["path"], b["error"]) for b in agg.bad]
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
        train_images=counts["train"]["kept"],
        test_images=counts["test"]["kept"],
        expected_train=exp.get("train"),
        expected_test=exp.get("test"),
        candidates={s: counts[s]["candidates"] for s in SUBSETS},
        excluded={s: counts[s]["excluded"] for s in SUBSETS},
        bad=bad,
        reused=reused,
        provenance=provenance(sp),
    )
