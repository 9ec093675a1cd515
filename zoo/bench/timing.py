"""Steady-state throughput: warm up, then the median of several timed windows."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import keras
import numpy as np

import zoo


def median_rate(step: Callable[[], int], seconds: float, windows: int = 5,
                warmup: int = 3) -> float:
    """Items per second of `step` (which returns how many items it processed).

    `warmup` calls are not timed; then `windows` windows of about `seconds / windows` each are
    timed and the median rate is returned.
    """
    for _ in range(warmup):
        step()
    return statistics.median(window_rate(step, seconds / windows) for _ in range(windows))


def window_rate(step: Callable[[], int], seconds: float) -> float:
    """Items per second of `step` in one window: called until `seconds` have passed."""
    count, start = 0, time.perf_counter()
    while True:
        count += step()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count / elapsed


def random_inputs(name: str, n: int, seed: int = 0):
    """`(x, y)` of `n` random examples of model `name`'s input shape (`y` None where unused)."""
    rng = np.random.default_rng(seed)
    card = zoo.card(name)
    shape = card.output_shape if card.task == "generation" else card.input_shape
    if card.input_dtype == "int32":
        x = rng.integers(0, zoo.options(name).get("vocab_size", 100), (n, *shape), dtype=np.int32)
    else:
        x = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
    if card.task == "classification":
        return x, rng.integers(0, card.output_shape[-1], n).astype(np.int32)
    if card.task == "binary_classification":
        return x, rng.integers(0, 2, (n, 1)).astype(np.float32)
    return x, None


class _StepClock(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.times.append(time.perf_counter())


def fit_rate(model: keras.Model, x, y, batch_size: int, seconds: float, **fit_kwargs) -> float:
    """Training samples per second of `model.fit` on in-memory batches, after a warm-up epoch.

    The same data is fed from memory, so the input pipeline costs nothing here: this is the
    rate at which the model itself can consume examples.
    """
    steps = max(1, len(x) // batch_size)
    clock = _StepClock()
    model.fit(x, y, batch_size=batch_size, epochs=1, steps_per_epoch=steps, verbose=0,
              **fit_kwargs)  # warm-up: tracing and compilation
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=1, steps_per_epoch=steps, verbose=0,
              callbacks=[clock], **fit_kwargs)
    per_step = np.diff([start, *clock.times])
    if per_step.sum() < seconds:
        extra = int(np.ceil((seconds - per_step.sum()) / max(per_step.mean(), 1e-6)))
        reps = max(1, -(-extra // steps))
        clock.times.clear()
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch_size, epochs=reps, steps_per_epoch=steps, verbose=0,
                  callbacks=[clock], **fit_kwargs)
        per_step = np.diff([start, *clock.times])
    return batch_size / float(np.median(per_step))
