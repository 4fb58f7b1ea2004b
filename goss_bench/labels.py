"""Label ids of a split in every id space users have: GOSS, source, mmseg/detectron2, Cityscapes.

Derived from the one label table per dataset (:mod:`goss_bench.datasets`) and
the split file; nothing here lists classes by hand.  Id spaces:

* **GOSS train id**: 0..N-1 known classes (source-id order), N unknown, 255 void.
* **source id**: COCO category id (1..182) / Cityscapes label id (0..33).
* **contiguous id**: what mmsegmentation and detectron2/MaskFormer models
  predict. COCO-Stuff-164k: 0..170, the rank of the class among the 171
  classes annotated in COCO 2017 in category-id order (mmseg's
  ``*_labelTrainIds.png``, MaskFormer's ``stuffthingmaps_detectron2``).
  Cityscapes: the trainId 0..18.
* **Cityscapes trainId**: cityscapesscripts' ``trainId`` (Cityscapes only).

Remapping a framework's prediction into GOSS train ids::

    from goss_bench.labels import label_table
    t = label_table("cityscapes", "manual-16-3")
    goss_sem = t.from_contiguous[pred_trainid_map]   # uint8 (H, W); unknown classes -> N

The table has one row per evaluated class of the dataset: known classes with
their train id, unknown classes with train id N, void classes with 255.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from goss_bench.datasets import dataset_classes
from goss_bench.errors import GossInputError
from goss_bench.io import VOID
from goss_bench.splits import Split, load_split

COLUMNS = ("train_id", "name", "kind", "role", "source_id", "contiguous_id", "cityscapes_train_id")
"""Column order of :meth:`LabelTable.rows_as_dicts`, the CSV and the JSON."""


@dataclass(frozen=True)
class LabelRow:
    """One evaluated class of the dataset under a split.

    Attributes:
        train_id: GOSS train id (0..N-1 known, N unknown, 255 void in this split).
        name, kind: from the dataset's label table (kind ``"thing"``/``"stuff"``).
        role: ``"known"``, ``"unknown"`` or ``"void"``.
        source_id: COCO category id / Cityscapes label id.
        contiguous_id: mmseg / detectron2 id (COCO 0..170, Cityscapes trainId).
        cityscapes_train_id: Cityscapes trainId, None for COCO.
    """

    train_id: int
    name: str
    kind: str
    role: str
    source_id: int
    contiguous_id: int
    cityscapes_train_id: int | None


@dataclass(frozen=True)
class LabelTable:
    """The id table of one split, as rows and as lookup arrays.

    Attributes:
        dataset, split, num_known: what the table describes (N = num_known).
        rows: one :class:`LabelRow` per evaluated class, in source-id order.
        from_contiguous: uint8 (256,) contiguous id -> GOSS train id (N for unknown
            classes, 255 for void classes and for ids that are no class, 255 -> 255).
        from_source: uint8 (256,) source id -> GOSS train id, likewise.
        to_contiguous: int16 (N,) GOSS train id of a known class -> contiguous id.
        to_source: int16 (N,) GOSS train id of a known class -> source id.
    """

    dataset: str
    split: str
    num_known: int
    rows: tuple[LabelRow, ...]
    from_contiguous: np.ndarray
    from_source: np.ndarray
    to_contiguous: np.ndarray
    to_source: np.ndarray

    def rows_as_dicts(self) -> list[dict[str, object]]:
        """The rows as dicts with the keys of :data:`COLUMNS` (None = not applicable)."""
        return [{k: getattr(r, k) for k in COLUMNS} for r in self.rows]

    def remap_contiguous(self, pred: np.ndarray) -> np.ndarray:
        """A framework's contiguous-id map (integer (H, W), 255 = none) as GOSS train ids.

        Raises GossInputError when the map holds a value that is no class.
        """
        return _remap(self.from_contiguous, pred, self._valid_contiguous(), "contiguous id")

    def _valid_contiguous(self) -> np.ndarray:
        ok = np.zeros(256, bool)
        ok[[r.contiguous_id for r in self.rows]] = True
        ok[VOID] = True
        return ok


def _remap(lut: np.ndarray, arr: np.ndarray, valid: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(arr)
    if a.dtype.kind not in "ui":
        raise GossInputError(f"expected an integer map of {what}s, got dtype {a.dtype}")
    outside = (a < 0) | (a > 255)
    idx = np.where(outside, 0, a).astype(np.intp)
    bad = outside | ~valid[idx]
    if bad.any():
        raise GossInputError(
            f"value(s) {np.unique(a[bad])[:10].tolist()} are not a {what} of this dataset"
        )
    return np.take(lut, idx)


def contiguous_ids(dataset: str) -> dict[int, int]:
    """source id -> contiguous id (mmseg / detectron2) of every evaluated class.

    COCO: rank among the 171 classes annotated in COCO 2017, in category-id order.
    Cityscapes: cityscapesscripts' trainId.
    """
    if dataset == "cityscapes":
        from goss_bench.datasets import cityscapes

        return {c.id: c.train_id for c in cityscapes.evaluable()}
    ev = [c for c in dataset_classes(dataset) if c.evaluable]
    return {c.source_id: i for i, c in enumerate(ev)}


def label_table(dataset: str, split: str | Path | Split) -> LabelTable:
    """The id table of ``split`` (an official name, a split file path or a Split).

    Raises GossInputError for an unknown dataset or split.
    """
    sp = split if isinstance(split, Split) else load_split(split, dataset)
    if sp.dataset != dataset:
        raise GossInputError(f"split {sp.name!r} is for dataset {sp.dataset!r}, not {dataset!r}")
    n = sp.num_known
    contig = contiguous_ids(dataset)
    role: dict[int, tuple[str, int]] = {c.source_id: ("known", i) for i, c in enumerate(sp.known)}
    role.update({c.source_id: ("unknown", n) for c in sp.unknown})
    role.update({c.source_id: ("void", VOID) for c in sp.void})
    rows = []
    for c in dataset_classes(dataset):
        if not c.evaluable:
            continue
        what, tid = role[c.source_id]
        rows.append(
            LabelRow(
                train_id=tid,
                name=c.name,
                kind=c.kind,
                role=what,
                source_id=c.source_id,
                contiguous_id=contig[c.source_id],
                cityscapes_train_id=contig[c.source_id] if dataset == "cityscapes" else None,
            )
        )
    from_contig = np.full(256, VOID, np.uint8)
    from_source = np.full(256, VOID, np.uint8)
    to_contig = np.zeros(n, np.int16)
    to_source = np.zeros(n, np.int16)
    for r in rows:
        from_contig[r.contiguous_id] = r.train_id
        from_source[r.source_id] = r.train_id
        if r.role == "known":
            to_contig[r.train_id] = r.contiguous_id
            to_source[r.train_id] = r.source_id
    for a in (from_contig, from_source, to_contig, to_source):
        a.setflags(write=False)
    return LabelTable(dataset, sp.name, n, tuple(rows), from_contig, from_source, to_contig, to_source)


__all__ = ["COLUMNS", "LabelRow", "LabelTable", "contiguous_ids", "label_table"]
