"""The application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from goss_bench.errors import GossInputError
from server.config import Settings, get_settings
from server.db import Database
from server.fastpath import CachedLeaderboards
from server.services import AuthError, LimitError, NotFound, RateLimited
from server.uploads import BodySizeLimit, UploadTooLarge

HERE = Path(__file__).resolve().parent


def _status(exc: GossInputError) -> int:
    from server.panels import PanelUnavailable

    if isinstance(exc, (NotFound, PanelUnavailable)):
        return 404
    if isinstance(exc, AuthError):
        return 401
    if isinstance(exc, (LimitError, RateLimited)):
        return 429
    if isinstance(exc, UploadTooLarge):
        return 413
    return 422


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    app.state.db.dispose()


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    """Build the app: open the database (migrating it unless ``migrate=False``,
    which only checks the schema), mount routers, templates and static files."""
    from server import __doc__ as about
    from server.routes import api, pages

    settings = settings or get_settings()
    db = Database(settings.database_url)
    if migrate:
        db.migrate()
    else:
        db.check_schema()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    clean_start(db, settings)
    app = FastAPI(
        title="goss-bench leaderboard",
        description=about or "",
        version="1",
        docs_url=None,  # the Swagger/ReDoc pages load assets from a CDN
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.secret = settings.resolved_secret()
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.add_middleware(
        BodySizeLimit, upload_cap=settings.max_upload_bytes, form_cap=settings.max_form_kb * 1024
    )
    app.add_middleware(CachedLeaderboards)  # outermost: cached leaderboards from memory

    @app.exception_handler(GossInputError)
    async def _input_error(request: Request, exc: GossInputError) -> Response:
        status = _status(exc)
        headers = {"www-authenticate": "Bearer"} if status == 401 else None
        if request.url.path.startswith("/api/"):
            body: dict = {"detail": str(exc)}
            if isinstance(exc, LimitError):
                body["quota"] = exc.quota.to_dict()
            if status == 422:
                body["counted"] = False
            return JSONResponse(body, status_code=status, headers=headers)
        templates = request.app.state.templates
        return templates.TemplateResponse(
            request, "error.html", {"message": str(exc), "status": status, "team": None},
            status_code=status,
        )

    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    return app


def clean_start(db: Database, settings: Settings) -> None:
    """Remove half-received uploads and extraction folders of dead processes,
    and stored uploads that never got a submission row."""
    from sqlalchemy import select

    from server.housekeeping import sweep_dir, sweep_uncommitted_uploads
    from server.models import Submission

    sweep_dir(settings.incoming_dir)
    sweep_dir(settings.tmp_dir)
    if settings.upload_dir.is_dir():
        with db.read() as s:
            known = set(s.scalars(select(Submission.id)))
        sweep_uncommitted_uploads(settings.upload_dir, known)


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory server.app:app_from_env`` (settings from GOSS_*)."""
    return create_app(get_settings())
