"""FastAPI dependencies (``Annotated`` aliases used by the routers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from server.config import Settings
from server.db import Database
from server.models import Team
from server.services import authenticate, token_by_id

SESSION_COOKIE = "goss_session"
CSRF_COOKIE = "goss_csrf"


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Database:
    return request.app.state.db


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbDep = Annotated[Database, Depends(get_db)]


def bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return None


def require_team(request: Request, db: DbDep) -> Team:
    """The team of the bearer token (401 with a reason otherwise)."""
    team, _ = authenticate(db, bearer(request))
    return team


def optional_team(request: Request, db: DbDep) -> Team | None:
    """The team of a bearer token or of the web session, if any and valid."""
    tok = bearer(request)
    if tok:
        return authenticate(db, tok)[0]
    return session_team(request, db)


def session_team(request: Request, db: Database) -> Team | None:
    from server.security import read_session

    key = request.app.state.secret
    tid = read_session(key, request.cookies.get(SESSION_COOKIE))
    if tid is None:
        return None
    found = token_by_id(db, tid)
    return None if found is None else found[0]


TeamDep = Annotated[Team, Depends(require_team)]
OptionalTeamDep = Annotated[Team | None, Depends(optional_team)]
