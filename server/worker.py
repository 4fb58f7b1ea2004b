"""Scoring workers: claim queued submissions, score them, record the result.

Claiming is one short write transaction: on PostgreSQL ``SELECT ... FOR
UPDATE SKIP LOCKED`` picks a queued row no other worker is claiming, and the
team row is then locked to keep one running job per team; on SQLite the
transaction starts with ``BEGIN IMMEDIATE`` (one writer at a time), which
gives the same guarantee for several processes on one host.

The claim sets ``worker_id``, increments ``attempts`` and sets
``lease_until``; a heartbeat thread renews the lease while scoring.  Any
worker's reaper re-queues a submission whose lease expired (its worker died),
or fails it after ``max_attempts`` claims.  Results are written only if the
row is still ``scoring`` under the same worker and attempt, so a worker that
lost its lease cannot overwrite a later result: every submission is finished
exactly once.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import threading
import traceback
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import cast

from sqlalchemy import func, select, update
from sqlalchemy.engine import CursorResult

from goss_bench.errors import GossInputError
from server.config import Settings
from server.db import Database
from server.models import (
    FAILED,
    FINISHED,
    QUEUED,
    SCORING,
    Benchmark,
    Submission,
    SubmissionEvent,
    Team,
    utcnow,
)
from server.services import benchmark_layout
from server.validation import Limits, check_zip, extract_predictions

log = logging.getLogger("goss.worker")
_PIL_LIMIT_LOCK = threading.Lock()


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


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
                sub.status = FAILED
                sub.failed_at = now
                sub.counted = False
                sub.error = (
                    f"scoring was interrupted {sub.attempts} times (the worker stopped "
                    "responding: crashed, killed or out of memory); it is not counted against "
                    "your limits. Please contact the organisers if this happens again."
                )
                failed += 1
                detail = f"lease of {who} expired; retry limit reached"
            else:
                sub.status = QUEUED
                sub.queued_at = now
                requeued += 1
                detail = f"lease of {who} expired; re-queued"
            sub.worker_id = None
            sub.lease_until = None
            s.add(SubmissionEvent(submission_id=sub.id, status=sub.status, at=now, detail=detail))
    return requeued, failed


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
            except Exception:  # a DB hiccup: try again next beat
                log.warning("heartbeat failed for submission %s", self.c.submission_id)


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


def score_submission(sub: Submission, bench: Benchmark, settings: Settings) -> Outcome:
    """Re-check the zip, extract it into a private temp folder and call goss_bench.score."""
    from PIL import Image

    import goss_bench

    layout = benchmark_layout(bench)
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    limits = Limits(settings.max_entries, settings.max_uncompressed_mb * 2**20, settings.max_ratio)
    with tempfile.TemporaryDirectory(dir=settings.tmp_dir, prefix=f"sub{sub.id}-") as tmp_s:
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
                    res = goss_bench.score(
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
    return Outcome(
        FINISHED, metrics=d, summary=res.summary(), scorer_version=goss_bench.__version__
    )


def record(db: Database, c: Claim, out: Outcome) -> bool:
    """Write the outcome if the claim still holds; False when it was lost."""
    now = utcnow()
    values: dict = {"status": out.status, "lease_until": None}
    if out.status == FINISHED:
        s_ = out.summary or {}
        values.update(
            finished_at=now,
            error=None,
            metrics_json=json.dumps(out.metrics),
            scorer_version=out.scorer_version,
            gq=s_.get("GQ"),
            gq_kn=s_.get("GQ_kn"),
            gq_uk=s_.get("GQ_uk"),
            gq_clu=s_.get("GQ_clu"),
            auroc=s_.get("AUROC"),
            aupr=s_.get("AUPR"),
            fpr95=s_.get("FPR95"),
            miou=s_.get("mIoU"),
        )
    else:
        values.update(failed_at=now, error=out.error, counted=False)
    with db.write() as s:
        res = s.execute(update(Submission).where(_owned(c)).values(**values))
        if cast(CursorResult, res).rowcount != 1:
            return False
        s.add(
            SubmissionEvent(
                submission_id=c.submission_id,
                status=out.status,
                at=now,
                worker_id=c.worker_id,
                detail=(out.error or "")[:2000],
            )
        )
    return True


def process(db: Database, c: Claim, settings: Settings) -> bool:
    """Score one claimed submission; True if its result was recorded."""
    with db.read() as s:
        sub = s.get(Submission, c.submission_id)
        bench = s.get(Benchmark, sub.benchmark_id) if sub else None
        if sub is None or bench is None:
            return False
        s.expunge_all()
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
    ok = record(db, c, out)
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
    """
    own_db = db is None
    db = db or Database(settings.database_url)
    db.check_schema()
    worker_id = worker_id or new_worker_id()
    stop = stop or threading.Event()
    done = 0
    try:
        while not stop.is_set():
            reap(db, settings.max_attempts)
            c = claim(db, worker_id, settings.lease_s)
            if c is None:
                if once:
                    break
                stop.wait(settings.poll_s)
                continue
            log.info("scoring submission %s (attempt %s)", c.submission_id, c.attempt)
            if process(db, c, settings):
                done += 1
    finally:
        if own_db:
            db.dispose()
    return done
