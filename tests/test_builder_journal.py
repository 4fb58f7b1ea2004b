"""Journal: appends never wait for an fsync (it runs in the background), close waits for it."""

from __future__ import annotations

import threading

from goss_bench.builder import journal as jmod
from goss_bench.builder.journal import Journal


def test_append_does_not_wait_for_the_fsync(tmp_path, monkeypatch) -> None:
    started, release, finished = threading.Event(), threading.Event(), threading.Event()
    real = jmod.os.fsync

    def blocked_fsync(fd: int) -> None:
        if threading.current_thread().name == "journal-fsync":  # a disk that does not answer
            started.set()
            assert release.wait(30)
            finished.set()
        real(fd)

    monkeypatch.setattr(jmod.os, "fsync", blocked_fsync)
    monkeypatch.setattr(jmod, "FSYNC_EVERY_S", 0.0)
    j = Journal(tmp_path, {"split_sha256": "x", "options": {}})
    j.open(fresh=True)
    j.append('{"subset": "test", "stem": "000"}')
    assert started.wait(30)
    for i in range(1, 50):  # the background fsync is still blocked: appends go on
        j.append(f'{{"subset": "test", "stem": "{i:03d}"}}')
    assert not finished.is_set()
    closer = threading.Thread(target=j.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive()  # close waits for the background fsync
    release.set()
    closer.join(30)
    assert not closer.is_alive() and finished.is_set()
    assert [k for k, _ in j.entries()] == [("test", f"{i:03d}") for i in range(50)]
