"""The builder's bounded-memory pieces on their own: the external merge sort, atomic line
writers, the journal's streamed reading and the manifest header reader."""

from __future__ import annotations

import json
import random
from operator import itemgetter

import pytest

from goss_bench.builder import spool
from goss_bench.builder.journal import JOURNAL, Journal
from goss_bench.builder.manifest import manifest_lines, open_manifest, read_manifest_header
from goss_bench.builder.parallel import map_unordered
from goss_bench.builder.spool import SortedSpool, write_lines_atomic
from goss_bench.errors import GossInputError


def _pairs(n: int, seed: int = 0) -> list[tuple[tuple, str]]:
    rng = random.Random(seed)
    stems = ["a", "a-b", "a.b", "b", "é", "Z", "10", "9"]
    return [((rng.choice(["test", "train"]), rng.choice(stems)), f"line {i} ü")
            for i in range(n)]


@pytest.mark.parametrize(("n", "chunk", "fan_in"), [(0, 4, 3), (1, 4, 3), (3, 4, 3), (100, 4, 3),
                                                     (100, 7, 2), (50, 1000, 32)])
def test_spool_equals_a_stable_sort(tmp_path, monkeypatch, n, chunk, fan_in):
    monkeypatch.setattr(spool, "FAN_IN", fan_in)
    sp = SortedSpool(tmp_path / "w", "x", chunk=chunk)
    pairs = _pairs(n)
    for k, line in pairs:
        sp.add(k, line)
        assert sp.buffered < chunk and sp.runs < max(fan_in, 2)  # bounded memory and files
    assert list(sp) == sorted(pairs, key=itemgetter(0))  # equal keys: in the order added
    assert list(sp) == sorted(pairs, key=itemgetter(0))  # can be read again
    assert sp.runs_written >= n // chunk
    on_disk = sorted(p.name for p in (tmp_path / "w").glob("*.run")) if n >= chunk else []
    assert len(on_disk) == sp.runs  # merged runs are deleted


def test_spool_interrupted_while_spilling_loses_nothing(tmp_path, monkeypatch):
    sp = SortedSpool(tmp_path, "x", chunk=4)
    pairs = _pairs(12, seed=1)
    for k, line in pairs[:11]:
        sp.add(k, line)
    real = SortedSpool._write_run

    def interrupted(self, it):
        real(self, it)  # the run file is complete, the spool not yet updated
        raise KeyboardInterrupt

    monkeypatch.setattr(SortedSpool, "_write_run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sp.add(*pairs[11])  # the 12th pair fills the third chunk
    assert sp.runs == 2 and sp.runs_written == 3
    assert list(sp) == sorted(pairs, key=itemgetter(0))  # the orphan run is not read
    with pytest.raises(ValueError, match="newline"):
        sp.add(("a",), "two\nlines")


def test_write_lines_atomic(tmp_path):
    p = tmp_path / "f.txt"
    import hashlib

    sha = write_lines_atomic(p, (f"{i} é\n" for i in range(1000)))
    data = "".join(f"{i} é\n" for i in range(1000)).encode()
    assert p.read_bytes() == data and sha == hashlib.sha256(data).hexdigest()

    def failing():
        yield "new\n"
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_lines_atomic(p, failing())
    assert p.read_bytes() == data and sorted(x.name for x in tmp_path.iterdir()) == ["f.txt"]


def test_journal_streams_and_skips_torn_lines(tmp_path):
    j = Journal(tmp_path, {"k": 1})
    j.open(fresh=True)
    recs = [{"subset": "test", "stem": f"s{i}", "é": i} for i in range(3)]
    for r in recs:
        j.append(json.dumps(r, ensure_ascii=False))
    j.close()
    with open(tmp_path / JOURNAL, "ab") as fh:
        fh.write('{"subset":"test","stem":"é'.encode()[:-1])  # torn inside a character
    assert [json.loads(line) for _, line in j.entries()] == recs
    assert [k for k, _ in j.entries()] == [("test", f"s{i}") for i in range(3)]
    assert list(Journal(tmp_path, {"k": 2}).entries()) == []  # another build's journal
    j.open(fresh=False)  # appends to the matching journal
    j.append(json.dumps({"subset": "train", "stem": "x"}))
    j.close()
    assert len(list(j.entries())) == 3  # the torn line swallowed the next one, no more


def test_manifest_header_reads_only_the_first_line(tmp_path):
    head = {"complete": True, "split": "x", "classes": {"test": [{"images": 3}]}}
    text = "".join(manifest_lines(head, [("a.png", "0" * 64)], ['{"stem":"s","subset":"test"}']))
    p = tmp_path / "manifest.json"
    p.write_text(text)
    assert json.loads(text) == {**head, "files": {"a.png": "0" * 64},
                                "images": [{"stem": "s", "subset": "test"}]}
    prev = open_manifest(p)
    assert prev is not None and list(prev.records()) == [(("test", "s"),
                                                          '{"stem":"s","subset":"test"}')]
    p.write_text("".join(text.splitlines(keepends=True)[:2]) + "\x00 garbage that is never read")
    assert read_manifest_header(p) == head
    # a hand-edited manifest whose first line happens to end with a comma
    p.write_text('{"complete": true,\n "split": "x", "classes": {"test": [{"images": 3}]},\n'
                 ' "files": {}, "images": [{"stem": "s", "subset": "test"}]}\n')
    prev = open_manifest(p)
    assert prev is not None and prev.doc is not None and prev.header == head
    assert list(prev.records()) == [(("test", "s"), '{"stem":"s","subset":"test"}')]
    p.write_text(json.dumps({**head, "files": {}, "images": []}))  # the old one-line layout
    assert read_manifest_header(p) == head
    p.write_text("[1, 2]")
    with pytest.raises(GossInputError, match="JSON object"):
        read_manifest_header(p)
    empty = "".join(manifest_lines(head, [], []))
    assert json.loads(empty) == {**head, "files": {}, "images": []}


def test_map_unordered_takes_a_generator_with_its_count():
    assert sorted(map_unordered(abs, (-i for i in range(5)), count=5)) == [0, 1, 2, 3, 4]
    with pytest.raises(TypeError, match="count"):
        list(map_unordered(abs, (-i for i in range(5))))
