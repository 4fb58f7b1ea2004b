"""A build killed by SIGKILL or stopped by SIGTERM loses (almost) nothing.

The build runs as a real ``goss-bench build-split`` process (2 workers) whose
image conversion is slowed down, so that the signal arrives mid-build.  The
output of the resumed build must equal a fresh build, byte for byte.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import datagen
import pytest

from goss_bench.builder import build_split
from goss_bench.builder.manifest import JOURNAL

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools"), pytest.mark.timeout(180)]

# Run the CLI with _convert slowed down (workers are forked and inherit the patch).
_SLOW_CLI = """
import sys, time
from goss_bench.builder import image
real = image._convert
def slow(*a, **k):
    time.sleep(0.25)
    return real(*a, **k)
image._convert = slow
from goss_bench.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return datagen.make_coco_stuff(tmp_path_factory.mktemp("coco"), n_train=16, n_val=12, seed=3)


def _start(root: Path, out: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-c", _SLOW_CLI, "build-split", "--dataset", "coco", "--split",
           "manual-20-60", "--root", str(root), "--out", str(out), "--workers", "2", "--no-progress"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _journal_records(out: Path) -> list[dict]:
    p = out / JOURNAL
    if not p.is_file():
        return []
    lines = p.read_text().splitlines()[1:]
    return [json.loads(x) for x in lines if x.endswith("}")]


def _wait_for_records(proc: subprocess.Popen, out: Path, k: int) -> None:
    t0 = time.monotonic()
    while len(_journal_records(out)) < k:
        assert proc.poll() is None, "the build ended before the signal"
        assert time.monotonic() - t0 < 60, "no progress recorded"
        time.sleep(0.05)


def _tree(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def fresh(root, tmp_path_factory):
    out = tmp_path_factory.mktemp("fresh") / "out"
    build_split("coco", "manual-20-60", root, out)
    return _tree(out)


def test_sigkill_loses_only_images_in_flight(root, tmp_path, fresh) -> None:
    out = tmp_path / "out"
    proc = _start(root, out)
    _wait_for_records(proc, out, 6)
    proc.kill()
    proc.wait(timeout=30)
    done = {(r["subset"], r["stem"]) for r in _journal_records(out)}
    assert len(done) >= 6
    assert not (out / "manifest.json").exists()  # nothing but the journal was saved
    s = build_split("coco", "manual-20-60", root, out)
    assert s.reused >= len(done)  # every journalled image is reused, none redone
    assert _tree(out) == fresh
    assert not (out / JOURNAL).exists()


def test_sigterm_saves_partial_manifest_and_exits_143(root, tmp_path, fresh) -> None:
    out = tmp_path / "out"
    proc = _start(root, out)
    _wait_for_records(proc, out, 4)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert "terminated" in err and "run the same command again to resume" in err
    partial = json.loads((out / "manifest.json").read_text())
    assert partial["complete"] is False and len(partial["images"]) >= 4
    s = build_split("coco", "manual-20-60", root, out)
    assert s.reused >= len(partial["images"])
    assert _tree(out) == fresh


def test_journal_of_another_build_is_not_reused(root, tmp_path) -> None:
    out = tmp_path / "out"
    build_split("coco", "manual-20-60", root, out)
    recs = json.loads((out / "manifest.json").read_text())["images"]
    (out / "manifest.json").unlink()
    lines = [json.dumps({"journal": {"split_sha256": "other", "options": {}}})]
    lines += [json.dumps(r) for r in recs]
    (out / JOURNAL).write_text("\n".join(lines) + "\n{\"subset\": \"tr")  # torn last line
    s = build_split("coco", "manual-20-60", root, out)
    assert s.reused == 0


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_sigterm_during_score_exits_143(tmp_path) -> None:
    """score handles SIGTERM like Ctrl-C too (exit 143, one line, no traceback)."""
    code = ("import signal, os, sys\n"
            "from goss_bench import scoring\n"
            "real = scoring._read_image\n"
            "def first(job, stem):\n"
            "    os.kill(os.getpid(), signal.SIGTERM)\n"
            "    return real(job, stem)\n"
            "scoring._read_image = first\n"
            "from goss_bench.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    import numpy as np
    from conftest import make_gt_image, write_gt, write_pred

    rng = np.random.default_rng(0)
    s, g, c = make_gt_image(rng, 3)
    write_gt(tmp_path / "gt", {"a": (s, g, c)}, 3)
    write_pred(tmp_path / "pred", {"a": (s, g)})
    r = subprocess.run([sys.executable, "-c", code, "score", str(tmp_path / "pred"), str(tmp_path / "gt"),
                        "--workers", "1"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 143, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.strip() == "terminated"


def test_progress_bar_is_weighted_by_task_cost(root, tmp_path, monkeypatch) -> None:
    """Test images count 3, training images 1, reusable images 1; the bar ends at its total."""
    import tqdm

    bars: list = []

    class Recorder:
        def __init__(self, total=None, **kw):
            self.total, self.n = total, 0
            bars.append(self)

        def update(self, k=1):
            self.n += k

        def close(self):
            pass

    monkeypatch.setattr(tqdm, "tqdm", Recorder)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    s = build_split("coco", "manual-20-60", root, tmp_path / "out", progress=True)
    ntest = s.candidates["test"]
    ntrain = s.candidates["train"]
    assert bars[-1].total == 3 * ntest + ntrain
    assert bars[-1].n == bars[-1].total
    build_split("coco", "manual-20-60", root, tmp_path / "out", progress=True)  # all reused
    assert bars[-1].total == bars[-1].n == ntest + ntrain
