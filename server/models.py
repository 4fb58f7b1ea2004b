"""Database tables (SQLAlchemy 2.x declarative models).

Times are naive UTC ``datetime`` values (the same on SQLite and PostgreSQL).
Sortable metrics are typed columns of :class:`Submission`; the full
``ScoreResult.to_dict()`` is kept as JSON text for display only.

Submission status: ``queued -> scoring -> finished | failed``; a scoring job
whose worker stops renewing its lease goes back to ``queued`` (attempts + 1)
or, past the retry limit, to ``failed``.  Every transition is also recorded in
:class:`SubmissionEvent`.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

QUEUED = "queued"
SCORING = "scoring"
FINISHED = "finished"
FAILED = "failed"
STATUSES = (QUEUED, SCORING, FINISHED, FAILED)

SHOW_BEST = "best"  # a team's best finished submission by GQ
SHOW_LATEST = "latest"  # a team's latest finished submission

# leaderboard metric -> Submission column (all higher-is-better except FPR95)
METRIC_COLUMNS: dict[str, str] = {
    "GQ": "gq",
    "GQ_kn": "gq_kn",
    "GQ_uk": "gq_uk",
    "GQ_clu": "gq_clu",
    "AUROC": "auroc",
    "AUPR": "aupr",
    "FPR95": "fpr95",
    "mIoU": "miou",
}
LOWER_IS_BETTER = frozenset({"FPR95"})


def utcnow() -> datetime:
    """Naive UTC now (the database stores naive UTC)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Benchmark(Base):
    """One built split: its GT directory on the server and its rules.

    layout_json: ``{"num_known": N, "images": [[stem, width, height], ...]}``,
    read from the GT headers when the benchmark is added; uploads are
    validated against it without touching the GT files.
    gt_public: the GT may be shown (image panels on submission pages).
    scores_hidden: scores are withheld everywhere until an organiser publishes.
    """

    __tablename__ = "benchmarks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    gt_dir: Mapped[str] = mapped_column(Text)
    num_known: Mapped[int] = mapped_column(Integer)
    num_images: Mapped[int] = mapped_column(Integer)
    layout_json: Mapped[str] = mapped_column(Text)
    gt_public: Mapped[bool] = mapped_column(Boolean, default=False)
    scores_hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    show_rule: Mapped[str] = mapped_column(String(16), default=SHOW_BEST)
    daily_limit: Mapped[int] = mapped_column(Integer)
    total_limit: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="team")


class ApiToken(Base):
    """An API token of a team; only its sha256 is stored.

    prefix: the first characters of the token (shown to admins, used to find
    the row before the constant-time hash comparison).
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    team: Mapped[Team] = relationship(back_populates="tokens")


class Submission(Base):
    """One uploaded prediction zip and its scoring state.

    counted: whether it counts against the team's limits (False once it fails).
    attempts: number of times a worker claimed it.
    worker_id / lease_until: the claiming worker and when its lease expires.
    """

    __tablename__ = "submissions"
    __table_args__ = (
        Index("ix_submissions_status_queued", "status", "queued_at"),
        Index("ix_submissions_team_bench", "team_id", "benchmark_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    benchmark_id: Mapped[int] = mapped_column(ForeignKey("benchmarks.id", ondelete="CASCADE"))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    method: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    paper_url: Mapped[str] = mapped_column(String(500), default="")
    code_url: Mapped[str] = mapped_column(String(500), default="")
    file_path: Mapped[str] = mapped_column(Text)
    file_size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    metrics_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    scorer_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    gq: Mapped[float | None] = mapped_column(Float, nullable=True)
    gq_kn: Mapped[float | None] = mapped_column(Float, nullable=True)
    gq_uk: Mapped[float | None] = mapped_column(Float, nullable=True)
    gq_clu: Mapped[float | None] = mapped_column(Float, nullable=True)
    auroc: Mapped[float | None] = mapped_column(Float, nullable=True)
    aupr: Mapped[float | None] = mapped_column(Float, nullable=True)
    fpr95: Mapped[float | None] = mapped_column(Float, nullable=True)
    miou: Mapped[float | None] = mapped_column(Float, nullable=True)
    counted: Mapped[bool] = mapped_column(Boolean, default=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    queued_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    failed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    benchmark: Mapped[Benchmark] = relationship()
    team: Mapped[Team] = relationship()


class SubmissionEvent(Base):
    """One status transition of a submission (an audit trail)."""

    __tablename__ = "submission_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    worker_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")


class RejectedUpload(Base):
    """An upload refused by validation; counted per team to rate-limit retries."""

    __tablename__ = "rejected_uploads"
    __table_args__ = (Index("ix_rejected_team_at", "team_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    benchmark_id: Mapped[int] = mapped_column(ForeignKey("benchmarks.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(Text, default="")


class WorkerBeat(Base):
    """A scoring worker's last sign of life (shown by /api/v1/health).

    last_seen: renewed on every poll of the queue and every lease heartbeat.
    submission_id: what it is scoring now (None when idle).
    """

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    host: Mapped[str] = mapped_column(String(200), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    submission_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
