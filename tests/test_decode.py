"""The PNG decode path: every mode FORMAT.md allows decodes identically with the
fast codec (imagecodecs) and with Pillow, and every validation keeps its message.

The PNGs are written by a small independent encoder below (filter 0, zlib,
optional Adam7 interlacing, optional ancillary chunks), so neither decoder
checks itself.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from goss_bench import io as gio
from goss_bench.errors import GossInputError
from goss_bench.io import read_label_png

_ADAM7 = ((0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _rows(arr: np.ndarray) -> bytes:
    be = arr.astype(">u2") if arr.dtype == np.uint16 else arr
    return b"".join(b"\x00" + be[y].tobytes() for y in range(arr.shape[0]))


def encode_png(
    arr: np.ndarray,
    *,
    interlace: bool = False,
    palette: bool = False,
    trns: bytes | None = None,
    ancillary: bool = False,
) -> bytes:
    """A grayscale (or palette) PNG of a uint8/uint16 (H, W) array."""
    h, w = arr.shape
    depth = 16 if arr.dtype == np.uint16 else 8
    color = 3 if palette else 0
    out = [b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, int(interlace)))]
    if ancillary:
        out += [_chunk(b"gAMA", struct.pack(">I", 45455)), _chunk(b"tEXt", b"Comment\x00labels"),
                _chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1))]
    if palette:
        out.append(_chunk(b"PLTE", bytes(np.repeat(np.arange(256, dtype=np.uint8), 3))))
    if trns is not None:
        out.append(_chunk(b"tRNS", trns))
    if interlace:
        raw = b"".join(_rows(arr[y0::dy, x0::dx]) for y0, x0, dy, dx in _ADAM7 if arr[y0::dy, x0::dx].size)
    else:
        raw = _rows(arr)
    comp = zlib.compress(raw, 6)
    half = len(comp) // 2  # two IDAT chunks, as real encoders write
    out += [_chunk(b"IDAT", comp[:half]), _chunk(b"IDAT", comp[half:])]
    if ancillary:
        out.append(_chunk(b"tEXt", b"After\x00idat"))
    out.append(_chunk(b"IEND", b""))
    return b"".join(out)


def _cases():
    rng = np.random.default_rng(0)
    a8 = np.kron(rng.integers(0, 40, (9, 11)), np.ones((5, 6), dtype=np.int64)).astype(np.uint8)[:43, :61]
    a8[0, 0] = 255
    a16 = np.kron(rng.integers(0, 65536, (9, 11)), np.ones((5, 6), dtype=np.int64)).astype(np.uint16)[:43, :61]
    tiny = rng.integers(0, 256, (3, 2)).astype(np.uint8)  # smaller than an Adam7 block
    return {
        "L": (a8, {}),
        "L-interlaced": (a8, {"interlace": True}),
        "L-ancillary": (a8, {"ancillary": True}),
        "L-trns": (a8, {"trns": b"\x00\x07"}),
        "L-tiny-interlaced": (tiny, {"interlace": True}),
        "P": (a8, {"palette": True}),
        "P-interlaced-trns": (a8, {"palette": True, "interlace": True, "trns": b"\x00\x10"}),
        "16": (a16, {}),
        "16-interlaced": (a16, {"interlace": True}),
        "16-ancillary-trns": (a16, {"ancillary": True, "trns": b"\x01\x02"}),
    }


CASES = _cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_mode_decodes_like_pillow(tmp_path: Path, monkeypatch, name: str) -> None:
    arr, kw = CASES[name]
    p = tmp_path / f"{name}.png"
    p.write_bytes(encode_png(arr, **kw))
    with Image.open(p) as im:
        pillow = np.asarray(im)
    assert np.array_equal(pillow, arr)  # the encoder is right
    bits = (8, 16)
    fast = read_label_png(p, bits=bits)
    monkeypatch.setattr(gio, "_fast_png_decode", lambda: None)
    slow = read_label_png(p, bits=bits)
    for got in (fast, slow):
        assert got.dtype == (np.uint16 if arr.dtype == np.uint16 else np.uint8)
        assert got.shape == arr.shape
        assert np.array_equal(got, arr)


def test_fast_codec_is_used_for_plain_grayscale(tmp_path: Path, monkeypatch) -> None:
    """With imagecodecs installed, plain grayscale PNGs do not go through Pillow."""
    pytest.importorskip("imagecodecs")
    arr, _ = CASES["16-interlaced"]
    p = tmp_path / "a.png"
    p.write_bytes(encode_png(arr, interlace=True))

    def no_pillow(*a, **k):
        raise AssertionError("Pillow used")

    monkeypatch.setattr(gio.Image, "open", no_pillow)
    assert np.array_equal(read_label_png(p, bits=(16,)), arr)


@pytest.mark.parametrize("fast", [True, False])
def test_validation_messages_with_both_decoders(tmp_path: Path, monkeypatch, fast: bool) -> None:
    if not fast:
        monkeypatch.setattr(gio, "_fast_png_decode", lambda: None)
    arr, _ = CASES["L"]
    good = encode_png(arr)

    def check(data: bytes, pattern: str, **kw) -> None:
        p = tmp_path / "x.png"
        p.write_bytes(data)
        with pytest.raises(GossInputError, match=pattern) as ei:
            read_label_png(p, **kw)
        assert str(p) in str(ei.value)

    check(good[: len(good) // 2], "corrupt or truncated")
    idat = good.index(b"IDAT")
    broken = bytearray(good)
    broken[idat + 10 : idat + 30] = bytes(20)  # zlib data destroyed
    check(bytes(broken), "corrupt or truncated")
    check(b"GIF89a" + good[6:], "not a PNG")
    check(good, "exceeds the limit of 100 pixels", max_pixels=100)
    check(encode_png(CASES["16"][0]), "must be 8-bit grayscale, got 16-bit", bits=(8,))
    rgb = tmp_path / "rgb.png"
    Image.new("RGB", (4, 4)).save(rgb)
    with pytest.raises(GossInputError, match="single-channel grayscale PNG .* got RGB"):
        read_label_png(rgb)
    (tmp_path / "missing").mkdir()
    with pytest.raises(GossInputError, match="cannot read file"):
        read_label_png(tmp_path / "nope.png")
