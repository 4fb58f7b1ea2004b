"""Engine, sessions and schema migrations.

:class:`Database` owns one engine.  ``read()`` sessions are plain
transactions; ``write()`` sessions start with ``BEGIN IMMEDIATE`` on SQLite,
so that writers queue on SQLite's single write lock instead of failing when a
read transaction is upgraded (the single-writer equivalent of PostgreSQL's
row locks).  :meth:`Database.migrate` runs the packaged Alembic migrations and
refuses a database whose schema is newer than this code.

Opening or reaching the database fails with :class:`DatabaseError` (a
GossInputError: one message naming the URL, password masked, and what
failed); :func:`is_transient` tells the worker which errors to retry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from goss_bench.errors import GossInputError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class SchemaTooNewError(GossInputError):
    """The database was migrated by a newer goss-bench."""


class DatabaseError(GossInputError):
    """The database URL is wrong or the database cannot be reached."""


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (also for unparsable URLs)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - any parse failure: mask by pattern
        return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", url)


def _first_line(exc: BaseException, url: str) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = (str(orig).strip().splitlines() or [orig.__class__.__name__])[0]
    try:
        pw = make_url(url).password
    except Exception:  # noqa: BLE001
        pw = None
    return text.replace(str(pw), "***") if pw else text


def database_error(url: str, exc: BaseException, doing: str = "cannot connect") -> DatabaseError:
    """One clear message for a failure to open or reach the database at ``url``."""
    if isinstance(exc, (sa_exc.NoSuchModuleError, ModuleNotFoundError)):
        doing = "unsupported database (use sqlite:/// or postgresql+psycopg://)"
    elif isinstance(exc, (sa_exc.ArgumentError, ValueError)) and not isinstance(
        exc, GossInputError
    ):
        doing = "not a valid database URL (expected e.g. sqlite:///path/goss.db or "
        doing += "postgresql+psycopg://user:password@host:5432/name)"
    elif isinstance(exc, OSError) and not isinstance(exc, sa_exc.DBAPIError):
        doing = "cannot create the database folder"
    return DatabaseError(f"database {mask_url(url)}: {doing}: {_first_line(exc, url)}")


def is_transient(exc: BaseException) -> bool:
    """A connection-level failure worth retrying (server down, network cut, lock timeout)."""
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)):
        return True
    return isinstance(exc, sa_exc.DBAPIError) and bool(exc.connection_invalidated)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 60})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # noqa: ANN001
            dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get("goss_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    args = {"connect_timeout": 10} if url.startswith("postgresql") else {}
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=20, connect_args=args
    )


class Database:
    """One engine plus read and write session factories."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = make_engine(url)
        except (sa_exc.SQLAlchemyError, ImportError, ValueError, OSError) as exc:
            raise database_error(url, exc) from None
        self.dialect = self.engine.dialect.name
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(
            self.engine.execution_options(goss_write=True), expire_on_commit=False
        )

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as s:
            yield s

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self._write() as s, s.begin():
            yield s

    def dispose(self) -> None:
        self.engine.dispose()

    # -- schema ---------------------------------------------------------------

    def _alembic_config(self, connection: Connection | None = None):  # noqa: ANN202
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        if connection is not None:
            cfg.attributes["connection"] = connection
        return cfg

    def schema_status(self) -> tuple[str | None, str]:
        """(current revision or None, head revision of this code)."""
        from alembic.migration import MigrationContext
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(self._alembic_config())
        head = script.get_current_head() or ""
        with self.reaching():
            with self.engine.connect() as conn:
                current = MigrationContext.configure(conn).get_current_revision()
        return current, head

    @contextmanager
    def reaching(self, doing: str = "cannot connect") -> Iterator[None]:
        """Turn connection failures inside the block into one DatabaseError."""
        try:
            yield
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.ArgumentError) as exc:
            raise database_error(self.url, exc, doing) from None
        except sa_exc.DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            raise database_error(self.url, exc, doing) from None

    def ping(self) -> None:
        """One round trip (raises DatabaseError when the database is unreachable)."""
        from sqlalchemy import text

        with self.reaching(), self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def check_schema(self, *, allow_missing: bool = False) -> None:
        """Raise SchemaTooNewError for an unknown (newer) revision; GossInputError
        when the database is not at this code's head (unless allow_missing)."""
        from alembic.script import ScriptDirectory
        from alembic.util.exc import CommandError

        script = ScriptDirectory.from_config(self._alembic_config())
        current, head = self.schema_status()
        if current is not None:
            try:
                script.get_revision(current)
            except (CommandError, KeyError, ValueError) as exc:
                raise SchemaTooNewError(
                    f"{self.safe_url}: the database schema is at revision {current!r}, which this "
                    f"goss-bench does not know (its newest is {head!r}); the database was created "
                    f"by a newer goss-bench: upgrade goss-bench instead of downgrading the data "
                    f"({exc.__class__.__name__})"
                ) from None
        if current != head and not allow_missing:
            raise GossInputError(
                f"{self.safe_url}: the database schema is at {current!r}, expected {head!r}; "
                "run `goss-bench serve` once or `goss-bench server migrate` to upgrade it"
            )

    def migrate(self) -> str:
        """Upgrade the schema to head (idempotent); returns the head revision."""
        from alembic import command

        self.check_schema(allow_missing=True)
        with self.reaching("cannot migrate"), self._write_connection() as conn:
            if self.is_postgres:
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(462255)")  # one migrator
            command.upgrade(self._alembic_config(conn), "head")
        return self.schema_status()[1]

    @contextmanager
    def _write_connection(self) -> Iterator[Connection]:
        eng = self.engine.execution_options(goss_write=True)
        with eng.begin() as conn:
            yield conn

    @property
    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)
