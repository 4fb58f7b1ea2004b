"""Slow, obvious reference of manifest.json: the in-memory logic of goss-bench 0.1.

:func:`manifest_text` sorts all records and dumps one document on one line (the
old layout). Tests compare the streamed manifest with it (``json.loads`` of both
must be equal) and use it to write old-layout manifests that a build must still
resume from.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from goss_bench.splits import Split


def aggregate(split: Split, records: list[dict[str, Any]]) -> dict[str, Any]:
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


def manifest_text(*, split: Split, options: dict[str, Any], tool_version: str,
                  records: list[dict[str, Any]], files: dict[str, str], complete: bool) -> str:
    """The manifest JSON text on one line (records sorted by subset and stem)."""
    recs = sorted(records, key=lambda r: (r["subset"], r["stem"]))
    doc = {
        "format_version": 1,
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


def expected_files(out: Path, records: list[dict[str, Any]]) -> dict[str, str]:
    """The ``files`` mapping of a complete build, recomputed from the records and the disk."""
    files = {rel: hashlib.sha256((out / rel).read_bytes()).hexdigest()
             for rel in ("split.json", "train/images.txt", "test/images.txt")}
    for r in records:
        if r["status"] == "kept":
            files.update(r["files"])
    return files
