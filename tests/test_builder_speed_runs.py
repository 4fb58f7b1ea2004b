"""Run-length processing of raw maps and the JPEG header reader, against the
pixel route (ndimage per class, lookup tables) and Pillow."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from goss_bench.builder import core
from goss_bench.builder.readers import image_size, jpeg_size
from goss_bench.builder.runs import run_components, runs_of
from goss_bench.errors import GossInputError
from goss_bench.splits import Rules, load_split
from goss_bench.validate.photos import photo_size


def _raw(rng, values, shape, cell):
    coarse = rng.choice(values, size=(shape[0] // cell + 1, shape[1] // cell + 1))
    raw = np.kron(coarse, np.ones((cell, cell), int))[: shape[0], : shape[1]]
    noise = rng.random(shape) < 0.05
    raw[noise] = rng.choice(values, size=int(noise.sum()))
    return raw.astype(np.uint8)


def _cases():
    rng = np.random.default_rng(7)
    values = np.array([0, 1, 3, 123, 150, 255, 1, 3])
    maps = [_raw(rng, values, shape, cell)
            for shape, cell in [((30, 41), 3), ((17, 9), 2), ((1, 25), 2), ((25, 1), 2), ((40, 40), 7)]]
    maps += [np.full((6, 5), 255, np.uint8), np.full((6, 5), 3, np.uint8),
             np.eye(12, dtype=np.uint8) * 3, (np.indices((9, 9)).sum(0) % 2 * 3).astype(np.uint8)]
    return maps


def test_runs_paint_back_the_map_and_count_its_values():
    for raw in _cases():
        runs = runs_of(raw, max_fraction=1)
        assert runs is not None
        np.testing.assert_array_equal(runs.paint(runs.values), raw)
        np.testing.assert_array_equal(runs.histogram(), core.raw_histogram(raw))
        assert runs.lengths.min() >= 1 and runs.lengths.sum() == raw.size
        assert (runs.starts[1:] > runs.starts[:-1]).all()


@pytest.mark.parametrize("conn", [4, 8])
def test_run_components_equal_ndimage_per_class(conn):
    t = core.make_tables(load_split("manual-20-60", "coco"))
    struct = core.structure(conn)
    select = t.cluster.copy()
    select[150] = True  # a value that is no class of the split
    for raw in _cases():
        runs = runs_of(raw, max_fraction=1)
        assert runs is not None
        label, cls = run_components(runs, select, conn)
        want, want_cls = core.components_by_class_ndimage(raw, select, struct)
        np.testing.assert_array_equal(runs.paint(label.astype(np.uint16)), want)
        np.testing.assert_array_equal(cls, want_cls)
        got, got_cls = core.components_by_class(raw, select, struct)  # public entry point
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got_cls, want_cls)


def test_noise_like_maps_take_the_pixel_route_with_the_same_result():
    rng = np.random.default_rng(3)
    t = core.make_tables(load_split("manual-20-60", "coco"))
    raw = rng.choice(np.array([0, 1, 3, 123, 255], np.uint8), size=(20, 30))
    assert runs_of(raw) is None  # more than one run per 8 pixels
    rules = Rules(connectivity=8)
    slow = core.convert_test(raw, t, rules)  # pixel route (no runs)
    fast = core.convert_test(raw, t, rules, runs=runs_of(raw, max_fraction=1))
    for a, b in ((slow.semantic, fast.semantic), (slow.groups, fast.groups),
                 (slow.clusters, fast.clusters)):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    np.testing.assert_array_equal(core.convert_train(raw, t),
                                  core.convert_train(raw, t, runs_of(raw, max_fraction=1)))


def test_scan_histogram_equals_scan():
    t = core.make_tables(load_split("manual-20-60", "coco"))
    for raw in [*_cases(), np.array([[0, 200]], np.uint8), np.array([[1, 0]], np.uint8)]:
        assert core.scan_histogram(core.raw_histogram(raw), t) == core.scan(raw, t)


def test_run_components_refuse_other_connectivities():
    runs = runs_of(np.zeros((2, 2), np.uint8), max_fraction=1)
    assert runs is not None
    with pytest.raises(ValueError, match="connectivity"):
        run_components(runs, np.ones(256, bool), 6)


# --- JPEG headers ------------------------------------------------------------------


def _jpeg(mode="RGB", size=(37, 21), **kw) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, "JPEG", **kw)
    return buf.getvalue()


@pytest.mark.parametrize("mode,kw", [
    ("RGB", {}), ("L", {}), ("CMYK", {}), ("RGB", {"progressive": True}),
    ("RGB", {"optimize": True}), ("RGB", {"exif": b"Exif\x00\x00" + bytes(30)}),
    ("RGB", {"quality": 100, "subsampling": 0}), ("RGB", {"icc_profile": b"x" * 3000}),
])
def test_jpeg_size_equals_pillow(tmp_path, mode, kw):
    data = _jpeg(mode, **kw)
    assert jpeg_size(data) == (21, 37)
    p = tmp_path / "a.jpg"
    p.write_bytes(data)
    assert image_size(p) == photo_size(p) == (21, 37)


def test_jpeg_size_declines_what_it_does_not_know():
    good = _jpeg()
    sof = good.index(b"\xff\xc0")
    dqt = good.index(b"\xff\xdb")
    twelve_bit = good[: sof + 4] + b"\x0c" + good[sof + 5 :]
    two_layers = good[: sof + 9] + b"\x02" + good[sof + 10 :]
    # a quantization table one byte short (Pillow: "bad quantization table marker")
    short_dqt = good[:dqt] + b"\xff\xdb\x00\x42" + good[dqt + 4 : dqt + 68] + good[dqt + 69 :]
    two_frames = good[:sof] + good[sof : sof + 19] + good[sof:]
    for bad in (b"", b"\xff\xd8", good[:sof], good[:100], b"\x89PNG\r\n\x1a\n" + good[8:],
                twelve_bit, two_layers, short_dqt, two_frames, good.replace(b"\xff\xc4", b"\xff\x02", 1)):
        assert jpeg_size(bad) is None


def test_image_size_keeps_photo_size_errors(tmp_path):
    good = _jpeg()
    sof, dqt = good.index(b"\xff\xc0"), good.index(b"\xff\xdb")
    cases = {
        "empty.jpg": good[: sof + 5] + b"\x00\x00\x00\x00" + good[sof + 9 :],  # 0x0
        "huge.jpg": good[: sof + 5] + b"\xff\xff\xff\xff" + good[sof + 9 :],  # 4 Gpx
        "cut.jpg": good[:sof],
        "dqt.jpg": good[:dqt] + b"\xff\xdb\x00\x42" + good[dqt + 4 : dqt + 68] + good[dqt + 69 :],
        "text.jpg": b"not an image at all",
    }
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(GossInputError) as want:
            photo_size(p)
        with pytest.raises(GossInputError) as got:
            image_size(p)
        assert str(got.value) == str(want.value)
        assert name in str(got.value)


def test_image_size_refuses_a_fifo_without_blocking(tmp_path):
    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)
    with pytest.raises(GossInputError, match="FIFO"):
        image_size(fifo)


# --- encoding --------------------------------------------------------------------


def test_encode_filtered_rows_refuses_wrong_rows():
    from goss_bench.io import encode_filtered_rows

    with pytest.raises(ValueError, match="bit depth"):
        encode_filtered_rows(np.ones((2, 5), np.uint8), 4)
    for bad, depth in ((np.ones((2, 4), np.uint8), 16), (np.ones((0, 5), np.uint8), 8),
                       (np.ones((2, 1), np.uint8), 8), (np.ones((2, 5), np.uint16), 8),
                       (np.ones((5, 2), np.uint8).T, 8)):
        with pytest.raises(ValueError, match="filtered rows"):
            encode_filtered_rows(bad, depth)
    with pytest.raises(ValueError, match="filter types must be 0..4"):
        encode_filtered_rows(np.full((2, 5), 5, np.uint8), 8)
