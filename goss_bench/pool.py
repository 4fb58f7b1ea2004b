"""Run a per-chunk pure function over many images, in this process, threads or processes.

The scorer, the panoptic export and the diagnostics split their images into
chunks, run a module-level function ``fn(job, chunk)`` on each (``job`` is a
picklable, frozen description of the work) and combine the results in order.

* Memory is flat: at most ``2 * workers`` chunks are in flight; each result is
  handed to the caller (who merges it) before the next chunk is submitted.
* Native thread pools (OpenBLAS, MKL, OpenMP) are limited to one thread per
  worker, so ``workers`` processes use ``workers`` cores.
* ``executor="thread"`` runs the chunks in threads of this process (PNG decoding
  and most numpy work release the GIL; no process start-up or pickling),
  ``"process"`` in a process pool.  :data:`DEFAULT_EXECUTOR` is the one measured
  faster by ``benchmarks/score_bench.py``.
"""

from __future__ import annotations

import os
import signal
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

from goss_bench.allocator import tune_allocator
from goss_bench.progress import ProgressArg, make_progress

J = TypeVar("J")
R = TypeVar("R")

EXECUTORS = ("process", "thread")
# processes: on 500 COCO-like images (640x480, ~85 segments) threads took 1.15x
# the time of processes (the per-image Python work holds the GIL); threads won
# only on short runs (12 Cityscapes-like images: 0.6-0.7x), where the pool's
# start-up and the workers' first page faults are not amortised
# (benchmarks/score_bench.py, "thread/process")
DEFAULT_EXECUTOR = "process"
_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def default_workers() -> int:
    """The number of cores this process may run on (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def single_native_thread() -> AbstractContextManager[Any]:
    """Context limiting BLAS/OpenMP thread pools to one thread (threadpoolctl if installed)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return nullcontext()
    return threadpool_limits(limits=1)


def _init_worker() -> None:
    """Process-pool initializer: one native thread per worker process; the parent
    alone handles Ctrl-C (sent to the whole process group) and SIGTERM."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for name in _THREAD_ENV:
        os.environ[name] = "1"
    tune_allocator()
    single_native_thread()  # threadpool_limits applies on creation; kept for the process life


def _init_thread() -> None:
    """Thread-pool initializer: OpenMP's thread count is a per-thread setting, so
    each worker thread limits its own (BLAS limits are process-wide, set by the caller)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return
    threadpool_limits(limits=1, user_api="openmp")


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
    executor: str | None = None,
) -> Iterator[R]:
    """Yield ``fn(job, chunk)`` for consecutive chunks of ``items``, in order.

    ``workers`` > 1 runs the chunks in a pool (``executor``: "process" or
    "thread", default :data:`DEFAULT_EXECUTOR`); chunks hold at most 16 items,
    about 4 per worker for small inputs, and at most ``2 * workers`` are in
    flight.  An exception in any chunk cancels the rest and is raised here.
    ``progress`` advances by the chunk's length as each one ends.
    """
    kind = executor or DEFAULT_EXECUTOR
    if kind not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {kind!r}")
    workers = max(1, int(workers))
    size = max(1, min(16, len(items) // (workers * 4) or 1))
    parts = chunks(items, size)
    bar = make_progress(progress, len(items), desc)
    try:
        if workers == 1 or len(items) <= size:
            with single_native_thread():
                for part in parts:
                    yield fn(job, part)
                    bar(len(part))
            return
        pool: Executor
        if kind == "thread":
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(max_workers=workers, initializer=_init_thread)
            limits: AbstractContextManager[Any] = single_native_thread()
        else:
            from concurrent.futures import ProcessPoolExecutor  # imported only when used

            pool = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker)
            limits = nullcontext()
        with limits, pool:
            window: deque[tuple[Future[R], int]] = deque()
            try:
                for part in parts:
                    window.append((pool.submit(fn, job, part), len(part)))
                    if len(window) >= 2 * workers:
                        fut, n = window.popleft()
                        yield fut.result()
                        bar(n)
                while window:
                    fut, n = window.popleft()
                    yield fut.result()
                    bar(n)
            except BaseException:
                for f, _ in window:
                    f.cancel()
                raise
    finally:
        bar(0, close=True)
