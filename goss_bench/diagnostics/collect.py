"""Score a prediction folder and keep its per-image statistics (:class:`ImageStats`).

One pass over the images gives both the exact :class:`ScoreResult` (the
scorer's own accumulator, merged image by image) and the per-image table used
by the bootstrap, ``compare`` and ``report``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from goss_bench.diagnostics.image_stats import ImageStats, StatsLayout, image_row
from goss_bench.errors import GossInputError
from goss_bench.io import DEFAULT_MAX_PIXELS
from goss_bench.metrics.accumulator import GossAccumulator
from goss_bench.metrics.pq import LabelValueError
from goss_bench.pool import map_chunks
from goss_bench.result import ScoreResult


@dataclass
class _Part:
    acc: GossAccumulator
    stems: list[str]
    rows: list[np.ndarray]
    oss: list[np.ndarray]


def _new_acc(job: Any) -> GossAccumulator:
    return GossAccumulator(
        num_known=job.gt.num_known,
        class_names=job.gt.class_names,
        void_as_unknown=job.void_as_unknown,
        keep_per_image=job.keep_per_image,
    )


def _stats_chunk(job: Any, stems: Sequence[str]) -> _Part:
    from goss_bench.scoring import _read_image

    layout = StatsLayout(job.gt.num_known, job.use_scores, job.use_clusters)
    part = _Part(_new_acc(job), [], [], [])
    for stem in stems:
        d = _read_image(job, stem)
        one = _new_acc(job)
        try:
            one.add(
                d["gt_sem"],
                d["gt_grp"],
                d["pred_sem"],
                d["pred_grp"],
                pred_scores=d.get("scores"),
                gt_clusters=d.get("gt_clusters"),
                pred_clusters=d.get("pred_clusters"),
                stem=stem,
            )
        except LabelValueError as exc:
            path = d["gt_sem_path"] if exc.side == "gt" else d["pred_sem_path"]
            raise GossInputError(f"{path}: {exc}") from None
        row, oss = image_row(layout, one)
        part.stems.append(stem)
        part.rows.append(row)
        if oss is not None:
            part.oss.append(oss)
        part.acc.merge(one)
    return part


def score_with_stats(
    pred_dir: str | os.PathLike[str],
    gt_dir: str | os.PathLike[str],
    *,
    num_known: int | None = None,
    workers: int = 1,
    average: str = "all",
    lam: float = 0.5,
    allow_missing: bool = False,
    void_as_unknown: bool = False,
    fpr95: str = "first",
    oss_per_image: bool = False,
    use_scores: bool | None = None,
    use_clusters: bool | None = None,
    per_image: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: bool | Callable[[int, int], None] = False,
) -> tuple[ScoreResult, ImageStats]:
    """Like :func:`goss_bench.scoring.score`, also returning the per-image table."""
    from goss_bench.scoring import _Job, resolve_gt, resolve_pred

    gt = resolve_gt(gt_dir, num_known)
    pred = resolve_pred(pred_dir, gt)
    if pred.missing and not allow_missing:
        raise GossInputError(
            f"{pred.root / 'semantic'}: no prediction for {len(pred.missing)} of {len(gt.stems)} "
            f"ground-truth images (e.g. {', '.join(pred.missing[:5])}); pass --allow-missing "
            "to score them as empty predictions"
        )
    scores = pred.has_scores if use_scores is None else use_scores
    if scores and not pred.has_scores:
        raise GossInputError(f"{pred.root}: OSS metrics requested but there is no scores/ folder")
    clusters = (pred.has_clusters and gt.has_clusters) if use_clusters is None else use_clusters
    if clusters and not (pred.has_clusters and gt.has_clusters):
        raise GossInputError(
            f"{pred.root}: GS metrics need clusters/ in both prediction and ground truth"
        )
    job = _Job(gt, pred, scores, clusters, void_as_unknown, per_image, max_pixels)
    acc = _new_acc(job)
    stems: list[str] = []
    rows: list[np.ndarray] = []
    oss: list[np.ndarray] = []
    for part in map_chunks(
        _stats_chunk, job, gt.stems, workers=workers, progress=progress, desc="scoring"
    ):
        acc.merge(part.acc)
        stems += part.stems
        rows += part.rows
        oss += part.oss
    res = acc.result(average=average, lam=lam, fpr95=fpr95, oss_per_image=oss_per_image)
    res.options.update(pred_dir=str(pred_dir), gt_dir=str(gt_dir), allow_missing=allow_missing)
    layout = StatsLayout(gt.num_known, scores, clusters)
    order = np.argsort(np.array(stems, dtype=object), kind="stable")
    table = ImageStats(
        layout,
        stems,
        np.array(rows, dtype=np.int64).reshape(len(stems), layout.width),
        np.array(oss, dtype=np.int32) if scores else None,
        gt.class_names,
        {k: res.options[k] for k in ("average", "lam", "fpr95", "oss_per_image", "void_as_unknown")},
    )
    return res, table.subset(order)
