"""The Cityscapes label table, taken from ``cityscapesscripts`` (never a hand copy).

``cityscapesscripts.helpers.labels`` (pip extra ``goss-bench[cityscapes]``) is
imported on first use. Ids used by goss-bench:

* label id (the split files' ``source_id``): the values of
  ``*_gtFine_labelIds.png``, 0..33; license plate has id -1 and never occurs
  in the maps.
* ``*_gtFine_instanceIds.png`` (16-bit): ``id * 1000 + k`` for the k-th instance
  of a class with ``hasInstances``, the plain label id elsewhere (including
  crowd regions such as "car group").
* Evaluated classes: the 19 labels with ``ignoreInEval == False`` (trainIds
  0..18). Every other label (ignoreInEval, and license plate) is void.
* Kind: ``"thing"`` for labels with ``hasInstances`` (person .. bicycle),
  ``"stuff"`` otherwise; the supercategory is the Cityscapes ``category``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from goss_bench.errors import GossInputError
from goss_bench.extras import install_hint

INSTANCE_OFFSET = 1000
"""instanceIds value = label id * INSTANCE_OFFSET + instance index."""
MAX_LABEL_ID = 33


@dataclass(frozen=True)
class CityscapesLabel:
    """One row of the cityscapesscripts label table.

    Attributes:
        name, id, train_id (255 or -1 when not trained), category: as in
        cityscapesscripts; has_instances, ignore_in_eval: its ``hasInstances`` and
        ``ignoreInEval``.
    """

    name: str
    id: int
    train_id: int
    category: str
    has_instances: bool
    ignore_in_eval: bool

    @property
    def kind(self) -> str:
        """``"thing"`` for classes with instances, else ``"stuff"``."""
        return "thing" if self.has_instances else "stuff"

    @property
    def evaluable(self) -> bool:
        """One of the 19 evaluated classes."""
        return not self.ignore_in_eval and self.id >= 0


@lru_cache(maxsize=1)
def classes() -> tuple[CityscapesLabel, ...]:
    """All labels of ``cityscapesscripts.helpers.labels.labels``, in table order.

    Raises GossInputError when cityscapesscripts is not installed.
    """
    from goss_bench.extras import require

    require("cityscapes", what="the Cityscapes label table (cityscapesscripts)")
    try:
        from cityscapesscripts.helpers.labels import labels
    except ImportError as exc:
        raise GossInputError(
            f"cannot import cityscapesscripts ({exc}): {install_hint('cityscapes')}"
        ) from None
    return tuple(
        CityscapesLabel(
            name=lab.name,
            id=int(lab.id),
            train_id=int(lab.trainId),
            category=lab.category,
            has_instances=bool(lab.hasInstances),
            ignore_in_eval=bool(lab.ignoreInEval),
        )
        for lab in labels
    )


def evaluable() -> tuple[CityscapesLabel, ...]:
    """The 19 evaluated classes, in label-id order."""
    return tuple(sorted((c for c in classes() if c.evaluable), key=lambda c: c.id))


@lru_cache(maxsize=1)
def by_id() -> dict[int, CityscapesLabel]:
    """Label id -> label (first definition wins, as in cityscapesscripts)."""
    out: dict[int, CityscapesLabel] = {}
    for c in classes():
        out.setdefault(c.id, c)
    return out
