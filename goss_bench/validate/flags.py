"""argparse types for numeric flags: the allowed range is checked when parsing and
stated in ``--help`` (argparse prints ``error: argument --x: ...`` and exits 2).

Usage::

    p.add_argument("--workers", type=int_range(1), default=1,
                   help="worker processes (>= 1, default 1)")
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def _range_text(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"in {lo}..{hi}"
    if lo is not None:
        return f">= {lo}"
    return f"<= {hi}"


def int_range(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` accepting integers in ``lo..hi`` (either bound optional)."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"must be {_range_text(lo, hi)}, got {v}")
        return v

    parse.__name__ = "integer"  # argparse names the type in its messages
    return parse


def float_range(lo: float | None = None, hi: float | None = None) -> Callable[[str], float]:
    """An argparse ``type`` accepting finite floats in ``[lo, hi]``."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"must be a finite number {_range_text(lo, hi)}, got {text}")
        return v

    parse.__name__ = "number"
    return parse



def add_workers_argument(
    p: argparse.ArgumentParser, default: int | None = 1, note: str = ""
) -> None:
    """The ``--workers`` flag, the same in every command (>= 1; ``default`` None means
    all the cores this process may run on)."""
    from goss_bench.pool import default_workers

    d = default if default is not None else default_workers()
    shown = "all cores" if default is None else str(default)
    p.add_argument(
        "--workers",
        type=int_range(1),
        default=d,
        help=f"worker processes (>= 1, default {shown}){note}",
    )


def add_scoring_arguments(p: argparse.ArgumentParser, *, oss: bool = True) -> None:
    """The scoring options shared by ``score``, ``compare``, ``report`` and ``oracle``:
    ``--num-known``, ``--average``, ``--lam``, ``--allow-missing`` and (``oss``) the OSS
    conventions ``--void-as-unknown``, ``--fpr95``, ``--oss-per-image`` (METRICS.md)."""
    from goss_bench.validate.labels import MAX_NUM_KNOWN

    p.add_argument(
        "--num-known", type=int_range(1, MAX_NUM_KNOWN), default=None,
        help=f"N, when GT has no split.json (1..{MAX_NUM_KNOWN})",
    )
    p.add_argument(
        "--average", choices=["all", "present"], default="all",
        help="known-class averaging: all classes of the split (paper, default) or "
        "only classes with TP+FP+FN>0 (panopticapi)",
    )
    p.add_argument(
        "--lam", type=float_range(0.0, 1.0), default=0.5,
        help="GQ = lam*GQ_kn + (1-lam)*GQ_uk (in [0, 1], default 0.5)",
    )
    p.add_argument(
        "--allow-missing", action="store_true",
        help="score GT images without a prediction as empty predictions",
    )
    if not oss:
        return
    p.add_argument(
        "--void-as-unknown", action="store_true",
        help="OSS: count GT void as unknown (the authors' evaluator)",
    )
    p.add_argument(
        "--fpr95", choices=["first", "nearest"], default="first",
        help="FPR95 rule: first threshold with TPR>=0.95 (default) or hendrycks' nearest recall",
    )
    p.add_argument(
        "--oss-per-image", action="store_true",
        help="OSS: average per image (authors) instead of pooling pixels",
    )
