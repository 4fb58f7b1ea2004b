"""Server settings, read from ``GOSS_*`` environment variables.

:class:`Settings` is a frozen dataclass; :meth:`Settings.from_env` builds it
from the environment, and :func:`get_settings` caches one instance for the
process (tests build their own and pass it to ``create_app``).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path

from goss_bench.errors import GossInputError

MB = 1024 * 1024


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise GossInputError(f"environment variable {name}: expected an integer, got {raw!r}") from None


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise GossInputError(f"environment variable {name}: expected a number, got {raw!r}") from None


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    v = raw.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise GossInputError(f"environment variable {name}: expected true/false, got {raw!r}")


@dataclass(frozen=True)
class Settings:
    """Every tunable of the server (environment variable in brackets).

    data_dir [GOSS_DATA_DIR]: uploads, temporary extraction folders, secret key.
    database_url [GOSS_DATABASE_URL]: SQLAlchemy URL; default SQLite file in data_dir.
    secret_key [GOSS_SECRET_KEY]: signs session cookies and CSRF tokens; when
        empty, a random key is kept in ``data_dir/secret_key``.
    max_upload_mb [GOSS_MAX_UPLOAD_MB]: byte cap of one upload (HTTP 413 above).
    max_uncompressed_mb [GOSS_MAX_UNCOMPRESSED_MB]: cap on the sum of the zip's
        uncompressed sizes; 0 = derived from the GT (4 maps of 16 bit per image).
    max_entries [GOSS_MAX_ZIP_ENTRIES]: cap on zip entries; 0 = 4 per image + 64.
    max_ratio [GOSS_MAX_COMPRESSION_RATIO]: largest uncompressed/compressed ratio
        of one zip entry (PNGs are already compressed; bombs are not).
    daily_limit / total_limit [GOSS_DAILY_LIMIT / GOSS_TOTAL_LIMIT]: defaults
        for new benchmarks (submissions per team per UTC day / in total).
    lease_s [GOSS_LEASE_SECONDS]: a claimed submission is re-queued when its
        worker has not renewed the lease for this long.
    heartbeat_s [GOSS_HEARTBEAT_SECONDS]: how often a worker renews its lease.
    max_attempts [GOSS_MAX_ATTEMPTS]: claims of one submission before it fails.
    poll_s [GOSS_POLL_SECONDS]: worker sleep when the queue is empty.
    score_processes [GOSS_SCORE_PROCESSES]: processes per scoring job.
    embedded_worker [GOSS_EMBEDDED_WORKER]: ``serve`` starts one worker process
        (default: on for SQLite, off otherwise).
    session_hours [GOSS_SESSION_HOURS]: lifetime of a web login.
    panels [GOSS_PANELS]: image panels on a submission page (public GT only).
    max_form_kb [GOSS_MAX_FORM_KB]: body cap of every POST that is not an
        upload (login, logout), in KiB.
    rejected_per_hour [GOSS_REJECTED_PER_HOUR]: uploads refused by validation
        that one team may make per hour; then 429 until the hour has passed.
    stall_s [GOSS_STALL_SECONDS]: /health answers 503 when submissions are
        queued and no worker has shown life for this long.
    db_retry_max_s [GOSS_DB_RETRY_MAX_SECONDS]: cap of a worker's exponential
        backoff while the database is unreachable.
    """

    data_dir: Path = Path("goss-server-data")
    database_url: str = ""
    secret_key: str = ""
    max_upload_mb: int = 2048
    max_uncompressed_mb: int = 0
    max_entries: int = 0
    max_ratio: float = 100.0
    daily_limit: int = 5
    total_limit: int = 100
    lease_s: float = 120.0
    heartbeat_s: float = 20.0
    max_attempts: int = 3
    poll_s: float = 1.0
    score_processes: int = 1
    embedded_worker: bool | None = None
    session_hours: float = 12.0
    panels: int = 3
    max_form_kb: int = 64
    rejected_per_hour: int = 20
    stall_s: float = 300.0
    db_retry_max_s: float = 30.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        if not self.database_url:
            db = (self.data_dir / "goss.db").resolve()
            object.__setattr__(self, "database_url", f"sqlite:///{db}")

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Build settings from ``GOSS_*`` variables; keyword overrides win."""
        emb = os.environ.get("GOSS_EMBEDDED_WORKER")
        values: dict[str, object] = dict(
            data_dir=Path(os.environ.get("GOSS_DATA_DIR") or "goss-server-data"),
            database_url=os.environ.get("GOSS_DATABASE_URL", ""),
            secret_key=os.environ.get("GOSS_SECRET_KEY", ""),
            max_upload_mb=_env_int("GOSS_MAX_UPLOAD_MB", 2048),
            max_uncompressed_mb=_env_int("GOSS_MAX_UNCOMPRESSED_MB", 0),
            max_entries=_env_int("GOSS_MAX_ZIP_ENTRIES", 0),
            max_ratio=_env_float("GOSS_MAX_COMPRESSION_RATIO", 100.0),
            daily_limit=_env_int("GOSS_DAILY_LIMIT", 5),
            total_limit=_env_int("GOSS_TOTAL_LIMIT", 100),
            lease_s=_env_float("GOSS_LEASE_SECONDS", 120.0),
            heartbeat_s=_env_float("GOSS_HEARTBEAT_SECONDS", 20.0),
            max_attempts=_env_int("GOSS_MAX_ATTEMPTS", 3),
            poll_s=_env_float("GOSS_POLL_SECONDS", 1.0),
            score_processes=_env_int("GOSS_SCORE_PROCESSES", 1),
            embedded_worker=None if not emb else _env_bool("GOSS_EMBEDDED_WORKER", False),
            session_hours=_env_float("GOSS_SESSION_HOURS", 12.0),
            panels=_env_int("GOSS_PANELS", 3),
            max_form_kb=_env_int("GOSS_MAX_FORM_KB", 64),
            rejected_per_hour=_env_int("GOSS_REJECTED_PER_HOUR", 20),
            stall_s=_env_float("GOSS_STALL_SECONDS", 300.0),
            db_retry_max_s=_env_float("GOSS_DB_RETRY_MAX_SECONDS", 30.0),
        )
        known = {f.name for f in fields(cls)}
        for k, v in overrides.items():
            if k not in known:
                raise TypeError(f"unknown setting {k!r}")
            if v is not None:
                values[k] = v
        return cls(**values)  # type: ignore[arg-type]

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def upload_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    @property
    def incoming_dir(self) -> Path:
        return self.upload_dir / "incoming"

    @property
    def worker_alive_s(self) -> float:
        """A worker silent for longer than this is reported as not alive."""
        return max(3 * self.heartbeat_s, 3 * self.poll_s, 30.0)

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * MB

    @property
    def run_embedded_worker(self) -> bool:
        return self.is_sqlite if self.embedded_worker is None else self.embedded_worker

    def resolved_secret(self) -> bytes:
        """The signing key: GOSS_SECRET_KEY, or a random key kept in data_dir."""
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data_dir / "secret_key"
        if not path.is_file():
            from goss_bench.io import write_text_atomic

            self.data_dir.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                os.close(fd)
                write_text_atomic(path, secrets.token_urlsafe(48))
                os.chmod(path, 0o600)
        key = path.read_text().strip()
        if not key:  # another process created it and is about to fill it
            import time

            time.sleep(0.2)
            key = path.read_text().strip()
        return key.encode()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings from the environment (cached)."""
    return Settings.from_env()
