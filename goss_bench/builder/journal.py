"""The record journal of a build in progress: durable progress, read back as a stream.

Each finished image's record is appended to ``.manifest-journal.jsonl`` in the
output folder at once (one JSON line, flushed to the kernel), so a killed build
(even SIGKILL) loses only the images in flight.  Against a machine crash the
journal is also fsynced every couple of seconds, in a background thread: an
fsync can take a few hundred milliseconds on a busy disk (it waits for the
PNGs written meanwhile), and the loop that takes the workers' results must not
wait for it. An
interrupted build (Ctrl-C, SIGTERM) also leaves a manifest with ``"complete":
false``; the next run reuses every record, from the manifest or the journal,
whose input hash and output hashes still match. A complete build removes the
journal.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

JOURNAL = ".manifest-journal.jsonl"
FSYNC_EVERY_S = 2.0


class Journal:
    """Append-only record journal of a build (see the module docstring).

    The first line identifies the build (split hash and options); records of a
    journal written for another build are never reused.
    """

    def __init__(self, out: Path, key: dict[str, Any]) -> None:
        self.path = out / JOURNAL
        self.key = key
        self._fh: IO[str] | None = None
        self._synced = time.monotonic()
        self._sync: threading.Thread | None = None

    def matches(self) -> bool:
        """The journal exists and was written for this build (reads its first line only)."""
        try:
            with open(self.path, encoding="utf-8", errors="replace") as fh:
                first = fh.readline()
        except OSError:
            return False
        return _loads(first) == {"journal": self.key}

    def entries(self) -> Iterator[tuple[tuple[str, str], str]]:
        """((subset, stem), record line) of a previous run's journal for the same build, in
        the order written (a later line for the same image supersedes an earlier one).

        A torn line (the process was killed while writing it) is skipped. Streams the
        file: nothing but the current line is held.
        """
        if not self.matches():
            return
        # errors="replace": a torn multi-byte character makes its line invalid JSON, no more
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            fh.readline()
            for line in fh:
                r = _loads(line)
                if isinstance(r, dict) and isinstance(r.get("subset"), str) and isinstance(
                    r.get("stem"), str
                ):
                    yield (r["subset"], r["stem"]), line.rstrip("\n")

    def open(self, *, fresh: bool) -> None:
        """Append to this build's journal, or (``fresh``, or none matching) start a new one."""
        if fresh or not self.matches():
            tmp = self.path.with_name(self.path.name + ".tmp")
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(json.dumps({"journal": self.key}, sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def append(self, line: str) -> None:
        """Record one finished image (its record line; flushed now, fsynced in the
        background every FSYNC_EVERY_S)."""
        assert self._fh is not None, "open() first"
        self._fh.write(line + "\n")
        self._fh.flush()
        now = time.monotonic()
        if now - self._synced > FSYNC_EVERY_S and (self._sync is None or not self._sync.is_alive()):
            self._synced = now
            self._sync = threading.Thread(
                target=_fsync, args=(self._fh.fileno(),), name="journal-fsync", daemon=True
            )
            self._sync.start()

    def close(self, *, sync: bool = True) -> None:
        """Flush and close (``sync``: fsync first; a background fsync is waited for)."""
        if self._fh is not None:
            self._fh.flush()
            if self._sync is not None:
                self._sync.join()
                self._sync = None
            if sync:
                os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None

    def remove(self) -> None:
        self.close(sync=False)  # about to be deleted: no need to reach the disk
        for p in (self.path, self.path.with_name(self.path.name + ".tmp")):
            try:
                p.unlink()
            except FileNotFoundError:
                pass


def _fsync(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - the next fsync (or close) reports a real failure
        pass


def _loads(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None
