"""GossAccumulator: accumulate per-image statistics, merge, then summarise.

Usage::

    acc = GossAccumulator(num_known=N, class_names=names)
    for ...:
        acc.add(gt_sem, gt_grp, pred_sem, pred_grp, pred_scores=s)
    acc.merge(other_acc)          # e.g. from another process
    res = acc.result(average="all", lam=0.5)

Per-image statistics (e.g. for bootstrap confidence intervals)::

    st = acc.image_stats(gt_sem, gt_grp, pred_sem, pred_grp, stem="0001")  # ImageStats
    acc.add_stats(st)             # the same as acc.add(...)
    keep.append(replace(st, oss_hist=None))   # small: per-class integer arrays

All state is integer (counts, histograms and IoU sums in fixed point), so the
result is bit-identical whatever the image order or the split across processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from goss_bench.errors import GossInputError
from goss_bench.metrics.gs import GSImageStats, image_gs_stats
from goss_bench.metrics.oss import NUM_BINS, OSSCurve, image_histogram, image_metrics
from goss_bench.metrics.pq import PQImageStats, image_pq_stats
from goss_bench.metrics.segments import to_fixed
from goss_bench.result import ClassResult, GSResult, OSSResult, ScoreResult

AVERAGES = ("all", "present")
FPR95_RULES = ("first", "nearest")


def _div(num: float, den: float) -> float:
    return num / den if den else 0.0


def _fixed_to_float(value: int) -> float:
    return value / (1 << 53)


@dataclass
class _GSTotals:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    iou_fixed: int = 0
    best_iou_fixed: int = 0
    num_gt: int = 0
    cover_fixed: int = 0
    cover_pixels: int = 0

    def add(self, other: Any) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class ImageStats:
    """Everything one image adds to a :class:`GossAccumulator` (integers only).

    Obtain it with :meth:`GossAccumulator.image_stats` and add it with
    :meth:`GossAccumulator.add_stats` (``add`` does both); summing the stats of
    any subset of images, in any order, gives bit-identical results.

    Attributes:
        stem: the image name given to ``image_stats`` (or None).
        pq: :class:`~goss_bench.metrics.pq.PQImageStats`: per-class ``tp``, ``fp``,
            ``fn`` (int64 (N+1,), index N = unknown), ``iou_fixed`` (N+1 Python ints,
            matched IoU sums in units of 2**-53) and ``conf`` (int64 (N+2, N+2)).
        oss_hist: int64 (2, 65536) score histograms (row 0 known, row 1 unknown
            pixels), or None without scores.  1 MiB: set it to None before keeping
            many images' statistics (the other fields are a few hundred bytes).
        oss_fixed: int64 (4,) this image's AUROC, AUPR, FPR95 (first), FPR95
            (nearest) in units of 2**-53, or None (no scores, or the image lacks
            known or unknown pixels).
        gs: :class:`~goss_bench.metrics.gs.GSImageStats` or None without clusters.
    """

    stem: str | None
    pq: PQImageStats
    oss_hist: np.ndarray | None = None
    oss_fixed: np.ndarray | None = None
    gs: GSImageStats | None = None


@dataclass
class GossAccumulator:
    """Streaming GQ / OSS / GS statistics over a dataset.

    Args:
        num_known: N, the number of known classes (semantic values 0..N-1; N = unknown).
        class_names: optional names of the N known classes (for reports).
        void_as_unknown: OSS only: count GT void pixels as unknown (authors' evaluator).
        keep_per_image: keep a small per-image record (for ``--per-image``).
        keep_image_rows: keep each image's statistics as a compact integer row
            (``image_rows``: (stem, row, coarse score histogram) per image, see
            :mod:`goss_bench.diagnostics.image_stats`; about 1.1 KiB per image
            for N = 20, plus 10 KiB with scores) for bootstrap intervals.
        oss_image_metrics: compute each image's own AUROC/AUPR/FPR95 (needed by
            ``result(oss_per_image=True)``, the authors' protocol and image rows;
            about 2 ms per 640x480 image with scores).  The scorer turns it off
            when none of those is asked for.
    """

    num_known: int
    class_names: list[str] | None = None
    void_as_unknown: bool = False
    keep_per_image: bool = False
    keep_image_rows: bool = False
    oss_image_metrics: bool = True
    num_images: int = 0
    tp: np.ndarray = field(init=False)
    fp: np.ndarray = field(init=False)
    fn: np.ndarray = field(init=False)
    iou_fixed: list[int] = field(init=False)
    conf: np.ndarray = field(init=False)
    oss_hist: np.ndarray | None = field(init=False, default=None)
    oss_images: int = field(init=False, default=0)
    oss_image_sums: list[int] = field(init=False)
    oss_image_count: int = field(init=False, default=0)
    gs: _GSTotals | None = field(init=False, default=None)
    per_image: list[dict[str, Any]] = field(init=False)
    image_rows: list[tuple[str | None, np.ndarray, np.ndarray | None]] = field(init=False)

    def __post_init__(self) -> None:
        n = self.num_known
        if not isinstance(n, int | np.integer) or not 1 <= n <= 254:
            raise GossInputError(f"number of known classes must be in 1..254, got {n!r}")
        self.num_known = int(n)
        if self.class_names is not None and len(self.class_names) != n:
            raise GossInputError(f"expected {n} class names, got {len(self.class_names)}")
        self.tp = np.zeros(n + 1, dtype=np.int64)
        self.fp = np.zeros(n + 1, dtype=np.int64)
        self.fn = np.zeros(n + 1, dtype=np.int64)
        self.iou_fixed = [0] * (n + 1)
        self.conf = np.zeros((n + 2, n + 2), dtype=np.int64)
        self.oss_image_sums = [0, 0, 0, 0]
        self.per_image = []
        self.image_rows = []

    # ------------------------------------------------------------------ add
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
        """Add one image: ``add_stats(image_stats(...))`` (see :meth:`image_stats`)."""
        self.add_stats(
            self.image_stats(
                gt_sem,
                gt_grp,
                pred_sem,
                pred_grp,
                pred_scores=pred_scores,
                gt_clusters=gt_clusters,
                pred_clusters=pred_clusters,
                stem=stem,
            )
        )

    def image_stats(
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
    ) -> ImageStats:
        """Statistics of one image, without adding them (pure; see :class:`ImageStats`).

        Args:
            gt_sem: uint8 (H, W): 0..N-1 known, N unknown, 255 void.
            gt_grp: integer (H, W) GT group ids, read where gt_sem == N (None if none).
            pred_sem: uint8 (H, W): 0..N-1 known, N unknown, 255 no prediction.
            pred_grp: integer (H, W) predicted group ids, read where pred_sem == N;
                any value, 0 included, is a group id.
            pred_scores: optional uint16 (H, W) unknown-ness (higher = more unknown).
                OSS metrics are reported when every image has scores.
            gt_clusters: optional integer (H, W), 0 = void (GS metrics).
            pred_clusters: optional integer (H, W) class-agnostic cluster ids.
            stem: image name, kept in the statistics (per-image records).

        Raises:
            GossInputError: shape mismatch or values outside 0..N and 255.
        """
        gt_sem = np.asarray(gt_sem)
        pred_sem = np.asarray(pred_sem)
        if gt_sem.dtype != np.uint8 or pred_sem.dtype != np.uint8:
            gt_sem = _as_uint8(gt_sem, "ground-truth")
            pred_sem = _as_uint8(pred_sem, "prediction")
        pq = image_pq_stats(gt_sem, gt_grp, pred_sem, pred_grp, self.num_known)
        hist = None
        oss = None
        if pred_scores is not None:
            pred_scores = np.asarray(pred_scores)
            if pred_scores.shape != gt_sem.shape:
                raise GossInputError(
                    f"shape mismatch: ground truth {gt_sem.shape}, scores {pred_scores.shape}"
                )
            if pred_scores.dtype.kind not in "ub" or pred_scores.dtype.itemsize > 2:
                raise GossInputError(f"scores must be uint8 or uint16, got {pred_scores.dtype}")
            hist = image_histogram(
                gt_sem, pred_scores, self.num_known, void_as_unknown=self.void_as_unknown
            )
            m = image_metrics(hist) if self.oss_image_metrics else None
            if m is not None:
                oss = to_fixed(np.array([m.auroc, m.aupr, m.fpr95_first, m.fpr95_nearest]))
        gs = None
        if gt_clusters is not None and pred_clusters is not None:
            gs = image_gs_stats(np.asarray(gt_clusters), np.asarray(pred_clusters))
        return ImageStats(stem=stem, pq=pq, oss_hist=hist, oss_fixed=oss, gs=gs)

    def add_stats(self, stats: ImageStats) -> None:
        """Add the statistics of one image (from :meth:`image_stats`)."""
        pq = stats.pq
        if pq.tp.shape != self.tp.shape:
            raise ValueError(f"statistics for N={pq.tp.size - 1}, accumulator N={self.num_known}")
        self.num_images += 1
        self.tp += pq.tp
        self.fp += pq.fp
        self.fn += pq.fn
        for i, v in enumerate(pq.iou_fixed):
            if v:
                self.iou_fixed[i] += v
        self.conf += pq.conf
        if stats.oss_hist is not None:
            if self.oss_hist is None:
                self.oss_hist = np.zeros((2, NUM_BINS), dtype=np.int64)
            self.oss_hist += stats.oss_hist
            self.oss_images += 1
            if stats.oss_fixed is not None:
                self.oss_image_sums = [
                    a + int(b)
                    for a, b in zip(self.oss_image_sums, stats.oss_fixed.tolist(), strict=True)
                ]
                self.oss_image_count += 1
        if stats.gs is not None:
            if self.gs is None:
                self.gs = _GSTotals()
            self.gs.add(stats.gs)
        if self.keep_per_image:
            self.per_image.append(self._image_record(stats.stem, pq))
        if self.keep_image_rows:
            from goss_bench.diagnostics.image_stats import image_row

            self.image_rows.append((stats.stem, *image_row(self.num_known, stats)))

    def _image_record(self, stem: str | None, stats: PQImageStats) -> dict[str, Any]:
        n = self.num_known
        sup = (stats.tp + stats.fp + stats.fn) > 0
        den = stats.tp + 0.5 * stats.fp + 0.5 * stats.fn
        pq = np.array(
            [_div(_fixed_to_float(v), d) for v, d in zip(stats.iou_fixed, den, strict=True)]
        )
        known_present = sup[:n]
        return {
            "stem": stem,
            "pq_known_present": float(pq[:n][known_present].mean())
            if known_present.any()
            else None,
            "pq_unknown": float(pq[n]) if sup[n] else None,
            "tp_known": int(stats.tp[:n].sum()),
            "fp_known": int(stats.fp[:n].sum()),
            "fn_known": int(stats.fn[:n].sum()),
            "tp_unknown": int(stats.tp[n]),
            "fp_unknown": int(stats.fp[n]),
            "fn_unknown": int(stats.fn[n]),
        }

    # ---------------------------------------------------------------- merge
    def merge(self, other: GossAccumulator) -> GossAccumulator:
        """Add another accumulator's statistics into this one (returns self)."""
        if other.num_known != self.num_known:
            raise ValueError(f"cannot merge N={other.num_known} into N={self.num_known}")
        if other.void_as_unknown != self.void_as_unknown:
            raise ValueError("cannot merge accumulators with different void_as_unknown")
        self.num_images += other.num_images
        self.oss_image_metrics = self.oss_image_metrics and other.oss_image_metrics
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.iou_fixed = [a + b for a, b in zip(self.iou_fixed, other.iou_fixed, strict=True)]
        self.conf += other.conf
        if other.oss_hist is not None:
            if self.oss_hist is None:
                self.oss_hist = np.zeros((2, NUM_BINS), dtype=np.int64)
            self.oss_hist += other.oss_hist
        self.oss_images += other.oss_images
        self.oss_image_sums = [
            a + b for a, b in zip(self.oss_image_sums, other.oss_image_sums, strict=True)
        ]
        self.oss_image_count += other.oss_image_count
        if other.gs is not None:
            if self.gs is None:
                self.gs = _GSTotals()
            self.gs.add(other.gs)
        self.per_image.extend(other.per_image)
        self.image_rows.extend(other.image_rows)
        return self

    # --------------------------------------------------------------- result
    def result(
        self,
        *,
        average: str = "all",
        lam: float = 0.5,
        fpr95: str = "first",
        oss_per_image: bool = False,
    ) -> ScoreResult:
        """Summarise the accumulated statistics.

        Args:
            average: "all" (every known class counts; a class with no TP/FP/FN
                adds 0; the paper and the authors' evaluator) or "present"
                (panopticapi: only classes with TP+FP+FN > 0).
            lam: GQ = lam * GQ_kn + (1 - lam) * GQ_uk.
            fpr95: "first" (FPR at the first threshold with TPR >= 0.95) or
                "nearest" (hendrycks' nearest-recall rule).
            oss_per_image: average OSS metrics over images (with both known and
                unknown pixels) instead of pooling the pixels of the dataset.
        """
        if average not in AVERAGES:
            raise GossInputError(f"average must be one of {AVERAGES}, got {average!r}")
        if fpr95 not in FPR95_RULES:
            raise GossInputError(f"fpr95 must be one of {FPR95_RULES}, got {fpr95!r}")
        if not 0.0 <= lam <= 1.0:
            raise GossInputError(f"lam must be in [0, 1], got {lam}")
        n = self.num_known
        names = list(self.class_names) if self.class_names else [f"class_{i}" for i in range(n)]
        names.append("unknown")
        ious = self._semantic_iou()
        per_class = []
        for c in range(n + 1):
            tp, fp, fn = int(self.tp[c]), int(self.fp[c]), int(self.fn[c])
            iou_sum = _fixed_to_float(self.iou_fixed[c])
            den = tp + 0.5 * fp + 0.5 * fn
            per_class.append(
                ClassResult(
                    train_id=c,
                    name=names[c],
                    pq=_div(iou_sum, den),
                    sq=_div(iou_sum, tp),
                    rq=_div(tp, den),
                    tp=tp,
                    fp=fp,
                    fn=fn,
                    iou_sum=iou_sum,
                    present=(tp + fp + fn) > 0,
                    iou=ious[c] if c < n else None,
                )
            )
        known = per_class[:n]
        used = known if average == "all" else [c for c in known if c.present]
        k = len(used)
        gq_kn = sum(c.pq for c in used) / k if k else 0.0
        sq_kn = sum(c.sq for c in used) / k if k else 0.0
        rq_kn = sum(c.rq for c in used) / k if k else 0.0
        unk = per_class[n]
        gq = lam * gq_kn + (1.0 - lam) * unk.pq
        valid_iou = [v for v in ious if v is not None]
        return ScoreResult(
            num_known=n,
            num_images=self.num_images,
            average=average,
            lam=lam,
            gq=gq,
            gq_known=gq_kn,
            gq_unknown=unk.pq,
            sq_known=sq_kn,
            rq_known=rq_kn,
            sq_unknown=unk.sq,
            rq_unknown=unk.rq,
            miou=sum(valid_iou) / len(valid_iou) if valid_iou else None,
            num_known_averaged=k,
            per_class=per_class,
            oss=self._oss_result(fpr95, oss_per_image),
            gs=self._gs_result(),
            options={
                "average": average,
                "lam": lam,
                "fpr95": fpr95,
                "oss_per_image": oss_per_image,
                "void_as_unknown": self.void_as_unknown,
            },
            per_image=sorted(self.per_image, key=lambda r: str(r["stem"]))
            if self.keep_per_image
            else None,
        )

    def _semantic_iou(self) -> list[float | None]:
        """Closed-set IoU of each known class (Cityscapes convention).

        TP = conf[k, k]; FN = GT-k pixels predicted as anything else (another
        class, unknown or no prediction); FP = pixels of non-void GT (known or
        unknown) predicted as k.  Predictions on GT void are free.  A class
        counts only when tp + fp + fn > 0 (else None).
        """
        n = self.num_known
        conf = self.conf
        out: list[float | None] = []
        for k in range(n):
            tp = int(conf[k, k])
            fn = int(conf[k, :].sum()) - tp
            fp = int(conf[: n + 1, k].sum()) - tp
            den = tp + fp + fn
            out.append(tp / den if den else None)
        return out

    def _oss_result(self, rule: str, per_image: bool) -> OSSResult | None:
        if self.oss_hist is None:
            return None
        if self.oss_images != self.num_images:
            raise GossInputError(
                f"scores were given for {self.oss_images} of {self.num_images} images; "
                "give scores for every image or for none"
            )
        curve = OSSCurve.from_histogram(self.oss_hist)
        if per_image:
            if not self.oss_image_metrics:
                raise GossInputError(
                    "per-image OSS metrics were not accumulated: create the accumulator "
                    "with oss_image_metrics=True to report them"
                )
            cnt = self.oss_image_count
            s = self.oss_image_sums
            vals: tuple[float | None, ...] = (
                (
                    _fixed_to_float(s[0]) / cnt,
                    _fixed_to_float(s[1]) / cnt,
                    _fixed_to_float(s[2] if rule == "first" else s[3]) / cnt,
                )
                if cnt
                else (None, None, None)
            )
            used = cnt
        elif curve.defined():
            vals = (curve.auroc(), curve.aupr(), curve.fpr_at_tpr(0.95, rule))
            used = self.oss_images
        else:
            vals, used = (None, None, None), 0
        return OSSResult(
            auroc=vals[0],
            aupr=vals[1],
            fpr95=vals[2],
            fpr95_rule=rule,
            pooling="per-image" if per_image else "pooled",
            void_as_unknown=self.void_as_unknown,
            num_positive=curve.num_pos,
            num_negative=curve.num_neg,
            num_images_used=used,
        )

    def _gs_result(self) -> GSResult | None:
        g = self.gs
        if g is None:
            return None
        if g.num_gt == 0 and g.tp + g.fp == 0 and self.num_images == 0:
            return None
        den = g.tp + 0.5 * g.fp + 0.5 * g.fn
        iou_sum = _fixed_to_float(g.iou_fixed)
        return GSResult(
            gq_clu=_div(iou_sum, den),
            sq_clu=_div(iou_sum, g.tp),
            rq_clu=_div(g.tp, den),
            miou_clu=_fixed_to_float(g.best_iou_fixed) / g.num_gt if g.num_gt else None,
            covering=_fixed_to_float(g.cover_fixed) / g.cover_pixels if g.cover_pixels else None,
            tp=g.tp,
            fp=g.fp,
            fn=g.fn,
            num_gt_clusters=g.num_gt,
        )


def _as_uint8(arr: np.ndarray, what: str) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind not in "iub":
        raise GossInputError(f"{what} semantic map must be an integer array, got {arr.dtype}")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) > 255):
        raise GossInputError(f"{what} semantic map has values outside 0..255")
    return arr.astype(np.uint8)
