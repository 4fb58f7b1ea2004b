"""Allocator tuning for per-image numpy work (glibc only; a no-op elsewhere).

Scoring and building allocate and free several arrays of a few hundred KiB to
a few MiB per image (decoded maps, masks, temporaries).  glibc's malloc serves
such blocks with ``mmap`` or returns them to the system right after use (its
*dynamic* mmap and trim thresholds), so every image pays page faults again: we
measured 3-10x slower numpy expressions on 640x480 maps (e.g. 0.57 ms instead
of 0.06 ms for the GT group check).  :func:`tune_allocator` fixes the thresholds
so that those blocks are reused from the heap.  Peak memory is unchanged (the
heap never holds more than the largest working set); up to
:data:`TRIM_THRESHOLD` bytes of free heap may stay mapped.

The CLI calls it at start-up and the worker pools in each worker process; it is
never called on import.  Library users may call it once in their own process.
"""

from __future__ import annotations

import ctypes
import sys

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's maximum on 64-bit systems; larger blocks are mmapped
TRIM_THRESHOLD = 64 << 20

_done: bool | None = None


def tune_allocator() -> bool:
    """Make glibc keep freed blocks below 32 MiB in the heap (idempotent).

    Returns:
        True when the thresholds are set (glibc), False where there is no
        ``mallopt`` (macOS, Windows, musl) and nothing was changed.
    """
    global _done
    if _done is not None:
        return _done
    _done = False
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    return _done
