"""``goss-bench stats`` (per-class image counts) and make-split from its output."""

from __future__ import annotations

import csv

import datagen
import numpy as np
import pytest
from PIL import Image

from goss_bench.builder.selection import manual_things
from goss_bench.builder.stats import compute_stats, read_image_counts
from goss_bench.cli import main
from goss_bench.datasets import coco
from goss_bench.errors import GossInputError
from goss_bench.splits import load_split

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")


@pytest.fixture(scope="module")
def coco_root(tmp_path_factory):
    return datagen.make_coco_stuff(tmp_path_factory.mktemp("coco"), n_train=10, n_val=6, seed=7)


def _count_images(root, pattern):
    """class value -> (train images, test images) containing it, straight from the PNGs."""
    out: dict[int, list[int]] = {}
    for i, sub in enumerate(pattern):
        for p in sorted(root.glob(sub)):
            for v in np.unique(np.asarray(Image.open(p))).tolist():
                out.setdefault(v, [0, 0])[i] += 1
    return out


@pytest.mark.parametrize("source", ["png", "json"])
def test_coco_stats_count_images_per_class(coco_root, source):
    stats = compute_stats("coco", coco_root, source=source, workers=2 if source == "json" else 1)
    expect = _count_images(coco_root, ["stuffthingmaps_trainval2017/train2017/*.png",
                                       "stuffthingmaps_trainval2017/val2017/*.png"])
    assert [s.source_id for s in stats] == [c.id for c in coco.evaluable()]
    for s in stats:
        tr, te = expect.get(s.source_id - 1, [0, 0])
        assert (s.images_train, s.images_test, s.images) == (tr, te, tr + te), s.name
        assert s.supercategory == coco.by_id()[s.source_id].supercategory
    assert sum(s.images > 0 for s in stats) > 10


def test_cityscapes_stats(tmp_path):
    root = datagen.make_cityscapes(tmp_path / "cs", n_train=3, n_val=2, seed=3)
    stats = {s.name: s for s in compute_stats("cityscapes", root)}
    expect = _count_images(root, ["gtFine/train/*/*_labelIds.png", "gtFine/val/*/*_labelIds.png"])
    assert len(stats) == 19
    assert (stats["road"].images_train, stats["road"].images_test) == tuple(expect[7])
    labels = [np.asarray(Image.open(p)) for p in root.glob("gtFine/*/*/*_labelIds.png")]
    assert stats["car"].pixels == sum(int((a == 26).sum()) for a in labels)


def test_stats_cli_then_manual_split(coco_root, tmp_path, capsys):
    csv_path = tmp_path / "counts.csv"
    assert main(["stats", "--dataset", "coco", "--root", str(coco_root), "--out", str(csv_path),
                 "--workers", "1", "--no-progress"]) == 0
    assert "most frequent" in capsys.readouterr().out
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 171 and {"source_id", "images", "images_train"} <= set(rows[0])
    counts = read_image_counts(csv_path)
    out = tmp_path / "mine.json"
    assert main(["make-split", "--dataset", "coco", "--manual-things", "14", "--stats",
                 str(csv_path), "--out", str(out)]) == 0
    sp = load_split(out)
    assert sp.name == "manual-14-66"
    assert [c.source_id for c in sp.known if c.kind == "thing"] == manual_things("coco", counts, 14)
    assert sum(c.kind == "stuff" for c in sp.known) == 91


def test_stats_reader_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(GossInputError, match="bad.csv"):
        read_image_counts(bad)
    with pytest.raises(GossInputError, match="not found"):
        compute_stats("coco", tmp_path / "nowhere")
