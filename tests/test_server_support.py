"""Helpers shared by the leaderboard-server tests (no tests here).

A tiny GT split and predictions in the FORMAT.md layout, zips of them (valid
and deliberately broken), and a ``Served`` bundle of settings + app + client.
"""

from __future__ import annotations

import io
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from conftest import make_gt_image, perturb_prediction, write_gt, write_pred
from PIL import Image

N = 5
SHAPE = (32, 48)


def make_split(root: Path, n_images: int = 4, seed: int = 0, shape=SHAPE) -> dict:
    """Write a GT split at root/'gt'; returns {stem: (sem, grp, clusters)}."""
    rng = np.random.default_rng(seed)
    images = {f"img{i:03d}": make_gt_image(rng, N, shape=shape) for i in range(n_images)}
    write_gt(root / "gt", images, N)
    return images


def make_pred(root: Path, images: dict, seed: int = 1, name: str = "pred") -> Path:
    rng = np.random.default_rng(seed)
    preds = {s: perturb_prediction(rng, a[0], a[1], N) for s, a in images.items()}
    return write_pred(root / name, preds)


def png_bytes(arr: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode=mode).save(buf, format="PNG") if mode else Image.fromarray(
        arr
    ).save(buf, format="PNG")
    return buf.getvalue()


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def folder_members(pred: Path, prefix: str = "") -> dict[str, bytes]:
    out = {}
    for sub in ("semantic", "groups", "scores", "clusters"):
        d = pred / sub
        if d.is_dir():
            for p in sorted(d.glob("*.png")):
                out[f"{prefix}{sub}/{p.name}"] = p.read_bytes()
    return out


@dataclass
class Served:
    settings: object
    app: object
    client: object
    db: object
    token: str
    team_id: int
    root: Path

    def auth(self, token: str | None = None) -> dict:
        return {"Authorization": f"Bearer {token or self.token}"}

    def upload(self, data: bytes, bench: str = "bench", token: str | None = None, **fields):  # noqa: ANN003
        form = {"method": fields.pop("method", "my method"), **fields}
        return self.client.post(
            f"/api/v1/benchmarks/{bench}/submissions",
            headers=self.auth(token),
            files={"file": ("pred.zip", data, "application/zip")},
            data=form,
        )


def serve(root: Path, gt: Path, database_url: str = "", bench_kw: dict | None = None, **settings):  # noqa: ANN003
    from fastapi.testclient import TestClient

    from server import services
    from server.app import create_app
    from server.config import Settings

    opts = dict(lease_s=30.0, heartbeat_s=0.2, poll_s=0.05, panels=2)
    opts.update(settings)
    st = Settings(data_dir=root / "data", database_url=database_url, **opts)
    app = create_app(st)
    db = app.state.db
    kw = dict(daily_limit=5, total_limit=20)
    kw.update(bench_kw or {})
    services.add_benchmark(db, gt, name="bench", **kw)
    team, token = services.add_team(db, "alpha")
    client = TestClient(app)
    return Served(st, app, client, db, token, team.id, root)


def wait_for(pred, timeout: float = 20.0, step: float = 0.01) -> bool:  # noqa: ANN001
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return False


class ServerThread:
    """uvicorn on a free loopback port in a thread (for urllib and the browser)."""

    def __init__(self, app) -> None:  # noqa: ANN001
        import socket

        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        assert wait_for(lambda: self.server.started, timeout=20)
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self.server.should_exit = True
        self.thread.join(timeout=10)


def race_uploads(s: Served, zip_data: bytes, n_threads: int) -> list[str]:
    """n_threads concurrent create_submission calls of one team; their outcomes."""
    from server import services

    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(n_threads)

    def one(i: int) -> None:
        path = s.root / f"race{i}.zip"
        path.write_bytes(zip_data)
        barrier.wait()
        try:
            services.create_submission(
                s.db, s.settings.upload_dir, "bench", s.team_id, path, len(zip_data), "0" * 64,
                services.UploadMeta(f"race {i}"),
            )
            res = "accepted"
        except services.LimitError:
            res = "limited"
        with lock:
            outcomes.append(res)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def two_workers_score_each_once(s: Served, zip_data: bytes, teams: int = 4, per_team: int = 2):
    """Queue teams*per_team submissions, run two worker threads; returns (ids, counts)."""
    from server import services
    from server.worker import run_worker

    tokens = [s.token] + [services.add_team(s.db, f"team{i}")[1] for i in range(teams - 1)]
    ids = [s.upload(zip_data, token=t).json()["id"] for t in tokens for _ in range(per_team)]
    stop = threading.Event()
    counts: dict[str, int] = {}

    def work(name: str) -> None:
        counts[name] = run_worker(s.settings, stop=stop, worker_id=name)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()

    def all_done() -> bool:
        return all(
            s.client.get(f"/api/v1/submissions/{i}").json()["status"] == "finished" for i in ids
        )

    ok = wait_for(all_done, timeout=90, step=0.05)
    stop.set()
    for t in threads:
        t.join()
    assert ok, "not every submission finished"
    return ids, counts
