"""Oracle breakdown of GQ: what each stage of a GOSS method costs (METRICS.md).

Three what-if predictions are made from the same files, each fixing one stage
with the ground truth and leaving everything else as predicted; each is scored
by the unchanged scorer.  Maps follow FORMAT.md (uint8 semantic: 0..N-1 known,
N unknown, 255 void / no prediction; integer group ids read where sem == N).

* (a) identification: the predicted unknown mask becomes the GT unknown mask.
* (b) grouping: the correctly identified unknown pixels take the GT groups.
* (c) known classification: GT-known pixels predicted as a known class take
  the GT class.

The transforms are pure functions of one image's maps (``oracle_*``); the
error counts (:func:`image_errors`) and :func:`oracle_breakdown` sum them over
a dataset.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from goss_bench.errors import GossInputError
from goss_bench.io import DEFAULT_MAX_PIXELS, VOID
from goss_bench.metrics.accumulator import GossAccumulator
from goss_bench.metrics.pq import LabelValueError
from goss_bench.metrics.segments import compact_ids, pair_counts
from goss_bench.result import ScoreResult

ORACLES = ("identification", "grouping", "classification")
SPLIT_IOU = 0.1  # a GT group is "split" when >= 2 predicted groups overlap it with IoU > 0.1


def _groups(sem: np.ndarray, grp: np.ndarray | None, n: int, mask: np.ndarray) -> np.ndarray:
    """Compact group index (int64 (H, W)): 0..K-1 where ``mask`` (a subset of sem == N), -1 elsewhere."""
    out = np.full(sem.shape, -1, dtype=np.int64)
    if mask.any():
        if grp is None:
            raise GossInputError("unknown pixels but no group map")
        out[mask] = compact_ids(grp, mask)[0]
    return out


def _majority(src: np.ndarray, dst: np.ndarray, num_src: int) -> np.ndarray:
    """For each src index 0..num_src-1, the dst index it overlaps most (-1 if none).

    src, dst: int64 flat arrays of the same pixels (ties go to the lower dst index).
    """
    best = np.full(num_src, -1, dtype=np.int64)
    if src.size == 0:
        return best
    num_dst = int(dst.max()) + 1
    si, di, cnt = pair_counts(src, dst, num_src, num_dst)
    order = np.lexsort((di, -cnt, si))
    si, di = si[order], di[order]
    first = np.r_[True, si[1:] != si[:-1]]
    best[si[first]] = di[first]
    return best


def oracle_identification(
    gt_sem: np.ndarray, gt_grp: np.ndarray | None, pred_sem: np.ndarray,
    pred_grp: np.ndarray | None, n: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(a) The predicted unknown mask replaced by the GT unknown mask.

    * GT-unknown pixels become unknown.  Those the prediction also called
      unknown keep their predicted group; the others join the predicted group
      that covers most of their GT group's correctly identified pixels, or,
      when no pixel of that GT group was predicted unknown, one new group per
      GT group.
    * GT-known pixels predicted unknown take the GT class (the prediction holds
      no known class for them; the oracle is the upper bound of fixing
      identification).
    * GT-void pixels predicted unknown become "no prediction" (void is free).

    Returns ``(sem uint8, groups int64)``.
    """
    gu, pu = gt_sem == n, pred_sem == n
    sem = pred_sem.copy()
    wrong_known = pu & (gt_sem < n)
    sem[wrong_known] = gt_sem[wrong_known]
    sem[pu & (gt_sem == VOID)] = VOID
    sem[gu] = n
    pc = _groups(pred_sem, pred_grp, n, pu)
    gc = _groups(gt_sem, gt_grp, n, gu)
    kp, kg = int(pc.max()) + 1, int(gc.max()) + 1
    both = gu & pu
    best = _majority(gc[both], pc[both], max(kg, 0))
    new_id = np.where(best >= 0, best, kp + np.arange(max(kg, 0)))
    grp = np.zeros(gt_sem.shape, dtype=np.int64)
    grp[both] = pc[both]
    only_gt = gu & ~pu
    grp[only_gt] = new_id[gc[only_gt]]
    return sem, grp


def oracle_grouping(
    gt_sem: np.ndarray, gt_grp: np.ndarray | None, pred_sem: np.ndarray,
    pred_grp: np.ndarray | None, n: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(b) Within the correctly identified unknown pixels, the groups replaced by GT groups.

    Predicted-unknown pixels outside the GT unknown mask follow the GT group
    that most of their predicted group's correctly identified pixels now have
    (so a group that spills over onto known pixels still spills over), or keep
    their predicted group when it has no correctly identified pixel.
    Semantic values are unchanged.  Returns ``(sem uint8, groups int64)``.
    """
    gu, pu = gt_sem == n, pred_sem == n
    pc = _groups(pred_sem, pred_grp, n, pu)
    gc = _groups(gt_sem, gt_grp, n, gu)
    kp, kg = int(pc.max()) + 1, int(gc.max()) + 1
    both = gu & pu
    best = _majority(pc[both], gc[both], max(kp, 0))
    new_id = np.where(best >= 0, best, kg + np.arange(max(kp, 0)))
    grp = np.zeros(gt_sem.shape, dtype=np.int64)
    grp[both] = gc[both]
    spill = pu & ~gu
    grp[spill] = new_id[pc[spill]]
    return pred_sem.copy(), grp


def oracle_classification(
    gt_sem: np.ndarray, gt_grp: np.ndarray | None, pred_sem: np.ndarray,
    pred_grp: np.ndarray | None, n: int,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(c) GT-known pixels predicted as some known class take the GT class."""
    sem = pred_sem.copy()
    fix = (gt_sem < n) & (pred_sem < n)
    sem[fix] = gt_sem[fix]
    return sem, pred_grp


TRANSFORMS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray | None]]] = {
    "identification": oracle_identification,
    "grouping": oracle_grouping,
    "classification": oracle_classification,
}


@dataclass
class ErrorCounts:
    """Counts by error kind, summed over images (pixels exclude GT void).

    confusion: int64 (N, N) GT known class x predicted known class, pixels.
    """

    num_known: int
    unknown_pixels: int = 0
    unknown_as_known: int = 0
    unknown_as_none: int = 0
    known_pixels: int = 0
    known_as_unknown: int = 0
    gt_groups: int = 0
    split_groups: int = 0
    pred_groups: int = 0
    merged_groups: int = 0
    confusion: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.confusion = np.zeros((self.num_known, self.num_known), dtype=np.int64)

    def add(self, other: ErrorCounts) -> None:
        for name in self.__dataclass_fields__:
            if name != "num_known":
                setattr(self, name, getattr(self, name) + getattr(other, name))

    def top_confusions(self, k: int = 10) -> list[tuple[int, int, int]]:
        """The k largest off-diagonal (gt class, predicted class, pixels), largest first."""
        c = self.confusion.copy()
        np.fill_diagonal(c, 0)
        flat = np.argsort(-c, axis=None, kind="stable")[:k]
        n = self.num_known
        return [(int(i // n), int(i % n), int(c.flat[i])) for i in flat if c.flat[i] > 0]


def image_errors(
    gt_sem: np.ndarray, gt_grp: np.ndarray | None, pred_sem: np.ndarray,
    pred_grp: np.ndarray | None, n: int,
) -> ErrorCounts:
    """Error kinds of one image.

    Split: a GT group overlapped by two or more predicted groups with IoU > 0.1
    each.  Merged: a predicted group overlapping two or more GT groups with
    IoU > 0.1 each.  IoU removes predicted pixels on GT void from the union,
    as in GQ.
    """
    e = ErrorCounts(n)
    gk, gu = gt_sem < n, gt_sem == n
    pk, pu = pred_sem < n, pred_sem == n
    e.unknown_pixels = int(gu.sum())
    e.unknown_as_known = int((gu & pk).sum())
    e.unknown_as_none = int((gu & (pred_sem == VOID)).sum())
    e.known_pixels = int(gk.sum())
    e.known_as_unknown = int((gk & pu).sum())
    both = gk & pk
    key = gt_sem[both].astype(np.int64) * n + pred_sem[both]
    e.confusion = np.bincount(key, minlength=n * n).reshape(n, n).astype(np.int64)
    gc = _groups(gt_sem, gt_grp, n, gu)
    pc = _groups(pred_sem, pred_grp, n, pu)
    kg, kp = int(gc.max()) + 1, int(pc.max()) + 1
    e.gt_groups, e.pred_groups = kg, kp
    if kg and kp:
        sel = gu | pu
        g = np.where(gt_sem[sel] == VOID, kg, np.where(gc[sel] >= 0, gc[sel], kg + 1))
        p = np.where(pc[sel] >= 0, pc[sel], kp)
        gi, pi, cnt = pair_counts(g, p, kg + 2, kp + 1)
        g_area = np.bincount(gi, weights=cnt, minlength=kg + 2)
        p_area = np.bincount(pi, weights=cnt, minlength=kp + 1)
        on_void = gi == kg
        p_void = np.bincount(pi[on_void], weights=cnt[on_void], minlength=kp + 1)
        cand = (gi < kg) & (pi < kp)
        gi, pi, cnt = gi[cand], pi[cand], cnt[cand]
        union = g_area[gi] + p_area[pi] - p_void[pi] - cnt
        hit = cnt > SPLIT_IOU * union
        e.split_groups = int((np.bincount(gi[hit], minlength=kg) >= 2).sum())
        e.merged_groups = int((np.bincount(pi[hit], minlength=kp) >= 2).sum())
    return e


@dataclass
class OracleBreakdown:
    """The actual result, the result under each oracle, and the error counts."""

    actual: ScoreResult
    oracles: dict[str, ScoreResult]
    errors: ErrorCounts

    def gains(self) -> dict[str, float]:
        """GQ under each oracle minus the actual GQ."""
        return {k: r.gq - self.actual.gq for k, r in self.oracles.items()}

    def to_dict(self) -> dict[str, Any]:
        names = [c.name for c in self.actual.per_class]
        parts = ("gq", "gq_known", "gq_unknown", "sq_known", "rq_known", "sq_unknown", "rq_unknown")
        row = lambda r: {k: getattr(r, k) for k in parts}  # noqa: E731
        e = self.errors
        return {
            "actual": row(self.actual),
            "oracles": {
                k: {**row(r), "gain_gq": r.gq - self.actual.gq} for k, r in self.oracles.items()
            },
            "errors": {
                **{k: getattr(e, k) for k in e.__dataclass_fields__ if k not in ("confusion", "num_known")},
                "top_confusions": [
                    {"gt": names[g], "pred": names[p], "pixels": c}
                    for g, p, c in e.top_confusions()
                ],
            },
        }


@dataclass
class _Part:
    accs: dict[str, GossAccumulator]
    errors: ErrorCounts


def _oracle_chunk(job: Any, stems: Sequence[str]) -> _Part:
    from goss_bench.scoring import _read_image

    n = job.gt.num_known
    accs = {
        k: GossAccumulator(num_known=n, class_names=job.gt.class_names)
        for k in ("actual", *ORACLES)
    }
    errors = ErrorCounts(n)
    for stem in stems:
        d = _read_image(job, stem)
        maps = (d["gt_sem"], d["gt_grp"], d["pred_sem"], d["pred_grp"])
        try:
            accs["actual"].add(*maps)
        except LabelValueError as exc:
            path = d["gt_sem_path"] if exc.side == "gt" else d["pred_sem_path"]
            raise GossInputError(f"{path}: {exc}") from None
        for k in ORACLES:
            sem, grp = TRANSFORMS[k](*maps, n)
            accs[k].add(d["gt_sem"], d["gt_grp"], sem, grp)
        errors.add(image_errors(*maps, n))
    return _Part(accs, errors)


def oracle_breakdown(
    pred_dir: str | os.PathLike[str],
    gt_dir: str | os.PathLike[str],
    *,
    num_known: int | None = None,
    workers: int = 1,
    average: str = "all",
    lam: float = 0.5,
    allow_missing: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: bool | Callable[[int, int], None] = False,
) -> OracleBreakdown:
    """Score the prediction and its three oracle variants; count errors by kind."""
    from goss_bench.pool import map_chunks
    from goss_bench.scoring import _Job, resolve_gt, resolve_pred

    gt = resolve_gt(gt_dir, num_known)
    pred = resolve_pred(pred_dir, gt)
    if pred.missing and not allow_missing:
        raise GossInputError(
            f"{pred.root / 'semantic'}: no prediction for {len(pred.missing)} of {len(gt.stems)} "
            f"ground-truth images (e.g. {', '.join(pred.missing[:5])}); pass --allow-missing"
        )
    job = _Job(gt, pred, False, False, False, False, max_pixels)
    total: _Part | None = None
    for part in map_chunks(_oracle_chunk, job, gt.stems, workers=workers, progress=progress,
                           desc="oracles"):
        if total is None:
            total = part
        else:
            for k, acc in part.accs.items():
                total.accs[k].merge(acc)
            total.errors.add(part.errors)
    if total is None:
        raise GossInputError(f"{gt.root}: no images")
    results = {k: acc.result(average=average, lam=lam) for k, acc in total.accs.items()}
    actual = results.pop("actual")
    return OracleBreakdown(actual, results, total.errors)
