"""Leaderboard server on a temporary SQLite database (FastAPI TestClient).

The scores the server records are compared with goss_bench.score on the same
prediction folder (the library is the oracle; the server must only call it).
"""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from sqlalchemy import select, text  # noqa: E402
from test_server_support import (  # noqa: E402
    SHAPE,
    N,
    folder_members,
    make_pred,
    make_split,
    png_bytes,
    race_uploads,
    serve,
    two_workers_score_each_once,
    wait_for,
    zip_bytes,
)

import goss_bench  # noqa: E402
from server import services  # noqa: E402
from server.models import Submission, SubmissionEvent  # noqa: E402
from server.worker import claim, reap, record, run_worker, score_submission  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("goss")
    images = make_split(root)
    pred = make_pred(root, images)
    pred2 = make_pred(root, images, seed=7, name="pred2")
    return {
        "root": root,
        "gt": root / "gt",
        "images": images,
        "pred": pred,
        "pred2": pred2,
        "zip": zip_bytes(folder_members(pred)),
        "zip2": zip_bytes(folder_members(pred2, prefix="mine/")),
    }


@pytest.fixture
def srv(tmp_path, data):
    s = serve(tmp_path, data["gt"])
    yield s
    s.client.close()
    s.db.dispose()


def events(db, sub_id):
    with db.read() as s:
        return [
            e.status
            for e in s.scalars(
                select(SubmissionEvent)
                .where(SubmissionEvent.submission_id == sub_id)
                .order_by(SubmissionEvent.id)
            )
        ]


def count_submissions(db) -> int:
    with db.read() as s:
        return len(list(s.scalars(select(Submission.id))))


# -- lifecycle ------------------------------------------------------------------------


def test_lifecycle_scores_match_the_library(srv, data):
    r = srv.upload(data["zip"], method="baseline", paper_url="https://example.org/p")
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "queued" and body["quota"]["remaining_today"] == 4
    st = srv.client.get(body["status_url"], headers=srv.auth()).json()
    assert st["status"] == "queued" and st["queued_at"] and st["started_at"] is None
    assert run_worker(srv.settings, once=True) == 1
    st = srv.client.get(body["status_url"], headers=srv.auth()).json()
    assert st["status"] == "finished", st
    assert st["started_at"] and st["finished_at"] and st["scorer_version"] == goss_bench.__version__
    expected = goss_bench.score(data["pred"], data["gt"]).summary()
    for k in ("GQ", "GQ_kn", "GQ_uk", "mIoU"):
        assert st["metrics"][k] == pytest.approx(expected[k], abs=1e-12)
    assert len(st["per_class"]) == N + 1
    assert events(srv.db, body["id"]) == ["queued", "scoring", "finished"]
    lb = srv.client.get("/api/v1/benchmarks/bench/leaderboard").json()
    assert lb["entries"][0]["GQ"] == pytest.approx(expected["GQ"])
    csv_text = srv.client.get("/api/v1/benchmarks/bench/leaderboard.csv").text
    header = csv_text.splitlines()[0].split(",")
    for col in ("GQ", "GQ_kn", "GQ_uk", "GQ_clu", "AUROC", "AUPR", "FPR95", "mIoU"):
        assert f"{col} [0-1]" in header  # the header says the unit
    assert f"{expected['GQ']}" in csv_text
    page = srv.client.get("/benchmarks/bench")
    assert page.status_code == 200 and "baseline" in page.text and "<svg" in page.text
    sp = srv.client.get(f"/submissions/{body['id']}")
    assert sp.status_code == 200 and 'id="per-class"' in sp.text and "<svg" in sp.text
    assert "cdn" not in sp.text.lower() and "https://" not in sp.text.replace(
        "https://example.org/p", ""
    )
    assert srv.client.get("/").status_code == 200


def test_leaderboard_best_per_team_sort_and_tiebreak(srv, data):
    ids = []
    for z in (data["zip"], data["zip2"]):
        r = srv.upload(z)
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
        run_worker(srv.settings, once=True)
    _, tok_b = services.add_team(srv.db, "beta")
    r = srv.upload(data["zip"], token=tok_b)  # same file: a tie on every metric
    run_worker(srv.settings, once=True)
    gqs = {i: goss_bench.score(p, data["gt"]).gq for i, p in zip(ids, ("pred", "pred2"), strict=True) for p in [data[p]]}
    best = max(gqs, key=gqs.get)
    lb = srv.client.get("/api/v1/benchmarks/bench/leaderboard").json()["entries"]
    assert len(lb) == 2  # one row per team
    alpha = next(e for e in lb if e["team"] == "alpha")
    assert alpha["submission"] == best
    if best == ids[0]:  # tie between alpha's first and beta's copy: the earlier wins
        assert [e["team"] for e in lb] == ["alpha", "beta"]
    by_fpr = srv.client.get("/api/v1/benchmarks/bench/leaderboard?sort=mIoU").json()["entries"]
    assert [e["mIoU"] for e in by_fpr] == sorted((e["mIoU"] for e in by_fpr), reverse=True)
    bad = srv.client.get("/api/v1/benchmarks/bench/leaderboard?sort=nope")
    assert bad.status_code == 422 and "unknown metric" in bad.json()["detail"]
    assert srv.client.get("/benchmarks/bench?sort=FPR95").status_code == 200


# -- validation errors ----------------------------------------------------------------


def _valid(data) -> dict[str, bytes]:
    return folder_members(data["pred"])


def _stem0(data) -> str:
    return sorted(data["images"])[0]


def _case(name, data):  # noqa: C901
    m = _valid(data)
    s0 = _stem0(data)
    if name == "zip-slip-dotdot":
        m["../evil.png"] = m[f"semantic/{s0}.png"]
        return zip_bytes(m), "contains '..'"
    if name == "zip-slip-absolute":
        m["/etc/evil.png"] = m[f"semantic/{s0}.png"]
        return zip_bytes(m), "absolute path"
    if name == "zip-bomb-ratio":
        m["semantic/zeros.png"] = b"\0" * (8 << 20)
        return zip_bytes(m), "possible zip bomb"
    if name == "zip-bomb-entries":
        for i in range(200):
            m[f"junk/{i}.txt"] = b"x"
        return zip_bytes(m), "entries, the limit is"
    if name == "missing":
        del m[f"semantic/{s0}.png"]
        return zip_bytes(m), f"missing 1 of 4 images: {s0}"
    if name == "extra":
        m["semantic/not_a_test_image.png"] = m[f"semantic/{s0}.png"]
        return zip_bytes(m), "unexpected entries: semantic/not_a_test_image.png"
    if name == "wrong-mode-rgb":
        m[f"semantic/{s0}.png"] = png_bytes(np.zeros((*SHAPE, 3), np.uint8))
        return zip_bytes(m), "got RGB"
    if name == "wrong-depth":
        m[f"semantic/{s0}.png"] = png_bytes(np.zeros(SHAPE, np.uint16))
        return zip_bytes(m), "must be 8-bit grayscale, got 16-bit"
    if name == "wrong-size":
        m[f"semantic/{s0}.png"] = png_bytes(np.zeros((SHAPE[0], SHAPE[1] + 1), np.uint8))
        return zip_bytes(m), f"is {SHAPE[1] + 1}x{SHAPE[0]} (WxH) but the ground truth"
    if name == "not-png":
        m[f"semantic/{s0}.png"] = b"GIF89a" + b"\0" * 64
        return zip_bytes(m), "not a PNG file"
    if name == "not-zip":
        return b"this is not a zip file at all", "not a valid zip archive"
    if name == "duplicate":
        buf = io.BytesIO(zip_bytes(m))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns about the duplicate
            with zipfile.ZipFile(buf, "a") as zf:
                zf.writestr(f"semantic/{s0}.png", m[f"semantic/{s0}.png"])
        return buf.getvalue(), "appears twice"
    if name == "symlink":
        buf = io.BytesIO(zip_bytes(m))
        with zipfile.ZipFile(buf, "a") as zf:
            info = zipfile.ZipInfo("semantic/link.png")
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
        return buf.getvalue(), "is a symbolic link"
    if name == "forged-size":
        raw = bytearray(zip_bytes(m))
        cd = raw.index(b"PK\x01\x02")  # first central directory entry
        raw[cd + 20 : cd + 24] = (0x7FFFFFF0).to_bytes(4, "little")  # compressed size
        return bytes(raw), "corrupt or forged"
    if name == "partial-scores":
        m[f"scores/{s0}.png"] = png_bytes(np.zeros(SHAPE, np.uint16))
        return zip_bytes(m), "scores/ is present but misses 3 images"
    raise AssertionError(name)


CASES = [
    "zip-slip-dotdot",
    "zip-slip-absolute",
    "zip-bomb-ratio",
    "zip-bomb-entries",
    "missing",
    "extra",
    "wrong-mode-rgb",
    "wrong-depth",
    "wrong-size",
    "not-png",
    "not-zip",
    "partial-scores",
    "duplicate",
    "symlink",
    "forged-size",
]


def test_every_validation_error_is_reported_and_not_counted(srv, data):
    for name in CASES:
        payload, needle = _case(name, data)
        r = srv.upload(payload)
        assert r.status_code == 422, (name, r.text)
        detail = r.json()["detail"]
        assert needle in detail, (name, detail)
        assert "pred.zip" in detail  # names the uploaded file
        assert r.json()["counted"] is False
    assert count_submissions(srv.db) == 0
    incoming = srv.settings.upload_dir / "incoming"
    assert not incoming.exists() or not any(incoming.iterdir())  # nothing left behind
    q = srv.client.get("/api/v1/benchmarks/bench/quota", headers=srv.auth()).json()
    assert q["used_today"] == 0 and q["remaining_today"] == 5


def test_nothing_is_extracted_outside_the_temp_folder(srv, data, tmp_path):
    # a zip with a '..' member is refused before any extraction
    payload, _ = _case("zip-slip-dotdot", data)
    srv.upload(payload)
    assert not (srv.settings.data_dir.parent / "evil.png").exists()
    # a valid zip inside one top-level folder is accepted (FORMAT.md)
    r = srv.upload(data["zip2"])
    assert r.status_code == 202, r.text
    run_worker(srv.settings, once=True)
    assert not any(srv.settings.tmp_dir.iterdir())  # per-submission temp dir removed


def test_upload_size_cap(tmp_path, data):
    s = serve(tmp_path, data["gt"], max_upload_mb=1)
    big = zip_bytes({"semantic/a.png": os.urandom(3 << 20)}, compression=zipfile.ZIP_STORED)
    r = s.upload(big)
    assert r.status_code == 413 and "upload too large" in r.json()["detail"]

    def chunks():  # no Content-Length: the streaming counter must stop it
        yield (
            b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\n'
            b"Content-Type: application/zip\r\n\r\n"
        )
        for _ in range(3):
            yield os.urandom(1 << 20)
        yield b"\r\n--xyz--\r\n"

    r = s.client.post(
        "/api/v1/benchmarks/bench/submissions",
        headers={**s.auth(), "content-type": "multipart/form-data; boundary=xyz"},
        content=chunks(),
    )
    assert r.status_code == 413
    assert count_submissions(s.db) == 0


def test_tokens_bad_missing_and_revoked(srv, data):
    r = srv.upload(data["zip"], token="goss_not-a-real-token")
    assert r.status_code == 401 and "invalid API token" in r.json()["detail"]
    r = srv.client.post("/api/v1/benchmarks/bench/submissions", files={"file": ("a.zip", b"x")})
    assert r.status_code == 401 and "missing API token" in r.json()["detail"]
    assert services.revoke_tokens(srv.db, prefix=srv.token[:12]) == 1
    r = srv.upload(data["zip"])
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    new = services.new_team_token(srv.db, "alpha")
    assert srv.upload(data["zip"], token=new).status_code == 202
    with srv.db.read() as s:  # only hashes are stored
        stored = s.execute(text("SELECT token_hash, prefix FROM api_tokens")).all()
    assert all(new not in row[0] and len(row[0]) == 64 for row in stored)


def test_daily_and_total_limits(tmp_path, data):
    s = serve(tmp_path, data["gt"], bench_kw={"daily_limit": 2, "total_limit": 3})
    assert s.upload(data["zip"]).status_code == 202
    bad, _ = _case("missing", data)
    assert s.upload(bad).status_code == 422  # does not count
    r = s.upload(data["zip"])
    assert r.status_code == 202 and r.json()["quota"]["remaining_today"] == 0
    r = s.upload(data["zip"])
    assert r.status_code == 429
    assert "daily limit of 2" in r.json()["detail"] and "do not count" in r.json()["detail"]
    assert r.json()["quota"]["resets_at"].endswith("T00:00:00Z")
    # a failed submission is given back
    with s.db.write() as ses:
        sub = ses.get(Submission, 1)
        sub.status, sub.counted = "failed", False
    assert s.upload(data["zip"]).status_code == 202
    # total limit: move earlier submissions to yesterday
    with s.db.write() as ses:
        ses.execute(text("UPDATE submissions SET created_at = '2000-01-01 00:00:00'"))
    assert s.upload(data["zip"]).status_code == 202  # 3 counted (one failed is not)
    r = s.upload(data["zip"])
    assert r.status_code == 429 and "all 3 submissions" in r.json()["detail"]


def test_one_running_job_per_team(srv, data):
    for _ in range(2):
        assert srv.upload(data["zip"]).status_code == 202
    _, tok_b = services.add_team(srv.db, "beta")
    assert srv.upload(data["zip"], token=tok_b).status_code == 202
    c1 = claim(srv.db, "w1", 30)
    c2 = claim(srv.db, "w2", 30)
    assert (c1.submission_id, c2.submission_id) == (1, 3)  # alpha's 2nd waits
    assert claim(srv.db, "w3", 30) is None


# -- hidden scores ----------------------------------------------------------------------


def test_hidden_scores_never_leak_then_publish(tmp_path, data):
    s = serve(tmp_path, data["gt"], bench_kw={"scores_hidden": True, "gt_public": True})
    sid = s.upload(data["zip"], method="secret-method").json()["id"]
    run_worker(s.settings, once=True)
    gq = goss_bench.score(data["pred"], data["gt"]).gq
    shown = [f"{100 * gq:.2f}", f"{gq:.4f}"[:6]]
    bodies = [
        s.client.get(f"/api/v1/submissions/{sid}", headers=s.auth()).text,  # even the owner
        s.client.get(f"/api/v1/submissions/{sid}").text,
        s.client.get("/api/v1/benchmarks/bench/leaderboard").text,
        s.client.get("/api/v1/benchmarks/bench/leaderboard?sort=GQ_uk").text,
        s.client.get("/api/v1/benchmarks/bench/leaderboard.csv").text,
        s.client.get("/benchmarks/bench").text,
        s.client.get(f"/submissions/{sid}").text,
    ]
    for b in bodies:
        for v in shown:
            assert v not in b
        assert "<svg" not in b and '"metrics"' not in b and "per_class" not in b
    assert "secret-method" in bodies[2]  # listed, without scores
    assert json.loads(bodies[0])["status"] == "finished"
    # panels show matched/false-positive maps: hidden like the scores (issue 12)
    assert s.client.get(f"/submissions/{sid}/panels/{_stem0(data)}.png").status_code == 404
    services.set_benchmark(s.db, "bench", scores_hidden=False)
    st = s.client.get(f"/api/v1/submissions/{sid}").json()
    assert st["metrics"]["GQ"] == pytest.approx(gq)
    assert f"{100 * gq:.2f}" in s.client.get("/benchmarks/bench").text


def test_panels_only_for_public_gt(srv, tmp_path, data):
    sid = srv.upload(data["zip"]).json()["id"]
    run_worker(srv.settings, once=True)
    r = srv.client.get(f"/submissions/{sid}/panels/{_stem0(data)}.png")
    assert r.status_code == 404 and "public" in r.text
    assert "/panels/" not in srv.client.get(f"/submissions/{sid}").text
    pub = serve(tmp_path / "pub", data["gt"], bench_kw={"gt_public": True})
    sid = pub.upload(data["zip"]).json()["id"]
    run_worker(pub.settings, once=True)
    page = pub.client.get(f"/submissions/{sid}").text
    assert f"/submissions/{sid}/panels/{_stem0(data)}.png" in page
    r = pub.client.get(f"/submissions/{sid}/panels/{_stem0(data)}.png")
    assert r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n"


# -- scoring failures, rescore, workers ----------------------------------------------------


def test_scoring_error_is_actionable_and_not_counted(srv, data):
    m = _valid(data)
    s0 = _stem0(data)
    sem = np.full(SHAPE, 77, np.uint8)  # 77 is neither a class, N nor 255
    m[f"semantic/{s0}.png"] = png_bytes(sem)
    sid = srv.upload(zip_bytes(m)).json()["id"]
    run_worker(srv.settings, once=True)
    st = srv.client.get(f"/api/v1/submissions/{sid}", headers=srv.auth()).json()
    assert st["status"] == "failed" and st["failed_at"] and st["counted"] is False
    assert f"semantic/{s0}.png" in st["error"] and "77" in st["error"]
    assert str(srv.settings.tmp_dir) not in st["error"]  # no server paths
    other = srv.client.get(f"/api/v1/submissions/{sid}").json()
    assert "77" not in other["error"]  # the message is for the team only


def test_rescore(srv, data):
    sid = srv.upload(data["zip"]).json()["id"]
    run_worker(srv.settings, once=True)
    before = srv.client.get(f"/api/v1/submissions/{sid}").json()["metrics"]
    assert services.rescore(srv.db, sid) == 1
    assert srv.client.get(f"/api/v1/submissions/{sid}").json()["status"] == "queued"
    with pytest.raises(goss_bench.GossInputError, match="already queued"):
        services.rescore(srv.db, sid)
    run_worker(srv.settings, once=True)
    after = srv.client.get(f"/api/v1/submissions/{sid}").json()
    assert after["status"] == "finished" and after["metrics"] == before
    assert events(srv.db, sid) == ["queued", "scoring", "finished", "queued", "scoring", "finished"]
    assert services.rescore(srv.db, all_in="bench") == 1


def test_lost_lease_requeues_and_result_is_recorded_once(tmp_path, data):
    s = serve(tmp_path, data["gt"], lease_s=0.3)
    sid = s.upload(data["zip"]).json()["id"]
    dead = claim(s.db, "dead-worker", 0.3)  # claims, then never heartbeats
    assert dead.submission_id == sid
    time.sleep(0.4)
    assert run_worker(s.settings, once=True) == 1  # reaper re-queues, this worker scores
    with s.db.read() as ses:
        sub = ses.get(Submission, sid)
        ses.expunge_all()
    assert sub.status == "finished" and sub.attempts == 2
    # the dead worker wakes up and tries to record: refused
    late = score_submission(sub, sub_bench(s), s.settings)
    assert record(s.db, dead, late) is False
    assert events(s.db, sid) == ["queued", "scoring", "queued", "scoring", "finished"]


def sub_bench(s):
    from server.models import Benchmark

    with s.db.read() as ses:
        b = ses.scalar(select(Benchmark))
        ses.expunge_all()
    return b


def test_retry_limit_fails_with_reason(tmp_path, data):
    s = serve(tmp_path, data["gt"], lease_s=0.1, max_attempts=1)
    sid = s.upload(data["zip"]).json()["id"]
    claim(s.db, "dead", 0.1)
    time.sleep(0.2)
    assert reap(s.db, 1) == (0, 1)
    st = s.client.get(f"/api/v1/submissions/{sid}", headers=s.auth()).json()
    assert st["status"] == "failed" and "interrupted 1 times" in st["error"]
    assert st["counted"] is False


def test_worker_process_killed_mid_scoring(tmp_path):
    big = make_split(tmp_path, n_images=40, seed=3, shape=(160, 240))
    pred = make_pred(tmp_path, big)
    s = serve(tmp_path, tmp_path / "gt", lease_s=1.0, heartbeat_s=0.2)
    sid = s.upload(zip_bytes(folder_members(pred), compression=zipfile.ZIP_STORED)).json()["id"]
    env = {
        **os.environ,
        "GOSS_DATA_DIR": str(s.settings.data_dir),
        "GOSS_DATABASE_URL": s.settings.database_url,
        "GOSS_LEASE_SECONDS": "1.0",
        "GOSS_HEARTBEAT_SECONDS": "0.2",
        "GOSS_POLL_SECONDS": "0.05",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "goss_bench", "worker", "--id", "victim"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def status():
        with s.db.read() as ses:
            return ses.get(Submission, sid).status

    try:
        assert wait_for(lambda: status() != "queued", timeout=60, step=0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed_while = status()
    time.sleep(1.1)  # let the victim's lease expire
    run_worker(s.settings, once=True)
    with s.db.read() as ses:
        sub = ses.get(Submission, sid)
        assert sub.status == "finished"
    ev = events(s.db, sid)
    assert ev.count("finished") == 1
    expected = goss_bench.score(pred, tmp_path / "gt").gq
    assert sub.gq == pytest.approx(expected)
    if killed_while == "scoring":  # the usual case: re-queued by the reaper, then scored
        assert ev == ["queued", "scoring", "queued", "scoring", "finished"]


def test_two_workers_each_submission_once_sqlite(tmp_path, data):
    s = serve(tmp_path, data["gt"], bench_kw={"daily_limit": 10})
    ids, counts = two_workers_score_each_once(s, data["zip"])
    assert sum(counts.values()) == len(ids)
    for i in ids:
        assert events(s.db, i) == ["queued", "scoring", "finished"]


def test_concurrent_uploads_respect_the_daily_limit(tmp_path, data):
    s = serve(tmp_path, data["gt"], bench_kw={"daily_limit": 2})
    outcomes = race_uploads(s, data["zip"], 6)
    assert sorted(outcomes) == ["accepted"] * 2 + ["limited"] * 4
    assert count_submissions(s.db) == 2


# -- schema -------------------------------------------------------------------------------


def test_migrations_match_models_and_newer_schema_is_refused(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from server.app import create_app
    from server.config import Settings
    from server.db import Database, SchemaTooNewError
    from server.models import Base

    st = Settings(data_dir=tmp_path)
    db = Database(st.database_url)
    assert db.migrate() == "0002"
    assert db.migrate() == "0002"  # idempotent
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    with db.write() as s:
        s.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(SchemaTooNewError, match="newer goss-bench"):
        create_app(st)
    db.dispose()


# -- web pages: login, CSRF, upload form ------------------------------------------------------


def _csrf(page: str) -> str:
    import re

    return re.search(r'\?csrf=([^"&]+)"', page).group(1)


def test_web_login_and_upload_form_with_csrf(srv, data):
    c = srv.client
    r = c.get("/benchmarks/bench/submit", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    login = c.get("/login")
    tok = _csrf(login.text)
    r = c.post("/login", data={"token": "goss_wrong"}, params={"csrf": tok})
    assert r.status_code == 401 and "invalid API token" in r.text
    r = c.post("/login", data={"token": srv.token}, params={"csrf": "forged"})
    assert r.status_code == 422 and "reload the page" in r.text
    r = c.post("/login", data={"token": srv.token}, params={"csrf": tok}, follow_redirects=False)
    assert r.status_code == 303
    form = c.get("/benchmarks/bench/submit")
    assert form.status_code == 200 and "Remaining today" in form.text and "do not count" in form.text
    tok = _csrf(form.text)
    files = {"file": ("p.zip", data["zip"], "application/zip")}
    r = c.post("/benchmarks/bench/submit", data={"method": "web"}, files=files, params={"csrf": "x"})
    assert r.status_code == 422 and count_submissions(srv.db) == 0
    bad, _ = _case("missing", data)
    r = c.post(
        "/benchmarks/bench/submit",
        data={"method": "web"},
        files={"file": ("bad.zip", bad, "application/zip")},
        params={"csrf": tok},
    )
    assert r.status_code == 422 and "missing 1 of 4 images" in r.text
    r = c.post(
        "/benchmarks/bench/submit",
        data={"method": "web"},
        files=files,
        params={"csrf": tok},
        headers={"origin": "https://evil.example"},
    )
    assert r.status_code == 422 and "cross-site" in r.text
    r = c.post(
        "/benchmarks/bench/submit", data={"method": "web"}, files=files, params={"csrf": tok},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/submissions/1"
    run_worker(srv.settings, once=True)
    page = c.get("/submissions/1").text
    assert "finished" in page and "web" in page
    r = c.post("/logout", params={"csrf": tok}, follow_redirects=False)
    assert r.status_code == 303


# -- the CLIs ---------------------------------------------------------------------------------


@pytest.fixture
def env_settings(tmp_path, monkeypatch):
    from server.config import get_settings

    monkeypatch.setenv("GOSS_DATA_DIR", str(tmp_path / "srv"))
    monkeypatch.delenv("GOSS_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "srv"
    get_settings.cache_clear()


def test_admin_cli(env_settings, data, capsys):
    from goss_bench.cli import main

    assert main(["server", "add-benchmark", str(data["gt"]), "--name", "b1", "--hidden"]) == 0
    assert "added benchmark 'b1'" in capsys.readouterr().out
    assert main(["server", "add-benchmark", str(data["gt"]), "--name", "b1"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["server", "add-team", "gamma"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert token.startswith("goss_")
    assert main(["server", "list"]) == 0
    out = capsys.readouterr().out
    assert "team gamma: tokens " + token[:12] in out and token not in out
    assert main(["server", "publish", "b1"]) == 0
    assert main(["server", "rescore", "--all"]) == 0
    assert "re-queued 0" in capsys.readouterr().out
    assert main(["server", "rescore", "42"]) == 2
    assert "no submission with id 42" in capsys.readouterr().err
    assert main(["server", "revoke-token", token[:12]]) == 0
    assert main(["server", "revoke-token", token[:12]]) == 2
    assert main(["server", "add-benchmark", str(data["root"] / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_submit_cli_validates_uploads_and_waits(env_settings, data, tmp_path, capsys):
    import threading

    from test_server_support import ServerThread

    from goss_bench.cli import main
    from server.app import create_app
    from server.config import get_settings

    st = get_settings().with_(poll_s=0.05)
    app = create_app(st)
    services.add_benchmark(app.state.db, data["gt"], name="bench")
    _, token = services.add_team(app.state.db, "delta")
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(st,), kwargs={"stop": stop})
    worker.start()
    try:
        with ServerThread(app) as server:
            base = ["submit", "--server", server.url, "--benchmark", "bench", "--token", token]
            # local validation catches a missing file before any upload
            broken = tmp_path / "broken"
            make_pred(tmp_path, data["images"], name="broken")
            victim = sorted((broken / "semantic").glob("*.png"))[0]
            victim.unlink()
            assert main([*base[:1], str(broken), *base[1:]]) == 2
            err = capsys.readouterr().err
            assert "missing 1 of 4 images" in err and victim.stem in err
            assert count_submissions(app.state.db) == 0
            assert main(["submit", str(data["pred"]), *base[1:], "--wait", "--poll", "0.1",
                         "--no-progress", "--method", "cli-method"]) == 0
            out = capsys.readouterr().out
            gq = goss_bench.score(data["pred"], data["gt"]).gq
            assert f"GQ: {100 * gq:.2f}" in out.replace("     GQ", "GQ")
            services.set_benchmark(app.state.db, "bench", daily_limit=1)
            assert main(["submit", str(data["pred"]), *base[1:], "--no-progress"]) == 2
            assert "no submission left for bench: 1 of 1 today" in capsys.readouterr().err
            assert main(["submit", str(data["pred"]), *base[1:-1], "goss_bad", "--no-progress"]) == 2
            assert "invalid API token" in capsys.readouterr().err
            assert main(["submit", str(data["pred"]), *base[1:3], "--benchmark", "nope",
                         "--token", token]) == 2
            assert "not found" in capsys.readouterr().err
    finally:
        stop.set()
        worker.join()
        app.state.db.dispose()


def test_user_text_is_escaped_in_pages_and_csv(srv, data):
    evil = "<script>alert(1)</script>"
    r = srv.upload(data["zip"], method="=HYPERLINK(1)", description=evil)
    assert r.status_code == 202
    assert srv.upload(data["zip"], method="m", paper_url="javascript:alert(1)").status_code == 422
    run_worker(srv.settings, once=True)
    page = srv.client.get(f"/submissions/{r.json()['id']}").text
    assert evil not in page and "&lt;script&gt;" in page
    csv_text = srv.client.get("/api/v1/benchmarks/bench/leaderboard.csv").text
    assert ",'=HYPERLINK(1)," in csv_text


def test_submit_and_validation_do_not_import_the_server_stack():
    code = (
        "import sys, goss_bench.cli.submit, goss_bench.submission; "
        "bad = [m for m in ('fastapi', 'sqlalchemy', 'starlette', 'uvicorn') if m in sys.modules]; "
        "sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0
