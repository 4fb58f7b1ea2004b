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

from typing import TYPE_CHECKING, Any

from goss_bench.errors import GossInputError

if TYPE_CHECKING:
    from goss_bench.metrics.accumulator import GossAccumulator
    from goss_bench.result import ScoreResult
    from goss_bench.scoring import score

# Imported on first use (PEP 562), so that `goss-bench` starts without numpy and a
# Ctrl-C during start-up lands in the CLI's handler instead of an import traceback.
_LAZY = {
    "GossAccumulator": "goss_bench.metrics.accumulator",
    "ScoreResult": "goss_bench.result",
    "score": "goss_bench.scoring",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'goss_bench' has no attribute {name!r}")


__all__ = ["GossAccumulator", "GossInputError", "ScoreResult", "__version__", "score"]
