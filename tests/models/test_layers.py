"""The zoo's own layers against the Keras layers they stand in for."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import zoo
from zoo.models.layers import FusedBatchNormalization
from zoo.train import core


def _pair(shape, **kwargs):
    """A Keras batch normalisation and the zoo's fused one, built alike with equal weights."""
    ours, theirs = FusedBatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)
    for layer in (ours, theirs):
        layer.build(shape)
    rng = np.random.default_rng(0)
    weights = [rng.normal(1.0, 0.2, w.shape).astype("float32") for w in theirs.get_weights()]
    weights[-1] = np.abs(weights[-1])  # the moving variance
    for layer in (ours, theirs):
        layer.set_weights(weights)
    return ours, theirs


def _train_step(layer, x, upstream):
    """Outputs in training mode and, on TensorFlow, the gradients for the input and weights."""
    if keras.backend.backend() != "tensorflow":
        return [keras.ops.convert_to_numpy(layer(x, training=True))]
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(tf.cast(y, "float32") * upstream)
    grads = tape.gradient(loss, [x, *layer.trainable_variables])
    return [y.numpy(), *(g.numpy() for g in grads)]


@pytest.mark.parametrize("kwargs", [{"momentum": 0.9}, {"center": False, "scale": False},
                                    {"epsilon": 1e-5, "axis": -1}])
def test_fused_batch_norm_trains_as_keras_does(kwargs):
    """Same outputs, gradients and moving statistics as Keras' layer; inference too."""
    shape = (8, 5, 6, 4)
    x = np.random.default_rng(1).normal(3.0, 2.0, shape).astype("float32")
    upstream = np.random.default_rng(2).normal(size=shape).astype("float32")
    ours, theirs = _pair(shape, **kwargs)
    for _ in range(2):  # the moving statistics move alike, step after step
        for mine, keras_value in zip(_train_step(ours, x, upstream),
                                     _train_step(theirs, x, upstream), strict=True):
            np.testing.assert_allclose(mine, keras_value, rtol=1e-4, atol=1e-4)
        for mine, keras_value in zip(ours.get_weights(), theirs.get_weights(), strict=True):
            np.testing.assert_allclose(mine, keras_value, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(x, training=False)),
                               keras.ops.convert_to_numpy(theirs(x, training=False)), atol=1e-5)


def test_fused_batch_norm_in_bfloat16_and_on_other_ranks():
    with core.dtype_policy("mixed_bfloat16"):
        ours, theirs = _pair((8, 4, 4, 3))
        flat_ours, flat_theirs = _pair((8, 3))  # 2-D: Keras' own path
    x = np.random.default_rng(3).normal(size=(8, 4, 4, 3)).astype("float32")
    mine, keras_value = ours(x, training=True), theirs(x, training=True)
    assert keras.backend.standardize_dtype(mine.dtype) == "bfloat16"
    assert keras.backend.standardize_dtype(keras_value.dtype) == "bfloat16"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.cast(mine, "float32")),
                               keras.ops.convert_to_numpy(keras.ops.cast(keras_value, "float32")),
                               atol=0.05)
    np.testing.assert_allclose(ours.get_weights()[-1], theirs.get_weights()[-1], rtol=1e-5)
    flat = x.reshape(8, -1)[:, :3]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras.ops.cast(flat_ours(flat, training=True), "float32")),
        keras.ops.convert_to_numpy(keras.ops.cast(flat_theirs(flat, training=True), "float32")))


@pytest.mark.parametrize("policy", ["float64", "bfloat16", "float16"])
def test_fused_batch_norm_leaves_other_dtypes_to_keras(policy):
    """The fused kernels take no float64, nor 16-bit statistics: Keras' own path trains them."""
    with core.dtype_policy(policy):
        ours, theirs = _pair((4, 3, 3, 2))
    x = np.random.default_rng(4).normal(size=(4, 3, 3, 2))
    mine, keras_value = ours(x, training=True), theirs(x, training=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.cast(mine, "float32")),
                               keras.ops.convert_to_numpy(keras.ops.cast(keras_value, "float32")))


def test_models_with_batch_norm_use_the_fused_layer():
    for name in ("resnet20", "resnet18", "vgg13_bn", "dcgan"):
        model = zoo.get(name, compile=False)
        walk = model.generator.layers if name == "dcgan" else model.layers
        norms = [layer for layer in walk if isinstance(layer, keras.layers.BatchNormalization)]
        assert norms and all(isinstance(n, FusedBatchNormalization) for n in norms), name
