"""The HTTP side of ``goss-bench submit``: a small, strict client.

Standard library only (``http.client``).  Every network or protocol failure
and every answer that is not what the leaderboard API promises becomes one
:class:`RemoteError` (exit 1: the user can retry) whose message says what the
server did; a 4xx answer with the server's reason is a
:class:`~goss_bench.errors.GossInputError` (exit 2: fix the input), except
408/429 (retry later, exit 1).  Connect and read timeouts are separate.
"""

from __future__ import annotations

import http.client
import json
import math
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from goss_bench.errors import GossInputError

STATUSES = ("queued", "scoring", "finished", "failed")


class RemoteError(Exception):
    """The server or the network failed (or answered nonsense); retrying may help."""


def _snippet(data: bytes, n: int = 80) -> str:
    text = data[:n].decode("utf-8", "replace")
    return repr(text) + ("..." if len(data) > n else "")


def check_server_url(url: str) -> tuple[str, str, int | None, str]:
    """(scheme, host, port, path prefix) of ``--server``; GossInputError when malformed."""
    if not url or any(c.isspace() or not c.isprintable() for c in url):
        raise GossInputError(f"--server {url!r}: URLs cannot contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise GossInputError(f"--server {url!r}: not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise GossInputError(f"--server {url!r}: expected http://HOST[:PORT] or https://HOST[:PORT]")
    if parts.query or parts.fragment or parts.username is not None:
        raise GossInputError(f"--server {url!r}: give only scheme, host, port and path")
    return parts.scheme, parts.hostname, port, parts.path.rstrip("/")


def check_token(token: str) -> str:
    """The token, refused when it holds whitespace or control characters
    (a header cannot carry them; usually a copy-paste accident)."""
    bad = next((c for c in token if c.isspace() or not c.isprintable() or ord(c) > 126), None)
    if bad is not None:
        raise GossInputError(
            f"--token: contains {bad!r}; an API token is one line of printable ASCII "
            "(check for a trailing newline when reading it from a file)"
        )
    if len(token) > 1000:
        raise GossInputError("--token: longer than 1000 characters; not an API token")
    return token


def positive_seconds(flag: str, value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        raise GossInputError(f"{flag}: expected a number of seconds > 0, got {value}")
    return value


@dataclass
class Http:
    """One leaderboard server; each request opens its own connection."""

    base: str
    token: str | None
    connect_timeout: float = 10.0
    read_timeout: float = 300.0

    def __post_init__(self) -> None:
        self.scheme, self.host, self.port, self.prefix = check_server_url(self.base)
        self.base = self.base.rstrip("/")

    def _connection(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=self.connect_timeout,
                context=ssl.create_default_context(),
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=self.connect_timeout)

    def request(
        self,
        method: str,
        path: str,
        body: Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes, str | None]:
        """(status, body, Location header); RemoteError for anything but an HTTP answer."""
        h = {"accept": "application/json", "user-agent": "goss-bench-submit", **(headers or {})}
        if self.token:
            h["authorization"] = f"Bearer {self.token}"
        where = f"{method} {self.base}{path}"
        conn = self._connection()
        phase = "connecting"
        try:
            conn.connect()
            assert conn.sock is not None
            conn.sock.settimeout(self.read_timeout)
            phase = "sending the request"
            try:
                conn.request(method, self.prefix + path, body=body, headers=h)
            except (BrokenPipeError, ConnectionResetError):
                # the server may have answered early (401, 413) and closed: read it
                phase = "reading the answer after the server stopped the upload"
            phase = "waiting for the answer"
            resp = conn.getresponse()
            phase = "reading the answer"
            data = resp.read()
            return resp.status, data, resp.getheader("location")
        except http.client.IncompleteRead as exc:
            raise RemoteError(
                f"{where}: the server closed the connection after {len(exc.partial)} bytes of "
                f"an answer announced as {len(exc.partial) + (exc.expected or 0)} bytes (short body)"
            ) from None
        except http.client.RemoteDisconnected:
            raise RemoteError(
                f"{where}: the server closed the connection without answering ({phase})"
            ) from None
        except http.client.BadStatusLine as exc:
            raise RemoteError(
                f"{where}: the answer is not HTTP (first bytes {_snippet(str(exc.args[0] if exc.args else exc).encode())}); "
                "is --server the leaderboard's address?"
            ) from None
        except TimeoutError:
            if phase == "connecting":
                raise RemoteError(
                    f"{where}: no connection within {self.connect_timeout:g} s (--connect-timeout)"
                ) from None
            raise RemoteError(
                f"{where}: no answer within {self.read_timeout:g} s while {phase} (--read-timeout)"
            ) from None
        except ConnectionRefusedError:
            raise RemoteError(
                f"{where}: connection refused; is the server running at this address and port?"
            ) from None
        except ssl.SSLError as exc:
            raise RemoteError(f"{where}: TLS failed ({exc.reason or exc})") from None
        except socket.gaierror as exc:
            raise RemoteError(f"{where}: cannot resolve {self.host!r} ({exc.strerror})") from None
        except OSError as exc:
            raise RemoteError(f"{where}: network error while {phase} ({exc.strerror or exc})") from None
        except http.client.HTTPException as exc:
            raise RemoteError(
                f"{where}: protocol error while {phase} ({exc.__class__.__name__}: {exc})"
            ) from None
        finally:
            conn.close()

    def json(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        """A JSON object answer; 4xx -> GossInputError with the server's reason."""
        status, data, location = self.request(method, path, **kw)
        where = f"{method} {self.base}{path}"
        if 300 <= status < 400:
            raise RemoteError(
                f"{where}: the server redirects ({status}) to {location!r}; "
                "use that address as --server"
            )
        try:
            payload = json.loads(data) if data else None
        except (ValueError, UnicodeDecodeError):
            payload = None
            if status < 400:
                raise RemoteError(
                    f"{where}: answered {status} with a body that is not JSON: {_snippet(data)}"
                ) from None
        if status >= 400:
            detail = payload.get("detail") if isinstance(payload, dict) else None
            reason = detail if isinstance(detail, str) else _snippet(data) if data else "no reason given"
            msg = f"server answered {status}: {reason}"
            if status in (408, 429) or status >= 500:
                raise RemoteError(msg)
            raise GossInputError(msg)
        if not isinstance(payload, dict):
            raise RemoteError(
                f"{where}: expected a JSON object, got {type(payload).__name__} {_snippet(data)}"
            )
        return payload


def _malformed(where: str, what: str) -> RemoteError:
    return RemoteError(f"{where}: malformed answer: {what}")


def checked_quota(q: Any, where: str) -> dict[str, Any]:
    """A quota object: a dict whose counts, when present, are whole numbers."""
    if q is None:
        return {}
    if not isinstance(q, dict):
        raise _malformed(where, f"'quota' is a {type(q).__name__}, expected an object")
    for k in ("daily_limit", "used_today", "remaining_today", "total_limit", "used_total",
              "remaining_total"):
        v = q.get(k)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
            raise _malformed(where, f"quota {k!r} is {v!r}, expected a whole number")
    return q


def checked_submission(d: dict[str, Any], where: str) -> dict[str, Any]:
    """The 202 answer to an upload: id, status, status_url (+ page_url, quota)."""
    sid = d.get("id")
    if not isinstance(sid, int) or isinstance(sid, bool) or sid < 1:
        raise _malformed(where, f"'id' is {sid!r}, expected a positive whole number")
    status = d.get("status")
    if status not in STATUSES:
        raise _malformed(where, f"'status' is {status!r}, expected one of {', '.join(STATUSES)}")
    url = d.get("status_url", f"/api/v1/submissions/{sid}")
    if not isinstance(url, str) or not url.startswith("/") or url.startswith("//"):
        raise _malformed(where, f"'status_url' is {url!r}, expected a path on this server")
    page = d.get("page_url", "")
    if not isinstance(page, str):
        raise _malformed(where, f"'page_url' is {page!r}, expected a string")
    return {**d, "status_url": url, "page_url": page, "quota": checked_quota(d.get("quota"), where)}


def checked_status(d: dict[str, Any], where: str) -> dict[str, Any]:
    """A submission's status: a known status; metrics numbers (or null) when given."""
    status = d.get("status")
    if status not in STATUSES:
        raise _malformed(where, f"'status' is {status!r}, expected one of {', '.join(STATUSES)}")
    metrics = d.get("metrics")
    if metrics is not None:
        if not isinstance(metrics, dict):
            raise _malformed(where, f"'metrics' is a {type(metrics).__name__}, expected an object")
        for k, v in metrics.items():
            ok = v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
            if not ok or (v is not None and not math.isfinite(v)):
                raise _malformed(where, f"metric {k!r} is {v!r}, expected a number or null")
    err = d.get("error")
    if err is not None and not isinstance(err, str):
        raise _malformed(where, f"'error' is {err!r}, expected a string")
    return d
