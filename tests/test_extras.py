"""A missing optional dependency gives one `error:` line with the pip command, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import datagen
import pytest

from goss_bench.extras import EXTRAS, install_hint

ROOT = Path(__file__).resolve().parents[1]

# runs the CLI with some top-level modules made unimportable
RUNNER = """
import sys
blocked = set(sys.argv[1].split(","))
class Blocker:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Blocker)
from goss_bench.cli import main
sys.exit(main(sys.argv[2:]))
"""


def run_without(blocked: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("GOSS_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-c", RUNNER, blocked, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def check_one_error(proc: subprocess.CompletedProcess, extra: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert install_hint(extra) in lines[0]


@pytest.fixture(scope="module")
def coco_root(tmp_path_factory):
    return datagen.make_coco_stuff(tmp_path_factory.mktemp("coco"), n_train=2, n_val=2, seed=1)


def test_source_json_without_pycocotools(coco_root, tmp_path):
    proc = run_without("pycocotools", "build-split", "--dataset", "coco", "--split",
                       "manual-20-60", "--root", str(coco_root), "--source", "json",
                       "--workers", "2", "--no-progress", "--out", str(tmp_path / "o"), cwd=tmp_path)
    check_one_error(proc, "coco")
    proc = run_without("pycocotools", "stats", "--dataset", "coco", "--root", str(coco_root),
                       "--source", "json", "--no-progress", cwd=tmp_path)
    check_one_error(proc, "coco")


def test_cityscapes_without_cityscapesscripts(tmp_path):
    proc = run_without("cityscapesscripts", "labels", "--dataset", "cityscapes", "--split",
                       "manual-16-3", cwd=tmp_path)
    check_one_error(proc, "cityscapes")


@pytest.mark.parametrize("cmd", [["serve"], ["worker"], ["server", "add-team", "x"]])
def test_server_commands_without_the_server_extra(tmp_path, cmd):
    proc = run_without("uvicorn,fastapi", *cmd, cwd=tmp_path)
    check_one_error(proc, "server")


def test_demo_without_torch(tmp_path):
    proc = run_without("torch", "demo", "--work", str(tmp_path / "w"), cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert 'pip install "goss-bench[server,baselines]"' in proc.stderr


def test_extras_table_matches_pyproject():
    tomllib = pytest.importorskip("tomllib")
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert set(EXTRAS) <= set(deps)


def test_demo_script_installs_what_the_quick_start_uses():
    text = (ROOT / "scripts" / "demo").read_text()
    assert '-e ".[$EXTRAS]"' in text
    extras = text.split('EXTRAS="')[1].split('"')[0].split(",")
    assert {"server", "baselines", "coco", "cityscapes"} <= set(extras)
