"""Generators of small source datasets in the genuine on-disk formats.

Used by the builder tests, the benchmarks, the demo and the baseline tests
(``import datagen`` with ``tests/`` on ``sys.path``; pytest puts it there).
Public functions (their signatures are kept stable):

* :func:`make_coco_stuff` (root, n_train, n_val, size, seed) -> root --
  COCO-Stuff: stuffthingmaps PNGs (values 0..181, 255), JPEG photos, and the
  matching COCO JSON annotations (``instances_*2017.json`` with polygons and
  uncompressed-RLE crowd regions, ``stuff_*2017.json`` with compressed RLE and
  the 183 "other" class). The JSON files rasterise (stuff + other first,
  things over them) to exactly the PNGs.
* :func:`make_cityscapes` (root, n_train, n_val, size, seed) -> root --
  Cityscapes: ``gtFine_labelIds`` (8-bit), ``gtFine_instanceIds`` (16-bit,
  id*1000+k for instances, plain id for crowds) and ``leftImg8bit`` photos.
* :func:`make_built_split` (workdir, dataset, split, ...) -> split directory --
  both of the above followed by ``goss_bench.builder.build_split``: a small GT
  split directory in the FORMAT.md layout, for tests of code that reads one.
* :func:`coco_image`, :func:`cityscapes_image` -- one image as arrays;
  :func:`rle_uncompressed`, :func:`rle_compressed` -- COCO RLE encoders.

Everything is deterministic in ``seed``. Sizes are (height, width). Even-numbered
COCO images contain only COMMON_THINGS (known in the COCO splits), so some
training images survive the "no unknown pixel" filter; the others draw from all
80 things. Cityscapes frames hold road, sidewalk, building, vegetation, pole,
sky, void labels (ego vehicle, out of roi), cars (touching pairs included),
trucks, buses, persons, bicycles, caravans (void) and crowd regions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from goss_bench.io import write_label_png

COCO_OTHER = 183
# Things drawn into about half of the images: known in the voc-20-60 and
# manual-20-60 splits (person, car, chair, dog), so those images survive the
# "no unknown pixel" train filter.
COMMON_THINGS = (1, 3, 62, 18)


def _coco_classes() -> tuple[list[int], list[int]]:
    from goss_bench.datasets import coco

    things = [c.id for c in coco.evaluable() if c.kind == "thing"]
    stuff = [c.id for c in coco.evaluable() if c.kind == "stuff"]
    return things, stuff


def _polygon(rng: np.random.Generator, h: int, w: int) -> list[float]:
    """A random star-shaped polygon (flat [x0, y0, x1, y1, ...]) inside the image."""
    cy, cx = rng.uniform(0.15, 0.85) * h, rng.uniform(0.15, 0.85) * w
    r = rng.uniform(0.08, 0.3) * min(h, w)
    k = int(rng.integers(5, 10))
    ang = np.sort(rng.uniform(0, 2 * np.pi, k))
    rad = r * rng.uniform(0.6, 1.0, k)
    xs = np.clip(cx + rad * np.cos(ang), 0, w - 1)
    ys = np.clip(cy + rad * np.sin(ang), 0, h - 1)
    return [round(float(v), 2) for xy in zip(xs, ys, strict=True) for v in xy]


def _poly_mask(poly: list[float], h: int, w: int) -> np.ndarray:
    from pycocotools import mask as maskutils

    rle = maskutils.merge(maskutils.frPyObjects([poly], h, w))
    return maskutils.decode(rle).astype(bool)


def rle_uncompressed(mask: np.ndarray) -> dict[str, Any]:
    """COCO uncompressed RLE (column-major run lengths starting with a 0-run)."""
    flat = np.asarray(mask, bool).ravel(order="F").astype(np.int8)
    change = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1] if flat.size else 0]])))
    runs = np.diff(np.concatenate([[0], change]))
    counts = runs.tolist()
    total = sum(counts)
    if total < flat.size:
        counts.append(flat.size - total)
    elif total > flat.size:
        counts[-1] -= total - flat.size
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": [int(c) for c in counts]}


def rle_compressed(mask: np.ndarray) -> dict[str, Any]:
    """COCO compressed RLE (as in the COCO-Stuff stuff JSON files)."""
    from pycocotools import mask as maskutils

    rle = maskutils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _bbox(mask: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]


def coco_image(
    rng: np.random.Generator, h: int, w: int, common_only: bool, ann_start: int, image_id: int
) -> tuple[np.ndarray, list[dict[str, Any]], list[dict[str, Any]]]:
    """One synthetic COCO-Stuff image.

    Returns:
        png uint8 (H, W): stuffthingmaps values (category id - 1; 255 unlabeled);
        stuff annotations (stuff JSON) and thing annotations (instances JSON).
    """
    things, stuff = _coco_classes()
    # stuff: Voronoi cells of 2..4 stuff classes
    k = int(rng.integers(2, 5))
    seeds = rng.uniform(0, 1, (k, 2)) * [h, w]
    cls = rng.choice(stuff, k, replace=False)
    yy, xx = np.mgrid[:h, :w]
    cell = ((yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2).argmin(-1)
    stuff_map = np.asarray(cls)[cell]
    # things, painted in annotation order (later wins)
    n_things = int(rng.integers(0, 5))
    thing_anns: list[dict[str, Any]] = []
    masks = []
    pool = COMMON_THINGS if common_only else things
    for _ in range(n_things):
        cat = int(rng.choice(pool))
        crowd = (not common_only) and rng.random() < 0.15
        if crowd:
            y0, x0 = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
            m = np.zeros((h, w), bool)
            m[y0 : y0 + int(rng.integers(3, h // 2)), x0 : x0 + int(rng.integers(3, w // 2))] = True
            segm: Any = rle_uncompressed(m)
        else:
            poly = _polygon(rng, h, w)
            m = _poly_mask(poly, h, w)
            segm = [poly]
        if not m.any():
            continue
        masks.append((cat, m))
        thing_anns.append(
            {"id": ann_start + len(thing_anns), "image_id": image_id, "category_id": cat,
             "segmentation": segm, "area": int(m.sum()), "bbox": _bbox(m), "iscrowd": int(crowd)}
        )
        if rng.random() < 0.3 and not crowd:
            # a second object of the same class, overlapping / touching the first one
            shift = float(rng.integers(2, 5))
            poly2 = [min(v + shift, w - 1.0) if i % 2 == 0 else v for i, v in enumerate(segm[0])]
            m2 = _poly_mask(poly2, h, w)
            masks.append((cat, m2))
            thing_anns.append(
                {"id": ann_start + len(thing_anns), "image_id": image_id, "category_id": cat,
                 "segmentation": [poly2], "area": int(m2.sum()), "bbox": _bbox(m2), "iscrowd": 0}
            )
    thing_union = np.zeros((h, w), bool)
    for _, m in masks:
        thing_union |= m
    # "other": where the stuff annotators saw things; sometimes wider, sometimes
    # narrower than the COCO thing masks (things are painted over it either way)
    if rng.random() < 0.5:
        other = ndimage.binary_dilation(thing_union, np.ones((3, 3), bool))
    else:
        other = ndimage.binary_erosion(thing_union, np.ones((3, 3), bool))
    # an unannotated patch (no stuff annotation at all)
    unann = np.zeros((h, w), bool)
    if rng.random() < 0.5:
        y0, x0 = int(rng.integers(0, h - 3)), int(rng.integers(0, w - 3))
        unann[y0 : y0 + 3, x0 : x0 + int(rng.integers(2, 6))] = True
    other &= ~unann
    png = np.full((h, w), 255, np.uint8)
    stuff_anns: list[dict[str, Any]] = []
    aid = ann_start + 500
    for c in sorted(set(cls.tolist())):
        m = (stuff_map == c) & ~other & ~unann
        if m.any():
            png[m] = c - 1
            stuff_anns.append({"id": aid, "image_id": image_id, "category_id": int(c),
                               "segmentation": rle_compressed(m), "area": int(m.sum()),
                               "bbox": _bbox(m), "iscrowd": 0})
            aid += 1
    if other.any():
        stuff_anns.append({"id": aid, "image_id": image_id, "category_id": COCO_OTHER,
                           "segmentation": rle_compressed(other), "area": int(other.sum()),
                           "bbox": _bbox(other), "iscrowd": 0})
    for cat, m in masks:
        png[m] = cat - 1
    return png, stuff_anns, thing_anns


def _write_jpeg(path: Path, h: int, w: int, rng: np.random.Generator) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    Image.fromarray(arr).save(path, format="JPEG", quality=50)


def _categories() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from goss_bench.datasets import coco

    thing = [{"id": c.id, "name": c.name, "supercategory": c.supercategory}
             for c in coco.evaluable() if c.kind == "thing"]
    stuff = [{"id": c.id, "name": c.name, "supercategory": c.supercategory}
             for c in coco.evaluable() if c.kind == "stuff"]
    stuff.append({"id": COCO_OTHER, "name": "other", "supercategory": "other"})
    return thing, stuff


def make_coco_stuff(
    root: str | Path,
    n_train: int = 6,
    n_val: int = 4,
    size: tuple[int, int] = (48, 64),
    seed: int = 0,
    *,
    png: bool = True,
    json_files: bool = True,
    photos: bool = True,
) -> Path:
    """Write a small COCO-Stuff copy under ``root`` and return ``root``.

    Layout: ``train2017/``, ``val2017/`` (JPEG photos), ``stuffthingmaps_trainval2017/
    {train2017,val2017}/`` (PNG label maps), ``annotations/{instances,stuff}_{train,val}2017.json``.
    Even-numbered images use only COMMON_THINGS (or no thing), the others any thing.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    h, w = size
    thing_cats, stuff_cats = _categories()
    for sub, n, base in (("train2017", n_train, 1), ("val2017", n_val, 500000)):
        images, stuff_all, thing_all = [], [], []
        ann_id = base * 1000
        for i in range(n):
            iid = base + i
            name = f"{iid:012d}"
            lab, st, th = coco_image(rng, h, w, i % 2 == 0, ann_id, iid)
            ann_id += 1000
            images.append({"id": iid, "file_name": f"{name}.jpg", "height": h, "width": w,
                           "license": 1})
            stuff_all += st
            thing_all += th
            if png:
                write_label_png(root / "stuffthingmaps_trainval2017" / sub / f"{name}.png", lab)
            if photos:
                _write_jpeg(root / sub / f"{name}.jpg", h, w, rng)
        if json_files:
            info = {"description": "goss-bench synthetic COCO-Stuff test data", "year": 2017}
            lic = [{"id": 1, "name": "CC BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"}]
            d = root / "annotations"
            d.mkdir(parents=True, exist_ok=True)
            (d / f"instances_{sub}.json").write_text(json.dumps(
                {"info": info, "licenses": lic, "images": images, "annotations": thing_all,
                 "categories": thing_cats}))
            (d / f"stuff_{sub}.json").write_text(json.dumps(
                {"info": info, "licenses": lic, "images": images, "annotations": stuff_all,
                 "categories": stuff_cats}))
    return root


# --- Cityscapes ---------------------------------------------------------------------

_CITIES = {"train": ("aachen", "bremen"), "val": ("frankfurt",)}


def cityscapes_image(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic Cityscapes frame: (labelIds uint8 (H, W), instanceIds uint16 (H, W))."""
    lab = np.full((h, w), 23, np.uint8)  # sky
    horizon = int(h * rng.uniform(0.3, 0.5))
    lab[horizon:, :] = 7  # road
    lab[horizon : horizon + 2, : w // 3] = 8  # sidewalk
    bx = int(rng.integers(w // 4, w // 2))
    lab[h // 8 : horizon, :bx] = 11  # building
    lab[h // 5 : horizon, w - w // 5 :] = 21  # vegetation
    lab[horizon - 4 : horizon, bx : bx + 2] = 17  # pole
    if rng.random() < 0.5:
        lab[h // 4 : h // 4 + 2, bx + 2 : bx + 5] = 20  # traffic sign
    lab[h - max(2, h // 10) :, :] = 1  # ego vehicle
    lab[:, :1] = 3  # out of roi
    inst = lab.astype(np.uint16)
    counters: dict[int, int] = {}
    for _ in range(int(rng.integers(1, 6))):
        cid = int(rng.choice([24, 26, 26, 27, 28, 33, 29]))
        y0 = int(rng.integers(horizon - 3, max(horizon - 2, h - h // 5)))
        x0 = int(rng.integers(1, w - 8))
        hh, ww = int(rng.integers(2, 6)), int(rng.integers(3, 10))
        k = counters.get(cid, 0)
        counters[cid] = k + 1
        lab[y0 : y0 + hh, x0 : x0 + ww] = cid
        inst[y0 : y0 + hh, x0 : x0 + ww] = cid * 1000 + k
    if rng.random() < 0.7:  # two parked cars side by side: touching, separate instances
        y0, x0 = h - max(2, h // 10) - 4, int(rng.integers(1, w - 10))
        k = counters.get(26, 0)
        counters[26] = k + 2
        lab[y0 : y0 + 3, x0 : x0 + 8] = 26
        inst[y0 : y0 + 3, x0 : x0 + 4] = 26000 + k
        inst[y0 : y0 + 3, x0 + 4 : x0 + 8] = 26000 + k + 1
    if rng.random() < 0.4:  # a crowd region ("car group"): class id without instance id
        y0, x0 = horizon, int(rng.integers(1, w - 6))
        lab[y0 : y0 + 2, x0 : x0 + 5] = 26
        inst[y0 : y0 + 2, x0 : x0 + 5] = 26
    lab[h - max(2, h // 10) :, :] = 1
    inst[h - max(2, h // 10) :, :] = 1
    return lab, inst


def make_cityscapes(
    root: str | Path,
    n_train: int = 4,
    n_val: int = 3,
    size: tuple[int, int] = (32, 64),
    seed: int = 0,
) -> Path:
    """Write a small Cityscapes copy (gtFine + leftImg8bit) under ``root``; return ``root``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    h, w = size
    for sub, n in (("train", n_train), ("val", n_val)):
        cities = _CITIES[sub]
        for i in range(n):
            city = cities[i % len(cities)]
            stem = f"{city}_{i:06d}_{19 + i:06d}"
            lab, inst = cityscapes_image(rng, h, w)
            gt = root / "gtFine" / sub / city
            write_label_png(gt / f"{stem}_gtFine_labelIds.png", lab)
            write_label_png(gt / f"{stem}_gtFine_instanceIds.png", inst)
            photo = root / "leftImg8bit" / sub / city / f"{stem}_leftImg8bit.png"
            photo.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(photo)
    return root


def make_built_split(
    workdir: str | Path,
    dataset: str = "coco",
    split: str = "manual-20-60",
    *,
    n_train: int = 6,
    n_val: int = 4,
    size: tuple[int, int] | None = None,
    seed: int = 0,
    **build_options: Any,
) -> Path:
    """Generate a small source dataset under ``workdir/<dataset>`` and build ``split``.

    Args:
        workdir: folder for the source data and the output.
        dataset, split: as for ``goss-bench build-split`` (a name or a split file).
        n_train, n_val, size, seed: passed to the generator (default sizes:
            48x64 for COCO, 32x64 for Cityscapes).
        build_options: more keyword arguments of ``build_split`` (e.g. ``workers``,
            ``min_group_area``, ``test_images="all"``).

    Returns:
        the split directory ``workdir/<dataset>-<split name>`` (split.json,
        manifest.json, train/, test/ as in FORMAT.md).
    """
    from goss_bench.builder import build_split

    workdir = Path(workdir)
    src = workdir / dataset
    if dataset == "coco":
        make_coco_stuff(src, n_train, n_val, size or (48, 64), seed)
    else:
        make_cityscapes(src, n_train, n_val, size or (32, 64), seed)
    summary = build_split(dataset, split, src, workdir / f"{dataset}-{Path(str(split)).stem}",
                          **build_options)
    return summary.out
