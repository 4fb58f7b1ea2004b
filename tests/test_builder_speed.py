"""The builder's fast write path: encode_label_png against Pillow, hashes of the
bytes written, each input read once, and build outputs that decode like before."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zlib
from functools import partial
from pathlib import Path

import datagen
import numpy as np
import pytest
from PIL import Image

from goss_bench import io as gio
from goss_bench.builder import build_split
from goss_bench.builder import image as bimage
from goss_bench.errors import GossInputError
from goss_bench.io import (
    decode_png,
    deflate_backend,
    encode_label_png,
    label_png_from_bytes,
    read_label_png,
    write_label_png,
)
from goss_bench.validate.png import check_png_chunks

BACKENDS = ["zlib", "auto"] + (["zlib-ng"] if deflate_backend() == "zlib-ng" else [])


def _pillow(data: bytes) -> tuple[str, np.ndarray]:
    with Image.open(io.BytesIO(data), formats=["PNG"]) as im:
        im.load()
        return im.mode, np.asarray(im)


def _maps(rng: np.random.Generator) -> list[np.ndarray]:
    """Label-map-like arrays of every kind and bit depth, and edge cases."""
    h, w = 37, 53
    blocks = np.kron(rng.integers(0, 6, (5, 7)), np.ones((8, 8), int))[:h, :w]
    sem = np.where(blocks == 5, 255, blocks).astype(np.uint8)  # 0..4 and void
    groups = (blocks * 300).astype(np.uint16)  # 16-bit, high bytes used
    clusters = np.arange(h * w, dtype=np.uint16).reshape(h, w)  # every pixel differs
    return [
        sem,
        groups,
        clusters,
        rng.integers(0, 256, (h, w)).astype(np.uint8),
        rng.integers(0, 65536, (h, w)).astype(np.uint16),
        np.full((h, w), 65535, np.uint16),
        np.zeros((1, 1), np.uint8),
        np.array([[7, 7, 9, 255]], np.uint8),  # one row
        np.array([[1], [65535], [0]], np.uint16),  # one column
        np.asfortranarray(sem),
        groups[::2, ::3],  # a strided view
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_encoder_output_decodes_identically_with_pillow(backend):
    for a in _maps(np.random.default_rng(0)):
        data = encode_label_png(a, backend=backend)
        mode, back = _pillow(data)
        assert mode == ("L" if a.dtype == np.uint8 else "I;16")
        np.testing.assert_array_equal(back, a)
        # goss-bench's own reader (imagecodecs when installed) and Pillow's, from bytes
        np.testing.assert_array_equal(decode_png(data, "x.png"), a)
        np.testing.assert_array_equal(decode_png(data, "x.png", fast=False), a)
        check_png_chunks(data, "x.png")  # every chunk CRC is right
        assert data == encode_label_png(np.array(a, order="C"), backend=backend)  # deterministic


def test_encoder_writes_a_plain_png():
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    data = encode_label_png(a, backend="zlib")
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        chunks.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]))
        pos += 12 + n
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">IIBBBBB", chunks[0][1]) == (4, 3, 8, 0, 0, 0, 0)
    rows = np.frombuffer(zlib.decompress(chunks[1][1]), np.uint8).reshape(3, 5)
    assert (rows[:, 0] == 2).all()  # filter Up on every row
    np.testing.assert_array_equal(np.cumsum(rows[:, 1:], axis=0, dtype=np.uint8), a)


def test_encoder_splits_large_streams_into_several_idat_chunks(monkeypatch):
    a = np.random.default_rng(1).integers(0, 256, (40, 50)).astype(np.uint8)
    monkeypatch.setattr(gio, "_IDAT_MAX", 100)
    data = encode_label_png(a, backend="zlib")
    assert data.count(b"IDAT") > 5
    np.testing.assert_array_equal(_pillow(data)[1], a)
    check_png_chunks(data, "x.png")


def test_encoder_refuses_what_is_not_a_label_map():
    for bad in (np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.float32),
                np.zeros((2, 2), np.int32), np.zeros((0, 4), np.uint8)):
        with pytest.raises(ValueError, match="label map"):
            encode_label_png(bad)
    with pytest.raises(ValueError, match="deflate backend"):
        encode_label_png(np.zeros((2, 2), np.uint8), backend="gzip")


def test_label_png_from_bytes_equals_read_label_png(tmp_path):
    p = tmp_path / "m.png"
    a = np.random.default_rng(2).integers(0, 30, (9, 11)).astype(np.uint8)
    write_label_png(p, a)
    np.testing.assert_array_equal(label_png_from_bytes(p.read_bytes(), p), read_label_png(p))
    with pytest.raises(GossInputError, match="m.png.*must be 16-bit"):
        label_png_from_bytes(p.read_bytes(), p, bits=(16,))
    with pytest.raises(GossInputError, match="m.png: not a PNG"):
        label_png_from_bytes(b"GIF89a" + bytes(40), p)


# --- the builder -------------------------------------------------------------------


@pytest.fixture(scope="module")
def coco_root(tmp_path_factory):
    return datagen.make_coco_stuff(tmp_path_factory.mktemp("coco"), n_train=6, n_val=6, seed=5)


def _pngs(out: Path) -> dict[str, Path]:
    return {str(p.relative_to(out)): p for p in sorted(out.glob("*/*/*.png"))}


def test_manifest_hashes_are_the_hashes_of_the_files(coco_root, tmp_path):
    out = tmp_path / "out"
    build_split("coco", "manual-20-60", coco_root, out)
    files = json.loads((out / "manifest.json").read_text())["files"]
    pngs = _pngs(out)
    assert pngs and set(pngs) <= set(files)
    for rel, p in pngs.items():
        assert files[rel] == hashlib.sha256(p.read_bytes()).hexdigest(), rel


def test_build_outputs_decode_like_pillow_written_maps(coco_root, tmp_path, monkeypatch):
    """Both compressors write maps that Pillow decodes to the arrays the builder
    wrote before (Pillow's encoder), with the same modes; only the bytes differ."""
    ref = tmp_path / "pillow"
    with monkeypatch.context() as m:  # every map encoded by Pillow
        m.setattr(bimage, "encode_label_png", _pillow_encode)
        build_split("coco", "manual-20-60", coco_root, ref)
    ref_pngs = _pngs(ref)
    kinds = {(rel.split("/")[1], Image.open(p).mode) for rel, p in ref_pngs.items()}
    assert kinds == {("semantic", "L"), ("groups", "I;16"), ("clusters", "I;16")}
    builds = {}
    for backend in BACKENDS:
        out = tmp_path / backend
        monkeypatch.setattr(bimage, "encode_label_png", partial(encode_label_png, backend=backend))
        build_split("coco", "manual-20-60", coco_root, out)
        pngs = _pngs(out)
        assert set(pngs) == set(ref_pngs)
        for rel, p in pngs.items():
            mode, arr = _pillow(p.read_bytes())
            ref_mode, ref_arr = _pillow(ref_pngs[rel].read_bytes())
            assert mode == ref_mode, rel
            np.testing.assert_array_equal(arr, ref_arr, err_msg=rel)
        builds[backend] = {rel: p.read_bytes() for rel, p in pngs.items()}
    if "zlib-ng" in builds:  # "auto" is zlib-ng here: the same bytes
        assert builds["auto"] == builds["zlib-ng"]
        assert builds["zlib"] != builds["zlib-ng"]  # the bytes depend on the compressor


def _pillow_encode(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    im = Image.fromarray(arr) if arr.dtype == np.uint8 else Image.frombuffer(
        "I;16", (arr.shape[1], arr.shape[0]), arr.astype("<u2").tobytes())
    im.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def test_each_input_is_read_once_and_outputs_never_read_back(coco_root, tmp_path, monkeypatch):
    reads: list[str] = []
    real = bimage.read_bytes_file

    def counting(path, what="file"):
        reads.append(str(path))
        return real(path, what)

    monkeypatch.setattr(bimage, "read_bytes_file", counting)
    monkeypatch.setattr(gio, "read_bytes_file", counting)  # read_label_png's reader
    monkeypatch.setattr(Path, "read_bytes", _no_read_back(Path.read_bytes, tmp_path))
    summary = build_split("coco", "manual-20-60", coco_root, tmp_path / "out")
    labels = sorted(str(p) for p in (coco_root / "stuffthingmaps_trainval2017").glob("*/*.png"))
    assert sorted(reads) == labels
    assert summary.train_images + summary.test_images > 0


def _no_read_back(real, out_root: Path):  # noqa: ANN001, ANN202
    def read_bytes(self):  # noqa: ANN001, ANN202
        assert not str(self).startswith(str(out_root / "out")) or self.suffix != ".png", self
        return real(self)

    return read_bytes


def test_bad_label_file_still_named_in_the_error(coco_root, tmp_path):
    root = tmp_path / "coco"
    lab = root / "stuffthingmaps_trainval2017" / "val2017"
    lab.mkdir(parents=True)
    (root / "stuffthingmaps_trainval2017" / "train2017").mkdir()
    (lab / "000000000001.png").write_bytes(encode_label_png(np.zeros((4, 4), np.uint8))[:-20])
    with pytest.raises(GossInputError, match=r"000000000001\.png"):
        build_split("coco", "manual-20-60", root, tmp_path / "out", test_images="all")


# --- listing -----------------------------------------------------------------------


def _reference_items(root: Path, require: bool) -> list[tuple[str, str | None, str]]:
    """The listing before issue 16: pathlib glob and one lexists per photo."""
    import os

    labels = root / "stuffthingmaps_trainval2017" / "val2017"
    files = sorted(p for p in labels.glob("*.png") if not p.stem.endswith("_labelTrainIds"))
    out = []
    for f in files:
        photo = root / "val2017" / f"{f.stem}.jpg"
        out.append((f.stem, str(photo) if require or os.path.lexists(photo) else None, str(f)))
    return out


@pytest.mark.parametrize("photos", ["folder", "missing", "file"])
def test_coco_listing_equals_glob_and_lexists(tmp_path, photos):
    from goss_bench.builder.sources import detect_layout, list_items

    root = tmp_path / "coco"
    labels = root / "stuffthingmaps_trainval2017" / "val2017"
    labels.mkdir(parents=True)
    for name in ("000000000002.png", "000000000001.png", ".hidden.png", "x_labelTrainIds.png",
                 "notes.txt", "a.PNG"):
        (labels / name).write_bytes(b"")
    (labels / "dir.png").mkdir()
    if photos == "folder":
        (root / "val2017").mkdir()
        (root / "val2017" / "000000000001.jpg").write_bytes(b"")
        (root / "val2017" / ".hidden.jpg").symlink_to(tmp_path / "nowhere.jpg")  # broken link
    elif photos == "file":
        (root / "val2017").write_bytes(b"")
    layout = detect_layout("coco", "png", root)
    for require in (False, True):
        items = list_items("coco", "png", root, require_images=require, layout=layout)["test"]
        got = [(it.stem, it.image, it.label) for it in items]
        assert got == _reference_items(layout.root, require)
