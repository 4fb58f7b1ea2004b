"""Scoring workers: claim queued submissions, score them, record the result.

Claiming is one short write transaction: on PostgreSQL ``SELECT ... FOR
UPDATE SKIP LOCKED`` picks a queued row no other worker is claiming, and the
team row is then locked to keep one running job per team; on SQLite the
transaction starts with ``BEGIN IMMEDIATE`` (one writer at a time), which
gives the same guarantee for several processes on one host.

The claim sets ``worker_id``, increments ``attempts`` and sets
``lease_until``; a heartbeat thread renews the lease while scoring.  Any
worker's reaper re-queues a submission whose lease expired (its worker died),
keeping its place in the queue, or fails it after ``max_attempts`` claims.
Results are written only if the row is still ``scoring`` under the same
worker and attempt, so a worker that lost its lease cannot overwrite a later
result: every submission is finished exactly once.

Database outages: every database call of the loop is retried with capped
exponential backoff and jitter (:func:`retry`); the worker logs the outage,
keeps a computed result in memory and records it when the database is back
(unless another worker reclaimed the expired lease meanwhile).  Each worker
also keeps a row in ``workers`` (last sign of life) for ``/api/v1/health``.

A failed rescore keeps the previous score (the row stays ``finished`` with a
note); a stored upload that no longer matches its sha256 fails with a message
for the operator, not for the team.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import socket
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar, cast

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import CursorResult

from goss_bench.errors import GossInputError
from goss_bench.submission import Limits, check_zip, extract_predictions
from server.config import Settings
from server.db import Database, is_transient
from server.housekeeping import owner_tag, sweep_dir
from server.models import (
    FAILED,
    FINISHED,
    QUEUED,
    SCORING,
    Benchmark,
    Submission,
    SubmissionEvent,
    Team,
    WorkerBeat,
    utcnow,
)
from server.services import benchmark_layout, invalidate_leaderboards
from server.significance import save_image_stats

log = logging.getLogger("goss.worker")
_PIL_LIMIT_LOCK = threading.Lock()
T = TypeVar("T")


class Stopped(Exception):
    """The worker was asked to stop while waiting for the database."""


def retry(
    fn: Callable[[], T],
    what: str,
    *,
    stop: threading.Event | None = None,
    max_delay: float = 30.0,
    base: float = 0.25,
) -> T:
    """``fn()``, retried while it fails with a transient database error.

    Delay before attempt k: ``min(max_delay, base * 2**k)`` scaled by a random
    factor in [0.5, 1] (jitter, so that workers do not reconnect in step).
    Logs the outage once and the recovery; raises :class:`Stopped` if ``stop``
    is set while waiting; other errors propagate.
    """
    failures = 0
    since = 0.0
    while True:
        try:
            out = fn()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if failures == 0:
                since = time.monotonic()
                first = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]
                log.warning("database unreachable while %s (%s); retrying", what, first)
            delay = min(max_delay, base * 2**failures) * random.uniform(0.5, 1.0)
            failures += 1
            if stop is not None:
                if stop.wait(delay):
                    raise Stopped(what) from None
            else:
                time.sleep(delay)
            continue
        if failures:
            log.warning(
                "database reachable again after %.1f s (%d retries) while %s",
                time.monotonic() - since, failures, what,
            )
        return out


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def beat(db: Database, worker_id: str, submission_id: int | None, *, stopped: bool = False) -> None:
    """Record this worker's sign of life (and what it is scoring)."""
    now = utcnow()
    with db.write() as s:
        row = s.get(WorkerBeat, worker_id)
        if row is None:
            row = WorkerBeat(
                id=worker_id, host=socket.gethostname()[:200], pid=os.getpid(), started_at=now
            )
            s.add(row)
        row.last_seen = now
        row.submission_id = submission_id
        row.stopped_at = now if stopped else None
        if random.random() < 0.01:  # now and then: forget workers silent for a week
            s.execute(delete(WorkerBeat).where(WorkerBeat.last_seen < now - timedelta(days=7)))


@dataclass(frozen=True)
class Claim:
    submission_id: int
    attempt: int
    worker_id: str


def claim(db: Database, worker_id: str, lease_s: float) -> Claim | None:
    """Claim the oldest queued submission of a team with no running job."""
    excluded: set[int] = set()
    for _ in range(20):
        with db.write() as s:
            running = select(Submission.team_id).where(Submission.status == SCORING)
            q = (
                select(Submission)
                .where(Submission.status == QUEUED, Submission.team_id.not_in(running))
                .order_by(Submission.queued_at, Submission.id)
                .limit(1)
            )
            if excluded:
                q = q.where(Submission.team_id.not_in(excluded))
            if db.is_postgres:
                q = q.with_for_update(skip_locked=True, of=Submission)
            sub = s.scalar(q)
            if sub is None:
                return None
            if db.is_postgres:
                # another worker may be claiming a job of the same team right now
                s.execute(select(Team.id).where(Team.id == sub.team_id).with_for_update())
                busy = s.scalar(
                    select(func.count(Submission.id)).where(
                        Submission.team_id == sub.team_id, Submission.status == SCORING
                    )
                )
                if busy:
                    excluded.add(sub.team_id)
                    continue
            now = utcnow()
            sub.status = SCORING
            sub.attempts += 1
            sub.worker_id = worker_id
            sub.started_at = now
            sub.lease_until = now + timedelta(seconds=lease_s)
            s.add(
                SubmissionEvent(
                    submission_id=sub.id,
                    status=SCORING,
                    at=now,
                    worker_id=worker_id,
                    detail=f"attempt {sub.attempts}",
                )
            )
            return Claim(sub.id, sub.attempts, worker_id)
    return None


def _owned(c: Claim):  # noqa: ANN202
    return (
        (Submission.id == c.submission_id)
        & (Submission.status == SCORING)
        & (Submission.worker_id == c.worker_id)
        & (Submission.attempts == c.attempt)
    )


def renew_lease(db: Database, c: Claim, lease_s: float) -> bool:
    """Extend the lease; False when the claim was lost (re-queued by a reaper)."""
    with db.write() as s:
        res = s.execute(
            update(Submission)
            .where(_owned(c))
            .values(lease_until=utcnow() + timedelta(seconds=lease_s))
        )
        return cast(CursorResult, res).rowcount == 1


def reap(db: Database, max_attempts: int) -> tuple[int, int]:
    """Re-queue expired leases (or fail them past the retry limit); (requeued, failed)."""
    now = utcnow()
    requeued = failed = 0
    with db.write() as s:
        q = select(Submission).where(Submission.status == SCORING, Submission.lease_until < now)
        if db.is_postgres:
            q = q.with_for_update(skip_locked=True)
        for sub in s.scalars(q):
            who = sub.worker_id
            if sub.attempts >= max_attempts:
                _fail(
                    sub,
                    now,
                    f"scoring was interrupted {sub.attempts} times (the worker stopped "
                    "responding: crashed, killed or out of memory); it is not counted against "
                    "your limits. Please contact the organisers if this happens again.",
                )
                failed += 1
                detail = f"lease of {who} expired; retry limit reached"
            else:
                sub.status = QUEUED  # queued_at unchanged: it keeps its place
                requeued += 1
                detail = f"lease of {who} expired; re-queued"
            sub.worker_id = None
            sub.lease_until = None
            s.add(SubmissionEvent(submission_id=sub.id, status=sub.status, at=now, detail=detail))
    if requeued or failed:
        invalidate_leaderboards()
    return requeued, failed


def _fail(sub: Submission, now: datetime, error: str) -> None:
    """Mark a claimed submission failed, or, for a failed rescore, keep its
    previous score (status finished) with a note."""
    sub.lease_until = None
    if sub.metrics_json is not None and sub.finished_at is not None:
        sub.status = FINISHED
        sub.error = (
            f"rescoring on {now:%Y-%m-%d %H:%M} UTC failed; the previous score is kept. {error}"
        )
        return
    sub.status = FAILED
    sub.failed_at = now
    sub.counted = False
    sub.error = error


class _Heartbeat(threading.Thread):
    def __init__(self, db: Database, c: Claim, settings: Settings) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{c.submission_id}")
        self.db, self.c, self.settings = db, c, settings
        self.stop = threading.Event()
        self.lost = False

    def run(self) -> None:
        while not self.stop.wait(self.settings.heartbeat_s):
            try:
                if not renew_lease(self.db, self.c, self.settings.lease_s):
                    self.lost = True
                    return
                beat(self.db, self.c.worker_id, self.c.submission_id)
            except Exception as exc:  # a DB outage: try again next beat
                log.warning(
                    "heartbeat failed for submission %s (%s)",
                    self.c.submission_id, exc.__class__.__name__,
                )


@dataclass(frozen=True)
class Outcome:
    status: str
    error: str | None = None
    metrics: dict | None = None
    summary: dict | None = None
    scorer_version: str | None = None


def _public_message(msg: str, tmp: Path, gt_dir: str) -> str:
    """Strip server paths: prediction files become zip-relative, GT paths are hidden."""
    out = msg.replace(str(tmp) + os.sep, "").replace(str(tmp), "<upload>")
    gt = str(Path(gt_dir))
    out = out.replace(gt + os.sep, "<ground truth>/").replace(gt, "<ground truth>")
    return out


def _stored_file_problem(sub: Submission) -> str | None:
    """Why the stored upload cannot be the one the team sent, or None."""
    h = hashlib.sha256()
    try:
        with open(sub.file_path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc.__class__.__name__})"
    if h.hexdigest() != sub.sha256:
        return f"its sha256 is {h.hexdigest()[:12]}..., the upload's was {sub.sha256[:12]}..."
    return None


def score_submission(sub: Submission, bench: Benchmark, settings: Settings) -> Outcome:
    """Check the stored file is the upload, re-check the zip, extract it into a
    private temp folder and call goss_bench.score."""
    from PIL import Image

    import goss_bench
    from goss_bench.diagnostics.collect import score_with_stats
    from goss_bench.diagnostics.oracle import oracle_breakdown
    from goss_bench.diagnostics.published import public_diagnostics

    problem = _stored_file_problem(sub)
    if problem is not None:
        log.error(
            "submission %s: the stored upload %s is damaged or missing: %s; restore it from "
            "a backup and run `goss-bench server rescore %s`",
            sub.id, sub.file_path, problem, sub.id,
        )
        return Outcome(
            FAILED,
            error=f"the server's stored copy of this upload is damaged or missing ({problem}). "
            "This is a problem of the server, not of your file; it does not count against "
            "your limits. The organisers were told and can restore the file and rescore it.",
        )
    layout = benchmark_layout(bench)
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    limits = Limits(settings.max_entries, settings.max_uncompressed_mb * 2**20, settings.max_ratio)
    prefix = f"{owner_tag()}sub{sub.id}-"
    with tempfile.TemporaryDirectory(dir=settings.tmp_dir, prefix=prefix) as tmp_s:
        tmp = Path(tmp_s)
        try:
            check = check_zip(sub.file_path, layout, limits, name=f"submission {sub.id}")
            extract_predictions(sub.file_path, check, tmp)
            # Pillow's bomb limit from the GT size (every map must have the GT size).
            # It is process-global: the lock keeps worker threads of one process
            # (tests) from restoring each other's value; a worker process scores
            # one job at a time anyway.
            with _PIL_LIMIT_LOCK:
                old_limit = Image.MAX_IMAGE_PIXELS
                Image.MAX_IMAGE_PIXELS = layout.max_pixels
                try:
                    res, stats = score_with_stats(
                        tmp,
                        bench.gt_dir,
                        workers=max(1, settings.score_processes),
                        max_pixels=layout.max_pixels,
                    )
                    breakdown = oracle_breakdown(
                        tmp,
                        bench.gt_dir,
                        workers=max(1, settings.score_processes),
                        max_pixels=layout.max_pixels,
                    )
                finally:
                    Image.MAX_IMAGE_PIXELS = old_limit
        except GossInputError as exc:
            return Outcome(FAILED, error=_public_message(str(exc), tmp, bench.gt_dir))
    d = res.to_dict()
    d.get("options", {}).pop("pred_dir", None)
    d.get("options", {}).pop("gt_dir", None)
    # aggregates only; the per-image statistics stay in the server's data folder
    d["diagnostics"] = public_diagnostics(res, stats, breakdown)
    save_image_stats(settings, sub.id, stats)
    return Outcome(
        FINISHED, metrics=d, summary=res.summary(), scorer_version=goss_bench.__version__
    )


def record(db: Database, c: Claim, out: Outcome) -> bool:
    """Write the outcome if the claim still holds; False when it was lost."""
    now = utcnow()
    with db.write() as s:
        q = select(Submission).where(_owned(c))
        if db.is_postgres:
            q = q.with_for_update()
        sub = s.scalar(q)
        if sub is None:
            return False
        if out.status == FINISHED:
            s_ = out.summary or {}
            sub.status = FINISHED
            sub.lease_until = None
            sub.finished_at = now
            sub.error = None
            sub.metrics_json = json.dumps(out.metrics)
            sub.scorer_version = out.scorer_version
            sub.gq, sub.gq_kn, sub.gq_uk = s_.get("GQ"), s_.get("GQ_kn"), s_.get("GQ_uk")
            sub.gq_clu, sub.auroc, sub.aupr = s_.get("GQ_clu"), s_.get("AUROC"), s_.get("AUPR")
            sub.fpr95, sub.miou = s_.get("FPR95"), s_.get("mIoU")
            detail = ""
        else:
            _fail(sub, now, out.error or "scoring failed")
            detail = sub.error or ""
        s.add(
            SubmissionEvent(
                submission_id=c.submission_id,
                status=sub.status,
                at=now,
                worker_id=c.worker_id,
                detail=detail[:2000],
            )
        )
    invalidate_leaderboards()
    return True


def process(
    db: Database, c: Claim, settings: Settings, stop: threading.Event | None = None
) -> bool:
    """Score one claimed submission; True if its result was recorded."""
    wait = settings.db_retry_max_s

    def load() -> tuple[Submission | None, Benchmark | None]:
        with db.read() as s:
            sub = s.get(Submission, c.submission_id)
            bench = s.get(Benchmark, sub.benchmark_id) if sub else None
            s.expunge_all()
        return sub, bench

    sub, bench = retry(load, f"loading submission {c.submission_id}", stop=stop, max_delay=wait)
    if sub is None or bench is None:
        return False
    hb = _Heartbeat(db, c, settings)
    hb.start()
    try:
        out = score_submission(sub, bench, settings)
    except Exception:
        log.error("internal error scoring submission %s:\n%s", sub.id, traceback.format_exc())
        out = Outcome(
            FAILED,
            error="internal error of the scoring server (not a problem with your file); "
            "it is not counted against your limits. The organisers can rescore it.",
        )
    finally:
        hb.stop.set()
        hb.join()
    try:
        ok = retry(
            lambda: record(db, c, out), f"recording submission {c.submission_id}",
            stop=stop, max_delay=wait,
        )
    except Stopped:
        log.warning(
            "stopping with the result of submission %s unrecorded; it is re-queued when its "
            "lease expires", c.submission_id,
        )
        raise
    if not ok:
        log.warning("lost the claim on submission %s; result discarded", c.submission_id)
    return ok


def run_worker(
    settings: Settings,
    *,
    stop: threading.Event | None = None,
    once: bool = False,
    worker_id: str | None = None,
    db: Database | None = None,
) -> int:
    """The worker loop; returns the number of submissions recorded.

    once: stop when the queue is empty (after reaping).
    A database outage pauses the loop (retried with backoff) instead of ending it.
    """
    own_db = db is None
    db = db or Database(settings.database_url)
    with db.reaching():
        db.check_schema()
    worker_id = worker_id or new_worker_id()
    stop = stop or threading.Event()
    wait = settings.db_retry_max_s
    done = 0
    sweep_dir(settings.tmp_dir)
    beat_every = min(settings.heartbeat_s, 10.0)  # health needs one per worker_alive_s / 3
    last_beat = -beat_every
    try:
        while not stop.is_set():
            if time.monotonic() - last_beat >= beat_every:
                retry(lambda: beat(db, worker_id, None), "reporting to the database", stop=stop,
                      max_delay=wait)
                last_beat = time.monotonic()
            retry(lambda: reap(db, settings.max_attempts), "reaping expired leases", stop=stop,
                  max_delay=wait)
            c = retry(lambda: claim(db, worker_id, settings.lease_s), "claiming a submission",
                      stop=stop, max_delay=wait)
            if c is None:
                if once:
                    break
                stop.wait(settings.poll_s)
                continue
            log.info("scoring submission %s (attempt %s)", c.submission_id, c.attempt)
            if process(db, c, settings, stop):
                done += 1
            last_beat = -beat_every  # report "idle" right away
            sweep_dir(settings.tmp_dir)
    except Stopped:
        pass
    finally:
        try:
            beat(db, worker_id, None, stopped=True)
        except Exception:  # noqa: BLE001 - the database may be the reason we stop
            pass
        if own_db:
            db.dispose()
    return done
