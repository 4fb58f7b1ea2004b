"""``goss-bench labels``: the id table of a split (GOSS, source, mmseg/detectron2, Cityscapes)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

from goss_bench.labels import COLUMNS, LabelTable


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, choices=("coco", "cityscapes"))
    p.add_argument("--split", required=True,
                   help="official split name (e.g. manual-16-3) or path of a split .json file")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="table (default, for reading), csv or json")
    p.add_argument("--out", default=None, help="write to this file instead of stdout")


def table_text(t: LabelTable) -> str:
    """Aligned human-readable table."""
    head = ["GOSS id", "name", "kind", "role", "source id", "mmseg/d2 id"]
    if t.dataset == "cityscapes":
        head.append("trainId")
    lines = [
        f"{t.dataset} {t.split}: N = {t.num_known} known classes; GOSS id N = {t.num_known} "
        "is unknown, 255 void",
        "  ".join(f"{h:>11}" if i != 1 else f"{h:<20}" for i, h in enumerate(head)),
    ]
    for r in t.rows:
        cells = [r.train_id, r.name, r.kind, r.role, r.source_id, r.contiguous_id]
        if t.dataset == "cityscapes":
            cells.append(r.cityscapes_train_id)
        lines.append("  ".join(f"{c!s:>11}" if i != 1 else f"{c!s:<20}" for i, c in enumerate(cells)))
    return "\n".join(lines) + "\n"


def table_csv(t: LabelTable) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for d in t.rows_as_dicts():
        w.writerow(["" if d[k] is None else d[k] for k in COLUMNS])
    return buf.getvalue()


def table_json(t: LabelTable) -> str:
    doc = {"dataset": t.dataset, "split": t.split, "num_known": t.num_known,
           "unknown_id": t.num_known, "void_id": 255, "classes": t.rows_as_dicts()}
    return json.dumps(doc, indent=1) + "\n"


def run(args: argparse.Namespace) -> int:
    from goss_bench.io import write_text_atomic
    from goss_bench.labels import label_table

    t = label_table(args.dataset, args.split)
    text = {"table": table_text, "csv": table_csv, "json": table_json}[args.format](t)
    if args.out:
        write_text_atomic(Path(args.out), text)
        print(f"wrote {args.out}: {len(t.rows)} classes of {t.dataset} {t.split}")
    else:
        sys.stdout.write(text)
    return 0
