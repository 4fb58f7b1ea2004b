"""Database operations behind the routers and the admin CLI.

Routers stay thin: they parse the request, call one function here and render
the result.  Functions raise :class:`GossInputError` (bad input, 4xx),
:class:`NotFound` (404), :class:`AuthError` (401) or :class:`LimitError` (429).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, defer, joinedload

from goss_bench.errors import GossInputError
from goss_bench.submission import Layout, layout_from_gt
from server import security
from server.db import Database, DatabaseError
from server.models import (
    FAILED,
    FINISHED,
    LOWER_IS_BETTER,
    METRIC_COLUMNS,
    QUEUED,
    SCORING,
    SHOW_BEST,
    SHOW_LATEST,
    ApiToken,
    Benchmark,
    RejectedUpload,
    Submission,
    SubmissionEvent,
    Team,
    WorkerBeat,
    utcnow,
)

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class NotFound(GossInputError):
    pass


class AuthError(GossInputError):
    pass


class RateLimited(GossInputError):
    """Too many rejected uploads in the last hour (HTTP 429)."""


class LimitError(GossInputError):
    def __init__(self, message: str, quota: Quota) -> None:
        super().__init__(message)
        self.quota = quota


# -- benchmarks and teams ------------------------------------------------------


MAX_DB_ID = 2**31 - 1  # ids are 32-bit integer columns (PostgreSQL ``integer``)


def _check_limits(daily_limit: int | None, total_limit: int | None) -> None:
    for label, v in (("daily limit", daily_limit), ("total limit", total_limit)):
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_DB_ID):
            raise GossInputError(f"{label}: expected a whole number >= 0, got {v!r}")


def check_printable(label: str, value: str, max_len: int) -> str:
    """``value`` stripped; GossInputError unless 1..max_len printable characters."""
    value = value.strip()
    if not value or len(value) > max_len:
        raise GossInputError(f"{label} must have 1 to {max_len} characters")
    if not value.isprintable():
        bad = next(c for c in value if not c.isprintable())
        raise GossInputError(
            f"{label} {value!r}: control or unprintable character {bad!r} is not allowed"
        )
    return value


def add_benchmark(
    db: Database,
    split_dir: str | os.PathLike[str],
    *,
    name: str | None = None,
    title: str = "",
    gt_public: bool = False,
    scores_hidden: bool = False,
    show_rule: str = SHOW_BEST,
    daily_limit: int = 5,
    total_limit: int = 100,
) -> Benchmark:
    """Register a built split (its GT stays where it is; only its layout is read)."""
    split = Path(split_dir).resolve()
    layout = layout_from_gt(split)
    if name is None:
        name = split.name
        sj = split / "split.json"
        if sj.is_file():
            try:
                d = json.loads(sj.read_text())
                name = f"{d.get('dataset', '')}-{d.get('name', split.name)}".strip("-")
            except ValueError:
                pass
    if not NAME_RE.match(name):
        raise GossInputError(
            f"benchmark name {name!r}: use letters, digits, '.', '_' and '-' (at most 100)"
        )
    if show_rule not in (SHOW_BEST, SHOW_LATEST):
        raise GossInputError(f"show rule must be {SHOW_BEST!r} or {SHOW_LATEST!r}")
    _check_limits(daily_limit, total_limit)
    title = check_printable("title", title, 200) if title else ""
    with db.write() as s:
        if s.scalar(select(Benchmark.id).where(Benchmark.name == name)) is not None:
            raise GossInputError(f"a benchmark named {name!r} already exists")
        b = Benchmark(
            name=name,
            title=title or name,
            gt_dir=str(split),
            num_known=layout.num_known,
            num_images=len(layout.sizes),
            layout_json=layout.to_json(),
            gt_public=gt_public,
            scores_hidden=scores_hidden,
            show_rule=show_rule,
            daily_limit=daily_limit,
            total_limit=total_limit,
        )
        s.add(b)
    return b


def set_benchmark(db: Database, name: str, **changes: Any) -> Benchmark:
    allowed = {"scores_hidden", "gt_public", "show_rule", "daily_limit", "total_limit", "title"}
    _check_limits(changes.get("daily_limit"), changes.get("total_limit"))
    if changes.get("title") is not None:
        changes["title"] = check_printable("title", changes["title"], 200)
    if changes.get("show_rule") not in (None, SHOW_BEST, SHOW_LATEST):
        raise GossInputError(f"show rule must be {SHOW_BEST!r} or {SHOW_LATEST!r}")
    with db.write() as s:
        b = s.scalar(select(Benchmark).where(Benchmark.name == name))
        if b is None:
            raise NotFound(f"no benchmark named {name!r}")
        for k, v in changes.items():
            if k not in allowed:
                raise TypeError(k)
            if v is not None:
                setattr(b, k, v)
    invalidate_leaderboards()
    return b


def get_benchmark(s: Session, name: str) -> Benchmark:
    b = s.scalar(select(Benchmark).where(Benchmark.name == name))
    if b is None:
        raise NotFound(f"no benchmark named {name!r}")
    return b


def list_benchmarks(s: Session) -> list[Benchmark]:
    return list(s.scalars(select(Benchmark).order_by(Benchmark.name)))


_LAYOUTS: dict[tuple[int, int], Layout] = {}


def benchmark_layout(b: Benchmark) -> Layout:
    key = (b.id, hash(b.layout_json))
    lay = _LAYOUTS.get(key)
    if lay is None:
        lay = Layout.from_json(b.layout_json, f"benchmark {b.name}")
        _LAYOUTS.clear() if len(_LAYOUTS) > 64 else None
        _LAYOUTS[key] = lay
    return lay


def add_team(db: Database, name: str) -> tuple[Team, str]:
    """Create a team and its first token; the token is returned once, never stored."""
    name = check_printable("team name", name, 100)
    with db.write() as s:
        if s.scalar(select(Team.id).where(Team.name == name)) is not None:
            raise GossInputError(f"a team named {name!r} already exists")
        team = Team(name=name)
        s.add(team)
        s.flush()
        token = _new_token(s, team.id)
    return team, token


def new_team_token(db: Database, team_name: str) -> str:
    with db.write() as s:
        team = s.scalar(select(Team).where(Team.name == team_name))
        if team is None:
            raise NotFound(f"no team named {team_name!r}")
        return _new_token(s, team.id)


def _new_token(s: Session, team_id: int) -> str:
    token = security.new_token()
    s.add(
        ApiToken(
            team_id=team_id,
            prefix=security.token_prefix(token),
            token_hash=security.token_hash(token),
        )
    )
    return token


def revoke_tokens(db: Database, *, prefix: str | None = None, team: str | None = None) -> int:
    """Revoke tokens by prefix (as shown by ``server list``) or every token of a team."""
    with db.write() as s:
        q = select(ApiToken).where(ApiToken.revoked_at.is_(None))
        if prefix:
            q = q.where(ApiToken.prefix == prefix[: security.PREFIX_LEN])
        elif team:
            q = q.join(Team).where(Team.name == team)
        else:
            raise GossInputError("give a token prefix or --team")
        rows = list(s.scalars(q))
        now = utcnow()
        for t in rows:
            t.revoked_at = now
    return len(rows)


def authenticate(db: Database, token: str | None) -> tuple[Team, ApiToken]:
    """The team of a bearer token; AuthError with a clear reason otherwise."""
    if not token:
        raise AuthError("missing API token: send 'Authorization: Bearer <token>'")
    token = token.strip()
    digest = security.token_hash(token)
    with db.read() as s:
        rows = list(
            s.scalars(select(ApiToken).where(ApiToken.prefix == security.token_prefix(token)))
        )
        match = next((t for t in rows if security.hashes_equal(t.token_hash, digest)), None)
        if match is None:
            raise AuthError("invalid API token (ask the organisers for a new one)")
        if match.revoked_at is not None:
            raise AuthError(
                f"this API token was revoked on {match.revoked_at:%Y-%m-%d %H:%M} UTC; "
                "ask the organisers for a new one"
            )
        team = match.team
        s.expunge_all()
    return team, match


def token_by_id(db: Database, token_id: int) -> tuple[Team, ApiToken] | None:
    with db.read() as s:
        t = s.get(ApiToken, token_id)
        if t is None or t.revoked_at is not None:
            return None
        team = t.team
        s.expunge_all()
        return team, t


# -- limits -----------------------------------------------------------------------


@dataclass(frozen=True)
class Quota:
    """A team's submission counts on one benchmark.

    Only submissions with ``counted`` (queued, scoring, finished) count;
    uploads rejected by validation and failed submissions do not.
    """

    daily_limit: int
    used_today: int
    total_limit: int
    used_total: int
    reset_at: datetime  # next UTC midnight

    @property
    def remaining_today(self) -> int:
        return max(0, self.daily_limit - self.used_today)

    @property
    def remaining_total(self) -> int:
        return max(0, self.total_limit - self.used_total)

    @property
    def remaining(self) -> int:
        return min(self.remaining_today, self.remaining_total)

    def to_dict(self) -> dict[str, Any]:
        return {
            "daily_limit": self.daily_limit,
            "used_today": self.used_today,
            "remaining_today": self.remaining_today,
            "total_limit": self.total_limit,
            "used_total": self.used_total,
            "remaining_total": self.remaining_total,
            "resets_at": self.reset_at.isoformat() + "Z",
            "note": "uploads rejected by validation and failed submissions do not count",
        }


def quota(s: Session, bench: Benchmark, team_id: int, now: datetime | None = None) -> Quota:
    now = now or utcnow()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    base = select(func.count(Submission.id)).where(
        Submission.team_id == team_id,
        Submission.benchmark_id == bench.id,
        Submission.counted.is_(True),
    )
    total = s.scalar(base) or 0
    today = s.scalar(base.where(Submission.created_at >= midnight)) or 0
    return Quota(bench.daily_limit, today, bench.total_limit, total, midnight + timedelta(days=1))


def limit_message(q: Quota) -> str | None:
    if q.remaining_total == 0:
        return (
            f"this team has used all {q.total_limit} submissions allowed on this benchmark "
            "(failed submissions and rejected uploads do not count)"
        )
    if q.remaining_today == 0:
        return (
            f"daily limit of {q.daily_limit} submissions reached; it resets at "
            f"{q.reset_at:%Y-%m-%d %H:%M} UTC (failed submissions and rejected uploads "
            "do not count)"
        )
    return None


def check_quota(db: Database, bench_name: str, team_id: int) -> Quota:
    """Raise LimitError if the team cannot submit now (a cheap early check)."""
    with db.read() as s:
        b = get_benchmark(s, bench_name)
        q = quota(s, b, team_id)
    msg = limit_message(q)
    if msg:
        raise LimitError(msg, q)
    return q


def rejected_recently(s: Session, team_id: int, now: datetime | None = None) -> int:
    since = (now or utcnow()) - timedelta(hours=1)
    q = select(func.count(RejectedUpload.id)).where(
        RejectedUpload.team_id == team_id, RejectedUpload.at >= since
    )
    return s.scalar(q) or 0


def check_rejected(db: Database, team_id: int, per_hour: int) -> int:
    """Raise RateLimited when the team had ``per_hour`` rejected uploads in the
    last hour (checked before the body is read); returns the count."""
    with db.read() as s:
        n = rejected_recently(s, team_id)
        first = None
        if n >= per_hour:
            since = utcnow() - timedelta(hours=1)
            first = s.scalar(
                select(func.min(RejectedUpload.at)).where(
                    RejectedUpload.team_id == team_id, RejectedUpload.at >= since
                )
            )
    if first is not None:
        raise RateLimited(
            f"{n} uploads of this team were rejected by validation in the last hour (limit "
            f"{per_hour}); try again after {first + timedelta(hours=1):%H:%M} UTC, and check "
            "the predictions locally first: `goss-bench submit` runs the same checks"
        )
    return n


def record_rejection(db: Database, bench_name: str, team_id: int, reason: str) -> None:
    with db.write() as s:
        b = s.scalar(select(Benchmark).where(Benchmark.name == bench_name))
        if b is None:
            return
        s.add(RejectedUpload(team_id=team_id, benchmark_id=b.id, at=utcnow(), reason=reason[:500]))


# -- submissions ------------------------------------------------------------------


@dataclass(frozen=True)
class UploadMeta:
    method: str
    description: str = ""
    paper_url: str = ""
    code_url: str = ""

    def checked(self) -> UploadMeta:
        method = self.method.strip()
        if not method:
            raise GossInputError("method: give the method's name (form field 'method')")
        if len(method) > 200:
            raise GossInputError("method: at most 200 characters")
        if len(self.description) > 5000:
            raise GossInputError("description: at most 5000 characters")
        for label, url in (("paper_url", self.paper_url), ("code_url", self.code_url)):
            url = url.strip()
            if url and (len(url) > 500 or not re.match(r"^https?://[^\s<>\"']+$", url)):
                raise GossInputError(f"{label}: expected an http(s) URL, got {url[:80]!r}")
        return UploadMeta(method, self.description, self.paper_url.strip(), self.code_url.strip())


def create_submission(
    db: Database,
    upload_dir: Path,
    bench_name: str,
    team_id: int,
    zip_path: Path,
    size: int,
    sha256: str,
    meta: UploadMeta,
) -> tuple[Submission, Quota]:
    """Queue a validated upload; enforces the limits under a lock on the team row."""
    meta = meta.checked()
    with db.write() as s:
        b = get_benchmark(s, bench_name)
        # serialise concurrent uploads of one team (row lock; SQLite's write lock)
        s.execute(select(Team.id).where(Team.id == team_id).with_for_update())
        q = quota(s, b, team_id)
        msg = limit_message(q)
        if msg:
            raise LimitError(msg, q)
        now = utcnow()
        sub = Submission(
            benchmark_id=b.id,
            team_id=team_id,
            method=meta.method,
            description=meta.description,
            paper_url=meta.paper_url,
            code_url=meta.code_url,
            file_path="",
            file_size=size,
            sha256=sha256,
            status=QUEUED,
            counted=True,
            attempts=0,
            created_at=now,
            queued_at=now,
        )
        s.add(sub)
        s.flush()
        upload_dir.mkdir(parents=True, exist_ok=True)
        final = upload_dir / f"{sub.id}.zip"
        os.replace(zip_path, final)
        sub.file_path = str(final)
        s.add(SubmissionEvent(submission_id=sub.id, status=QUEUED, at=now, detail="uploaded"))
        q = Quota(q.daily_limit, q.used_today + 1, q.total_limit, q.used_total + 1, q.reset_at)
    return sub, q


def get_submission(s: Session, sub_id: int) -> Submission:
    if not 1 <= sub_id <= MAX_DB_ID:  # out of the column's range: no such row
        raise NotFound(f"no submission with id {sub_id}")
    sub = s.get(Submission, sub_id)
    if sub is None:
        raise NotFound(f"no submission with id {sub_id}")
    return sub


def team_submissions(s: Session, bench: Benchmark, team_id: int) -> list[Submission]:
    return list(
        s.scalars(
            select(Submission)
            .where(Submission.benchmark_id == bench.id, Submission.team_id == team_id)
            .order_by(Submission.id.desc())
        )
    )


def rescore(db: Database, sub_id: int | None = None, *, all_in: str | None = None) -> int:
    """Re-queue one submission, or every finished/failed one (of a benchmark).

    The previous score stays in the row: if the rescore fails, the worker
    restores it (see ``server.worker.record``).
    """
    now = utcnow()
    with db.write() as s:
        q = select(Submission).where(Submission.status.in_((FINISHED, FAILED)))
        if sub_id is not None:
            sub = get_submission(s, sub_id)
            if sub.status in (QUEUED, SCORING):
                raise GossInputError(f"submission {sub_id} is already {sub.status}")
            q = q.where(Submission.id == sub_id)
        elif all_in is not None:
            b = get_benchmark(s, all_in)
            q = q.where(Submission.benchmark_id == b.id)
        subs = list(s.scalars(q))
        for sub in subs:
            sub.status = QUEUED
            sub.queued_at = now
            sub.attempts = 0
            sub.error = None
            sub.worker_id = None
            sub.lease_until = None
            sub.started_at = sub.failed_at = None
            s.add(SubmissionEvent(submission_id=sub.id, status=QUEUED, at=now, detail="rescore"))
    invalidate_leaderboards()
    return len(subs)


# -- views (the hidden-score rule lives here) --------------------------------------


def metrics_of(sub: Submission) -> dict[str, float | None]:
    return {k: getattr(sub, col) for k, col in METRIC_COLUMNS.items()}


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat(timespec="seconds") + "Z"


@dataclass(frozen=True)
class Access:
    """What one viewer may see of a benchmark or of one of its submissions.

    scores: metrics, per-class results, plots, anything ordered by a score.
    panels: image panels (prediction and error maps against the GT).
    error: the submission's failure message (its own team only).
    """

    scores: bool
    panels: bool
    error: bool


def access(bench: Benchmark, sub: Submission | None = None, team_id: int | None = None) -> Access:
    """THE authorisation rule: every route that shows data derived from a
    submission (JSON, CSV, HTML, panels, plots, per-class) asks this first.

    Scores only when the benchmark's scores are public (nobody, not even the
    submitting team, sees hidden scores) and, for one submission, once it is
    scored; panels additionally need public GT; errors go to the owner only.
    """
    scored = sub is None or (sub.status == FINISHED and sub.metrics_json is not None)
    scores = not bench.scores_hidden and scored
    owner = sub is not None and team_id is not None and team_id == sub.team_id
    return Access(scores=scores, panels=scores and bench.gt_public, error=owner)


def submission_view(sub: Submission, bench: Benchmark, *, team_id: int | None) -> dict[str, Any]:
    """A JSON-able view; metrics and the error message as :func:`access` allows."""
    acc = access(bench, sub, team_id)
    d: dict[str, Any] = {
        "id": sub.id,
        "benchmark": bench.name,
        "team": sub.team.name,
        "method": sub.method,
        "description": sub.description,
        "paper_url": sub.paper_url,
        "code_url": sub.code_url,
        "status": sub.status,
        "queued_at": iso(sub.queued_at),
        "started_at": iso(sub.started_at),
        "finished_at": iso(sub.finished_at),
        "failed_at": iso(sub.failed_at),
        "attempts": sub.attempts,
        "sha256": sub.sha256,
        "size": sub.file_size,
        "counted": sub.counted,
        "scorer_version": sub.scorer_version,
        "scores_hidden": bench.scores_hidden,
    }
    if acc.error:
        d["error"] = sub.error
    elif sub.status == FAILED:
        d["error"] = "scoring failed (the message is shown to the submitting team)"
    if acc.scores:
        d["metrics"] = metrics_of(sub)
        full = json.loads(sub.metrics_json or "{}")
        d["per_class"] = full.get("per_class", [])
        d["result"] = full
    return d


@dataclass(frozen=True)
class Entry:
    rank: int
    submission: Submission
    metrics: dict[str, float | None] | None  # None when scores are hidden


def sort_key_of(metric: str):  # noqa: ANN201
    if metric not in METRIC_COLUMNS:
        raise GossInputError(
            f"sort: unknown metric {metric!r}; one of {', '.join(METRIC_COLUMNS)}"
        )
    col = METRIC_COLUMNS[metric]
    sign = 1.0 if metric in LOWER_IS_BETTER else -1.0

    def key(sub: Submission) -> tuple:
        v = getattr(sub, col)
        # missing values last; ties: the earlier upload first, then the lower id
        return (v is None, sign * v if v is not None else 0.0, sub.created_at, sub.id)

    return key


def leaderboard(s: Session, bench: Benchmark, sort: str = "GQ") -> list[Entry]:
    """One row per team (best by GQ or latest, per the benchmark's rule).

    With hidden scores: every finished submission, by finish time, no metrics
    (and no per-team choice, since the choice of the best would leak the order).
    """
    key = sort_key_of(sort)
    subs = list(
        s.scalars(
            select(Submission)
            .options(
                joinedload(Submission.team),
                defer(Submission.metrics_json),
                defer(Submission.description),
            )
            .where(Submission.benchmark_id == bench.id, Submission.status == FINISHED)
            .order_by(Submission.finished_at, Submission.id)
        )
    )
    if not access(bench).scores:
        return [Entry(i + 1, sub, None) for i, sub in enumerate(subs)]
    chosen: dict[int, Submission] = {}
    pick = sort_key_of("GQ")
    for sub in subs:
        cur = chosen.get(sub.team_id)
        if cur is None:
            chosen[sub.team_id] = sub
        elif bench.show_rule == SHOW_LATEST:
            chosen[sub.team_id] = sub  # ordered by finish time
        elif pick(sub) < pick(cur):
            chosen[sub.team_id] = sub
    rows = sorted(chosen.values(), key=key)
    return [Entry(i + 1, sub, metrics_of(sub)) for i, sub in enumerate(rows)]


def entry_dict(e: Entry) -> dict[str, Any]:
    sub = e.submission
    d: dict[str, Any] = {
        "rank": e.rank,
        "submission": sub.id,
        "team": sub.team.name,
        "method": sub.method,
        "paper_url": sub.paper_url,
        "code_url": sub.code_url,
        "date": iso(sub.finished_at),
    }
    if e.metrics is not None:
        d.update(e.metrics)
    return d


# -- cached leaderboard bytes ----------------------------------------------------------
#
# The JSON, CSV and (anonymous) HTML leaderboards are kept as bytes.  A request
# within CACHE_TTL_S of the last check, with no write by this process since,
# is answered from memory without touching the database; otherwise one small
# indexed query (the stamp) decides whether the bytes are still current.
# Writes through this process (uploads, workers, admin) invalidate at once;
# results recorded by other processes show within CACHE_TTL_S.

CACHE_TTL_S = 1.0
_CACHE: dict[tuple, tuple[tuple, float, int, bytes]] = {}
_GENERATION = [0]


def invalidate_leaderboards() -> None:
    """Forget every cached leaderboard of this process (after a write)."""
    _GENERATION[0] += 1


# Changes whenever the leaderboard can change: the benchmark's rules or its set of
# finished submissions (a rescore removes one; its new finish adds it back later).
_STAMP = (
    select(
        Benchmark.id,
        Benchmark.scores_hidden,
        Benchmark.show_rule,
        Benchmark.title,
        Benchmark.gt_public,
        func.count(Submission.id),
        func.max(Submission.finished_at),
        func.coalesce(func.sum(Submission.id), 0),
    )
    .outerjoin(
        Submission,
        (Submission.benchmark_id == Benchmark.id) & (Submission.status == FINISHED),
    )
    .where(Benchmark.name == bindparam("name"))
    .group_by(
        Benchmark.id, Benchmark.scores_hidden, Benchmark.show_rule, Benchmark.title,
        Benchmark.gt_public,
    )
)


def _stamp(db: Database, name: str) -> tuple:
    with db.engine.connect() as conn:
        row = conn.execute(_STAMP, {"name": name}).first()
    if row is None:
        raise NotFound(f"no benchmark named {name!r}")
    return tuple(row)


def cache_lookup(db: Database, key: tuple) -> bytes | None:
    """Cached bytes checked less than CACHE_TTL_S ago (no database access), else None."""
    import time

    hit = _CACHE.get((db.url, *key))
    if hit is None or hit[2] != _GENERATION[0] or time.monotonic() - hit[1] > CACHE_TTL_S:
        return None
    return hit[3]


def cache_fill(db: Database, name: str, key: tuple, build: Callable[[], bytes]) -> bytes:
    """The bytes for ``key`` of benchmark ``name``: revalidated with one stamp query,
    rebuilt by ``build()`` only when the leaderboard changed."""
    import time

    gen = _GENERATION[0]
    stamp = _stamp(db, name)
    full = (db.url, *key)
    hit = _CACHE.get(full)
    if hit is not None and hit[0] == stamp:
        data = hit[3]
    else:
        data = build()
    if len(_CACHE) > 512:
        _CACHE.clear()
    _CACHE[full] = (stamp, time.monotonic(), gen, data)
    return data


def leaderboard_payload(db: Database, name: str, sort: str = "GQ") -> bytes:
    """The JSON leaderboard (compact), built from the database."""
    sort_key_of(sort)  # validates the metric name
    with db.read() as s:
        b = get_benchmark(s, name)
        entries = [entry_dict(e) for e in leaderboard(s, b, sort)]
        payload = {
            "benchmark": b.name,
            "scores_hidden": b.scores_hidden,
            "sort": sort,
            "columns": list(METRIC_COLUMNS) if access(b).scores else [],
            "entries": entries,
        }
    return json.dumps(payload, separators=(",", ":")).encode()


def leaderboard_json_bytes(db: Database, name: str, sort: str = "GQ") -> bytes:
    """The JSON leaderboard, rebuilt only when its stamp changed."""
    sort_key_of(sort)
    return cache_fill(db, name, ("json", name, sort), lambda: leaderboard_payload(db, name, sort))


# -- health --------------------------------------------------------------------------


def health(db: Database, *, alive_s: float, stall_s: float) -> dict[str, Any]:
    """The truth about the service: database reachable, workers alive (last
    heartbeat), queue length and the oldest queued job's age.

    ``status`` is "ok", or "unavailable" (database unreachable) or "stalled"
    (jobs queued for longer than ``stall_s`` while no worker showed life for
    ``stall_s``); the route answers 503 for both.
    """
    now = utcnow()
    try:
        current, head = db.schema_status()
        with db.reaching(), db.read() as s:
            queued = s.scalar(select(func.count(Submission.id)).where(Submission.status == QUEUED))
            oldest = s.scalar(
                select(func.min(Submission.queued_at)).where(Submission.status == QUEUED)
            )
            scoring = s.scalar(
                select(func.count(Submission.id)).where(Submission.status == SCORING)
            )
            rows = list(
                s.scalars(
                    select(WorkerBeat)
                    .where(
                        WorkerBeat.stopped_at.is_(None),
                        WorkerBeat.last_seen >= now - timedelta(days=1),
                    )
                    .order_by(WorkerBeat.last_seen.desc())
                    .limit(100)
                )
            )
    except DatabaseError:
        return {"status": "unavailable", "database": "unreachable"}
    import socket

    from server.housekeeping import pid_alive

    here = socket.gethostname()[:200]

    def alive(w: WorkerBeat) -> bool:
        if (now - w.last_seen).total_seconds() > alive_s:
            return False
        return w.host != here or pid_alive(w.pid)  # a killed local worker is dead at once

    workers = [
        {
            "id": w.id,
            "alive": alive(w),
            "last_heartbeat": iso(w.last_seen),
            "seconds_since_heartbeat": round((now - w.last_seen).total_seconds(), 1),
            "scoring": w.submission_id,
        }
        for w in rows
    ]
    oldest_age = None if oldest is None else round((now - oldest).total_seconds(), 1)
    last = max((w.last_seen for w in rows), default=None)
    silent = last is None or (now - last).total_seconds() > stall_s
    stalled = bool(queued) and oldest_age is not None and oldest_age > stall_s and silent
    return {
        "status": "stalled" if stalled else "ok",
        "database": "reachable",
        "schema": current,
        "schema_head": head,
        "queued": queued,
        "scoring": scoring,
        "oldest_queued_age_s": oldest_age,
        "workers_alive": sum(w["alive"] for w in workers),
        "workers": workers,
        "stall_threshold_s": stall_s,
    }
