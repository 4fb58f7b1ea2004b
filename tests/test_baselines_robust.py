"""Bad checkpoints, weights and run folders give one ``error:`` line and exit 2;
pretrained weights are fetched and verified against a local HTTP server only."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from baselines import weights as bw  # noqa: E402
from tests.test_baselines_e2e import _one_torch_thread, make_tiny_split  # noqa: E402, F401

CONFIGS = Path(__file__).resolve().parents[1] / "baselines" / "configs"
TINY = str(CONFIGS / "tiny_cpu.json")


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_split(tmp_path_factory.mktemp("robust"), n_train=3, n_test=2)


@pytest.fixture(scope="module")
def trained(split: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from baselines.train import main

    run = tmp_path_factory.mktemp("run") / "run"
    assert main(["--config", TINY, "--split-dir", str(split), "--no-progress",
                 f"train.output_dir={run}", "train.iterations=2"]) == 0
    return run


def _one_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


# ---------------------------------------------------------------- checkpoints vs. model
def test_checkpoint_of_another_model(split: Path, trained: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    from baselines.evaluate import main as eval_main
    from baselines.train import main

    final = str(trained / "model_final.pth")
    out = str(tmp_path / "pred")
    # another width: the first mismatching tensor is named with both shapes
    assert eval_main(["--config", TINY, "--checkpoint", final, "--split-dir", str(split),
                      "--out", out, "model.width=8"]) == 2
    line = _one_error(capsys)
    assert "backbone.conv1.weight has shape (4, 3, 7, 7) in the checkpoint but (8, 3, 7, 7)" in line
    # another N (an N-model config on an N+1 checkpoint)
    assert eval_main(["--config", TINY, "--checkpoint", final, "--split-dir", str(split),
                      "--out", out, "model.type=n", "eval.identification=msp"]) == 2
    assert "semantic_head.classifier.weight has shape (4, 8, 1, 1) in the checkpoint but (3, 8, 1, 1)" \
        in _one_error(capsys)
    # resuming a run folder whose last.pth belongs to another model
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pth").write_bytes((trained / "last.pth").read_bytes())
    assert main(["--config", TINY, "--split-dir", str(split), "--no-progress",
                 f"train.output_dir={run}", "model.decoder_channels=16"]) == 2
    assert "last.pth: semantic_head.decoder.0.0.weight has shape" in _one_error(capsys)
    # a checkpoint that lacks a head of the configured model
    assert eval_main(["--config", TINY, "--checkpoint", final, "--split-dir", str(split),
                      "--out", out, "model.clustering=dfc"]) == 2
    assert "the checkpoint has bpd_head." in _one_error(capsys)


def test_truncated_and_junk_checkpoints(split: Path, trained: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from baselines.evaluate import main as eval_main
    from baselines.train import main

    data = (trained / "last.pth").read_bytes()
    for name, blob in (("cut.pth", data[: len(data) // 2]), ("empty.pth", b""),
                       ("head.pth", data[:64])):
        (tmp_path / name).write_bytes(blob)
        assert eval_main(["--checkpoint", str(tmp_path / name), "--split-dir", str(split),
                          "--out", str(tmp_path / "p")]) == 2
        assert f"{name}: not a readable checkpoint" in _one_error(capsys)
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pth").write_bytes(data[: len(data) // 3])
    assert main(["--config", TINY, "--split-dir", str(split), "--no-progress",
                 f"train.output_dir={run}"]) == 2
    assert "last.pth: not a readable checkpoint" in _one_error(capsys)


def test_non_utf8_log_and_images_txt(split: Path, trained: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from baselines.train import main

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    (run / "log.jsonl").write_bytes(b'{"iter": 1}\n\xff\xfe junk\n')
    assert main(["--config", TINY, "--split-dir", str(split), "--no-progress",
                 f"train.output_dir={run}", "train.iterations=3"]) == 2
    assert "log.jsonl: not UTF-8 text" in _one_error(capsys)
    bad = tmp_path / "split"
    shutil.copytree(split, bad)
    (bad / "train" / "images.txt").write_bytes(b"train000 images/caf\xe9.jpg\n")
    assert main(["--config", TINY, "--split-dir", str(bad), "--no-progress",
                 f"train.output_dir={tmp_path / 'r2'}"]) == 2
    assert "images.txt: not UTF-8 text" in _one_error(capsys)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_folders_permission(split: Path, trained: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from baselines.evaluate import main as eval_main

    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert eval_main(["--checkpoint", str(trained / "model_final.pth"), "--split-dir", str(split),
                          "--out", str(ro / "p")]) == 2
        assert "--out=" in _one_error(capsys)
    finally:
        ro.chmod(0o700)


def test_unwritable_output_folders(split: Path, trained: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    from baselines.evaluate import main as eval_main
    from baselines.train import main

    a_file = tmp_path / "file"
    a_file.write_text("x")
    for target in (a_file, a_file / "under"):
        assert main(["--config", TINY, "--split-dir", str(split), "--no-progress",
                     f"train.output_dir={target}"]) == 2
        assert f"train.output_dir={target}" in _one_error(capsys)
        assert eval_main(["--checkpoint", str(trained / "model_final.pth"), "--split-dir", str(split),
                          "--out", str(target)]) == 2
        assert f"--out={target}" in _one_error(capsys)
    assert a_file.read_text() == "x"


# ---------------------------------------------------------------- pretrained weights
def test_full_config_without_weights_exits_2(split: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from baselines.train import main

    monkeypatch.setenv("GOSS_WEIGHTS", str(tmp_path / "weights"))
    tiny_net = ["model.layers=[1,1,1,1]", "model.width=4", "model.aspp_channels=8",
                "model.decoder_channels=8", "model.low_level_channels=4", "model.bpd_width=8",
                "model.projection_dim=8", "train.device=cpu", "data.num_workers=0",
                f"train.output_dir={tmp_path / 'run'}"]
    assert main(["--config", str(CONFIGS / "coco_gst.json"), "--split-dir", str(split),
                 "--no-progress", *tiny_net]) == 2
    line = _one_error(capsys)
    assert "python -m baselines.weights fetch resnet50" in line and "model.pretrained=none" in line
    assert str(tmp_path / "weights" / "resnet50-0676ba61.pth") in line
    # a file of the wrong architecture names the first bad tensor and its shape
    bad = tmp_path / "weights" / "resnet50-0676ba61.pth"
    bad.parent.mkdir()
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, bad)
    assert main(["--config", str(CONFIGS / "coco_gst.json"), "--split-dir", str(split),
                 "--no-progress", *tiny_net, "train.iterations=1"]) == 2
    assert "shape mismatch for conv1.weight: the file has (64, 3, 7, 7)" in _one_error(capsys)
    # random initialisation only when asked for
    assert main(["--config", str(CONFIGS / "coco_gst.json"), "--split-dir", str(split),
                 "--no-progress", *tiny_net, "model.pretrained=none", "train.iterations=1",
                 "train.batch_size=2", "data.crop_size=32", "data.resize_longest=32"]) == 0


def test_registry_entry_is_consistent() -> None:
    spec = bw.WEIGHTS["resnet50"]
    # torchvision names its files <arch>-<first 8 hex digits of the SHA-256>.pth
    assert spec.filename == "resnet50-" + spec.sha256[:8] + ".pth"
    assert spec.url == "https://download.pytorch.org/models/" + spec.filename
    assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0


class _Server:
    """A local HTTP server on 127.0.0.1 serving fixed bodies per path."""

    def __init__(self, routes: dict[str, tuple[int, bytes, int | None]]) -> None:
        routes_ = routes

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                status, body, length = routes_.get(self.path, (404, b"not found", None))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def fake_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[bytes, bytes]]:
    """Replace the published ResNet-50 entry by a generated checkpoint (and its hash)."""
    import io

    buf = io.BytesIO()
    torch.save({"conv1.weight": torch.arange(12.0).reshape(1, 3, 2, 2)}, buf)
    good = buf.getvalue()
    sha = hashlib.sha256(good).hexdigest()
    spec = bw.WeightFile("resnet50", f"resnet50-{sha[:8]}.pth", "http://unused.invalid/x", sha, len(good))
    monkeypatch.setitem(bw.WEIGHTS, "resnet50", spec)
    monkeypatch.setenv("GOSS_WEIGHTS", str(tmp_path / "w"))
    wrong = bytes(reversed(good))
    yield good, wrong


def test_fetch_against_local_server(fake_registry: tuple[bytes, bytes], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    good, wrong = fake_registry
    spec = bw.WEIGHTS["resnet50"]
    routes = {"/good.pth": (200, good, None), "/wrong.pth": (200, wrong, None),
              "/short.pth": (200, good[:100], None), "/cut.pth": (200, good[:100], len(good))}
    target = tmp_path / "w" / spec.filename
    with _Server(routes) as srv:
        for path, rc, text in (("/missing.pth", 1, "HTTP 404"), ("/wrong.pth", 1, "does not match"),
                               ("/short.pth", 1, "expected"), ("/cut.pth", 1, "")):
            assert bw.main(["fetch", "resnet50", "--url", srv.url + path, "--timeout", "10"]) == rc
            err = capsys.readouterr().err
            assert err.strip().splitlines()[-1].startswith("error: ") and text in err
            assert not target.exists()
            assert not list((tmp_path / "w").iterdir())  # no partial file left behind
        assert bw.main(["fetch", "resnet50", "--url", srv.url + "/good.pth"]) == 0
        assert "SHA-256 verified" in capsys.readouterr().out
        assert target.read_bytes() == good
        # --dest puts it elsewhere
        assert bw.main(["fetch", "resnet50", "--url", srv.url + "/good.pth",
                        "--dest", str(tmp_path / "d")]) == 0
        assert (tmp_path / "d" / spec.filename).read_bytes() == good
        capsys.readouterr()
    assert bw.resolve_pretrained("imagenet") == target
    assert bw.main(["where", "resnet50"]) == 0
    assert capsys.readouterr().out.strip() == str(target)


def test_register_from_file(fake_registry: tuple[bytes, bytes], tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    good, wrong = fake_registry
    spec = bw.WEIGHTS["resnet50"]
    (tmp_path / "mine.pth").write_bytes(good)
    (tmp_path / "other.pth").write_bytes(wrong)
    assert bw.main(["fetch", "resnet50", "--from", str(tmp_path / "other.pth")]) == 2
    assert "does not match" in _one_error(capsys)
    assert bw.main(["fetch", "resnet50", "--from", str(tmp_path / "nope.pth")]) == 2
    assert "file not found" in _one_error(capsys)
    assert bw.main(["fetch", "resnet50", "--from", str(tmp_path / "mine.pth")]) == 0
    assert (tmp_path / "w" / spec.filename).read_bytes() == good
    # registering the file already in place is a no-op that still verifies it
    assert bw.main(["fetch", "resnet50", "--from", str(tmp_path / "w" / spec.filename)]) == 0
    assert bw.main(["fetch", "resnet99"]) == 2
    assert "unknown weights 'resnet99'" in _one_error(capsys)
    (tmp_path / "afile").write_text("x")
    assert bw.main(["fetch", "resnet50", "--from", str(tmp_path / "mine.pth"),
                    "--dest", str(tmp_path / "afile")]) == 2
    assert "afile" in _one_error(capsys)
    assert json.loads(json.dumps(spec.__dict__))  # plain data
