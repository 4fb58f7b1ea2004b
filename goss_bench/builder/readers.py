"""Readers of the source datasets' label files, returning raw maps.

A raw map is uint8 (H, W) in the dataset's own value space (see
:mod:`goss_bench.builder.core`); an instance map is int32 (H, W), 0 = no instance.
Every reader raises :class:`GossInputError` naming the file on bad input.

COCO JSON rasterisation order (``--source json``), the way COCO-Stuff's
stuffthingmaps are composed: first every annotation of the stuff JSON (stuff
classes 92..182 and 183 "other") in file order, then every annotation of the
instances JSON (things 1..90, crowd regions included) in file order, each
painted over what is already there. "other" marks where the stuff annotators
saw things; painting the COCO thing masks last lets them win at every overlap,
and "other" pixels no thing covers stay unlabeled (255), as in the PNGs.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from goss_bench.datasets import cityscapes as cs
from goss_bench.datasets import coco
from goss_bench.errors import GossInputError
from goss_bench.io import label_png_from_bytes, read_label_png, read_png_header
from goss_bench.validate.coco_json import check_coco_json
from goss_bench.validate.files import load_json_file, require_regular_file
from goss_bench.validate.photos import DEFAULT_MAX_PHOTO_PIXELS, photo_size

# raw value of every COCO category id in the JSON files ("other" -> unlabeled)
_JSON_TO_RAW = {c.id: c.png for c in coco.CLASSES if c.in_coco2017}
_JSON_TO_RAW[coco.OTHER_ID] = coco.UNLABELED_PNG


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(height, width) of an RGB image (PNG, JPEG, ...), reading only its header.

    A JPEG whose header :func:`jpeg_size` reads and whose size is within the photo
    limits is answered from its first 64 KiB (about 4x faster than opening it with
    Pillow); every other file, and every JPEG it does not accept, goes through
    :func:`goss_bench.validate.photos.photo_size`, whose errors name the file.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".png":
        w, h, _, _ = read_png_header(p)
        return h, w
    if suffix in (".jpg", ".jpeg"):
        require_regular_file(p, "image")  # a FIFO would block open()
        try:
            with open(p, "rb") as fh:
                head = fh.read(4096)  # headers are usually < 1 KiB; EXIF/ICC can be more
                size = jpeg_size(head)
                if size is None and len(head) == 4096:
                    size = jpeg_size(head + fh.read(_JPEG_HEAD - 4096))
        except OSError:
            size = None  # photo_size says why
        if size is not None and 0 < size[0] * size[1] <= DEFAULT_MAX_PHOTO_PIXELS:
            return size
    return photo_size(p)  # header only; regular file, size limit, no DecompressionBombError


_JPEG_HEAD = 65536
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_SKIP = frozenset((0xC4, 0xCC, 0xDD, 0xFE, *range(0xE0, 0xF0)))  # DHT DAC DRI COM APPn


def jpeg_size(head: bytes) -> tuple[int, int] | None:
    """(height, width) from the start of a JPEG file, or None unless the segments
    up to the start of scan are well formed: every marker has a length inside
    ``head``, quantization tables are complete, and there is exactly one frame
    header, 8-bit with 1, 3 or 4 components (what Pillow accepts). None means
    "ask Pillow", which also reads the size of such a file or names its fault.
    """
    if head[:3] != b"\xff\xd8\xff":
        return None
    pos, size, n = 2, None, len(head)
    while pos + 4 <= n:
        if head[pos] != 0xFF:
            return None
        marker = head[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = int.from_bytes(head[pos + 2 : pos + 4], "big")
        end = pos + 2 + length
        if length < 2 or end > n:
            return None
        seg = head[pos + 4 : end]
        if marker == 0xDA:  # start of scan: the header is complete
            return size
        if marker in _JPEG_SOF:
            if size is not None or len(seg) < 6 or seg[0] != 8 or seg[5] not in (1, 3, 4):
                return None
            size = (int.from_bytes(seg[1:3], "big"), int.from_bytes(seg[3:5], "big"))
        elif marker == 0xDB:  # quantization tables: 1 + 64 or 1 + 128 bytes each
            q = 0
            while q < len(seg):
                q += 1 + (64 if seg[q] < 16 else 128)
            if q != len(seg):
                return None
        elif marker not in _JPEG_SKIP:
            return None
        pos = end
    return None


def read_coco_png(
    path: str | os.PathLike[str], *, contiguous: bool = False, data: bytes | None = None
) -> np.ndarray:
    """A stuffthingmaps PNG (8-bit, values 0..181 and 255) as uint8 (H, W).

    ``data``: the file's bytes when already read (decoded instead of reading ``path``).

    With ``contiguous`` the file holds contiguous ids (mmseg ``*_labelTrainIds.png``,
    MaskFormer ``stuffthingmaps_detectron2``: 0..170, 255 = unlabeled), converted back
    to stuffthingmaps values through the label table (:func:`goss_bench.labels.contiguous_ids`).
    """
    raw = _read_png(path, data, bits=(8,), what="COCO-Stuff label map")
    if not contiguous:
        return raw
    out = np.take(_contiguous_to_png(), raw)
    if (out == _NOT_A_CLASS).any():
        bad = np.unique(raw[out == _NOT_A_CLASS])
        raise GossInputError(
            f"{path}: value(s) {bad[:10].tolist()} are not contiguous COCO-Stuff ids "
            "(0..170 and 255, as mmseg's *_labelTrainIds.png)"
        )
    return out


_NOT_A_CLASS = 254  # never a stuffthingmaps value (0..181, 255)


@lru_cache(maxsize=1)
def _contiguous_to_png() -> np.ndarray:
    """uint8 (256,): contiguous id -> stuffthingmaps value; 255 -> 255; others -> 254."""
    from goss_bench.labels import contiguous_ids

    lut = np.full(256, _NOT_A_CLASS, np.uint8)
    for source_id, cid in contiguous_ids("coco").items():
        lut[cid] = coco.by_id()[source_id].png
    lut[coco.UNLABELED_PNG] = coco.UNLABELED_PNG
    return lut


def read_cityscapes(
    label_path: str | os.PathLike[str],
    instance_path: str | os.PathLike[str] | None = None,
    *,
    label_data: bytes | None = None,
    instance_data: bytes | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """A ``_gtFine_labelIds.png`` (and optionally its ``_gtFine_instanceIds.png``).

    ``label_data``, ``instance_data``: the files' bytes when already read.

    Returns:
        raw uint8 (H, W) label ids, and int32 (H, W) instance map (the instanceIds
        value where it is >= 1000, i.e. id * 1000 + k; 0 elsewhere) or None.
    """
    raw = _read_png(label_path, label_data, bits=(8,), what="Cityscapes labelIds map")
    if instance_path is None:
        return raw, None
    ids = _read_png(instance_path, instance_data, bits=(8, 16), what="Cityscapes instanceIds map")
    if ids.shape != raw.shape:
        raise GossInputError(
            f"{instance_path}: size {ids.shape[1]}x{ids.shape[0]} differs from "
            f"{label_path} ({raw.shape[1]}x{raw.shape[0]})"
        )
    inst = ids.astype(np.int32)
    has = inst >= cs.INSTANCE_OFFSET
    plain = np.where(has, inst // cs.INSTANCE_OFFSET, inst)
    if not np.array_equal(plain, raw):
        raise GossInputError(
            f"{instance_path}: instance ids disagree with the label ids of {label_path}"
        )
    return raw, np.where(has, inst, 0).astype(np.int32)


def _read_png(
    path: str | os.PathLike[str], data: bytes | None, *, bits: tuple[int, ...], what: str
) -> np.ndarray:
    if data is None:
        return read_label_png(path, bits=bits, what=what)
    return label_png_from_bytes(data, path, bits=bits, what=what)


def load_coco_json(path: str | os.PathLike[str], kind: str | None = None) -> dict[str, Any]:
    """Parse and validate a COCO annotation file (``kind``: "instances" or "stuff";
    default: "stuff" when the file name starts with it, else "instances").

    See :mod:`goss_bench.validate.coco_json` for the schema.
    """
    if kind is None:
        kind = "stuff" if Path(path).name.startswith("stuff") else "instances"
    data = load_json_file(path, "COCO annotation file")
    check_coco_json(data, path, kind)
    return data


def _decode(segm: Any, h: int, w: int, where: str) -> np.ndarray:
    """One annotation's segmentation (polygons, RLE or compressed RLE) as bool (H, W)."""
    from pycocotools import mask as maskutils

    try:
        if isinstance(segm, list):
            rle = maskutils.merge(maskutils.frPyObjects(segm, h, w))
        elif isinstance(segm, dict) and isinstance(segm.get("counts"), list):
            rle = maskutils.frPyObjects(segm, h, w)
        elif isinstance(segm, dict) and isinstance(segm.get("counts"), (str, bytes)):
            rle = dict(segm)
            if isinstance(rle["counts"], str):
                rle["counts"] = rle["counts"].encode("ascii")
        else:
            raise TypeError("unsupported segmentation")
        m = maskutils.decode(rle)
    except (TypeError, ValueError, KeyError, IndexError, UnicodeEncodeError) as exc:
        raise GossInputError(f"{where}: cannot decode segmentation ({exc})") from None
    if m.shape != (h, w):
        raise GossInputError(f"{where}: segmentation size {m.shape} differs from image size {(h, w)}")
    return m.astype(bool, copy=False)


def rasterize_coco(
    height: int,
    width: int,
    stuff_anns: list[dict[str, Any]],
    thing_anns: list[dict[str, Any]],
    *,
    where: str = "COCO annotations",
    with_instances: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Rasterise one image's COCO-Stuff JSON annotations into a stuffthingmaps-style map.

    Args:
        height, width: image size from the JSON ``images`` entry.
        stuff_anns: annotations of the stuff JSON (categories 92..183), file order.
        thing_anns: annotations of the instances JSON (categories 1..90), file order.
        where: file name(s) for error messages.
        with_instances: also return the instance map.

    Returns:
        raw uint8 (H, W): PNG values (category id - 1), 255 unlabeled (incl. "other");
        instances int32 (H, W): 1 + index of the thing annotation that owns the pixel,
        0 elsewhere and on crowd regions (``iscrowd``: a crowd is not one object, so
        like Cityscapes' "car group" it gets connected components); None unless
        with_instances.
    """
    raw = np.full((height, width), coco.UNLABELED_PNG, np.uint8)
    inst = np.zeros((height, width), np.int32) if with_instances else None
    for part, anns in (("stuff", stuff_anns), ("thing", thing_anns)):
        for k, a in enumerate(anns):
            cat = a.get("category_id")
            value = _JSON_TO_RAW.get(cat) if isinstance(cat, int) else None
            if value is None:
                raise GossInputError(
                    f"{where}: annotation {a.get('id')} has category_id {cat!r}, "
                    "which is not a COCO 2017 / COCO-Stuff category"
                )
            m = _decode(a.get("segmentation"), height, width, f"{where}: annotation {a.get('id')}")
            raw[m] = value
            if inst is not None:
                inst[m] = k + 1 if part == "thing" and not a.get("iscrowd") else 0
    return raw, inst
