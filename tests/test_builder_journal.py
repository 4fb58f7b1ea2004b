"""Journal: appends never wait for an fsync (it runs in the background), close waits for it."""

from __future__ import annotations

import threading
import time

from goss_bench.builder import journal as jmod
from goss_bench.builder.journal import Journal


def test_append_does_not_wait_for_the_fsync(tmp_path, monkeypatch) -> None:
    calls: list[float] = []
    done = threading.Event()
    real = jmod.os.fsync

    def slow_fsync(fd: int) -> None:
        calls.append(time.monotonic())
        if threading.current_thread().name == "journal-fsync":
            time.sleep(0.5)  # a busy disk
            done.set()
        real(fd)

    monkeypatch.setattr(jmod.os, "fsync", slow_fsync)
    monkeypatch.setattr(jmod, "FSYNC_EVERY_S", 0.0)
    j = Journal(tmp_path, {"split_sha256": "x", "options": {}})
    j.open(fresh=True)
    t0 = time.monotonic()
    for i in range(50):
        j.append(f'{{"subset": "test", "stem": "{i:03d}"}}')
    assert time.monotonic() - t0 < 0.4  # one background fsync at a time, never waited for
    assert not done.is_set()
    j.close()  # waits for the background fsync, then syncs once more
    assert done.is_set()
    assert [k for k, _ in j.entries()] == [("test", f"{i:03d}") for i in range(50)]
