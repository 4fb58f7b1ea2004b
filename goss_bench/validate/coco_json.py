"""Schema of the COCO annotation files read by ``--source json``.

``instances_*2017.json`` (COCO 2017 things) and ``stuff_*2017.json``
(COCO-Stuff stuff classes plus 183 "other") must hold:

* ``images``: a list of objects with a unique integer ``id``, integer
  ``height`` and ``width`` >= 1 (a string "48" is refused, not converted) and a
  ``file_name`` string;
* ``categories``: a list of objects with unique integer ``id`` s, each a
  category of the file's kind (things 1..90 of COCO 2017 in ``instances``,
  92..183 in ``stuff``);
* ``annotations``: a list of objects with a unique integer ``id``, an
  ``image_id`` of ``images``, a ``category_id`` of ``categories``, and a
  ``segmentation`` that is either a list of polygons (flat lists of at least 3
  finite x, y pairs) or an RLE object whose ``size`` is the image's
  ``[height, width]`` (uncompressed ``counts``: non-negative integers summing
  to height x width).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, TypeGuard

from goss_bench.datasets import coco
from goss_bench.errors import GossInputError

KINDS = ("instances", "stuff")


def allowed_category_ids(kind: str) -> frozenset[int]:
    """Category ids that may occur in an ``instances`` or ``stuff`` file."""
    if kind == "instances":
        return frozenset(c.id for c in coco.evaluable() if c.kind == "thing")
    if kind == "stuff":
        return frozenset([*(c.id for c in coco.evaluable() if c.kind == "stuff"), coco.OTHER_ID])
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def _is_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _list_of_objects(data: dict[str, Any], key: str, p: Path) -> list[dict[str, Any]]:
    v = data.get(key)
    if not isinstance(v, list):
        got = "missing" if key not in data else f"{type(v).__name__}"
        raise GossInputError(f"{p}: '{key}' must be a list of objects, got {got}")
    for i, item in enumerate(v):
        if not isinstance(item, dict):
            raise GossInputError(f"{p}: {key}[{i}] must be an object, got {item!r:.80}")
    return v


def _check_segmentation(segm: Any, h: int, w: int, where: str) -> None:
    if isinstance(segm, list):
        if not segm:
            raise GossInputError(f"{where}: empty polygon list")
        for poly in segm:
            if not isinstance(poly, list) or not all(_is_num(v) for v in poly):
                raise GossInputError(f"{where}: a polygon must be a flat list of numbers")
            if len(poly) < 6 or len(poly) % 2:
                raise GossInputError(
                    f"{where}: a polygon needs at least 3 (x, y) points as an even-length list, "
                    f"got {len(poly)} numbers"
                )
            if not math.isfinite(math.fsum(poly)):
                raise GossInputError(f"{where}: polygon coordinates must be finite (NaN/Infinity found)")
        return
    if isinstance(segm, dict):
        size, counts = segm.get("size"), segm.get("counts")
        if not (isinstance(size, list) and len(size) == 2 and all(_is_int(v) for v in size)):
            raise GossInputError(f"{where}: RLE 'size' must be [height, width], got {size!r:.60}")
        if list(size) != [h, w]:
            raise GossInputError(f"{where}: RLE size {size} differs from the image size {[h, w]}")
        if isinstance(counts, list):
            if not all(_is_int(v) and v >= 0 for v in counts) or sum(counts) != h * w:
                raise GossInputError(
                    f"{where}: uncompressed RLE 'counts' must be non-negative integers summing "
                    f"to height x width = {h * w}"
                )
        elif not isinstance(counts, str):
            raise GossInputError(f"{where}: RLE 'counts' must be a list or a string")
        return
    raise GossInputError(
        f"{where}: segmentation must be a list of polygons or an RLE object, got "
        f"{type(segm).__name__}"
    )


def check_coco_json(data: Any, path: str | os.PathLike[str], kind: str) -> None:
    """Validate a parsed COCO ``instances`` or ``stuff`` file (see the module docstring)."""
    p = Path(path)
    if not isinstance(data, dict):
        raise GossInputError(f"{p}: not a COCO annotation file (expected a JSON object)")
    images = _list_of_objects(data, "images", p)
    cats = _list_of_objects(data, "categories", p)
    anns = _list_of_objects(data, "annotations", p)
    sizes: dict[int, tuple[int, int]] = {}
    for im in images:
        iid, h, w, name = im.get("id"), im.get("height"), im.get("width"), im.get("file_name")
        if not _is_int(iid):
            raise GossInputError(f"{p}: image id must be an integer, got {iid!r:.40}")
        if not (_is_int(h) and _is_int(w) and h >= 1 and w >= 1):
            raise GossInputError(
                f"{p}: image {iid}: height and width must be integers >= 1, got {h!r:.20} x {w!r:.20}"
            )
        if not isinstance(name, str) or not name:
            raise GossInputError(f"{p}: image {iid}: 'file_name' must be a non-empty string")
        if iid in sizes:
            raise GossInputError(f"{p}: image id {iid} occurs twice in 'images'")
        sizes[iid] = (h, w)
    allowed = allowed_category_ids(kind)
    cat_ids: set[int] = set()
    for c in cats:
        cid = c.get("id")
        if not _is_int(cid):
            raise GossInputError(f"{p}: category id must be an integer, got {cid!r:.40}")
        if cid in cat_ids:
            raise GossInputError(f"{p}: category id {cid} occurs twice in 'categories'")
        if cid not in allowed:
            raise GossInputError(
                f"{p}: category {cid} is not a COCO 2017 {'thing' if kind == 'instances' else 'stuff'} "
                f"category (an {kind} file holds ids {min(allowed)}..{max(allowed)})"
            )
        cat_ids.add(cid)
    ann_ids: set[int] = set()
    for a in anns:
        aid = a.get("id")
        if not _is_int(aid):
            raise GossInputError(f"{p}: annotation id must be an integer, got {aid!r:.40}")
        if aid in ann_ids:
            raise GossInputError(f"{p}: annotation id {aid} occurs twice")
        ann_ids.add(aid)
        where = f"{p}: annotation {aid}"
        iid = a.get("image_id")
        if not _is_int(iid) or iid not in sizes:
            raise GossInputError(f"{where}: image_id {iid!r:.40} is not in 'images'")
        cid = a.get("category_id")
        if not _is_int(cid) or cid not in cat_ids:
            raise GossInputError(
                f"{where}: category_id {cid!r:.40} is not in 'categories' of this {kind} file"
            )
        if a.get("iscrowd", 0) not in (0, 1):
            raise GossInputError(f"{where}: iscrowd must be 0 or 1, got {a.get('iscrowd')!r:.20}")
        _check_segmentation(a.get("segmentation"), *sizes[iid], where)
