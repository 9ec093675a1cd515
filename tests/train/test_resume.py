"""Interrupted runs resume from their last completed epoch and end as an uninterrupted run does."""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.train.conftest import data_args, spawn

pytestmark = pytest.mark.slow  # the full tier: python -m pytest --full

# Long enough that the run is still going when the signal comes, even on a loaded machine:
# the signal is sent once epoch 1 is saved, with five epochs of 200 steps still to go.
EPOCHS = 6
ARGS = ["mnist_mlp", "--epochs", str(EPOCHS), "--steps", "200", "--option", "dropout=0.2",
        "--verbose", "2"]


def wait_for_epoch(run_dir, epoch: int, process, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    state = run_dir / "state.json"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"training ended early: {process.stderr.read()[-2000:]}")
        if state.exists():
            try:
                if json.loads(state.read_text())["epochs_done"] >= epoch:
                    return
            except (ValueError, KeyError):
                pass  # a reader can never see a half-written file, but be safe
        time.sleep(0.05)
    pytest.fail(f"epoch {epoch} was not saved within {timeout} s")


def finish(process) -> str:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]
    return out


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run = tmp_path_factory.mktemp("reference") / "run"
    finish(spawn(*ARGS, *data_args(), "--run-dir", str(run)))
    return run


def _compare(run, reference) -> None:
    state = json.loads((run / "state.json").read_text())
    expected = json.loads((reference / "state.json").read_text())
    assert state["epochs_done"] == EPOCHS
    assert [row["epoch"] for row in state["history"]] == list(range(1, EPOCHS + 1))
    for got, want in zip(state["history"], expected["history"], strict=True):
        assert got == pytest.approx(want, rel=1e-5, abs=1e-6)
    got = json.loads((run / "metrics.json").read_text())["test"]
    want = json.loads((reference / "metrics.json").read_text())["test"]
    assert got == pytest.approx(want, rel=1e-5, abs=1e-6)
    assert (run / "history.csv").read_text().count("\n") == EPOCHS + 1


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["sigkill", "sigint"])
def test_interrupted_run_resumes_to_the_same_result(tmp_path, uninterrupted, sig):
    run = tmp_path / "run"
    process = spawn(*ARGS, *data_args(), "--run-dir", str(run))
    wait_for_epoch(run, 1, process)
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    if sig == signal.SIGINT:
        assert process.returncode == 130 and "continue with --resume" in err
    else:
        assert process.returncode == -signal.SIGKILL
    done = json.loads((run / "state.json").read_text())["epochs_done"]
    assert 1 <= done < EPOCHS
    out = finish(spawn("--resume", str(run), *data_args()))
    assert f"resuming after epoch {done}" in out
    _compare(run, uninterrupted)
