"""The three ways of training a model that `zoo.bench` compares, on the same data and batch size.

(a) the tutorial loop: an eager Python `for` loop over a `tf.data` dataset, `tf.GradientTape`
    and `optimizer.apply_gradients` per batch, no `tf.function`;
(b) plain Keras: `compile(optimizer, loss, metrics)` and `fit` with their defaults, fed by
    `tf.data` without cache or prefetch;
(a) and (b) get their data as the tutorials prepare it: float32 arrays, sliced, shuffled and
    batched by `tf.data`;
(c) the zoo: `zoo.train.fit` as users run it.

A window is one epoch of `steps` batches, after a warm-up epoch (tracing, compilation), and
times the training steps only, from the epoch's start to its last batch: the zoo's
end-of-epoch validation and checkpointing are outside it. (a) and (b) are functions that train
one epoch per call; `zoo_fit` trains a warm-up epoch and `windows` timed ones per call. So
`zoo.bench` runs one window of each in turn (a `zoo_fit` call per round), and the machine's
drift from one minute to the next does not fall on one of them.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator

import keras
import numpy as np

import zoo
from zoo.data import pipeline
from zoo.recipe import make_optimizer
from zoo.train import chunks


class EpochClock(keras.callbacks.Callback):
    """Seconds from each epoch's start to its last training batch."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = self._last = 0.0

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self._start = self._last = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None) -> None:
        self._last = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.seconds.append(self._last - self._start)


class BatchClock(keras.callbacks.Callback):
    """The last epoch's marks: when each of its `fit` steps ended (from the epoch's start, the
    first mark `(0.0, 0)`) and how many batches the epoch had trained by then."""

    def __init__(self) -> None:
        super().__init__()
        self.marks: list[tuple[float, int]] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self._start, self.marks = time.perf_counter(), [(0.0, 0)]

    def on_train_batch_end(self, batch, logs=None) -> None:
        seconds = time.perf_counter() - self._start
        self.marks.append((seconds, chunks.batches_done(self.model, batch)))


def steady_seconds_per_batch(marks: list[tuple[float, int]]) -> float:
    """Median seconds per batch between successive steps' ends, `marks` as `BatchClock` keeps
    them. The epoch's first step is left out: it also pays for the epoch's start (a fresh
    iterator, the pipeline's first element), once per epoch however long the epoch is."""
    rates = [(t1 - t0) / (b1 - b0) for (t0, b0), (t1, b1) in itertools.pairwise(marks[1:])
             if b1 > b0]
    if not rates:
        raise ValueError("need at least three marks (two steps) to leave out the first step")
    return statistics.median(rates)


def rate(seconds: list[float], samples_per_window: int) -> float:
    """Samples per second: the median window after the first (warm-up) one."""
    return samples_per_window / statistics.median(seconds[1:])


def _tf_dataset(x, y, batch_size: int):
    """The tutorials' input pipeline: float32 arrays, slices, a shuffle buffer, batches.

    Tutorials convert images to float32 before building the dataset; the values are kept in
    0-255 here because the zoo's models rescale inside, so all three ways compute the same.
    """
    import tensorflow as tf

    if x.dtype == np.uint8:
        x = x.astype(np.float32)
    data = x if y is None else (x, y)
    return tf.data.Dataset.from_tensor_slices(data).shuffle(len(x), seed=0).batch(batch_size)


def tutorial(name: str, x, y, batch_size: int) -> Callable[[], float]:
    """(a) An eager GradientTape loop: a function that trains one epoch and returns its seconds."""
    import tensorflow as tf

    model = zoo.get(name)  # compiled: its optimizer and (for classifiers) its loss
    task = zoo.card(name).task
    accuracy = keras.metrics.SparseCategoricalAccuracy() if task == "classification" else None
    ds = _tf_dataset(x, y, batch_size)

    def epoch() -> float:
        start = time.perf_counter()
        for batch in ds:
            xb, yb = batch if y is not None else (batch, None)
            if task == "generation":
                model._tensorflow_train_step(xb)  # the DCGAN tutorial's step, left eager
                continue
            with tf.GradientTape() as tape:
                pred = model(xb, training=True)
                loss = model.compute_loss(x=xb, y=yb, y_pred=pred)
            grads = tape.gradient(loss, model.trainable_weights)
            model.optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
            if accuracy is not None:
                accuracy.update_state(yb, pred)
        return time.perf_counter() - start

    return epoch


def plain_keras(name: str, x, y, batch_size: int) -> Callable[[], float]:
    """(b) `compile` + `fit` with Keras' defaults: a function that trains one epoch (one `fit`
    call; the compiled step is kept between calls) and returns its seconds."""
    card = zoo.card(name)
    model = zoo.get(name, compile=False)
    optimizer = make_optimizer(card.recipe)
    if card.task == "classification":
        model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
    elif card.task == "binary_classification":
        model.compile(optimizer, keras.losses.BinaryCrossentropy(from_logits=True),
                      metrics=["accuracy"])
    else:
        model.compile(optimizer)
    ds = _tf_dataset(x, y, batch_size)

    def epoch() -> float:
        clock = EpochClock()
        with warnings.catch_warnings():  # fit's default shuffle=True, ignored for tf.data
            warnings.filterwarnings("ignore", "`shuffle=True` was passed")
            model.fit(ds, epochs=1, callbacks=[clock], verbose=0)
        return clock.seconds[0]

    return epoch


def fit_seconds(model, x, y, batch_size: int, epochs: int, augment: bool = False,
                chunked: bool = True) -> list[float]:
    """Seconds per epoch of `model.fit` on the zoo's in-memory pipeline (shuffled batches), run
    as `zoo.train.fit` runs it: several batches per compiled step where it compiles the step
    with XLA and runs more than one per execution (`zoo.train.chunks`); without `chunked`,
    one batch per step, in Keras' own loop."""
    clock = EpochClock()
    train(model, x, y, batch_size, epochs, clock, augment, chunked)
    return clock.seconds


def train(model, x, y, batch_size: int, epochs: int, clock: keras.callbacks.Callback,
          augment: bool = False, chunked: bool = True) -> None:
    """`fit_seconds`' training, timed by `clock`."""
    ds, block = _training_data(model, x, y, batch_size, augment, chunked)
    with block:
        model.fit(ds, epochs=epochs, callbacks=[clock], verbose=0, shuffle=False)  # ds shuffles


@contextlib.contextmanager
def epoch_timer(model, x, y, batch_size: int, augment: bool = False,
                chunked: bool = True) -> Iterator[Callable[[], float]]:
    """Within the block, `epoch()` trains `model` one epoch as `fit_seconds` does, in a `fit`
    call of its own, and returns its seconds. The data and the chunked step are set up once for
    the block, so the compiled step is kept between calls: only the first call compiles it. For
    a benchmark that times `fit` in turn with other work, outside `fit`'s callbacks."""
    ds, block = _training_data(model, x, y, batch_size, augment, chunked)

    def epoch() -> float:
        clock = EpochClock()
        model.fit(ds, epochs=1, callbacks=[clock], verbose=0, shuffle=False)
        return clock.seconds[0]

    with block:
        yield epoch


def _training_data(model, x, y, batch_size: int, augment: bool, chunked: bool):
    """`(dataset, block)` for `model.fit`: `zoo.train.chunks.training_data` where `chunked`,
    else plain shuffled batches."""
    if chunked:
        return chunks.training_data(model, x, y, batch_size, shuffle=True, augment=augment)
    ds = pipeline.dataset(x, y, batch_size, shuffle=True, augment=augment)
    return ds, contextlib.nullcontext()


def steps_per_window(name: str, batch_size: int, window_seconds: float,
                     minimum: int = 8) -> int:
    """Steps that make a window of about `window_seconds` at the zoo's steady training rate.

    Timed on an epoch of at least `minimum` steps and four executions, after a warm-up epoch,
    between its steps' ends (`steady_seconds_per_batch`): the epoch's start is left out,
    which in an epoch of a few executions would pass for a slower rate and shrink the windows.
    At least `minimum` steps, and a multiple of the recipe's `steps_per_execution`, so every
    execution in a window is a whole one.
    """
    spe = zoo.card(name).recipe.steps_per_execution
    probe = max(minimum, 4 * spe)
    x, y = data(name, probe * batch_size)
    clock = BatchClock()
    train(zoo.get(name), x, y, batch_size, 2, clock)
    steps = max(minimum, round(window_seconds / steady_seconds_per_batch(clock.marks)))
    return -(-steps // spe) * spe if steps >= spe else steps


def zoo_fit(name: str, examples: int, batch_size: int, windows: int) -> list[float]:
    """(c) Seconds per epoch of `zoo.train.fit`, on the same synthetic data as (a) and (b)."""
    clock = EpochClock()
    with tempfile.TemporaryDirectory() as run_dir, contextlib.redirect_stdout(io.StringIO()):
        zoo.train.fit(name, epochs=windows + 1, batch_size=batch_size, validation=0.0,
                      source=f"synthetic:{examples}", run_dir=f"{run_dir}/run", verbose=0,
                      callbacks=[clock])
    return clock.seconds


def data(name: str, examples: int):
    """The training arrays all three loops use: synthetic data of the model's dataset shapes."""
    card = zoo.card(name)
    x, y = zoo.data.arrays(card.dataset, "train", validation=0.0, source=f"synthetic:{examples}")
    if card.task in ("reconstruction", "generation"):
        y = None
    return np.asarray(x), y
