"""Several batches per compiled step (`zoo.train.chunks`): where TensorFlow compiles a model's
step with XLA, `zoo.train.fit` runs `steps_per_execution` batches in one call, and trains
exactly as one batch per step does."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

import zoo
from zoo.recipe import compile_model
from zoo.train import chunks

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="chunks run on TensorFlow only")


class StepEnds(keras.callbacks.Callback):
    """The batches trained at each of Keras' batch ends, per epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.ends: list[list[int]] = []

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.ends.append([])

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.ends[-1].append(chunks.batches_done(self.model, batch, self.params.get("steps")))


def mlp(jit: bool) -> keras.Model:
    card = zoo.card("mnist_mlp")
    recipe = dataclasses.replace(card.recipe, steps_per_execution=4, jit_compile=jit)
    # 600 examples, batch 32: 18 full batches and one of 24
    return compile_model(zoo.get("mnist_mlp", compile=False), card.task, recipe,
                         steps_per_epoch=19)


def train(tmp_path, jit: bool):
    keras.utils.set_random_seed(0)
    model, ends = mlp(jit), StepEnds()
    assert chunks.batches_per_step(model) == (4 if jit else 1)
    result = zoo.train.fit(model, "mnist", epochs=2, batch_size=32, source="synthetic:667",
                           run_dir=tmp_path / ("jit" if jit else "plain"), verbose=0,
                           callbacks=[ends])
    return model, result, ends.ends


def test_chunked_steps_train_as_one_batch_per_step(tmp_path):
    plain, plain_result, plain_ends = train(tmp_path, jit=False)
    model, result, ends = train(tmp_path, jit=True)
    # Keras' own steps_per_execution: a batch end per 4 steps; chunks: per chunk, and the
    # smaller last batch alone
    assert plain_ends == [[4, 8, 12, 16, 19]] * 2
    assert ends == [[4, 8, 12, 16, 18, 19]] * 2
    assert int(model.optimizer.iterations.numpy()) == 38
    for got, want in zip(model.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert result.test_metrics == pytest.approx(plain_result.test_metrics, rel=1e-4)
    # the model is as it was compiled: Keras' steps per execution, its own train_step
    assert model.steps_per_execution == 4 and "train_step" not in model.__dict__
    assert chunks.batches_done(model, 3, steps=19) == 4
    # and evaluates every batch with it (a step function left from the chunks would skip some)
    x = np.random.default_rng(0).integers(0, 256, (40, 28, 28, 1), dtype=np.uint8)
    predicted = np.argmax(model.predict(x, verbose=0), axis=-1)
    y = np.where(np.arange(40) < 16, predicted, (predicted + 1) % 10).astype(np.int32)
    evaluated = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    assert evaluated["accuracy"] == pytest.approx(16 / 40)

def test_a_chunked_step_that_fails_leaves_the_model_as_it_was():
    model = mlp(jit=True)
    with pytest.raises(RuntimeError, match="stop"), chunks.chunked(model, [4, 5]):
        assert model.steps_per_execution == 1 and model.train_step.ends == [4, 5]
        raise RuntimeError("stop")
    assert model.steps_per_execution == 4 and "train_step" not in model.__dict__
    with chunks.chunked(model, None):
        assert model.steps_per_execution == 4


def test_training_data_is_chunked_where_the_zoo_runs_several_batches_per_step():
    x = np.zeros((100, 28, 28, 1), np.uint8)
    y = np.zeros(100, np.int32)
    for jit, shape in ((True, [None, None, 28, 28, 1]), (False, [None, 28, 28, 1])):
        model = mlp(jit)
        data, block = chunks.training_data(model, x, y, 16, shuffle=True)
        assert data.element_spec[0].shape.as_list() == shape
        with block:
            assert model.steps_per_execution == (1 if jit else 4)
            assert chunks.batches_done(model, 0) == (4 if jit else 1)
            assert chunks.batches_done(model, 1) == (6 if jit else 2)  # 6 full, then 4 alone
            assert chunks.batches_done(model, 2) == (7 if jit else 3)
