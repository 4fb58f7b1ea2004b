"""The GOSS release's evaluator, quirks included (``score(..., protocol="authors")``).

:class:`AuthorsAccumulator` is a :class:`GossAccumulator` that reproduces the
numbers the authors' evaluator prints (``JHome1/GOSS_Segmentor``; every quirk,
with its source file, is listed in METRICS.md, "The authors' evaluator"):

1. predicted void (255) joins the segment of known class 0 (:func:`merge_void`);
2. known classes are averaged over all of them (``average="all"``), λ = 0.5;
3. the OSS means divide by (counted images + 1);
4. an image is counted only when its AUROC is not exactly 0 (images with only
   known or only unknown pixels have no AUROC and are skipped too);
5. OSS metrics per image, then averaged;
6. GT void counts as unknown in the OSS metrics;
7. FPR95 is hendrycks' nearest-recall operating point;
8. when no predicted unknown pixel lies on a GT unknown pixel, the release stops
   with ZeroDivisionError before printing anything: :meth:`result` raises
   :class:`GossInputError` naming the quirk.

The other statistics (PQ matching, mIoU, GS) are goss-bench's, computed on the
void-merged prediction.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from goss_bench.errors import GossInputError
from goss_bench.io import VOID
from goss_bench.metrics.accumulator import GossAccumulator
from goss_bench.metrics.segments import FIXED_SCALE
from goss_bench.result import ScoreResult

PROTOCOLS = ("goss", "authors")
"""``goss``: the corrected definitions (default); ``authors``: the release's evaluator."""
AUTHORS_FIXED = {"average": "all", "lam": 0.5, "fpr95": "nearest", "oss_per_image": True}
"""The result options the authors' protocol fixes."""


def merge_void(pred_sem: np.ndarray) -> np.ndarray:
    """Quirk 1: uint8 (H, W) prediction with "no prediction" (255) turned into class 0."""
    pred = np.asarray(pred_sem)
    return np.where(pred == VOID, 0, pred).astype(pred.dtype, copy=False)


@dataclass
class AuthorsAccumulator(GossAccumulator):
    """Streaming statistics under the authors' protocol (see the module docstring).

    Attributes (besides GossAccumulator's):
        authors_oss_sums: fixed-point sums (units of 2**-53) of AUROC, AUPR and
            nearest FPR95 over the images the release counts.
        authors_oss_count: number of those images (the release divides by this + 1).
        unknown_overlap_images: images where some pixel is unknown in both the GT
            and the (void-merged) prediction; 0 means the release would stop.
    """

    void_as_unknown: bool = True
    authors_oss_sums: list[int] = field(init=False)
    authors_oss_count: int = field(init=False, default=0)
    unknown_overlap_images: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.void_as_unknown:
            raise ValueError("the authors' protocol counts GT void as unknown")
        self.authors_oss_sums = [0, 0, 0]

    def add(
        self,
        gt_sem: np.ndarray,
        gt_grp: np.ndarray | None,
        pred_sem: np.ndarray,
        pred_grp: np.ndarray | None,
        *,
        pred_scores: np.ndarray | None = None,
        gt_clusters: np.ndarray | None = None,
        pred_clusters: np.ndarray | None = None,
        stem: str | None = None,
    ) -> None:
        """Add one image (arguments as :meth:`GossAccumulator.add`)."""
        pred = merge_void(pred_sem)
        stats = self.image_stats(
            gt_sem, gt_grp, pred, pred_grp, pred_scores=pred_scores,
            gt_clusters=gt_clusters, pred_clusters=pred_clusters, stem=stem,
        )
        n = self.num_known
        overlap = bool(((np.asarray(gt_sem) == n) & (pred == n)).any())
        self.add_stats(stats)
        self.unknown_overlap_images += overlap
        fixed = stats.oss_fixed
        if fixed is not None and int(fixed[0]) != 0:  # quirk 4: `if auroc != 0.0`
            # oss_fixed = AUROC, AUPR, FPR95 first, FPR95 nearest
            for i, v in enumerate((fixed[0], fixed[1], fixed[3])):
                self.authors_oss_sums[i] += int(v)
            self.authors_oss_count += 1

    def merge(self, other: GossAccumulator) -> AuthorsAccumulator:
        if not isinstance(other, AuthorsAccumulator):
            raise ValueError("cannot merge a GossAccumulator into an AuthorsAccumulator")
        super().merge(other)
        self.authors_oss_sums = [a + b for a, b in zip(self.authors_oss_sums,
                                                       other.authors_oss_sums, strict=True)]
        self.authors_oss_count += other.authors_oss_count
        self.unknown_overlap_images += other.unknown_overlap_images
        return self

    def result(self, **options: Any) -> ScoreResult:
        """The release's numbers. ``options`` must be absent or equal :data:`AUTHORS_FIXED`.

        Raises GossInputError (quirk 8) when no predicted unknown pixel lies on GT unknown.
        """
        for k, v in options.items():
            if k not in AUTHORS_FIXED or AUTHORS_FIXED[k] != v:
                raise GossInputError(
                    f"--protocol authors fixes {k} to {AUTHORS_FIXED.get(k)!r}; got {v!r}"
                )
        if self.unknown_overlap_images == 0:
            raise GossInputError(
                "--protocol authors: no predicted unknown pixel lies on a ground-truth unknown "
                "pixel, and the authors' evaluator stops here with ZeroDivisionError "
                "(wholisticapi_evaluation.py, PQStat.pq_average: iou_cluster / iou_num for the "
                "unknown class) without printing any result; see METRICS.md, quirk 8. "
                "The default protocol scores this prediction (GQ_uk = 0)"
            )
        res = super().result(**AUTHORS_FIXED)  # type: ignore[arg-type]
        if res.oss is not None:
            den = self.authors_oss_count + 1  # quirk 3: open_num starts at 1
            auroc, aupr, fpr = (s / FIXED_SCALE / den for s in self.authors_oss_sums)
            res = replace(
                res,
                oss=replace(res.oss, auroc=auroc, aupr=aupr, fpr95=fpr,
                            pooling="per-image (authors)",
                            num_images_used=self.authors_oss_count),
            )
        res.options["protocol"] = "authors"
        return res
