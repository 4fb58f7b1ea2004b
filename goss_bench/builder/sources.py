"""Finding the input files of a source dataset: layout detection and work items.

``<root>`` is ``--root`` (default ``$GOSS_DATASETS/<dataset>`` or
``./datasets/<dataset>``). The builder recognises, without flags, the layouts
users have (:data:`COCO_PNG_LAYOUTS`, the JSON and Cityscapes layouts below)
and says which one it found (:attr:`Layout.description`); docs/building.md
shows the commands that produce each from the official downloads.

Only the label files are needed. A photo is referenced in ``images.txt`` when
it exists and its size is checked against the label map; a missing photo is
not an error unless ``require_images`` is set. A subset whose labels are
absent (no ``train2017`` maps, no ``gtFine/train``) is skipped, so the test
split can be built alone.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goss_bench.errors import GossInputError

SUBSETS = ("train", "test")
COCO_SUBDIR = {"train": "train2017", "test": "val2017"}
CITYSCAPES_SUBDIR = {"train": "train", "test": "val"}
SOURCES = {"coco": ("png", "json"), "cityscapes": ("png",)}
TRAIN_IDS_SUFFIX = "_labelTrainIds"


@dataclass(frozen=True)
class CocoPngLayout:
    """Where one layout keeps the COCO-Stuff label maps and the photos.

    Attributes:
        name: short name printed by the builder.
        description: what it is (who uses it).
        labels: label folder relative to the root, ``{sub}`` = train2017 / val2017.
        photos: photo folder relative to the root.
        contiguous: the maps hold contiguous ids 0..170 (mmseg ``*_labelTrainIds.png``,
            MaskFormer ``stuffthingmaps_detectron2``), converted back through the label table.
        suffix: the label file name ends with ``<suffix>.png``.
        unzip: commands that produce the layout from the official zips.
    """

    name: str
    description: str
    labels: str
    photos: str
    contiguous: bool = False
    suffix: str = ""
    unzip: tuple[str, ...] = field(default=())


_IMG_ZIPS = ("train2017.zip", "val2017.zip")
COCO_PNG_LAYOUTS: tuple[CocoPngLayout, ...] = (
    CocoPngLayout(
        "coco-stuff", "COCO-Stuff README / mmsegmentation coco_stuff164k",
        "annotations/{sub}", "images/{sub}",
        unzip=(*(f"unzip {z} -d <root>/images" for z in _IMG_ZIPS),
               "unzip stuffthingmaps_trainval2017.zip -d <root>/annotations"),
    ),
    CocoPngLayout(
        "mmseg-trainids", "mmsegmentation after tools/dataset_converters/coco_stuff164k.py, "
        "*_labelTrainIds.png only", "annotations/{sub}", "images/{sub}", contiguous=True,
        suffix=TRAIN_IDS_SUFFIX,
        unzip=("(the coco-stuff layout, then mmseg's converter)",),
    ),
    CocoPngLayout(
        "detectron2", "detectron2 / MaskFormer datasets/coco", "stuffthingmaps/{sub}", "{sub}",
        unzip=(*(f"unzip {z} -d <root>" for z in _IMG_ZIPS),
               "unzip stuffthingmaps_trainval2017.zip -d <root>/stuffthingmaps"),
    ),
    CocoPngLayout(
        "detectron2-contiguous", "MaskFormer after prepare_coco_stuff_164k_sem_seg.py, "
        "stuffthingmaps_detectron2 only", "stuffthingmaps_detectron2/{sub}", "{sub}",
        contiguous=True, unzip=("(the detectron2 layout, then MaskFormer's converter)",),
    ),
    CocoPngLayout(
        "goss-bench", "goss-bench 0.1, maps in stuffthingmaps_trainval2017/",
        "stuffthingmaps_trainval2017/{sub}", "{sub}",
        unzip=(*(f"unzip {z} -d <root>" for z in _IMG_ZIPS),
               "unzip stuffthingmaps_trainval2017.zip -d <root>/stuffthingmaps_trainval2017"),
    ),
    CocoPngLayout(
        "flat", "all zips unpacked into one folder (photos and maps side by side)",
        "{sub}", "{sub}",
        unzip=(*(f"unzip {z} -d <root>" for z in _IMG_ZIPS),
               "unzip stuffthingmaps_trainval2017.zip -d <root>"),
    ),
)
COCO_JSON_UNZIP = ("unzip annotations_trainval2017.zip -d <root>",
                   "unzip stuff_annotations_trainval2017.zip -d <root>",
                   "(photos, optional: unzip train2017.zip -d <root>; unzip val2017.zip -d <root>)")
CITYSCAPES_UNZIP = ("unzip gtFine_trainvaltest.zip -d <root>",
                    "unzip leftImg8bit_trainvaltest.zip -d <root>   (photos, optional)")


@dataclass(frozen=True)
class WorkItem:
    """One image to convert.

    Attributes:
        subset: ``"train"`` or ``"test"``.
        stem: output file stem (COCO 12-digit id; Cityscapes ``<city>_<seq>_<frame>``).
        image: path of the RGB photo (written to images.txt, size-checked), or None
            when there is none.
        label: label PNG (stuffthingmaps / gtFine_labelIds); None for COCO JSON.
        instance: gtFine_instanceIds PNG when instances are used, else None.
        json_ann: COCO JSON route: (height, width, stuff annotations, thing
            annotations, file names for messages); None otherwise.
        contiguous: the label map holds contiguous ids (0..170), not stuffthingmaps values.
    """

    subset: str
    stem: str
    image: str | None
    label: str | None = None
    instance: str | None = None
    json_ann: tuple[int, int, list[dict[str, Any]], list[dict[str, Any]], str] | None = None
    contiguous: bool = False

    @property
    def input_path(self) -> str:
        """The main input file (for messages)."""
        if self.label is not None:
            return self.label
        if self.json_ann:
            return self.json_ann[4]
        return self.image or self.stem


@dataclass(frozen=True)
class Layout:
    """The layout found under a root: what it is and which subsets it has.

    Attributes:
        dataset, source, root: what was looked at.
        name, description: the layout (printed by the builder).
        subsets: the subsets whose labels exist (``("test",)`` builds the test split alone).
        coco: the COCO PNG layout, when source is png.
    """

    dataset: str
    source: str
    root: Path
    name: str
    description: str
    subsets: tuple[str, ...]
    coco: CocoPngLayout | None = None

    def summary(self) -> str:
        only = "" if set(self.subsets) == set(SUBSETS) else f"; only {', '.join(self.subsets)}"
        return f"{self.name} ({self.description}){only}"


def known_layouts(dataset: str, source: str, root: Path) -> str:
    """Every layout of ``dataset``/``source`` with the exact unzip commands, for messages."""
    r = str(root)
    lines = []
    if dataset == "coco" and source == "png":
        for lay in COCO_PNG_LAYOUTS:
            lab = lay.labels.format(sub="{train2017,val2017}")
            pho = lay.photos.format(sub="{train2017,val2017}")
            name = f"*{lay.suffix}.png" if lay.suffix else "*.png"
            lines.append(f"  {lay.name}: {lay.description}")
            lines.append(f"      labels <root>/{lab}/{name}, photos (optional) <root>/{pho}/*.jpg")
            lines += [f"      $ {c.replace('<root>', r)}" for c in lay.unzip]
    elif dataset == "coco":
        lines.append("  COCO + COCO-Stuff annotations: <root>/annotations/"
                     "{instances,stuff}_{train2017,val2017}.json, photos (optional) "
                     "<root>/{train2017,val2017}/ or <root>/images/{train2017,val2017}/")
        lines += [f"      $ {c.replace('<root>', r)}" for c in COCO_JSON_UNZIP]
    else:
        lines.append("  cityscapes (cityscapesscripts, mmsegmentation): "
                     "<root>/gtFine/{train,val}/<city>/*_gtFine_labelIds.png "
                     "(+ _instanceIds.png), photos (optional) "
                     "<root>/leftImg8bit/{train,val}/<city>/*_leftImg8bit.png")
        lines += [f"      $ {c.replace('<root>', r)}" for c in CITYSCAPES_UNZIP]
    return "\n".join(lines)


def layout_error(dataset: str, source: str, root: Path, problem: str) -> GossInputError:
    """One message: what is wrong, and every layout known, with its unzip commands."""
    return GossInputError(
        f"{problem}; {root} is not a {dataset} folder in a layout goss-bench knows "
        f"(--source {source}). Known layouts (the builder finds them by itself):\n"
        f"{known_layouts(dataset, source, root)}\n"
        f"Pass --root, or set $GOSS_DATASETS to the folder holding '{dataset}/' (see docs/building.md)."
    )


def default_root(dataset: str) -> Path:
    """``$GOSS_DATASETS/<dataset>`` when the variable is set, else ``./datasets/<dataset>``."""
    base = os.environ.get("GOSS_DATASETS")
    return Path(base) / dataset if base else Path("datasets") / dataset


def _coco_label_names(folder: Path, lay: CocoPngLayout) -> list[str]:
    """Sorted names of the layout's label maps in ``folder`` (``*<suffix>.png``;
    without a suffix, ``*.png`` except ``*_labelTrainIds.png``); [] without the folder."""
    names = _listdir(folder)
    if names is None:
        return []
    end = f"{lay.suffix}.png"
    return sorted(
        n for n in names
        if n.endswith(end) and (lay.suffix or not n[:-4].endswith(TRAIN_IDS_SUFFIX))
    )


def _listdir(folder: Path) -> list[str] | None:
    """The entry names of ``folder`` (hidden ones included), None when it is not a
    readable folder. One ``scandir`` instead of a ``stat`` per file: listing a
    subset of 118k images is serial work in the builder's main process."""
    try:
        return os.listdir(folder)
    except OSError:
        return None


def detect_layout(dataset: str, source: str, root: str | os.PathLike[str]) -> Layout:
    """The layout of ``root`` (first match in a fixed order), or GossInputError listing them all."""
    root = Path(root)
    if dataset not in SOURCES:
        raise GossInputError(f"unknown dataset {dataset!r}; expected one of {', '.join(SOURCES)}")
    if source not in SOURCES[dataset]:
        raise GossInputError(
            f"--source {source} is not available for {dataset} (choose from {', '.join(SOURCES[dataset])})"
        )
    if not root.is_dir():
        raise layout_error(dataset, source, root, f"dataset folder {root} not found")
    root = root.resolve()
    if dataset == "coco" and source == "png":
        for lay in COCO_PNG_LAYOUTS:
            have = tuple(
                s for s in SUBSETS
                if _coco_label_names(root / lay.labels.format(sub=COCO_SUBDIR[s]), lay)
            )
            if have:
                return Layout(dataset, source, root, lay.name, lay.description, have, lay)
        raise layout_error(dataset, source, root, f"no COCO-Stuff label maps under {root}")
    if dataset == "coco":
        from goss_bench.extras import require

        require("coco", what="--source json (COCO masks are decoded with pycocotools)")
        have = tuple(
            s for s in SUBSETS
            if (root / "annotations" / f"instances_{COCO_SUBDIR[s]}.json").is_file()
            or (root / "annotations" / f"stuff_{COCO_SUBDIR[s]}.json").is_file()
        )
        if not have:
            raise layout_error(dataset, source, root,
                               f"no annotations/instances_*2017.json or stuff_*2017.json in {root}")
        return Layout(dataset, source, root, "coco-json", "COCO + COCO-Stuff JSON annotations", have)
    have = tuple(s for s in SUBSETS
                 if any((root / "gtFine" / CITYSCAPES_SUBDIR[s]).glob("*/*_gtFine_labelIds.png")))
    if not have:
        raise layout_error(dataset, source, root,
                           f"no gtFine/{{train,val}}/<city>/*_gtFine_labelIds.png in {root}")
    return Layout(dataset, source, root, "cityscapes",
                  "cityscapesscripts / mmsegmentation gtFine + leftImg8bit", have)


def list_items(
    dataset: str,
    source: str,
    root: str | os.PathLike[str],
    *,
    instances: bool = False,
    test_only: bool = False,
    require_images: bool = False,
    layout: Layout | None = None,
) -> dict[str, list[WorkItem]]:
    """Work items of each subset (``train``, ``test``), sorted by stem.

    Args:
        instances: Cityscapes: also read ``*_gtFine_instanceIds.png``.
        test_only: leave the training images out.
        require_images: keep the path of a missing photo, so that converting the
            image fails on it (the strict check); by default a missing photo is None.
        layout: the result of :func:`detect_layout` (detected when not given).

    Raises GossInputError listing the known layouts when the root is missing or
    holds none of them.
    """
    lay = layout or detect_layout(dataset, source, root)
    subsets = [s for s in lay.subsets if not (test_only and s == "train")]
    if not subsets:
        raise GossInputError(f"{lay.root}: --test-only, but there are no test labels (val)")
    out: dict[str, list[WorkItem]] = {s: [] for s in SUBSETS}
    for s in subsets:
        if lay.coco is not None:
            out[s] = list(_coco_png(lay.root, lay.coco, s, require_images))
        elif dataset == "coco":
            out[s] = _coco_json(lay.root, s, require_images)
        else:
            out[s] = list(_cityscapes(lay.root, s, instances, require_images))
    return out


def _photo(path: Path, require: bool) -> str | None:
    # only an absent photo is optional: a FIFO, folder or broken link there is checked (an error)
    return str(path) if require or os.path.lexists(path) else None


def _coco_png(root: Path, lay: CocoPngLayout, subset: str, require: bool) -> Iterator[WorkItem]:
    sub = COCO_SUBDIR[subset]
    photos = root / lay.photos.format(sub=sub)
    labels = root / lay.labels.format(sub=sub)
    listed = _listdir(photos)
    # an entry of the folder is what lexists() would find; a folder that cannot be
    # listed (but may be searchable) is asked file by file
    present: set[str] | None = set(listed) if listed is not None else None
    if present is None and not photos.is_dir():
        present = set()
    photo_dir, label_dir = os.fspath(photos), os.fspath(labels)
    cut = len(lay.suffix) + 4  # "<suffix>.png"
    for name in _coco_label_names(labels, lay):
        stem = name[:-cut]
        photo = os.path.join(photo_dir, f"{stem}.jpg")
        if not require and present is not None:
            found: str | None = photo if f"{stem}.jpg" in present else None
        else:
            found = _photo(Path(photo), require)
        yield WorkItem(subset, stem, found, label=os.path.join(label_dir, name),
                       contiguous=lay.contiguous)


def _coco_json(root: Path, subset: str, require: bool) -> list[WorkItem]:
    from goss_bench.builder.readers import load_coco_json

    sub = COCO_SUBDIR[subset]
    ann_dir = root / "annotations"
    inst_p, stuff_p = ann_dir / f"instances_{sub}.json", ann_dir / f"stuff_{sub}.json"
    for p in (inst_p, stuff_p):
        if not p.is_file():
            raise layout_error("coco", "json", root, f"missing annotation file {p}")
    img_dir = root / sub if (root / sub).is_dir() else root / "images" / sub
    inst, stuff = load_coco_json(inst_p, "instances"), load_coco_json(stuff_p, "stuff")
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
                _photo(img_dir / f"{stem}.jpg", require),
                json_ann=(h, w, by_img["stuff"].get(iid, []), by_img["thing"].get(iid, []), where),
            )
        )
    items.sort(key=lambda it: it.stem)
    for a, b in zip(items, items[1:], strict=False):
        if a.stem == b.stem:
            raise GossInputError(f"{where}: file name {a.stem} is used by two images")
    return items


def _cityscapes(root: Path, subset: str, instances: bool, require: bool) -> Iterator[WorkItem]:
    sub = CITYSCAPES_SUBDIR[subset]
    gt_dir = root / "gtFine" / sub
    img_dir = root / "leftImg8bit" / sub
    files = sorted(gt_dir.glob("*/*_gtFine_labelIds.png"), key=lambda p: p.name)
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
            _photo(img_dir / city / f"{stem}_leftImg8bit.png", require),
            label=str(f),
            instance=str(inst) if inst is not None else None,
        )
