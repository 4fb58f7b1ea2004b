"""Per-class statistics of a source dataset: images containing each class, pixels.

``goss-bench stats`` writes them as CSV; ``goss-bench make-split --manual-things``
reads the ``images`` column to rank the thing classes by frequency.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from goss_bench.builder.readers import rasterize_coco, read_cityscapes, read_coco_png
from goss_bench.builder.sources import SUBSETS, WorkItem, default_root, list_items
from goss_bench.datasets import dataset_classes
from goss_bench.errors import GossInputError
from goss_bench.validate.files import read_text_file

STATS_COLUMNS = ("source_id", "name", "kind", "supercategory", "images", "images_train",
                 "images_test", "pixels")


@dataclass(frozen=True)
class ClassStats:
    """Counts of one class over the train and test (COCO val2017 / Cityscapes val) images."""

    source_id: int
    name: str
    kind: str
    supercategory: str
    images_train: int
    images_test: int
    pixels: int

    @property
    def images(self) -> int:
        """Images (train + test) that contain at least one pixel of the class."""
        return self.images_train + self.images_test


@lru_cache(maxsize=2)
def valid_raw_values(dataset: str) -> np.ndarray:
    """bool (256,): the raw label values a map of ``dataset`` may hold (the builder's table)."""
    valid = np.zeros(256, bool)
    if dataset == "coco":
        from goss_bench.datasets import coco

        valid[[c.png for c in coco.evaluable()]] = True
        valid[coco.UNLABELED_PNG] = True
    else:
        valid[[c.source_id for c in dataset_classes(dataset) if 0 <= c.source_id < 256]] = True
    return valid


def image_histogram(item: WorkItem) -> tuple[str, np.ndarray]:
    """(subset, int64 (256,) raw-value pixel counts) of one image (module-level for the pool).

    Raises GossInputError naming the file when a value is not in the dataset's label table.
    """
    if item.json_ann is not None:
        h, w, stuff, thing, where = item.json_ann
        raw, _ = rasterize_coco(h, w, stuff, thing, where=where)
        dataset = "coco"
    elif item.label is not None and item.label.endswith("_gtFine_labelIds.png"):
        raw, _ = read_cityscapes(item.label)
        dataset = "cityscapes"
    else:
        assert item.label is not None
        raw = read_coco_png(item.label, contiguous=item.contiguous)
        dataset = "coco"
    hist = np.bincount(raw.ravel(), minlength=256)
    bad = np.flatnonzero((hist > 0) & ~valid_raw_values(dataset))
    if bad.size:
        raise GossInputError(
            f"{item.input_path}: label value(s) {bad.tolist()[:10]} are not in the {dataset} "
            "label table"
        )
    return item.subset, hist


def compute_stats(
    dataset: str,
    root: str | os.PathLike[str] | None = None,
    *,
    source: str = "png",
    workers: int = 1,
    progress: bool = False,
) -> list[ClassStats]:
    """Per-class image and pixel counts over all train and test images of ``dataset``."""
    from goss_bench.builder.parallel import map_unordered

    items = list_items(dataset, source, Path(root) if root else default_root(dataset))
    flat = [it for s in SUBSETS for it in items[s]]
    present = {s: np.zeros(256, np.int64) for s in SUBSETS}
    pixels = np.zeros(256, np.int64)
    for subset, hist in map_unordered(image_histogram, flat, workers=workers, progress=progress,
                                      desc="stats"):
        present[subset] += hist > 0
        pixels += hist
    out = []
    for c in dataset_classes(dataset):
        if not c.evaluable:
            continue
        v = c.source_id - 1 if dataset == "coco" else c.source_id
        out.append(ClassStats(c.source_id, c.name, c.kind, c.supercategory,
                              int(present["train"][v]), int(present["test"][v]), int(pixels[v])))
    return out


def stats_to_csv(stats: list[ClassStats]) -> str:
    """CSV text with the columns of STATS_COLUMNS."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(STATS_COLUMNS)
    for s in stats:
        w.writerow([s.source_id, s.name, s.kind, s.supercategory, s.images, s.images_train,
                    s.images_test, s.pixels])
    return buf.getvalue()


def read_image_counts(path: str | os.PathLike[str]) -> dict[int, int]:
    """source id -> number of images containing the class, from a stats CSV.

    Accepts the CSV written by ``goss-bench stats`` (columns ``source_id``,
    ``images``) and the COCO statistics table with columns ``cocostuff_id``,
    ``images_train2017_plus_val2017``.
    """
    p = Path(path)
    rows = list(csv.DictReader(read_text_file(p, "stats file").splitlines()))
    if not rows:
        raise GossInputError(f"{p}: empty stats file")
    id_col = next((c for c in ("source_id", "cocostuff_id") if c in rows[0]), None)
    n_col = next((c for c in ("images", "images_train2017_plus_val2017") if c in rows[0]), None)
    if id_col is None or n_col is None:
        raise GossInputError(
            f"{p}: stats CSV needs columns source_id (or cocostuff_id) and images "
            "(or images_train2017_plus_val2017); write one with goss-bench stats"
        )
    out: dict[int, int] = {}
    for i, r in enumerate(rows, start=2):
        try:
            sid, count = int(r[id_col]), int(r[n_col])
        except (TypeError, ValueError):
            raise GossInputError(f"{p}:{i}: {id_col} and {n_col} must be integers") from None
        if count < 0:
            raise GossInputError(f"{p}:{i}: {n_col} must be >= 0, got {count}")
        if sid in out:
            raise GossInputError(f"{p}:{i}: {id_col} {sid} occurs twice")
        out[sid] = count
    return out
