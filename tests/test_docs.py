"""Run every code block marked ``runnable`` in the Markdown documentation.

A block whose fence reads ```` ```bash runnable ```` or ```` ```python runnable ````
is executed; the blocks of one document run in order, in one scratch folder in
which ``examples/``, ``splits/`` and ``baselines/`` point at the repository's
folders (read-only use), so a later block can use an earlier block's outputs.
``goss-bench`` and ``python`` resolve to the test's interpreter environment.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([*ROOT.glob("*.md"), *ROOT.glob("docs/*.md"), *ROOT.glob("baselines/*.md")])
FENCE = re.compile(r"^```(\w+)[ \t]+runnable[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
LINKED = ("examples", "splits", "baselines")


def runnable_blocks(path: Path) -> list[tuple[str, str, int]]:
    """``(language, code, line number)`` of each runnable block in a Markdown file."""
    text = path.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        lang = m.group(1)
        if lang not in ("bash", "sh", "python"):
            raise ValueError(f"{path}: runnable block in unsupported language {lang!r}")
        out.append((lang, m.group(2), text.count("\n", 0, m.start()) + 1))
    return out


DOCS_WITH_BLOCKS = [p for p in DOCS if runnable_blocks(p)]


def test_docs_have_runnable_blocks() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in DOCS_WITH_BLOCKS}
    assert "docs/evaluate.md" in names


@pytest.mark.parametrize(
    "doc", DOCS_WITH_BLOCKS, ids=[p.relative_to(ROOT).as_posix() for p in DOCS_WITH_BLOCKS]
)
def test_runnable_blocks(doc: Path, tmp_path: Path) -> None:
    for name in LINKED:
        (tmp_path / name).symlink_to(ROOT / name)
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("GOSS_DATABASE_URL", None)
    for lang, code, line in runnable_blocks(doc):
        if lang == "python":
            cmd = [sys.executable, "-c", code]
        else:
            cmd = ["bash", "-euo", "pipefail", "-c", code]
        proc = subprocess.run(
            cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, (
            f"{doc.relative_to(ROOT)}:{line}: {lang} block failed (exit {proc.returncode})\n"
            f"--- code ---\n{code}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
