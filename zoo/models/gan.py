"""DCGAN for 28x28 grey images (Radford, Metz and Chintala 2016), trained by `fit()` on real images.

`model(z)` maps latent vectors to images in pixel units (0-255), `model.generate(n)` draws new
ones. `fit(images)` alternates a discriminator step and a generator step per batch and logs
`d_loss` and `g_loss`.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers, ops

from zoo import checks
from zoo.errors import ZooError
from zoo.models.layers import FusedBatchNormalization, RawPixels
from zoo.recipe import Recipe
from zoo.registry import Card, register


def generator_network(latent_dim: int, image_shape: tuple[int, ...]) -> keras.Model:
    """Latent vector -> (h/4, w/4, 256) -> (h/4, w/4, 128) -> (h/2, w/2, 64) -> image, tanh to 0-255."""
    h, w = image_shape[0] // 4, image_shape[1] // 4
    z = keras.Input((latent_dim,), name="latent")
    x = layers.Dense(h * w * 256, use_bias=False, name="project")(z)
    x = FusedBatchNormalization(name="project_bn")(x)
    x = layers.LeakyReLU(0.2, name="project_act")(x)
    x = layers.Reshape((h, w, 256), name="reshape")(x)
    for i, (filters, stride) in enumerate(((128, 1), (64, 2)), start=1):
        x = layers.Conv2DTranspose(filters, 5, strides=stride, padding="same", use_bias=False,
                                   name=f"deconv{i}")(x)
        x = FusedBatchNormalization(name=f"deconv{i}_bn")(x)
        x = layers.LeakyReLU(0.2, name=f"deconv{i}_act")(x)
    x = layers.Conv2DTranspose(image_shape[-1], 5, strides=2, padding="same", use_bias=False,
                               activation="tanh", name="to_image")(x)
    outputs = layers.Rescaling(127.5, offset=127.5, dtype="float32", name="to_pixels")(x)
    return keras.Model(z, outputs, name="generator")


def discriminator_network(image_shape: tuple[int, ...], dropout: float = 0.3) -> keras.Model:
    """Raw pixels -> two stride-2 5x5 convolutions (64, 128) with LeakyReLU and dropout -> one logit."""
    images = keras.Input(image_shape, name="pixels")
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="to_unit")(images)
    for i, filters in enumerate((64, 128), start=1):
        x = layers.Conv2D(filters, 5, strides=2, padding="same", name=f"conv{i}")(x)
        x = layers.LeakyReLU(0.2, name=f"conv{i}_act")(x)
        x = layers.Dropout(dropout, name=f"conv{i}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    return keras.Model(images, layers.Dense(1, dtype="float32", name="logit")(x),
                       name="discriminator")


def _bce(target: float, logits):
    return ops.mean(keras.losses.binary_crossentropy(
        ops.full_like(logits, target), logits, from_logits=True))


@keras.saving.register_keras_serializable(package="zoo")
class DCGAN(RawPixels, keras.Model):
    """A generator and a discriminator trained against each other by `fit(real_images)`.

    `compile(optimizer)` sets the discriminator's optimizer and a copy of it for the generator
    (or pass `g_optimizer`). The losses are the standard non-saturating GAN losses from logits.
    The training step is written once per backend around shared loss functions. `fit` and
    `evaluate` warn about real images already scaled to [0, 1].
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, latent_dim: int,
                 seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.g_optimizer = None

    @property
    def input_shape(self) -> tuple:
        """`(None, latent_dim)`: what `model(latent)` takes, as a functional model says."""
        return (None, self.latent_dim)

    @property
    def output_shape(self) -> tuple:
        """The generated images' shape, `(None, height, width, channels)`."""
        return self.generator.output_shape

    def call(self, latent, training=False):
        """Generate images (pixel units) from latent vectors."""
        return self.generator(latent, training=training)

    def compile(self, optimizer="adam", g_optimizer=None, **kwargs) -> None:
        """Compile with the discriminator's `optimizer`; the generator gets `g_optimizer` or a copy."""
        super().compile(optimizer=optimizer, **kwargs)
        if g_optimizer is None:
            g_optimizer = self.optimizer.__class__.from_config(self.optimizer.get_config())
        self.g_optimizer = keras.optimizers.get(g_optimizer)
        # Each optimizer holds state for its own network only, on every backend (left unbuilt,
        # PyTorch's trainer would build the first on both networks), so a saved run's
        # optimizer states load back into a recompiled model.
        self.optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    def get_compile_config(self) -> dict:
        return {
            "optimizer": keras.saving.serialize_keras_object(self.optimizer),
            "g_optimizer": keras.saving.serialize_keras_object(self.g_optimizer),
        }

    def compile_from_config(self, config: dict) -> None:
        """Recompile a loaded model (its optimizers' saved states then load back)."""
        self.compile(
            optimizer=keras.saving.deserialize_keras_object(config["optimizer"]),
            g_optimizer=keras.saving.deserialize_keras_object(config["g_optimizer"]),
        )

    @property
    def metrics(self) -> list:
        return [self.d_loss_tracker, self.g_loss_tracker]

    def generate(self, n: int, seed: int | None = None):
        """`n` new images in pixel units (0-255), as a backend tensor of shape `(n, *image_shape)`."""
        z = keras.random.normal((checks.integer("n", n), self.latent_dim), seed=seed)
        return self.generator(z, training=False)

    # Losses, shared by every backend's training step.
    def _noise(self, images):
        return keras.random.normal((ops.shape(images)[0], self.latent_dim),
                                   seed=self.seed_generator)

    def discriminator_loss(self, real, noise, training: bool = True):
        """Real images should score 1, generated ones 0."""
        fake = self.generator(noise, training=training)
        return (_bce(1.0, self.discriminator(real, training=training))
                + _bce(0.0, self.discriminator(fake, training=training)))

    def generator_loss(self, noise, training: bool = True):
        """Generated images should make the discriminator say 1 (the non-saturating loss)."""
        fake = self.generator(noise, training=training)
        return _bce(1.0, self.discriminator(fake, training=training))

    def _log(self, d_loss, g_loss) -> dict:
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {m.name: m.result() for m in self.metrics}

    @staticmethod
    def _images(data):
        return data[0] if isinstance(data, (tuple, list)) else data

    def train_step(self, *args):
        """One discriminator update, then one generator update, on a batch of real images."""
        backend = keras.backend.backend()
        if backend == "tensorflow":
            return self._tensorflow_train_step(self._images(args[0]))
        if backend == "torch":
            return self._torch_train_step(self._images(args[0]))
        if backend == "jax":
            return self._jax_train_step(*args)
        raise ZooError(f"DCGAN has no training step for the {backend!r} backend "
                       "(TensorFlow, JAX and PyTorch have one)")

    def _tensorflow_train_step(self, real) -> dict:
        import tensorflow as tf

        d_vars = self.discriminator.trainable_weights
        # scale_loss: under mixed float16 the optimizers are LossScaleOptimizers, whose apply()
        # divides the gradients by the loss scale; elsewhere it returns the loss unchanged.
        with tf.GradientTape() as tape:
            d_loss = self.discriminator_loss(real, self._noise(real))
            scaled = self.optimizer.scale_loss(d_loss)
        self.optimizer.apply(tape.gradient(scaled, d_vars), d_vars)
        g_vars = self.generator.trainable_weights
        with tf.GradientTape() as tape:
            g_loss = self.generator_loss(self._noise(real))
            scaled = self.g_optimizer.scale_loss(g_loss)
        self.g_optimizer.apply(tape.gradient(scaled, g_vars), g_vars)
        return self._log(d_loss, g_loss)

    def _torch_train_step(self, real) -> dict:
        import torch

        def update(loss, optimizer, variables) -> None:
            self.zero_grad()
            optimizer.scale_loss(loss).backward()
            grads = [v.value.grad for v in variables]
            with torch.no_grad():
                optimizer.apply(grads, variables)

        d_loss = self.discriminator_loss(real, self._noise(real))
        update(d_loss, self.optimizer, self.discriminator.trainable_weights)
        g_loss = self.generator_loss(self._noise(real))
        update(g_loss, self.g_optimizer, self.generator.trainable_weights)
        return self._log(d_loss.detach(), g_loss.detach())

    # JAX: Keras' JAX trainer passes the state in and takes the new state back; nothing is
    # assigned in the step. The state's optimizer slot holds the discriminator optimizer's
    # variables followed by the generator optimizer's (see `_get_jax_state` below).
    @staticmethod
    def _stateless(fn, *groups):
        """Run `fn()` with each `(variables, values)` group bound; its output and new values."""
        mapping = [pair for variables, values in groups for pair in zip(variables, values,
                                                                        strict=True)]
        with keras.StatelessScope(state_mapping=mapping) as scope:
            out = fn()
        new = []
        for variables, values in groups:
            current = (scope.get_current_value(v) for v in variables)
            new.append([old if value is None else value
                        for value, old in zip(current, values, strict=True)])
        return out, *new

    def _jax_update(self, loss_fn, network, optimizer, state):
        """One gradient step of `network` on `loss_fn()`: `jax.value_and_grad` over its
        weights, then `optimizer.stateless_apply`. Returns the loss and the new state."""
        import jax

        trainable, non_trainable, optimizer_variables = state
        where = {id(v): i for i, v in enumerate(self.trainable_variables)}
        at = [where[id(v)] for v in network.trainable_variables]

        def loss(part, non_trainable):
            values = list(trainable)
            for i, value in zip(at, part, strict=True):
                values[i] = value
            value, _, non_trainable = self._stateless(
                loss_fn, (self.trainable_variables, values),
                (self.non_trainable_variables, non_trainable))
            scaled, _ = self._stateless(lambda: optimizer.scale_loss(value),
                                        (optimizer.variables, optimizer_variables))
            return scaled, (value, non_trainable)

        part = [trainable[i] for i in at]
        (_, (value, non_trainable)), grads = jax.value_and_grad(loss, has_aux=True)(
            part, non_trainable)
        part, optimizer_variables = optimizer.stateless_apply(optimizer_variables, grads, part)
        trainable = list(trainable)
        for i, new in zip(at, part, strict=True):
            trainable[i] = new
        return value, (trainable, non_trainable, optimizer_variables)

    def _jax_log(self, metrics_variables, d_loss, g_loss):
        logs, new = self._stateless(lambda: self._log(d_loss, g_loss),
                                    (self.metrics_variables, metrics_variables))
        return logs, new

    def _jax_train_step(self, state, data):
        trainable, non_trainable, optimizer_variables, metrics_variables = state
        real = self._images(data)
        split = len(self.optimizer.variables)
        d_loss, (trainable, non_trainable, d_opt) = self._jax_update(
            lambda: self.discriminator_loss(real, self._noise(real)), self.discriminator,
            self.optimizer, (trainable, non_trainable, optimizer_variables[:split]))
        g_loss, (trainable, non_trainable, g_opt) = self._jax_update(
            lambda: self.generator_loss(self._noise(real)), self.generator,
            self.g_optimizer, (trainable, non_trainable, optimizer_variables[split:]))
        logs, metrics_variables = self._jax_log(metrics_variables, d_loss, g_loss)
        return logs, (trainable, non_trainable, [*d_opt, *g_opt], metrics_variables)

    def _jax_test_step(self, state, data):
        trainable, non_trainable, metrics_variables = state
        real = self._images(data)
        (d_loss, g_loss), _, non_trainable = self._stateless(
            lambda: (self.discriminator_loss(real, self._noise(real), training=False),
                     self.generator_loss(self._noise(real), training=False)),
            (self.trainable_variables, trainable), (self.non_trainable_variables, non_trainable))
        logs, metrics_variables = self._jax_log(metrics_variables, d_loss, g_loss)
        return logs, (trainable, non_trainable, metrics_variables)

    # The JAX trainer carries `self.optimizer.variables` in its state; these three add the
    # generator optimizer's after them, so its moments and step count travel too.
    def _get_jax_state(self, trainable_variables=False, non_trainable_variables=False,
                       optimizer_variables=False, metrics_variables=False,
                       purge_model_variables=False):
        state = list(super()._get_jax_state(
            trainable_variables=trainable_variables,
            non_trainable_variables=non_trainable_variables,
            optimizer_variables=optimizer_variables, metrics_variables=metrics_variables,
            purge_model_variables=purge_model_variables))
        if optimizer_variables and self.g_optimizer is not None:
            slot = int(bool(trainable_variables)) + int(bool(non_trainable_variables))
            state[slot] = [*state[slot], *(v.value for v in self.g_optimizer.variables)]
        return tuple(state)

    def jax_state_sync(self) -> None:
        state = getattr(self, "_jax_state", None)
        if state and not self._jax_state_synced and state.get("optimizer_variables"):
            values = state["optimizer_variables"][len(self.optimizer.variables):]
            for variable, value in zip(self.g_optimizer.variables, values, strict=True):
                variable.assign(value)
        super().jax_state_sync()

    def _get_state_sharding_spec(self):
        trainable, non_trainable, optimizer, metrics = super()._get_state_sharding_spec()
        if self.g_optimizer is not None:
            optimizer = [*optimizer, *(v.value.sharding for v in self.g_optimizer.variables)]
        return trainable, non_trainable, optimizer, metrics

    def test_step(self, *args) -> dict:
        """Both losses on a batch of held-out real images, without updates."""
        if keras.backend.backend() == "jax":
            return self._jax_test_step(*args)
        real = self._images(args[0])
        return self._log(self.discriminator_loss(real, self._noise(real), training=False),
                         self.generator_loss(self._noise(real), training=False))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "latent_dim": self.latent_dim,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config: dict) -> DCGAN:
        config = dict(config)
        for part in ("generator", "discriminator"):
            config[part] = keras.saving.deserialize_keras_object(config[part])
        return cls(**config)


@register(
    Card(
        name="dcgan",
        family="gan",
        task="generation",
        dataset="mnist",
        input_shape=(100,),
        input_dtype="float32",
        output_shape=(28, 28, 1),
        output="generated images in pixel units (0-255); `fit` takes real images of this shape",
        params=2_543_809,
        recipe=Recipe(optimizer="adam", learning_rate=2e-4, beta_1=0.5, batch_size=128,
                      epochs=25,
                      notes="Radford et al.'s recipe: Adam at 2e-4 with beta_1 0.5 for both "
                            "networks, batch 128."),
        description="A DCGAN after TensorFlow's DCGAN tutorial: the generator projects a "
                    "100-dimensional normal vector to 7x7x256 and upsamples with batch-"
                    "normalised transposed convolutions to a tanh image; the discriminator is "
                    "two stride-2 convolutions with LeakyReLU and dropout.",
    )
)
def dcgan(
    latent_dim: int = 100,
    image_shape: Sequence[int] = (28, 28, 1),
    dropout: float = 0.3,
    seed: int | None = None,
) -> keras.Model:
    """The DCGAN: generator and discriminator for `image_shape` images (height, width multiples of 4)."""
    latent_dim = checks.size("latent_dim", latent_dim)
    shape = checks.shape("image_shape", image_shape, 3)
    if shape[0] % 4 or shape[1] % 4:
        raise ZooError(f"image_shape height and width must be multiples of 4, got {shape}")
    model = DCGAN(generator_network(latent_dim, shape),
                  discriminator_network(shape, checks.rate("dropout", dropout)),
                  latent_dim, seed=checks.optional_seed(seed), name="dcgan")
    model.build((None, latent_dim))
    return model
