"""Lines on disk instead of in memory: an external merge sort and atomic line writers.

The builder's parent process handles one record per image; to keep its memory
flat in the number of images it never holds them all. :class:`SortedSpool`
takes ``(key, line)`` pairs in any order, keeps at most ``chunk`` of them in
memory, writes each full chunk as a sorted *run file*, and yields everything
back in key order by merging the runs (``heapq.merge``). :func:`write_lines_atomic`
writes a file from an iterable of lines (temp file + rename) and returns its sha256.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Generator, Iterable, Iterator
from contextlib import ExitStack, closing
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

from goss_bench.io import write_atomic

CHUNK = 4096  # (key, line) pairs held in memory before a sorted run file is written
FAN_IN = 32  # run files merged at once at most (more are first merged into one)

Key = tuple[Any, ...]  # of str / int, compared as Python tuples


class SortedSpool:
    """Lines sorted by key with bounded memory (an external merge sort).

    ``add`` stores a pair; iterating yields all pairs sorted by key, pairs of
    equal keys in the order they were added (the sort and the merge are stable).
    Keys are tuples of str and int; a line is text without a newline. Run files
    ``<name>-<n>.run`` go to ``folder`` (scratch space: the caller removes it).

    The state changes in one assignment after a run file is complete, so an
    exception (Ctrl-C) at any point leaves the spool consistent: iterating it
    then yields every pair whose ``add`` returned.
    """

    def __init__(self, folder: Path, name: str, *, chunk: int | None = None) -> None:
        self.folder = folder
        self.name = name
        self.chunk = max(1, CHUNK if chunk is None else chunk)
        self.runs_written = 0  # run files written so far (merged ones included)
        self._state: tuple[tuple[Path, ...], list[tuple[Key, str]]] = ((), [])

    def add(self, key: Key, line: str) -> None:
        if "\n" in line:
            raise ValueError("a spool line must not contain a newline")
        runs, buf = self._state
        buf.append((key, line))
        if len(buf) >= self.chunk:
            self._spill()

    @property
    def buffered(self) -> int:
        """Pairs held in memory now (at most ``chunk``)."""
        return len(self._state[1])

    @property
    def runs(self) -> int:
        """Run files the spool consists of now."""
        return len(self._state[0])

    def __iter__(self) -> Iterator[tuple[Key, str]]:
        runs, buf = self._state
        return _merge(runs, sorted(buf, key=itemgetter(0)))

    def _spill(self) -> None:
        runs, buf = self._state
        new = self._write_run(sorted(buf, key=itemgetter(0)))
        merged = runs + (new,)
        if len(merged) >= FAN_IN:  # keep the number of open files bounded
            merged = (self._write_run(_merge(merged, [])),)
        self._state = (merged, [])
        for p in set(runs) - set(merged):
            p.unlink(missing_ok=True)
        if new not in merged:
            new.unlink(missing_ok=True)

    def _write_run(self, pairs: Iterable[tuple[Key, str]]) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{self.name}-{self.runs_written:06d}.run"
        self.runs_written += 1
        with open(path, "w", encoding="utf-8") as fh:
            for key, line in pairs:
                fh.write(f"{json.dumps(key)}\t{line}\n")
        return path


def _read_run(path: Path) -> Generator[tuple[Key, str], None, None]:
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            k, _, line = raw[:-1].partition("\t")
            yield tuple(json.loads(k)), line


def _merge(runs: tuple[Path, ...], tail: list[tuple[Key, str]]) -> Iterator[tuple[Key, str]]:
    with ExitStack() as stack:
        # closing each reader closes its file when the merge ends or is abandoned
        streams = [stack.enter_context(closing(_read_run(p))) for p in runs]
        yield from heapq.merge(*streams, tail, key=itemgetter(0))


def write_lines_atomic(path: Path, lines: Iterable[str]) -> str:
    """Write the concatenated ``lines`` (UTF-8) to ``path`` atomically; return its sha256.

    The text goes to a temp file ``.<name>.*.tmp`` in the same folder, renamed
    over ``path`` when complete; on any exception the temp file is removed.
    """
    h = hashlib.sha256()

    def write(fh: IO[bytes]) -> None:
        for line in lines:
            data = line.encode("utf-8")
            h.update(data)
            fh.write(data)

    write_atomic(path, write)
    return h.hexdigest()
