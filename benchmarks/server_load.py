"""Load test of the leaderboard server (issue 5), loopback only, bounded.

Starts ``goss-bench serve`` on 127.0.0.1 with a temporary SQLite database (or
``--database-url``), registers a synthetic benchmark (``synth_goss.py``,
COCO-like label maps, 100 images) and 20 teams, then:

  1. 20 concurrent uploads of the 100-image prediction zip (one per team);
     waits until every submission is finished.  Reports uploads lost (must be
     0), per-submission queue wait (claimed - uploaded) and service time
     (finished - claimed), and the ratio of the service time to
     ``goss_bench.score`` on the same folder measured in this run
     (target: upload-to-finished <= 1.2 x score time + queue wait).
  2. 200 concurrent GETs of /api/v1/benchmarks/NAME/leaderboard (20 entries),
     all started at once; reports p50 / p99 latency (target p99 < 50 ms), and
     the same with 20 concurrent connections.
  3. (issue 12) the cached JSON, CSV and HTML leaderboards against a minimal
     ASGI app that returns the same bytes, on the same uvicorn settings, in
     the same run: ``--clients`` (200) concurrent clients, each making
     ``--requests-per-client`` requests on a new connection each; p50 / p99
     latency and requests/s for both, and the ratio of the throughputs
     (target >= 0.5x).

Usage::

    python benchmarks/server_load.py [--quick] [--images 100] [--workers 2] [--data DIR]
        [--database-url URL] [--json FILE]

``--quick`` uses 320x240 images instead of 640x480.  Everything stops after
``--max-seconds`` (default 600).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def _timed_score(paths: tuple[Path, Path]) -> float:
    import goss_bench

    t = time.perf_counter()
    goss_bench.score(*paths)
    return time.perf_counter() - t


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


async def _upload_all(base: str, tokens: list[str], zip_bytes: bytes, bench: str) -> list[dict]:
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=300) as client:

        async def one(i: int, tok: str) -> dict:
            t0 = time.time()
            r = await client.post(
                f"/api/v1/benchmarks/{bench}/submissions",
                headers={"authorization": f"Bearer {tok}"},
                files={"file": ("pred.zip", zip_bytes, "application/zip")},
                data={"method": f"load-{i}"},
            )
            return {"status": r.status_code, "body": r.json(), "sent": t0, "answered": time.time()}

        return await asyncio.gather(*(one(i, t) for i, t in enumerate(tokens)))


async def _get_many(port: int, path: str, n: int, concurrency: int) -> list[float]:
    """n GETs over ``concurrency`` keep-alive connections; per-request latency (s).

    A minimal HTTP/1.1 client on asyncio streams, so that the client's own CPU
    time (2 cores are shared with the server) distorts the figures little.
    """
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()

    async def fetch(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head[:80])
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)

    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(concurrency)]
    for r, w in conns:
        await fetch(r, w)  # warm-up
    per_conn = [n // concurrency + (i < n % concurrency) for i in range(concurrency)]
    start = time.perf_counter()

    async def run(conn: tuple, k: int) -> list[float]:
        out = []
        for _ in range(k):
            t0 = time.perf_counter()
            await fetch(*conn)
            out.append(time.perf_counter() - t0)
        return out

    lat: list[float] = []
    for res in await asyncio.gather(*(run(c, k) for c, k in zip(conns, per_conn, strict=True))):
        lat.extend(res)
    wall = time.perf_counter() - start
    for _, w in conns:
        w.close()
    print(f"  {n} GETs over {concurrency} connections in {wall * 1000:.0f} ms "
          f"({n / wall:.0f} requests/s)")
    return lat


BARE_APP = """
import sys, uvicorn
body = open(sys.argv[1], "rb").read()
headers = [(b"content-type", sys.argv[3].encode()), (b"content-length", str(len(body)).encode())]

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


async def _hammer(port: int, path: str, clients: int, per_client: int) -> tuple[list[float], float]:
    """``clients`` concurrent clients, each making ``per_client`` GETs, a new
    connection per request; (latencies in s, wall time in s)."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
    lat: list[float] = []

    async def one() -> None:
        t0 = time.perf_counter()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        data = await reader.read()
        writer.close()
        if not data.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(data[:80])
        lat.append(time.perf_counter() - t0)

    async def client() -> None:
        for _ in range(per_client):
            await one()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return lat, time.perf_counter() - start


def _wait_port(port: int, seconds: float = 30) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def compare_with_bare_asgi(port: int, bench: str, clients: int, per_client: int,
                           work: Path, rounds: int = 3) -> dict:
    """Cached leaderboard JSON/CSV/HTML of the server against a minimal ASGI app
    returning the same bytes (same uvicorn settings, same client, same run);
    ``rounds`` interleaved rounds, requests/s as their median."""
    import httpx

    out: dict = {}
    kinds = [("json", f"/api/v1/benchmarks/{bench}/leaderboard"),
             ("csv", f"/api/v1/benchmarks/{bench}/leaderboard.csv"),
             ("html", f"/benchmarks/{bench}")]
    for kind, path in kinds:
        r = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=30)
        r.raise_for_status()
        body_file = work / f"bare-{kind}.bin"
        body_file.write_bytes(r.content)
        bare_port = _free_port()
        bare = subprocess.Popen(
            [sys.executable, "-c", BARE_APP, str(body_file), str(bare_port),
             r.headers["content-type"]],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            _wait_port(bare_port)
            lats: dict[str, list[float]] = {"server": [], "bare": []}
            rates: dict[str, list[float]] = {"server": [], "bare": []}
            for p in (port, bare_port):
                asyncio.run(_hammer(p, path, 20, 2))  # warm-up
            for _ in range(rounds):  # interleaved, so that a busy moment hits both
                for who, p in (("server", port), ("bare", bare_port)):
                    lat, wall = asyncio.run(_hammer(p, path, clients, per_client))
                    lats[who] += lat
                    rates[who].append(len(lat) / wall)
            figures = {
                who: {
                    "p50_ms": _pct(lats[who], 0.5) * 1000,
                    "p99_ms": _pct(lats[who], 0.99) * 1000,
                    "rps": statistics.median(rates[who]),
                }
                for who in ("server", "bare")
            }
        finally:
            bare.terminate()
            bare.wait(timeout=30)
        ratio = figures["server"]["rps"] / figures["bare"]["rps"]
        out[kind] = {**figures, "ratio": ratio, "bytes": len(r.content)}
        for who in ("server", "bare"):
            f = figures[who]
            print(f"  {kind:4} {who:6}: {f['rps']:7.0f} req/s, p50 {f['p50_ms']:6.1f} ms, "
                  f"p99 {f['p99_ms']:6.1f} ms")
        print(f"  {kind:4} server/bare throughput: {ratio:.2f}x (target >= 0.5x), "
              f"{len(r.content)} bytes")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="320x240 images instead of 640x480")
    ap.add_argument("--workers", type=int, default=1, help="scoring worker processes")
    ap.add_argument("--web-workers", type=int, default=1, help="web server processes")
    ap.add_argument("--uploads", type=int, default=20)
    ap.add_argument("--gets", type=int, default=200)
    ap.add_argument("--images", type=int, default=100, help="test images of the benchmark")
    ap.add_argument("--clients", type=int, default=200, help="concurrent clients (comparison)")
    ap.add_argument("--requests-per-client", type=int, default=10,
                    help="requests of each client, a new connection each (comparison)")
    ap.add_argument("--data", type=Path, default=None, help="cache folder for the synthetic data")
    ap.add_argument("--database-url", default="", help="e.g. postgresql+psycopg://...")
    ap.add_argument("--max-seconds", type=float, default=600)
    ap.add_argument("--json", type=Path, default=None, help="write the figures as JSON")
    args = ap.parse_args(argv)

    from synth_goss import COCO_LIKE, generate

    import goss_bench
    from goss_bench.submission import zip_folder
    from server import services
    from server.db import Database
    from server.models import Submission

    cfg = replace(COCO_LIKE, name=f"load{args.images}", num_images=args.images)
    if args.quick:
        cfg = replace(cfg, name=f"load{args.images}q", height=240, width=320)
    deadline = time.monotonic() + args.max_seconds
    work = Path(tempfile.mkdtemp(prefix="goss-load-"))
    data = args.data or (work / "synth")
    t = time.perf_counter()
    marker = data / "synth.json"  # generate()'s own check compares tuples with JSON lists
    if not (marker.is_file() and json.loads(marker.read_text()) == json.loads(json.dumps(asdict(cfg)))):
        generate(cfg, data, workers=2)
    print(f"data: {cfg.num_images} images {cfg.width}x{cfg.height} ({time.perf_counter() - t:.1f} s)")
    gt, pred = data / "gt", data / "pred"
    zip_path = zip_folder(pred, work / "pred.zip")
    zip_bytes = zip_path.read_bytes()

    ref = goss_bench.score(pred, gt)
    solo = [_timed_score((pred, gt)) for _ in range(3)]
    score_s = statistics.median(solo)
    print(f"goss_bench.score on the folder: median of 3 {score_s:.2f} s (GQ {ref.gq:.4f})")
    # the baseline: as many scorings at once as there are workers (same CPU contention)
    par: list[float] = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for _ in range(3):
            par.append(statistics.mean(pool.map(_timed_score, [(pred, gt)] * args.workers)))
    score_par_s = statistics.median(par)
    print(f"goss_bench.score, {args.workers} at once: median of 3 {score_par_s:.2f} s each")

    env = {
        **os.environ,
        "GOSS_DATA_DIR": str(work / "server"),
        "GOSS_POLL_SECONDS": "0.1",
        "GOSS_DAILY_LIMIT": "100",
    }
    if args.database_url:
        env["GOSS_DATABASE_URL"] = args.database_url
    env.pop("GOSS_EMBEDDED_WORKER", None)
    from server.config import Settings

    settings = Settings.from_env(data_dir=work / "server", database_url=args.database_url or None)
    db = Database(settings.database_url)
    db.migrate()
    services.add_benchmark(db, gt, name="load", daily_limit=100, total_limit=1000)
    tokens = [services.add_team(db, f"team{i:02d}")[1] for i in range(args.uploads)]
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "goss_bench", "serve", "--port", str(port),
         "--workers", str(args.workers), "--web-workers", str(args.web_workers),
         "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    result: dict = {"images": cfg.num_images, "size": [cfg.width, cfg.height],
                    "workers": args.workers, "score_s": score_s,
                    "score_parallel_s": score_par_s}
    try:
        import httpx

        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        # 1. concurrent uploads
        t0 = time.perf_counter()
        answers = asyncio.run(_upload_all(base, tokens, zip_bytes, "load"))
        accepted = [a["body"]["id"] for a in answers if a["status"] == 202]
        print(f"uploads: {len(accepted)}/{len(answers)} accepted "
              f"in {time.perf_counter() - t0:.2f} s")
        while time.monotonic() < deadline:
            with db.read() as s:
                rows = [s.get(Submission, i) for i in accepted]
                if all(r.status in ("finished", "failed") for r in rows):
                    break
            time.sleep(0.2)
        with db.read() as s:
            rows = [s.get(Submission, i) for i in accepted]
            s.expunge_all()
        finished = [r for r in rows if r.status == "finished"]
        lost = len(answers) - len(finished)
        wall = time.perf_counter() - t0
        waits = [(r.started_at - r.created_at).total_seconds() for r in finished]
        service = [(r.finished_at - r.started_at).total_seconds() for r in finished]
        total = [(r.finished_at - r.created_at).total_seconds() for r in finished]
        same = all(abs(r.gq - ref.gq) < 1e-12 for r in finished)
        ratio = statistics.median(service) / score_par_s if service else float("nan")
        worst = max((tt - w) / score_par_s for tt, w in zip(total, waits, strict=True))
        print(f"  finished {len(finished)}, lost {lost}, all {len(answers)} uploads scored in {wall:.1f} s; "
              f"scores equal to goss_bench.score: {same}")
        print(f"  queue wait: median {statistics.median(waits):.2f} s, max {max(waits):.2f} s")
        print(f"  service (claim -> finished): median {statistics.median(service):.2f} s, "
              f"max {max(service):.2f} s")
        print(f"  (upload->finished - queue wait) / goss_bench.score ({args.workers} at once): "
              f"median {ratio:.2f}x, worst {worst:.2f}x (target <= 1.2x)")
        result.update(lost=lost, wall_s=wall, queue_wait_median_s=statistics.median(waits),
                      queue_wait_max_s=max(waits), service_median_s=statistics.median(service),
                      service_ratio_median=ratio, service_ratio_worst=worst, scores_equal=same)
        # 2. leaderboard GETs
        path = "/api/v1/benchmarks/load/leaderboard"
        for conc in (args.gets, 20):
            lat = asyncio.run(_get_many(port, path, args.gets, conc))
            p50, p99 = _pct(lat, 0.5) * 1000, _pct(lat, 0.99) * 1000
            print(f"leaderboard: {args.gets} GETs, {conc} concurrent: p50 {p50:.1f} ms, "
                  f"p99 {p99:.1f} ms (target p99 < 50 ms)")
            result[f"leaderboard_c{conc}_p50_ms"] = p50
            result[f"leaderboard_c{conc}_p99_ms"] = p99
        # 3. cached leaderboards against a bare ASGI app with the same bytes
        print(f"cached leaderboards vs a minimal ASGI app ({args.clients} clients x "
              f"{args.requests_per_client} requests, a new connection each):")
        result["vs_bare_asgi"] = compare_with_bare_asgi(
            port, "load", args.clients, args.requests_per_client, work
        )
        result["database"] = "postgresql" if args.database_url else "sqlite"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        db.dispose()
        shutil.rmtree(work, ignore_errors=True)  # holds the data too unless --data was given
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if result.get("lost", 1) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
