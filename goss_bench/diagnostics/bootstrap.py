"""Percentile bootstrap over images, and paired comparison of two prediction sets.

A resample draws n images with replacement; image i appears ``w_i`` times, and
the resample's statistics are ``w @ rows`` (exact: every column of
:class:`ImageStats` is an integer and every total stays below 2**53, so the
float64 matrix product is exact whatever the summation order).  Resamples are
drawn in blocks of ``BLOCK`` from ``numpy.random.default_rng(seed)``, so a seed
gives the same intervals on every machine.

* :func:`confidence_intervals`: percentile interval ``[q(a/2), q(1-a/2)]`` of
  each metric over the resamples (numpy's default linear quantile).
* :func:`paired_comparison`: the difference B - A of each metric with a paired
  bootstrap interval (the same resampled images for A and B) and the two-sided
  bootstrap p-value that matches it: ``p = min(1, 2 (1 + min(#{d* <= 0},
  #{d* >= 0})) / (1 + B))`` over the B resampled differences d*, so the
  (1 - a) interval excludes 0 about when p < a.  Identical predictions give
  d = 0 and p = 1; a B better on every resample gives p = 2 / (1 + B).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from goss_bench.diagnostics.image_stats import ImageStats
from goss_bench.diagnostics.summary import OSS_METRICS, metric_names, summarise
from goss_bench.errors import GossInputError

BLOCK = 100
_IMAGE_CHUNK = 1024
_EXACT_LIMIT = float(1 << 53)


@dataclass(frozen=True)
class Interval:
    """A point estimate and its bootstrap interval (None where undefined)."""

    value: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Difference:
    """B - A for one metric: the two values, the difference, its interval and p."""

    metric: str
    a: float | None
    b: float | None
    diff: float | None
    low: float | None
    high: float | None
    p_value: float | None


def _check_options(num: int, level: float) -> None:
    if num < 1:
        raise GossInputError(f"--bootstrap must be >= 1, got {num}")
    if not 0.0 < level < 1.0:
        raise GossInputError(f"confidence level must be in (0, 1), got {level}")


def resample_weights(n: int, num: int, seed: int) -> Iterator[np.ndarray]:
    """Yield float64 (m, n) blocks of image multiplicities, ``num`` rows in all."""
    rng = np.random.default_rng(seed)
    done = 0
    while done < num:
        m = min(BLOCK, num - done)
        idx = rng.integers(0, n, size=(m, n))
        idx += np.arange(m)[:, None] * n
        yield np.bincount(idx.ravel(), minlength=m * n).reshape(m, n).astype(np.float64)
        done += m


def _check_exact(stats: ImageStats) -> None:
    n = stats.num_images
    for name, arr in (("rows", stats.rows), ("oss", stats.oss)):
        if arr is not None and arr.size and float(np.abs(arr).max()) * n >= _EXACT_LIMIT:
            raise GossInputError(
                f"per-image statistics ({name}) too large to resample exactly over {n} images"
            )


def weighted_totals(
    stats: ImageStats, weights: np.ndarray, with_oss: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Column sums of each weighted resample: float64 (m, width), (m, 2, OSS_BINS)."""
    totals = weights @ stats.rows.astype(np.float64)
    oss = None
    if stats.oss is not None and with_oss:
        flat = stats.oss.reshape(stats.num_images, -1)
        acc = np.zeros((weights.shape[0], flat.shape[1]))
        for i in range(0, stats.num_images, _IMAGE_CHUNK):
            acc += weights[:, i : i + _IMAGE_CHUNK] @ flat[i : i + _IMAGE_CHUNK].astype(np.float64)
        oss = acc.reshape(weights.shape[0], *stats.oss.shape[1:])
    return totals, oss


def full_sample(stats: ImageStats) -> dict[str, np.ndarray]:
    """The metrics of the whole table (each a (1,) array)."""
    return summarise(stats, *weighted_totals(stats, np.ones((1, stats.num_images))))


def bootstrap_metrics(stats: ImageStats, num: int = 1000, seed: int = 0) -> dict[str, np.ndarray]:
    """Every metric over ``num`` resamples: name -> float64 (num,)."""
    _check_options(num, 0.5)
    if stats.num_images == 0:
        raise GossInputError("no images to resample")
    _check_exact(stats)
    parts: dict[str, list[np.ndarray]] = {}
    for w in resample_weights(stats.num_images, num, seed):
        for k, v in summarise(stats, *weighted_totals(stats, w)).items():
            parts.setdefault(k, []).append(v)
    return {k: np.concatenate(v) for k, v in parts.items()}


def _value(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


def _percentiles(samples: np.ndarray, level: float) -> tuple[float | None, float | None]:
    ok = samples[np.isfinite(samples)]
    if ok.size == 0:
        return None, None
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(ok, [a, 1.0 - a])
    return float(lo), float(hi)


def confidence_intervals(
    stats: ImageStats, num: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, Interval]:
    """Percentile bootstrap interval of every headline metric."""
    _check_options(num, level)
    point = full_sample(stats)
    samples = bootstrap_metrics(stats, num, seed)
    out = {}
    for name in metric_names(stats):
        lo, hi = _percentiles(samples[name], level)
        out[name] = Interval(_value(point[name][0]), lo, hi)
    return out


def align(a: ImageStats, b: ImageStats) -> None:
    """Raise GossInputError unless A and B cover the same images with the same layout."""
    if a.layout.num_known != b.layout.num_known:
        raise GossInputError(
            f"A has N = {a.layout.num_known} known classes, B has N = {b.layout.num_known}"
        )
    if a.stems != b.stems:
        only_a = sorted(set(a.stems) - set(b.stems))
        only_b = sorted(set(b.stems) - set(a.stems))
        raise GossInputError(
            "A and B were scored on different images "
            f"(only in A: {', '.join(only_a[:5]) or '-'}; only in B: {', '.join(only_b[:5]) or '-'})"
        )
    for key in ("average", "lam", "fpr95", "oss_per_image", "void_as_unknown"):
        if a.options.get(key) != b.options.get(key):
            raise GossInputError(
                f"A and B were scored with different {key}: {a.options.get(key)!r} vs "
                f"{b.options.get(key)!r}"
            )


def common_metrics(a: ImageStats, b: ImageStats) -> list[str]:
    names_b = set(metric_names(b))
    return [m for m in metric_names(a) if m in names_b]


def _p_value(d: np.ndarray) -> float | None:
    ok = d[np.isfinite(d)]
    if ok.size == 0:
        return None
    tail = min(int((ok <= 0).sum()), int((ok >= 0).sum()))
    return min(1.0, 2.0 * (1 + tail) / (1 + ok.size))


def paired_comparison(
    a: ImageStats,
    b: ImageStats,
    num: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    metrics: Sequence[str] | None = None,
) -> list[Difference]:
    """B - A for every metric both tables have, or only ``metrics`` (module docstring)."""
    _check_options(num, level)
    align(a, b)
    _check_exact(a)
    _check_exact(b)
    names = [m for m in common_metrics(a, b) if metrics is None or m in metrics]
    oss = any(m in OSS_METRICS for m in names)
    n = a.num_images
    pa, pb = full_sample(a), full_sample(b)
    diffs: dict[str, list[np.ndarray]] = {m: [] for m in names}
    for w in resample_weights(n, num, seed):
        sa = summarise(a, *weighted_totals(a, w, oss), skip_oss=not oss)
        sb = summarise(b, *weighted_totals(b, w, oss), skip_oss=not oss)
        for m in names:
            diffs[m].append(sb[m] - sa[m])
    observed = {m: float(pb[m][0] - pa[m][0]) for m in names}
    out = []
    for m in names:
        lo, hi = _percentiles(np.concatenate(diffs[m]), level)
        obs = observed[m]
        p = _p_value(np.concatenate(diffs[m])) if np.isfinite(obs) else None
        out.append(
            Difference(
                m, _value(pa[m][0]), _value(pb[m][0]), _value(obs), lo, hi,
                None if p is None else min(1.0, p),
            )
        )
    return out
