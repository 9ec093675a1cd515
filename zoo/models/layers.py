"""Small building blocks shared by the model families: pixel inputs and the zoo's custom layers."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import keras
import numpy as np
from keras import layers, ops

from zoo.errors import ZooError


def pixel_input(
    input_shape: Sequence[int],
    mean: Sequence[float] | float | None = None,
    std: Sequence[float] | float | None = None,
    name: str = "pixels",
) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """An input of raw pixels (0-255) and its rescaled tensor.

    With `mean` and `std` (fractions of 255, per channel or scalar) the pixels are standardised,
    otherwise scaled to [0, 1]. Returns `(inputs, rescaled)`.
    """
    inputs = keras.Input(shape=tuple(input_shape), name=name)
    channels = len(_as_list(mean)) if mean is not None else 1
    if channels > 1 and input_shape[-1] != channels:
        raise ZooError(f"input_shape {tuple(input_shape)} has {input_shape[-1]} channel(s); "
                       f"this model standardises {channels}, with its dataset's per-channel "
                       f"statistics: give input_shape {channels} channels")
    if mean is None:
        return inputs, layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    scale = [1.0 / (255.0 * s) for s in _as_list(std)]
    offset = [-m / s for m, s in zip(_as_list(mean), _as_list(std), strict=True)]
    if len(scale) == 1:
        scale, offset = scale[0], offset[0]
    return inputs, layers.Rescaling(scale, offset=offset, name="standardize")(inputs)


def warn_unit_floats(model_name: str, x) -> None:
    """Warn when `x`, images for a model of raw pixels (0-255), are floats no larger than 1.

    The model rescales inside, so such images reach it nearly black: an autoencoder then learns
    to output black at a deceptively small loss, and a GAN learns black images. NumPy arrays,
    backend tensors and what NumPy can read (a PyTorch CPU tensor, a JAX array) are checked,
    by their minimum and maximum; a `tf.data` pipeline or generator is not read ahead for it,
    and an all-black batch is not warned about.
    """
    if ops.is_tensor(x):
        if not math.prod(x.shape) or not _is_float(x.dtype):
            return
        low, high = float(ops.min(x)), float(ops.max(x))
    elif hasattr(x, "__array__"):
        try:
            x = np.asarray(x)
        except (TypeError, RuntimeError, ValueError):  # a tensor on another framework's GPU
            return
        if not x.size or not _is_float(x.dtype):
            return
        low, high = float(np.min(x)), float(np.max(x))
    else:
        return
    if 0 < high <= 1.0:
        warnings.warn(f"{model_name} takes raw pixels (0-255) and rescales them itself, but "
                      f"these images are floats within [{low:.3g}, {high:.3g}]: pass the uint8 "
                      "images (or multiply [0, 1] images by 255), or the model sees them nearly "
                      "black", UserWarning, stacklevel=3)


def _is_float(dtype) -> bool:
    return keras.backend.standardize_dtype(dtype).startswith(("float", "bfloat"))


class RawPixels:
    """For a `keras.Model` subclass that trains on raw pixels: `fit` (its `validation_data`
    too) and `evaluate` warn about images already scaled down (`warn_unit_floats`)."""

    def fit(self, x=None, *args, **kwargs):
        warn_unit_floats(self.name, x)
        validation = kwargs.get("validation_data")
        if isinstance(validation, (tuple, list)) and validation:
            warn_unit_floats(self.name, validation[0])
        return super().fit(x, *args, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        if not kwargs.get("_use_cached_eval_dataset"):  # fit's validation pass: checked in fit
            warn_unit_floats(self.name, x)
        return super().evaluate(x, *args, **kwargs)


def _as_list(value: Sequence[float] | float | None) -> list[float]:
    return [float(v) for v in value] if isinstance(value, Sequence) else [float(value)]


@keras.saving.register_keras_serializable(package="zoo")
class ShortcutPad(layers.Layer):
    """The parameter-free 'option A' shortcut of He et al. (2016) for CIFAR ResNets.

    Subsamples the feature map by `stride` and zero-pads the channels up to `filters`.
    """

    def __init__(self, filters: int, stride: int = 2, **kwargs) -> None:
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.stride = int(stride)

    def call(self, x):
        x = x[:, :: self.stride, :: self.stride, :]
        extra = self.filters - x.shape[-1]
        return ops.pad(x, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])

    def compute_output_shape(self, input_shape):
        def down(n):
            return None if n is None else -(-n // self.stride)

        return (input_shape[0], down(input_shape[1]), down(input_shape[2]), self.filters)

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters, "stride": self.stride}


# Per-channel training-set pixel mean and standard deviation, as fractions of 255.
CIFAR_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}


FUSED_INPUT_DTYPES = ("float32", "bfloat16", "float16")


@keras.saving.register_keras_serializable(package="zoo")
class FusedBatchNormalization(layers.BatchNormalization):
    """Keras' batch normalisation, trained through TensorFlow's fused kernel where it can be.

    On the TensorFlow backend, while training on 4-D channels-last inputs without a mask, the
    forward pass is one `FusedBatchNormV3` op and the backward pass its gradient op (oneDNN's
    on a CPU), instead of the dozen separate reductions and element-wise ops Keras 3 builds:
    `resnet20` and `resnet56` trained about twice as fast for it on a 2-core CPU
    (benchmarks/NOTES.md). The arithmetic is the same: float32 statistics whatever the input
    dtype, and the moving variance follows the batch's biased variance as in Keras. Everywhere
    else (the JAX and PyTorch backends, inference, other ranks or dtypes, renorm, synchronized
    statistics) it is Keras' layer, with the same weights and config, so models built with it
    save and load on every backend.
    """

    def _fusable(self, inputs, training, mask) -> bool:
        return (keras.backend.backend() == "tensorflow" and bool(training) and self.trainable
                and mask is None and len(inputs.shape) == 4 and self.axis % 4 == 3
                and not self.renorm and not self.synchronized
                # the fused kernels take 16- or 32-bit inputs with float32 statistics
                and keras.backend.standardize_dtype(inputs.dtype) in FUSED_INPUT_DTYPES
                and self.variable_dtype == "float32")

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        channels = inputs.shape[-1]
        scale = self.gamma.value if self.scale else tf.ones((channels,), tf.float32)
        offset = self.beta.value if self.center else tf.zeros((channels,), tf.float32)
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, scale, offset, epsilon=self.epsilon, data_format="NHWC", is_training=True)
        # the op returns the unbiased variance (n / (n - 1)); Keras' moving variance follows the
        # biased one
        n = tf.cast(tf.reduce_prod(tf.shape(inputs)[:-1]), tf.float32)
        variance = variance * (n - 1.0) / n
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(
            self.moving_variance * momentum + variance * (1.0 - momentum))
        return tf.cast(outputs, self.compute_dtype)


def conv_bn_relu(x, filters: int, stride: int = 1, batch_norm: bool = True, name: str = "conv"):
    """A 3x3 same-padded convolution, optional batch normalisation, then ReLU."""
    x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=not batch_norm,
                      kernel_initializer="he_normal", name=name)(x)
    if batch_norm:
        x = FusedBatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)
