"""The callbacks a zoo run adds to Keras' own: the epoch recorder (checkpoints, state, history,
plots), the divergence watch, and the pre-emption saver (SIGINT, SIGTERM)."""

from __future__ import annotations

import math
import os
import shutil
import signal
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from zoo.errors import ZooError
from zoo.fileio import write_json
from zoo.train import chunks, plots, runs

SEED_STATE = "seed_generator_state"


def save_keras(model: keras.Model, path: Path) -> None:
    """`model.save(path)` atomically: written beside it under a temporary name, then renamed."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.partial.keras")
    try:
        model.save(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:  # a full disk, a folder gone: say what to do, keep the last good one
        raise OSError(err.errno, f"cannot save the checkpoint {path}: {err.strerror or err}; the "
                                 "last saved one is kept: free space, then continue the run "
                                 f"with: python -m zoo.train --resume {path.parent.parent}") from err
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


def random_state(model: keras.Model) -> dict[str, Any]:
    """What the model's random draws (dropout, sampling, noise) depend on, as JSON values.

    `.keras` files do not keep it, so a resumed run puts it back from `state.json` to draw the
    same random numbers an uninterrupted run would: the states of the model's seed generators
    and, under PyTorch (whose dropout draws from torch's global generator when the layer has no
    seed), that generator's state.
    """
    state: dict[str, Any] = {"seed_states": [np.asarray(v.numpy()).astype(int).tolist()
                                             for v in model.variables if SEED_STATE in v.path]}
    if keras.backend.backend() == "torch":
        import torch

        state["torch_rng_state"] = torch.random.get_rng_state().tolist()
    return state


def restore_random_state(model: keras.Model, state: dict[str, Any], *,
                         seeds: bool = True, torch_rng: bool = True) -> None:
    """Put back what `random_state` saved (missing parts are left as they are)."""
    variables = [v for v in model.variables if SEED_STATE in v.path] if seeds else []
    for variable, value in zip(variables, state.get("seed_states", []), strict=False):
        variable.assign(np.asarray(value, dtype=variable.dtype))
    if torch_rng and keras.backend.backend() == "torch" and state.get("torch_rng_state"):
        import torch

        torch.random.set_rng_state(torch.tensor(state["torch_rng_state"], dtype=torch.uint8))


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
            self.where = (self.epoch + 1,
                          chunks.batches_done(self.model, batch, self.params.get("steps")))
            self.model.stop_training = True


def drawn(path: Path, draw: Callable[[], Any]) -> bool:
    """Call `draw()`, which writes the picture at `path`; whether it did. A failure to draw is a
    warning: a plot is not worth a run (training goes on, a finished run is still tested)."""
    try:
        draw()
    except Exception as err:
        warnings.warn(f"could not draw {path}: {type(err).__name__}: {err}", stacklevel=3)
        return False
    return True


def draw_curves(run_dir: Path, history: list[dict[str, Any]]) -> bool:
    """Draw the run's `curves.png` from `history`; whether it was drawn (a failure warns)."""
    return drawn(run_dir / runs.CURVES, lambda: plots.curves(run_dir / runs.CURVES, history))


def curves_behind(run_dir: Path, state: dict[str, Any]) -> bool:
    """Whether `curves.png` lacks epochs of the run's history: it is missing, or its last epoch
    is not the history's (a kill before the drawing, a drawing that failed or was not due)."""
    history = state.get("history")
    return bool(history) and plots.drawn_to(run_dir / runs.CURVES) != history[-1]["epoch"]


class RunRecorder(keras.callbacks.Callback):
    """At the end of each good epoch: record it and make it resumable.

    In order: add the learning rate to the logs; append the epoch to the history; save the
    epoch's checkpoint; update `best.keras` when the monitored value improves; commit
    `state.json` (the resume point); point `last.keras` at the checkpoint; rewrite
    `history.csv`; redraw `curves.png` if `CURVES_EVERY_S` seconds have passed since it was
    last drawn; draw the sample grid, if the run has one. `draw_curves()` draws the epochs not
    yet drawn: the run calls it when training stops, however it stops. A failure to draw the
    curves or a grid is a warning, and training goes on.
    """

    # Drawing the curves takes 0.2-0.4 s: beside epochs of a second or two (mnist_mlp's on a GPU)
    # a redraw after every epoch was a real share of the run; beside epochs of minutes, nothing.
    CURVES_EVERY_S = 30.0

    def __init__(self, run_dir: Path, state: dict[str, Any], monitor: str, mode: str,
                 watch: DivergenceWatch,
                 sampler: Callable[[keras.Model], np.ndarray] | None = None) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.state = state
        self.monitor, self.mode = monitor, mode
        self.watch = watch
        self.sampler = sampler
        # a resumed run redraws what a kill may have left undrawn
        self._curves_drawn_at = time.monotonic()
        self._curves_behind = curves_behind(run_dir, state)
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)

    def draw_curves(self, *, unless_recent: bool = False) -> None:
        """Draw `curves.png` from the history, if it has epochs not drawn yet; `unless_recent`:
        only if `CURVES_EVERY_S` seconds have passed since it was last drawn (or tried: a failure
        is a warning, and is tried again no sooner)."""
        if not self._curves_behind or (
                unless_recent and time.monotonic() - self._curves_drawn_at < self.CURVES_EVERY_S):
            return
        drawn = draw_curves(self.run_dir, self.state.get("history", []))
        self._curves_drawn_at, self._curves_behind = time.monotonic(), not drawn

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
                          **random_state(self.model))
        resumed_from = self.state.pop("interrupted", None)  # this epoch is whole now
        write_json(self.run_dir / runs.STATE, self.state)
        link_or_copy(checkpoint, self.run_dir / runs.LAST)
        if resumed_from:
            (self.run_dir / resumed_from["checkpoint"]).unlink(missing_ok=True)
        if previous and previous != self.state["checkpoint"]:
            (self.run_dir / previous).unlink(missing_ok=True)
        runs.write_history_csv(self.run_dir / runs.HISTORY, history)
        self._curves_behind = True
        self.draw_curves(unless_recent=True)
        if self.sampler is not None:  # like the curves, a grid that fails to draw warns
            grid = self.run_dir / "samples" / f"epoch-{epoch + 1:04d}.png"
            drawn(grid, lambda: plots.save_image(grid, self.sampler(self.model)))


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on SIGINT or SIGTERM after saving where it was; `--resume` continues it.

    A `KeyboardInterrupt`, so a script that lets Ctrl-C end it behaves as before. `signum` is the
    signal, `run_dir` the run folder, `epoch` (1-based) and `batch` where the saved state is.
    """

    def __init__(self, signum: int, run_dir: Path, epoch: int, batch: int | None) -> None:
        self.signum, self.run_dir, self.epoch, self.batch = signum, run_dir, epoch, batch
        where = (f"after epoch {epoch}" if batch is None
                 else f"in epoch {epoch} after batch {batch}")
        super().__init__(f"stopped by {signal.Signals(signum).name} {where}, saved in {run_dir}; "
                         f"continue with: python -m zoo.train --resume {run_dir}")


class RunAborted(KeyboardInterrupt):
    """Training stopped at once (a second Ctrl-C, or one outside the batches): what is kept.

    A `KeyboardInterrupt` that names the run folder and says whether it can be resumed: it
    keeps the epochs finished before it (and a signal's mid-epoch save, if one came first).
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        state = runs.read_json(run_dir / runs.STATE) if (run_dir / runs.STATE).exists() else {}
        done = int(state.get("epochs_done", 0))
        kept = [f"epochs 1-{done}" if done > 1 else "epoch 1"] if done else []
        if state.get("interrupted"):
            kept.append(f"the part of epoch {state['interrupted']['epoch']} a signal saved")
        resume = f"python -m zoo.train --resume {run_dir}"
        if kept:
            super().__init__(f"interrupted: {' and '.join(kept)} saved in {run_dir}; continue "
                             f"with: {resume}")
        elif (run_dir / runs.CONFIG).exists():
            super().__init__(f"interrupted before an epoch finished: {resume} starts the run "
                             "in it again from epoch 1")
        else:
            super().__init__(f"interrupted before training started: {run_dir} holds nothing "
                             "to resume")


class Preemption(keras.callbacks.Callback):
    """On SIGINT or SIGTERM: save the run where it is, then stop with `TrainingInterrupted`.

    Cluster schedulers send SIGTERM some seconds before they kill a job. The signal only sets a
    flag; at the end of the batch being trained (or of the epoch, once its checkpoint is saved)
    the callback writes the weights, the optimizer, the metrics so far and the random seed
    states to `checkpoints/interrupted-e<epoch>-b<batch>.keras` and `state.json`, so the
    resumed run skips the batches already trained and ends exactly as an uninterrupted one. A
    second Ctrl-C stops at once (Python's `KeyboardInterrupt`, keeping the last finished epoch).
    Put it after the `RunRecorder` in the callback list. A stop at an epoch's end lets `fit`
    return; call `raise_if_stopped()` after it.

    With `agree` (multi-worker runs: `agree(signum)` is the signal any worker got, or None, a
    collective every worker calls), the stop waits for the end of the epoch, where the workers
    agree on it, so that all of them stop after the same checkpoint.
    """

    PATTERN = "checkpoints/interrupted-e{epoch:04d}-b{batch:06d}.keras"

    def __init__(self, run_dir: Path, state: dict[str, Any], first_batch: int = 0,
                 agree: Callable[[int | None], int | None] | None = None) -> None:
        super().__init__()
        self.run_dir, self.state = run_dir, state
        self.first_batch = first_batch  # batches of the current epoch trained before this fit
        self.agree = agree
        self.signum: int | None = None
        self.epoch = 0
        self.stopped: TrainingInterrupted | None = None

    def request(self, signum: int, frame=None) -> None:
        """Signal handler: ask for a stop at the next batch end."""
        self.signum = signum
        if signum == signal.SIGINT:  # a second Ctrl-C interrupts at once
            signal.signal(signal.SIGINT, signal.default_int_handler)

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None) -> None:
        if self.agree is not None:
            return  # several workers: they agree on a stop at the epoch's end
        if self.signum is None or batch + 1 >= (self.params.get("steps") or math.inf):
            return  # the epoch's last batch: on_epoch_end stops once its checkpoint is saved
        if self.model.stop_training or not finite(logs):
            return  # a diverged batch: the divergence watch stops the run, nothing is saved
        if not running_sums(self.model):
            return  # its metrics could not be resumed mid-epoch: stop at the epoch's end
        done = self.first_batch + chunks.batches_done(self.model, batch)
        if hasattr(self.model, "jax_state_sync"):
            self.model.jax_state_sync()  # JAX keeps the training state outside the model
        randomness = random_state(self.model)  # before saving, which may draw from it
        # A new file for every save, named in state.json only once whole: a process killed
        # during a second save leaves the first one and the state that describes it.
        name = self.PATTERN.format(epoch=self.epoch + 1, batch=done)
        save_keras(self.model, self.run_dir / name)
        previous = (self.state.get("interrupted") or {}).get("checkpoint")
        self.state["interrupted"] = {
            "epoch": self.epoch + 1, "batches_done": done, "checkpoint": name, **randomness,
            "metrics": [np.asarray(keras.ops.convert_to_numpy(v)).tolist()
                        for v in self.model.metrics_variables]}
        write_json(self.run_dir / runs.STATE, self.state)
        if previous and previous != name:
            (self.run_dir / previous).unlink(missing_ok=True)
        raise TrainingInterrupted(self.signum, self.run_dir, self.epoch + 1, done)

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.first_batch = 0
        signum = self.signum
        if self.agree is not None:
            signum = self.agree(signum)  # every worker calls it, signalled or not
        if signum is not None and self.state.get("epochs_done") == epoch + 1:
            # fit ends as after its last epoch: the callbacks after this one (TensorBoard, the
            # user's, Keras' progress line) see the epoch, and on_train_end closes their files
            self.stopped = TrainingInterrupted(signum, self.run_dir, epoch + 1, None)
            self.model.stop_training = True

    def raise_if_stopped(self) -> None:
        """After `fit` returns: the `TrainingInterrupted` of a stop at an epoch's end, if any."""
        if self.stopped is not None:
            raise self.stopped


class ResumeState(keras.callbacks.Callback):
    """As a resumed run's first epoch begins: put back its random state and, for an epoch that a
    signal interrupted, the metric totals that epoch had reached.

    Both wait for the epoch to begin because `fit` may first build the model by running it
    (which draws random numbers). Under PyTorch, starting an epoch's data loader draws from
    torch's generator too: mid-epoch, the state saved after that draw is put back once the
    loader has started, before the first batch. JAX and PyTorch build the metrics before the epoch begins: the
    saved values are assigned then. TensorFlow builds them with the first step; the saved
    values are then added to what that step counted (every zoo metric is a running sum: a total
    and a count), which equals the uninterrupted run's totals up to float rounding.
    """

    def __init__(self, where: dict[str, Any], metrics: list | None = None) -> None:
        super().__init__()
        self.where, self.values = where, metrics
        self.started = False
        self.mid_epoch = metrics is not None

    def on_epoch_begin(self, epoch, logs=None) -> None:
        if self.started:
            return
        self.started = True
        restore_random_state(self.model, self.where, torch_rng=self.values is None)
        variables = self.model.metrics_variables
        if self.values is not None and len(variables) == len(self.values):
            for variable, value in zip(variables, self.values, strict=True):
                variable.assign(np.asarray(value, dtype=variable.dtype))
            self.values = None

    def on_train_batch_begin(self, batch, logs=None) -> None:
        if self.mid_epoch:
            self.mid_epoch = False
            restore_random_state(self.model, self.where, seeds=False)

    def on_train_batch_end(self, batch, logs=None) -> None:
        if self.values is None:
            return
        values, self.values = self.values, None
        if not running_sums(self.model):
            raise ZooError("cannot resume mid-epoch: a metric of this model is not a running sum")
        variables = self.model.metrics_variables
        if len(variables) != len(values):
            raise ZooError(f"cannot resume: the interrupted epoch saved {len(values)} metric "
                           f"values, the model has {len(variables)}")
        for variable, value in zip(variables, values, strict=True):
            variable.assign(keras.ops.convert_to_numpy(variable) + np.asarray(value, variable.dtype))


def running_sums(model: keras.Model) -> bool:
    """Whether every metric of `model` is a running sum (a mean's total and count, a sum)."""
    additive = (keras.metrics.Mean, keras.metrics.Sum)
    return all(isinstance(m, additive) or not m.variables for m in _flat_metrics(model))


def _flat_metrics(model: keras.Model) -> list:
    """The model's metrics, with compiled metric containers opened up."""
    out = []
    for metric in model.metrics:
        inner = getattr(metric, "metrics", None)
        out.extend(inner if isinstance(inner, list) else [metric])
    return out
