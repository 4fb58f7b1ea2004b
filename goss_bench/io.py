"""Reading and writing GOSS label PNGs, with validation.

All label maps are single-channel PNGs:

* ``semantic``: 8-bit grayscale (Pillow mode ``L``), shape (H, W), dtype uint8.
  Values 0..N-1 are known train ids, N is "unknown", 255 is void / no prediction.
* ``groups`` and ``clusters``: 8- or 16-bit grayscale (mode ``L`` or ``I;16``),
  returned as uint16 (H, W).
* ``scores``: 16-bit grayscale, uint16 (H, W), higher = more likely unknown.

Every reader raises :class:`GossInputError` naming the file for a missing,
non-PNG, corrupt, wrong-mode or oversize file.  Writers are atomic: the data is
written to a temporary file in the same folder and renamed into place.

Two encoders: :func:`write_label_png` (Pillow, adaptive filters; any map) and
:func:`encode_label_png` (filter Up + zlib-ng or zlib, in memory; about 9x
faster on piecewise-constant label maps, used by the dataset builder).
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
import zlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from goss_bench.errors import GossInputError
from goss_bench.validate.files import read_bytes_file, require_regular_file
from goss_bench.validate.png import check_png_chunks

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
VOID = 255
"""Sentinel for void (GT) and "no prediction" (predictions) in semantic maps."""

# A label map larger than this many pixels is refused as a decompression bomb
# unless the caller passes a larger ``max_pixels``.  64 Mpx is 8x a Cityscapes image.
DEFAULT_MAX_PIXELS = 64 * 1024 * 1024

_MODES_8 = {"L", "P"}
_MODES_16 = {"I;16", "I;16B", "I;16L", "I"}


def read_png_header(path: str | os.PathLike[str]) -> tuple[int, int, int, int]:
    """Return ``(width, height, bit_depth, color_type)`` from a PNG's IHDR chunk.

    Reads 33 bytes; never decodes pixel data.  Raises GossInputError when the
    file is missing or is not a PNG.
    """
    p = require_regular_file(path, "label map")  # a FIFO or device would block open()
    try:
        with open(p, "rb") as fh:
            head = fh.read(33)
    except OSError as exc:
        raise GossInputError(f"{p}: cannot read file ({exc.strerror or exc})") from None
    return parse_png_header(head, str(p))


def parse_png_header(head: bytes, name: str) -> tuple[int, int, int, int]:
    """Parse the first 33 bytes of a PNG (signature + IHDR); see read_png_header."""
    if len(head) < 33 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise GossInputError(f"{name}: not a PNG file (bad signature or header)")
    width = int.from_bytes(head[16:20], "big")
    height = int.from_bytes(head[20:24], "big")
    return width, height, head[24], head[25]


def read_label_png(
    path: str | os.PathLike[str],
    *,
    bits: tuple[int, ...] = (8,),
    what: str = "label map",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Decode a single-channel label PNG into a 2-D array.

    Args:
        path: the PNG file.
        bits: accepted bit depths, (8,) for semantic maps, (8, 16) for group,
            cluster and score maps.
        what: a short description used in error messages ("semantic map").
        max_pixels: refuse images with more pixels than this (decompression bomb).

    Returns:
        uint8 (H, W) when the file is 8-bit, else uint16 (H, W).
    """
    p = Path(path)
    data = read_bytes_file(p, what)  # regular files only: a FIFO or device would block
    return label_png_from_bytes(data, p, bits=bits, what=what, max_pixels=max_pixels)


def label_png_from_bytes(
    data: bytes,
    path: str | os.PathLike[str],
    *,
    bits: tuple[int, ...] = (8,),
    what: str = "label map",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """:func:`read_label_png` on the bytes of ``path`` already read (same checks,
    same errors naming ``path``); the builder hashes and decodes one read."""
    p = Path(path)
    width, height, depth, color_type = parse_png_header(data[:33], str(p))
    if width * height > max_pixels:
        raise GossInputError(
            f"{p}: {width}x{height} image exceeds the limit of {max_pixels} pixels "
            "(possible decompression bomb)"
        )
    # colour type 0 = grayscale, 3 = palette (accepted for 8-bit: indices are labels)
    if color_type not in (0, 3):
        kind = {2: "RGB", 4: "grayscale+alpha", 6: "RGBA"}.get(color_type, f"type {color_type}")
        raise GossInputError(
            f"{p}: {what} must be a single-channel grayscale PNG "
            f"({'/'.join(f'{b}-bit' for b in bits)}), got {kind}"
        )
    if depth not in bits:
        raise GossInputError(
            f"{p}: {what} must be {' or '.join(f'{b}-bit' for b in bits)} grayscale, "
            f"got {depth}-bit"
        )
    check_png_chunks(data, str(p))  # Pillow skips IDAT CRCs: a flipped byte would pass
    arr = decode_png(data, p, fast=color_type == 0)
    if arr.ndim != 2:
        raise GossInputError(f"{p}: {what} must be single-channel, got shape {arr.shape}")
    if arr.shape != (height, width):
        raise GossInputError(f"{p}: corrupt PNG (decoded {arr.shape}, header {height}x{width})")
    if depth == 8:
        return arr.astype(np.uint8, copy=False)
    return arr.astype(np.uint16, copy=False)


def _fast_png_decode():  # noqa: ANN202
    """imagecodecs' libpng/zlib-ng decoder, or None when imagecodecs is not installed."""
    try:
        from imagecodecs import png_decode
    except ImportError:
        return None
    return png_decode


def _has_chunk(data: bytes, kind: bytes) -> bool:
    """True when the PNG ``data`` has a chunk ``kind`` before its first IDAT."""
    pos = 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        name = data[pos + 4 : pos + 8]
        if name == kind:
            return True
        if name == b"IDAT":
            return False
        pos += 12 + length
    return False


def decode_png(data: bytes, path: str | os.PathLike[str], *, fast: bool = True) -> np.ndarray:
    """Decode PNG bytes to an array as Pillow's ``np.asarray(Image.open(...))`` would.

    Grayscale PNGs without a transparency chunk are decoded by imagecodecs when it
    is installed (``pip install goss-bench[fast]``; about 1.5x faster); palette or
    transparent PNGs (which imagecodecs expands to colour) and every PNG when it
    is missing are decoded by Pillow.  Both give the same array (tests decode
    every FORMAT.md mode both ways).

    Raises:
        GossInputError: corrupt or truncated data, naming ``path``.
    """
    png_decode = _fast_png_decode() if fast and not _has_chunk(data, b"tRNS") else None
    if png_decode is not None:
        try:
            return np.asarray(png_decode(data))
        except Exception as exc:  # imagecodecs.PngError and the errors of its wrappers
            raise GossInputError(f"{path}: corrupt or truncated PNG ({exc})") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["PNG"]) as im:
                im.load()
                return np.asarray(im)
    except (OSError, SyntaxError, ValueError, zlib.error, Image.DecompressionBombWarning) as exc:
        raise GossInputError(f"{path}: corrupt or truncated PNG ({exc})") from None


DEFLATE_BACKENDS = ("auto", "zlib-ng", "zlib")
_IDAT_MAX = 1 << 30  # PNG chunks hold at most 2**31 - 1 bytes


@cache
def _deflate(backend: str = "auto") -> Callable[[memoryview], bytes]:
    """A zlib-stream compressor of the filtered scanlines.

    ``"zlib-ng"``: imagecodecs' zlib-ng at level 1 (``pip install goss-bench[fast]``);
    ``"zlib"``: Python's zlib at level 1 (about 2x slower); ``"auto"``: zlib-ng when
    imagecodecs has it, else zlib.  Level 1 because the maps are decoded far more
    often than written: higher levels and the run-length strategy make files
    30-50% smaller (they are 10-15 KB per 640x480 map) but inflate up to 2x slower
    (``benchmarks/png_filters.py``).
    """
    if backend not in DEFLATE_BACKENDS:
        raise ValueError(f"unknown deflate backend {backend!r}; expected one of {DEFLATE_BACKENDS}")
    if backend != "zlib":
        try:
            import imagecodecs

            if not imagecodecs.ZLIBNG.available:
                raise ImportError("imagecodecs was built without zlib-ng")
            zlibng_encode = imagecodecs.zlibng_encode
        except (ImportError, AttributeError):
            if backend == "zlib-ng":
                raise
        else:
            def fast(buf: Any) -> bytes:  # imagecodecs reads any buffer
                return bytes(zlibng_encode(buf, level=1))

            return fast

    def stdlib(buf: memoryview) -> bytes:
        return zlib.compress(buf, 1)

    return stdlib


def deflate_backend() -> str:
    """The compressor :func:`encode_label_png` uses here: ``"zlib-ng"`` or ``"zlib"``."""
    try:
        _deflate("zlib-ng")
    except (ImportError, AttributeError):
        return "zlib"
    return "zlib-ng"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        len(data).to_bytes(4, "big") + kind + data
        + zlib.crc32(data, zlib.crc32(kind)).to_bytes(4, "big")
    )


def encode_label_png(array: np.ndarray, *, backend: str = "auto") -> bytes:
    """Encode a 2-D uint8 or uint16 label map as an 8- or 16-bit grayscale PNG.

    A plain, standard PNG (IHDR, IDAT, IEND; no interlacing, no ancillary chunks)
    that Pillow, libpng and OpenCV decode to ``array``.  Every scanline uses PNG
    filter 2 (Up: the difference to the pixel above), which turns the rows of
    label maps that repeat the previous one into zeros, then one zlib stream:
    about 9x faster than Pillow's adaptive filters at ``compress_level=1`` with
    zlib-ng (``backend="auto"`` when imagecodecs is installed), 3x with Python's
    zlib, and smaller files on label maps.  Up rather than Sub (the left
    neighbour) because libpng decodes Up-filtered rows 1.3-1.8x faster and the
    scorer decodes ground truth far more often than the builder writes it
    (``benchmarks/build_bench.py`` prints both).

    The bytes depend on the compressor (``backend``; :func:`deflate_backend`
    says which one "auto" picks) and its version, never on anything else: the
    same array gives the same bytes in every process.  Use
    :func:`write_label_png` (Pillow's adaptive filters) for smooth maps such as
    scores.

    Raises:
        ValueError: not 2-D, an empty array, or a dtype other than uint8/uint16.
    """
    arr = np.asarray(array)
    if arr.ndim != 2:
        raise ValueError(f"label map must be 2-D, got shape {arr.shape}")
    if arr.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"label map must be uint8 or uint16, got {arr.dtype}")
    h, w = arr.shape
    if h == 0 or w == 0:
        raise ValueError(f"label map has no pixels (shape {arr.shape})")
    bpp = arr.dtype.itemsize
    if bpp == 2:  # PNG stores 16-bit samples big-endian; filters work on bytes
        be = np.empty((h, w), ">u2")
        be[...] = arr
        raw = be.view(np.uint8)
    else:
        raw = arr
    rows = np.empty((h, w * bpp + 1), np.uint8)
    rows[:, 0] = 2  # filter type Up (row 0: the row above counts as zeros)
    rows[0, 1:] = raw[0]
    np.subtract(raw[1:], raw[:-1], out=rows[1:, 1:])
    return encode_filtered_rows(rows, 8 * bpp, backend=backend)


def encode_filtered_rows(rows: np.ndarray, bit_depth: int, *, backend: str = "auto") -> bytes:
    """A grayscale PNG from its filtered scanlines (the last step of :func:`encode_label_png`).

    Args:
        rows: uint8 (H, W * bit_depth / 8 + 1), C-contiguous: each row is a PNG
            filter type byte (0..4) followed by the row's filtered bytes (16-bit
            samples big-endian), as the PNG specification defines them.
        bit_depth: 8 or 16.
    """
    if bit_depth not in (8, 16):
        raise ValueError(f"bit depth must be 8 or 16, got {bit_depth}")
    h, n = rows.shape
    w, rest = divmod(n - 1, bit_depth // 8)
    if rows.dtype != np.uint8 or not rows.flags.c_contiguous or h == 0 or w == 0 or rest:
        raise ValueError(f"not the filtered rows of a {bit_depth}-bit map: {rows.dtype} {rows.shape}")
    if rows[:, 0].max() > 4:
        raise ValueError(f"filter types must be 0..4, got {int(rows[:, 0].max())}")
    data = _deflate(backend)(rows.data)
    ihdr = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes((bit_depth, 0, 0, 0, 0))
    parts = [PNG_SIGNATURE, _chunk(b"IHDR", ihdr)]
    parts += [_chunk(b"IDAT", data[i : i + _IDAT_MAX]) for i in range(0, len(data), _IDAT_MAX)]
    parts.append(_chunk(b"IEND", b""))
    return b"".join(parts)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: Path, write: Callable[[Any], object]) -> None:
    """Write ``path`` atomically: ``write(fh)`` fills a temp file ``.<name>.*.tmp`` in
    the same folder (binary mode), renamed over ``path`` when it returns; on any
    exception the temp file is removed and ``path`` is untouched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; use the usual mode
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_label_png(
    path: str | os.PathLike[str], array: np.ndarray, *, compress_level: int = 1
) -> None:
    """Atomically write a 2-D uint8 or uint16 array as an 8- or 16-bit grayscale PNG."""
    arr = np.asarray(array)
    if arr.ndim != 2:
        raise ValueError(f"label map must be 2-D, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        im = Image.fromarray(arr)
    elif arr.dtype == np.uint16:
        im = Image.fromarray(np.ascontiguousarray(arr))
        if im.mode != "I;16":
            im = Image.frombuffer("I;16", (arr.shape[1], arr.shape[0]), arr.astype("<u2").tobytes())
    else:
        raise ValueError(f"label map must be uint8 or uint16, got {arr.dtype}")
    write_atomic(Path(path), lambda fh: im.save(fh, format="PNG", compress_level=compress_level))


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Atomically write ``data`` to ``path`` (temp file in the same folder + rename)."""
    write_atomic(Path(path), lambda fh: fh.write(data))


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Atomically write UTF-8 text to ``path``."""
    write_bytes_atomic(path, text.encode("utf-8"))
