"""goss-bench: the reference toolkit for Generalized Open-set Semantic Segmentation.

Public API (see FORMAT.md and METRICS.md):

* :func:`score` -- score a prediction folder against a GT folder -> :class:`ScoreResult`.
* :class:`GossAccumulator` -- accumulate per-image statistics from in-memory
  arrays (``add``), merge across processes (``merge``), summarise (``result``).

Conventions: semantic maps are uint8 (H, W) with 0..N-1 = known train ids,
N = unknown and 255 = void (GT) or no prediction (predictions).
"""

from __future__ import annotations

__version__ = "0.1.0"

from goss_bench.errors import GossInputError
from goss_bench.metrics.accumulator import GossAccumulator
from goss_bench.result import ScoreResult
from goss_bench.scoring import score

__all__ = ["GossAccumulator", "GossInputError", "ScoreResult", "__version__", "score"]
