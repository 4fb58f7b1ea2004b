"""``goss-bench demo``: the whole benchmark end to end on the bundled sample data.

Steps (each prints what it does; all on CPU, SQLite, 127.0.0.1, no download):

1. build the ``manual-20-60`` GOSS split from ``examples/coco_sample`` (generated
   data in the genuine COCO-Stuff layout) with the real builder;
2. train the tiny GST configuration (``baselines/configs/tiny_cpu.json``, as an
   N-model with the contrastive loss and MSP identification, GST's Cityscapes
   form) for a bounded number of iterations;
3. evaluate it into a prediction folder (``python -m baselines.evaluate``);
4. score the predictions (the same code path as ``goss-bench score``);
5. start the leaderboard server, register the benchmark and a team, submit the
   predictions through the HTTP API with ``goss-bench submit --wait``, and print
   the leaderboard URL and the server's score table.

The working folder (default ``./demo_work``) is reused: a finished step is
skipped when its output is complete (``--fresh`` starts over).  Steps 2, 3 and 5
run the real command-line programs as subprocesses.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from goss_bench.errors import GossInputError
from goss_bench.io import write_text_atomic

REPO = Path(__file__).resolve().parents[2]
SPLIT = "manual-20-60"
BENCHMARK = "coco-sample-manual-20-60"
TEAM = "demo-team"


@dataclass(frozen=True)
class DemoPaths:
    """Everything the demo writes, under one working folder."""

    work: Path

    @property
    def split(self) -> Path:
        return self.work / "split"

    @property
    def run(self) -> Path:
        return self.work / "run"

    @property
    def pred(self) -> Path:
        return self.work / "pred"

    @property
    def server(self) -> Path:
        return self.work / "server"

    @property
    def leaderboard_json(self) -> Path:
        return self.work / "leaderboard.json"

    @property
    def score_json(self) -> Path:
        return self.work / "score.json"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--work", type=Path, default=Path("demo_work"), help="working folder")
    p.add_argument(
        "--data",
        type=Path,
        default=REPO / "examples" / "coco_sample",
        help="COCO-Stuff-layout dataset (default: the bundled sample)",
    )
    p.add_argument("--fresh", action="store_true", help="delete the working folder first")
    p.add_argument(
        "--quick", action="store_true", help="train for fewer iterations (tests, CI)"
    )
    p.add_argument(
        "--iterations", type=int, default=None, help="training iterations (default 600, quick 40)"
    )
    p.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    p.add_argument(
        "--keep-serving",
        action="store_true",
        help="leave the leaderboard server running until Ctrl-C",
    )


def _step(i: int, text: str) -> None:
    print(f"\n[{i}/5] {text}", flush=True)


def _torch_env() -> dict[str, str]:
    """Environment of the training/evaluation subprocesses.

    The tiny model's tensors are small, so extra threads mostly wait on each other
    (and on other jobs of a busy 2-core machine): one thread unless the user set it.
    """
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _run(cmd: list[str | Path], env: dict[str, str] | None = None, capture: bool = False) -> str:
    """Run a subprocess; raise GossInputError with its output when it fails."""
    shown = " ".join(str(c) for c in cmd)
    print(f"  $ {shown}", flush=True)
    proc = subprocess.run(
        [str(c) for c in cmd],
        env=env,
        text=True,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None,
    )
    if proc.returncode != 0:
        out = proc.stdout or ""
        raise GossInputError(f"demo step failed (exit {proc.returncode}): {shown}\n{out}".rstrip())
    return proc.stdout or ""


def _goss(*args: str) -> list[str | Path]:
    return [sys.executable, "-m", "goss_bench", *args]


def build(paths: DemoPaths, data: Path) -> None:
    from goss_bench.builder.run import build_split

    summary = build_split("coco", SPLIT, root=data, out=paths.split, workers=1)
    print(
        f"  {summary.train_images} train / {summary.test_images} test images, "
        f"N = {summary.num_known} known classes -> {paths.split}"
    )


def train(paths: DemoPaths, iterations: int) -> Path:
    config = REPO / "baselines" / "configs" / "tiny_cpu.json"
    final = paths.run / "model_final.pth"
    if final.is_file() and json.loads((paths.run / "config.json").read_text())["train"][
        "iterations"
    ] == iterations:
        print(f"  reusing {final}")
        return final
    _run(
        [
            sys.executable, "-m", "baselines.train",
            "--config", config,
            "--split-dir", paths.split,
            f"train.iterations={iterations}",
            f"train.output_dir={paths.run}",
            "train.checkpoint_every=50",
            "train.log_every=10",
            "data.resize_longest=128",
            "data.crop_size=96",
            "train.lr=0.005",
            # GST in its Cityscapes form (N-model + contrastive loss, MSP identification):
            # COCO-style train images hold no unknown pixel, so on this sample an
            # N+1 head never sees its unknown class.
            "model.type=n",
            "eval.identification=msp",
        ],
        env=_torch_env(),
    )
    return final


def evaluate(paths: DemoPaths, checkpoint: Path) -> None:
    if paths.pred.exists():
        shutil.rmtree(paths.pred)
    _run(
        [
            sys.executable, "-m", "baselines.evaluate",
            "--config", paths.run / "config.json",
            "--checkpoint", checkpoint,
            "--split-dir", paths.split,
            "--out", paths.pred,
            "eval.resize_longest=128",
        ],
        env=_torch_env(),
    )


def score_predictions(paths: DemoPaths) -> None:
    from goss_bench import score

    _run(_goss("score", str(paths.pred), str(paths.split), "--json", str(paths.score_json)))
    present = score(paths.pred, paths.split, average="present")
    print(
        f"  (the sample covers {present.num_known_averaged} of the {present.num_known} known "
        f"classes; averaged over those only (--average present): GQ {100 * present.gq:.2f}%, "
        f"GQ_kn {100 * present.gq_known:.2f}%)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise GossInputError(f"the server exited early (exit {proc.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    raise GossInputError(f"the server did not answer at {url} within {timeout:.0f} s")


def leaderboard(paths: DemoPaths, port: int, keep_serving: bool) -> dict:
    env = dict(os.environ)
    env["GOSS_DATA_DIR"] = str(paths.server)
    env.pop("GOSS_DATABASE_URL", None)
    if paths.server.exists():
        shutil.rmtree(paths.server)
    paths.server.mkdir(parents=True)
    _run(
        _goss("server", "add-benchmark", str(paths.split), "--name", BENCHMARK, "--public-gt"),
        env=env,
    )
    out = _run(_goss("server", "add-team", TEAM), env=env, capture=True)
    token = _parse_token(out)
    port = port or _free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(paths.work / "server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [*_goss("serve", "--host", "127.0.0.1", "--port", str(port))],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_http(f"{base}/api/v1/benchmarks", server)
        print(f"  server up at {base} (log: {paths.work / 'server.log'})")
        _run(
            _goss(
                "submit", str(paths.pred), "--server", base, "--benchmark", BENCHMARK,
                "--token", token, "--method", "GST tiny (demo)", "--wait",
            ),
            env=env,
        )
        with urllib.request.urlopen(f"{base}/api/v1/benchmarks/{BENCHMARK}/leaderboard") as r:
            board = json.loads(r.read())
        write_text_atomic(paths.leaderboard_json, json.dumps(board, indent=2) + "\n")
        print(f"\n  leaderboard: {base}/benchmarks/{BENCHMARK}")
        if keep_serving:
            print("  serving until Ctrl-C ...", flush=True)
            try:
                server.wait()
            except KeyboardInterrupt:
                pass
        return board
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _parse_token(text: str) -> str:
    """The token is the last line that `goss-bench server add-team` prints."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or " " in lines[-1]:
        raise GossInputError(f"could not read the team token from `server add-team`:\n{text}")
    return lines[-1]


def run(args: argparse.Namespace) -> int:
    paths = DemoPaths(args.work.resolve())
    if args.fresh and paths.work.exists():
        shutil.rmtree(paths.work)
    paths.work.mkdir(parents=True, exist_ok=True)
    iterations = args.iterations or (40 if args.quick else 600)
    t0 = time.monotonic()

    _step(1, f"building the {SPLIT} split from {args.data}")
    build(paths, args.data.resolve())
    _step(2, f"training the tiny GST configuration on CPU ({iterations} iterations)")
    checkpoint = train(paths, iterations)
    _step(3, "evaluating into a prediction folder")
    evaluate(paths, checkpoint)
    _step(4, "scoring with goss-bench score")
    score_predictions(paths)
    _step(5, "leaderboard: serve, register, submit through the API, wait for the score")
    leaderboard(paths, args.port, args.keep_serving)
    print(f"\ndemo finished in {time.monotonic() - t0:.0f} s; outputs in {paths.work}")
    return 0
