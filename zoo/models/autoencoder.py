"""Autoencoders for 28x28 grey images: dense, convolutional, and a variational autoencoder.

They take raw pixels (0-255) and output pixel probabilities in [0, 1]. Their losses live in
`compute_loss`, so `fit(x)` (or `fit(x, x)`) trains them on every Keras backend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
from keras import layers, ops

from zoo import checks
from zoo.errors import ZooError
from zoo.models.layers import RawPixels, pixel_input, warn_unit_floats
from zoo.recipe import Recipe
from zoo.registry import Card, Reference, register


def _pixel_bce(target, y_pred):
    """Binary cross-entropy per image, averaged over pixels; `target` is raw 0-255 pixels."""
    target = ops.cast(target, y_pred.dtype) / 255.0
    bce = keras.losses.binary_crossentropy(target[..., None], y_pred[..., None])
    return ops.mean(ops.reshape(bce, (ops.shape(bce)[0], -1)), axis=-1)


def _target(x, y, y_pred):
    """What to reconstruct: `y` when it is an image batch like the output, else the input `x`.

    So `fit(x)`, `fit(x, x)` and `fit` on a labelled `(image, label)` dataset all train on the
    images, and a denoising `fit(noisy, clean)` reconstructs the clean ones.
    """
    if y is not None and tuple(y.shape[1:]) == tuple(y_pred.shape[1:]):
        return y
    return x


def _weighted_mean(values, sample_weight):
    if sample_weight is None:
        return ops.mean(values)
    weight = ops.cast(ops.reshape(sample_weight, (-1,)), values.dtype)
    return ops.sum(values * weight) / ops.maximum(ops.sum(weight), 1e-12)


@keras.saving.register_keras_serializable(package="zoo")
class Autoencoder(RawPixels, keras.Model):
    """A functional model trained to reproduce its input image.

    The loss is the binary cross-entropy between the output probabilities and the input pixels
    scaled to [0, 1], averaged over pixels. The target is `y` when it is a batch of images
    shaped like the output, else `x`: labels that come with a dataset are ignored. `fit`,
    `evaluate` and `predict` warn about images already scaled to [0, 1].
    """

    def predict(self, x, *args, **kwargs):
        warn_unit_floats(self.name, x)
        return super().predict(x, *args, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Pixel-wise binary cross-entropy against the (rescaled) input, plus any added losses."""
        loss = _weighted_mean(_pixel_bce(_target(x, y, y_pred), y_pred), sample_weight)
        for extra in self.losses:
            loss = loss + ops.sum(extra)
        return loss


@keras.saving.register_keras_serializable(package="zoo")
class Sampling(layers.Layer):
    """Draws `z = mean + exp(log_var / 2) * eps` while training; returns the mean otherwise."""

    def __init__(self, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        mean, log_var = inputs
        if not training:
            return mean
        # drawn in float32 and cast: under mixed precision mean is bfloat16 or float16
        eps = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
        return mean + ops.exp(0.5 * log_var) * ops.cast(eps, mean.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="zoo")
class VAE(Autoencoder):
    """A variational autoencoder (Kingma and Welling 2014) as a functional model.

    Its graph is `encoder -> Sampling -> decoder`. The loss is the negative evidence lower bound
    per image in nats: summed pixel cross-entropy plus the KL divergence of the approximate
    posterior from N(0, I). The KL term is added in `compute_loss`, which re-reads the encoder's
    (deterministic) mean and log-variance for the batch.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def encoder(self) -> keras.Model:
        """The encoder: pixels to `(z_mean, z_log_var)`."""
        return self.get_layer("encoder")

    @property
    def decoder(self) -> keras.Model:
        """The decoder: latent vectors to pixel probabilities."""
        return self.get_layer("decoder")

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Negative ELBO per image: summed pixel cross-entropy plus the KL term."""
        pixels = float(math.prod(y_pred.shape[1:]))
        reconstruction = _pixel_bce(_target(x, y, y_pred), y_pred) * pixels
        # the KL term in float32, whatever precision the encoder computes in
        z_mean, z_log_var = (ops.cast(t, "float32") for t in self.encoder(x, training=training))
        kl = -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)
        self.reconstruction_tracker.update_state(reconstruction, sample_weight=sample_weight)
        self.kl_tracker.update_state(kl, sample_weight=sample_weight)
        loss = _weighted_mean(reconstruction + kl, sample_weight)
        for extra in self.losses:
            loss = loss + ops.sum(extra)
        return loss

    def sample(self, n: int, seed: int | None = None):
        """Decode `n` latent vectors drawn from N(0, I): new images as pixel probabilities."""
        latent = self.decoder.input_shape[-1]
        z = keras.random.normal((checks.integer("n", n), latent), seed=seed)
        return self.decoder(z, training=False)


def _check_image(input_shape: Sequence[int], divisor: int) -> tuple[int, ...]:
    shape = checks.shape("input_shape", input_shape, 3)
    if shape[0] % divisor or shape[1] % divisor:
        raise ZooError(f"input_shape height and width must be multiples of {divisor}, got {shape}")
    return shape


def _conv_encoder(x, filters: Sequence[int]):
    for i, f in enumerate(filters, start=1):
        x = layers.Conv2D(f, 3, strides=2, padding="same", activation="relu", name=f"conv{i}")(x)
    return layers.Flatten(name="flatten")(x)


def _conv_decoder(z, shape: tuple[int, ...], filters: Sequence[int]):
    down = 2 ** len(filters)
    h, w = shape[0] // down, shape[1] // down
    x = layers.Dense(h * w * filters[-1], activation="relu", name="expand")(z)
    x = layers.Reshape((h, w, filters[-1]), name="unflatten")(x)
    for i, f in enumerate(reversed(filters), start=1):
        x = layers.Conv2DTranspose(f, 3, strides=2, padding="same", activation="relu",
                                   name=f"deconv{i}")(x)
    return layers.Conv2D(shape[-1], 3, padding="same", activation="sigmoid", dtype="float32",
                         name="pixels_out")(x)


_SHAPES = dict(task="reconstruction", dataset="mnist", input_shape=(28, 28, 1),
               input_dtype="uint8", output_shape=(28, 28, 1))


@register(
    Card(
        name="autoencoder",
        family="autoencoder",
        params=473_636,
        output="reconstructed image, pixel probabilities in [0, 1]",
        recipe=Recipe(optimizer="adam", learning_rate=2e-3, schedule="cosine", batch_size=128,
                      epochs=50, jit_compile=True, steps_per_execution=32,
                      notes="Adam, batch 128, 50 epochs, the rate annealed from 2e-3 to zero by "
                            "a cosine schedule (epochs are cheap: XLA and 32 steps per "
                            "execution); the loss is binary cross-entropy against the input "
                            "scaled to [0, 1]."),
        description="A dense autoencoder, 784-256-128-20 and back to 784 with a sigmoid, "
                    "as in the Keras blog's 'Building Autoencoders in Keras'.",
        reference=Reference(
            dataset="mnist",
            metrics={"reconstruction_bce": 0.09},
            source="F. Chollet, 'Building Autoencoders in Keras' (Keras blog, 2016): a dense "
                   "autoencoder with a 32-unit code reaches a per-pixel binary cross-entropy "
                   "of about 0.09 on MNIST after 50 epochs (a deeper one about 0.08 after 100)",
        ),
        **_SHAPES,
    )
)
def autoencoder(
    input_shape: Sequence[int] = (28, 28, 1),
    hidden: Sequence[int] = (256, 128),
    latent_dim: int = 20,
) -> keras.Model:
    """The dense autoencoder: pixels -> `hidden` -> `latent_dim` -> reversed `hidden` -> pixels."""
    shape = checks.shape("input_shape", input_shape, 3)
    hidden = checks.widths("hidden", hidden)
    latent_dim = checks.size("latent_dim", latent_dim)
    inputs, x = pixel_input(shape)
    x = layers.Flatten(name="flatten")(x)
    for i, width in enumerate(hidden, start=1):
        x = layers.Dense(width, activation="relu", name=f"encode{i}")(x)
    x = layers.Dense(latent_dim, activation="relu", name="code")(x)
    for i, width in enumerate(reversed(hidden), start=1):
        x = layers.Dense(width, activation="relu", name=f"decode{i}")(x)
    x = layers.Dense(shape[0] * shape[1] * shape[2], activation="sigmoid", dtype="float32",
                     name="pixels_out")(x)
    outputs = layers.Reshape(shape, dtype="float32", name="image")(x)  # float32 under mixed too
    return Autoencoder(inputs, outputs, name="autoencoder")


@register(
    Card(
        name="conv_autoencoder",
        family="autoencoder",
        params=278_369,
        output="reconstructed image, pixel probabilities in [0, 1]",
        recipe=Recipe(optimizer="adam", learning_rate=1e-3, batch_size=128, epochs=20,
                      mixed_precision=True,
                      notes="Adam at 1e-3, batch 128; the loss is binary cross-entropy against "
                            "the input scaled to [0, 1]; bfloat16 trains it 1.6-1.8x faster on a "
                            "CPU with AMX (benchmarks/NOTES.md), its output layer in float32."),
        description="A convolutional autoencoder: two stride-2 3x3 convolutions (32, 64), a "
                    "32-unit code, and transposed convolutions back to 28x28.",
        **_SHAPES,
    )
)
def conv_autoencoder(
    input_shape: Sequence[int] = (28, 28, 1),
    filters: Sequence[int] = (32, 64),
    latent_dim: int = 32,
) -> keras.Model:
    """The convolutional autoencoder: stride-2 convolutions, a Dense code, transposed convolutions."""
    filters = checks.widths("filters", filters)
    shape = _check_image(input_shape, 2 ** len(filters))  # one stride-2 halving per filter
    latent_dim = checks.size("latent_dim", latent_dim)
    inputs, x = pixel_input(shape)
    code = layers.Dense(latent_dim, activation="relu", name="code")(_conv_encoder(x, filters))
    return Autoencoder(inputs, _conv_decoder(code, shape, filters), name="conv_autoencoder")


@register(
    Card(
        name="vae",
        family="autoencoder",
        params=229_249,
        output="reconstructed image, pixel probabilities in [0, 1] (decoded from the posterior "
               "mean at inference)",
        recipe=Recipe(optimizer="adam", learning_rate=1e-3, batch_size=128, epochs=30,
                      notes="Adam at 1e-3, batch 128; the loss is the negative ELBO per image "
                            "(summed pixel cross-entropy plus KL), in nats."),
        description="A convolutional variational autoencoder (Kingma and Welling 2014) with a "
                    "16-dimensional Gaussian latent, in the style of keras-io's VAE example; "
                    "`model.sample(n)` decodes new images.",
        **_SHAPES,
    )
)
def vae(
    input_shape: Sequence[int] = (28, 28, 1),
    filters: Sequence[int] = (32, 64),
    latent_dim: int = 16,
    seed: int | None = None,
) -> keras.Model:
    """The VAE: a convolutional encoder to a Gaussian latent, sampled, decoded by transposed convs."""
    filters = checks.widths("filters", filters)
    shape = _check_image(input_shape, 2 ** len(filters))  # one stride-2 halving per filter
    latent_dim = checks.size("latent_dim", latent_dim)
    pixels, x = pixel_input(shape)
    h = layers.Dense(2 * latent_dim, activation="relu", name="hidden")(_conv_encoder(x, filters))
    z_mean = layers.Dense(latent_dim, name="z_mean")(h)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(h)
    encoder = keras.Model(pixels, [z_mean, z_log_var], name="encoder")
    latent = keras.Input((latent_dim,), name="latent")
    decoder = keras.Model(latent, _conv_decoder(latent, shape, filters), name="decoder")
    inputs = keras.Input(shape, name="pixels")
    z = Sampling(checks.optional_seed(seed), name="sampling")(encoder(inputs))
    return VAE(inputs, decoder(z), name="vae")
