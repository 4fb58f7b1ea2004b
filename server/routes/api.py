"""JSON API under /api/v1 (bearer tokens)."""

from __future__ import annotations

import csv
import io

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from server.deps import DbDep, OptionalTeamDep, SettingsDep, TeamDep
from server.models import METRIC_COLUMNS
from server.services import (
    UploadMeta,
    access,
    cache_fill,
    cache_lookup,
    entry_dict,
    get_benchmark,
    get_submission,
    leaderboard,
    leaderboard_json_bytes,
    list_benchmarks,
    quota,
    sort_key_of,
    submission_view,
)
from server.services import health as health_info
from server.uploads import check_before_body, receive_upload

router = APIRouter(prefix="/api/v1", tags=["api"])


def _bench_dict(b) -> dict:  # noqa: ANN001
    return {
        "name": b.name,
        "title": b.title,
        "num_known": b.num_known,
        "num_images": b.num_images,
        "gt_public": b.gt_public,
        "scores_hidden": b.scores_hidden,
        "show_rule": b.show_rule,
        "daily_limit": b.daily_limit,
        "total_limit": b.total_limit,
        "leaderboard": f"/api/v1/benchmarks/{b.name}/leaderboard",
    }


@router.get("/health")
def health(db: DbDep, settings: SettingsDep) -> JSONResponse:
    """Database reachable, workers alive with their last heartbeat, queue and the
    oldest queued job's age; 503 when the database is down or scoring stalled."""
    info = health_info(db, alive_s=settings.worker_alive_s, stall_s=settings.stall_s)
    return JSONResponse(info, status_code=200 if info["status"] == "ok" else 503)


@router.get("/benchmarks")
def benchmarks(db: DbDep) -> list[dict]:
    with db.read() as s:
        return [_bench_dict(b) for b in list_benchmarks(s)]


@router.get("/benchmarks/{name}")
def benchmark(name: str, db: DbDep) -> dict:
    with db.read() as s:
        return _bench_dict(get_benchmark(s, name))


@router.get("/benchmarks/{name}/layout")
def layout(name: str, db: DbDep) -> Response:
    """N and every test image's stem and size, for local validation by `goss-bench submit`."""
    with db.read() as s:
        return Response(get_benchmark(s, name).layout_json, media_type="application/json")


@router.get("/benchmarks/{name}/leaderboard")
async def leaderboard_json(name: str, db: DbDep, sort: str = "GQ") -> Response:
    """One row per team with every metric (no metrics while scores are hidden).

    Async on purpose: a cache hit is answered from memory without a database
    round trip; a miss revalidates (one indexed query) or rebuilds in the pool.
    """
    data = cache_lookup(db, ("json", name, sort))
    if data is None:
        data = await run_in_threadpool(leaderboard_json_bytes, db, name, sort)
    return Response(data, media_type="application/json")


CSV_UNIT = "[0-1]"
"""Suffix of the metric columns in leaderboard.csv: fractions, as in the JSON API."""


@router.get("/benchmarks/{name}/leaderboard.csv")
async def leaderboard_csv(name: str, db: DbDep, sort: str = "GQ") -> Response:
    """The leaderboard as CSV (cached like the JSON)."""
    key = ("csv", name, sort)
    data = cache_lookup(db, key)
    if data is None:
        sort_key_of(sort)
        data = await run_in_threadpool(
            cache_fill, db, name, key, lambda: _csv_bytes(db, name, sort)
        )
    return Response(
        data,
        media_type="text/csv",
        headers={"content-disposition": f'attachment; filename="{name}-leaderboard.csv"'},
    )


def _csv_bytes(db, name: str, sort: str) -> bytes:  # noqa: ANN001
    with db.read() as s:
        b = get_benchmark(s, name)
        rows = [entry_dict(e) for e in leaderboard(s, b, sort)]
        show = access(b).scores
    cols = ["rank", "submission", "team", "method", "date", "paper_url", "code_url"]
    if show:
        cols += list(METRIC_COLUMNS)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    # the header says the unit of the metric columns (METRICS.md, "Units")
    w.writerow({c: f"{c} {CSV_UNIT}" if c in METRIC_COLUMNS else c for c in cols})
    for r in rows:
        w.writerow({k: _cell(r.get(k)) for k in cols})
    return buf.getvalue().encode()


def _cell(v: object) -> object:
    """CSV cell; text starting like a spreadsheet formula is quoted with a leading '."""
    if v is None:
        return ""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


@router.get("/benchmarks/{name}/quota")
def team_quota(name: str, db: DbDep, team: TeamDep) -> dict:
    with db.read() as s:
        return quota(s, get_benchmark(s, name), team.id).to_dict()


@router.post("/benchmarks/{name}/submissions", status_code=202)
async def submit(
    name: str, request: Request, db: DbDep, settings: SettingsDep, team: TeamDep
) -> JSONResponse:
    """Upload a prediction zip: multipart fields ``file`` (the zip), ``method``,
    ``description``, ``paper_url``, ``code_url``; 202 with the status URL.

    The token, the team's limits and its recent rejected uploads are checked
    before the body is read, so a refused upload costs no transfer.
    """
    await run_in_threadpool(check_before_body, db, settings, name, team.id)
    async with request.form(max_files=1, max_fields=8) as form:
        file = form.get("file")
        if isinstance(file, str):
            file = None

        def field(key: str) -> str:
            v = form.get(key, "")
            return v if isinstance(v, str) else ""

        meta = UploadMeta(field("method"), field("description"), field("paper_url"), field("code_url"))
        sub, q = await receive_upload(db, settings, name, team.id, file, meta)
    url = f"/api/v1/submissions/{sub.id}"
    return JSONResponse(
        {
            "id": sub.id,
            "status": sub.status,
            "status_url": url,
            "page_url": f"/submissions/{sub.id}",
            "sha256": sub.sha256,
            "quota": q.to_dict(),
        },
        status_code=202,
        headers={"location": url},
    )


@router.get("/submissions/{sub_id}")
def submission(sub_id: int, db: DbDep, team: OptionalTeamDep) -> dict:
    with db.read() as s:
        sub = get_submission(s, sub_id)
        return submission_view(sub, sub.benchmark, team_id=None if team is None else team.id)
