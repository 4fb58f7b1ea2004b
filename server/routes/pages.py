"""Server-rendered HTML pages (Jinja2; work without JavaScript)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from goss_bench.errors import GossInputError
from server import security
from server.db import Database
from server.deps import CSRF_COOKIE, SESSION_COOKIE, DbDep, SettingsDep, session_team
from server.fastpath import cache_key
from server.models import LOWER_IS_BETTER, METRIC_COLUMNS
from server.plots import curves_svg, scatter_svg
from server.services import (
    AuthError,
    LimitError,
    NotFound,
    RateLimited,
    UploadMeta,
    access,
    authenticate,
    benchmark_layout,
    cache_fill,
    cache_lookup,
    get_benchmark,
    get_submission,
    leaderboard,
    list_benchmarks,
    quota,
    sort_key_of,
    submission_view,
    team_submissions,
)
from server.significance import significance_marks
from server.uploads import check_before_body, receive_upload

router = APIRouter(include_in_schema=False)

METRIC_LABELS = {
    "GQ": "GQ",
    "GQ_kn": "GQ<sup>kn</sup>",
    "GQ_uk": "GQ<sup>uk</sup>",
    "GQ_clu": "GQ<sup>clu</sup>",
    "AUROC": "AUROC",
    "AUPR": "AUPR",
    "FPR95": "FPR95",
    "mIoU": "mIoU",
}


def _render(request: Request, name: str, status: int = 200, **ctx) -> HTMLResponse:  # noqa: ANN003
    templates = request.app.state.templates
    nonce = request.cookies.get(CSRF_COOKIE) or security.new_csrf_nonce()
    ctx.setdefault("team", session_team(request, request.app.state.db))
    ctx["csrf"] = security.csrf_token(request.app.state.secret, nonce)
    ctx["metric_labels"] = METRIC_LABELS
    resp = templates.TemplateResponse(request, name, ctx, status_code=status)
    if request.cookies.get(CSRF_COOKIE) != nonce:
        resp.set_cookie(CSRF_COOKIE, nonce, httponly=True, samesite="lax", path="/")
    return resp


def _check_form(request: Request) -> None:
    """CSRF, checked before any body is read: the ``csrf`` query parameter (the
    forms' action URLs carry it) must match the cookie nonce; Origin (if sent)
    must be us."""
    token = request.query_params.get("csrf", "")
    if not security.csrf_ok(request.app.state.secret, request.cookies.get(CSRF_COOKIE), token):
        raise GossInputError("the form expired or was not sent from this site; reload the page")
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin and origin != "null":
        if urlsplit(origin).netloc != request.headers.get("host", request.url.netloc):
            raise GossInputError("cross-site form submission refused")


def _text(form, key: str, default: str = "") -> str:  # noqa: ANN001
    v = form.get(key, default)
    return v if isinstance(v, str) else default


@router.get("/", response_class=HTMLResponse)
def index(request: Request, db: DbDep) -> HTMLResponse:
    with db.read() as s:
        benches = list_benchmarks(s)
    return _render(request, "index.html", benchmarks=benches)


@router.get("/benchmarks/{name}", response_class=HTMLResponse)
async def leaderboard_page(request: Request, name: str, db: DbDep, sort: str = "GQ") -> Response:
    """The leaderboard page; for visitors without a session its bytes are cached
    like the JSON (the page then differs only by the host in its links)."""
    if request.cookies.get(SESSION_COOKIE):
        return await run_in_threadpool(_leaderboard_page, request, name, db, sort)
    key = cache_key("html", name, sort, request.scope)
    data = cache_lookup(db, key)
    if data is None:
        sort_key_of(sort)

        def build() -> bytes:
            return bytes(_leaderboard_page(request, name, db, sort).body)

        data = await run_in_threadpool(cache_fill, db, name, key, build)
    return HTMLResponse(data)


def _leaderboard_page(request: Request, name: str, db: Database, sort: str) -> HTMLResponse:
    with db.read() as s:
        b = get_benchmark(s, name)
        entries = leaderboard(s, b, sort)
    plot = None
    if access(b).scores:
        pts = [
            (e.submission.gq_kn, e.submission.gq_uk, f"{e.submission.team.name}: {e.submission.method}", False)
            for e in entries
            if e.submission.gq_kn is not None and e.submission.gq_uk is not None
        ]
        plot = scatter_svg(pts) if pts else None
    # paired bootstrap of consecutive rows in GQ order (per-image data stays on the server)
    marks = {}
    if access(b).scores and sort == "GQ":
        marks = significance_marks(request.app.state.settings, entries)
    return _render(
        request,
        "leaderboard.html",
        marks=marks,
        bench=b,
        entries=entries,
        sort=sort,
        metrics=list(METRIC_COLUMNS),
        lower_better=LOWER_IS_BETTER,
        plot=plot,
    )


@router.get("/submissions/{sub_id}", response_class=HTMLResponse)
def submission_page(request: Request, sub_id: int, db: DbDep, settings: SettingsDep) -> HTMLResponse:
    team = session_team(request, db)
    with db.read() as s:
        sub = get_submission(s, sub_id)
        b = sub.benchmark
        acc = access(b, sub, None if team is None else team.id)
        view = submission_view(sub, b, team_id=None if team is None else team.id)
        entries = leaderboard(s, b) if acc.scores else []
    plot = None
    if "metrics" in view:
        pts = [
            (e.submission.gq_kn, e.submission.gq_uk, f"{e.submission.team.name}: {e.submission.method}", e.submission.id == sub.id)
            for e in entries
            if e.submission.gq_kn is not None and e.submission.gq_uk is not None
        ]
        if sub.gq_kn is not None and sub.gq_uk is not None and all(e.submission.id != sub.id for e in entries):
            pts.append((sub.gq_kn, sub.gq_uk, f"{sub.team.name}: {sub.method} (this submission)", True))
        plot = scatter_svg(pts)
    diag = (view.get("result") or {}).get("diagnostics") or {}
    curves = curves_svg(diag["oss_curve"]) if diag.get("oss_curve") else None
    panels: list[str] = []
    if acc.panels and settings.panels > 0:
        panels = benchmark_layout(b).stems[: settings.panels]
    return _render(
        request, "submission.html", sub=view, bench=b, plot=plot, panels=panels,
        diag=diag, curves=curves,
        metric_labels=METRIC_LABELS,
    )


@router.get("/submissions/{sub_id}/panels/{stem}.png")
def submission_panel(request: Request, sub_id: int, stem: str, db: DbDep) -> Response:
    from server.panels import render_submission_panel

    team = session_team(request, db)
    with db.read() as s:
        sub = get_submission(s, sub_id)
        b = sub.benchmark
        if not access(b, sub, None if team is None else team.id).panels:
            raise NotFound(
                "panels are shown only for scored submissions of benchmarks whose ground "
                "truth and scores are public"
            )
        names = None
        if sub.metrics_json:
            pcs = json.loads(sub.metrics_json).get("per_class", [])
            names = [c["name"] for c in pcs if c.get("train_id", b.num_known) < b.num_known] or None
        args = (sub.file_path, b.layout_json, b.gt_dir, stem, names)
    png = render_submission_panel(*args, what=f"submission {sub_id}")
    return Response(png, media_type="image/png", headers={"cache-control": "private, max-age=3600"})


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return _render(request, "login.html", next=request.query_params.get("next", "/"))


@router.post("/login")
async def login(request: Request, db: DbDep, settings: SettingsDep) -> Response:
    _check_form(request)  # before the (small, capped) body is read
    async with request.form(max_files=0, max_fields=4) as form:
        token, next_ = _text(form, "token"), _text(form, "next", "/")
    try:
        _, tok = await run_in_threadpool(authenticate, db, token)
    except AuthError as exc:
        return _render(request, "login.html", status=401, error=str(exc), next=next_)
    target = next_ if next_.startswith("/") and not next_.startswith("//") else "/"
    resp = RedirectResponse(target, status_code=303)
    value = security.make_session(request.app.state.secret, tok.id, settings.session_hours)
    resp.set_cookie(
        SESSION_COOKIE,
        value,
        httponly=True,
        samesite="lax",
        max_age=int(settings.session_hours * 3600),
        path="/",
        secure=request.url.scheme == "https",
    )
    return resp


@router.post("/logout")
def logout(request: Request) -> Response:
    _check_form(request)  # the body is never read
    resp = RedirectResponse("/", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


def _submit_context(db, b, team) -> dict:  # noqa: ANN001
    with db.read() as s:
        q = quota(s, b, team.id)
        mine = team_submissions(s, b, team.id)
        for m in mine:
            _ = m.team
    return {"quota": q, "mine": mine}


@router.get("/benchmarks/{name}/submit", response_class=HTMLResponse)
def submit_form(request: Request, name: str, db: DbDep) -> Response:
    team = session_team(request, db)
    if team is None:
        return RedirectResponse(f"/login?next=/benchmarks/{name}/submit", status_code=303)
    with db.read() as s:
        b = get_benchmark(s, name)
    return _render(request, "submit.html", bench=b, **_submit_context(db, b, team))


@router.post("/benchmarks/{name}/submit", response_class=HTMLResponse)
async def submit_upload(request: Request, name: str, db: DbDep, settings: SettingsDep) -> Response:
    """The web upload form.  Session, CSRF, limits and recent rejections are
    checked before a byte of the body is read."""
    team = await run_in_threadpool(session_team, request, db)
    if team is None:
        return RedirectResponse(f"/login?next=/benchmarks/{name}/submit", status_code=303)
    _check_form(request)

    def _bench():  # noqa: ANN202
        with db.read() as s:
            return get_benchmark(s, name)

    b = await run_in_threadpool(_bench)
    meta = UploadMeta("")
    try:
        await run_in_threadpool(check_before_body, db, settings, name, team.id)
        async with request.form(max_files=1, max_fields=8) as form:
            meta = UploadMeta(
                _text(form, "method"), _text(form, "description"), _text(form, "paper_url"),
                _text(form, "code_url"),
            )
            file = form.get("file")
            if isinstance(file, str) or not getattr(file, "filename", None):
                file = None
            sub, _ = await receive_upload(db, settings, name, team.id, file, meta)  # type: ignore[arg-type]
    except GossInputError as exc:
        ctx = await run_in_threadpool(_submit_context, db, b, team)
        status = 429 if isinstance(exc, (LimitError, RateLimited)) else 422
        return _render(
            request, "submit.html", status=status, bench=b, error=str(exc), form=meta, **ctx
        )
    return RedirectResponse(f"/submissions/{sub.id}", status_code=303)
