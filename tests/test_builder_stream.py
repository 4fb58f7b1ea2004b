"""The builder's parent process keeps bounded state per image (issue 16, "flat at any scale").

Records stream to sorted spools on disk (an external merge sort), manifest.json
is written and read line by line, and a resumed build merge-joins the previous
manifest and journal with the sorted work items. Checked here with tiny sort
chunks (many run files, cascaded merges) against the slow in-memory reference
of tests/manifest_reference.py, and by counting the image records alive in the
parent while it builds.
"""

from __future__ import annotations

import gc
import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import datagen
import manifest_reference as ref
import pytest

import goss_bench
from goss_bench.builder import build_split, image, spool
from goss_bench.builder.journal import JOURNAL, Journal
from goss_bench.builder.manifest import MANIFEST
from goss_bench.errors import GossInputError
from goss_bench.splits import load_split

pytestmark = pytest.mark.timeout(120)
SPLIT = "manual-20-60"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """COCO-Stuff PNGs (12 train, 10 val) plus test images "a" and "a-b" (file order
    "a-b.png" < "a.png", stem order "a" < "a-b") and training images "b", "b-c"."""
    r = datagen.make_coco_stuff(tmp_path_factory.mktemp("coco"), n_train=10, n_val=8, seed=5,
                                json_files=False)
    for sub, src, names in (("val2017", "000000500001", ("a", "a-b")),
                            ("train2017", "000000000002", ("b", "b-c"))):
        for name in names:
            shutil.copy(r / "stuffthingmaps_trainval2017" / sub / f"{src}.png",
                        r / "stuffthingmaps_trainval2017" / sub / f"{name}.png")
            shutil.copy(r / sub / f"{src}.jpg", r / sub / f"{name}.jpg")
    return r


def _tree(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def fresh(root, tmp_path_factory):
    """A build with the default sort chunk, in one process."""
    out = tmp_path_factory.mktemp("fresh") / "out"
    build_split("coco", SPLIT, root, out)
    return _tree(out)


@pytest.fixture()
def tiny_chunks(monkeypatch):
    """Sort chunks of 3 lines, merged 3 runs at a time: every build spills and cascades."""
    monkeypatch.setattr(spool, "CHUNK", 3)
    monkeypatch.setattr(spool, "FAN_IN", 3)


def _reference_doc(out: Path, records: list[dict], *, complete: bool = True) -> dict:
    recs = records[:]
    random.Random(0).shuffle(recs)  # the reference sorts them itself
    files = ref.expected_files(out, records) if complete else {}
    text = ref.manifest_text(split=load_split(SPLIT, "coco"), options=_options(out),
                             tool_version=goss_bench.__version__, records=recs, files=files,
                             complete=complete)
    return json.loads(text)


def _options(out: Path) -> dict:
    return json.loads((out / "split.json").read_text())["options"]


def test_streamed_manifest_equals_the_in_memory_reference(root, fresh, tmp_path, tiny_chunks):
    out = tmp_path / "out"
    build_split("coco", SPLIT, root, out, workers=2)
    assert _tree(out) == fresh  # any sort chunk, any number of workers: the same bytes
    text = (out / MANIFEST).read_text()
    doc = json.loads(text)
    assert doc == _reference_doc(out, doc["images"])
    files, images = list(doc["files"]), doc["images"]
    # the files mapping is sorted by path, the records by (subset, stem)
    assert files == sorted(files) and files.index("test/semantic/a-b.png") < files.index(
        "test/semantic/a.png")
    keys = [(r["subset"], r["stem"]) for r in images]
    assert keys == sorted(keys) and keys.index(("test", "a")) < keys.index(("test", "a-b"))
    assert keys.index(("train", "b")) < keys.index(("train", "b-c"))
    # the line layout: header, one line per file, one line per image record
    lines = text.splitlines()
    assert lines[0].endswith(",")
    assert json.loads(lines[0][:-1] + "}") == {k: v for k, v in doc.items()
                                               if k not in ("files", "images")}
    assert lines[1] == '"files":{' and lines[2 + len(files)] == "},"
    assert lines[3 + len(files)] == '"images":['
    assert [json.loads(x.rstrip(",")) for x in lines[4 + len(files):-1]] == images
    assert lines[-1] == "]}" and len(lines) == 5 + len(files) + len(images)
    assert not (out / ".build-work").exists() and not (out / JOURNAL).exists()


def _live_records() -> int:
    """Image records (dicts with subset, stem and status) alive in this process."""
    return sum(1 for o in gc.get_objects()
               if type(o) is dict and "status" in o and "stem" in o and "subset" in o)


@pytest.mark.parametrize("rerun", [False, True], ids=["build", "rerun"])
def test_parent_holds_a_bounded_number_of_records(root, fresh, tmp_path, monkeypatch, rerun):
    """With sort chunks of 3, at most a handful of records are alive at any time (the
    old builder held every record until the end), and the records go to run files."""
    monkeypatch.setattr(spool, "CHUNK", 3)
    monkeypatch.setattr(spool, "FAN_IN", 4)
    out = tmp_path / "out"
    if rerun:
        build_split("coco", SPLIT, root, out)
    runs: list[str] = []
    real_write = spool.SortedSpool._write_run

    def counting_write(self, pairs):
        p = real_write(self, pairs)
        runs.append(p.name)
        return p

    monkeypatch.setattr(spool.SortedSpool, "_write_run", counting_write)
    seen: list[int] = []
    real_append = Journal.append

    def append(self, line):
        seen.append(_live_records())
        return real_append(self, line)

    baseline = _live_records()
    monkeypatch.setattr(Journal, "append", append)
    s = build_split("coco", SPLIT, root, out, workers=1)
    n = sum(s.candidates.values())
    assert len(seen) == n
    assert max(seen) - baseline <= 3, seen  # the record in hand, the previous one, one more
    record_runs = [r for r in runs if r.startswith("records-")]
    assert len(record_runs) >= n // 3  # every chunk of 3 spilled (plus cascaded merges)
    assert s.reused == (n if rerun else 0)
    assert _tree(out) == fresh


def test_results_do_not_pile_up_when_the_parent_is_slower_than_the_workers(
        root, fresh, tmp_path, monkeypatch):
    """A re-run only hashes files, so 2 workers outpace a parent that is slowed down
    here (each record waits for a scan of all objects): the pool gets at most one chunk
    per worker ahead of the results taken (IN_FLIGHT_CHUNKS = 1 here)."""
    from goss_bench.builder import parallel

    out = tmp_path / "out"
    build_split("coco", SPLIT, root, out)
    monkeypatch.setattr(parallel, "IN_FLIGHT_CHUNKS", 1)
    seen: list[int] = []
    real_append = Journal.append

    def slow_append(self, line):
        seen.append(_live_records())
        time.sleep(0.02)
        return real_append(self, line)

    baseline = _live_records()
    monkeypatch.setattr(Journal, "append", slow_append)
    s = build_split("coco", SPLIT, root, out, workers=2)
    assert s.reused == len(seen) == 22
    assert max(seen) - baseline <= 2 + 3, seen  # 2 in flight, plus those in hand
    assert _tree(out) == fresh


_SLOW_CLI = """
import sys, time
from goss_bench.builder import image, spool
spool.CHUNK, spool.FAN_IN = 3, 3
real = image._convert
def slow(*a, **k):
    time.sleep(0.15)
    return real(*a, **k)
image._convert = slow
from goss_bench.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _journal_keys(out: Path) -> set[tuple[str, str]]:
    p = out / JOURNAL
    lines = p.read_text().splitlines()[1:] if p.is_file() else []
    return {(r["subset"], r["stem"]) for r in map(json.loads, (x for x in lines if x.endswith("}")))}


def test_resume_after_sigkill_reuses_the_journal(root, fresh, tmp_path, tiny_chunks):
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", _SLOW_CLI, "build-split", "--dataset", "coco", "--split", SPLIT,
           "--root", str(root), "--out", str(out), "--workers", "2", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t0 = time.monotonic()
    while len(_journal_keys(out)) < 10:
        assert proc.poll() is None, "the build ended before the signal"
        assert time.monotonic() - t0 < 60
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    done = _journal_keys(out)
    assert not (out / MANIFEST).exists()
    assert (out / ".build-work").is_dir()  # the killed run's sort runs, cleared on resume
    s = build_split("coco", SPLIT, root, out)
    assert s.reused >= len(done) >= 10
    assert _tree(out) == fresh


def test_journal_supersedes_manifest_and_later_lines_win(root, fresh, tmp_path, monkeypatch,
                                                         tiny_chunks):
    out = tmp_path / "out"
    real = image._convert
    calls = {"n": 0}

    def interrupted(*a, **k):
        calls["n"] += 1
        if calls["n"] == 12:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(image, "_convert", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_split("coco", SPLIT, root, out)
    monkeypatch.setattr(image, "_convert", real)
    text = (out / MANIFEST).read_text()
    partial = json.loads(text)
    recs = partial["images"]
    assert partial["complete"] is False and len(recs) == 11
    assert partial == _reference_doc(out, recs, complete=False)
    def stale(r: dict) -> dict:
        return {**r, "input_sha256": "0" * 64}

    def line(r: dict) -> str:
        return json.dumps(r, sort_keys=True, separators=(",", ":"))

    # recs[0]: stale in the manifest, good in the journal: the journal's record wins
    assert line(recs[0]) in text
    (out / MANIFEST).write_text(text.replace(line(recs[0]), line(stale(recs[0]))))
    with open(out / JOURNAL, "a") as fh:
        # recs[1]: a stale journal line, then a good one: the later line wins
        # recs[2]: a later stale journal line: converted again
        fh.write("\n".join(map(line, [stale(recs[1]), recs[1], stale(recs[2])])) + "\n")
    converted: list[tuple[str, str]] = []

    def recording(ctx, item, *a, **k):
        converted.append((item.subset, item.stem))
        return real(ctx, item, *a, **k)

    monkeypatch.setattr(image, "_convert", recording)
    s = build_split("coco", SPLIT, root, out)
    assert s.reused == 10
    assert set(converted) & {(r["subset"], r["stem"]) for r in recs} == {
        (recs[2]["subset"], recs[2]["stem"])}
    assert _tree(out) == fresh


def test_rerun_of_a_complete_build_reuses_everything(root, fresh, tmp_path, tiny_chunks):
    out = tmp_path / "out"
    build_split("coco", SPLIT, root, out, workers=2)
    s = build_split("coco", SPLIT, root, out, workers=2)
    assert s.reused == sum(s.candidates.values())
    assert _tree(out) == fresh


@pytest.mark.parametrize("complete", [True, False], ids=["complete", "partial"])
def test_manifest_of_the_old_one_line_layout_is_resumed(root, fresh, tmp_path, tiny_chunks,
                                                         complete):
    out = tmp_path / "out"
    build_split("coco", SPLIT, root, out)
    recs = json.loads((out / MANIFEST).read_text())["images"]
    recs = recs if complete else recs[::2]
    old = ref.manifest_text(split=load_split(SPLIT, "coco"), options=_options(out),
                            tool_version="0.1.0", records=recs,
                            files=ref.expected_files(out, recs) if complete else {},
                            complete=complete)
    assert old.count("\n") == 1
    (out / MANIFEST).write_text(old)
    s = build_split("coco", SPLIT, root, out)
    assert s.reused == len(recs)
    assert _tree(out) == fresh


def test_unreadable_manifest_is_named_and_overwrite_replaces_it(root, fresh, tmp_path):
    out = tmp_path / "out"
    build_split("coco", SPLIT, root, out)
    lines = (out / MANIFEST).read_text().splitlines(keepends=True)
    k = lines.index('"images":[\n') + 3
    lines[k] = lines[k][:40] + "\n"  # a torn record line
    (out / MANIFEST).write_text("".join(lines))
    with pytest.raises(GossInputError, match=rf"manifest.json:{k + 1}: unreadable .*--overwrite"):
        build_split("coco", SPLIT, root, out)
    (out / MANIFEST).write_text("".join(lines[: k - 1]))  # ends inside the records
    with pytest.raises(GossInputError, match="ends inside the image records"):
        build_split("coco", SPLIT, root, out)
    (out / MANIFEST).write_text("{not json")
    with pytest.raises(GossInputError, match="unreadable manifest"):
        build_split("coco", SPLIT, root, out)
    s = build_split("coco", SPLIT, root, out, overwrite=True)
    assert s.reused == 0
    assert _tree(out) == fresh
