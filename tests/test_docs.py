"""The Markdown documentation is true: its runnable blocks run and print what it says.

Rules for README.md, docs/*.md and baselines/README.md (every ``*.md`` of the
repository root, docs/ and baselines/):

* Every ``bash``/``sh``/``python`` block is tagged: ```` ```bash runnable ````
  (executed by this test) or ```` ```bash illustration ```` (needs something the
  repository does not have: the full datasets, a GPU, a public server, your own
  predictions). An untagged block is an error, so no command escapes checking
  by accident.
* The runnable blocks of one document run in order, in one scratch folder in
  which ``examples/``, ``splits/`` and ``baselines/`` point at the repository's
  folders (read-only use), so a later block can use an earlier block's outputs.
  ``goss-bench`` and ``python`` resolve to the test's interpreter environment.
* A ```` ```text output ```` block states what the runnable block before it
  prints on stdout; the test compares them line by line (trailing spaces
  ignored). In the stated output, a line ``...`` stands for any number of
  lines and ``...`` inside a line for any text (timings, paths). So every
  number the documentation states about the sample data is produced by the
  code, on every test run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([*ROOT.glob("*.md"), *ROOT.glob("docs/*.md"), *ROOT.glob("baselines/*.md")])
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)
CODE_LANGS = ("bash", "sh", "python")
TAGS = ("runnable", "illustration")
LINKED = ("examples", "splits", "baselines")
RUN_TWICE = {"baselines/README.md"}
"""Documents whose blocks run twice (in two folders): both runs must print the same,
and write byte-identical prediction files (the CPU tutorial is deterministic)."""


@dataclass
class Block:
    """One runnable block and the output the document states for it (or None)."""

    lang: str
    code: str
    line: int
    output: str | None = None
    output_line: int = 0


def parse(path: Path) -> list[Block]:
    """Runnable blocks of a Markdown file, each with its stated output.

    Raises ValueError for an untagged code block, an unknown tag, or an output
    block that follows no runnable block.
    """
    text = path.read_text(encoding="utf-8")
    blocks: list[Block] = []
    last_code_runnable = False
    for m in FENCE.finditer(text):
        info = m.group(1).split()
        line = text.count("\n", 0, m.start()) + 1
        lang, tags = (info[0], info[1:]) if info else ("", [])
        if lang in CODE_LANGS:
            if not any(t in TAGS for t in tags):
                raise ValueError(
                    f"{path.name}:{line}: ```{lang} block without a tag; mark it "
                    f"'runnable' (checked by tests/test_docs.py) or 'illustration'"
                )
            last_code_runnable = "runnable" in tags
            if last_code_runnable:
                blocks.append(Block(lang, m.group(2), line))
        elif "output" in tags:
            if not (blocks and last_code_runnable and blocks[-1].output is None):
                raise ValueError(f"{path.name}:{line}: output block without a runnable block before it")
            blocks[-1].output = m.group(2)
            blocks[-1].output_line = line
        elif "runnable" in tags:
            raise ValueError(f"{path.name}:{line}: runnable block in unsupported language {lang!r}")
    return blocks


def runnable_blocks(path: Path) -> list[tuple[str, str, int]]:
    """``(language, code, line number)`` of each runnable block in a Markdown file."""
    return [(b.lang, b.code, b.line) for b in parse(path)]


def output_matches(expected: str, actual: str) -> bool:
    """Line-by-line match with ``...`` wildcards (see the module docstring)."""
    exp = [ln.rstrip() for ln in expected.rstrip("\n").split("\n")]
    act = [ln.rstrip() for ln in actual.rstrip("\n").split("\n")] if actual.strip() else []

    def line_ok(pattern: str, line: str) -> bool:
        rx = ".*".join(re.escape(part) for part in pattern.split("..."))
        return re.fullmatch(rx, line) is not None

    def match(i: int, j: int) -> bool:
        if i == len(exp):
            return j == len(act)
        if exp[i].strip() == "...":
            return any(match(i + 1, k) for k in range(j, len(act) + 1))
        return j < len(act) and line_ok(exp[i], act[j]) and match(i + 1, j + 1)

    return match(0, 0)


DOCS_WITH_BLOCKS = [p for p in DOCS if " runnable" in p.read_text(encoding="utf-8")]


def test_docs_have_runnable_blocks() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in DOCS_WITH_BLOCKS}
    assert {"docs/evaluate.md", "docs/building.md", "baselines/README.md"} <= names


def test_every_code_block_is_tagged() -> None:
    for p in DOCS:
        parse(p)  # raises for an untagged block


def test_output_matching_rules() -> None:
    assert output_matches("a\n...\nd\n", "a\nb\nc\nd\n")
    assert output_matches("a\n...\n", "a\n")
    assert output_matches("written in ... s", "written in 1.5 s")
    assert not output_matches("GQ 54.05%", "GQ 54.06%")
    assert not output_matches("a\nb\n", "a\nb\nc\n")  # nothing left out silently


def run_doc(doc: Path, workdir: Path) -> list[tuple[Block, str]]:
    """Run the runnable blocks of ``doc`` in ``workdir``; (block, stdout) of each."""
    for name in LINKED:
        (workdir / name).symlink_to(ROOT / name)
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("GOSS_DATABASE_URL", None)
    env.pop("GOSS_DATASETS", None)
    out = []
    for block in parse(doc):
        if block.lang == "python":
            cmd = [sys.executable, "-c", block.code]
        else:
            cmd = ["bash", "-euo", "pipefail", "-c", block.code]
        proc = subprocess.run(
            cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, (
            f"{doc.relative_to(ROOT)}:{block.line}: {block.lang} block failed "
            f"(exit {proc.returncode})\n--- code ---\n{block.code}\n--- stdout ---\n"
            f"{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
        out.append((block, proc.stdout))
    return out


@pytest.mark.parametrize(
    "doc", DOCS_WITH_BLOCKS, ids=[p.relative_to(ROOT).as_posix() for p in DOCS_WITH_BLOCKS]
)
def test_runnable_blocks(doc: Path, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    results = run_doc(doc, tmp_path / "a")
    if doc.relative_to(ROOT).as_posix() in RUN_TWICE:
        (tmp_path / "b").mkdir()
        again = run_doc(doc, tmp_path / "b")
        assert [out for _, out in again] == [out for _, out in results]
        files = {
            p.relative_to(tmp_path / "a"): p.read_bytes()
            for p in sorted((tmp_path / "a").rglob("*.png")) if "preds" in p.parts
        }
        assert files, "the tutorial should write predictions under preds/"
        assert files == {
            p.relative_to(tmp_path / "b"): p.read_bytes()
            for p in sorted((tmp_path / "b").rglob("*.png")) if "preds" in p.parts
        }
    for block, stdout in results:
        if block.output is not None:
            assert output_matches(block.output, stdout), (
                f"{doc.relative_to(ROOT)}:{block.output_line}: the stated output differs from "
                f"what the block at line {block.line} prints\n--- stated ---\n{block.output}"
                f"--- printed ---\n{stdout}"
            )
