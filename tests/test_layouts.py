"""Dataset layouts as users have them: each builds the same split, byte for byte.

One generated COCO-Stuff copy is rearranged into every layout the builder
knows (COCO-Stuff README / mmseg, mmseg's ``*_labelTrainIds.png`` converted by
an independent table, detectron2, MaskFormer's contiguous maps, all zips in one
folder, goss-bench 0.1), with and without photos; Cityscapes with and without
``gtFine/train``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import datagen
import numpy as np
import pytest
from PIL import Image

from goss_bench.builder import build_split
from goss_bench.cli import main
from goss_bench.io import write_label_png

# COCO-Stuff README: thing ids never annotated in COCO 2017; mmseg's clsID_to_trID
# numbers the remaining 171 classes 0..170 in id order (keys are PNG values = id - 1)
UNANNOTATED = {12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 91}
SUBS = ("train2017", "val2017")


def png_to_contiguous() -> np.ndarray:
    lut = np.full(256, 255, np.uint8)
    for rank, cid in enumerate(i for i in range(1, 183) if i not in UNANNOTATED):
        lut[cid - 1] = rank
    return lut


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return datagen.make_coco_stuff(tmp_path_factory.mktemp("coco"), n_train=6, n_val=6, seed=11)


# layout -> (label folder, photo folder, contiguous?, label suffix)
LAYOUTS = {
    "coco-stuff": ("annotations/{s}", "images/{s}", False, ""),
    "mmseg-trainids": ("annotations/{s}", "images/{s}", True, "_labelTrainIds"),
    "detectron2": ("stuffthingmaps/{s}", "{s}", False, ""),
    "detectron2-contiguous": ("stuffthingmaps_detectron2/{s}", "{s}", True, ""),
    "goss-bench": ("stuffthingmaps_trainval2017/{s}", "{s}", False, ""),
    "flat": ("{s}", "{s}", False, ""),
}


def make_layout(base: Path, dest: Path, name: str, photos: bool = True,
                subs: tuple[str, ...] = SUBS) -> Path:
    labels, photo_dir, contiguous, suffix = LAYOUTS[name]
    lut = png_to_contiguous()
    for s in subs:
        for f in sorted((base / "stuffthingmaps_trainval2017" / s).glob("*.png")):
            out = dest / labels.format(s=s) / f"{f.stem}{suffix}.png"
            if contiguous:
                write_label_png(out, lut[np.asarray(Image.open(f))])
            else:
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, out)
            if photos:
                p = dest / photo_dir.format(s=s) / f"{f.stem}.jpg"
                p.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(base / s / f"{f.stem}.jpg", p)
    return dest


def label_outputs(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.png"))}


def manifest_core(out: Path) -> dict:
    m = json.loads((out / "manifest.json").read_text())
    return {k: m[k] for k in ("counts", "classes", "unknown_classes", "split_sha256", "options")}


@pytest.fixture(scope="module")
def reference(base, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "out"
    s = build_split("coco", "manual-20-60", base, out)
    assert s.layout is not None and s.layout.name == "goss-bench"
    return out


@pytest.mark.parametrize("name", sorted(LAYOUTS))
@pytest.mark.parametrize("photos", [True, False], ids=["photos", "no-photos"])
def test_every_layout_builds_the_same_split(base, reference, tmp_path, name, photos):
    root = make_layout(base, tmp_path / "root", name, photos)
    out = tmp_path / "out"
    s = build_split("coco", "manual-20-60", root, out)
    assert s.layout is not None and s.layout.name == name
    assert label_outputs(out) == label_outputs(reference)
    assert (out / "split.json").read_bytes() == (reference / "split.json").read_bytes()
    assert manifest_core(out) == manifest_core(reference)
    for sub in ("train", "test"):
        ref_lines = (reference / sub / "images.txt").read_text().splitlines()
        lines = (out / sub / "images.txt").read_text().splitlines()
        if photos:
            assert [ln.split(" ")[0] for ln in lines] == [ln.split(" ")[0] for ln in ref_lines]
            assert all(Path(ln.split(" ", 1)[1]).is_file() for ln in lines)
        else:
            assert lines == []  # no photo, no line: sizes come from the label maps


def test_mmseg_tree_with_both_kinds_of_maps(base, reference, tmp_path):
    root = make_layout(base, tmp_path / "root", "coco-stuff")
    make_layout(base, root, "mmseg-trainids", photos=False)
    s = build_split("coco", "manual-20-60", root, tmp_path / "out")
    assert s.layout is not None and s.layout.name == "coco-stuff"  # the originals are preferred
    assert label_outputs(tmp_path / "out") == label_outputs(reference)


def test_cli_prints_the_layout_and_require_images(base, tmp_path, capsys):
    root = make_layout(base, tmp_path / "root", "detectron2", photos=False)
    args = ["build-split", "--dataset", "coco", "--split", "manual-20-60", "--root", str(root),
            "--no-progress", "--workers", "1"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "layout: detectron2" in out and "no photos" in out
    assert main([*args, "--out", str(tmp_path / "b"), "--require-images"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and ".jpg" in err


def test_contiguous_maps_with_values_that_are_no_class(base, tmp_path, capsys):
    root = make_layout(base, tmp_path / "root", "mmseg-trainids", photos=False)
    f = sorted((root / "annotations" / "val2017").glob("*.png"))[0]
    a = np.asarray(Image.open(f)).copy()
    a[0, 0] = 200
    write_label_png(f, a)
    assert main(["build-split", "--dataset", "coco", "--split", "manual-20-60", "--root",
                 str(root), "--out", str(tmp_path / "o"), "--no-progress", "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert f.name in err and "200" in err


def test_unrecognised_root_lists_every_layout(tmp_path, capsys):
    root = tmp_path / "coco"
    (root / "somewhere").mkdir(parents=True)
    assert main(["build-split", "--dataset", "coco", "--split", "manual-20-60", "--root",
                 str(root), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    for name in LAYOUTS:
        assert f"  {name}: " in err
    assert f"unzip stuffthingmaps_trainval2017.zip -d {root.resolve()}/annotations" in err
    assert f"unzip train2017.zip -d {root.resolve()}/images" in err


def test_test_split_alone(base, reference, tmp_path, capsys):
    root = make_layout(base, tmp_path / "root", "coco-stuff", subs=("val2017",))
    s = build_split("coco", "manual-20-60", root, tmp_path / "out")
    assert s.train_images == 0 and s.layout is not None and s.layout.subsets == ("test",)
    test_ref = {k: v for k, v in label_outputs(reference).items() if k.startswith("test/")}
    assert label_outputs(tmp_path / "out") == test_ref
    full = make_layout(base, tmp_path / "full", "coco-stuff")
    assert main(["build-split", "--dataset", "coco", "--split", "manual-20-60", "--root",
                 str(full), "--out", str(tmp_path / "t"), "--test-only", "--no-progress"]) == 0
    assert "only test" in capsys.readouterr().out
    assert label_outputs(tmp_path / "t") == test_ref


def test_json_route_without_photos(base, tmp_path):
    pytest.importorskip("pycocotools")
    ref = build_split("coco", "manual-20-60", base, tmp_path / "ref", source="json")
    root = tmp_path / "root"
    shutil.copytree(base / "annotations", root / "annotations")
    s = build_split("coco", "manual-20-60", root, tmp_path / "out", source="json")
    assert (s.train_images, s.test_images) == (ref.train_images, ref.test_images)
    assert label_outputs(tmp_path / "out") == label_outputs(tmp_path / "ref")


@pytest.fixture(scope="module")
def cs_root(tmp_path_factory):
    pytest.importorskip("cityscapesscripts")
    return datagen.make_cityscapes(tmp_path_factory.mktemp("cs"), n_train=3, n_val=3, seed=4)


def test_cityscapes_val_only_and_without_photos(cs_root, tmp_path):
    full = build_split("cityscapes", "manual-16-3", cs_root, tmp_path / "full")
    root = tmp_path / "root"
    shutil.copytree(cs_root / "gtFine" / "val", root / "gtFine" / "val")  # no train, no photos
    s = build_split("cityscapes", "manual-16-3", root, tmp_path / "out")
    assert s.train_images == 0 and s.test_images == full.test_images
    assert s.layout is not None and s.layout.subsets == ("test",)
    want = {k: v for k, v in label_outputs(tmp_path / "full").items() if k.startswith("test/")}
    assert label_outputs(tmp_path / "out") == want
    assert (tmp_path / "out" / "test" / "images.txt").read_text() == ""


def test_baselines_and_show_say_when_photos_are_missing(base, tmp_path, capsys):
    pytest.importorskip("torch")
    from baselines.data import read_image_list
    from goss_bench.errors import GossInputError

    root = make_layout(base, tmp_path / "root", "coco-stuff", photos=False)
    split = tmp_path / "split"
    build_split("coco", "manual-20-60", root, split)
    with pytest.raises(GossInputError, match="have no photo"):
        read_image_list(split, "train")
    pred = tmp_path / "pred"
    shutil.copytree(split / "test", pred)
    assert main(["show", str(pred), str(split), "--out", str(tmp_path / "viz"), "--limit", "1"]) == 0
    assert "no photo" in capsys.readouterr().err
