"""Keep ``serve``'s embedded scoring workers running.

A thread polls the worker processes; one that exited (killed, crashed, out
of memory) is restarted after a delay that doubles on each quick exit (from
``min_backoff`` up to ``max_backoff``) and resets once a worker has run for
``healthy_after`` seconds.  ``stop()`` terminates them (SIGTERM, then SIGKILL
after ``grace`` seconds).
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

log = logging.getLogger("goss.serve")


@dataclass
class _Slot:
    proc: subprocess.Popen | None = None
    started: float = 0.0
    backoff: float = 0.0
    restart_at: float = 0.0
    restarts: int = 0
    history: list[int] = field(default_factory=list)  # pids, oldest first


class Supervisor:
    """Run ``count`` copies of ``cmd`` and restart any that exits."""

    def __init__(
        self,
        cmd: Sequence[str],
        count: int,
        env: dict[str, str] | None = None,
        *,
        min_backoff: float = 1.0,
        max_backoff: float = 60.0,
        healthy_after: float = 60.0,
        poll: float = 0.5,
        grace: float = 30.0,
    ) -> None:
        self.cmd, self.env = list(cmd), env
        self.min_backoff, self.max_backoff = min_backoff, max_backoff
        self.healthy_after, self.poll, self.grace = healthy_after, poll, grace
        self.slots = [_Slot(backoff=min_backoff) for _ in range(max(0, count))]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-supervisor", daemon=True)

    def _spawn(self, slot: _Slot) -> None:
        slot.proc = subprocess.Popen(self.cmd, env=self.env)
        slot.started = time.monotonic()
        slot.history.append(slot.proc.pid)

    def start(self) -> Supervisor:
        for slot in self.slots:
            self._spawn(slot)
        if self.slots:
            self._thread.start()
        return self

    @property
    def pids(self) -> list[int | None]:
        return [None if s.proc is None else s.proc.pid for s in self.slots]

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            now = time.monotonic()
            for i, slot in enumerate(self.slots):
                if slot.proc is not None:
                    code = slot.proc.poll()
                    if code is None:
                        continue
                    ran = now - slot.started
                    if ran >= self.healthy_after:
                        slot.backoff = self.min_backoff
                    delay = slot.backoff
                    slot.backoff = min(self.max_backoff, slot.backoff * 2)
                    slot.restart_at = now + delay
                    log.warning(
                        "scoring worker %d (pid %d) exited with code %s after %.0f s; "
                        "restarting in %.1f s", i, slot.proc.pid, code, ran, delay,
                    )
                    slot.proc = None
                elif now >= slot.restart_at and not self._stop.is_set():
                    try:
                        self._spawn(slot)
                    except OSError as exc:
                        log.error("cannot start scoring worker %d: %s", i, exc)
                        slot.restart_at = now + slot.backoff
                        continue
                    slot.restarts += 1
                    log.warning("scoring worker %d restarted (pid %d)", i, slot.history[-1])

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        procs = [s.proc for s in self.slots if s.proc is not None]
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=self.grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
