"""One image end to end: read the inputs, convert, write the outputs, describe the result.

:func:`process_item` is the module-level function run by the process pool. It
returns an *image record* (a JSON-serialisable dict stored in manifest.json)::

    {"subset": "test", "stem": "000000000139", "status": "kept",
     "input_sha256": "...", "height": 426, "width": 640,
     "pixels": [[train_id, count], ...],            # output semantic values 0..N
     "unknown_pixels": [[source_id, count], ...],   # test only
     "groups": K, "clusters": M,                    # test only
     "files": {"test/semantic/000000000139.png": "<sha256>", ...}}

``status`` is ``"kept"``, ``"excluded"`` (filtered out by the split's rules, with
a ``reason``) or ``"bad"`` (with ``path`` and ``error``). A previous record whose
input hash matches and whose output files still have the recorded sha256 is
returned unchanged (resume).

Each input file is read once (its bytes are hashed and decoded), and each
output is encoded in memory (:func:`goss_bench.io.encode_label_png`), hashed
and written atomically: no file is read back.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from goss_bench.builder import core
from goss_bench.builder.readers import (
    image_size,
    rasterize_coco,
    read_cityscapes,
    read_coco_png,
)
from goss_bench.builder.runs import runs_of
from goss_bench.builder.sources import WorkItem
from goss_bench.errors import GossInputError
from goss_bench.io import encode_label_png, write_bytes_atomic
from goss_bench.splits import Rules
from goss_bench.validate.files import read_bytes_file

Record = dict[str, Any]


@dataclass(frozen=True)
class Context:
    """What every worker needs (sent once per worker process)."""

    dataset: str
    tables: core.LabelTables
    rules: Rules
    out: str


_CTX: Context | None = None


def init_worker(ctx: Context) -> None:
    """Pool initializer: store the context in the worker process."""
    global _CTX
    _CTX = ctx


def process_task(task: tuple[WorkItem, Record | None]) -> tuple[Record, bool]:
    """Pool entry point: ``(item, previous record) -> (record, reused)``."""
    assert _CTX is not None, "init_worker was not called"
    return process_item(_CTX, *task)


def process_item(ctx: Context, item: WorkItem, prev: Record | None = None) -> tuple[Record, bool]:
    """Convert one image; bad input becomes a ``"bad"`` record instead of an exception."""
    try:
        digest, payload = _input_digest(item)
        if prev is not None and prev.get("input_sha256") == digest and _outputs_verified(ctx.out, prev):
            return prev, True
        return _convert(ctx, item, digest, payload), False
    except GossInputError as exc:
        return {
            "subset": item.subset,
            "stem": item.stem,
            "status": "bad",
            "path": item.input_path,
            "error": str(exc),
        }, False


def _read_bytes(path: str) -> bytes:
    return read_bytes_file(path, "label map")  # regular files only: a FIFO would hang


def _input_digest(item: WorkItem) -> tuple[str, tuple[bytes, bytes | None] | None]:
    """sha256 of the inputs, and the bytes read (label, instance) for decoding."""
    h = hashlib.sha256()
    if item.json_ann is not None:
        hgt, wid, stuff, thing, _ = item.json_ann
        h.update(json.dumps([hgt, wid, stuff, thing], sort_keys=True).encode("utf-8"))
        return h.hexdigest(), None
    assert item.label is not None
    label = _read_bytes(item.label)
    h.update(label)
    instance = None
    if item.instance is not None:
        instance = _read_bytes(item.instance)
        h.update(instance)
    return h.hexdigest(), (label, instance)


def _outputs_verified(out: str, rec: Record) -> bool:
    if rec.get("status") not in ("kept", "excluded"):
        return False
    for rel, sha in rec.get("files", {}).items():
        try:
            data = (Path(out) / rel).read_bytes()
        except OSError:
            return False
        if hashlib.sha256(data).hexdigest() != sha:
            return False
    return True


def _read_raw(
    ctx: Context, item: WorkItem, payload: tuple[bytes, bytes | None] | None
) -> tuple[np.ndarray, np.ndarray | None]:
    want_inst = ctx.rules.unknown_groups == "instances" and item.subset == "test"
    if item.json_ann is not None:
        hgt, wid, stuff, thing, where = item.json_ann
        return rasterize_coco(hgt, wid, stuff, thing, where=where, with_instances=want_inst)
    assert item.label is not None and payload is not None
    label, instance = payload
    if ctx.dataset == "cityscapes":
        if not want_inst:
            return read_cityscapes(item.label, None, label_data=label)
        return read_cityscapes(item.label, item.instance, label_data=label, instance_data=instance)
    return read_coco_png(item.label, contiguous=item.contiguous, data=label), None


def _convert(
    ctx: Context, item: WorkItem, digest: str, payload: tuple[bytes, bytes | None] | None
) -> Record:
    raw, inst = _read_raw(ctx, item, payload)
    where = item.input_path
    h, w = raw.shape
    if item.image is not None:  # no photo: the size comes from the label map
        ih, iw = image_size(item.image)
        if (ih, iw) != (h, w):
            raise GossInputError(
                f"{where}: label map is {w}x{h} but its image {item.image} is {iw}x{ih}"
            )
    t = ctx.tables
    runs = runs_of(raw)  # None for noise-like maps: work on the pixels
    hist = runs.histogram() if runs is not None else core.raw_histogram(raw)
    status = core.scan_histogram(hist, t)
    if status == core.STATUS_INVALID:
        core.check_values(raw, t, hist, where)  # raises, naming the values
    has_unknown = status == core.STATUS_UNKNOWN
    rec: Record = {
        "subset": item.subset,
        "stem": item.stem,
        "input_sha256": digest,
        "height": h,
        "width": w,
    }
    if item.subset == "train":
        if ctx.rules.train_images == "without-unknown" and has_unknown:
            return {**rec, "status": "excluded", "reason": "has unknown pixels", "files": {}}
        rel = f"train/semantic/{item.stem}.png"
        if runs is not None:  # the map painted from its runs (one lookup per run)
            files = {rel: _write(ctx.out, rel, runs.paint(t.train[runs.values]))}
        else:
            files = {rel: _write(ctx.out, rel, core.convert_train(raw, t))}
        per_id = np.zeros(256, np.int64)
        np.add.at(per_id, t.train, hist)
        # ids 0..N: with --train-unknown unknown the training maps hold N too
        return {**rec, "status": "kept", "pixels": _pairs(per_id, t.num_known + 1), "files": files}

    if ctx.rules.test_images == "with-unknown" and not has_unknown:
        return {**rec, "status": "excluded", "reason": "no unknown pixels", "files": {}}
    maps = core.convert_test(raw, t, ctx.rules, inst, hist, runs)
    kept_hist = hist - maps.dropped_pixels
    per_id = np.zeros(256, np.int64)
    np.add.at(per_id, t.test, kept_hist)
    per_id[core.VOID] += int(maps.dropped_pixels.sum())
    unk_src = [
        [int(t.source_id[v]), int(kept_hist[v])]
        for v in np.flatnonzero(t.unknown & (kept_hist > 0))
    ]
    files = {}
    kinds = ("semantic", "groups", "clusters")
    for kind, arr in zip(kinds, (maps.semantic, maps.groups, maps.clusters), strict=True):
        rel = f"test/{kind}/{item.stem}.png"
        files[rel] = _write(ctx.out, rel, arr)
    return {
        **rec,
        "status": "kept",
        "pixels": _pairs(per_id, t.num_known + 1),
        "unknown_pixels": sorted(unk_src),
        "groups": maps.num_groups,
        "clusters": maps.num_clusters,
        "files": files,
    }


def _pairs(per_id: np.ndarray, n: int) -> list[list[int]]:
    """[[id, count], ...] for ids 0..n-1 with count > 0."""
    return [[int(i), int(per_id[i])] for i in np.flatnonzero(per_id[:n] > 0)]


def _write(out: str, rel: str, arr: np.ndarray) -> str:
    """Encode ``arr``, write it atomically to ``out/rel``; the sha256 of the bytes written."""
    return _store(out, rel, encode_label_png(arr))


def _store(out: str, rel: str, data: bytes) -> str:
    write_bytes_atomic(os.path.join(out, rel), data)
    return hashlib.sha256(data).hexdigest()
