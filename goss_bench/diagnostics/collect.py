"""Score a prediction folder and keep its per-image statistics (:class:`ImageStats`).

One pass over the images gives both the exact :class:`ScoreResult` (the
scorer's accumulator) and the per-image table used by the bootstrap,
``compare`` and ``report`` (``GossAccumulator(keep_image_rows=True)``).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from goss_bench.diagnostics.image_stats import OSS_BINS, ImageStats, StatsLayout
from goss_bench.errors import GossInputError
from goss_bench.io import DEFAULT_MAX_PIXELS
from goss_bench.metrics.accumulator import GossAccumulator
from goss_bench.result import ScoreResult

_OPTIONS = ("average", "lam", "fpr95", "oss_per_image", "void_as_unknown")


def table_from_accumulator(acc: GossAccumulator, options: dict) -> ImageStats:
    """The per-image table of an accumulator made with ``keep_image_rows=True`` (sorted by stem)."""
    n = acc.num_known
    has_oss = acc.oss_hist is not None
    has_gs = acc.gs is not None
    layout = StatsLayout(n, has_oss, has_gs)
    kept = sorted(acc.image_rows, key=lambda r: str(r[0]))
    if len(kept) != acc.num_images or any(r[1].size != layout.width for r in kept):
        raise GossInputError(
            "per-image statistics: every image needs the same maps (scores/clusters for all or none)"
        )
    rows = np.array([r[1] for r in kept], dtype=np.int64).reshape(len(kept), layout.width)
    oss = None
    if has_oss:
        oss = np.array([r[2] for r in kept], dtype=np.int32).reshape(len(kept), 2, OSS_BINS)
    return ImageStats(
        layout,
        [str(r[0]) for r in kept],
        rows,
        oss,
        list(acc.class_names) if acc.class_names else None,
        {k: options[k] for k in _OPTIONS},
    )


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
    from goss_bench.scoring import score_and_accumulator

    res, acc = score_and_accumulator(
        pred_dir,
        gt_dir,
        num_known=num_known,
        workers=workers,
        average=average,
        lam=lam,
        allow_missing=allow_missing,
        void_as_unknown=void_as_unknown,
        fpr95=fpr95,
        oss_per_image=oss_per_image,
        per_image=per_image,
        use_scores=use_scores,
        use_clusters=use_clusters,
        max_pixels=max_pixels,
        progress=progress,
        keep_image_rows=True,
    )
    return res, table_from_accumulator(acc, res.options)
