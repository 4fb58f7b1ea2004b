"""The ``goss-bench`` command line.

Each subcommand lives in its own module that defines ``add_arguments(parser)``
and ``run(args) -> int``.  Modules are imported only when their subcommand
runs, so ``goss-bench score`` never imports torch or fastapi.

Exit codes (README "Exit codes"): 0 success; 1 a remote failure or timeout
the user can retry (``submit``); 2 bad input or usage -- a
:class:`goss_bench.errors.GossInputError` from any subcommand, an argparse
error, or a file that cannot be written, printed as one ``error: ...`` line on
stderr; 130 interrupted (Ctrl-C), 143 terminated (SIGTERM, for the commands in
TERM_AS_INTERRUPT); build-split then says how to resume.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import signal
import sys
import warnings
from collections.abc import Callable, Sequence

from goss_bench.allocator import tune_allocator
from goss_bench.errors import GossInputError, Terminated

# name -> (module, one-line help). The module provides add_arguments and run.
COMMANDS: dict[str, tuple[str, str]] = {
    "score": ("goss_bench.cli.score", "score a prediction folder against GOSS ground truth"),
    "export-panoptic": (
        "goss_bench.cli.export_panoptic",
        "write a GOSS folder as COCO panoptic PNG + JSON",
    ),
    "build-split": ("goss_bench.cli.build", "build a GOSS split from COCO-Stuff or Cityscapes"),
    "make-split": ("goss_bench.cli.make_split", "write a new split definition file"),
    "stats": ("goss_bench.cli.stats", "per-class image counts of a source dataset"),
    "serve": ("server.cli", "run the leaderboard server (and one worker)"),
    "worker": ("server.cli", "run a scoring worker for the leaderboard server"),
    "server": ("server.cli", "leaderboard administration (benchmarks, teams, rescoring)"),
    "submit": ("goss_bench.cli.submit", "validate and upload predictions to a leaderboard"),
    "demo": ("goss_bench.cli.demo", "end-to-end demo: build, train, score, leaderboard"),
    "show": ("goss_bench.cli.show", "draw image | GT | prediction | error panels"),
    "labels": ("goss_bench.cli.labels", "id table of a split: GOSS, source, mmseg/detectron2 ids"),
    "compare": ("goss_bench.cli.compare", "paired comparison of two prediction sets (bootstrap)"),
    "oracle": ("goss_bench.cli.oracle", "oracle breakdown of GQ and error counts by kind"),
    "report": ("goss_bench.cli.report", "self-contained HTML report: intervals, oracles, curves"),
}


# name -> pip extras the command needs (checked before its module is imported)
REQUIRES: dict[str, tuple[str, ...]] = {
    "serve": ("server",),
    "worker": ("server",),
    "server": ("server",),
    "demo": ("server", "baselines"),
}


def _available() -> dict[str, tuple[str, str]]:
    out = {}
    for name, (module, help_) in COMMANDS.items():
        if importlib.util.find_spec(module.rsplit(".", 1)[0]) is None:
            continue
        try:
            if importlib.util.find_spec(module) is None:
                continue
        except ModuleNotFoundError:
            continue
        out[name] = (module, help_)
    return out


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    from goss_bench import __version__

    parser = argparse.ArgumentParser(
        prog="goss-bench",
        description="goss-bench: Generalized Open-set Semantic Segmentation toolkit",
    )
    parser.add_argument("--version", action="version", version=f"goss-bench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_) in _available().items():
        p = sub.add_parser(name, help=help_, description=help_)
        if name == chosen:
            mod = importlib.import_module(module)
            if hasattr(mod, "add_subcommand_arguments"):
                mod.add_subcommand_arguments(name, p)
            else:
                mod.add_arguments(p)
            p.set_defaults(_module=module)
    return parser


EXIT_OK, EXIT_REMOTE, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


def _check_extras(argv: Sequence[str] | None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in args if not a.startswith("-")), None)
    if chosen in REQUIRES:
        from goss_bench.extras import require

        require(*REQUIRES[chosen], what=f"goss-bench {chosen}")


# Commands that handle SIGTERM like Ctrl-C (save what is done, exit 143, no traceback).
TERM_AS_INTERRUPT = {"build-split", "score", "export-panoptic"}


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def _terminate_like_interrupt() -> Callable[[], None] | None:
    """Install the SIGTERM handler; returns a function restoring the previous one."""
    try:
        old = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread (an embedding application)
        return None

    def restore() -> None:
        signal.signal(signal.SIGTERM, old)

    return restore


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand and return its exit code (the policy in the module docstring);
    a Ctrl-C at any point, start-up included, is ``interrupted`` and 130, never a traceback."""
    restore = None
    try:
        try:
            _check_extras(argv)
        except GossInputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_INPUT
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return EXIT_INPUT
        mod = importlib.import_module(args._module)
        tune_allocator()
        restore = _terminate_like_interrupt() if args.command in TERM_AS_INTERRUPT else None
        return _run(mod, args)
    except Terminated:
        print("terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if restore is not None:
            restore()


def _run(mod, args: argparse.Namespace) -> int:  # noqa: ANN001
    """Run the subcommand, turning bad input into ``error: ...`` and exit code 2."""

    def _show_warning(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        print(f"warning: {message}", file=sys.stderr)

    warnings.showwarning = _show_warning
    try:
        if hasattr(mod, "run_subcommand"):
            return int(mod.run_subcommand(args.command, args) or 0)
        return int(mod.run(args) or 0)
    except GossInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except BrokenPipeError:
        # the reader of our output went away (`goss-bench ... | head`): stop quietly;
        # point stdout at /dev/null so the interpreter's final flush cannot fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        # last resort (outputs are checked before work starts): a file that cannot be
        # read or written, e.g. the disk filled up or a folder was removed meanwhile
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
