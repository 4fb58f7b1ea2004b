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
