"""Fault injection against a live leaderboard (issue 12), each bounded in time.

- a TCP proxy on 127.0.0.1 between a worker and PostgreSQL, cut for seconds
  and restored while jobs are queued and while one is being scored;
- SIGKILL of the embedded worker under ``goss-bench serve`` (SQLite and PostgreSQL);
- SIGKILL of the server mid-upload, then a restart;
- a zip of 2M empty entries (the web process's peak RSS grows < 100 MB);
- an unauthenticated 100 MB form POST (refused before the body is read).

Each asserts: nothing lost, nothing scored twice, every accepted submission
finished or failed with a message.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from sqlalchemy import select  # noqa: E402
from test_server_postgres import pg_base, pg_url  # noqa: E402, F401
from test_server_support import folder_members, make_pred, make_split, serve, wait_for, zip_bytes  # noqa: E402

from server import services  # noqa: E402
from server.models import Submission, SubmissionEvent  # noqa: E402
from server.worker import run_worker  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A split whose scoring takes a noticeable moment (to be cut mid-job)."""
    root = tmp_path_factory.mktemp("faults")
    images = make_split(root, n_images=40, seed=3, shape=(160, 240))
    pred = make_pred(root, images)
    data = zip_bytes(folder_members(pred), compression=zipfile.ZIP_STORED)
    return {"root": root, "gt": root / "gt", "zip": data}


def _events(db, sid: int) -> list[tuple[str, str | None]]:
    with db.read() as s:
        rows = s.execute(
            select(SubmissionEvent.status, SubmissionEvent.worker_id)
            .where(SubmissionEvent.submission_id == sid)
            .order_by(SubmissionEvent.id)
        ).all()
    return [(r[0], r[1]) for r in rows]


def _statuses(db) -> dict[int, tuple[str, str | None]]:
    with db.read() as s:
        return {r.id: (r.status, r.error) for r in s.scalars(select(Submission))}


def assert_each_finished_once(db, ids) -> None:
    """Nothing lost, nothing scored twice: every id finished, with exactly one
    'finished' event (or failed with a message)."""
    st = _statuses(db)
    assert set(ids) <= set(st)
    for i in ids:
        status, error = st[i]
        assert status in ("finished", "failed"), (i, status)
        if status == "failed":
            assert error, i
        evs = [e for e, _ in _events(db, i)]
        assert evs.count("finished") + evs.count("failed") == 1, (i, evs)


# -- a TCP proxy between a worker and PostgreSQL ----------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:<port> to 127.0.0.1:<target>; ``cut()`` drops every
    connection and refuses new ones until ``restore()``."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.lock = threading.Lock()
        self.socks: set[socket.socket] = set()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.lsock.accept()
            except OSError:
                return
            if not self.up.is_set():
                conn.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
                upstream.settimeout(None)
            except OSError:
                conn.close()
                continue
            with self.lock:
                self.socks |= {conn, upstream}
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        self.up.clear()
        with self.lock:
            socks, self.socks = self.socks, set()
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def restore(self) -> None:
        self.up.set()

    def close(self) -> None:
        self.closed = True
        self.cut()
        self.lsock.close()


@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_worker_survives_database_cuts_while_queued_and_while_scoring(tmp_path, pg_url, big):  # noqa: F811
    from sqlalchemy.engine import make_url

    s = serve(tmp_path, big["gt"], database_url=pg_url, lease_s=1.5, heartbeat_s=0.2,
              poll_s=0.05, bench_kw={"daily_limit": 20})
    url = make_url(pg_url)
    proxy = TcpProxy(url.port or 5432)
    via_proxy = url.set(port=proxy.port).render_as_string(hide_password=False)
    settings_a = s.settings.with_(database_url=via_proxy, db_retry_max_s=0.5)
    stop_a, stop_b = threading.Event(), threading.Event()
    done_a: list[int] = []
    worker_a = threading.Thread(
        target=lambda: done_a.append(run_worker(settings_a, stop=stop_a, worker_id="A"))
    )
    tokens = [s.token] + [services.add_team(s.db, f"t{i}")[1] for i in range(3)]
    try:
        worker_a.start()
        # 1. cut while jobs are queued: nothing can be claimed; all scored after the restore
        assert wait_for(lambda: _worker_seen(s.db, "A"), timeout=30)
        proxy.cut()
        ids = [s.upload(big["zip"], token=t).json()["id"] for t in tokens[:3]]
        time.sleep(3.0)
        assert {st for st, _ in _statuses(s.db).values()} == {"queued"}
        proxy.restore()
        assert wait_for(lambda: all(_statuses(s.db)[i][0] == "finished" for i in ids), 90, 0.05)
        # 2. cut while one is scored: its lease expires, worker B reclaims and scores it;
        # A's late result is refused once the database is back
        sid = s.upload(big["zip"], token=tokens[3]).json()["id"]
        assert wait_for(lambda: _statuses(s.db)[sid][0] == "scoring", 30, 0.002)
        proxy.cut()
        worker_b = threading.Thread(
            target=run_worker, args=(s.settings,), kwargs={"stop": stop_b, "worker_id": "B"}
        )
        worker_b.start()
        assert wait_for(lambda: _statuses(s.db)[sid][0] == "finished", 90, 0.05)
        stop_b.set()
        worker_b.join(30)
        time.sleep(1.0)
        proxy.restore()
        # A resumes by itself: it scores the next job
        nxt = s.upload(big["zip"], token=tokens[0]).json()["id"]
        assert wait_for(lambda: _statuses(s.db)[nxt][0] == "finished", 90, 0.05)
        assert worker_a.is_alive()
    finally:
        stop_a.set()
        stop_b.set()
        proxy.restore()
        worker_a.join(60)
        proxy.close()
    evs = _events(s.db, sid)
    assert [e for e, _ in evs] == ["queued", "scoring", "queued", "scoring", "finished"], evs
    assert evs[1][1] == "A" and evs[3][1] == "B" and evs[4][1] == "B"
    assert ("scoring", "A") in _events(s.db, nxt)
    assert_each_finished_once(s.db, [*ids, sid, nxt])
    s.client.close()
    s.db.dispose()


def _worker_seen(db, wid: str) -> bool:
    from server.models import WorkerBeat

    with db.read() as s:
        return s.get(WorkerBeat, wid) is not None


# -- a real `goss-bench serve` in a subprocess -------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Served:
    """``goss-bench serve`` on a free port with a benchmark and a team registered."""

    def __init__(self, root: Path, gt: Path, database_url: str = "", workers: int = 1,
                 **env: str) -> None:
        from server.config import Settings
        from server.db import Database

        self.root = root
        self.data_dir = root / "srv"
        st = Settings(data_dir=self.data_dir, database_url=database_url)
        self.db_url = st.database_url
        db = Database(self.db_url)
        db.migrate()
        if not _has_bench(db):
            services.add_benchmark(db, gt, name="bench", daily_limit=50, total_limit=100)
            self.token = services.add_team(db, "alpha")[1]
        db.dispose()
        self.env = {
            **os.environ,
            "GOSS_DATA_DIR": str(self.data_dir),
            "GOSS_DATABASE_URL": self.db_url,
            "GOSS_LEASE_SECONDS": "1.5",
            "GOSS_HEARTBEAT_SECONDS": "0.2",
            "GOSS_POLL_SECONDS": "0.05",
            **env,
        }
        self.workers = workers
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Served:
        self.log = open(self.root / f"serve-{self.port}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "goss_bench", "serve", "--port", str(self.port),
             "--workers", str(self.workers), "--log-level", "warning"],
            env=self.env, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT,
        )

        def up() -> bool:
            try:
                httpx.get(f"{self.url}/api/v1/health", timeout=2)
                return True
            except httpx.HTTPError:
                return False

        assert wait_for(up, timeout=60, step=0.1), self.logtext()
        return self

    def logtext(self) -> str:
        return (self.root / f"serve-{self.port}.log").read_text(errors="replace")[-3000:]

    def health(self) -> dict:
        return httpx.get(f"{self.url}/api/v1/health", timeout=10).json()

    def upload(self, data: bytes) -> httpx.Response:
        return httpx.post(
            f"{self.url}/api/v1/benchmarks/bench/submissions",
            headers={"authorization": f"Bearer {self.token}"},
            files={"file": ("pred.zip", data, "application/zip")},
            data={"method": "m"}, timeout=120,
        )

    def status(self, sid: int) -> dict:
        return httpx.get(f"{self.url}/api/v1/submissions/{sid}", timeout=10).json()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _has_bench(db) -> bool:
    from server.models import Benchmark

    with db.read() as s:
        return s.scalar(select(Benchmark.id)) is not None


def _alive_pids(health: dict) -> set[int]:
    return {int(w["id"].split(":")[1]) for w in health["workers"] if w["alive"]}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_serve_restarts_a_killed_embedded_worker(tmp_path, big, backend, request):
    url = ""
    if backend == "postgres":
        url = request.getfixturevalue("pg_url")
    srv = Served(tmp_path, big["gt"], database_url=url, workers=1).start()
    try:
        assert wait_for(lambda: len(_alive_pids(srv.health())) == 1, 60, 0.1), srv.logtext()
        from server.db import Database

        db = Database(srv.db_url)
        ids: list[int] = []
        for _ in range(8):  # upload until one is caught being scored
            ids.append(srv.upload(big["zip"]).json()["id"])
            if wait_for(lambda: any(st == "scoring" for st, _ in _statuses(db).values()), 10, 0.001):
                break
        db.dispose()
        victim = _alive_pids(srv.health()).pop()
        os.kill(victim, signal.SIGKILL)  # mid-job
        # the supervisor starts a new worker; the killed job is re-queued and scored
        assert wait_for(lambda: _alive_pids(srv.health()) - {victim}, 60, 0.1), srv.logtext()
        assert wait_for(
            lambda: all(srv.status(i)["status"] in ("finished", "failed") for i in ids), 120, 0.2
        ), srv.logtext()
        h = srv.health()
        assert h["status"] == "ok" and h["queued"] == 0 and h["workers_alive"] == 1
        assert "exited with code -9" in srv.logtext()
    finally:
        srv.stop()
    from server.db import Database

    db = Database(srv.db_url)
    assert_each_finished_once(db, ids)
    assert all(_statuses(db)[i][0] == "finished" for i in ids)
    db.dispose()


def _raw_post(url: str, path: str, headers: dict[str, str], body_bytes: int,
              stop_after: float = 10.0) -> tuple[bytes, int]:
    """Send a POST declaring/streaming ``body_bytes``; (answer, bytes sent before it came)."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock.sendall(head.encode())
    # like a client sending "Expect: 100-continue": give the server a moment to answer
    # before the body (a server that answers and closes with unread data resets the
    # connection, which can destroy its answer in our receive queue)
    sock.settimeout(2.0)
    try:
        early = sock.recv(65536)
    except (TimeoutError, OSError):
        early = b""
    if early:
        sock.close()
        return early, 0
    sock.setblocking(False)
    chunk = b"x" * 65536
    if headers.get("Transfer-Encoding") == "chunked":
        chunk = b"10000\r\n" + chunk + b"\r\n"
    sent = 0
    answer = b""
    end = time.monotonic() + stop_after
    while time.monotonic() < end:
        try:
            part = sock.recv(65536)
            if part:
                answer += part
                if b"\r\n\r\n" in answer:
                    break
            else:
                break
        except BlockingIOError:
            pass
        except OSError:
            break
        if sent < body_bytes:
            try:
                sent += sock.send(chunk if len(chunk) <= body_bytes - sent else chunk[: body_bytes - sent])
            except BlockingIOError:
                time.sleep(0.005)
            except OSError:
                break
        else:
            time.sleep(0.01)
    sock.close()
    return answer, sent


def _io_read(pid: int) -> int:
    """Bytes the process has read (files and sockets), from /proc/PID/io."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.timeout(120)
@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc")
def test_unauthenticated_100mb_form_post_is_refused_before_the_body(tmp_path, big):
    srv = Served(tmp_path, big["gt"], workers=0).start()
    try:
        pid = srv.proc.pid
        hundred = 100 << 20
        cases = [
            ("/benchmarks/bench/submit",
             {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(hundred)},
             b"303"),
            ("/benchmarks/bench/submit",
             {"Content-Type": "multipart/form-data; boundary=x", "Transfer-Encoding": "chunked"},
             b"303"),
            ("/login", {"Content-Type": "application/x-www-form-urlencoded",
                        "Content-Length": str(hundred)}, b"413"),
            ("/api/v1/benchmarks/bench/submissions",
             {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(hundred)},
             b"401"),
        ]
        httpx.get(f"{srv.url}/login", timeout=10)  # warm up: imports, templates
        httpx.get(f"{srv.url}/benchmarks/bench/submit", timeout=10)
        for path, headers, code in cases:
            before = _io_read(pid)
            answer, sent = _raw_post(srv.url, path, headers, hundred)
            read = _io_read(pid) - before
            assert answer.split(b" ")[1:2] == [code], (path, answer[:200])
            # the answer came while almost all of the 100 MB was unsent, and the server
            # read no more than what the kernel had buffered (rchar: all its reads)
            assert sent < 16 << 20, (path, sent)
            assert read < 16 << 20, (path, read)
        incoming = srv.data_dir / "uploads" / "incoming"
        assert not incoming.exists() or not any(incoming.iterdir())
        assert srv.health()["status"] == "ok"
    finally:
        srv.stop()


def _write_many_entry_zip(path: Path, n: int) -> None:
    """A valid zip of ``n`` empty stored entries, written directly (fast)."""
    with open(path, "wb") as f:
        cd = bytearray()
        off = 0
        for i in range(n):
            name = f"{i:09d}".encode()
            lh = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0)
            f.write(lh + name)
            cd += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0,
                              len(name), 0, 0, 0, 0, 0, off) + name
            off += len(lh) + len(name)
        f.write(cd)
        count = min(n, 0xFFFF) if n < 0xFFFF else 0xFFFF
        if n >= 0xFFFF:  # zip64 end record + locator
            z64 = off + len(cd)
            f.write(struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, n, n, len(cd), off))
            f.write(struct.pack("<4sLQL", b"PK\x06\x07", 0, z64, 1))
        f.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(cd), off, 0))


@pytest.mark.timeout(240)
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_two_million_entry_zip_keeps_the_web_process_small(tmp_path, big):
    from goss_bench.submission import directory_extent

    small = tmp_path / "small.zip"  # the writer makes real zips (zip64 past 65535 entries)
    _write_many_entry_zip(small, 70_000)
    with zipfile.ZipFile(small) as zf:
        assert len(zf.infolist()) == 70_000 and zf.testzip() is None
    bomb = tmp_path / "entries.zip"
    _write_many_entry_zip(bomb, 2_000_000)
    assert directory_extent(bomb)[0] == 2_000_000
    srv = Served(tmp_path, big["gt"], workers=0).start()
    try:
        pid = srv.proc.pid
        srv.upload(big["zip"])  # warm up: imports, first upload path
        before = _peak_rss_mb(pid)
        for _ in range(2):  # a repeat is refused just the same
            with open(bomb, "rb") as fh:
                r = httpx.post(
                    f"{srv.url}/api/v1/benchmarks/bench/submissions",
                    headers={"authorization": f"Bearer {srv.token}"},
                    files={"file": ("entries.zip", fh, "application/zip")},
                    data={"method": "bomb"}, timeout=180,
                )
            assert r.status_code == 422 and "2000000 entries, the limit is" in r.json()["detail"]
        grown = _peak_rss_mb(pid) - before
        assert grown < 100, f"peak RSS grew by {grown:.0f} MB"
        assert r.json()["counted"] is False
    finally:
        srv.stop()


@pytest.mark.timeout(240)
def test_server_killed_mid_upload_then_restarted(tmp_path, big):
    srv = Served(tmp_path, big["gt"], workers=1).start()
    ok = srv.upload(big["zip"]).json()["id"]  # accepted before the crash
    payload = big["zip"] * 8  # not a valid zip as a whole; never completes anyway
    boundary = "b0undary"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.zip"\r\n'
            "Content-Type: application/zip\r\n\r\n").encode()
    total = len(head) + len(payload) + 40
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    sock.sendall(
        (f"POST /api/v1/benchmarks/bench/submissions HTTP/1.1\r\nHost: x\r\n"
         f"Authorization: Bearer {srv.token}\r\n"
         f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
         f"Content-Length: {total}\r\n\r\n").encode() + head + payload[: len(payload) // 2]
    )
    time.sleep(0.5)
    srv.kill()  # SIGKILL of the web process mid-upload (its worker is orphaned: kill it too)
    sock.close()
    for w in _orphan_workers(srv.data_dir):
        os.kill(w, signal.SIGKILL)
    # leave what a kill during the copy leaves: a half-written upload of the dead process
    incoming = srv.data_dir / "uploads" / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    half = incoming / f"{dead.pid}@{socket.gethostname()}~half.zip"
    half.write_bytes(payload[: len(payload) // 3])
    srv2 = Served(tmp_path, big["gt"], workers=1)
    srv2.token = srv.token
    srv2.start()
    try:
        assert not half.exists()  # cleaned at start-up
        again = srv2.upload(big["zip"]).json()["id"]
        assert wait_for(
            lambda: all(srv2.status(i)["status"] in ("finished", "failed") for i in (ok, again)),
            120, 0.2,
        ), srv2.logtext()
    finally:
        srv2.stop()
    from server.db import Database

    db = Database(srv.db_url)
    st = _statuses(db)
    assert sorted(st) == sorted({ok, again})  # the killed upload never became a submission
    assert_each_finished_once(db, [ok, again])
    assert st[ok][0] == st[again][0] == "finished"
    db.dispose()


def _orphan_workers(data_dir: Path) -> list[int]:
    """Worker processes of a killed serve (their environment names data_dir)."""
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().split(b"\0")
            env = (p / "environ").read_bytes()
        except OSError:
            continue
        if b"worker" in cmd and f"GOSS_DATA_DIR={data_dir}".encode() in env:
            out.append(int(p.name))
    return out
