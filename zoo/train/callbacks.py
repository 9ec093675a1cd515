"""The callbacks a zoo run adds to Keras' own: the epoch recorder (checkpoints, state, history,
plots) and the divergence watch."""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from zoo.fileio import write_json
from zoo.train import plots, runs

SEED_STATE = "seed_generator_state"


def save_keras(model: keras.Model, path: Path) -> None:
    """`model.save(path)` atomically: written beside it under a temporary name, then renamed."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.partial.keras")
    try:
        model.save(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def link_or_copy(source: Path, target: Path) -> None:
    """Make `target` the same file as `source`, atomically (a hard link, or a copy where links fail)."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def seed_states(model: keras.Model) -> list[list[int]]:
    """The states of the model's random seed generators (dropout, sampling, noise).

    `.keras` files do not keep them, so a resumed run restores them from `state.json` to draw
    the same random numbers an uninterrupted run would.
    """
    return [np.asarray(v.numpy()).astype(int).tolist()
            for v in model.variables if SEED_STATE in v.path]


def restore_seed_states(model: keras.Model, states: list[list[int]]) -> None:
    """Put back seed generator states saved by `seed_states`."""
    variables = [v for v in model.variables if SEED_STATE in v.path]
    for variable, state in zip(variables, states, strict=False):
        variable.assign(np.asarray(state, dtype=variable.dtype))


def finite(logs: dict[str, Any] | None) -> bool:
    """Whether every number in `logs` is finite."""
    return all(math.isfinite(float(v)) for v in (logs or {}).values()
               if isinstance(v, (int, float, np.floating, np.integer)) or np.ndim(v) == 0)


class EpochCounter(keras.callbacks.Callback):
    """Holds the current epoch in a variable that the training dataset reads at each epoch's start.

    With it, epoch `e` is ordered and augmented from `(seed, e)` whichever process runs it.
    """

    def __init__(self, start: int) -> None:
        import tensorflow as tf

        super().__init__()
        self.variable = tf.Variable(start, dtype=tf.int64, trainable=False)

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.variable.assign(epoch)


class DivergenceWatch(keras.callbacks.Callback):
    """Stops training at the first batch whose loss or metrics are NaN or infinite.

    Like Keras' `TerminateOnNaN`, but it remembers where, so the run can say so and the recorder
    can refuse to save the broken weights.
    """

    def __init__(self) -> None:
        super().__init__()
        self.epoch = 0
        self.where: tuple[int, int] | None = None

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None) -> None:
        if self.where is None and not finite(logs):
            self.where = (self.epoch + 1, batch + 1)
            self.model.stop_training = True


class RunRecorder(keras.callbacks.Callback):
    """At the end of each good epoch: record it and make it resumable.

    In order: add the learning rate to the logs; append the epoch to the history; save the
    epoch's checkpoint; update `best.keras` when the monitored value improves; commit
    `state.json` (the resume point); point `last.keras` at the checkpoint; rewrite
    `history.csv` and `curves.png`; draw the sample grid, if the run has one.
    """

    def __init__(self, run_dir: Path, state: dict[str, Any], monitor: str, mode: str,
                 watch: DivergenceWatch,
                 sampler: Callable[[keras.Model], np.ndarray] | None = None) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.state = state
        self.monitor, self.mode = monitor, mode
        self.watch = watch
        self.sampler = sampler
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)

    def _improved(self, value: float | None) -> bool:
        best = self.state.get("best_value")
        if value is None or not math.isfinite(value):
            return False
        return best is None or (value > best if self.mode == "max" else value < best)

    def on_epoch_end(self, epoch, logs=None) -> None:
        if self.watch.where is not None or not finite(logs):
            return  # never checkpoint weights from a diverged epoch
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in logs.items()}}
        history = [*self.state.get("history", []), row]
        checkpoint = self.run_dir / "checkpoints" / f"epoch-{epoch + 1:04d}.keras"
        save_keras(self.model, checkpoint)
        value = row.get(self.monitor)
        if self._improved(value):
            link_or_copy(checkpoint, self.run_dir / runs.BEST)
            self.state.update(best_value=value, best_epoch=epoch + 1)
        previous = self.state.get("checkpoint")
        self.state.update(epochs_done=epoch + 1, history=history,
                          checkpoint=str(checkpoint.relative_to(self.run_dir)),
                          seed_states=seed_states(self.model))
        write_json(self.run_dir / runs.STATE, self.state)
        link_or_copy(checkpoint, self.run_dir / runs.LAST)
        if previous and previous != self.state["checkpoint"]:
            (self.run_dir / previous).unlink(missing_ok=True)
        runs.write_history_csv(self.run_dir / runs.HISTORY, history)
        plots.curves(self.run_dir / "curves.png", history)
        if self.sampler is not None:
            plots.save_image(self.run_dir / "samples" / f"epoch-{epoch + 1:04d}.png",
                             self.sampler(self.model))
