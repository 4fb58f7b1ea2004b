"""Issue 12: the leaderboard server against faults and hostile traffic (SQLite,
in-process).  The subprocess and TCP-proxy fault injection is in
test_server_faults.py."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import threading
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from sqlalchemy import select  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402
from test_server_support import (  # noqa: E402
    folder_members,
    make_pred,
    make_split,
    serve,
    zip_bytes,
)

import goss_bench  # noqa: E402
from goss_bench.errors import GossInputError  # noqa: E402
from goss_bench.submission import Layout, check_zip, directory_extent  # noqa: E402
from server import services, worker  # noqa: E402
from server.models import Submission, SubmissionEvent, utcnow  # noqa: E402
from server.worker import claim, reap, run_worker  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("hard")
    images = make_split(root)
    pred = make_pred(root, images)
    return {"root": root, "gt": root / "gt", "images": images, "pred": pred,
            "zip": zip_bytes(folder_members(pred))}


@pytest.fixture
def srv(tmp_path, data):
    s = serve(tmp_path, data["gt"])
    yield s
    s.client.close()
    s.db.dispose()


def _status(s, sid: int) -> Submission:
    with s.db.read() as ses:
        sub = ses.get(Submission, sid)
        ses.expunge_all()
    return sub


# -- 1. a database outage does not kill the worker ----------------------------------


def test_worker_retries_transient_database_errors_and_resumes(srv, data, monkeypatch, caplog):
    sid = srv.upload(data["zip"]).json()["id"]
    real_claim, real_record = worker.claim, worker.record
    fails = {"claim": 3, "record": 2}

    def flaky(name, real):
        def call(*a, **kw):
            if fails[name] > 0:
                fails[name] -= 1
                raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
            return real(*a, **kw)
        return call

    monkeypatch.setattr(worker, "claim", flaky("claim", real_claim))
    monkeypatch.setattr(worker, "record", flaky("record", real_record))
    caplog.set_level("WARNING", logger="goss.worker")
    assert run_worker(srv.settings.with_(db_retry_max_s=0.05), once=True) == 1
    assert fails == {"claim": 0, "record": 0}
    assert _status(srv, sid).status == "finished"
    text = caplog.text
    assert "database unreachable while claiming" in text and "reachable again" in text


def test_retry_backoff_is_capped_with_jitter_and_stops(monkeypatch):
    delays = []
    stop = threading.Event()

    class Ev:
        def wait(self, d):
            delays.append(d)
            return len(delays) >= 12

    def boom():
        raise OperationalError("x", {}, OSError("down"))

    with pytest.raises(worker.Stopped):
        worker.retry(boom, "testing", stop=Ev(), max_delay=2.0, base=0.25)
    assert all(0 < d <= 2.0 for d in delays)
    assert delays[0] <= 0.25 and max(delays) > 1.0  # grows, then capped
    assert len(set(delays)) > 1
    with pytest.raises(ValueError):  # not a database error: not retried
        worker.retry(lambda: int("x"), "testing", stop=stop)


# -- 2. /health tells the truth ------------------------------------------------------


def test_health_reports_workers_queue_age_and_stall(tmp_path, data):
    s = serve(tmp_path, data["gt"], stall_s=0.0)
    h = s.client.get("/api/v1/health")
    assert h.status_code == 200 and h.json()["database"] == "reachable"
    assert h.json()["queued"] == 0 and h.json()["workers"] == []
    s.upload(data["zip"])
    time.sleep(0.05)
    h = s.client.get("/api/v1/health")
    assert h.status_code == 503 and h.json()["status"] == "stalled"  # queued, no worker
    assert h.json()["oldest_queued_age_s"] > 0
    worker.beat(s.db, "w-test", None)
    s2 = s.settings.with_(stall_s=60.0)
    s.app.state.settings = s2
    h = s.client.get("/api/v1/health").json()
    assert h["status"] == "ok" and h["workers_alive"] == 1 and h["workers"][0]["id"] == "w-test"
    run_worker(s2, once=True, worker_id="w-test")
    h = s.client.get("/api/v1/health").json()
    assert h["queued"] == 0 and h["workers"] == []  # a stopped worker is no longer listed
    s.db.dispose()
    s.db.url = "sqlite:////nonexistent-dir/x.db"
    from server.db import make_engine

    s.db.engine = make_engine("postgresql+psycopg://u:p@127.0.0.1:1/x")
    h = s.client.get("/api/v1/health")
    assert h.status_code == 503 and h.json() == {"status": "unavailable", "database": "unreachable"}


# -- 3. memory: the directory is checked before zipfile parses it -----------------------


def _many_entries(path: Path, n: int) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for i in range(n):
            zf.writestr(f"x/{i}", b"")
    return path


def test_end_of_central_directory_checked_before_zipfile(tmp_path, monkeypatch):
    layout = Layout(5, {"a": (8, 8), "b": (8, 8)})
    big = _many_entries(tmp_path / "many.zip", 3000)
    assert directory_extent(big)[0] == 3000

    def no_parse(*a, **kw):
        raise AssertionError("zipfile parsed the central directory")

    import goss_bench.submission as sub_mod

    monkeypatch.setattr(sub_mod.zipfile, "ZipFile", no_parse)
    with pytest.raises(GossInputError, match="3000 entries, the limit is 72"):
        check_zip(big, layout)
    # a forged entry count cannot hide a huge directory: its byte size is capped too
    raw = bytearray(big.read_bytes())
    eocd = raw.rindex(b"PK\x05\x06")
    raw[eocd + 8 : eocd + 12] = (1).to_bytes(2, "little") * 2
    forged = tmp_path / "forged.zip"
    forged.write_bytes(bytes(raw))
    with pytest.raises(GossInputError, match="the zip directory is .* bytes, more than"):
        check_zip(forged, layout)
    (tmp_path / "trunc.zip").write_bytes(bytes(raw[:-10]))
    with pytest.raises(GossInputError, match="not a valid zip archive"):
        check_zip(tmp_path / "trunc.zip", layout)


def test_zip64_directory_is_read(tmp_path):
    p = tmp_path / "z64.zip"
    with zipfile.ZipFile(p, "w", allowZip64=True) as zf:
        for i in range(70000):  # > 65535 entries: zip64 end record
            zf.writestr(f"{i}", b"")
    assert directory_extent(p)[0] == 70000


def test_rejected_uploads_are_counted_and_rate_limited(tmp_path, data):
    s = serve(tmp_path, data["gt"], rejected_per_hour=2)
    for _ in range(2):
        r = s.upload(b"not a zip")
        assert r.status_code == 422
    r = s.upload(data["zip"])  # even a valid one: refused before the body is read
    assert r.status_code == 429 and "rejected by validation in the last hour" in r.json()["detail"]
    with s.db.write() as ses:  # an hour later the team may try again
        from server.models import RejectedUpload

        for row in ses.scalars(select(RejectedUpload)):
            row.at = utcnow() - timedelta(hours=2)
    assert s.upload(data["zip"]).status_code == 202
    s.db.dispose()


# -- 4. every POST: authenticate before the body, small cap for forms ---------------------


def _asgi_post(app, path: str, headers: list[tuple[bytes, bytes]], body_size: int):
    """POST through the ASGI app directly; returns (status, bytes of body read)."""
    import asyncio

    read = 0
    sent = {}

    async def receive():
        nonlocal read
        chunk = 1 << 16
        read += chunk
        return {"type": "http.request", "body": b"x" * chunk, "more_body": read < body_size}

    async def send(msg):
        if msg["type"] == "http.response.start":
            sent["status"] = msg["status"]

    path, _, query = path.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
        "root_path": "", "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1), "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    return sent["status"], read


def test_posts_are_refused_before_the_body_is_read(srv):
    big = 100 << 20
    mp = [(b"content-type", b"multipart/form-data; boundary=xyz")]
    # no session: the upload form redirects to the login without reading
    status, read = _asgi_post(srv.app, "/benchmarks/bench/submit", mp, big)
    assert status == 303 and read == 0
    # bad token on the API upload
    status, read = _asgi_post(
        srv.app, "/api/v1/benchmarks/bench/submissions",
        [*mp, (b"authorization", b"Bearer goss_nope")], big,
    )
    assert status == 401 and read == 0
    # login / logout: CSRF first (query string), nothing read
    for path in ("/login", "/logout"):
        status, read = _asgi_post(srv.app, path, [(b"content-type", b"application/x-www-form-urlencoded")], big)
        assert status == 422 and read == 0, path
    # a declared large body on a non-upload form: 413 from its header
    status, read = _asgi_post(srv.app, "/login", [(b"content-length", b"1000000")], big)
    assert status == 413 and read == 0
    # no Content-Length (chunked): stopped at the small form cap
    c = srv.client
    page = c.get("/login").text
    import re

    tok = re.search(r'\?csrf=([^"&]+)"', page).group(1)
    r = c.post("/login", params={"csrf": tok}, content=(b"x" * 8192 for _ in range(64)),
               headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413 and "KiB for this form" in r.json()["detail"]


# -- 5. no hidden score through any route ---------------------------------------------------


def test_every_route_hides_scores_and_panels_of_a_hidden_benchmark(tmp_path, data):
    from fastapi.routing import APIRoute

    s = serve(tmp_path, data["gt"], bench_kw={"scores_hidden": True, "gt_public": True})
    sid = s.upload(data["zip"], method="secret").json()["id"]
    run_worker(s.settings, once=True)
    res = goss_bench.score(data["pred"], data["gt"])
    secrets_ = {f"{100 * v:.2f}" for v in res.summary().values() if isinstance(v, float) and v > 0.01}
    secrets_ |= {repr(v)[:7] for v in res.summary().values() if isinstance(v, float) and v > 0.01}
    stem = sorted(data["images"])[0]
    params = {"name": "bench", "sub_id": str(sid), "stem": stem}
    # log in as the owner too: not even the team sees hidden scores
    import re

    tok = re.search(r'\?csrf=([^"&]+)"', s.client.get("/login").text).group(1)
    s.client.post("/login", data={"token": s.token}, params={"csrf": tok})
    checked = 0
    for route in _walk(s.app.routes):
        if not isinstance(route, APIRoute) or "GET" not in route.methods:
            continue
        names = re.findall(r"{(\w+)}", route.path)
        unknown = [n for n in names if n not in params]
        assert not unknown, f"{route.path}: add its parameters to this test"
        path = route.path
        for n in names:
            path = path.replace("{" + n + "}", params[n])
        for headers in ({}, s.auth()):
            r = s.client.get(path, headers=headers)
            assert r.status_code < 500, path
            assert not r.headers.get("content-type", "").startswith("image/"), path
            body = r.text
            for v in secrets_:
                assert v not in body, (path, v)
            assert '"metrics"' not in body and "per_class" not in body and "<svg" not in body, path
            checked += 1
    assert checked >= 20
    s.db.dispose()


def _walk(routes, prefix: str = ""):
    """Every route of the app's route table, through included routers."""
    for r in routes:
        inner = getattr(r, "original_router", None)  # FastAPI >= 0.16x: included routers
        if inner is not None:
            yield from _walk(inner.routes, prefix + r.include_context.prefix)
        elif hasattr(r, "routes") and not hasattr(r, "methods") and getattr(r, "path", "") != "/static":
            yield from _walk(r.routes, prefix + getattr(r, "path", ""))
        else:
            if prefix and hasattr(r, "path"):
                r = type("R", (), {"path": prefix + r.path, "methods": r.methods})()
            yield r


# -- 6. database URL errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    "url, needle",
    [
        ("postgresql+psycopg://goss:s3cret@127.0.0.1:1/goss", "cannot connect"),
        ("not a url", "not a valid database URL"),
        ("nosuchdb://x", "unsupported database"),
        ("sqlite:////proc/no/such/dir/goss.db", "cannot create the database folder"),
    ],
)
def test_database_url_errors_are_one_line_exit_2(tmp_path, url, needle):
    env = {**os.environ, "GOSS_DATABASE_URL": url, "GOSS_DATA_DIR": str(tmp_path)}
    cmds = [["server", "list"], ["worker", "--once"], ["serve", "--port", "1"]]
    for cmd in cmds if "s3cret" in url else cmds[:1]:
        p = subprocess.run([sys.executable, "-m", "goss_bench", *cmd], env=env, cwd=REPO,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 2, (cmd, p.stderr)
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: database "), (cmd, p.stderr)
        assert needle in lines[0] and "s3cret" not in p.stderr


# -- 7. ids out of range ----------------------------------------------------------------------


def test_out_of_range_ids_are_404(srv):
    for sid in ("99999999999999999999", "2147483648", "0", "-1"):
        for path in (f"/api/v1/submissions/{sid}", f"/submissions/{sid}",
                     f"/submissions/{sid}/panels/x.png"):
            r = srv.client.get(path)
            assert r.status_code == 404, (path, r.status_code)
    with pytest.raises(services.NotFound):
        services.rescore(srv.db, 99999999999999999999)


# -- 8. orphaned files are removed --------------------------------------------------------------


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_orphaned_uploads_and_temp_folders_are_cleaned(tmp_path, data):
    import socket

    from server.app import create_app
    from server.housekeeping import owner_tag

    s = serve(tmp_path, data["gt"])
    host = socket.gethostname()
    dead = _dead_pid()
    inc = s.settings.incoming_dir
    inc.mkdir(parents=True, exist_ok=True)
    orphan = inc / f"{dead}@{host}~abc.zip"
    orphan.write_bytes(b"x" * 1000)
    mine = inc / f"{owner_tag()}live.zip"  # a live process's upload in progress
    mine.write_bytes(b"y")
    stale = inc / "untagged.zip"
    stale.write_bytes(b"z")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    tmpdir = s.settings.tmp_dir / f"{dead}@{host}~sub1-xyz"
    (tmpdir / "semantic").mkdir(parents=True)
    (tmpdir / "semantic" / "a.png").write_bytes(b"p" * 5000)
    no_row = s.settings.upload_dir / "777.zip"
    no_row.write_bytes(b"q")
    os.utime(no_row, (time.time() - 7200, time.time() - 7200))
    create_app(s.settings).state.db.dispose()  # start-up
    assert not orphan.exists() and not stale.exists() and not no_row.exists()
    assert mine.exists() and not tmpdir.exists()
    # and after each job: a worker killed earlier left a folder behind
    tmpdir.mkdir(parents=True)
    s.upload(data["zip"])
    run_worker(s.settings, once=True)
    assert not tmpdir.exists() and list(s.settings.tmp_dir.iterdir()) == []
    s.db.dispose()


# -- 9. corrupt stored zips -------------------------------------------------------------------------


def test_corrupt_stored_zip_fails_with_an_operator_message(tmp_path, data, caplog):
    s = serve(tmp_path, data["gt"], bench_kw={"gt_public": True})
    sid = s.upload(data["zip"]).json()["id"]
    stored = Path(_status(s, sid).file_path)
    stored.write_bytes(stored.read_bytes()[: len(data["zip"]) // 2])
    caplog.set_level("ERROR", logger="goss.worker")
    run_worker(s.settings, once=True)
    st = s.client.get(f"/api/v1/submissions/{sid}", headers=s.auth()).json()
    assert st["status"] == "failed" and st["counted"] is False
    assert "stored copy of this upload is damaged" in st["error"]
    assert "not of your file" in st["error"] and "zip the prediction folder" not in st["error"]
    assert f"rescore {sid}" in caplog.text  # the operator is told what to do
    s.db.dispose()


def test_failed_rescore_keeps_the_previous_score_and_panels_do_not_500(tmp_path, data):
    s = serve(tmp_path, data["gt"], bench_kw={"gt_public": True})
    sid = s.upload(data["zip"]).json()["id"]
    run_worker(s.settings, once=True)
    before = s.client.get(f"/api/v1/submissions/{sid}").json()["metrics"]
    stored = Path(_status(s, sid).file_path)
    raw = bytearray(stored.read_bytes())
    start = raw.index(b"IDAT")  # damage the first PNG's data: CRC error on read
    raw[start + 8 : start + 40] = b"\xff" * 32
    stored.write_bytes(bytes(raw))
    stem = sorted(data["images"])[0]
    r = s.client.get(f"/submissions/{sid}/panels/{stem}.png")
    assert r.status_code == 404 and "cannot be read" in r.text
    assert services.rescore(s.db, sid) == 1
    run_worker(s.settings, once=True)
    after = s.client.get(f"/api/v1/submissions/{sid}", headers=s.auth()).json()
    assert after["status"] == "finished" and after["metrics"] == before
    assert "previous score is kept" in after["error"]
    lb = s.client.get("/api/v1/benchmarks/bench/leaderboard").json()["entries"]
    assert [e["submission"] for e in lb] == [sid]
    s.db.dispose()


# -- 10. admin input ------------------------------------------------------------------------------


def test_admin_cli_validates_input(tmp_path, data, monkeypatch, capsys):
    from goss_bench.cli import main
    from server.config import get_settings

    monkeypatch.setenv("GOSS_DATA_DIR", str(tmp_path / "srv"))
    monkeypatch.delenv("GOSS_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        gt = str(data["gt"])
        for argv in (
            ["server", "add-benchmark", gt, "--name", "b", "--daily-limit", "-1"],
            ["server", "add-benchmark", gt, "--name", "b", "--total-limit", "x"],
        ):
            with pytest.raises(SystemExit) as e:
                main(argv)
            assert e.value.code == 2
            assert "expected a whole number >= 0" in capsys.readouterr().err
        assert main(["server", "add-benchmark", gt, "--name", "b"]) == 0
        with pytest.raises(SystemExit):
            main(["server", "set", "b", "--daily-limit", "-3"])
        capsys.readouterr()
        for bad in ("evil\x1b[31mred", "tab\tname", "new\nline", "   "):
            assert main(["server", "add-team", bad]) == 2
            err = capsys.readouterr().err
            assert err.startswith("error: team name") and err.count("\n") == 1
        assert main(["server", "rescore", "--all", "--benchmark", "nosuch"]) == 2
        assert "no benchmark named 'nosuch'" in capsys.readouterr().err
        assert main(["server", "rescore", "--all", "--benchmark", "b"]) == 0
        with pytest.raises(GossInputError, match="daily limit"):
            services.set_benchmark(services_db(), "b", daily_limit=-1)
    finally:
        get_settings.cache_clear()


def services_db():
    from server.config import get_settings
    from server.db import Database

    return Database(get_settings().database_url)


# -- 11. a re-queued job keeps its place ------------------------------------------------------------


def test_requeued_job_keeps_its_place(tmp_path, data):
    s = serve(tmp_path, data["gt"], lease_s=0.2)
    first = s.upload(data["zip"]).json()["id"]
    _, tok = services.add_team(s.db, "beta")
    second = s.upload(data["zip"], token=tok).json()["id"]
    queued_at = _status(s, first).queued_at
    c = claim(s.db, "dead", 0.2)
    assert c.submission_id == first
    time.sleep(0.3)
    assert reap(s.db, 3) == (1, 0)
    assert _status(s, first).queued_at == queued_at
    assert claim(s.db, "next", 30).submission_id == first  # before the later upload
    assert _status(s, second).status == "queued"
    s.db.dispose()


# -- structure -------------------------------------------------------------------------------------


def test_core_package_imports_nothing_from_the_server():
    offenders = []
    for path in (REPO / "goss_bench").rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(REPO)}: {n}" for n in names
                          if n == "server" or n.startswith("server.")]
    assert offenders == []


def test_events_of_a_worker_that_lost_the_database_mid_job(srv, data, monkeypatch):
    """The heartbeat cannot reach the database, the lease expires and another
    worker re-scores: the first worker's late result is discarded (scored once)."""
    s = serve(srv.root / "x", data["gt"], lease_s=0.3, heartbeat_s=0.05)
    sid = s.upload(data["zip"]).json()["id"]
    c = claim(s.db, "cut-off", 0.3)
    time.sleep(0.4)
    assert run_worker(s.settings, once=True) == 1
    late = worker.score_submission(_status(s, sid), _bench(s), s.settings)
    assert worker.retry(lambda: worker.record(s.db, c, late), "recording") is False
    with s.db.read() as ses:
        evs = ses.scalars(select(SubmissionEvent.status).where(SubmissionEvent.submission_id == sid)).all()
    assert evs.count("finished") == 1
    s.db.dispose()


def _bench(s):
    from server.models import Benchmark

    with s.db.read() as ses:
        b = ses.scalar(select(Benchmark))
        ses.expunge_all()
    return b


# -- cached leaderboard bytes ---------------------------------------------------------------


def test_leaderboards_are_served_from_memory_until_something_changes(srv, data, monkeypatch):
    sid = srv.upload(data["zip"], method="first").json()["id"]
    run_worker(srv.settings, once=True)
    calls = []
    real = services._stamp
    monkeypatch.setattr(services, "_stamp", lambda db, name: calls.append(name) or real(db, name))
    paths = ["/api/v1/benchmarks/bench/leaderboard", "/api/v1/benchmarks/bench/leaderboard.csv",
             "/benchmarks/bench"]
    first = [srv.client.get(p) for p in paths]
    assert len(calls) == 3
    again = [srv.client.get(p) for p in paths]  # answered by server.fastpath
    assert [r.content for r in again] == [r.content for r in first] and len(calls) == 3
    for a, b in zip(first, again, strict=True):  # the same answer as the routers give
        for h in ("content-type", "content-length", "content-disposition"):
            assert a.headers.get(h) == b.headers.get(h), h
    assert srv.client.get(paths[0] + "?sort=nope").status_code == 422  # still validated
    services.set_benchmark(srv.db, "bench", title="Renamed")  # a write: invalidated at once
    assert b"Renamed" in srv.client.get("/benchmarks/bench").content
    # a change by another process (the stamp changes): seen after CACHE_TTL_S
    monkeypatch.setattr(services, "CACHE_TTL_S", 0.2)
    srv.client.get(paths[0])
    with srv.db.write() as s:
        s.get(Submission, sid).status = "queued"  # as a rescore in another process would
    time.sleep(0.25)
    assert srv.client.get(paths[0]).json()["entries"] == []
    # a logged-in visitor gets a freshly rendered page (their name in it), never the cached one
    import re

    tok = re.search(r'\?csrf=([^"&]+)"', srv.client.get("/login").text).group(1)
    srv.client.post("/login", data={"token": srv.token}, params={"csrf": tok})
    assert "alpha" in srv.client.get("/benchmarks/bench").text
    srv.client.cookies.clear()
    assert "team login" in srv.client.get("/benchmarks/bench").text
