"""The finished image records of a build, kept on disk, and the outputs made from them.

:class:`RecordStore` receives each record as the pool returns it and keeps, in
memory, only the aggregates (:class:`~goss_bench.builder.manifest.Aggregator`)
and a sort chunk; the records and the output file hashes go to sorted spools
(:class:`~goss_bench.builder.spool.SortedSpool`) in a scratch folder, from which
manifest.json is streamed (:meth:`RecordStore.write_manifest`). :func:`remove_stale`
deletes label maps of an earlier build that this build did not write, comparing
a sorted listing of the output folders with the sorted file list.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from goss_bench.builder.manifest import (
    MANIFEST,
    Aggregator,
    Record,
    manifest_header,
    manifest_lines,
)
from goss_bench.builder.spool import SortedSpool, write_lines_atomic
from goss_bench.splits import Split

OUTPUT_KINDS = {"train": ("semantic",), "test": ("semantic", "groups", "clusters")}


class RecordStore:
    """Records of finished images and the files they wrote, sorted on disk.

    Args:
        folder: scratch folder for the run files (removed by the caller).
        split: the split (for the aggregates).
        chunk: records (and file entries) held in memory at most before a sorted
            run is written (default :data:`goss_bench.builder.spool.CHUNK`).
    """

    def __init__(self, folder: Path, split: Split, *, chunk: int | None = None) -> None:
        self.split = split
        self.records = SortedSpool(folder, "records", chunk=chunk)
        self.files = SortedSpool(folder, "files", chunk=chunk)
        self.agg = Aggregator(split)

    def add(self, rec: Record, line: str) -> None:
        """Store one record (``line`` = :func:`~goss_bench.builder.manifest.record_line`)."""
        self.records.add((rec["subset"], rec["stem"]), line)
        if rec["status"] == "kept":
            for rel, sha in rec.get("files", {}).items():
                self.files.add((rel,), sha)
        self.agg.add(rec)

    def add_file(self, rel: str, sha256: str) -> None:
        """A file of the split directory that no record lists (split.json, images.txt)."""
        self.files.add((rel,), sha256)

    def empty(self) -> bool:
        return self.records.runs == 0 and self.records.buffered == 0

    def record_lines(self) -> Iterator[str]:
        return (line for _, line in self.records)

    def file_entries(self) -> Iterator[tuple[str, str]]:
        return ((key[0], sha) for key, sha in self.files)

    def write_manifest(self, out: Path, *, options: dict[str, Any], tool_version: str,
                       complete: bool) -> None:
        """Write ``out/manifest.json`` atomically, streaming the records and files.

        A complete manifest uses the aggregates gathered by :meth:`add` and lists
        every file; a partial one (an interrupted build) recounts the aggregates
        from the stored records, so that they agree even if an interruption came
        in the middle of an :meth:`add`, and lists no files.
        """
        agg = self.agg
        if not complete:
            agg = Aggregator(self.split)
            for line in self.record_lines():
                agg.add(json.loads(line))
        header = manifest_header(split=self.split, options=options, tool_version=tool_version,
                                 agg=agg, complete=complete)
        files = self.file_entries() if complete else iter(())
        write_lines_atomic(out / MANIFEST, manifest_lines(header, files, self.record_lines()))


def remove_stale(out: Path, files: Iterable[str], folder: Path) -> None:
    """Delete label PNGs of an earlier build that are not in ``files``, and temp files.

    Args:
        out: the split directory.
        files: every file of this build (relative paths), sorted.
        folder: scratch folder (the folder listing is sorted there).
    """
    for d in (out, out / "train", out / "test"):
        for p in d.glob(".*.tmp") if d.is_dir() else ():
            if p.is_file():
                p.unlink()
    listing = SortedSpool(folder, "listing")
    dirs = [(s, kind, out / s / kind) for s in OUTPUT_KINDS
            for kind in ("semantic", "groups", "clusters")]
    for s, kind, d in dirs:
        if not d.is_dir():
            continue
        with os.scandir(d) as it:
            for e in it:
                temp = e.name.startswith(".") and e.name.endswith(".tmp")
                if temp and e.is_file():
                    os.unlink(e.path)
                elif e.name.endswith(".png") and e.is_file():
                    listing.add((f"{s}/{kind}/{e.name}",), "")
    wanted = iter(files)
    want = next(wanted, None)
    for (rel,), _ in listing:
        while want is not None and want < rel:
            want = next(wanted, None)
        if want != rel:
            (out / rel).unlink(missing_ok=True)
    for s, kind, d in dirs:
        if kind not in OUTPUT_KINDS[s] and d.is_dir() and not any(d.iterdir()):
            d.rmdir()
