"""Interrupted runs resume where they stopped and end as an uninterrupted run does.

SIGKILL loses the epoch in progress (the run resumes after the last saved one); SIGINT and
SIGTERM save mid-epoch first."""

from __future__ import annotations

import json
import random
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


@pytest.mark.parametrize(("sig", "seed"), [(signal.SIGKILL, 0), (signal.SIGINT, 1),
                                           (signal.SIGTERM, 2), (signal.SIGTERM, 3)],
                         ids=["sigkill", "sigint", "sigterm", "sigterm-again"])
def test_interrupted_run_resumes_to_the_same_result(tmp_path, uninterrupted, sig, seed):
    """A real process signalled at a random moment of an epoch (after epoch 1 is saved)."""
    run = tmp_path / "run"
    process = spawn(*ARGS, *data_args(), "--run-dir", str(run))
    wait_for_epoch(run, 1, process)
    time.sleep(random.Random(seed).uniform(0.0, 0.5))  # into epoch 2 or 3 of 6
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    if sig == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
    else:  # saved where it was (mid-epoch, or the epoch just finished), then exit 128 + signal
        assert process.returncode == 128 + sig, err[-2000:]
        assert err.strip().splitlines()[-1].startswith(f"stopped by {sig.name}")
        assert f"continue with: python -m zoo.train --resume {run}" in err
    state = json.loads((run / "state.json").read_text())
    done = state["epochs_done"]
    assert 1 <= done < EPOCHS
    out = finish(spawn("--resume", str(run), *data_args()))
    if "interrupted" in state:
        where = state["interrupted"]
        assert where["epoch"] == done + 1 and 0 < where["batches_done"] < 200
        assert f"resuming in epoch {done + 1} after batch {where['batches_done']}" in out
    else:
        assert f"resuming after epoch {done}" in out
    _compare(run, uninterrupted)


def test_a_second_process_on_the_same_run_folder_is_refused(tmp_path):
    run = tmp_path / "run"
    first = spawn(*ARGS, *data_args(), "--run-dir", str(run))
    try:
        wait_for_epoch(run, 1, first)
        first.send_signal(signal.SIGSTOP)  # paused, the lock held, until the second is done
        second = spawn("--resume", str(run), *data_args())
        _, err = second.communicate(timeout=300)
        first.send_signal(signal.SIGCONT)
        assert second.returncode == 2, err[-2000:]
        last = err.strip().splitlines()[-1]  # before it: TensorFlow's start-up log lines
        assert last.startswith(f"error: run folder {run} is in use by pid {first.pid}")
        assert "Traceback" not in err
        assert first.poll() is None  # the first run goes on, its folder untouched
    finally:
        first.kill()
        first.wait()
