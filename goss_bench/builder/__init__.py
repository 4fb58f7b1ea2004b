"""The GOSS dataset builder: COCO-Stuff and Cityscapes into GOSS split directories.

Public API::

    from goss_bench.builder import build_split, BuildSummary
    summary = build_split("coco", "manual-20-60", root="datasets/coco", out="goss_data/x",
                          source="png", workers=4, progress=True)

Modules: :mod:`.core` (pure per-image conversion), :mod:`.readers` (label file
readers and COCO JSON rasterisation), :mod:`.sources` (dataset layouts, work
items), :mod:`.image` (one image end to end, run by the process pool),
:mod:`.manifest` (manifest.json / split.json), :mod:`.journal` (durable progress),
:mod:`.spool` (external merge sort), :mod:`.store` (records on disk, stale outputs),
:mod:`.resume` (previous records joined with the work items), :mod:`.run`
(orchestration), :mod:`.stats` (per-class image counts), :mod:`.selection`
(choosing classes for new splits).
"""

from __future__ import annotations

from goss_bench.builder.run import BadInput, BuildSummary, build_split

__all__ = ["BadInput", "BuildSummary", "build_split"]
