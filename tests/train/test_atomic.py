"""A crash while a checkpoint or the run state is being written leaves the previous, complete
files in place; what a killed run left half-written is removed when the run resumes."""

from __future__ import annotations

import errno
import json
import os

import keras
import numpy as np
import pytest

import zoo
from tests.train.conftest import run_cli
from tests.train.test_fit import small_fit
from zoo import fileio


class Crash(RuntimeError):
    pass


def leftovers(run_dir):
    return sorted(p.name for p in run_dir.rglob(".*") if p.name != ".lock")


def crash_on_second(original, crash):
    """`original`, except that its second call runs `crash` instead."""
    calls = []

    def patched(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            crash(*args, **kwargs)
        return original(*args, **kwargs)

    return patched


def check_epoch_one_kept_and_resume(run) -> None:
    """After the crash: epoch 1's files, whole, and nothing half-written; resuming finishes."""
    assert json.loads((run / "state.json").read_text())["epochs_done"] == 1
    assert (run / "last.keras").read_bytes() == \
        (run / "checkpoints" / "epoch-0001.keras").read_bytes()
    assert leftovers(run) == []
    zoo.train.load(run / "last.keras")
    result = small_fit(run, resume=True)
    assert json.loads((run / "state.json").read_text())["epochs_done"] == 2
    assert result.history["loss"]


def test_a_crash_while_saving_a_checkpoint_keeps_the_last_good_one(tmp_path, monkeypatch):
    save = keras.Model.save

    def crash(self, path, *args, **kwargs):
        save(self, path, *args, **kwargs)
        with open(path, "r+b") as f:  # the file is half-written when the process dies
            f.truncate(1000)
        raise Crash("killed while saving")

    monkeypatch.setattr(keras.Model, "save", crash_on_second(save, crash))
    with pytest.raises(Crash):
        small_fit(tmp_path / "run")
    monkeypatch.undo()
    assert not (tmp_path / "run" / "checkpoints" / "epoch-0002.keras").exists()
    check_epoch_one_kept_and_resume(tmp_path / "run")


def test_a_full_disk_while_checkpointing_is_one_line_and_the_run_resumes(tmp_path, monkeypatch,
                                                                           capsys):
    save = keras.Model.save

    def full_disk(self, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"PK half a zip")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", crash_on_second(save, full_disk))
    run = tmp_path / "run"
    code, _, err = run_cli("mnist_mlp", "--epochs", "2", "--steps", "3", "--batch-size", "16",
                           "--synthetic",
                           "--run-dir", str(run), capsys=capsys)
    monkeypatch.undo()
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and "Traceback" not in err
    assert "No space left on device" in lines[0] and f"--resume {run}" in lines[0]
    assert not (run / "checkpoints" / "epoch-0002.keras").exists()
    check_epoch_one_kept_and_resume(run)


def test_a_crash_while_writing_the_state_keeps_the_previous_state(tmp_path, monkeypatch):
    def crash(path, text):
        with fileio.atomic_path(path) as tmp:
            tmp.write_text(text[: len(text) // 2])
            raise Crash("killed while writing the state")

    write_text = fileio.write_text
    writes = crash_on_second(write_text, crash)
    monkeypatch.setattr(fileio, "write_text", lambda path, text: (
        writes(path, text) if str(path).endswith("state.json") else write_text(path, text)))
    with pytest.raises(Crash):
        small_fit(tmp_path / "run")
    monkeypatch.undo()
    # epoch-0002.keras was saved before the state that would name it: resume redoes epoch 2.
    check_epoch_one_kept_and_resume(tmp_path / "run")


def test_resume_removes_files_a_killed_run_left_half_written(tmp_path):
    run = tmp_path / "run"
    small_fit(run)
    stale = [run / ".last.4242.partial.keras",
             run / "checkpoints" / ".epoch-0002.4242.partial.keras",
             run / ".state.json.x1y2.tmp", run / ".best.keras.4242.tmp",
             run / "samples" / ".epoch-0002.png.ab12.tmp"]
    for path in stale:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(np.random.default_rng(0).bytes(100))
    small_fit(run, resume=True)
    assert leftovers(run) == []


def test_files_written_atomically_get_the_mode_the_umask_gives(tmp_path):
    old = os.umask(0o022)
    try:
        run = small_fit(tmp_path / "run", epochs=1).run_dir
        for umask in (0o022, 0o077):
            os.umask(umask)
            fileio.write_text(tmp_path / f"{umask:o}.txt", "x")
            assert (tmp_path / f"{umask:o}.txt").stat().st_mode & 0o777 == 0o666 & ~umask
    finally:
        os.umask(old)
    for name in ("config.json", "state.json", "history.csv", "metrics.json", "curves.png",
                 "last.keras"):
        assert (run / name).stat().st_mode & 0o777 == 0o644, name
