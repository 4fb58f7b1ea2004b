"""Leaderboard diagnostics: intervals, oracle breakdown and curves on submission pages,
significance marks between consecutive rows; per-image data never leaves the server."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("fastapi")

from conftest import perturb_prediction, write_pred  # noqa: E402
from test_server_support import N, folder_members, make_split, serve, zip_bytes  # noqa: E402


def _pred(root, images, name, flip, seed):
    rng = np.random.default_rng(seed)
    preds = {}
    for stem, (sem, grp, _c) in images.items():
        p, g = perturb_prediction(rng, sem, grp, N, flip=flip)
        sc = rng.integers(0, 30000, sem.shape).astype(np.uint16)
        sc[sem == N] += 20000
        preds[stem] = (p, g, sc)
    return write_pred(root / name, preds)


def test_diagnostics_and_significance_stay_aggregate(tmp_path):
    from server import services
    from server.worker import run_worker

    images = make_split(tmp_path, n_images=8)
    s = serve(tmp_path, tmp_path / "gt")  # hidden GT, public scores
    tokens = [s.token, services.add_team(s.db, "beta")[1], services.add_team(s.db, "gamma")[1]]
    good = _pred(tmp_path, images, "good", 0.02, 1)
    bad = _pred(tmp_path, images, "bad", 0.5, 2)
    for tok, pred, method in ((tokens[0], good, "good"), (tokens[1], bad, "bad"),
                              (tokens[2], bad, "bad-again")):
        r = s.upload(zip_bytes(folder_members(pred)), token=tok, method=method)
        assert r.status_code == 202, r.text
    assert run_worker(s.settings, once=True) == 3
    entries = s.client.get("/api/v1/benchmarks/bench/leaderboard").json()["entries"]
    ids = [e["submission"] for e in entries]
    assert [e["method"] for e in entries][0] == "good"
    # per-image statistics kept on the server only
    for i in ids:
        assert (s.settings.data_dir / "image_stats" / f"{i}.json").is_file()

    page = s.client.get("/benchmarks/bench").text
    assert "vs next" in page
    assert page.count('class="sig" data-p=') == 2  # the last row has no next
    assert "≠" in page  # good vs bad: clearly different
    assert "≈" in page and "p=1.000" in page  # bad vs the same files again

    sub = s.client.get(f"/submissions/{ids[0]}").text
    assert 'id="intervals"' in sub and 'id="oracle"' in sub and "perfect identification" in sub
    assert "class=\"plot curves\"" in sub
    api = s.client.get(f"/api/v1/submissions/{ids[0]}").json()
    diag = api["result"]["diagnostics"]
    assert diag["ci"]["metrics"]["GQ"]["value"] == api["result"]["gq"]
    assert diag["oracle"]["actual"]["gq"] == api["result"]["gq"]

    # nothing per image (no stem, no statistics table) in any page or API answer
    texts = [page, sub, json.dumps(api), s.client.get("/api/v1/benchmarks/bench/leaderboard.csv").text,
             json.dumps(entries)]
    for t in texts:
        assert "image_stats" not in t and "rows" not in json.dumps(diag)
        assert not any(stem in t for stem in images)
    s.client.close()
    s.db.dispose()
