"""``goss-bench show PRED GT --out DIR``: one PNG panel per image (image | GT | prediction | errors)."""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

from PIL import Image

from goss_bench.errors import GossInputError
from goss_bench.io import read_label_png, write_bytes_atomic
from goss_bench.validate.files import check_output_dir
from goss_bench.validate.flags import int_range
from goss_bench.validate.labels import MAX_NUM_KNOWN


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pred", help="prediction folder (semantic/, groups/)")
    p.add_argument("gt", help="GT split directory or folder with semantic/, groups/")
    p.add_argument("--out", required=True, help="output folder for <stem>.png panels")
    p.add_argument("--stems", nargs="+", help="images to draw (default: the first --limit)")
    p.add_argument("--limit", type=int_range(1), default=10,
                   help="number of images when --stems is not given (>= 1, default 10)")
    p.add_argument("--num-known", type=int_range(1, MAX_NUM_KNOWN), default=None,
                   help=f"N, when GT has no split.json (1..{MAX_NUM_KNOWN})")


def render_stem(
    pred_root: Path, gt, stem: str, photos: dict[str, Path], notes: list[str] | None = None  # noqa: ANN001
) -> Image.Image:
    """Render the panel of one image of a resolved GT (goss_bench.scoring.GTSource).

    A missing, unreadable or wrong-size photo is drawn grey; why goes to ``notes``.
    """
    from goss_bench.visualize import load_gt_maps, load_photo_checked, photo_note, render_panel

    gsem, ggrp = load_gt_maps(gt.root, stem)
    psem_p = pred_root / "semantic" / f"{stem}.png"
    if not os.path.lexists(psem_p):
        raise GossInputError(f"{psem_p}: no prediction for {stem}")
    psem = read_label_png(psem_p, what="predicted semantic map")
    if psem.shape != gsem.shape:
        raise GossInputError(f"{psem_p}: shape {psem.shape} differs from the ground truth {gsem.shape}")
    pgrp_p = pred_root / "groups" / f"{stem}.png"
    pgrp = None
    if os.path.lexists(pgrp_p):
        pgrp = read_label_png(pgrp_p, bits=(8, 16), what="predicted group map")
        if pgrp.shape != gsem.shape:
            raise GossInputError(
                f"{pgrp_p}: shape {pgrp.shape} differs from the ground truth {gsem.shape}"
            )
    path = photos.get(stem)
    image, why = load_photo_checked(path, gsem.shape)
    if why is not None and notes is not None:
        notes.append(f"{stem}: {why}; the image panel is grey")
    panel, _ = render_panel(image, gsem, ggrp, psem, pgrp, gt.num_known, gt.class_names,
                            title=stem, photo_note=photo_note(path, why) if why else "no photo")
    return panel


def run(args: argparse.Namespace) -> int:
    from goss_bench.scoring import resolve_gt
    from goss_bench.visualize import photo_paths

    out = check_output_dir(args.out, "--out")
    gt = resolve_gt(args.gt, args.num_known)
    pred_root = Path(args.pred)
    if not (pred_root / "semantic").is_dir():
        raise GossInputError(f"{pred_root}: expected a prediction folder with semantic/ and groups/")
    stems = args.stems or gt.stems[: args.limit]
    known_stems = set(gt.stems)
    unknown = [s for s in stems if s not in known_stems]
    if unknown:
        raise GossInputError(f"{gt.root / 'semantic'}: no ground truth for {', '.join(unknown[:5])}")
    photos = photo_paths(gt)
    for stem in stems:
        notes: list[str] = []
        panel = render_stem(pred_root, gt, stem, photos, notes)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        buf = io.BytesIO()
        panel.save(buf, format="PNG")
        write_bytes_atomic(out / f"{stem}.png", buf.getvalue())
        print(out / f"{stem}.png")
    return 0
