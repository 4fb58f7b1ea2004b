"""Resuming a build: the previous image records attached to the work items, in bounded memory.

A previous run leaves records in its manifest.json (sorted by subset and stem)
and in its journal (in completion order; a later line for an image supersedes
an earlier one, and the journal supersedes the manifest). :func:`attach_previous`
sorts the journal with an external merge sort, merges it with the manifest's
records, joins the result with the work items sorted by (subset, stem), and
writes the record of each item that has one to a scratch file per subset, in
item order;
:func:`tasks_with_previous` then reads them back one at a time as the process
pool asks for tasks. No more than a sort chunk of records is in memory at once.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

from goss_bench.builder.journal import Journal
from goss_bench.builder.manifest import PreviousManifest, Record
from goss_bench.builder.sources import WorkItem
from goss_bench.builder.spool import Key, SortedSpool


def item_key(it: WorkItem) -> tuple[str, str]:
    """The sort key of work items and records: (subset, stem)."""
    return it.subset, it.stem


def attach_previous(
    order: Sequence[WorkItem],
    manifest: PreviousManifest | None,
    journal: Journal,
    folder: Path,
) -> tuple[bytearray, Path]:
    """Find the previous record of every work item.

    Args:
        order: the work items in processing order: the items of one subset
            together, sorted by stem (subsets in any order).
        manifest: the previous build's manifest (already checked to be of this build), or None.
        journal: this build's journal (its records are used when it matches the build).
        folder: scratch folder for the sort's run files and the result.

    Returns:
        ``has_prev``: 1 at the index of every item with a previous record, else 0;
        the folder (``folder``) holding ``previous-<subset>.jsonl``, those records,
        one JSON line each, in ``order``.
    """
    spool = SortedSpool(folder, "journal")
    for key, line in journal.entries():
        spool.add(key, line)
    records: Iterable[tuple[Key, str]] = manifest.records() if manifest is not None else ()
    # stable merge: for one image, the manifest's record, then the journal's in order
    latest = _last_per_key(heapq.merge(records, spool, key=itemgetter(0)))
    has_prev = bytearray(len(order))
    folder.mkdir(parents=True, exist_ok=True)
    pending = next(latest, None)
    for subset in sorted({it.subset for it in order}):  # the records' order
        with open(folder / f"previous-{subset}.jsonl", "w", encoding="utf-8") as fh:
            for i, it in enumerate(order):
                if it.subset != subset:
                    continue
                key = item_key(it)
                while pending is not None and pending[0] < key:
                    pending = next(latest, None)
                if pending is not None and pending[0] == key:
                    fh.write(pending[1] + "\n")
                    has_prev[i] = 1
    return has_prev, folder


def _last_per_key(pairs: Iterable[tuple[Key, str]]) -> Iterator[tuple[Key, str]]:
    """Of consecutive pairs with equal keys, the last."""
    held: tuple[Key, str] | None = None
    for pair in pairs:
        if held is not None and pair[0] != held[0]:
            yield held
        held = pair
    if held is not None:
        yield held


def tasks_with_previous(
    order: Sequence[WorkItem], has_prev: bytearray, folder: Path | None
) -> Iterator[tuple[int, WorkItem, Record | None]]:
    """(index, item, previous record or None) of every item, reading the records lazily
    from the files of :func:`attach_previous` (``folder``; None: no previous records)."""
    if folder is None:
        for i, it in enumerate(order):
            yield i, it, None
        return
    with ExitStack() as stack:
        files: dict[str, IO[str]] = {}
        for i, it in enumerate(order):
            prev: Any = None
            if has_prev[i]:
                fh = files.get(it.subset)
                if fh is None:
                    fh = files[it.subset] = stack.enter_context(
                        open(folder / f"previous-{it.subset}.jsonl", encoding="utf-8"))
                prev = json.loads(fh.readline())
            yield i, it, prev
