"""Folder conventions shared by the scorer, export, show, server and baselines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from goss_bench.errors import GossInputError
from goss_bench.io import write_label_png
from goss_bench.layout import read_image_list, resolve_label_folder


def _split_dir(tmp_path, n=3):
    d = tmp_path / "split"
    (d / "test").mkdir(parents=True)
    (d / "split.json").write_text(json.dumps({
        "num_known": n,
        "known": [{"train_id": i, "name": f"c{i}"} for i in reversed(range(n))],
    }))
    write_label_png(d / "test" / "semantic" / "b.png", np.zeros((2, 2), np.uint8))
    write_label_png(d / "test" / "semantic" / "a.png", np.zeros((2, 2), np.uint8))
    return d


def test_split_dir_and_its_test_folder_resolve_alike(tmp_path):
    d = _split_dir(tmp_path)
    for given in (d, d / "test"):
        f = resolve_label_folder(given)
        assert f.root == d / "test" and f.split_dir == d
        assert f.num_known == 3 and f.class_names == ["c0", "c1", "c2"]
        assert f.stems == ["a", "b"]
    with pytest.raises(GossInputError, match="N=3 known classes but --num-known 4"):
        resolve_label_folder(d, 4)


def test_plain_folder_needs_num_known_in_range(tmp_path):
    d = _split_dir(tmp_path) / "test"
    (d.parent / "split.json").unlink()
    with pytest.raises(GossInputError, match="--num-known N"):
        resolve_label_folder(d)
    with pytest.raises(GossInputError, match="1..254"):
        resolve_label_folder(d, 255)
    assert resolve_label_folder(d, 5).split_dir == d


def test_image_list_paths_relative_to_the_split_dir(tmp_path):
    listing = tmp_path / "split" / "test" / "images.txt"
    listing.parent.mkdir(parents=True)
    listing.write_text("a /abs/a.jpg\n\nb val2017/b.jpg\n")
    got = read_image_list(listing, tmp_path / "split")
    assert got == [("a", Path("/abs/a.jpg")),
                   ("b", tmp_path / "split" / "val2017" / "b.jpg")]
    listing.write_text("a a.jpg\nbroken\n")
    with pytest.raises(GossInputError, match=r"images.txt:2: expected '<stem> <image path>'"):
        read_image_list(listing, tmp_path)
    assert read_image_list(tmp_path / "none.txt", tmp_path, required=False) == []
    with pytest.raises(GossInputError, match="image list not found"):
        read_image_list(tmp_path / "none.txt", tmp_path)
