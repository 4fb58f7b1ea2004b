"""Structured scoring results (dataclasses); formatting lives in the CLI."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ClassResult:
    """PQ statistics of one class, pooled over the dataset.

    ``train_id`` is 0..N-1 for known classes and N for the unknown class.
    ``sq`` is 0 when there is no TP; ``pq`` and ``rq`` are 0 when tp+fp+fn = 0
    (``present`` tells whether the class had any segment).
    """

    train_id: int
    name: str
    pq: float
    sq: float
    rq: float
    tp: int
    fp: int
    fn: int
    iou_sum: float
    present: bool
    iou: float | None = None  # closed-set semantic IoU (None for unknown or unsupported)


@dataclass(frozen=True)
class OSSResult:
    """Open-set segmentation metrics (unknown = positive class)."""

    auroc: float | None
    aupr: float | None
    fpr95: float | None
    fpr95_rule: str
    pooling: str  # "pooled" or "per-image"
    void_as_unknown: bool
    num_positive: int
    num_negative: int
    num_images_used: int


@dataclass(frozen=True)
class GSResult:
    """Generic-segmentation metrics of the class-agnostic clustering."""

    gq_clu: float
    sq_clu: float
    rq_clu: float
    miou_clu: float | None
    covering: float | None
    tp: int
    fp: int
    fn: int
    num_gt_clusters: int


@dataclass(frozen=True)
class ScoreResult:
    """The result of scoring a prediction set against GOSS ground truth.

    All quality values are in [0, 1] (not percentages).
    """

    num_known: int
    num_images: int
    average: str  # "all" or "present"
    lam: float
    gq: float
    gq_known: float
    gq_unknown: float
    sq_known: float
    rq_known: float
    sq_unknown: float
    rq_unknown: float
    miou: float | None
    num_known_averaged: int
    per_class: list[ClassResult]
    oss: OSSResult | None = None
    gs: GSResult | None = None
    options: dict[str, Any] = field(default_factory=dict)
    per_image: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of every field (NaN is never produced)."""
        d = asdict(self)
        if d["per_image"] is None:
            d.pop("per_image")
        return _clean(d)

    def summary(self) -> dict[str, float | None]:
        """The headline numbers, flat (for tables and leaderboards)."""
        out: dict[str, float | None] = {
            "GQ": self.gq,
            "GQ_kn": self.gq_known,
            "GQ_uk": self.gq_unknown,
            "SQ_kn": self.sq_known,
            "RQ_kn": self.rq_known,
            "SQ_uk": self.sq_unknown,
            "RQ_uk": self.rq_unknown,
            "mIoU": self.miou,
        }
        if self.oss is not None:
            out.update(AUROC=self.oss.auroc, AUPR=self.oss.aupr, FPR95=self.oss.fpr95)
        if self.gs is not None:
            out.update(GQ_clu=self.gs.gq_clu, mIoU_clu=self.gs.miou_clu, SC=self.gs.covering)
        return out


def _clean(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj
