"""Running a per-item function over many items: in-process or with a process pool.

Results come back in completion order; callers key them (by subset and stem)
so that the outputs do not depend on the number of workers.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_unordered(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    workers: int = 1,
    progress: bool = False,
    desc: str = "build",
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
) -> Generator[R, None, None]:
    """Yield ``fn(item)`` for every item.

    Args:
        fn: a module-level (picklable) function of one item.
        items: the work items.
        workers: 1 runs in this process (``initializer`` is called here first);
            more uses a ``multiprocessing`` pool with ``chunksize`` of up to 8 (small
            chunks keep the workers balanced when image costs differ).
        progress: show a tqdm bar (only when stderr is a terminal).
        initializer, initargs: called once per worker process.
    """
    from tqdm import tqdm

    bar = tqdm(
        total=len(items),
        unit="img",
        desc=desc,
        disable=not (progress and sys.stderr.isatty()),
        dynamic_ncols=True,
    )
    try:
        if workers <= 1 or len(items) < 2:
            if initializer is not None:
                initializer(*initargs)
            for it in items:
                yield fn(it)
                bar.update()
            return
        chunk = max(1, min(8, len(items) // (workers * 16)))
        ctx = multiprocessing.get_context()
        with ctx.Pool(workers, initializer, initargs) as pool:
            for res in pool.imap_unordered(fn, items, chunksize=chunk):
                yield res
                bar.update()
    finally:
        bar.close()
