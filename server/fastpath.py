"""ASGI middleware answering cached leaderboard GETs straight from memory.

The JSON, CSV and anonymous HTML leaderboards are cached as bytes by
:mod:`server.services` (``cache_lookup`` / ``cache_fill``).  A request that
hits a fresh entry is answered here, before FastAPI's routing, dependency
injection and response classes; everything else (a miss, a stale entry, a
logged-in visitor, extra query parameters) goes to the routers, which fill
the cache.  The bytes and headers are the routers' own.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from server.services import cache_lookup

SESSION_COOKIE = b"goss_session="
_ROUTES = (
    (re.compile(r"^/api/v1/benchmarks/([^/]+)/leaderboard$"), "json"),
    (re.compile(r"^/api/v1/benchmarks/([^/]+)/leaderboard\.csv$"), "csv"),
    (re.compile(r"^/benchmarks/([^/]+)$"), "html"),
)
_TYPES = {
    "json": b"application/json",
    "csv": b"text/csv; charset=utf-8",
    "html": b"text/html; charset=utf-8",
}


def cache_key(kind: str, name: str, sort: str, scope: Scope) -> tuple:
    """The cache key of one leaderboard view; the HTML page's absolute links
    depend on the scheme, the Host header and the root path, so they are part
    of its key."""
    if kind == "html":
        host = next((v for k, v in scope.get("headers", ()) if k == b"host"), b"")
        return ("html", name, sort, scope.get("scheme"), host, scope.get("root_path", ""))
    return (kind, name, sort)


class CachedLeaderboards:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            data = self._hit(scope)
            if data is not None:
                kind, body = data
                headers = [
                    (b"content-length", str(len(body)).encode()),
                    (b"content-type", _TYPES[kind]),
                ]
                if kind == "csv":
                    name = scope["path"].rsplit("/", 2)[-2]
                    disp = f'attachment; filename="{name}-leaderboard.csv"'
                    headers.append((b"content-disposition", disp.encode("latin-1", "replace")))
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _hit(scope: Scope) -> tuple[str, bytes] | None:
        path = scope["path"]
        for rx, kind in _ROUTES:
            m = rx.match(path)
            if m is None:
                continue
            params = parse_qsl(scope.get("query_string", b"").decode("latin-1"))
            if any(k != "sort" for k, _ in params) or len(params) > 1:
                return None
            sort = params[0][1] if params else "GQ"
            if kind == "html":
                for k, v in scope.get("headers", ()):
                    if k == b"cookie" and SESSION_COOKIE in v:
                        return None
            app = scope.get("app")
            db = getattr(getattr(app, "state", None), "db", None)
            if db is None:
                return None
            body = cache_lookup(db, cache_key(kind, m.group(1), sort, scope))
            return None if body is None else (kind, body)
        return None
