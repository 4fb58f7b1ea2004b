"""Paired comparison of two prediction sets on the same images (``goss-bench compare``).

Inputs are two :class:`ImageStats` tables (from prediction folders, or from
score JSON files written with ``goss-bench score --json F --image-stats``).
The result holds, per metric, A, B, B - A with a paired-bootstrap interval and
p-value (:mod:`goss_bench.diagnostics.bootstrap`); per class, PQ of A and B and
their difference (sorted, most improved first); and the images whose image
score (:func:`goss_bench.diagnostics.summary.image_scores`) differs most.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from goss_bench.diagnostics.bootstrap import Difference, paired_comparison
from goss_bench.diagnostics.image_stats import ImageStats
from goss_bench.diagnostics.summary import class_pq, image_scores
from goss_bench.errors import GossInputError


@dataclass(frozen=True)
class ClassDifference:
    train_id: int
    name: str
    pq_a: float
    pq_b: float
    diff: float


@dataclass(frozen=True)
class ImageDifference:
    stem: str
    a: float | None
    b: float | None
    diff: float


@dataclass(frozen=True)
class Comparison:
    """Everything ``goss-bench compare`` prints (values in [0, 1], B - A)."""

    num_images: int
    num_resamples: int
    seed: int
    level: float
    metrics: list[Difference]
    per_class: list[ClassDifference]
    images: list[ImageDifference]

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _names(stats: ImageStats) -> list[str]:
    n = stats.layout.num_known
    names = list(stats.class_names) if stats.class_names else [f"class_{i}" for i in range(n)]
    return [*names, "unknown"]


def per_class_differences(a: ImageStats, b: ImageStats) -> list[ClassDifference]:
    """PQ per class (known and unknown) of A and B, sorted by B - A, largest first.

    Classes with no segment in either A or B are left out.
    """
    ones = np.ones((1, a.num_images))
    ca = class_pq(a, ones @ a.rows.astype(np.float64))
    cb = class_pq(b, ones @ b.rows.astype(np.float64))
    out = []
    for c, name in enumerate(_names(a)):
        if not (ca["present"][0, c] or cb["present"][0, c]):
            continue
        pa, pb = float(ca["pq"][0, c]), float(cb["pq"][0, c])
        out.append(ClassDifference(c, name, pa, pb, pb - pa))
    return sorted(out, key=lambda d: (-d.diff, d.train_id))


def image_differences(a: ImageStats, b: ImageStats, top: int = 10) -> list[ImageDifference]:
    """The ``top`` images with the largest |image score B - image score A|.

    An image where one side has no segment at all counts its score as 0.
    """
    sa, sb = image_scores(a), image_scores(b)
    d = np.nan_to_num(sb) - np.nan_to_num(sa)
    order = np.lexsort((np.arange(d.size), -np.abs(d)))[: max(0, top)]
    return [
        ImageDifference(
            a.stems[i],
            None if np.isnan(sa[i]) else float(sa[i]),
            None if np.isnan(sb[i]) else float(sb[i]),
            float(d[i]),
        )
        for i in order.tolist()
        if d[i] != 0
    ]


def compare_stats(
    a: ImageStats,
    b: ImageStats,
    *,
    num: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    top: int = 10,
) -> Comparison:
    """Compare B against A (see the module docstring)."""
    metrics = paired_comparison(a, b, num=num, seed=seed, level=level)
    return Comparison(
        num_images=a.num_images,
        num_resamples=num,
        seed=seed,
        level=level,
        metrics=metrics,
        per_class=per_class_differences(a, b),
        images=image_differences(a, b, top),
    )


def load_stats_json(path: str | os.PathLike[str]) -> ImageStats:
    """The per-image statistics saved in a score JSON (``score --json F --image-stats``)."""
    p = Path(path)
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GossInputError(f"{p}: cannot read file ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GossInputError(f"{p}: not a JSON file ({exc})") from None
    if not isinstance(d, dict) or "image_stats" not in d:
        raise GossInputError(
            f"{p}: no per-image statistics (key 'image_stats'); write them with "
            "goss-bench score PRED GT --json FILE --image-stats"
        )
    return ImageStats.from_json(d["image_stats"], where=f"{p}: image_stats")

