"""Issue 14: every bad input gives one ``error:`` line and exit 2 (causes 1, 2, 6, 7).

Each test reproduces a case that traced back, hung or exited 0 before the
validation layer (goss_bench/validate/) existed.  COCO JSON cases (cause 5) are
in test_validate_coco_json.py; signals in test_validate_signals.py.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import make_gt_image, perturb_prediction, write_gt, write_pred
from PIL import Image

from goss_bench.cli import main
from goss_bench.io import write_label_png

N = 5


def run(capsys, *argv) -> tuple[int, str, str]:
    """goss-bench in-process: (exit code, stdout, stderr); argparse's SystemExit is an exit code."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_input_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    assert "error:" in err
    for n in needles:
        assert n in err, (n, err)


@pytest.fixture
def folders(tmp_path, rng):
    gt_imgs, pred_imgs = {}, {}
    for i in range(4):
        sem, grp, cl = make_gt_image(rng, N)
        if i == 0:  # make sure unknown pixels exist
            sem[:8, :8] = N
            grp[:8, :8] = 3
        gt_imgs[f"img{i}"] = (sem, grp, None)
        pred_imgs[f"img{i}"] = perturb_prediction(rng, sem, grp, N)
    gt = write_gt(tmp_path / "gt", gt_imgs, N)
    pred = write_pred(tmp_path / "pred", pred_imgs)
    return pred, gt


def score_gq(capsys, pred, gt, *extra) -> float:
    code, out, err = run(capsys, "score", pred, gt, "--quiet", "--json", pred.parent / "r.json",
                         *extra)
    assert code == 0, err
    return json.loads((pred.parent / "r.json").read_text())["gq"]


# ---- cause 1: outputs checked before any work -----------------------------------------

@pytest.mark.parametrize("flag", ["--json", "--per-image", "--csv-per-class"])
def test_score_output_is_a_folder_or_under_a_file(folders, capsys, flag, tmp_path):
    pred, gt = folders
    code, _, err = run(capsys, "score", pred, gt, "--quiet", flag, tmp_path)
    assert_input_error(code, err, flag, "expected a file name")
    (tmp_path / "plain").write_text("x")
    code, _, err = run(capsys, "score", pred, gt, "--quiet", flag, tmp_path / "plain" / "r.json")
    assert_input_error(code, err, flag, "nothing can be created below it")


def test_score_empty_json_name_is_an_error(folders, capsys):
    pred, gt = folders
    code, _, err = run(capsys, "score", pred, gt, "--quiet", "--json", "")
    assert_input_error(code, err, "--json: empty file name")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_output_folder(folders, capsys, tmp_path):
    pred, gt = folders
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        code, _, err = run(capsys, "score", pred, gt, "--quiet", "--json", ro / "r.json")
        assert_input_error(code, err, "not writable")
    finally:
        ro.chmod(0o700)


def test_output_folders_that_are_files(folders, capsys, tmp_path):
    pred, gt = folders
    f = tmp_path / "afile"
    f.write_text("x")
    code, _, err = run(capsys, "show", pred, gt, "--out", f)
    assert_input_error(code, err, "--out", "expected an output folder")
    code, _, err = run(capsys, "export-panoptic", gt, f, "--quiet")
    assert_input_error(code, err, "OUT", "expected an output folder")
    code, _, err = run(capsys, "build-split", "--dataset", "coco", "--split", "manual-20-60",
                       "--root", tmp_path, "--out", f / "sub")
    assert_input_error(code, err, "--out", "nothing can be created below it")
    code, _, err = run(capsys, "stats", "--dataset", "coco", "--root", tmp_path, "--out", tmp_path)
    assert_input_error(code, err, "--out", "expected a file name")
    code, _, err = run(capsys, "make-split", "--dataset", "coco", "--known", "person",
                       "--out", tmp_path)
    assert_input_error(code, err, "--out", "expected a file name")
    assert f.read_text() == "x"


def test_output_that_is_not_a_regular_file_is_refused(folders, capsys, tmp_path):
    # (never /dev/null itself: code without the check would replace it when run as root)
    pred, gt = folders
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code, _, err = run(capsys, "score", pred, gt, "--quiet", "--json", fifo)
    assert_input_error(code, err, "FIFO")
    assert fifo.exists() and not fifo.is_file()


# ---- cause 2: silently wrong scores ---------------------------------------------------

def _renumber(gt: Path, n_new: int, keep_known_list: bool) -> None:
    sj = gt / "split.json"
    d = json.loads(sj.read_text())
    d["num_known"] = n_new
    if not keep_known_list:
        del d["known"]
    sj.write_text(json.dumps(d))


@pytest.mark.parametrize("keep_known_list", [True, False])
def test_split_json_n_disagreeing_with_maps(folders, capsys, keep_known_list):
    pred, gt = folders
    score_gq(capsys, pred, gt)
    _renumber(gt, N + 1, keep_known_list)
    code, _, err = run(capsys, "score", pred, gt, "--quiet")
    if keep_known_list:
        assert_input_error(code, err, "num_known is 6 but 'known' lists 5 classes")
    else:
        assert_input_error(code, err, "value 5", "is N = 6 right")


def test_gt_group_ids_outside_unknown_pixels(folders, capsys):
    pred, gt = folders
    p = gt / "test" / "groups" / "img1.png"
    sem = np.asarray(Image.open(gt / "test" / "semantic" / "img1.png"))
    grp = np.asarray(Image.open(p)).astype(np.uint16)
    grp = grp.copy()
    grp[sem < N] = 9
    write_label_png(p, grp)
    code, _, err = run(capsys, "score", pred, gt, "--quiet")
    assert_input_error(code, err, "groups/img1.png", "must be 0 except on unknown pixels")


def test_prediction_folder_given_as_gt(folders, capsys, rng):
    pred, gt = folders
    code, _, err = run(capsys, "score", pred, pred, "--quiet", "--num-known", N)
    assert_input_error(code, err, "ground-truth group ids")
    scores = np.zeros((48, 64), np.uint16)
    for stem in ("img0", "img1", "img2", "img3"):
        write_label_png(pred / "scores" / f"{stem}.png", scores)
    code, _, err = run(capsys, "score", pred, pred, "--quiet", "--num-known", N)
    assert_input_error(code, err, "looks like a prediction folder (it has scores/)")


def test_pred_scores_being_a_file(folders, capsys):
    pred, gt = folders
    (pred / "scores").write_text("not a folder")
    code, _, err = run(capsys, "score", pred, gt, "--quiet")
    assert_input_error(code, err, "scores", "found a file")


def test_export_num_known_disagreeing_with_data(folders, capsys, tmp_path):
    _, gt = folders
    plain = gt / "test"
    (gt / "split.json").unlink()
    code, _, err = run(capsys, "export-panoptic", plain, tmp_path / "out", "--num-known", N + 1,
                       "--quiet")
    assert_input_error(code, err, "is N = 6 right")
    code, _, err = run(capsys, "export-panoptic", plain, tmp_path / "ok", "--num-known", N,
                       "--quiet")
    assert code == 0, err


def test_manifest_disagreeing_with_split_json(folders, capsys):
    pred, gt = folders
    (gt / "manifest.json").write_text(json.dumps({
        "dataset": "synthetic", "split": "test",
        "classes": {"test": [{"train_id": i} for i in range(N + 2)]}}))
    code, _, err = run(capsys, "score", pred, gt, "--quiet")
    assert_input_error(code, err, "manifest.json", "N = 5")


# ---- cause 6: non-regular files never hang, photos are size-checked ------------------

def test_fifo_in_place_of_a_map_or_list(folders, capsys, tmp_path):
    pred, gt = folders
    m = gt / "test" / "semantic" / "img2.png"
    m.unlink()
    os.mkfifo(m)
    code, _, err = run(capsys, "score", pred, gt, "--quiet")
    assert_input_error(code, err, "img2.png", "FIFO")
    code, _, err = run(capsys, "export-panoptic", gt, tmp_path / "o", "--quiet")
    assert_input_error(code, err, "img2.png", "FIFO")
    os.unlink(m)
    os.mkfifo(gt / "test" / "images.txt")
    shutil.copy(gt / "test" / "groups" / "img1.png", m)  # any PNG
    code, _, err = run(capsys, "show", pred, gt, "--out", tmp_path / "panels")
    assert_input_error(code, err, "images.txt", "FIFO")


def test_symlinks_are_resolved_and_checked(folders, capsys, tmp_path):
    pred, gt = folders
    m = pred / "semantic" / "img1.png"
    m.unlink()
    m.symlink_to(tmp_path / "nowhere.png")
    code, _, err = run(capsys, "score", pred, gt, "--quiet")
    assert_input_error(code, err, "broken symbolic link")
    m.unlink()
    os.mkfifo(tmp_path / "fifo")
    m.symlink_to(tmp_path / "fifo")
    code, _, err = run(capsys, "score", pred, gt, "--quiet")
    assert_input_error(code, err, "symlink to", "FIFO")


def _jpeg_declaring(path: Path, w: int, h: int) -> None:
    """A small JPEG whose SOF header is rewritten to declare w x h."""
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path, format="JPEG")
    data = bytearray(path.read_bytes())
    i = data.index(b"\xff\xc0")
    data[i + 5:i + 7] = h.to_bytes(2, "big")
    data[i + 7:i + 9] = w.to_bytes(2, "big")
    path.write_bytes(bytes(data))


def test_photo_decompression_bomb_never_escapes(tmp_path):
    from goss_bench.builder.readers import image_size
    from goss_bench.errors import GossInputError
    from goss_bench.validate.photos import load_photo

    p = tmp_path / "bomb.jpg"
    _jpeg_declaring(p, 65535, 65535)
    for fn in (image_size, load_photo):
        with pytest.raises(GossInputError, match="bomb"):
            fn(p)


def test_build_split_with_a_bomb_photo_and_a_fifo(tmp_path, capsys):
    from datagen import make_coco_stuff

    root = make_coco_stuff(tmp_path / "coco", n_train=2, n_val=2)
    photo = next((root / "val2017").glob("*.jpg"))
    _jpeg_declaring(photo, 65535, 65535)
    code, _, err = run(capsys, "build-split", "--dataset", "coco", "--split", "manual-20-60",
                       "--root", root, "--out", tmp_path / "out", "--workers", 1, "--no-progress")
    assert_input_error(code, err, photo.name, "bomb")
    lab = next((root / "stuffthingmaps_trainval2017" / "train2017").glob("*.png"))
    lab.unlink()
    os.mkfifo(lab)
    for argv in (("build-split", "--dataset", "coco", "--split", "manual-20-60", "--overwrite",
                  "--root", root, "--out", tmp_path / "out2", "--workers", 1, "--no-progress"),
                 ("stats", "--dataset", "coco", "--root", root, "--workers", 1, "--no-progress")):
        code, _, err = run(capsys, *argv)
        assert_input_error(code, err, lab.name, "FIFO")


# ---- cause 7: flags and show ----------------------------------------------------------

@pytest.mark.parametrize("value", ["0", "-1", "x"])
def test_workers_checked_the_same_everywhere(folders, capsys, tmp_path, value):
    pred, gt = folders
    for argv in (("score", pred, gt), ("export-panoptic", gt, tmp_path / "o"),
                 ("stats", "--dataset", "coco", "--root", tmp_path),
                 ("build-split", "--dataset", "coco", "--split", "manual-20-60")):
        code, _, err = run(capsys, *argv, "--workers", value)
        assert_input_error(code, err, "--workers")
        assert ">= 1" in err or "integer" in err


def test_stats_refuses_values_outside_the_label_table(tmp_path, capsys):
    from datagen import make_coco_stuff

    root = make_coco_stuff(tmp_path / "coco", n_train=2, n_val=2, json_files=False)
    lab = next((root / "stuffthingmaps_trainval2017" / "val2017").glob("*.png"))
    write_label_png(lab, np.full((48, 64), 200, np.uint8))
    code, _, err = run(capsys, "stats", "--dataset", "coco", "--root", root, "--workers", 1,
                       "--no-progress")
    assert_input_error(code, err, lab.name, "label value(s) [200]")


def test_make_split_flags(tmp_path, capsys):
    base = ("make-split", "--dataset", "coco", "--out", tmp_path / "s.json")
    code, _, err = run(capsys, *base, "--random", "--known-things", 3, "--known-stuff", 3,
                       "--seed", -5)
    assert_input_error(code, err, "--seed", ">= 0")
    code, _, err = run(capsys, *base, "--known", "person", "1")
    assert_input_error(code, err, "--known", "given twice")
    code, _, err = run(capsys, *base, "--known", "person", "car", "--void", "car")
    assert_input_error(code, err, "both in --known and in --void")
    stats = tmp_path / "stats.csv"
    stats.write_text("source_id,images\n1,-3\n")
    code, _, err = run(capsys, *base, "--manual-things", 20, "--stats", stats)
    assert_input_error(code, err, "images must be >= 0")
    code, _, err = run(capsys, *base, "--known", "person", "car")
    assert code == 0, err


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_show_limit(folders, capsys, tmp_path, limit):
    pred, gt = folders
    code, _, err = run(capsys, "show", pred, gt, "--out", tmp_path / "p", "--limit", limit)
    assert_input_error(code, err, "--limit", ">= 1")


def test_show_notes_bad_photos(folders, capsys, tmp_path):
    pred, gt = folders
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(photos / "img0.jpg")
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(photos / "img1.jpg")
    (photos / "img2.jpg").write_bytes(b"not a jpeg")
    (gt / "test" / "images.txt").write_text(
        "".join(f"img{i} {photos / f'img{i}.jpg'}\n" for i in range(4)))
    code, _, err = run(capsys, "show", pred, gt, "--out", tmp_path / "p", "--limit", 4)
    assert code == 0, err
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert len(notes) == 3, err
    assert "img1: photo" in err and "10x10" in err
    assert "img2:" in err and "cannot read image" in err
    assert "img3:" in err and "not found" in err


def test_show_gt_groups_smaller_than_semantic(folders, capsys, tmp_path):
    pred, gt = folders
    write_label_png(gt / "test" / "groups" / "img0.png", np.zeros((10, 10), np.uint16))
    code, _, err = run(capsys, "show", pred, gt, "--out", tmp_path / "p", "--stems", "img0")
    assert_input_error(code, err, "groups/img0.png", "group map has shape 10x10")


def test_submit_zip_refuses_scores_file_and_fifos(folders, tmp_path):
    """submit's zip step: pred/scores as a file or a FIFO map is an error, not skipped."""
    from goss_bench.errors import GossInputError
    from goss_bench.submission import zip_folder

    pred, _ = folders
    (pred / "scores").write_text("not a folder")
    with pytest.raises(GossInputError, match="scores.*found a file"):
        zip_folder(pred, tmp_path / "a.zip")
    (pred / "scores").unlink()
    m = pred / "groups" / "img1.png"
    m.unlink()
    os.mkfifo(m)
    with pytest.raises(GossInputError, match="FIFO"):
        zip_folder(pred, tmp_path / "a.zip")
    assert not (tmp_path / "a.zip").exists() and not (tmp_path / ".a.zip.tmp").exists()
