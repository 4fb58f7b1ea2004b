"""Running a per-item function over many items: in-process or with a process pool.

Results come back in completion order; callers key them (by subset and stem)
so that the outputs do not depend on the number of workers.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sized
from typing import Any, TypeVar

IN_FLIGHT_CHUNKS = 4  # chunks per worker handed out ahead of the results taken
T = TypeVar("T")
R = TypeVar("R")


def _worker_start(initializer: Callable[..., None] | None, *initargs: Any) -> None:
    """Pool worker start: the parent alone handles Ctrl-C and SIGTERM.

    Workers ignore SIGINT (a terminal sends it to the whole process group) and
    die quietly on SIGTERM (sent by ``Pool.terminate`` when the parent stops), so
    an interrupted build prints no worker tracebacks.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from goss_bench.allocator import tune_allocator
    from goss_bench.pool import single_native_thread

    tune_allocator()  # per-image temporaries reused from the heap, not re-faulted
    single_native_thread()  # one BLAS/OpenMP thread per worker process
    if initializer is not None:
        initializer(*initargs)


def map_unordered(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    count: int | None = None,
    workers: int = 1,
    progress: bool = False,
    desc: str = "build",
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
    weight: Callable[[R], int] | None = None,
    total_weight: int | None = None,
) -> Generator[R, None, None]:
    """Yield ``fn(item)`` for every item.

    Args:
        fn: a module-level (picklable) function of one item.
        items: the work items: a sequence, or an iterable (a generator) read lazily
            as the workers need items, with ``count`` items (then required).
        workers: 1 runs in this process (``initializer`` is called here first);
            more uses a ``multiprocessing`` pool with ``chunksize`` of up to 8 (small
            chunks keep the workers balanced when image costs differ), handing out
            at most IN_FLIGHT_CHUNKS chunks per worker ahead of the results taken
            (bounded memory when the consumer is slower than the workers).
        progress: show a tqdm bar (only when stderr is a terminal).
        initializer, initargs: called once per worker process.
        weight, total_weight: the progress bar advances by ``weight(result)`` per
            result out of ``total_weight`` (tasks of different cost; honest ETA).
    """
    from tqdm import tqdm

    if count is None:
        if not isinstance(items, Sized):
            raise TypeError("map_unordered needs count= for items without a length")
        count = len(items)
    step: Callable[[R], int] = weight if weight is not None else (lambda _r: 1)
    bar = tqdm(
        total=count if total_weight is None else total_weight,
        unit="img" if weight is None else "",
        desc=desc,
        disable=not (progress and sys.stderr.isatty()),
        dynamic_ncols=True,
    )
    try:
        if workers <= 1 or count < 2:
            if initializer is not None:
                initializer(*initargs)
            for it in items:
                res = fn(it)
                yield res
                bar.update(step(res))
            return
        chunk = max(1, min(8, count // (workers * 16)))
        window = _Window(max(chunk, IN_FLIGHT_CHUNKS * workers * chunk))
        ctx = multiprocessing.get_context()
        with ctx.Pool(workers, _worker_start, (initializer, *initargs)) as pool:
            try:
                for res in pool.imap_unordered(fn, window.feed(items), chunksize=chunk):
                    window.done()
                    yield res
                    bar.update(step(res))
            finally:
                window.close()  # before the pool is terminated: the feeder must not block
    finally:
        bar.close()


class _Window:
    """At most ``limit`` items handed to the pool whose results were not taken yet.

    ``Pool.imap_unordered`` reads its items in a thread as fast as the workers
    take them and queues results without bound; when the workers outpace the
    consumer (a re-run that only hashes files), results would pile up in memory.
    The feeder waits for a free slot instead; it stops waiting when closed.
    """

    def __init__(self, limit: int) -> None:
        self._slots = threading.Semaphore(limit)
        self._closed = threading.Event()

    def feed(self, items: Iterable[T]) -> Iterator[T]:
        for it in items:
            while not self._slots.acquire(timeout=0.05):
                if self._closed.is_set():
                    return
            if self._closed.is_set():
                return
            yield it

    def done(self) -> None:
        self._slots.release()

    def close(self) -> None:
        self._closed.set()
