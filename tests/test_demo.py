"""The end-to-end demo (`goss-bench demo --quick`): build, train, evaluate, score, serve, submit.

Runs the real command in a subprocess on the bundled sample data and checks that
the score the leaderboard server reports equals `goss-bench score` run
separately on the same folders, and that a re-run reuses the finished steps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_docs import output_matches, parse

from goss_bench import score

pytest.importorskip("torch")
pytest.importorskip("fastapi")

ROOT = Path(__file__).resolve().parents[1]


def _demo(work: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("GOSS_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "goss_bench", "demo", "--quick", "--work", str(work), *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_demo_end_to_end_matches_separate_score(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    proc = _demo(work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for step in range(1, 6):
        assert f"[{step}/5]" in proc.stdout
    assert "leaderboard: http://127.0.0.1:" in proc.stdout

    # deterministic: this run prints the score table that README.md states (the
    # docs test runs the README's block: two independent runs, one text)
    readme = [b for b in parse(ROOT / "README.md") if "goss-bench demo --quick" in b.code]
    assert len(readme) == 1 and readme[0].output is not None
    lines = proc.stdout.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("GOSS scores"))
    end = next(i for i, ln in enumerate(lines) if ln.startswith("GS:"))
    assert output_matches(readme[0].output, "\n".join(lines[start : end + 1]) + "\n")

    board = json.loads((work / "leaderboard.json").read_text())
    (entry,) = board["entries"]
    separate = score(work / "pred", work / "split")
    assert entry["GQ"] == pytest.approx(separate.gq, abs=1e-12)
    assert entry["GQ_kn"] == pytest.approx(separate.gq_known, abs=1e-12)
    assert entry["GQ_uk"] == pytest.approx(separate.gq_unknown, abs=1e-12)
    assert entry["mIoU"] == pytest.approx(separate.miou, abs=1e-12)
    saved = json.loads((work / "score.json").read_text())
    assert saved["gq"] == pytest.approx(separate.gq, abs=1e-12)

    split = json.loads((work / "split" / "split.json").read_text())
    assert split["name"] == "manual-20-60" and split["num_known"] == 111
    stems = {p.stem for p in (work / "split" / "test" / "semantic").glob("*.png")}
    assert stems == {p.stem for p in (work / "pred" / "semantic").glob("*.png")}

    # a re-run reuses the build and the trained model
    again = _demo(work)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "reusing" in again.stdout
