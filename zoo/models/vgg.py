"""VGG13 for 32x32 images (CIFAR-100 by default), plain and with batch normalisation."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import keras
from keras import layers

from zoo import checks
from zoo.errors import ZooError
from zoo.models.layers import CIFAR_STATS, conv_bn_relu, pixel_input
from zoo.recipe import Recipe
from zoo.registry import Card, Reference, register

# Filters of the five units; each unit is two 3x3 convolutions, then 2x2 max-pooling.
VGG13_UNITS = (64, 128, 256, 512, 512)


def vgg(
    name: str,
    batch_norm: bool,
    num_classes: int,
    input_shape: Sequence[int],
    head: Sequence[int],
    dropout: float,
) -> keras.Model:
    """A VGG network: two-convolution units from `VGG13_UNITS` with max-pooling, a Dense `head`, logits."""
    input_shape = checks.shape("input_shape", input_shape, 3)
    if min(input_shape[:2]) < 2 ** len(VGG13_UNITS):
        raise ZooError(
            f"input_shape must be at least 32x32 for five poolings, got {input_shape}"
        )
    num_classes = checks.size("num_classes", num_classes, minimum=2)
    head = checks.widths("head", head)
    dropout = checks.rate("dropout", dropout)
    inputs, x = pixel_input(input_shape, *CIFAR_STATS["cifar100"])
    for unit, filters in enumerate(VGG13_UNITS, start=1):
        for conv in (1, 2):
            x = conv_bn_relu(x, filters, batch_norm=batch_norm, name=f"unit{unit}_conv{conv}")
        x = layers.MaxPooling2D(2, name=f"unit{unit}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, width in enumerate(head, start=1):
        x = layers.Dense(width, activation="relu", name=f"fc{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    outputs = layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


_REFERENCE = Reference(
    dataset="cifar100",
    metrics={"accuracy": 0.7200, "top5_accuracy": 0.9029},
    source="weiaicunzai/pytorch-cifar100, results table: VGG13-BN 28.00% top-1 and 9.71% "
           "top-5 error after 200 epochs of SGD",
    notes="The reference network has a 4096-4096 head; this one has the 256-128 head of the "
          "tutorial it comes from.",
)
# The plain VGG13's card quotes VGG13-BN's figure, saying so (none for the plain net was found).
_PLAIN_REFERENCE = dataclasses.replace(
    _REFERENCE, model="VGG13-BN",
    notes=_REFERENCE.notes + " No figure for VGG13 without batch normalisation on CIFAR-100 was "
                             "found; this is VGG13-BN's, which the plain net is not expected to "
                             "reach.")
_SHAPES = dict(task="classification", dataset="cifar100", input_shape=(32, 32, 3),
               input_dtype="uint8", output_shape=(100,), output="logits over the 100 classes")


@register(
    Card(
        name="vgg13",
        family="vgg",
        params=9_582_116,
        recipe=Recipe(optimizer="sgd", learning_rate=0.01, momentum=0.9, nesterov=True,
                      weight_decay=5e-3, schedule="cosine", warmup_epochs=1, batch_size=128,
                      epochs=200, augment=True, mixed_precision=True,
                      notes="Without batch normalisation the net needs a smaller peak rate "
                            "(0.01) than VGG13-BN; weight decay 5e-3 decoupled is PyTorch's "
                            "5e-4 coupled under momentum 0.9."),
        description="VGG13 (Simonyan and Zisserman 2015) for 32x32 inputs: five units of two "
                    "3x3 convolutions (64-128-256-512-512) each followed by 2x2 max-pooling, "
                    "then Dense 256-128 with dropout and a linear output (the tutorial ended "
                    "it in a ReLU, which is a bug: outputs are logits).",
        reference=_PLAIN_REFERENCE,
        **_SHAPES,
    )
)
def vgg13(
    num_classes: int = 100,
    input_shape: Sequence[int] = (32, 32, 3),
    head: Sequence[int] = (256, 128),
    dropout: float = 0.5,
) -> keras.Model:
    """VGG13 without batch normalisation; pixels standardised with CIFAR-100 statistics."""
    return vgg("vgg13", False, num_classes, input_shape, head, dropout)


@register(
    Card(
        name="vgg13_bn",
        family="vgg",
        params=9_590_948,
        recipe=Recipe(optimizer="sgd", learning_rate=0.1, momentum=0.9, nesterov=True,
                      weight_decay=5e-3, schedule="cosine", warmup_epochs=1, batch_size=128,
                      epochs=200, augment=True, mixed_precision=True,
                      notes="weiaicunzai's recipe (SGD 0.1, Nesterov momentum 0.9, batch 128, 200 "
                            "epochs, pad-crop-flip, 1 warm-up epoch) with a cosine schedule in "
                            "place of its divide-by-5 steps at epochs 60, 120 and 160; weight "
                            "decay 5e-3 decoupled is PyTorch's 5e-4 coupled under momentum 0.9."),
        description="VGG13 with batch normalisation after every convolution.",
        reference=_REFERENCE,
        **_SHAPES,
    )
)
def vgg13_bn(
    num_classes: int = 100,
    input_shape: Sequence[int] = (32, 32, 3),
    head: Sequence[int] = (256, 128),
    dropout: float = 0.5,
) -> keras.Model:
    """VGG13 with batch normalisation; pixels standardised with CIFAR-100 statistics."""
    return vgg("vgg13_bn", True, num_classes, input_shape, head, dropout)
