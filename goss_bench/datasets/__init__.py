"""Label tables of the source datasets, one per dataset.

* :mod:`goss_bench.datasets.coco` -- COCO-Stuff (182 classes, PNG value = id - 1).
* :mod:`goss_bench.datasets.cityscapes` -- Cityscapes, from ``cityscapesscripts``.

:func:`dataset_classes` gives both in one shape (:class:`SourceClass`), which is
what split files are validated against: a split's ``source_id`` is a COCO
category id or a Cityscapes label id.
"""

from __future__ import annotations

from dataclasses import dataclass

from goss_bench.errors import GossInputError

DATASETS = ("coco", "cityscapes")


@dataclass(frozen=True)
class SourceClass:
    """A class of a source dataset.

    Attributes:
        source_id: COCO category id (1..182) or Cityscapes label id (-1..33).
        name: the dataset's name of the class.
        kind: ``"thing"`` or ``"stuff"``.
        supercategory: COCO supercategory / Cityscapes category ("" if none).
        evaluable: True for the classes a split must place (COCO: the 171 classes
            annotated in COCO 2017; Cityscapes: the 19 classes with
            ``ignoreInEval == False``). Other classes are void in every split.
    """

    source_id: int
    name: str
    kind: str
    supercategory: str
    evaluable: bool


def dataset_classes(dataset: str) -> tuple[SourceClass, ...]:
    """Every class of ``dataset`` in source-id order.

    Raises GossInputError for an unknown dataset (or, for Cityscapes, when
    cityscapesscripts is missing).
    """
    if dataset == "coco":
        from goss_bench.datasets import coco

        return tuple(
            SourceClass(c.id, c.name, c.kind, c.supercategory, c.in_coco2017) for c in coco.CLASSES
        )
    if dataset == "cityscapes":
        from goss_bench.datasets import cityscapes

        rows = sorted(cityscapes.by_id().values(), key=lambda c: c.id)
        return tuple(SourceClass(c.id, c.name, c.kind, c.category, c.evaluable) for c in rows)
    raise GossInputError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")


__all__ = ["DATASETS", "SourceClass", "dataset_classes"]
