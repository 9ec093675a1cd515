"""Recipes: validation, schedules, the optimizer they build, and the smoothed sparse loss."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import zoo
from zoo.recipe import OneCycle, Recipe, SparseSmoothedCrossentropy, make_optimizer, make_schedule


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("optimizer", "adagrad", r"unknown optimizer 'adagrad'"),
        ("schedule", "cosin", r"did you mean 'cosine'"),
        ("learning_rate", 0.0, r"learning_rate must be a finite number in \(0"),
        ("learning_rate", float("nan"), r"learning_rate must be a finite number"),
        ("batch_size", 0, r"batch_size must be >= 1"),
        ("epochs", -3, r"epochs must be >= 1"),
        ("label_smoothing", 1.0, r"label_smoothing must be a finite number in \[0, 1\)"),
        ("clipnorm", -1.0, r"clipnorm must be a finite number in \[0"),
    ],
)
def test_bad_recipe_values_are_refused(field, value, message):
    with pytest.raises(zoo.ZooError, match=message):
        Recipe(**{field: value})


def test_replace_ignores_none_and_refuses_unknown_fields():
    recipe = Recipe(epochs=5)
    assert recipe.replace(epochs=None, batch_size=64) == Recipe(epochs=5, batch_size=64)
    with pytest.raises(zoo.ZooError, match="unknown recipe field"):
        recipe.replace(epoch=3)


def _lr(schedule, step):
    return float(keras.ops.convert_to_numpy(schedule(step)))


def test_schedules_follow_their_shapes():
    assert make_schedule(Recipe(schedule="cosine"), None) == 1e-3  # no step count: constant
    onecycle = make_schedule(Recipe(learning_rate=0.1, schedule="onecycle", epochs=10), 100)
    assert isinstance(onecycle, OneCycle)
    assert _lr(onecycle, 0) == pytest.approx(0.1 / 25)
    assert _lr(onecycle, 300) == pytest.approx(0.1)
    assert _lr(onecycle, 1000) == pytest.approx(0.1 / 1e4)
    assert _lr(onecycle, 150) < _lr(onecycle, 300) and _lr(onecycle, 600) < 0.1
    cosine = make_schedule(Recipe(learning_rate=0.1, schedule="cosine", warmup_epochs=1,
                                  epochs=10), 100)
    assert _lr(cosine, 100) == pytest.approx(0.1)
    assert _lr(cosine, 50) < 0.1 and _lr(cosine, 1000) == pytest.approx(0.0, abs=1e-6)
    step = make_schedule(Recipe(learning_rate=0.1, schedule="step", epochs=4), 10)
    assert [_lr(step, s) for s in (0, 25, 35)] == pytest.approx([0.1, 0.01, 0.001])
    restored = OneCycle.from_config(onecycle.get_config())
    assert _lr(restored, 450) == pytest.approx(_lr(onecycle, 450))


def test_weight_decay_spares_biases_and_normalisation():
    model = zoo.get("resnet20", compile=False)
    optimizer = make_optimizer(Recipe(optimizer="sgd", weight_decay=0.1, learning_rate=0.5))
    optimizer.build(model.trainable_variables)
    decayed = {v.path for v in model.trainable_variables if optimizer._use_weight_decay(v)}
    assert decayed and all("kernel" in path for path in decayed)
    assert not any(name in path for path in decayed for name in ("bias", "gamma", "beta"))


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop"])
def test_clipnorm_bounds_the_global_norm_of_each_step(name):
    """Two weights whose gradients have a global norm of 50: plain SGD at rate 1 moves them by
    the clipped gradient, norm 1, in the gradient's direction; every optimizer clips them."""
    recipe = Recipe(optimizer=name, learning_rate=1.0, clipnorm=1.0)
    assert "gradients clipped to a global norm of 1" in recipe.summary()
    assert "clipped" not in Recipe().summary()
    weights = [keras.Variable(np.zeros(2, "float32")), keras.Variable(np.zeros(1, "float32"))]
    grads = [np.array([30.0, 0.0], "float32"), np.array([40.0], "float32")]
    optimizer = make_optimizer(recipe)
    optimizer.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads], weights,
                                  strict=True))
    if name == "sgd":
        moved = np.concatenate([keras.ops.convert_to_numpy(w) for w in weights])
        np.testing.assert_allclose(moved, [-0.6, 0.0, -0.8], rtol=1e-5)
    assert optimizer.global_clipnorm == 1.0
    assert make_optimizer(Recipe(optimizer=name)).global_clipnorm is None


def test_smoothed_sparse_crossentropy_matches_dense_label_smoothing():
    logits = np.random.default_rng(0).normal(size=(6, 5)).astype("float32")
    labels = np.array([0, 1, 2, 3, 4, 0])
    got = SparseSmoothedCrossentropy(0.1)(labels, logits)
    want = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(
        np.eye(5)[labels], logits)
    assert float(got) == pytest.approx(float(want), rel=1e-6)
    model = zoo.get("mnist_mlp", compile=False)
    zoo.recipe.compile_model(model, "classification", Recipe(label_smoothing=0.1))
    assert isinstance(model.loss, SparseSmoothedCrossentropy)


def test_random_layers_turn_xla_off_on_a_tensorflow_cpu_unless_asked_for():
    """XLA draws Keras' random numbers slowly on a CPU (ThreeFry): a model with dropout or
    sampling trains without it there, unless `keep_jit` (jit_compile=True) asks for it."""
    from zoo.recipe import compile_model, draws_random, execution_settings

    assert draws_random(zoo.get("mnist_mlp", dropout=0.2, compile=False))
    assert draws_random(zoo.get("vae", compile=False))  # the sampling layer
    assert draws_random(zoo.get("dcgan", compile=False))  # dropout in the nested discriminator
    assert not draws_random(zoo.get("mnist_mlp", compile=False))
    assert not draws_random(zoo.get("resnet20", compile=False))
    recipe = zoo.card("mnist_mlp").recipe
    assert recipe.jit_compile  # the card's choice, measured fastest without dropout
    plain = compile_model(zoo.get("mnist_mlp", compile=False), "classification", recipe)
    dropout = compile_model(zoo.get("mnist_mlp", dropout=0.2, compile=False), "classification",
                            recipe)
    forced = compile_model(zoo.get("mnist_mlp", dropout=0.2, compile=False), "classification",
                           recipe, keep_jit=True)
    import tensorflow as tf

    gpu = bool(tf.config.list_physical_devices("GPU"))
    assert plain.jit_compile and forced.jit_compile and dropout.jit_compile == gpu
    assert dropout.steps_per_execution == recipe.steps_per_execution
    # JAX compiles every step whatever the layers
    assert execution_settings(True, 32, "jax", draws_random=True)["jit_compile"] is True
