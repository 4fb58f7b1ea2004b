"""Run a per-chunk pure function over many images, in this process or a process pool.

The scorer and the panoptic export both split their images into chunks, run a
module-level function ``fn(job, chunk)`` on each (``job`` is a picklable,
frozen description of the work) and combine the results in order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from goss_bench.progress import ProgressArg, make_progress

J = TypeVar("J")
R = TypeVar("R")


def chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    """Consecutive slices of ``items`` of at most ``size`` elements."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def map_chunks(
    fn: Callable[[J, Sequence[str]], R],
    job: J,
    items: Sequence[str],
    *,
    workers: int = 1,
    progress: ProgressArg = False,
    desc: str = "",
) -> Iterator[R]:
    """Yield ``fn(job, chunk)`` for consecutive chunks of ``items``, in order.

    ``workers`` > 1 runs the chunks in a process pool (about 4 chunks per worker,
    at most 16 items each); an exception in any chunk cancels the rest and is
    raised here.  ``progress`` advances by the chunk's length as each one ends.
    """
    workers = max(1, int(workers))
    size = max(1, min(16, len(items) // (workers * 4) or 1))
    parts = list(chunks(items, size))
    bar = make_progress(progress, len(items), desc)
    try:
        if workers == 1:
            for part in parts:
                yield fn(job, part)
                bar(len(part))
            return
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(fn, job, part) for part in parts]
            try:
                for fut, part in zip(futures, parts, strict=True):
                    yield fut.result()
                    bar(len(part))
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
    finally:
        bar(0, close=True)
