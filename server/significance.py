"""Per-image statistics kept by the server, and significance marks between leaderboard rows.

The worker saves each scored submission's per-image statistics
(:class:`goss_bench.diagnostics.image_stats.ImageStats`) under
``data_dir/image_stats/<submission id>.json``.  They never leave the server:
pages and the API show only what :mod:`goss_bench.diagnostics.published`
derives from them (intervals, oracle breakdown, curves, and whether two
entries' GQ differ).
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from goss_bench.diagnostics.image_stats import ImageStats
from goss_bench.diagnostics.published import gq_significance
from goss_bench.errors import GossInputError
from goss_bench.io import write_text_atomic
from server.config import Settings

log = logging.getLogger("goss.significance")
RESAMPLES = 1000
_CACHE: dict[tuple, dict[str, Any]] = {}
_LOCK = threading.Lock()


def image_stats_path(settings: Settings, sub_id: int) -> Path:
    return settings.data_dir / "image_stats" / f"{sub_id}.json"


def save_image_stats(settings: Settings, sub_id: int, stats: ImageStats) -> None:
    """Keep a submission's per-image statistics (atomic; replaced on rescore)."""
    write_text_atomic(image_stats_path(settings, sub_id), json.dumps(stats.to_json()))


def _load(path: Path) -> ImageStats | None:
    try:
        return ImageStats.from_json(json.loads(path.read_text()), where=str(path))
    except (OSError, ValueError) as exc:  # GossInputError and JSON errors are ValueErrors
        log.warning("per-image statistics unreadable: %s", exc)
        return None


def significance_marks(settings: Settings, entries: list[Any]) -> dict[int, dict[str, Any]]:
    """For each leaderboard entry but the last: its GQ minus the next entry's GQ.

    Returns submission id -> ``gq_significance`` of (next entry, this entry): a
    paired bootstrap over the benchmark's images (``RESAMPLES`` resamples, seed
    0).  Entries without saved statistics (scored before this existed) get no
    mark.  Results are cached per pair and statistics file version.
    """
    out: dict[int, dict[str, Any]] = {}
    for cur, nxt in zip(entries, entries[1:], strict=False):
        pa = image_stats_path(settings, cur.submission.id)
        pb = image_stats_path(settings, nxt.submission.id)
        try:
            key = (cur.submission.id, nxt.submission.id, pa.stat().st_mtime_ns, pb.stat().st_mtime_ns)
        except OSError:
            continue
        with _LOCK:
            hit = _CACHE.get(key)
        if hit is None:
            a, b = _load(pa), _load(pb)
            if a is None or b is None:
                continue
            try:
                hit = gq_significance(b, a, num=RESAMPLES, seed=0)
            except GossInputError as exc:  # e.g. scored on different images
                log.warning("no significance for %s vs %s: %s", key[0], key[1], exc)
                continue
            with _LOCK:
                _CACHE[key] = hit
        out[cur.submission.id] = hit
    return out
