"""Multi-layer perceptrons for 28x28 grey images: the MNIST 784-512-10 and the Fashion-MNIST 5-layer nets."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from zoo import checks
from zoo.models.layers import pixel_input
from zoo.recipe import Recipe
from zoo.registry import Card, Reference, register

# Fashion-MNIST training-set pixel mean and standard deviation, as fractions of 255.
FASHION_MEAN, FASHION_STD = 0.2860, 0.3530


def mlp(
    name: str,
    input_shape: Sequence[int],
    hidden: Sequence[int],
    num_classes: int,
    dropout: float,
    mean: float | None = None,
    std: float | None = None,
) -> keras.Model:
    """Flatten raw pixels, rescale, then ReLU Dense layers of widths `hidden`, ending in class logits."""
    input_shape = checks.shape("input_shape", input_shape, 3)
    hidden = checks.widths("hidden", hidden)
    num_classes = checks.size("num_classes", num_classes, minimum=2)
    dropout = checks.rate("dropout", dropout)
    inputs, x = pixel_input(input_shape, mean, std)
    x = layers.Flatten(name="flatten")(x)
    for i, width in enumerate(hidden, start=1):
        x = layers.Dense(width, activation="relu", name=f"dense{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout{i}")(x)
    outputs = layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


@register(
    Card(
        name="mnist_mlp",
        family="mlp",
        task="classification",
        dataset="mnist",
        input_shape=(28, 28, 1),
        input_dtype="uint8",
        output_shape=(10,),
        output="logits over the 10 digits",
        params=407_050,
        recipe=Recipe(optimizer="rmsprop", learning_rate=2e-3, schedule="cosine", batch_size=128,
                      epochs=5, jit_compile=True, steps_per_execution=32,
                      notes="Chollet's RMSprop, batch 128 and 5 epochs, with the rate doubled "
                            "and annealed to zero by a cosine schedule: at a constant 1e-3 the "
                            "5 epochs end short of 98% and vary more with the seed "
                            "(benchmarks/NOTES.md)."),
        description="The 784-512-10 ReLU network of Deep Learning with Python, chapter 2: "
                    "pixels scaled to [0, 1], one hidden layer of 512 units.",
        reference=Reference(
            dataset="mnist",
            metrics={"accuracy": 0.978},
            source="F. Chollet, Deep Learning with Python (2nd ed.), chapter 2: about 97.8% "
                   "test accuracy after 5 epochs",
        ),
        aliases=("mlp",),
    )
)
def mnist_mlp(
    num_classes: int = 10,
    input_shape: Sequence[int] = (28, 28, 1),
    hidden: Sequence[int] = (512,),
    dropout: float = 0.0,
) -> keras.Model:
    """The MNIST MLP: 784-512-10 with ReLU, pixels scaled to [0, 1]."""
    return mlp("mnist_mlp", input_shape, hidden, num_classes, dropout)


@register(
    Card(
        name="fashion_mlp",
        family="mlp",
        task="classification",
        dataset="fashion_mnist",
        input_shape=(28, 28, 1),
        input_dtype="uint8",
        output_shape=(10,),
        output="logits over the 10 clothing classes",
        params=244_522,
        recipe=Recipe(optimizer="adam", learning_rate=2e-3, schedule="cosine", batch_size=128,
                      epochs=20, jit_compile=True, steps_per_execution=32,
                      notes="Adam, batch 128, 20 epochs, the rate annealed from 2e-3 to zero by "
                            "a cosine schedule (a constant 1e-3 ends near 88%, 10 annealed "
                            "epochs near 89.0-89.3%; benchmarks/NOTES.md); pixels standardised "
                            "with the training set's mean 0.2860 and std 0.3530."),
        description="A 5-layer ReLU MLP, 784-256-128-64-32-10, on standardised pixels.",
        reference=Reference(
            dataset="fashion_mnist",
            metrics={"accuracy": 0.885},
            source="Xiao, Rasul and Vollgraf (2017), Fashion-MNIST benchmark: MLP classifiers "
                   "reach about 88-89% test accuracy",
        ),
        aliases=("fashion",),
    )
)
def fashion_mlp(
    num_classes: int = 10,
    input_shape: Sequence[int] = (28, 28, 1),
    hidden: Sequence[int] = (256, 128, 64, 32),
    dropout: float = 0.0,
) -> keras.Model:
    """The Fashion-MNIST MLP: 784-256-128-64-32-10 with ReLU on standardised pixels."""
    return mlp("fashion_mlp", input_shape, hidden, num_classes, dropout, FASHION_MEAN, FASHION_STD)
