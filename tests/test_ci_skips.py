"""Under CI, a real-data test that would skip is a failure: CI cannot pass without the data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_real_data_test(**env: str) -> subprocess.CompletedProcess:
    """`tests/data/test_real.py::test_mnist` with no ZOO_DATA_DIR, CI unset, and `env` added."""
    base = {k: v for k, v in os.environ.items() if k not in ("ZOO_DATA_DIR", "CI")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/data/test_real.py::test_mnist"],
        cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=300)


def test_a_real_data_test_skipped_under_ci_fails():
    result = run_real_data_test(CI="true")
    assert result.returncode != 0, result.stdout
    assert "skipped under CI, which must run it: Skipped: set ZOO_DATA_DIR" in result.stdout
    outside = run_real_data_test()
    assert outside.returncode == 0 and "1 skipped" in outside.stdout, outside.stdout
