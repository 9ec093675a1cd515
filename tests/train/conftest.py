"""Helpers for the training tests: run the CLI in-process or as a real subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from zoo.train import cli


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch, request):
    """Each test runs in a folder of its own, with a cache of its own unless it is marked
    `session_cache`: those read the real archives through the session's cache, which decodes
    each once (CIFAR-10 took 38 s into an empty cache on two cores, 3 s from a filled one)."""
    if not request.node.get_closest_marker("session_cache"):
        monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def run_cli(*args: str, capsys=None) -> tuple[int, str, str]:
    """`python -m zoo.train ARGS` in this process: (exit status, stdout, stderr)."""
    code = cli.main(list(args))
    out, err = capsys.readouterr() if capsys else ("", "")
    return code, out, err


def _default_sigint() -> None:
    # A shell starts background jobs with SIGINT ignored, and Python then installs no
    # KeyboardInterrupt handler: give the child the default, as a terminal would.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(*args: str, **kwargs) -> subprocess.Popen:
    """`python -m zoo.train ARGS` as a child process (stdout and stderr captured as text)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "zoo.train", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=_default_sigint, **kwargs)


def data_args() -> list[str]:
    """Real MNIST when $ZOO_DATA_DIR has it, else synthetic data of the same shapes."""
    return [] if os.environ.get("ZOO_DATA_DIR") else ["--synthetic"]
