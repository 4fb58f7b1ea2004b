"""goss_bench.allocator: glibc malloc thresholds set by the CLI and pool workers."""

from __future__ import annotations

import platform
import subprocess
import sys

from goss_bench import allocator


def test_tune_allocator_is_idempotent_and_reports_glibc() -> None:
    first = allocator.tune_allocator()
    assert allocator.tune_allocator() is first
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert first is True


def test_import_has_no_side_effect() -> None:
    code = "import goss_bench.allocator as a, goss_bench.scoring; print(a._done)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None"
