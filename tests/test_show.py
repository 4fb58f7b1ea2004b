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
    OUTLINE_COLOR,
    TP_COLOR,
    VOID_COLOR,
    group_color,
    known_color,
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
    assert at((gx, gy), 15, 20) == OUTLINE_COLOR  # group outline
    assert at((gx, gy), 1, 1) in (VOID_COLOR, HATCH_COLOR)
    assert at((px, py), 35, 5) == known_color(1)
    # errors: the unknown group matches (IoU 1) -> green; class 1 GT (right) missed -> FN
    # orange except where the predicted class-1 FP lies; the FP region is red
    assert at((ex, ey), 20, 20) == TP_COLOR
    assert at((ex, ey), 10, 35) == FN_COLOR
    assert at((ex, ey), 35, 5) == FP_COLOR


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
