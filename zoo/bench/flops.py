"""Floating-point operations a model costs per example, counted from its layers.

Only the layers that do matrix work are counted (dense, convolutions, transposed convolutions,
recurrent cells); normalisation, activations, pooling and additions are a few percent at most
and are left out, so the figures are slight underestimates. A multiply-add counts as 2 FLOPs.
Training costs about three forward passes per example: the forward pass, and a backward pass
that computes gradients for both the activations and the weights.
"""

from __future__ import annotations

import math

import keras
from keras import layers

GATES = {layers.LSTM: 4, layers.GRU: 3, layers.SimpleRNN: 1}


def _shape(tensor) -> tuple:
    return tuple(tensor.shape[1:])


def layer_flops(layer: layers.Layer) -> int:
    """Forward FLOPs of one layer for one example (0 for the layers not counted)."""
    if isinstance(layer, keras.Model):
        return forward_flops(layer)
    if isinstance(layer, layers.Dense):
        shape = _shape(layer.input)
        return 2 * math.prod(shape) * layer.units
    if isinstance(layer, layers.Conv2DTranspose):
        h, w, cin = _shape(layer.input)
        kh, kw = layer.kernel_size
        return 2 * kh * kw * cin * layer.filters * h * w
    if isinstance(layer, layers.Conv2D):
        h, w, cout = _shape(layer.output)
        kh, kw = layer.kernel_size
        return 2 * kh * kw * _shape(layer.input)[-1] * cout * h * w
    for cell_type, gates in GATES.items():
        if isinstance(layer, cell_type):
            steps, features = _shape(layer.input)
            return steps * gates * 2 * (features + layer.units) * layer.units
    return 0


def forward_flops(model: keras.Model) -> int:
    """Forward FLOPs of a functional model (nested models included) for one example."""
    return sum(layer_flops(layer) for layer in model.layers)


def training_flops(model: keras.Model) -> int:
    """FLOPs of one training step per example, as the zoo trains `model`.

    Three forward passes for ordinary models; the VAE adds the encoder pass its loss repeats;
    the DCGAN step runs the discriminator on real and generated images and the generator twice.
    """
    from zoo.models.autoencoder import VAE
    from zoo.models.gan import DCGAN

    if isinstance(model, DCGAN):
        g, d = forward_flops(model.generator), forward_flops(model.discriminator)
        # discriminator step: G forward, D forward and backward on real and fake images;
        # generator step: G forward and backward, D forward and backward to its input
        return (g + 2 * 3 * d) + (3 * g + 2 * d)
    if isinstance(model, VAE):
        return 3 * forward_flops(model) + forward_flops(model.encoder)
    return 3 * forward_flops(model)
