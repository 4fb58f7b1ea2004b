"""The source readers: photo headers, Cityscapes files, COCO JSON, and their errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from goss_bench.builder.readers import (
    image_size,
    load_coco_json,
    rasterize_coco,
    read_cityscapes,
)
from goss_bench.errors import GossInputError
from goss_bench.io import write_label_png

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")


@pytest.mark.parametrize("suffix", ["jpg", "png"])
def test_image_size_is_height_width(tmp_path, suffix):
    arr = (np.random.default_rng(0).random((37, 53, 3)) * 255).astype(np.uint8)
    p = tmp_path / f"x.{suffix}"
    Image.fromarray(arr).save(p)
    assert image_size(p) == (37, 53)


def test_image_size_errors(tmp_path):
    with pytest.raises(GossInputError, match="not found"):
        image_size(tmp_path / "missing.jpg")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(GossInputError, match="bad.jpg"):
        image_size(bad)


def test_read_cityscapes(tmp_path):
    lab = np.array([[7, 26, 26], [1, 24, 24]], np.uint8)
    inst = np.array([[7, 26001, 26], [1, 24000, 24000]], np.uint16)
    write_label_png(tmp_path / "a_gtFine_labelIds.png", lab)
    write_label_png(tmp_path / "a_gtFine_instanceIds.png", inst)
    raw, ids = read_cityscapes(tmp_path / "a_gtFine_labelIds.png",
                               tmp_path / "a_gtFine_instanceIds.png")
    np.testing.assert_array_equal(raw, lab)
    np.testing.assert_array_equal(ids, [[0, 26001, 0], [0, 24000, 24000]])
    assert read_cityscapes(tmp_path / "a_gtFine_labelIds.png")[1] is None
    inst[0, 0] = 8  # disagrees with labelIds
    write_label_png(tmp_path / "b_gtFine_instanceIds.png", inst)
    with pytest.raises(GossInputError, match="b_gtFine_instanceIds.png.*disagree"):
        read_cityscapes(tmp_path / "a_gtFine_labelIds.png", tmp_path / "b_gtFine_instanceIds.png")
    write_label_png(tmp_path / "c_gtFine_instanceIds.png", np.zeros((3, 3), np.uint16))
    with pytest.raises(GossInputError, match="size"):
        read_cityscapes(tmp_path / "a_gtFine_labelIds.png", tmp_path / "c_gtFine_instanceIds.png")


def test_rasterize_order_and_other():
    # stuff grass (124) everywhere, "other" (183) on the left half, a person (1) painted
    # over part of it, then a crowd of cars (3), and an overlapping later person wins
    h, w = 4, 6
    full = [[0, 0, w, 0, w, h, 0, h]]
    left = [[0, 0, 3, 0, 3, h, 0, h]]
    stuff = [
        {"id": 1, "category_id": 124, "segmentation": full},
        {"id": 2, "category_id": 183, "segmentation": left},
    ]
    crowd = np.zeros((h, w), np.uint8)
    crowd[2:, 4:] = 1
    from pycocotools import mask as maskutils

    rle = maskutils.encode(np.asfortranarray(crowd))
    rle["counts"] = rle["counts"].decode("ascii")
    things = [
        {"id": 10, "category_id": 1, "segmentation": [[0, 0, 2, 0, 2, 2, 0, 2]], "iscrowd": 0},
        {"id": 11, "category_id": 3, "segmentation": rle, "iscrowd": 1},
    ]
    raw, inst = rasterize_coco(h, w, stuff, things, with_instances=True)
    person = np.zeros((h, w), bool)
    person[:2, :2] = True  # pycocotools polygon rasterisation of the 2x2 square
    expect = np.full((h, w), 123, np.uint8)
    expect[:, :3] = 255  # "other" is void
    expect[person] = 0
    expect[crowd > 0] = 2
    np.testing.assert_array_equal(raw, expect)
    np.testing.assert_array_equal(inst, np.where(person, 1, 0))  # crowds get no instance id


def test_rasterize_errors():
    with pytest.raises(GossInputError, match="category_id 12"):
        rasterize_coco(2, 2, [], [{"id": 5, "category_id": 12, "segmentation": []}], where="f.json")
    with pytest.raises(GossInputError, match="f.json: annotation 6: cannot decode"):
        rasterize_coco(2, 2, [{"id": 6, "category_id": 124, "segmentation": {"counts": 3}}], [],
                       where="f.json")


def test_load_coco_json_errors(tmp_path):
    p = tmp_path / "instances_val2017.json"
    p.write_text("{not json")
    with pytest.raises(GossInputError, match="instances_val2017.json: COCO annotation file is not valid JSON"):
        load_coco_json(p)
    p.write_text(json.dumps({"images": []}))
    with pytest.raises(GossInputError, match="'categories' must be a list of objects, got missing"):
        load_coco_json(p)
    with pytest.raises(GossInputError, match="not found"):
        load_coco_json(tmp_path / "nope.json")
