"""The fuzz harness: run ``goss-bench`` in-process on a mutated input, classify the outcome.

A case is a function that mutates a fresh copy of a valid fixture and returns
the command line.  Its *expectation* says what must happen:

* ``BAD``: exit 2, an ``error:`` line, no traceback, no output written;
* ``VALID``: exit 0 (and, where a baseline is given, the same score);
* ``EITHER``: exit 0 or 2 (a mutation that may still be a valid file, such as a
  flipped byte inside a PNG chunk that decodes), never a traceback or a hang.

Every run is bounded by ``SIGALRM`` (``RUN_TIMEOUT_S``): a hang fails the case.
:data:`TALLY` counts cases and outcomes per command; tests/fuzz/conftest.py
prints it at the end of the session.
"""

from __future__ import annotations

import contextlib
import io
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from goss_bench.cli import main

RUN_TIMEOUT_S = 30
BAD, VALID, EITHER = "bad", "valid", "either"

TALLY: dict[str, Counter[str]] = defaultdict(Counter)
"""command -> Counter of "bad inputs", "valid inputs", "exit 0", "exit 2", ..."""


class Hang(Exception):
    """The command ran longer than RUN_TIMEOUT_S."""


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    seconds: float
    crashed: BaseException | None = None


@contextlib.contextmanager
def _alarm(seconds: int) -> Iterator[None]:
    def fire(signum: int, frame: object) -> None:
        raise Hang(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run_cli(argv: Sequence[object], timeout: int = RUN_TIMEOUT_S) -> Outcome:
    """``goss-bench argv`` in this process with stdout/stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    t0 = time.monotonic()
    crashed: BaseException | None = None
    code = -1
    with _alarm(timeout), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse usage errors
            code = exc.code if isinstance(exc.code, int) else 2
        except Hang as exc:
            crashed = exc
        except Exception as exc:  # a traceback the user would have seen
            crashed = exc
    return Outcome(code, out.getvalue(), err.getvalue(), time.monotonic() - t0, crashed)


def check(command: str, name: str, expect: str, res: Outcome) -> None:
    """Assert the expectation of one case and count it in TALLY."""
    t = TALLY[command]
    t["bad inputs" if expect == BAD else "valid inputs" if expect == VALID else "maybe-valid inputs"] += 1
    if res.crashed is not None:
        t["hang" if isinstance(res.crashed, Hang) else "traceback"] += 1
        raise AssertionError(f"{command} / {name}: {type(res.crashed).__name__}: {res.crashed}")
    t[f"exit {res.code}"] += 1
    assert "Traceback" not in res.err, f"{command} / {name}: traceback\n{res.err}"
    if expect == BAD:
        assert res.code == 2, f"{command} / {name}: expected exit 2, got {res.code}\n{res.err}"
        assert any(line.startswith("error:") or ": error:" in line for line in res.err.splitlines()), (
            f"{command} / {name}: no error: line\n{res.err}"
        )
    elif expect == VALID:
        assert res.code == 0, f"{command} / {name}: valid input refused\n{res.err}"
    else:
        assert res.code in (0, 2), f"{command} / {name}: exit {res.code}\n{res.err}"
        if res.code == 2:
            assert "error:" in res.err


# ---- PNG mutations ---------------------------------------------------------------------

def _png_bytes(arr: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, format="PNG")
    return buf.getvalue()


def _bomb_header(w: int, h: int) -> bytes:
    """A PNG that declares w x h in IHDR (and holds no real pixel data)."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)) + b"\x00\x00\x00\x00IEND\xaeB`\x82")


def png_mutations(kind: str) -> dict[str, tuple[str, Callable[[Path], None]]]:
    """name -> (expectation, mutate(path)) for a label PNG of ``kind``
    ("semantic" 8-bit, or "groups"/"scores" 8/16-bit)."""
    sixteen_ok = kind != "semantic"

    def replace_with(data: bytes) -> Callable[[Path], None]:
        return lambda p: p.write_bytes(data)

    def truncate(n: int | None) -> Callable[[Path], None]:
        def f(p: Path) -> None:
            data = p.read_bytes()
            p.write_bytes(data[: len(data) // 2 if n is None else n])
        return f

    def resized(h: int, w: int) -> Callable[[Path], None]:
        def f(p: Path) -> None:
            arr = np.asarray(Image.open(p))
            out = np.zeros((h, w), arr.dtype)
            out[: min(h, arr.shape[0]), : min(w, arr.shape[1])] = arr[:h, :w]
            p.write_bytes(_png_bytes(out))
        return f

    def transposed(p: Path) -> None:
        p.write_bytes(_png_bytes(np.ascontiguousarray(np.asarray(Image.open(p)).T)))

    def as_mode(fn: Callable[[np.ndarray], np.ndarray], mode: str | None = None) -> Callable[[Path], None]:
        return lambda p: p.write_bytes(_png_bytes(fn(np.asarray(Image.open(p))), mode))

    def to_dir(p: Path) -> None:
        p.unlink()
        p.mkdir()

    def to_fifo(p: Path) -> None:
        import os

        p.unlink()
        os.mkfifo(p)

    def dangling(p: Path) -> None:
        p.unlink()
        p.symlink_to(p.parent / "does-not-exist.png")

    def loop(p: Path) -> None:
        p.unlink()
        p.symlink_to(p)

    def to_devnull(p: Path) -> None:
        p.unlink()
        p.symlink_to("/dev/null")

    def jpeg(p: Path) -> None:
        buf = io.BytesIO()
        Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(buf, format="JPEG")
        p.write_bytes(buf.getvalue())

    def flip_middle(p: Path) -> None:
        data = bytearray(p.read_bytes())
        i = len(data) // 2
        data[i] ^= 0xFF
        p.write_bytes(bytes(data))

    def removed(p: Path) -> None:
        p.unlink()

    m: dict[str, tuple[str, Callable[[Path], None]]] = {
        "empty file": (BAD, replace_with(b"")),
        "text file": (BAD, replace_with(b"hello, not a png\n")),
        "truncated to 8 bytes": (BAD, truncate(8)),
        "truncated to 20 bytes": (BAD, truncate(20)),
        "truncated to the header": (BAD, truncate(33)),
        "truncated in the middle": (BAD, truncate(None)),
        "byte flipped in the middle": (EITHER, flip_middle),
        "JPEG named .png": (BAD, jpeg),
        "RGB": (BAD, as_mode(lambda a: np.stack([a.astype(np.uint8)] * 3, -1))),
        "RGBA": (BAD, as_mode(lambda a: np.stack([a.astype(np.uint8)] * 4, -1))),
        "1-bit": (BAD, as_mode(lambda a: a > 0)),
        "16-bit": (VALID if sixteen_ok else BAD, as_mode(lambda a: a.astype(np.uint16))),
        "smaller": (BAD, resized(24, 32)),
        "wider": (BAD, resized(48, 80)),
        "transposed": (BAD, transposed),
        "1x1": (BAD, resized(1, 1)),
        "decompression bomb header": (BAD, replace_with(_bomb_header(100000, 100000))),
        "zero-size header": (BAD, replace_with(_bomb_header(0, 0))),
        "a folder": (BAD, to_dir),
        "a FIFO": (BAD, to_fifo),
        "dangling symlink": (BAD, dangling),
        "symlink loop": (BAD, loop),
        "symlink to /dev/null": (BAD, to_devnull),
        "removed": (BAD, removed),
    }
    return m
