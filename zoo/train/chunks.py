"""Several batches per compiled training step: the zoo's own loop around Keras' `train_step`.

With `steps_per_execution` N, Keras' TensorFlow trainer runs N steps per call of its training
function, but still one at a time: each is an iteration of a graph `while` loop that takes the
next batch from the iterator, checks it with `tf.cond`s and launches the XLA-compiled step. On a
small model that loop costs more than the step (benchmarks/NOTES.md: 1-3 ms on a 2-core CPU
against 1.2 ms for `fashion_mlp`'s whole step). So where TensorFlow compiles a model's step
with XLA on one device, `zoo.train.fit` feeds `fit` chunks of up to N batches
(`zoo.data.pipeline.dataset(chunk=N)`) and runs the model's own `train_step` on each batch of
a chunk inside one compiled `while` loop. The batches, their order and every update are those of
one batch per step; what changes is what Keras counts as a step: its progress bar and the
callbacks' batch hooks count chunks. `batches_done` turns a chunk's index back into batches.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import keras

from zoo.data import pipeline


class ChunkedStep:
    """A `train_step` that runs `step` on each batch of a chunk `[k, batch, ...]` in turn, and
    returns the logs of the last (Keras' metrics are running values over the epoch).

    `ends[i]` is the number of batches the epoch has trained after chunk `i`.
    """

    def __init__(self, step: Callable[[Any], dict], ends: Sequence[int]) -> None:
        self.step, self.ends = step, list(ends)

    def __call__(self, data):
        import tensorflow as tf

        count = tf.shape(tf.nest.flatten(data)[0])[0]

        def batch(i):
            return tf.nest.map_structure(lambda t: t[i], data)

        def body(i, logs):
            return i + 1, self.step(batch(i))

        first = self.step(batch(0))  # outside the loop: gives the logs' structure
        return tf.while_loop(lambda i, _: i < count, body, (tf.constant(1), first),
                             parallel_iterations=1)[1]


def batches_per_step(model: keras.Model) -> int:
    """How many batches `zoo.train.fit` runs per compiled step of `model`: its
    `steps_per_execution` where TensorFlow compiles its step with XLA outside any
    `tf.distribute` strategy (whose replicas split each element along its first axis), else 1."""
    if keras.backend.backend() != "tensorflow" or not model.jit_compile:
        return 1
    import tensorflow as tf

    return 1 if tf.distribute.has_strategy() else int(model.steps_per_execution)


@contextlib.contextmanager
def chunked(model: keras.Model, ends: Sequence[int] | None) -> Iterator[None]:
    """Within the block, `model.fit` takes chunks whose batch counts end at `ends` (None: plain
    batches, nothing changes): one chunk per Keras step, each batch trained by `model`'s own
    `train_step`. The model's `steps_per_execution` and `train_step` are put back after it."""
    if ends is None:
        yield
        return
    spe = model.steps_per_execution
    # Keras keeps its compiled functions: they loop over `steps_per_execution` steps.
    model.train_function = model.test_function = None
    model.steps_per_execution = 1
    model.train_step = ChunkedStep(model.train_step, ends)
    try:
        yield
    finally:
        del model.train_step
        model.steps_per_execution = spe
        model.train_function = model.test_function = None


# the arguments of `zoo.data.pipeline.dataset` that decide an epoch's layout
LAYOUT_ARGUMENTS = ("drop_remainder", "steps_per_epoch", "batch_multiple", "start_step")


def training_data(model: keras.Model, x, y, batch_size: int, **kwargs) -> tuple[Any, Any]:
    """`(dataset, context)`: one epoch of `zoo.data.pipeline.dataset(x, y, batch_size,
    **kwargs)` as `model` trains fastest on it, and the block to call `model.fit` on it in:
    chunks of `batches_per_step(model)` batches under `chunked`, or plain batches."""
    per_step = batches_per_step(model)
    data = pipeline.dataset(x, y, batch_size, chunk=per_step, **kwargs)
    if per_step == 1:
        return data, chunked(model, None)
    layout = pipeline.epoch_layout(len(x), batch_size, chunk=per_step, **{
        key: kwargs[key] for key in LAYOUT_ARGUMENTS if key in kwargs})
    return data, chunked(model, chunk_ends(layout))


def batches_done(model: keras.Model, batch: int, steps: int | None = None) -> int:
    """Batches a `fit` call has trained in the current epoch by the end of Keras' step `batch`
    (0-based; the last step of its execution): `batch + 1`, at most the epoch's `steps`, or
    where `chunked` runs several batches per step, the end of chunk `batch`."""
    step = getattr(model, "__dict__", {}).get("train_step")  # `model`: None before fit sets it
    ends = getattr(step, "ends", None)
    if ends is not None:
        return ends[min(batch, len(ends) - 1)]
    return min(batch + 1, steps or batch + 1)


def chunk_ends(layout: Sequence[tuple[int, int]]) -> list[int]:
    """Batches trained after each chunk of a `zoo.data.pipeline.chunks` layout."""
    ends, total = [], 0
    for _, count in layout:
        total += count
        ends.append(total)
    return ends
