"""Receiving uploads: a body-size cap for every request (the upload cap on
the two upload routes, a small cap on every other POST), and the
stream-to-disk + hash + validate + queue sequence shared by the API and the
web form."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from goss_bench.errors import GossInputError
from goss_bench.submission import Limits, check_zip
from server.config import Settings
from server.db import Database
from server.housekeeping import owner_tag
from server.models import Submission
from server.services import (
    Quota,
    UploadMeta,
    benchmark_layout,
    check_quota,
    check_rejected,
    create_submission,
    get_benchmark,
    record_rejection,
)

CHUNK = 1 << 20


class UploadTooLarge(GossInputError):
    pass


def too_large_message(limit: int) -> str:
    return (
        f"upload too large: the limit is {limit // 2**20} MiB per submission; "
        "PNG predictions are already compressed, so store them in the zip without recompression, "
        "and leave out optional folders (scores/, clusters/) you do not need"
    )


UPLOAD_PATHS = re.compile(r"^/api/v1/benchmarks/[^/]+/submissions$|^/benchmarks/[^/]+/submit$")


def form_too_large_message(limit: int) -> str:
    return f"request body too large: the limit is {limit // 1024} KiB for this form"


class BodySizeLimit:
    """ASGI middleware: 413 for request bodies above the route's cap (checked on
    Content-Length before anything is read, and while streaming, so chunked
    bodies are capped too).  Upload routes get ``upload_cap`` (+ room for the
    form fields); every other POST gets ``form_cap``."""

    def __init__(self, app: ASGIApp, upload_cap: int, form_cap: int) -> None:
        self.app = app
        self.upload_cap = upload_cap
        self.form_cap = form_cap

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        if UPLOAD_PATHS.match(scope.get("path", "")):
            max_bytes = self.upload_cap + 256 * 1024
            message = too_large_message(self.upload_cap)
        else:
            max_bytes, message = self.form_cap, form_too_large_message(self.form_cap)
        for k, v in scope.get("headers", []):
            if k == b"content-length" and v.isdigit() and int(v) > max_bytes:
                await self._reject(send, message)
                return
        seen = 0
        started = False
        tripped = False

        async def limited_receive() -> Message:
            nonlocal seen, tripped
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > max_bytes:
                    tripped = True
                    raise UploadTooLarge(message)
            return msg

        async def guarded_send(msg: Message) -> None:
            # whatever the app answers after the cap tripped (e.g. a 400 for a body
            # it could not parse) becomes the 413
            nonlocal started
            if msg["type"] == "http.response.start":
                if started:
                    return
                started = True
                if tripped:
                    await self._reject(send, message)
                    return
            elif tripped:
                return
            await send(msg)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except UploadTooLarge:
            if not started:
                started = True
                await self._reject(send, message)

    async def _reject(self, send: Send, message: str) -> None:
        import json

        body = json.dumps({"detail": message}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def save_upload(file: UploadFile, settings: Settings) -> tuple[Path, int, str]:
    """Copy the uploaded file into the data folder with a byte cap; (path, size, sha256)."""
    incoming = settings.incoming_dir
    await run_in_threadpool(incoming.mkdir, parents=True, exist_ok=True)
    path = incoming / f"{owner_tag()}{uuid.uuid4().hex}.zip"
    h = hashlib.sha256()
    size = 0
    try:
        with open(path, "wb") as out:
            while True:
                chunk = await file.read(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > settings.max_upload_bytes:
                    raise UploadTooLarge(too_large_message(settings.max_upload_bytes))
                h.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if size == 0:
        path.unlink(missing_ok=True)
        raise GossInputError("the uploaded file is empty")
    return path, size, h.hexdigest()


def _validate(db: Database, settings: Settings, bench_name: str, path: Path, label: str) -> None:
    with db.read() as s:
        b = get_benchmark(s, bench_name)
        layout = benchmark_layout(b)
    limits = Limits(settings.max_entries, settings.max_uncompressed_mb * 2**20, settings.max_ratio)
    check_zip(path, layout, limits, name=label)


def check_before_body(db: Database, settings: Settings, bench_name: str, team_id: int) -> None:
    """Everything that can refuse an upload before its body is read: the
    benchmark exists, the team's limits, its rejected uploads in the last hour."""
    check_quota(db, bench_name, team_id)
    check_rejected(db, team_id, settings.rejected_per_hour)


async def receive_upload(
    db: Database,
    settings: Settings,
    bench_name: str,
    team_id: int,
    file: UploadFile | None,
    meta: UploadMeta,
) -> tuple[Submission, Quota]:
    """Stream, validate and queue one upload (raises GossInputError subclasses)."""
    if file is None or not hasattr(file, "read"):
        raise GossInputError("missing the zip file (multipart form field 'file')")
    meta = meta.checked()
    await run_in_threadpool(check_quota, db, bench_name, team_id)
    path, size, sha = await save_upload(file, settings)
    try:
        label = os.path.basename(file.filename or "upload.zip")
        try:
            await run_in_threadpool(_validate, db, settings, bench_name, path, label)
        except GossInputError as exc:
            await run_in_threadpool(record_rejection, db, bench_name, team_id, str(exc))
            raise
        return await run_in_threadpool(
            create_submission, db, settings.upload_dir, bench_name, team_id, path, size, sha, meta
        )
    finally:
        path.unlink(missing_ok=True)  # moved into place on success
