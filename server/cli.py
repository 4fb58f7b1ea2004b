"""``goss-bench serve``, ``goss-bench worker`` and ``goss-bench server ...``.

The dispatcher in goss_bench/cli calls :func:`add_subcommand_arguments` and
:func:`run_subcommand` with the command name.  This is the only module of the
server that prints.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from goss_bench.errors import GossInputError


def _count(text: str) -> int:
    """argparse type: a whole number >= 0."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {v}")
    return v


def _positive(text: str) -> int:
    v = _count(text)
    if v == 0:
        raise argparse.ArgumentTypeError("expected a whole number >= 1, got 0")
    return v


def _port(text: str) -> int:
    v = _count(text)
    if not 0 < v < 65536:
        raise argparse.ArgumentTypeError(f"expected a port in 1..65535, got {v}")
    return v


def add_subcommand_arguments(name: str, p: argparse.ArgumentParser) -> None:
    if name == "serve":
        p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
        p.add_argument("--port", type=_port, default=8000, help="port (default 8000)")
        p.add_argument(
            "--workers",
            type=_count,
            default=None,
            help="scoring worker processes to start next to the web server (default: 1 on "
            "SQLite, 0 otherwise; GOSS_EMBEDDED_WORKER)",
        )
        p.add_argument(
            "--web-workers",
            type=_positive,
            default=1,
            help="web server processes (default 1); each serves pages and uploads",
        )
        p.add_argument("--log-level", default="info", help="uvicorn log level")
    elif name == "worker":
        p.add_argument("--once", action="store_true", help="exit when the queue is empty")
        p.add_argument("--id", dest="worker_id", default=None, help="worker id (default host:pid)")
    elif name == "server":
        sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
        a = sub.add_parser("add-benchmark", help="register a built split (GT directory)")
        a.add_argument("split_dir", help="split directory with split.json and test/")
        a.add_argument("--name", help="URL name (default: <dataset>-<split name>)")
        a.add_argument("--title", default="", help="display title")
        a.add_argument("--hidden", action="store_true", help="hide scores until `publish`")
        a.add_argument(
            "--public-gt", action="store_true",
            help="the GT is public: submission pages show image panels",
        )
        a.add_argument("--show", choices=["best", "latest"], default="best",
                       help="which submission of a team the leaderboard shows (default best by GQ)")
        a.add_argument("--daily-limit", type=_count, default=None, help="per team per UTC day (>= 0)")
        a.add_argument("--total-limit", type=_count, default=None, help="per team in total (>= 0)")
        s = sub.add_parser("set", help="change a benchmark's rules")
        s.add_argument("name")
        s.add_argument("--daily-limit", type=_count, help="per team per UTC day (>= 0)")
        s.add_argument("--total-limit", type=_count, help="per team in total (>= 0)")
        s.add_argument("--show", choices=["best", "latest"])
        s.add_argument("--public-gt", choices=["yes", "no"])
        s.add_argument("--title")
        for verb, text in (("publish", "show the scores"), ("hide", "hide the scores")):
            x = sub.add_parser(verb, help=f"{text} of a benchmark")
            x.add_argument("name")
        t = sub.add_parser("add-team", help="create a team and print its first API token")
        t.add_argument("name")
        t2 = sub.add_parser("add-token", help="print a new API token for a team")
        t2.add_argument("team")
        r = sub.add_parser("revoke-token", help="revoke a token (by its prefix) or a team's tokens")
        r.add_argument("prefix", nargs="?", help="the token's first 12 characters")
        r.add_argument("--team", help="revoke every token of this team")
        rs = sub.add_parser("rescore", help="re-queue finished/failed submissions")
        rs.add_argument("submission", nargs="?", type=_positive, help="submission id")
        rs.add_argument("--all", action="store_true", help="every finished/failed submission")
        rs.add_argument("--benchmark", help="with --all: only this benchmark")
        sub.add_parser("list", help="list benchmarks, teams and token prefixes")
        sub.add_parser("migrate", help="upgrade the database schema")


def _settings():  # noqa: ANN202
    from server.config import get_settings

    return get_settings()


def run_subcommand(name: str, args: argparse.Namespace) -> int:
    if name == "serve":
        return _serve(args)
    if name == "worker":
        return _worker(args)
    return _admin(args)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import create_app
    from server.supervisor import Supervisor

    settings = _settings()
    app = create_app(settings)  # migrates before any worker starts
    n = args.workers if args.workers is not None else int(settings.run_embedded_worker)
    sup = Supervisor([sys.executable, "-m", "goss_bench", "worker"], n, os.environ.copy())
    print(
        f"goss-bench leaderboard on http://{args.host}:{args.port}/ "
        f"(database {app.state.db.safe_url}, {n} supervised worker process(es))",
        file=sys.stderr,
    )

    def _exit(signum, frame):  # noqa: ANN001, ARG001
        raise SystemExit(0)

    # uvicorn re-raises SIGTERM after its graceful shutdown; exit through the
    # `finally` below so that the worker processes are stopped too
    signal.signal(signal.SIGTERM, _exit)
    sup.start()
    try:
        if args.web_workers > 1:
            app.state.db.dispose()
            uvicorn.run(
                "server.app:app_from_env",
                factory=True,
                workers=args.web_workers,
                host=args.host,
                port=args.port,
                log_level=args.log_level,
            )
        else:
            uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    finally:
        sup.stop()
    return 0


def _worker(args: argparse.Namespace) -> int:
    from server.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    stop = threading.Event()

    def _stop(signum, frame):  # noqa: ANN001, ARG001
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    n = run_worker(_settings(), stop=stop, once=args.once, worker_id=args.worker_id)
    print(f"worker stopped after {n} submission(s)", file=sys.stderr)
    return 0


def _admin(args: argparse.Namespace) -> int:
    from server import services
    from server.db import Database

    settings = _settings()
    db = Database(settings.database_url)
    try:
        if args.action == "migrate":
            print(f"schema at revision {db.migrate()}")
            return 0
        db.migrate()
        a = args.action
        if a == "add-benchmark":
            b = services.add_benchmark(
                db, args.split_dir, name=args.name, title=args.title, gt_public=args.public_gt,
                scores_hidden=args.hidden, show_rule=args.show,
                daily_limit=args.daily_limit if args.daily_limit is not None else settings.daily_limit,
                total_limit=args.total_limit if args.total_limit is not None else settings.total_limit,
            )
            print(f"added benchmark {b.name!r}: N={b.num_known}, {b.num_images} test images, "
                  f"scores {'hidden' if b.scores_hidden else 'public'}")
        elif a == "set":
            pub = None if args.public_gt is None else args.public_gt == "yes"
            services.set_benchmark(
                db, args.name, daily_limit=args.daily_limit, total_limit=args.total_limit,
                show_rule=args.show, gt_public=pub, title=args.title,
            )
            print(f"updated {args.name}")
        elif a in ("publish", "hide"):
            services.set_benchmark(db, args.name, scores_hidden=(a == "hide"))
            print(f"scores of {args.name} are now {'hidden' if a == 'hide' else 'public'}")
        elif a == "add-team":
            team, token = services.add_team(db, args.name)
            print(f"team {team.name!r} created. Its API token (shown only once):\n{token}")
        elif a == "add-token":
            print(services.new_team_token(db, args.team))
        elif a == "revoke-token":
            n = services.revoke_tokens(db, prefix=args.prefix, team=args.team)
            if n == 0:
                raise GossInputError("no active token matches")
            print(f"revoked {n} token(s)")
        elif a == "rescore":
            if args.all == (args.submission is not None):
                raise GossInputError("give one submission id or --all")
            if args.benchmark is not None and not args.all:
                raise GossInputError("--benchmark goes with --all")
            n = services.rescore(db, args.submission, all_in=args.benchmark if args.all else None)
            print(f"re-queued {n} submission(s)")
        elif a == "list":
            _list(db)
        return 0
    finally:
        db.dispose()


def _list(db) -> None:  # noqa: ANN001
    from sqlalchemy import select

    from server.models import ApiToken, Benchmark, Team

    with db.read() as s:
        for b in s.scalars(select(Benchmark).order_by(Benchmark.name)):
            print(f"benchmark {b.name}: N={b.num_known}, {b.num_images} images, "
                  f"{'hidden' if b.scores_hidden else 'public'} scores, gt {b.gt_dir}")
        for t in s.scalars(select(Team).order_by(Team.name)):
            toks = ", ".join(
                f"{k.prefix}{' (revoked)' if k.revoked_at else ''}"
                for k in s.scalars(select(ApiToken).where(ApiToken.team_id == t.id))
            )
            print(f"team {t.name}: tokens {toks}")
