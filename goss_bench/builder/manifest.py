"""manifest.json and split.json of a built split directory.

manifest.json holds one JSON object (keys sorted within every value; the same
bytes for any number of workers)::

    {"format_version": 1, "tool": "goss-bench", "tool_version": "0.1.0",
     "complete": true, "dataset": "coco", "split": "manual-20-60",
     "split_sha256": "...", "options": {...},
     "counts": {"train": {"candidates": .., "kept": .., "excluded": .., "bad": ..}, "test": {...}},
     "classes": {"train": [{"train_id", "source_id", "name", "kind", "pixels", "images"}, ...],
                 "test":  [... the same, plus {"train_id": N, "name": "unknown", ...}]},
                # "train" has the unknown row too when rules.train_unknown == "unknown"
     "unknown_classes": [{"source_id", "name", "kind", "pixels", "images"}, ...],   # in test
     "bad": [{"subset", "stem", "path", "error"}, ...],
     "files": {"split.json": "<sha256>", "test/images.txt": "...", "test/semantic/x.png": "...", ...},
     "images": [<image record>, ...]}                # see goss_bench.builder.image

It is written line by line so that it can be written and read with bounded
memory (:func:`manifest_lines`, :class:`PreviousManifest`): line 1 holds every
key except ``files`` and ``images`` (sorted, compact, ending with a comma), then
``"files":{`` on its own line, one ``"path":"sha256"`` entry per line sorted by
path, ``},``, ``"images":[``, one image record per line sorted by (subset,
stem), and ``]}``. goss-bench before 0.2 wrote the same object on one line;
such a manifest is still read (as a whole) when a build resumes.

Progress is durable: see :mod:`goss_bench.builder.journal`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from goss_bench.builder.journal import JOURNAL as JOURNAL  # re-exported (older imports)
from goss_bench.errors import GossInputError
from goss_bench.splits import Split, provenance
from goss_bench.validate.manifest import FILES_OPEN, read_header

MANIFEST = "manifest.json"
SPLIT_JSON = "split.json"
FORMAT_VERSION = 1
Record = dict[str, Any]
RecordKey = tuple[str, str]  # (subset, stem)

_FILES_OPEN, _FILES_CLOSE = FILES_OPEN, "},\n"
_IMAGES_OPEN, _IMAGES_CLOSE = '"images":[\n', "]}\n"


def split_json_text(split: Split, options: dict[str, Any], tool_version: str) -> str:
    """The resolved split.json of a build (FORMAT.md keys plus provenance)."""
    d = split.to_dict()
    doc = {
        "dataset": split.dataset,
        "name": split.name,
        "num_known": split.num_known,
        "known": d["known"],
        "unknown": d["unknown"],
        "void": d["void"],
        "options": options,
        "description": split.description,
        "expected_images": d["expected_images"],
        "split_sha256": split.sha256,
        "provenance": provenance(split).to_dict(),
        "tool_version": tool_version,
    }
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def record_line(rec: Record) -> str:
    """An image record as one manifest (and journal) line, without the newline."""
    return json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Aggregator:
    """Counts, per-class pixel and image counts and the bad-input list, one record at a time.

    Holds O(number of classes) state plus the bad records (rare); :meth:`result`
    gives the manifest keys ``counts``, ``classes``, ``unknown_classes``, ``bad``.
    """

    def __init__(self, split: Split) -> None:
        self.split = split
        n = split.num_known
        self.counts = {s: {"candidates": 0, "kept": 0, "excluded": 0, "bad": 0}
                       for s in ("train", "test")}
        self._pix = {s: [0] * (n + 1) for s in ("train", "test")}
        self._imgs = {s: [0] * (n + 1) for s in ("train", "test")}
        self._unk_index = {c.source_id: i for i, c in enumerate(split.unknown)}
        self._unk_pix = [0] * len(split.unknown)
        self._unk_img = [0] * len(split.unknown)
        self._bad: list[tuple[RecordKey, dict[str, Any]]] = []

    def add(self, r: Record) -> None:
        s = r["subset"]
        self.counts[s]["candidates"] += 1
        self.counts[s][r["status"]] += 1
        if r["status"] == "bad":
            self._bad.append(((s, r["stem"]), {k: r[k] for k in ("subset", "stem", "path", "error")}))
        if r["status"] != "kept":
            return
        pix, imgs = self._pix[s], self._imgs[s]
        for tid, cnt in r["pixels"]:
            pix[tid] += cnt
            imgs[tid] += 1
        for sid, cnt in r.get("unknown_pixels", []):
            self._unk_pix[self._unk_index[sid]] += cnt
            self._unk_img[self._unk_index[sid]] += 1

    @property
    def bad(self) -> list[dict[str, Any]]:
        """The bad records' subset, stem, path and error, sorted by (subset, stem)."""
        return [b for _, b in sorted(self._bad, key=lambda kb: kb[0])]

    def result(self) -> dict[str, Any]:
        split, n = self.split, self.split.num_known
        classes: dict[str, list[dict[str, Any]]] = {}
        for s in ("train", "test"):
            rows = [
                {"train_id": i, "source_id": c.source_id, "name": c.name, "kind": c.kind,
                 "pixels": self._pix[s][i], "images": self._imgs[s][i]}
                for i, c in enumerate(split.known)
            ]
            if s == "test" or split.rules.train_unknown == "unknown":
                rows.append({"train_id": n, "source_id": None, "name": "unknown", "kind": "unknown",
                             "pixels": self._pix[s][n], "images": self._imgs[s][n]})
            classes[s] = rows
        unknown = [
            {"source_id": c.source_id, "name": c.name, "kind": c.kind,
             "pixels": self._unk_pix[i], "images": self._unk_img[i]}
            for i, c in enumerate(split.unknown)
        ]
        return {"counts": self.counts, "classes": classes, "unknown_classes": unknown,
                "bad": self.bad}


def manifest_header(
    *, split: Split, options: dict[str, Any], tool_version: str, agg: Aggregator, complete: bool
) -> dict[str, Any]:
    """Every manifest key except ``files`` and ``images``."""
    return {
        "format_version": FORMAT_VERSION,
        "tool": "goss-bench",
        "tool_version": tool_version,
        "complete": complete,
        "dataset": split.dataset,
        "split": split.name,
        "split_sha256": split.sha256,
        "options": options,
        **agg.result(),
    }


def manifest_lines(
    header: dict[str, Any], files: Iterable[tuple[str, str]], images: Iterable[str]
) -> Iterator[str]:
    """The manifest text, line by line (see the module docstring for the layout).

    Args:
        header: :func:`manifest_header`.
        files: (path, sha256) sorted by path.
        images: record lines (:func:`record_line`) sorted by (subset, stem).
    """
    head = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if "files" in header or "images" in header or not head.endswith("}") or head == "{}":
        raise ValueError("the header holds every key but files and images")
    yield head[:-1] + ",\n"
    yield _FILES_OPEN
    yield from _joined(f"{json.dumps(p, ensure_ascii=False)}:{json.dumps(h)}" for p, h in files)
    yield _FILES_CLOSE
    yield _IMAGES_OPEN
    yield from _joined(images)
    yield _IMAGES_CLOSE


def _joined(lines: Iterable[str]) -> Iterator[str]:
    """``lines`` separated by ",\\n", the last ending with "\\n"."""
    first = True
    for line in lines:
        yield line if first else ",\n" + line
        first = False
    if not first:
        yield "\n"


@dataclass
class PreviousManifest:
    """The manifest of a previous (possibly partial) build, read without holding its records.

    Attributes:
        path: the manifest.json.
        header: every key but ``files`` and ``images``.
        doc: the whole document for a manifest of the old one-line layout, else None.
    """

    path: Path
    header: dict[str, Any]
    doc: dict[str, Any] | None = None

    def records(self) -> Iterator[tuple[RecordKey, str]]:
        """((subset, stem), record line) of every image record, sorted by key.

        Entries that are not records (no string subset and stem) are skipped.
        Raises GossInputError naming the file when the line layout is broken.
        """
        if self.doc is not None:
            recs = [r for r in self.doc.get("images", []) if _is_record(r)]
            recs.sort(key=lambda r: (r["subset"], r["stem"]))
            for r in recs:
                yield (r["subset"], r["stem"]), record_line(r)
            return
        with open(self.path, encoding="utf-8") as fh:
            yield from self._stream(fh)

    def _stream(self, fh: IO[str]) -> Iterator[tuple[RecordKey, str]]:
        lines = enumerate(fh, start=1)
        next(lines, None)  # the header
        lineno = 1
        for lineno, line in lines:  # noqa: B007 - lineno is used after the loop
            if lineno == 2 and line != _FILES_OPEN:
                raise self._broken(lineno)
            if line == _FILES_CLOSE:
                break
            if lineno > 2 and not line.startswith('"'):
                raise self._broken(lineno)
        lineno, line = next(lines, (lineno + 1, ""))
        if line != _IMAGES_OPEN:
            raise self._broken(lineno)
        last: RecordKey | None = None
        for lineno, line in lines:  # noqa: B007
            text = line.rstrip("\n")
            if text == "]}":
                return
            text = text.removesuffix(",")
            try:
                r = json.loads(text)
            except ValueError:
                raise self._broken(lineno) from None
            if not _is_record(r):
                continue
            key = (r["subset"], r["stem"])
            if last is not None and key < last:
                raise self._broken(lineno, "image records out of order")
            last = key
            yield key, text
        raise self._broken(lineno + 1, "it ends inside the image records")

    def _broken(self, lineno: int, why: str = "unexpected line") -> GossInputError:
        return GossInputError(
            f"{self.path}:{lineno}: unreadable manifest of a previous build ({why}); "
            "remove it or use --overwrite"
        )


def _is_record(r: Any) -> bool:
    return isinstance(r, dict) and isinstance(r.get("subset"), str) and isinstance(r.get("stem"), str)


def open_previous(out: Path) -> PreviousManifest | None:
    """The manifest of a previous build in ``out`` (its header read), or None when there is
    none or it holds no JSON object. Raises GossInputError when it cannot be read."""
    p = out / MANIFEST
    return open_manifest(p) if p.is_file() else None


def open_manifest(p: Path) -> PreviousManifest | None:
    """A manifest.json with its header read (None if it holds no JSON object).

    Only the first two lines are read for the line layout; a manifest of the
    old one-line layout (or any other JSON layout) is read whole
    (:attr:`PreviousManifest.doc`). Raises
    GossInputError naming the file when it cannot be read.
    """
    try:
        header, doc = read_header(p)
    except (OSError, ValueError) as exc:
        raise GossInputError(
            f"{p}: unreadable manifest of a previous build ({exc}); remove it or use --overwrite"
        ) from None
    if not isinstance(header, dict):
        return None
    return PreviousManifest(p, header, doc)


def read_manifest_header(path: Path) -> dict[str, Any]:
    """Every key of a manifest.json but ``files`` and ``images``, reading only its first
    two lines (the whole file for the old one-line layout). Raises GossInputError naming it."""
    prev = open_manifest(path)
    if prev is None:
        raise GossInputError(f"{path}: a build manifest must hold a JSON object")
    return prev.header


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
