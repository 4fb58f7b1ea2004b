"""``goss-bench submit`` against misbehaving servers on 127.0.0.1 (issue 14,
cause 4): every network or protocol failure and every malformed answer is one
``error:`` line (exit 1), bad flags and local problems exit 2, nothing hangs."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from pathlib import Path

import numpy as np
import pytest
from test_server_support import N, make_pred, make_split

from goss_bench.cli import main
from goss_bench.submission import layout_from_gt

pytestmark = pytest.mark.timeout(60)


def http(status: int, body: bytes | str, ctype: str = "application/json", extra: str = "") -> bytes:
    if isinstance(body, str):
        body = body.encode()
    head = f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
    return (head + extra + "Connection: close\r\n\r\n").encode() + body


class Fake:
    """A scripted server: ``routes[(method, path)]`` is the raw answer, or
    "close" (drop the connection), or "hang" (never answer)."""

    def __init__(self, routes: dict) -> None:
        self.routes = routes
        self.seen: list[tuple[str, str]] = []
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock = self.request
                buf = b""
                while b"\r\n\r\n" not in buf:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, rest = buf.partition(b"\r\n\r\n")
                method, path = head.split(b" ")[:2]
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v)
                while len(rest) < length:
                    chunk = sock.recv(1 << 20)
                    if not chunk:
                        break
                    rest += chunk
                key = (method.decode(), path.decode())
                fake.seen.append(key)
                ans = fake.routes.get(key, http(404, '{"detail": "no such route"}'))
                if callable(ans):
                    ans = ans()
                if ans == "close":
                    return
                if ans == "hang":
                    fake.release.wait(30)
                    return
                sock.sendall(ans)

        self.release = threading.Event()
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("submit")
    images = make_split(root)
    pred = make_pred(root, images)
    return {"root": root, "pred": pred, "layout": layout_from_gt(root / "gt").to_json()}


QUOTA = {"daily_limit": 5, "used_today": 0, "remaining_today": 5, "total_limit": 9,
         "used_total": 0, "remaining_total": 9, "resets_at": "2030-01-01T00:00:00Z"}
L, Q, S, ST = ("GET", "/api/v1/benchmarks/bench/layout"), ("GET", "/api/v1/benchmarks/bench/quota"), \
    ("POST", "/api/v1/benchmarks/bench/submissions"), ("GET", "/api/v1/submissions/7")


def good(data) -> dict:
    return {
        L: http(200, data["layout"]),
        Q: http(200, json.dumps(QUOTA)),
        S: http(202, json.dumps({"id": 7, "status": "queued", "status_url": "/api/v1/submissions/7",
                                 "page_url": "/submissions/7", "quota": QUOTA})),
        ST: http(200, json.dumps({"status": "finished", "metrics": {"GQ": 0.5, "mIoU": None}})),
    }


def run_submit(url: str, pred: Path, capsys, *extra: str, token: str = "goss_x") -> tuple[int, str]:
    argv = ["submit", str(pred), "--server", url, "--benchmark", "bench", "--token", token,
            "--no-progress", "--poll", "0.05", *extra]
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse
        rc = exc.code
    out = capsys.readouterr()
    err = out.err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 or rc == 0, err
    return rc, (errors[0] if errors else out.out)


CASES = [
    ("non-http", L, b"SSH-2.0-OpenSSH_9.6\r\n", "the answer is not HTTP"),
    ("dropped", L, "close", "closed the connection without answering"),
    ("short-body", L, b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"num", "short body"),
    ("not-json-200", Q, http(200, "<html>hello</html>", "text/html"), "not JSON"),
    ("quota-list", Q, http(200, "[1, 2]"), "expected a JSON object, got list"),
    ("5xx-html", Q, http(502, "<html>Bad Gateway</html>", "text/html"), "server answered 502"),
    ("upload-quota-list", S, http(202, json.dumps({"id": 7, "status": "queued", "quota": []})),
     "'quota' is a list"),
    ("upload-no-id", S, http(202, json.dumps({"status": "queued"})), "'id' is None"),
    ("upload-no-status", S, http(202, json.dumps({"id": 7})), "'status' is None"),
    ("upload-bad-url", S, http(202, json.dumps({"id": 7, "status": "queued",
                                                "status_url": "http://evil/"})), "'status_url'"),
    ("upload-dropped", S, "close", "closed the connection without answering"),
    ("redirect", L, http(301, "", extra="Location: https://elsewhere/\r\n"), "answered 301"),
    ("layout-garbage", L, http(200, '{"num_known": "x"}'), "malformed answer"),
    ("status-string-metric", ST, http(200, json.dumps({"status": "finished",
                                                       "metrics": {"GQ": "0.5"}})),
     "metric 'GQ' is '0.5'"),
    ("status-unknown", ST, http(200, json.dumps({"status": "exploded"})), "'status' is 'exploded'"),
]


@pytest.mark.parametrize("name, route, answer, needle", CASES, ids=[c[0] for c in CASES])
def test_misbehaving_server_gives_one_error_line_exit_1(data, capsys, name, route, answer, needle):
    routes = good(data)
    routes[route] = answer
    fake = Fake(routes)
    try:
        extra = ("--wait", "2") if route == ST else ()
        rc, err = run_submit(fake.url, data["pred"], capsys, *extra)
    finally:
        fake.close()
    assert rc == 1, (name, err)
    assert needle in err, (name, err)


def test_good_server_waits_and_prints_scores(data, capsys):
    fake = Fake(good(data))
    try:
        rc, out = run_submit(fake.url, data["pred"], capsys, "--wait")
    finally:
        fake.close()
    assert rc == 0 and "GQ: 50.00" in out.replace("     GQ", "GQ") and "mIoU: -" in out.replace("   mIoU", "mIoU")


def test_timeouts_and_wait_limit(data, capsys):
    routes = good(data)
    routes[L] = "hang"
    fake = Fake(routes)
    try:
        rc, err = run_submit(fake.url, data["pred"], capsys, "--read-timeout", "0.5")
        assert rc == 1 and "no answer within 0.5 s" in err and "--read-timeout" in err
        routes[L] = http(200, data["layout"])
        routes[ST] = http(200, json.dumps({"status": "queued"}))
        rc, err = run_submit(fake.url, data["pred"], capsys, "--wait", "0.3")
        assert rc == 1 and "still queued after 0.3 s" in err
        assert f"{fake.url}/api/v1/submissions/7" in err  # where to look later
        routes[ST] = "close"  # the server goes away while we wait: retried, then given up
        rc, err = run_submit(fake.url, data["pred"], capsys, "--wait", "0.3")
        assert rc == 1 and "gave up waiting" in err and "/api/v1/submissions/7" in err
    finally:
        fake.close()
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rc, err = run_submit(f"http://127.0.0.1:{port}", data["pred"], capsys)
    assert rc == 1 and "connection refused" in err


@pytest.mark.parametrize(
    "args, needle",
    [
        (("--server", "http://[::1"), "--server"),
        (("--server", "http://exa mple.org"), "spaces"),
        (("--server", "ftp://example.org"), "expected http://"),
        (("--server", "http://example.org:99999"), "not a valid URL"),
        (("--token", "goss_abc\n"), "--token: contains '\\n'"),
        (("--poll", "-1"), ""),
        (("--poll", "nan"), ""),
        (("--wait", "0"), ""),
        (("--connect-timeout", "inf"), ""),
    ],
)
def test_bad_flags_exit_2(data, capsys, args, needle):
    argv = ["submit", str(data["pred"]), "--server", "http://127.0.0.1:9", "--benchmark", "bench",
            "--token", "goss_x", *args]
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert needle in err and "error:" in err


def test_prediction_values_above_n_fail_the_local_check(data, capsys, tmp_path):
    import shutil

    from PIL import Image

    pred = tmp_path / "pred"
    shutil.copytree(data["pred"], pred)
    victim = sorted((pred / "semantic").glob("*.png"))[0]
    arr = np.array(Image.open(victim))
    arr[0, 0] = N + 3
    Image.fromarray(arr).save(victim)
    fake = Fake(good(data))
    try:
        rc, err = run_submit(fake.url, pred, capsys)
    finally:
        fake.close()
    assert rc == 2 and f"values {N + 3}" in err and victim.name in err
    assert S not in fake.seen  # nothing uploaded
