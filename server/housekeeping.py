"""Removing what killed processes leave on disk.

Files a process is still writing carry its owner tag ``<pid>@<host>~`` in
their name: half-received uploads in ``uploads/incoming`` and worker
extraction folders in ``tmp``.  A sweep removes entries whose owner process
is gone (same host), and entries of any host untouched for a day.  Stored
uploads ``uploads/<id>.zip`` without a submission row (a server killed
between moving the file and committing) are removed once they are old enough
that no upload can still be committing them.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import time
from pathlib import Path

log = logging.getLogger("goss.housekeeping")
STALE_S = 24 * 3600.0
UNCOMMITTED_S = 600.0


def owner_tag() -> str:
    """``<pid>@<host>~``: the prefix of this process's temporary files."""
    host = socket.gethostname().replace("~", "-").replace("@", "-").replace(os.sep, "-")
    return f"{os.getpid()}@{host}~"


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _orphaned(entry: Path, now: float) -> bool:
    try:
        age = now - entry.lstat().st_mtime
    except FileNotFoundError:
        return False
    if age > STALE_S:
        return True
    head, sep, _ = entry.name.partition("~")
    pid_s, at, host = head.partition("@")
    if not sep or not at or not pid_s.isdigit():
        return age > UNCOMMITTED_S  # not ours (no tag): only when clearly abandoned
    mine = owner_tag().split("@", 1)[1].rstrip("~")
    return host == mine and not pid_alive(int(pid_s))


def _remove(entry: Path) -> int:
    try:
        if entry.is_dir() and not entry.is_symlink():
            size = sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
            shutil.rmtree(entry, ignore_errors=True)
        else:
            size = entry.lstat().st_size
            entry.unlink(missing_ok=True)
    except OSError:
        return 0
    return size


def sweep_dir(folder: Path) -> tuple[int, int]:
    """Remove orphaned entries of ``folder``; (entries, bytes) removed."""
    if not folder.is_dir():
        return 0, 0
    now = time.time()
    n = freed = 0
    for entry in folder.iterdir():
        if _orphaned(entry, now):
            freed += _remove(entry)
            n += 1
    if n:
        log.warning("removed %d orphaned entries (%d bytes) from %s", n, freed, folder)
    return n, freed


def sweep_uncommitted_uploads(upload_dir: Path, known_ids: set[int]) -> int:
    """Remove ``<id>.zip`` files with no submission row, older than UNCOMMITTED_S."""
    if not upload_dir.is_dir():
        return 0
    now = time.time()
    n = 0
    for f in upload_dir.glob("*.zip"):
        stem = f.stem
        if stem.isdigit() and int(stem) not in known_ids:
            try:
                old = now - f.stat().st_mtime > UNCOMMITTED_S
            except FileNotFoundError:
                continue
            if old:
                f.unlink(missing_ok=True)
                n += 1
    if n:
        log.warning("removed %d stored uploads without a submission from %s", n, upload_dir)
    return n
