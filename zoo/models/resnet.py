"""ResNets for 32x32 images: ResNet-18/34 (CIFAR-100 by default) and He et al.'s ResNet-20/56 (CIFAR-10)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from zoo import checks
from zoo.errors import ZooError
from zoo.models.layers import (
    CIFAR_STATS,
    FusedBatchNormalization,
    ShortcutPad,
    conv_bn_relu,
    pixel_input,
)
from zoo.recipe import Recipe
from zoo.registry import Card, Reference, register

SHORTCUTS = ("projection", "pad")


def basic_block(x, filters: int, stride: int, shortcut: str, name: str):
    """Two 3x3 convolutions with batch normalisation, added to a shortcut, then ReLU."""
    y = conv_bn_relu(x, filters, stride, name=f"{name}_conv1")
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False,
                      kernel_initializer="he_normal", name=f"{name}_conv2")(y)
    y = FusedBatchNormalization(momentum=0.9, name=f"{name}_conv2_bn")(y)
    if stride != 1 or x.shape[-1] != filters:
        if shortcut == "pad":
            x = ShortcutPad(filters, stride, name=f"{name}_shortcut")(x)
        else:
            x = layers.Conv2D(filters, 1, strides=stride, use_bias=False,
                              kernel_initializer="he_normal", name=f"{name}_shortcut")(x)
            x = FusedBatchNormalization(momentum=0.9, name=f"{name}_shortcut_bn")(x)
    y = layers.Add(name=f"{name}_add")([y, x])
    return layers.ReLU(name=f"{name}_out")(y)


def resnet(
    name: str,
    blocks: Sequence[int],
    widths: Sequence[int],
    shortcut: str,
    num_classes: int,
    input_shape: Sequence[int],
    dataset: str,
) -> keras.Model:
    """A CIFAR ResNet of basic blocks: a 3x3 stem (no max-pool), stages of `blocks` at `widths`.

    Each stage after the first halves the resolution in its first block. Global average
    pooling and a linear layer give the logits.
    """
    input_shape = checks.shape("input_shape", input_shape, 3)
    num_classes = checks.size("num_classes", num_classes, minimum=2)
    widths = checks.widths("widths", widths)
    if len(widths) != len(blocks):
        raise ZooError(f"widths needs one value per stage ({len(blocks)}), got {widths}")
    inputs, x = pixel_input(input_shape, *CIFAR_STATS[dataset])
    x = conv_bn_relu(x, widths[0], name="stem")
    for stage, (count, filters) in enumerate(zip(blocks, widths, strict=True), start=1):
        for block in range(count):
            stride = 2 if stage > 1 and block == 0 else 1
            x = basic_block(x, filters, stride, shortcut, name=f"stage{stage}_block{block + 1}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def _imagenet_style_card(name: str, params: int, top1: float, top5: float, depth: str) -> Card:
    return Card(
        name=name,
        family="resnet",
        task="classification",
        dataset="cifar100",
        input_shape=(32, 32, 3),
        input_dtype="uint8",
        output_shape=(100,),
        output="logits over the 100 classes",
        params=params,
        recipe=Recipe(optimizer="sgd", learning_rate=0.1, momentum=0.9, nesterov=True,
                      weight_decay=5e-3, schedule="cosine", warmup_epochs=1, batch_size=128,
                      epochs=200, augment=True, mixed_precision=True,
                      notes="weiaicunzai's CIFAR-100 recipe (SGD 0.1, Nesterov 0.9, batch 128, "
                            "200 epochs, pad-crop-flip) with a cosine schedule; weight decay "
                            "5e-3 decoupled is PyTorch's 5e-4 coupled under momentum 0.9."),
        description=f"ResNet-{depth} (He et al. 2016) adapted to 32x32 inputs: a 3x3 stem with "
                    "no max-pooling, four stages of basic blocks at 64-128-256-512 filters, "
                    "1x1 projection shortcuts where the shape changes.",
        reference=Reference(
            dataset="cifar100",
            metrics={"accuracy": top1, "top5_accuracy": top5},
            source=f"weiaicunzai/pytorch-cifar100, results table: ResNet-{depth} "
                   f"{100 - 100 * top1:.2f}% top-1 and {100 - 100 * top5:.2f}% top-5 error",
        ),
    )


def _he_cifar_card(name: str, params: int, depth: int, top1: float) -> Card:
    return Card(
        name=name,
        family="resnet",
        task="classification",
        dataset="cifar10",
        input_shape=(32, 32, 3),
        input_dtype="uint8",
        output_shape=(10,),
        output="logits over the 10 classes",
        params=params,
        recipe=Recipe(optimizer="sgd", learning_rate=0.2, momentum=0.9, nesterov=True,
                      weight_decay=5e-3, schedule="onecycle", batch_size=128, epochs=180,
                      label_smoothing=0.1, augment=True, mixed_precision=True,
                      notes="He et al.'s setting (SGD with momentum 0.9, batch 128, about 180 "
                            "epochs, pad-crop-flip) with a one-cycle schedule peaking at 0.2 "
                            "(Smith's super-convergence), which also gets close in a fraction "
                            "of the epochs when a time budget cuts them; label smoothing 0.1; "
                            "weight decay 5e-3 decoupled, PyTorch's usual 5e-4 coupled under "
                            "momentum 0.9."),
        description=f"ResNet-{depth} of He et al. (2016), section 4.2: a 3x3 stem, three stages "
                    f"of {(depth - 2) // 6} basic blocks at 16-32-64 filters, parameter-free "
                    "shortcuts (subsample and zero-pad channels, 'option A').",
        reference=Reference(
            dataset="cifar10",
            metrics={"accuracy": top1},
            source=f"He, Zhang, Ren and Sun (2016), Deep Residual Learning for Image "
                   f"Recognition, table 6: ResNet-{depth} {100 - 100 * top1:.2f}% test error",
        ),
    )


@register(_imagenet_style_card("resnet18", 11_229_732, 0.7561, 0.9305, "18"))
def resnet18(
    num_classes: int = 100,
    input_shape: Sequence[int] = (32, 32, 3),
    widths: Sequence[int] = (64, 128, 256, 512),
) -> keras.Model:
    """ResNet-18 for 32x32 images: stages of [2, 2, 2, 2] basic blocks."""
    return resnet("resnet18", (2, 2, 2, 2), widths, "projection", num_classes, input_shape,
                  "cifar100")


@register(_imagenet_style_card("resnet34", 21_345_316, 0.7676, 0.9337, "34"))
def resnet34(
    num_classes: int = 100,
    input_shape: Sequence[int] = (32, 32, 3),
    widths: Sequence[int] = (64, 128, 256, 512),
) -> keras.Model:
    """ResNet-34 for 32x32 images: stages of [3, 4, 6, 3] basic blocks."""
    return resnet("resnet34", (3, 4, 6, 3), widths, "projection", num_classes, input_shape,
                  "cifar100")


@register(_he_cifar_card("resnet20", 271_098, 20, 0.9125))
def resnet20(
    num_classes: int = 10,
    input_shape: Sequence[int] = (32, 32, 3),
    widths: Sequence[int] = (16, 32, 64),
) -> keras.Model:
    """He et al.'s ResNet-20 for CIFAR-10: three stages of 3 basic blocks, option-A shortcuts."""
    return resnet("resnet20", (3, 3, 3), widths, "pad", num_classes, input_shape, "cifar10")


@register(_he_cifar_card("resnet56", 857_082, 56, 0.9303))
def resnet56(
    num_classes: int = 10,
    input_shape: Sequence[int] = (32, 32, 3),
    widths: Sequence[int] = (16, 32, 64),
) -> keras.Model:
    """He et al.'s ResNet-56 for CIFAR-10: three stages of 9 basic blocks, option-A shortcuts."""
    return resnet("resnet56", (9, 9, 9), widths, "pad", num_classes, input_shape, "cifar10")
