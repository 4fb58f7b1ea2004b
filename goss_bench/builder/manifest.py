"""manifest.json and split.json of a built split directory.

manifest.json (sorted keys, deterministic for any number of workers)::

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

Progress is durable: each finished image's record is appended to the journal
``.manifest-journal.jsonl`` at once (one JSON line, flushed; fsynced every
couple of seconds), so a killed build (even SIGKILL) loses only the images in
flight.  An interrupted build (Ctrl-C, SIGTERM) also leaves a manifest with
``"complete": false``; the next run reuses every record, from the manifest or
the journal, whose input hash and output hashes still match.  A complete build
removes the journal.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import IO, Any

from goss_bench.errors import GossInputError
from goss_bench.io import write_text_atomic
from goss_bench.splits import Split, provenance

MANIFEST = "manifest.json"
JOURNAL = ".manifest-journal.jsonl"
FSYNC_EVERY_S = 2.0
SPLIT_JSON = "split.json"
FORMAT_VERSION = 1
Record = dict[str, Any]


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


def load_previous(out: Path) -> dict[str, Any] | None:
    """The manifest of a previous (possibly partial) build in ``out``, or None."""
    p = out / MANIFEST
    if not p.is_file():
        return None
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GossInputError(
            f"{p}: unreadable manifest of a previous build ({exc}); remove it or use --overwrite"
        ) from None
    return data if isinstance(data, dict) else None


def aggregate(split: Split, records: list[Record]) -> dict[str, Any]:
    """Counts, per-class pixel and image counts, and the bad-input list."""
    counts = {s: {"candidates": 0, "kept": 0, "excluded": 0, "bad": 0} for s in ("train", "test")}
    n = split.num_known
    pix = {s: [0] * (n + 1) for s in ("train", "test")}
    imgs = {s: [0] * (n + 1) for s in ("train", "test")}
    unk_index = {c.source_id: i for i, c in enumerate(split.unknown)}
    unk_pix = [0] * len(split.unknown)
    unk_img = [0] * len(split.unknown)
    bad = []
    for r in records:
        s = r["subset"]
        counts[s]["candidates"] += 1
        counts[s][r["status"]] += 1
        if r["status"] == "bad":
            bad.append({k: r[k] for k in ("subset", "stem", "path", "error")})
        if r["status"] != "kept":
            continue
        for tid, cnt in r["pixels"]:
            pix[s][tid] += cnt
            imgs[s][tid] += 1
        for sid, cnt in r.get("unknown_pixels", []):
            unk_pix[unk_index[sid]] += cnt
            unk_img[unk_index[sid]] += 1
    classes: dict[str, list[dict[str, Any]]] = {}
    for s in ("train", "test"):
        rows = [
            {"train_id": i, "source_id": c.source_id, "name": c.name, "kind": c.kind,
             "pixels": pix[s][i], "images": imgs[s][i]}
            for i, c in enumerate(split.known)
        ]
        if s == "test" or split.rules.train_unknown == "unknown":
            rows.append({"train_id": n, "source_id": None, "name": "unknown", "kind": "unknown",
                         "pixels": pix[s][n], "images": imgs[s][n]})
        classes[s] = rows
    unknown = [
        {"source_id": c.source_id, "name": c.name, "kind": c.kind,
         "pixels": unk_pix[i], "images": unk_img[i]}
        for i, c in enumerate(split.unknown)
    ]
    return {"counts": counts, "classes": classes, "unknown_classes": unknown, "bad": bad}


def manifest_text(
    *,
    split: Split,
    options: dict[str, Any],
    tool_version: str,
    records: list[Record],
    files: dict[str, str],
    complete: bool,
) -> str:
    """The manifest JSON text (records sorted by subset and stem)."""
    recs = sorted(records, key=lambda r: (r["subset"], r["stem"]))
    doc = {
        "format_version": FORMAT_VERSION,
        "tool": "goss-bench",
        "tool_version": tool_version,
        "complete": complete,
        "dataset": split.dataset,
        "split": split.name,
        "split_sha256": split.sha256,
        "options": options,
        **aggregate(split, recs),
        "files": dict(sorted(files.items())),
        "images": recs,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def write_manifest(out: Path, text: str) -> None:
    write_text_atomic(out / MANIFEST, text)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Journal:
    """Append-only record journal of a build in progress (see the module docstring).

    The first line identifies the build (split hash and options); records of a
    journal written for another build are never reused.
    """

    def __init__(self, out: Path, key: dict[str, Any]) -> None:
        self.path = out / JOURNAL
        self.key = key
        self._fh: IO[str] | None = None
        self._synced = time.monotonic()

    def read(self) -> dict[tuple[str, str], Record]:
        """Records of a previous run's journal for the same build (later lines win).

        A torn last line (the process was killed while writing it) is ignored.
        """
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return {}
        if not lines or _loads(lines[0]) != {"journal": self.key}:
            return {}
        out: dict[tuple[str, str], Record] = {}
        for line in lines[1:]:
            r = _loads(line)
            if isinstance(r, dict) and isinstance(r.get("subset"), str) and isinstance(
                r.get("stem"), str
            ):
                out[(r["subset"], r["stem"])] = r
        return out

    def open(self, *, fresh: bool) -> None:
        """Append to this build's journal, or (``fresh``, or none matching) start a new one."""
        if fresh or not self.read():
            tmp = self.path.with_name(self.path.name + ".tmp")
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(json.dumps({"journal": self.key}, sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def append(self, record: Record) -> None:
        """Record one finished image (flushed now; fsynced every FSYNC_EVERY_S)."""
        assert self._fh is not None, "open() first"
        self._fh.write(json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n")
        self._fh.flush()
        if time.monotonic() - self._synced > FSYNC_EVERY_S:
            os.fsync(self._fh.fileno())
            self._synced = time.monotonic()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None

    def remove(self) -> None:
        self.close()
        for p in (self.path, self.path.with_name(self.path.name + ".tmp")):
            try:
                p.unlink()
            except FileNotFoundError:
                pass


def _loads(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None
