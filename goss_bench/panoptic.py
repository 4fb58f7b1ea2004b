"""Export a GOSS folder (GT or prediction) as COCO panoptic PNG + JSON.

The export lets panopticapi / detectron2 / cityscapesscripts users cross-check
goss-bench's GQ: scoring the exported GT and prediction with panopticapi's
``pq_compute`` gives the per-class PQ/SQ/RQ/TP/FP/FN that ``goss-bench score``
reports (``--average present`` is panopticapi's averaging convention).

Mapping (N = number of known classes):

* known class ``k`` (semantic value 0..N-1) -> category id ``k + 1``, a
  stuff-like category (``isthing = 0``): one segment per class present in the
  image, segment id ``k + 1``;
* unknown (semantic value N) -> category id ``N + 1`` (``isthing = 1``): one
  segment per distinct group id among the unknown pixels (group = instance;
  any group value, 0 included, is a group), segment ids ``N + 1 .. N + K`` in
  increasing group-id order; the original group id is kept as ``group_id`` in
  ``segments_info``;
* semantic 255 (GT void / no prediction) -> id 0, panopticapi's VOID.

Output: ``OUT/panoptic/<stem>.png`` (RGB, id = R + 256 G + 256^2 B) and
``OUT/panoptic.json`` (``images``, ``annotations`` with ``segments_info``
``{id, category_id, area, bbox, iscrowd}``, ``categories``).  Image ids are
the file stems (strings, as in Cityscapes' panoptic JSON).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from goss_bench.errors import GossInputError
from goss_bench.io import VOID, read_label_png, write_bytes_atomic, write_text_atomic
from goss_bench.layout import LabelFolder, read_image_list, resolve_label_folder
from goss_bench.pool import map_chunks
from goss_bench.validate.files import check_output_dir
from goss_bench.validate.labels import check_groups_match_n, check_subfolders

PANOPTIC_VOID = 0
MAX_SEGMENT_ID = (1 << 24) - 1
"""Largest id an RGB panoptic PNG can hold."""


@dataclass(frozen=True)
class PanopticExport:
    """What :func:`export_panoptic` wrote.

    json_path: OUT/panoptic.json.  png_dir: OUT/panoptic/.
    categories: the COCO category dicts (N known stuff-like + 1 unknown thing).
    """

    json_path: Path
    png_dir: Path
    num_known: int
    num_images: int
    num_segments: int
    num_unknown_segments: int
    categories: list[dict[str, Any]]


@dataclass(frozen=True)
class _Source:
    folder: LabelFolder
    image_files: dict[str, str]
    """stem -> file name of its RGB image (from images.txt), for ``file_name``."""


def resolve_source(src_dir: str | os.PathLike[str], num_known: int | None) -> _Source:
    """Find the folder holding semantic/ (a split directory uses test/) and N."""
    f = resolve_label_folder(src_dir, num_known)
    check_subfolders(f.root, ("groups",), "GOSS")
    listing = read_image_list(f.root / "images.txt", f.split_dir, required=False)
    return _Source(f, {stem: path.name for stem, path in listing})


def make_categories(num_known: int, class_names: Sequence[str] | None = None) -> list[dict]:
    """COCO panoptic categories: ids 1..N known (isthing 0), N+1 unknown (isthing 1)."""
    names = list(class_names) if class_names else [f"class_{i}" for i in range(num_known)]
    cats = []
    for k in range(num_known):
        cats.append(
            {
                "id": k + 1,
                "name": names[k],
                "supercategory": "known",
                "isthing": 0,
                "color": _color(k + 1),
            }
        )
    cats.append(
        {
            "id": num_known + 1,
            "name": "unknown",
            "supercategory": "unknown",
            "isthing": 1,
            "color": [255, 255, 255],
        }
    )
    return cats


def _color(i: int) -> list[int]:
    """A deterministic colour for category i (display only)."""
    h = (i * 2654435761) & 0xFFFFFF
    return [h & 255, (h >> 8) & 255, (h >> 16) & 255]


def panoptic_ids(
    sem: np.ndarray, grp: np.ndarray | None, num_known: int
) -> tuple[np.ndarray, np.ndarray]:
    """Panoptic segment id of every pixel.

    Args:
        sem: uint8 (H, W): 0..N-1 known, N unknown, 255 void / no prediction.
        grp: integer (H, W) group ids, read where ``sem == N`` (None if no unknown pixel).
        num_known: N.

    Returns:
        ``(ids, group_values)``: int32 (H, W) with 0 = VOID, k+1 for known class k,
        N+1+j for the j-th distinct group value; and the sorted distinct group
        values (int64 (K,)).

    Raises:
        ValueError: semantic values outside 0..N and 255 (message lists them).
    """
    n = num_known
    lut = np.full(256, -1, dtype=np.int32)
    lut[: n + 1] = np.arange(1, n + 2, dtype=np.int32)
    lut[VOID] = PANOPTIC_VOID
    ids = lut[sem]
    if ids.size and int(ids.min()) < 0:
        bad = np.unique(sem[ids < 0])
        shown = ", ".join(str(int(v)) for v in bad[:8])
        raise ValueError(f"semantic values outside 0..{n} and 255: {shown}")
    unk = sem == n
    if not unk.any():
        return ids, np.zeros(0, dtype=np.int64)
    if grp is None:
        raise ValueError("unknown pixels but no group map")
    vals = grp[unk]
    if vals.dtype.kind in "ub" and vals.dtype.itemsize <= 2:
        present = np.bincount(vals, minlength=1) > 0
        remap = np.cumsum(present, dtype=np.int32) - 1
        comp = remap[vals]
        uniq = np.flatnonzero(present)
    else:
        uniq, comp = np.unique(vals, return_inverse=True)
    if n + uniq.size > MAX_SEGMENT_ID:
        raise ValueError(f"{uniq.size} unknown groups do not fit in a 24-bit panoptic id")
    ids[unk] = comp.astype(np.int32, copy=False) + (n + 1)
    return ids, uniq.astype(np.int64)


def _extent(ids: np.ndarray, num_ids: int, axis_len: int, coord: np.ndarray) -> tuple:
    """Per id (0..num_ids-1): min and max of ``coord`` over its pixels (-1 if absent)."""
    if num_ids * axis_len <= 4 * ids.size:
        key = ids * np.int32(axis_len) + coord
        seen = np.bincount(key, minlength=num_ids * axis_len).reshape(num_ids, axis_len) > 0
        has = seen.any(axis=1)
        lo = np.where(has, seen.argmax(axis=1), -1)
        hi = np.where(has, axis_len - 1 - seen[:, ::-1].argmax(axis=1), -1)
        return lo, hi
    uniq = np.unique(ids.astype(np.int64) * axis_len + coord)
    seg, c = uniq // axis_len, uniq % axis_len
    lo = np.full(num_ids, -1, dtype=np.int64)
    hi = np.full(num_ids, -1, dtype=np.int64)
    first = np.r_[True, seg[1:] != seg[:-1]]
    last = np.r_[seg[1:] != seg[:-1], True]
    lo[seg[first]] = c[first]
    hi[seg[last]] = c[last]
    return lo, hi


def segments_info(
    ids: np.ndarray, group_values: np.ndarray, num_known: int
) -> list[dict[str, Any]]:
    """COCO ``segments_info`` of an id map from :func:`panoptic_ids` (sorted by id)."""
    n = num_known
    h, w = ids.shape
    num_ids = n + 1 + group_values.size
    flat = ids.ravel()
    area = np.bincount(flat, minlength=num_ids)
    rows = np.repeat(np.arange(h, dtype=np.int32), w)
    cols = np.tile(np.arange(w, dtype=np.int32), h)
    y0, y1 = _extent(flat, num_ids, h, rows)
    x0, x1 = _extent(flat, num_ids, w, cols)
    out: list[dict[str, Any]] = []
    for sid in np.flatnonzero(area).tolist():
        if sid == PANOPTIC_VOID:
            continue
        seg: dict[str, Any] = {
            "id": sid,
            "category_id": sid if sid <= n else n + 1,
            "area": int(area[sid]),
            "bbox": [
                int(x0[sid]),
                int(y0[sid]),
                int(x1[sid] - x0[sid] + 1),
                int(y1[sid] - y0[sid] + 1),
            ],
            "iscrowd": 0,
        }
        if sid > n:
            seg["group_id"] = int(group_values[sid - n - 1])
        out.append(seg)
    return out


def encode_rgb(ids: np.ndarray) -> np.ndarray:
    """int (H, W) ids -> uint8 (H, W, 3) with id = R + 256 G + 256^2 B."""
    ids = ids.astype(np.uint32, copy=False)
    rgb = np.empty(ids.shape + (3,), dtype=np.uint8)
    rgb[..., 0] = ids & 255
    rgb[..., 1] = (ids >> 8) & 255
    rgb[..., 2] = (ids >> 16) & 255
    return rgb


@dataclass(frozen=True)
class _Job:
    src: _Source
    png_dir: Path


def _export_one(job: _Job, stem: str) -> dict[str, Any]:
    """Convert one image; writes the PNG, returns (image entry, annotation)."""
    n = job.src.folder.num_known
    sem_p = job.src.folder.root / "semantic" / f"{stem}.png"
    sem = read_label_png(sem_p, bits=(8,), what="semantic map")
    grp = None
    grp_p = job.src.folder.root / "groups" / f"{stem}.png"
    if not (sem == n).any():
        if os.path.lexists(grp_p):  # group ids on one other value reveal a wrong N
            other = read_label_png(grp_p, bits=(8, 16), what="group map")
            if other.shape == sem.shape:
                check_groups_match_n(sem, other, n, grp_p)
    else:
        if not os.path.lexists(grp_p):
            raise GossInputError(
                f"{grp_p}: missing group map ({sem_p} has unknown pixels, value {n})"
            )
        grp = read_label_png(grp_p, bits=(8, 16), what="group map")
        if grp.shape != sem.shape:
            raise GossInputError(
                f"{grp_p}: group map has shape {grp.shape[0]}x{grp.shape[1]} (HxW) but "
                f"{sem_p} is {sem.shape[0]}x{sem.shape[1]}"
            )
    try:
        ids, group_values = panoptic_ids(sem, grp, n)
    except ValueError as exc:
        raise GossInputError(f"{sem_p}: {exc}") from None
    buf = io.BytesIO()
    Image.fromarray(encode_rgb(ids)).save(buf, format="PNG", compress_level=1)
    write_bytes_atomic(job.png_dir / f"{stem}.png", buf.getvalue())
    h, w = sem.shape
    return {
        "image": {
            "id": stem,
            "file_name": job.src.image_files.get(stem, f"{stem}.png"),
            "height": h,
            "width": w,
        },
        "annotation": {
            "image_id": stem,
            "file_name": f"{stem}.png",
            "segments_info": segments_info(ids, group_values, n),
        },
    }


def _export_chunk(job: _Job, stems: Sequence[str]) -> list[dict[str, Any]]:
    return [_export_one(job, s) for s in stems]


def export_panoptic(
    src_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    num_known: int | None = None,
    workers: int = 1,
    progress: bool | Callable[[int, int], None] = False,
) -> PanopticExport:
    """Write a GOSS GT or prediction folder as COCO panoptic PNG + JSON.

    Args:
        src_dir: a folder holding semantic/ and groups/ (GT or prediction), or a
            split directory (split.json + test/; then test/ is exported).
        out_dir: receives panoptic/<stem>.png and panoptic.json.
        num_known: N; required unless ``src_dir`` has a split.json.
        workers: number of processes.
        progress: True for a tqdm bar (quiet when not a TTY), or a callback
            ``(done, total)``.

    Raises:
        GossInputError: bad input, with a message naming the file.
    """
    out = check_output_dir(out_dir, "output folder")
    src = resolve_source(src_dir, num_known)
    f = src.folder
    png_dir = out / "panoptic"
    png_dir.mkdir(parents=True, exist_ok=True)
    job = _Job(src, png_dir)
    records = [
        rec
        for part in map_chunks(
            _export_chunk, job, f.stems, workers=workers, progress=progress, desc="exporting"
        )
        for rec in part
    ]
    categories = make_categories(f.num_known, f.class_names)
    doc = {
        "info": {
            "description": "GOSS folder exported by goss-bench export-panoptic",
            "source": str(f.root),
            "num_known": f.num_known,
        },
        "licenses": [],
        "images": [r["image"] for r in records],
        "annotations": [r["annotation"] for r in records],
        "categories": categories,
    }
    json_path = out / "panoptic.json"
    write_text_atomic(json_path, json.dumps(doc))
    segs = [s for r in records for s in r["annotation"]["segments_info"]]
    return PanopticExport(
        json_path=json_path,
        png_dir=png_dir,
        num_known=f.num_known,
        num_images=len(records),
        num_segments=len(segs),
        num_unknown_segments=sum(1 for s in segs if s["category_id"] == f.num_known + 1),
        categories=categories,
    )


