"""``goss-bench submit PRED_DIR_OR_ZIP --server URL --benchmark NAME --token T [--wait]``.

Validates the predictions locally with the server's own checks
(:mod:`server.validation`, against the benchmark layout fetched from the
server), zips a folder, uploads it with a progress bar and, with ``--wait``,
polls until the submission is scored.  Uses only the standard library for
HTTP (no fastapi/httpx import).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

from goss_bench.errors import GossInputError

CHUNK = 1 << 20


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
    p.add_argument("--wait", action="store_true", help="wait for the score and print it")
    p.add_argument(
        "--timeout", type=float, default=3600, help="seconds to wait with --wait (default 3600)"
    )
    p.add_argument("--poll", type=float, default=3.0, help="seconds between status checks")
    p.add_argument("--no-progress", action="store_true", help="no upload progress bar")


class _Http:
    def __init__(self, base: str, token: str | None) -> None:
        if not base.startswith(("http://", "https://")):
            raise GossInputError(f"--server: expected an http(s) URL, got {base!r}")
        self.base = base.rstrip("/")
        self.token = token

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        h = {"accept": "application/json", "user-agent": "goss-bench-submit"}
        if self.token:
            h["authorization"] = f"Bearer {self.token}"
        h.update(extra or {})
        return h

    def request(self, method: str, path: str, body=None, headers=None) -> tuple[int, bytes]:  # noqa: ANN001
        req = urllib.request.Request(
            self.base + path, data=body, method=method, headers=self._headers(headers)
        )
        try:
            with urllib.request.urlopen(req, timeout=600) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except urllib.error.URLError as exc:
            raise GossInputError(f"{self.base}: cannot reach the server ({exc.reason})") from None

    def json(self, method: str, path: str, **kw) -> dict:  # noqa: ANN003
        status, data = self.request(method, path, **kw)
        try:
            payload = json.loads(data or b"{}")
        except ValueError:
            payload = {"detail": data[:200].decode("utf-8", "replace")}
        if status >= 400:
            detail = payload.get("detail") if isinstance(payload, dict) else payload
            raise GossInputError(f"server answered {status}: {detail}")
        return payload


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
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{zip_path.name}"\r\n'
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
    from server.validation import Layout, check_zip, zip_folder

    if not args.token:
        raise GossInputError("--token: give your team's API token (or set GOSS_TOKEN)")
    http = _Http(args.server, args.token)
    bench = urllib.parse.quote(args.benchmark, safe="")
    status, data = http.request("GET", f"/api/v1/benchmarks/{bench}/layout")
    if status != 200:
        raise GossInputError(
            f"{args.server}: benchmark {args.benchmark!r} not found (HTTP {status}); "
            "check --benchmark against the server's front page"
        )
    layout = Layout.from_json(data, f"{args.server} layout of {args.benchmark}")
    quota = http.json("GET", f"/api/v1/benchmarks/{bench}/quota")  # checks the token first
    if min(quota.get("remaining_today", 1), quota.get("remaining_total", 1)) <= 0:
        raise GossInputError(
            f"no submission left for {args.benchmark}: {quota.get('used_today')} of "
            f"{quota.get('daily_limit')} today (resets {quota.get('resets_at')}), "
            f"{quota.get('used_total')} of {quota.get('total_limit')} in total"
        )
    src = Path(args.pred)
    if not src.exists():
        raise GossInputError(f"{src}: no such file or folder")
    with tempfile.TemporaryDirectory(prefix="goss-submit-") as tmp:
        if src.is_dir():
            zip_path = zip_folder(src, Path(tmp) / f"{src.resolve().name or 'predictions'}.zip")
        else:
            zip_path = src
        check_zip(zip_path, layout, name=str(src))
        print(f"{src}: valid for {args.benchmark} ({len(layout.sizes)} images)", file=sys.stderr)
        fields = {
            "method": args.method or src.resolve().name.removesuffix(".zip"),
            "description": args.description,
            "paper_url": args.paper_url,
            "code_url": args.code_url,
        }
        body, length, ctype = _multipart(zip_path, fields, not args.no_progress)
        sub = http.json(
            "POST",
            f"/api/v1/benchmarks/{bench}/submissions",
            body=body,
            headers={"content-type": ctype, "content-length": str(length)},
        )
    q = sub.get("quota", {})
    print(
        f"submission {sub['id']} queued: {args.server.rstrip('/')}{sub.get('page_url', '')}\n"
        f"remaining today: {q.get('remaining_today')} of {q.get('daily_limit')} "
        f"(resets {q.get('resets_at')}), in total: {q.get('remaining_total')}"
    )
    if not args.wait:
        return 0
    deadline = time.monotonic() + args.timeout
    last = None
    while True:
        info = http.json("GET", sub["status_url"])
        if info["status"] != last:
            print(f"status: {info['status']}", file=sys.stderr)
            last = info["status"]
        if info["status"] == "finished":
            _print_scores(info)
            return 0
        if info["status"] == "failed":
            raise GossInputError(f"submission {sub['id']} failed: {info.get('error')}")
        if time.monotonic() > deadline:
            print(f"still {info['status']} after {args.timeout:.0f} s; check {sub['status_url']}")
            return 1
        time.sleep(args.poll)
