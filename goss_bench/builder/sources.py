"""Finding the input files of a source dataset: layout checks and work items.

Expected layouts (``<root>`` = ``--root``, default ``$GOSS_DATASETS/<dataset>`` or
``./datasets/<dataset>``) are given in :data:`LAYOUTS` and in docs/building.md.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goss_bench.errors import GossInputError

SUBSETS = ("train", "test")
COCO_SUBDIR = {"train": "train2017", "test": "val2017"}
CITYSCAPES_SUBDIR = {"train": "train", "test": "val"}
SOURCES = {"coco": ("png", "json"), "cityscapes": ("png",)}

LAYOUTS = {
    ("coco", "png"): """\
  <root>/
    train2017/<12-digit id>.jpg                          (COCO 2017 images)
    val2017/<12-digit id>.jpg
    stuffthingmaps_trainval2017/train2017/<id>.png       (COCO-Stuff label maps)
    stuffthingmaps_trainval2017/val2017/<id>.png""",
    ("coco", "json"): """\
  <root>/
    train2017/<12-digit id>.jpg                          (COCO 2017 images)
    val2017/<12-digit id>.jpg
    annotations/instances_train2017.json                 (COCO 2017 instances)
    annotations/instances_val2017.json
    annotations/stuff_train2017.json                     (COCO-Stuff stuff annotations)
    annotations/stuff_val2017.json""",
    ("cityscapes", "png"): """\
  <root>/
    leftImg8bit/{train,val}/<city>/<city>_<seq>_<frame>_leftImg8bit.png
    gtFine/{train,val}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png
    gtFine/{train,val}/<city>/<city>_<seq>_<frame>_gtFine_instanceIds.png""",
}


@dataclass(frozen=True)
class WorkItem:
    """One image to convert.

    Attributes:
        subset: ``"train"`` or ``"test"``.
        stem: output file stem (COCO 12-digit id; Cityscapes ``<city>_<seq>_<frame>``).
        image: path of the RGB image (written to images.txt, size-checked).
        label: label PNG (stuffthingmaps / gtFine_labelIds); None for COCO JSON.
        instance: gtFine_instanceIds PNG when instances are used, else None.
        json_ann: COCO JSON route: (height, width, stuff annotations, thing
            annotations, file names for messages); None otherwise.
    """

    subset: str
    stem: str
    image: str
    label: str | None = None
    instance: str | None = None
    json_ann: tuple[int, int, list[dict[str, Any]], list[dict[str, Any]], str] | None = None

    @property
    def input_path(self) -> str:
        """The main input file (for messages)."""
        if self.label is not None:
            return self.label
        return self.json_ann[4] if self.json_ann else self.image


def layout_error(dataset: str, source: str, root: Path, problem: str) -> GossInputError:
    """One clear message: what is wrong and the expected layout."""
    return GossInputError(
        f"{problem}; {root} does not look like a {dataset} dataset folder for --source {source}. "
        f"Expected layout:\n{LAYOUTS[(dataset, source)]}\n"
        f"Pass --root, or set $GOSS_DATASETS to the folder holding '{dataset}/' (see docs/building.md)."
    )


def default_root(dataset: str) -> Path:
    """``$GOSS_DATASETS/<dataset>`` when the variable is set, else ``./datasets/<dataset>``."""
    base = os.environ.get("GOSS_DATASETS")
    return Path(base) / dataset if base else Path("datasets") / dataset


def list_items(
    dataset: str, source: str, root: str | os.PathLike[str], *, instances: bool = False
) -> dict[str, list[WorkItem]]:
    """Work items of each subset (``train``, ``test``), sorted by stem.

    Raises GossInputError with the expected layout when the root is missing or
    wrongly laid out.
    """
    root = Path(root)
    if source not in SOURCES.get(dataset, ()):
        if dataset not in SOURCES:
            raise GossInputError(f"unknown dataset {dataset!r}; expected one of {', '.join(SOURCES)}")
        raise GossInputError(
            f"--source {source} is not available for {dataset} (choose from {', '.join(SOURCES[dataset])})"
        )
    if not root.is_dir():
        raise layout_error(dataset, source, root, f"dataset folder {root} not found")
    root = root.resolve()
    if dataset == "coco" and source == "png":
        return {s: list(_coco_png(root, s)) for s in SUBSETS}
    if dataset == "coco":
        from goss_bench.extras import require

        require("coco", what="--source json (COCO masks are decoded with pycocotools)")
        return {s: _coco_json(root, s) for s in SUBSETS}
    return {s: list(_cityscapes(root, s, instances)) for s in SUBSETS}


def _coco_png(root: Path, subset: str) -> Iterator[WorkItem]:
    sub = COCO_SUBDIR[subset]
    lab_dir = root / "stuffthingmaps_trainval2017" / sub
    if not lab_dir.is_dir():
        raise layout_error("coco", "png", root, f"missing folder {lab_dir}")
    files = sorted(lab_dir.glob("*.png"))
    if not files:
        raise layout_error("coco", "png", root, f"no label maps (*.png) in {lab_dir}")
    img_dir = root / sub
    if not img_dir.is_dir():
        raise layout_error("coco", "png", root, f"missing image folder {img_dir}")
    for f in files:
        yield WorkItem(subset, f.stem, str(img_dir / f"{f.stem}.jpg"), label=str(f))


def _coco_json(root: Path, subset: str) -> list[WorkItem]:
    from goss_bench.builder.readers import load_coco_json

    sub = COCO_SUBDIR[subset]
    ann_dir = root / "annotations"
    inst_p, stuff_p = ann_dir / f"instances_{sub}.json", ann_dir / f"stuff_{sub}.json"
    for p in (inst_p, stuff_p):
        if not p.is_file():
            raise layout_error("coco", "json", root, f"missing annotation file {p}")
    img_dir = root / sub
    if not img_dir.is_dir():
        raise layout_error("coco", "json", root, f"missing image folder {img_dir}")
    inst, stuff = load_coco_json(inst_p), load_coco_json(stuff_p)
    where = f"{inst_p} + {stuff_p}"
    images: dict[int, tuple[str, int, int]] = {}
    for data, p in ((inst, inst_p), (stuff, stuff_p)):
        for im in data["images"]:
            try:
                key = (str(Path(im["file_name"]).stem), int(im["height"]), int(im["width"]))
                iid = int(im["id"])
            except (KeyError, TypeError, ValueError):
                raise GossInputError(f"{p}: malformed 'images' entry {im!r:.120}") from None
            if iid in images and images[iid] != key:
                raise GossInputError(
                    f"{where}: image {iid} has different file names or sizes in the two files"
                )
            images[iid] = key
    by_img: dict[str, dict[int, list[dict[str, Any]]]] = {
        "stuff": defaultdict(list),
        "thing": defaultdict(list),
    }
    for part, data, p in (("stuff", stuff, stuff_p), ("thing", inst, inst_p)):
        for a in data["annotations"]:
            ref = a.get("image_id") if isinstance(a, dict) else None
            if ref not in images:
                raise GossInputError(f"{p}: annotation {a.get('id') if isinstance(a, dict) else a!r} "
                                     f"refers to image {ref!r}, which is not in 'images'")
            by_img[part][ref].append(a)
    items = []
    for iid, (stem, h, w) in images.items():
        items.append(
            WorkItem(
                subset,
                stem,
                str(img_dir / f"{stem}.jpg"),
                json_ann=(h, w, by_img["stuff"].get(iid, []), by_img["thing"].get(iid, []), where),
            )
        )
    items.sort(key=lambda it: it.stem)
    for a, b in zip(items, items[1:], strict=False):
        if a.stem == b.stem:
            raise GossInputError(f"{where}: file name {a.stem} is used by two images")
    return items


def _cityscapes(root: Path, subset: str, instances: bool) -> Iterator[WorkItem]:
    sub = CITYSCAPES_SUBDIR[subset]
    gt_dir = root / "gtFine" / sub
    img_dir = root / "leftImg8bit" / sub
    for d in (gt_dir, img_dir):
        if not d.is_dir():
            raise layout_error("cityscapes", "png", root, f"missing folder {d}")
    files = sorted(gt_dir.glob("*/*_gtFine_labelIds.png"), key=lambda p: p.name)
    if not files:
        raise layout_error("cityscapes", "png", root, f"no *_gtFine_labelIds.png in {gt_dir}/<city>/")
    seen: set[str] = set()
    for f in files:
        stem = f.name[: -len("_gtFine_labelIds.png")]
        if stem in seen:
            raise GossInputError(f"{f}: image name {stem} occurs in two city folders")
        seen.add(stem)
        city = f.parent.name
        inst = f.with_name(f"{stem}_gtFine_instanceIds.png") if instances else None
        yield WorkItem(
            subset,
            stem,
            str(img_dir / city / f"{stem}_leftImg8bit.png"),
            label=str(f),
            instance=str(inst) if inst is not None else None,
        )
