"""Which PNG filter and compressor should goss-bench write ground-truth maps with? (issue 16)

The builder writes every GT map once; the scorer decodes it on every scoring
run, so the filter is chosen for decoding speed first.  For the GT maps of the
synthetic COCO-like set (``synth_goss.py``; semantic 8-bit, groups and clusters
16-bit), this encodes each map with :func:`goss_bench.io.encode_filtered_rows`
using filter None (0), Sub (1) or Up (2) on every row and zlib-ng or zlib at
several levels, and prints per map kind: file size, encode time and libpng
(imagecodecs) decode time, plus Pillow's adaptive filters (``write_label_png``)
for comparison, with each decode time as a ratio to the builder's choice
(``encode_label_png``: Up, zlib-ng level 1) in the same run.

Usage::

    python benchmarks/png_filters.py [--images 40] [--data DIR]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from score_bench import best_time as best  # noqa: E402
from synth_goss import COCO_LIKE, generate  # noqa: E402

from goss_bench.allocator import tune_allocator  # noqa: E402
from goss_bench.io import PNG_SIGNATURE, _chunk, encode_label_png, read_label_png  # noqa: E402


def filtered_rows(arr: np.ndarray, ftype: int) -> np.ndarray:
    """PNG scanlines of ``arr`` with filter ``ftype`` (0 None, 1 Sub, 2 Up) on every row."""
    h, w = arr.shape
    bpp = arr.dtype.itemsize
    raw = arr.astype(">u2").view(np.uint8) if bpp == 2 else arr
    rows = np.empty((h, w * bpp + 1), np.uint8)
    rows[:, 0] = ftype
    if ftype == 0:
        rows[:, 1:] = raw
    elif ftype == 1:
        rows[:, 1 : 1 + bpp] = raw[:, :bpp]
        np.subtract(raw[:, bpp:], raw[:, :-bpp], out=rows[:, 1 + bpp :])
    else:
        rows[0, 1:] = raw[0]
        np.subtract(raw[1:], raw[:-1], out=rows[1:, 1:])
    return rows


def png(rows: np.ndarray, depth: int, compress: Callable[[bytes], bytes]) -> bytes:
    """A PNG from filtered scanlines and a zlib-stream compressor."""
    h, n = rows.shape
    w = (n - 1) // (depth // 8)
    ihdr = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes((depth, 0, 0, 0, 0))
    return b"".join([PNG_SIGNATURE, _chunk(b"IHDR", ihdr), _chunk(b"IDAT", compress(rows.tobytes())),
                     _chunk(b"IEND", b"")])


def compressors() -> dict[str, Callable[[bytes], bytes]]:
    from imagecodecs import zlibng_encode

    def rle(b: bytes) -> bytes:
        c = zlib.compressobj(1, zlib.DEFLATED, 15, 8, zlib.Z_RLE)
        return c.compress(b) + c.flush()

    out: dict[str, Callable[[bytes], bytes]] = {
        f"zlib-ng {lev}": (lambda b, lev=lev: bytes(zlibng_encode(b, level=lev))) for lev in (1, 2, 6)
    }
    out["zlib 1"] = lambda b: zlib.compress(b, 1)
    out["zlib 1 RLE"] = rle
    return out


def pillow_png(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "goss-bench-score-bench")
    args = ap.parse_args(argv)
    tune_allocator()
    from imagecodecs import png_decode

    cfg = replace(COCO_LIKE, extras=True, name=f"coco_like_x_{args.images}", num_images=args.images)
    root = generate(cfg, args.data / cfg.name)
    stems = sorted(p.name for p in (root / "gt" / "test" / "semantic").iterdir())
    print(f"{'map':10s} {'writer':26s} {'bytes':>8s} {'encode us':>10s} {'decode us':>10s} "
          f"{'decode/builder':>15s}")
    for kind in ("semantic", "groups", "clusters"):
        arrs = [read_label_png(root / "gt" / "test" / kind / s, bits=(8, 16)) for s in stems]
        writers: dict[str, Callable[[np.ndarray], bytes]] = {"builder (Up, zlib-ng 1)": encode_label_png}
        for fname, f in (("Up", 2), ("Sub", 1), ("None", 0)):
            for cname, comp in compressors().items():
                writers[f"{fname}, {cname}"] = (
                    lambda a, f=f, comp=comp: png(filtered_rows(a, f), 8 * a.dtype.itemsize, comp))
        writers["Pillow adaptive, zlib 1"] = pillow_png
        rows = []
        for name, enc in writers.items():
            blobs = [enc(a) for a in arrs]
            assert all(np.array_equal(png_decode(b), a) for b, a in zip(blobs, arrs, strict=True))
            t_enc = best(lambda e=enc, ar=arrs: [e(a) for a in ar], 3) / len(arrs)
            t_dec = best(lambda bl=blobs: [png_decode(b) for b in bl], 3) / len(arrs)
            rows.append((name, float(np.mean([len(b) for b in blobs])), t_enc, t_dec))
        ref = rows[0][3]
        for name, size, t_enc, t_dec in rows:
            print(f"{kind:10s} {name:26s} {size:8.0f} {1e6 * t_enc:10.0f} {1e6 * t_dec:10.0f} "
                  f"{t_dec / ref:15.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
