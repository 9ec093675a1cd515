"""Floating-point operations a model costs per example, counted from its layers.

Only the layers that do matrix work are counted (dense, convolutions, transposed convolutions,
recurrent cells); normalisation, activations, pooling and additions are a few percent at most
and are left out, so the figures are slight underestimates. A multiply-add counts as 2 FLOPs.
Training a layer costs three forward passes per example: the forward pass, and a backward pass
that computes gradients for both its input and its weights; two where no trainable weight lies
upstream of its input (the first dense layer of an MLP, a network's stem convolution), as the
gradient for its input is never needed and the backends do not compute it.
"""

from __future__ import annotations

import math

import keras
from keras import layers, tree

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


class _Flag:
    """Stands for a tensor in a walk through a functional graph: does its gradient matter?"""

    def __init__(self, needed: bool) -> None:
        self.needed = needed


def _walkable(op) -> bool:
    return isinstance(op, keras.Model) and hasattr(op, "_run_through_graph")


def matrix_layers(model: keras.Model, input_needs_gradient: bool = False
                  ) -> list[tuple[layers.Layer, bool]]:
    """The counted layers of a functional `model` (nested models walked into), in graph order,
    each with whether training needs the gradient for its input: whether a trainable weight
    lies upstream of it, or the model's own input needs a gradient (`input_needs_gradient`).
    A recurrent layer always does: its steps pass gradients back through the hidden state.
    A nested model that is not functional counts as one layer."""
    found: list[tuple[layers.Layer, bool]] = []

    def visit(op, *args, **kwargs):
        needed = any(isinstance(a, _Flag) and a.needed for a in tree.flatten((args, kwargs)))
        if _walkable(op):
            found.extend(matrix_layers(op, needed))
        elif layer_flops(op):
            found.append((op, needed or isinstance(op, tuple(GATES))))
        flag = _Flag(needed or bool(getattr(op, "trainable_weights", ())))
        return [flag] * len(tree.flatten(op.output))

    model._run_through_graph([_Flag(input_needs_gradient)] * len(model.inputs), call_fn=visit)
    return found


def passes(layer: layers.Layer, input_gradient: bool) -> int:
    """Forward passes' worth of work training costs `layer`: its forward pass, the gradient for
    its weights if it has trainable ones, and the gradient for its input if `input_gradient`."""
    return 1 + bool(layer.trainable_weights) + bool(input_gradient)


def backward_flops(model: keras.Model, input_needs_gradient: bool = False) -> int:
    """FLOPs of one example's forward and backward pass through a functional `model`: each of
    its `matrix_layers` costs as many forward passes as `passes` says (three for most, two for
    a first layer, whose input needs no gradient)."""
    return sum(passes(layer, needed) * layer_flops(layer)
               for layer, needed in matrix_layers(model, input_needs_gradient))


def training_flops(model: keras.Model) -> int:
    """FLOPs of one training step per example, as the zoo trains `model`.

    `backward_flops` for ordinary models; the VAE adds the encoder pass its KL term repeats
    (differentiated too); the DCGAN's discriminator step runs the generator forward and the
    discriminator forward and backward on real and generated images, its generator step the
    generator forward and backward and the discriminator forward and back to its input only.
    """
    from zoo.models.autoencoder import VAE
    from zoo.models.gan import DCGAN

    if isinstance(model, DCGAN):
        g, d = forward_flops(model.generator), forward_flops(model.discriminator)
        return (g + 2 * backward_flops(model.discriminator)) + (
            backward_flops(model.generator) + 2 * d)
    if isinstance(model, VAE):
        return backward_flops(model) + backward_flops(model.encoder)
    return backward_flops(model)
