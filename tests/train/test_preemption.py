"""SIGTERM and SIGINT save the run where it is (mid-epoch too); the resumed run ends as an
uninterrupted one does, batch for batch."""

from __future__ import annotations

import json
import os
import signal

import keras
import pytest

import zoo
from zoo.recipe import execution_settings
from zoo.train import chunks

# mnist_mlp runs 32 steps per execution: batch 8 on 1,800 training examples gives 225 batches an
# epoch, so a signal lands between executions, mid-epoch, and is acted on at the next one's end.
# Dropout makes the run draw random numbers, which the resumed run must draw alike.
ARGS = dict(model="mnist_mlp", epochs=3, batch_size=8, source="synthetic:2000", verbose=0,
            options={"dropout": 0.2})
STEPS = 225  # 1,800 training examples in batches of 8


def acted_on(epoch: int, batch: int, start: int = 0) -> tuple[int, int | None]:
    """Where a signal sent at the first batch end at or after `batch` is acted on.

    Callbacks see a batch end after each execution (32 steps under TensorFlow and JAX, one under
    PyTorch), counted from `start`, the batches a resumed epoch skipped; the signal is seen at
    the next batch end, or at the epoch's end if it came after its last batch.
    """
    recipe = zoo.card("mnist_mlp").recipe
    spe = execution_settings(recipe.jit_compile, recipe.steps_per_execution)["steps_per_execution"]
    ends = [min(start + k * spe, STEPS) for k in range(1, -(-(STEPS - start) // spe) + 1)]
    sent = next(i for i, end in enumerate(ends) if end >= batch)
    return (epoch, None) if sent + 1 == len(ends) else (epoch, ends[sent + 1])


class SignalAt(keras.callbacks.Callback):
    """Send this process `signum` at the end of batch `batch` of epoch `epoch` (1-based)."""

    def __init__(self, signum: int, epoch: int, batch: int | None) -> None:
        super().__init__()
        self.signum, self.epoch, self.batch = signum, epoch, batch
        self.current = 0
        self.chunked = False  # whether a step was several batches

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.current = epoch + 1

    def on_train_batch_end(self, batch, logs=None) -> None:
        done = chunks.batches_done(self.model, batch)  # batches, where a step is several
        self.chunked |= done != batch + 1
        if self.current == self.epoch and self.batch is not None and done >= self.batch:
            self.batch = None
            self.epoch = -1
            os.kill(os.getpid(), self.signum)


@pytest.fixture(autouse=True)
def _sigint_as_on_a_terminal():
    """SIGINT raises KeyboardInterrupt, as in a terminal, however the tests were started (a
    shell's background job, CI's among them, starts with SIGINT ignored, and stays so)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return zoo.train.fit(**ARGS, run_dir=tmp_path_factory.mktemp("reference") / "run")


def _same_run(run_dir, reference) -> None:
    state = json.loads((run_dir / "state.json").read_text())
    expected = json.loads((reference.run_dir / "state.json").read_text())
    assert "interrupted" not in state
    assert len(state["history"]) == len(expected["history"])
    for got, want in zip(state["history"], expected["history"], strict=True):
        assert got == pytest.approx(want, rel=1e-6)
    assert not list((run_dir / "checkpoints").glob("interrupted-*.keras"))
    metrics = json.loads((run_dir / "metrics.json").read_text())["test"]
    assert metrics == pytest.approx(reference.test_metrics, rel=1e-6)


@pytest.mark.parametrize(("signum", "epoch", "batch"), [
    (signal.SIGTERM, 2, 40), (signal.SIGINT, 1, STEPS), (signal.SIGTERM, 3, 1),
], ids=["sigterm-mid-epoch", "sigint-epoch-end", "sigterm-last-epoch"])
def test_signal_saves_and_the_resumed_run_matches(tmp_path, reference, signum, epoch, batch):
    saved = acted_on(epoch, batch)
    run_dir = tmp_path / "run"
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(zoo.train.TrainingInterrupted) as stop:
        zoo.train.fit(**ARGS, run_dir=run_dir, callbacks=[SignalAt(signum, epoch, batch)])
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    assert (stop.value.signum, stop.value.epoch, stop.value.batch) == (signum, *saved)
    assert f"--resume {run_dir}" in str(stop.value)
    state = json.loads((run_dir / "state.json").read_text())
    if saved[1] is None:
        assert state["epochs_done"] == saved[0] and "interrupted" not in state
    else:
        assert state["epochs_done"] == saved[0] - 1
        assert state["interrupted"]["batches_done"] == saved[1]
        assert [p.name for p in (run_dir / "checkpoints").glob("interrupted-*.keras")] == \
            [f"interrupted-e{saved[0]:04d}-b{saved[1]:06d}.keras"]
    zoo.train.fit(run_dir=run_dir, resume=True, verbose=0)
    _same_run(run_dir, reference)


@pytest.fixture(scope="module")
def compiled_reference(tmp_path_factory):
    """Without dropout, TensorFlow compiles the step with XLA and runs 32 batches in one call
    (zoo.train.chunks): 225 whole batches, so chunks end where executions do."""
    return zoo.train.fit(**{**ARGS, "options": {}},
                         run_dir=tmp_path_factory.mktemp("compiled") / "run")


@pytest.mark.parametrize("compiled", [False, True], ids=["dropout", "xla-chunks"])
def test_interrupted_twice_in_one_epoch(tmp_path, request, compiled):
    reference = request.getfixturevalue("compiled_reference" if compiled else "reference")
    args = {**ARGS, "options": {}} if compiled else ARGS
    run_dir = tmp_path / "run"
    signal_at = SignalAt(signal.SIGTERM, 2, 1)
    with pytest.raises(zoo.train.TrainingInterrupted) as stop:
        zoo.train.fit(**args, run_dir=run_dir, callbacks=[signal_at])
    assert signal_at.chunked == (compiled and keras.backend.backend() == "tensorflow")
    first = acted_on(2, 1)
    assert (stop.value.epoch, stop.value.batch) == first and first[1] is not None
    with pytest.raises(zoo.train.TrainingInterrupted) as stop:  # batches count from 1 again
        zoo.train.fit(run_dir=run_dir, resume=True, verbose=0,
                      callbacks=[SignalAt(signal.SIGTERM, 2, 1)])
    second = acted_on(2, first[1] + 1, start=first[1])
    assert (stop.value.epoch, stop.value.batch) == second and second[1] > first[1]
    zoo.train.fit(run_dir=run_dir, resume=True, verbose=0)
    _same_run(run_dir, reference)


def test_ignored_signal_stays_ignored(tmp_path):
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        result = zoo.train.fit(**{**ARGS, "epochs": 1}, run_dir=tmp_path / "run",
                               callbacks=[SignalAt(signal.SIGTERM, 1, 1)])
        assert result.test_metrics and signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)


@keras.saving.register_keras_serializable(package="zoo_tests")
class LargestLogit(keras.metrics.Metric):
    """A metric that keeps a maximum, not a running sum: it cannot be resumed mid-epoch."""

    def __init__(self, name="largest_logit", **kwargs):
        super().__init__(name=name, **kwargs)
        self.largest = self.add_variable(shape=(), initializer="zeros", name="largest")

    def update_state(self, y_true, y_pred, sample_weight=None):
        largest = keras.ops.convert_to_tensor(self.largest)
        self.largest.assign(keras.ops.maximum(largest, keras.ops.max(y_pred)))

    def result(self):
        return keras.ops.convert_to_tensor(self.largest)


def test_a_model_whose_metrics_cannot_resume_mid_epoch_stops_at_the_epoch_end(tmp_path):
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(10)(x), name="with_largest")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                           LargestLogit()])
    with pytest.raises(zoo.train.TrainingInterrupted) as stop:
        zoo.train.fit(model, "mnist", epochs=2, batch_size=8, source="synthetic:2000",
                      run_dir=tmp_path / "run", verbose=0,
                      callbacks=[SignalAt(signal.SIGTERM, 1, 1)])
    assert (stop.value.epoch, stop.value.batch) == (1, None)
    assert "interrupted" not in json.loads((tmp_path / "run" / "state.json").read_text())


class Seen(keras.callbacks.Callback):
    """Records the epoch ends and the train end that a callback placed after the zoo's sees."""

    def __init__(self) -> None:
        super().__init__()
        self.epochs: list[int] = []
        self.ended = False

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.epochs.append(epoch + 1)

    def on_train_end(self, logs=None) -> None:
        self.ended = True


def test_a_stop_at_an_epoch_end_lets_every_callback_see_that_epoch(tmp_path):
    """The stop once raised inside the zoo's callback: TensorBoard and the user's callbacks
    never saw the epoch it saved, and a resumed run never wrote its scalars."""
    run_dir, seen = tmp_path / "run", Seen()
    with pytest.raises(zoo.train.TrainingInterrupted) as stop:
        zoo.train.fit(**ARGS, run_dir=run_dir,
                      callbacks=[SignalAt(signal.SIGTERM, 1, STEPS), seen])
    assert (stop.value.epoch, stop.value.batch) == (1, None)
    assert seen.epochs == [1] and seen.ended
    assert epoch_scalars(run_dir, "train") == {0}  # TensorBoard logged the epoch it saved
    assert json.loads((run_dir / "state.json").read_text())["epochs_done"] == 1


def epoch_scalars(run_dir, writer: str) -> set[int]:
    """The steps of the `epoch_loss` scalars in a run's TensorBoard event files."""
    import tensorflow as tf

    steps = set()
    for events in (run_dir / "tensorboard" / writer).glob("events.out.tfevents*"):
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            steps |= {event.step for v in event.summary.value if v.tag == "epoch_loss"}
    return steps
