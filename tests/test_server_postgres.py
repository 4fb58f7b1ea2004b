"""The leaderboard server on a real PostgreSQL (marker ``postgres``).

URL from GOSS_TEST_POSTGRES_URL (CI: postgresql+psycopg://postgres@127.0.0.1:5432/test).
Each test runs in a fresh schema that is dropped afterwards, so reruns work.
Without a reachable server these tests are skipped, or fail when
GOSS_REQUIRE_POSTGRES=1.
"""

from __future__ import annotations

import os
import uuid

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("psycopg")

from sqlalchemy import select, text  # noqa: E402
from test_server_support import (  # noqa: E402
    folder_members,
    make_pred,
    make_split,
    race_uploads,
    serve,
    two_workers_score_each_once,
    zip_bytes,
)

import goss_bench  # noqa: E402

pytestmark = pytest.mark.postgres


def _unavailable(reason: str):
    if os.environ.get("GOSS_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL required (GOSS_REQUIRE_POSTGRES=1) but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def pg_base():
    url = os.environ.get("GOSS_TEST_POSTGRES_URL")
    if not url:
        _unavailable("GOSS_TEST_POSTGRES_URL is not set")
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        psycopg.connect(plain, connect_timeout=3).close()
    except psycopg.Error as exc:
        _unavailable(f"PostgreSQL at {url} is unreachable ({exc.__class__.__name__}: {exc})")
    return url, plain


@pytest.fixture
def pg_url(pg_base):
    import psycopg

    url, plain = pg_base
    schema = f"goss_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in url else "?"
    yield f"{url}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("goss_pg")
    images = make_split(root)
    pred = make_pred(root, images)
    return {"gt": root / "gt", "pred": pred, "zip": zip_bytes(folder_members(pred))}


def test_lifecycle_on_postgres(tmp_path, pg_url, data):
    from server.models import Submission, SubmissionEvent
    from server.services import rescore, set_benchmark
    from server.worker import run_worker

    s = serve(tmp_path, data["gt"], database_url=pg_url, bench_kw={"scores_hidden": True})
    try:
        assert s.db.is_postgres
        r = s.upload(data["zip"], method="pg method")
        assert r.status_code == 202, r.text
        sid = r.json()["id"]
        assert run_worker(s.settings, once=True) == 1
        st = s.client.get(f"/api/v1/submissions/{sid}", headers=s.auth()).json()
        assert st["status"] == "finished" and "metrics" not in st  # hidden
        set_benchmark(s.db, "bench", scores_hidden=False)
        st = s.client.get(f"/api/v1/submissions/{sid}").json()
        assert st["metrics"]["GQ"] == pytest.approx(goss_bench.score(data["pred"], data["gt"]).gq)
        lb = s.client.get("/api/v1/benchmarks/bench/leaderboard").json()
        assert [e["submission"] for e in lb["entries"]] == [sid]
        assert s.client.get("/benchmarks/bench").status_code == 200
        assert rescore(s.db, sid) == 1
        run_worker(s.settings, once=True)
        with s.db.read() as ses:
            assert ses.get(Submission, sid).status == "finished"
            evs = ses.scalars(
                select(SubmissionEvent.status).where(SubmissionEvent.submission_id == sid)
            ).all()
        assert evs.count("finished") == 2 and evs.count("scoring") == 2
        with s.db.read() as ses:
            schema = ses.execute(text("SELECT current_schema()")).scalar()
        assert schema.startswith("goss_test_")
    finally:
        s.client.close()
        s.db.dispose()


def test_two_workers_claim_concurrently_on_postgres(tmp_path, pg_url, data):
    from server.models import SubmissionEvent

    s = serve(tmp_path, data["gt"], database_url=pg_url, bench_kw={"daily_limit": 10})
    try:
        ids, counts = two_workers_score_each_once(s, data["zip"], teams=4, per_team=2)
        assert sum(counts.values()) == len(ids)
        with s.db.read() as ses:
            for i in ids:
                evs = ses.scalars(
                    select(SubmissionEvent.status)
                    .where(SubmissionEvent.submission_id == i)
                    .order_by(SubmissionEvent.id)
                ).all()
                assert evs == ["queued", "scoring", "finished"], (i, evs)
    finally:
        s.client.close()
        s.db.dispose()


def test_concurrent_uploads_respect_the_limit_on_postgres(tmp_path, pg_url, data):
    s = serve(tmp_path, data["gt"], database_url=pg_url, bench_kw={"daily_limit": 2})
    try:
        outcomes = race_uploads(s, data["zip"], 6)
        assert sorted(outcomes) == ["accepted"] * 2 + ["limited"] * 4
    finally:
        s.client.close()
        s.db.dispose()


def test_schema_checks_on_postgres(tmp_path, pg_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from server.db import Database, SchemaTooNewError
    from server.models import Base

    db = Database(pg_url)
    try:
        assert db.migrate() == "0002"
        with db.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        with db.write() as ses:
            ses.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
        with pytest.raises(SchemaTooNewError):
            db.migrate()
    finally:
        db.dispose()
