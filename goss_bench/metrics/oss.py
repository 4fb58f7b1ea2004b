"""Open-set segmentation (OSS) metrics from exact per-image score histograms.

Predicted unknown-ness scores are uint16 (higher = more likely unknown), so a
histogram with one bin per possible score value (65,536 bins) is an exact,
mergeable summary of the (score, label) pairs: AUROC, AUPR and FPR@95%TPR
computed from the summed histograms equal the values scikit-learn computes on
the raw pixels, in O(pixels) time and constant memory.

Labels: positives = GT unknown pixels (semantic == N), negatives = GT known
pixels (0..N-1); GT void (255) is excluded, or counted as unknown with
``void_as_unknown`` (the authors' evaluator does this).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NUM_BINS = 1 << 16


def image_histogram(
    gt_sem: np.ndarray, scores: np.ndarray, num_known: int, *, void_as_unknown: bool = False
) -> np.ndarray:
    """Score histograms of one image.

    Args:
        gt_sem: uint8 (H, W), 0..N-1 known, N unknown, 255 void.
        scores: uint8 or uint16 (H, W) unknown-ness (uint8 values are used as they are).
        num_known: N.

    Returns:
        int64 (2, 65536): row 0 negatives (known), row 1 positives (unknown).
    """
    gs = gt_sem.ravel()
    # 0 = known (< N), 1 = unknown (== N), 2 = void (255; values in between are rejected)
    key = (gs >= num_known).astype(np.uint32)
    if not void_as_unknown:
        key += (gs > num_known).view(np.uint8)
    key <<= 16
    key |= scores.ravel()
    counts = np.bincount(key, minlength=3 * NUM_BINS)
    return counts[: 2 * NUM_BINS].reshape(2, NUM_BINS)


def _int_dot(a: np.ndarray, b: np.ndarray, bound: int) -> int:
    """Exact sum of ``a * b`` (non-negative int64 arrays) given ``sum <= bound``.

    int64 arithmetic when the bound allows it, Python integers otherwise; never
    BLAS (whose float summation order, and thread count, varies by machine).
    """
    if bound < 1 << 62:
        return int(np.sum(a * b))
    return sum(int(x) * int(y) for x, y in zip(a.tolist(), b.tolist(), strict=True))


@dataclass(frozen=True)
class OSSCurve:
    """Cumulative counts at each distinct score, thresholds descending.

    tps, fps: int64 (m,) true/false positives when predicting "unknown" for
    every pixel with score >= the i-th highest distinct score.
    """

    tps: np.ndarray
    fps: np.ndarray

    @classmethod
    def from_histogram(cls, hist: np.ndarray) -> OSSCurve:
        neg = hist[0, ::-1]
        pos = hist[1, ::-1]
        nz = np.flatnonzero((neg + pos) > 0)
        return cls(tps=np.cumsum(pos[nz]), fps=np.cumsum(neg[nz]))

    @property
    def num_pos(self) -> int:
        return int(self.tps[-1]) if self.tps.size else 0

    @property
    def num_neg(self) -> int:
        return int(self.fps[-1]) if self.fps.size else 0

    def defined(self) -> bool:
        """True when both positives and negatives are present."""
        return self.num_pos > 0 and self.num_neg > 0

    def auroc(self) -> float:
        """Area under the ROC curve (trapezoidal; ties count one half), as sklearn."""
        tps = np.r_[0, self.tps]
        den = 2 * self.num_pos * self.num_neg
        # twice the area, an exact integer: sum of d(fps) * (tps[i] + tps[i-1]) <= den
        two_area = _int_dot(np.diff(np.r_[0, self.fps]), tps[1:] + tps[:-1], den)
        return two_area / den

    def aupr(self) -> float:
        """Average precision with unknown as the positive class, as sklearn."""
        step = np.diff(np.r_[0, self.tps])
        hit = step > 0
        tps = self.tps[hit]
        precision = tps / (tps + self.fps[hit])
        return float(np.sum(step[hit] * precision) / self.num_pos)

    def fpr_at_tpr(self, level: float = 0.95, rule: str = "first") -> float:
        """FPR at TPR ``level``.

        ``first``: FPR at the highest threshold whose TPR >= level.
        ``nearest``: hendrycks' ``fpr_and_fdr_at_recall`` (the operating point
        whose recall is nearest to ``level``, as the authors' evaluator does).
        """
        recall = self.tps / self.num_pos
        if rule == "first":
            i = int(np.argmax(recall >= level))
            return float(self.fps[i] / self.num_neg)
        if rule != "nearest":
            raise ValueError(f"unknown FPR95 rule {rule!r} (expected 'first' or 'nearest')")
        last = int(np.searchsorted(self.tps, self.tps[-1]))
        rec = np.r_[recall[last::-1], 1.0]
        fps = np.r_[self.fps[last::-1], 0]
        cutoff = int(np.argmin(np.abs(rec - level)))
        return float(fps[cutoff] / self.num_neg)


@dataclass
class OSSImageMetrics:
    """Per-image OSS metrics (only for images with both unknown and known pixels)."""

    auroc: float
    aupr: float
    fpr95_first: float
    fpr95_nearest: float


def image_metrics(hist: np.ndarray) -> OSSImageMetrics | None:
    """OSS metrics of one image's histogram, or None when a class is missing."""
    curve = OSSCurve.from_histogram(hist)
    if not curve.defined():
        return None
    return OSSImageMetrics(
        auroc=curve.auroc(),
        aupr=curve.aupr(),
        fpr95_first=curve.fpr_at_tpr(0.95, "first"),
        fpr95_nearest=curve.fpr_at_tpr(0.95, "nearest"),
    )
