"""``goss-bench submit PRED_DIR_OR_ZIP --server URL --benchmark NAME --token T [--wait [S]]``.

Validates the predictions locally with the server's own rules
(:mod:`goss_bench.submission`, against the benchmark layout fetched from the
server, plus the semantic values 0..N and 255), zips a folder, uploads it with
a progress bar and, with ``--wait``, polls until the submission is scored.

Exit codes: 0 done; 2 bad input (a local check, or a 4xx with the server's
reason); 1 a network or server failure, a malformed answer, or ``--wait``
running out (the submission continues on the server: the status URL is
printed).  HTTP: :mod:`goss_bench.cli.submit_http` (standard library only).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

from goss_bench.cli.submit_http import (
    Http,
    RemoteError,
    check_token,
    checked_quota,
    checked_status,
    checked_submission,
    positive_seconds,
)
from goss_bench.errors import GossInputError

CHUNK = 1 << 20


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    try:
        return positive_seconds("value", v)
    except GossInputError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("value: ")) from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pred", help="prediction folder (semantic/, groups/, ...) or a .zip of it")
    p.add_argument("--server", required=True, help="server URL, e.g. https://goss.example.org")
    p.add_argument("--benchmark", required=True, help="benchmark name (see the server's front page)")
    p.add_argument(
        "--token", default=os.environ.get("GOSS_TOKEN"), help="API token (default $GOSS_TOKEN)"
    )
    p.add_argument("--method", default=None, help="method name (default: the folder name)")
    p.add_argument("--description", default="", help="short description")
    p.add_argument("--paper-url", default="", help="link to the paper")
    p.add_argument("--code-url", default="", help="link to the code")
    p.add_argument(
        "--wait", nargs="?", type=_seconds, const=3600.0, default=None, metavar="SECONDS",
        help="wait for the score and print it; give up after SECONDS (default 3600) with "
        "exit 1 and the status URL",
    )
    p.add_argument("--poll", type=_seconds, default=3.0, help="seconds between status checks (> 0)")
    p.add_argument("--connect-timeout", type=_seconds, default=10.0,
                   help="seconds to wait for a connection (default 10)")
    p.add_argument("--read-timeout", type=_seconds, default=300.0,
                   help="seconds to wait for each answer (default 300; the upload's answer "
                   "comes after the server has checked the zip)")
    p.add_argument("--no-progress", action="store_true", help="no upload progress bar")


def _safe_name(name: str) -> str:
    """The file name for the form header: quotes, newlines and non-ASCII replaced."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:200] or "predictions.zip"


def _multipart(
    zip_path: Path, fields: dict[str, str], progress: bool
) -> tuple[Iterator[bytes], int, str]:
    boundary = uuid.uuid4().hex
    head = b""
    for k, v in fields.items():
        head += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        ).encode()
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{_safe_name(zip_path.name)}"\r\n'
        "Content-Type: application/zip\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = zip_path.stat().st_size
    total = len(head) + size + len(tail)

    def gen() -> Iterator[bytes]:
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=size, unit="B", unit_scale=True, desc="upload", file=sys.stderr)
        try:
            yield head
            with open(zip_path, "rb") as fh:
                while chunk := fh.read(CHUNK):
                    if bar is not None:
                        bar.update(len(chunk))
                    yield chunk
            yield tail
        finally:
            if bar is not None:
                bar.close()

    return gen(), total, f"multipart/form-data; boundary={boundary}"


def _print_scores(sub: dict) -> None:
    metrics = sub.get("metrics")
    if not metrics:
        print("scored; the scores of this benchmark are hidden until the organisers publish them")
        return
    for k, v in metrics.items():  # the API holds 0..1; people read percent
        print(f"{k:>7}: {'-' if v is None else f'{100 * v:.2f}%'}")


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except RemoteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    from goss_bench.submission import Layout, check_values, check_zip, zip_folder

    if not args.token:
        raise GossInputError("--token: give your team's API token (or set GOSS_TOKEN)")
    http = Http(args.server, check_token(args.token), args.connect_timeout, args.read_timeout)
    src = Path(args.pred)
    if not src.exists():
        raise GossInputError(f"{src}: no such file or folder")
    bench = urllib.parse.quote(args.benchmark, safe="")
    status, data, _ = http.request("GET", f"/api/v1/benchmarks/{bench}/layout")
    if status == 404:
        raise GossInputError(
            f"{args.server}: benchmark {args.benchmark!r} not found (HTTP 404); "
            "check --benchmark against the server's front page"
        )
    if status != 200:
        raise RemoteError(f"GET {http.base}/api/v1/benchmarks/{bench}/layout: answered {status}")
    try:
        layout = Layout.from_json(data, f"{args.server} layout of {args.benchmark}")
    except GossInputError as exc:
        raise RemoteError(f"malformed answer: {exc}") from None
    qpath = f"/api/v1/benchmarks/{bench}/quota"
    quota = checked_quota(http.json("GET", qpath), f"GET {http.base}{qpath}")  # checks the token
    if min(quota.get("remaining_today", 1), quota.get("remaining_total", 1)) <= 0:
        raise GossInputError(
            f"no submission left for {args.benchmark}: {quota.get('used_today')} of "
            f"{quota.get('daily_limit')} today (resets {quota.get('resets_at')}), "
            f"{quota.get('used_total')} of {quota.get('total_limit')} in total"
        )
    with tempfile.TemporaryDirectory(prefix="goss-submit-") as tmp:
        if src.is_dir():
            zip_path = zip_folder(src, Path(tmp) / f"{src.resolve().name or 'predictions'}.zip")
        else:
            zip_path = src
        check = check_zip(zip_path, layout, name=str(src))
        check_values(zip_path, check, layout, name=str(src))
        print(f"{src}: valid for {args.benchmark} ({len(layout.sizes)} images)", file=sys.stderr)
        fields = {
            "method": args.method or src.resolve().name.removesuffix(".zip"),
            "description": args.description,
            "paper_url": args.paper_url,
            "code_url": args.code_url,
        }
        body, length, ctype = _multipart(zip_path, fields, not args.no_progress)
        upath = f"/api/v1/benchmarks/{bench}/submissions"
        sub = checked_submission(
            http.json(
                "POST", upath, body=body,
                headers={"content-type": ctype, "content-length": str(length)},
            ),
            f"POST {http.base}{upath}",
        )
    q = sub["quota"]
    status_url = http.base + sub["status_url"]
    print(
        f"submission {sub['id']} queued: {http.base}{sub['page_url']}\n"
        f"remaining today: {q.get('remaining_today')} of {q.get('daily_limit')} "
        f"(resets {q.get('resets_at')}), in total: {q.get('remaining_total')}"
    )
    if args.wait is None:
        return 0
    return _wait(http, sub, status_url, args.wait, args.poll)


def _wait(http: Http, sub: dict, status_url: str, limit: float, poll: float) -> int:
    """Poll until finished/failed; transient failures are retried until ``limit``."""
    deadline = time.monotonic() + limit
    last = None
    state = sub["status"]
    while True:
        try:
            info = checked_status(http.json("GET", sub["status_url"]), f"GET {status_url}")
        except RemoteError as exc:
            if time.monotonic() + poll > deadline:
                raise RemoteError(
                    f"{exc}; gave up waiting after {limit:g} s (--wait); the submission "
                    f"continues on the server: check {status_url}"
                ) from None
            print(f"warning: {exc}; retrying", file=sys.stderr)
        else:
            state = info["status"]
            if state != last:
                print(f"status: {state}", file=sys.stderr)
                last = state
            if state == "finished":
                _print_scores(info)
                return 0
            if state == "failed":
                raise GossInputError(f"submission {sub['id']} failed: {info.get('error')}")
        if time.monotonic() + poll > deadline:
            raise RemoteError(
                f"submission {sub['id']} still {state} after {limit:g} s (--wait); it continues "
                f"on the server: check {status_url}"
            )
        time.sleep(poll)
