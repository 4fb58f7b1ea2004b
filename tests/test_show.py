"""`goss-bench show`: panels whose pixels carry the expected colours on a crafted case."""

from __future__ import annotations

import numpy as np
from conftest import write_gt, write_pred
from PIL import Image

from goss_bench.cli import main
from goss_bench.visualize import (
    FN_COLOR,
    FP_COLOR,
    HATCH_COLOR,
    IGNORED_COLOR,
    OUTLINE_COLOR,
    TP_COLOR,
    VOID_COLOR,
    colorize,
    group_color,
    known_color,
    legend_entries,
    render_panel,
)

N = 2


def crafted():
    # 40x40: left half class 0, right half class 1, an unknown square (group 5)
    # in the middle, void in the top rows.
    gs = np.zeros((40, 40), np.uint8)
    gs[:, 20:] = 1
    gs[15:25, 15:25] = N
    gs[:4, :] = 255
    gg = np.zeros((40, 40), np.uint16)
    gg[15:25, 15:25] = 5
    # prediction: class 0 right, class 1 absent on the left (FN), unknown square correct,
    # a false class-1 region at the bottom left (FP)
    ps = gs.copy()
    ps[30:, :10] = 1
    ps[ps == 255] = 0
    pg = np.zeros((40, 40), np.uint16)
    pg[15:25, 15:25] = 9
    ps[:, 20:][ps[:, 20:] == 1] = 255  # class 1 vanishes: no prediction on the right half
    return gs, gg, ps, pg


def _region(arr, layout, origin, ys, xs):
    """Set of colours drawn for the native pixels ys x xs of one panel."""
    s = layout.scale
    ox, oy = origin
    sub = arr[oy + ys.start * s : oy + ys.stop * s, ox + xs.start * s : ox + xs.stop * s]
    return {tuple(int(v) for v in c) for c in sub.reshape(-1, 3)}


def test_colours_of_crafted_panel():
    gs, gg, ps, pg = crafted()
    panel, layout = render_panel(None, gs, gg, ps, pg, N, ["left", "right"], min_width=40)
    arr = np.asarray(panel)
    s = layout.scale
    (gx, gy), (px, py), (ex, ey) = layout.panel_origins[1:4]

    def at(origin, y, x):
        ox, oy = origin
        return tuple(int(v) for v in arr[oy + y * s + s // 2, ox + x * s + s // 2])

    assert at((gx, gy), 10, 5) == known_color(0)
    assert at((gx, gy), 10, 35) == known_color(1)
    assert at((gx, gy), 20, 20) == group_color(0)  # inside the unknown group
    assert at((gx, gy), 15, 20) == group_color(0)  # its edge keeps its colour ...
    assert at((gx, gy), 14, 20) == OUTLINE_COLOR  # ... the ring is drawn outside
    assert at((gx, gy), 1, 1) in (VOID_COLOR, HATCH_COLOR)
    assert at((px, py), 35, 5) == known_color(1)
    errors = {TP_COLOR, FP_COLOR, FN_COLOR, IGNORED_COLOR}
    classes = {known_color(0), known_color(1), group_color(0)}
    # errors panel: no class colour anywhere; the group matches (green outline, grey inside)
    everything = _region(arr, layout, (ex, ey), slice(0, 40), slice(0, 40))
    assert not everything & classes
    assert at((ex, ey), 15, 20) == TP_COLOR
    inside = at((ex, ey), 20, 20)
    assert inside[0] == inside[1] == inside[2]  # grey
    # class 1 GT (right) missed: blue hatching; the FP region: vermillion hatching
    assert _region(arr, layout, (ex, ey), slice(6, 14), slice(30, 38)) & errors == {FN_COLOR}
    assert _region(arr, layout, (ex, ey), slice(32, 38), slice(2, 8)) & errors == {FP_COLOR}


def test_error_colours_are_never_class_colours():
    reserved = {VOID_COLOR, HATCH_COLOR, OUTLINE_COLOR, TP_COLOR, FP_COLOR, FN_COLOR,
                IGNORED_COLOR}
    known = [known_color(k) for k in range(255)]
    groups = [group_color(i) for i in range(256)]
    for c in known + groups:
        assert min(np.linalg.norm(np.subtract(c, r)) for r in reserved) >= 70, c
    assert len(set(known[:111])) == 111


def test_one_pixel_unknown_groups_keep_their_colour_and_are_explained():
    gs = np.zeros((20, 20), np.uint8)
    gg = np.zeros((20, 20), np.uint16)
    for i, (y, x) in enumerate([(5, 5), (5, 6), (12, 12)]):  # two touching 1-px groups, one alone
        gs[y, x] = N
        gg[y, x] = i + 1
    pic = colorize(gs, gg, N)
    assert tuple(pic[12, 12]) == group_color(2) and tuple(pic[11, 12]) == OUTLINE_COLOR
    cols = {tuple(pic[5, 5]), tuple(pic[5, 6])}
    assert OUTLINE_COLOR in cols and len(cols & {group_color(0), group_color(1)}) == 1
    labels = [e.label for e in legend_entries(gs, gs, N, ["a", "b"], tiny_groups=3)]
    assert any("3 tiny" in lab for lab in labels)
    for needed in ("void", "false positive", "false negative", "matched", "mostly on void"):
        assert any(needed in lab for lab in labels), needed


def test_missing_photo_is_noted():
    gs, gg, ps, pg = crafted()
    panel, layout = render_panel(None, gs, gg, ps, pg, N, None, min_width=40,
                                 photo_note="no photo: a.jpg missing")
    arr = np.asarray(panel)
    ox, oy = layout.panel_origins[0]
    w, h = layout.panel_size
    block = arr[oy : oy + h, ox : ox + w]
    assert block.min() < 100  # the note's dark text is drawn on the grey placeholder
    plain, _ = render_panel(np.full((40, 40, 3), 150, np.uint8), gs, gg, ps, pg, N, None,
                            min_width=40)
    assert np.asarray(plain)[oy : oy + h, ox : ox + w].min() == 150


def test_cli_writes_panels(tmp_path, capsys):
    gs, gg, ps, pg = crafted()
    write_gt(tmp_path / "gt", {"a": (gs, gg, None), "b": (gs, gg, None)}, N, names=["left", "right"])
    write_pred(tmp_path / "pred", {"a": (ps, pg), "b": (gs, gg)})
    code = main(["show", str(tmp_path / "pred"), str(tmp_path / "gt"), "--out", str(tmp_path / "viz"),
                 "--stems", "a"])
    assert code == 0
    files = sorted(p.name for p in (tmp_path / "viz").iterdir())
    assert files == ["a.png"]
    with Image.open(tmp_path / "viz" / "a.png") as im:
        assert im.mode == "RGB" and im.width >= 4 * 40
    code = main(["show", str(tmp_path / "pred"), str(tmp_path / "gt"), "--out", str(tmp_path / "v2"),
                 "--stems", "zzz"])
    assert code == 2 and "zzz" in capsys.readouterr().err
