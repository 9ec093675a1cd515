"""Training recipes: the dataclass a card carries; the optimizer, schedule and compiled model it makes."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import keras
from keras import ops

from zoo import checks
from zoo.errors import ZooError

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "cosine", "onecycle", "step")
TASKS = ("classification", "binary_classification", "reconstruction", "generation")
# Variables whose names contain these are never weight-decayed (biases and normalisation).
NO_DECAY = ("bias", "gamma", "beta")


@dataclass(frozen=True)
class Recipe:
    """How a model is trained by default: optimizer, learning-rate schedule, batch, epochs, regularisation.

    `weight_decay` is Keras' decoupled decay (each step subtracts `lr * weight_decay * w`), applied to
    kernels only. PyTorch-style coupled L2 of `c` under SGD with momentum `m` corresponds to roughly
    `c / (1 - m)` here, so the recipes from PyTorch papers are converted, and the note says so.
    `clipnorm`, when above 0, scales each step's gradients down to that global norm (Keras'
    `global_clipnorm`, over all weights together); no card clips (benchmarks/NOTES.md tried it
    for `imdb_rnn`).

    `jit_compile` and `steps_per_execution` do not change what is learned, only how fast: each
    card sets them to what measured fastest for its model on CPU (`benchmarks/NOTES.md`).
    `mixed_precision` is the card's choice to compute in 16 bits (float32 variables) where the
    hardware does 16-bit arithmetic fast: a GPU, or a CPU with bfloat16 instructions
    (`zoo.train.core.fast_16bit`); elsewhere the model trains in float32.
    """

    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.0
    nesterov: bool = False
    beta_1: float = 0.9
    weight_decay: float = 0.0
    clipnorm: float = 0.0
    schedule: str = "constant"
    warmup_epochs: float = 0.0
    batch_size: int = 128
    epochs: int = 10
    label_smoothing: float = 0.0
    augment: bool = False
    jit_compile: bool = False
    steps_per_execution: int = 1
    mixed_precision: bool = False
    notes: str = ""

    def __post_init__(self) -> None:
        checks.choice("optimizer", self.optimizer, OPTIMIZERS)
        checks.choice("schedule", self.schedule, SCHEDULES)
        checks.positive("learning_rate", self.learning_rate)
        checks.rate("momentum", self.momentum)
        checks.rate("beta_1", self.beta_1)
        checks.number("weight_decay", self.weight_decay, minimum=0.0)
        checks.number("clipnorm", self.clipnorm, minimum=0.0)
        checks.number("warmup_epochs", self.warmup_epochs, minimum=0.0)
        checks.integer("batch_size", self.batch_size)
        checks.integer("epochs", self.epochs)
        checks.rate("label_smoothing", self.label_smoothing)
        checks.integer("steps_per_execution", self.steps_per_execution)

    def summary(self, precision: str | None = None) -> str:
        """One line: optimizer, learning rate and schedule, regularisation, batch, epochs.

        `precision`, the policy a run resolved (`"mixed_bfloat16"`, `"float32"`), is stated in
        place of the card's mixed-precision choice.
        """
        opt = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop"}[self.optimizer]
        details = [f"momentum {self.momentum:g}" if self.momentum else "",
                   "Nesterov" if self.nesterov else "",
                   f"beta_1 {self.beta_1:g}" if self.beta_1 != 0.9 else ""]
        details = [d for d in details if d]
        schedule = {"constant": "constant", "cosine": "cosine-annealed",
                    "onecycle": "one-cycle", "step": "step-decayed"}[self.schedule]
        if details:
            opt += f" ({', '.join(details)})"
        warmup = (f" after {epochs_text(self.warmup_epochs, 'warm-up ')}"
                  if self.warmup_epochs else "")
        parts = [f"{opt}, {schedule} learning rate {self.learning_rate:g}{warmup}"]
        if self.weight_decay:
            parts.append(f"weight decay {self.weight_decay:g}")
        if self.label_smoothing:
            parts.append(f"label smoothing {self.label_smoothing:g}")
        if self.clipnorm:
            parts.append(f"gradients clipped to a global norm of {self.clipnorm:g}")
        parts.append(f"batch {self.batch_size}, {epochs_text(self.epochs)}")
        if self.augment:
            parts.append("pad-crop-flip augmentation")
        if precision is not None:
            parts.append(f"precision {precision}")
        elif self.mixed_precision:
            parts.append("16-bit mixed precision where the hardware is fast at it")
        return ", ".join(parts)

    def replace(self, **changes: object) -> Recipe:
        """Return a copy with `changes` applied (`None` values are ignored), validated."""
        names = {f.name for f in dataclasses.fields(self)}
        bad = sorted(set(changes) - names)
        if bad:
            raise ZooError(f"unknown recipe field(s) {bad}; valid: {', '.join(sorted(names))}")
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


@keras.saving.register_keras_serializable(package="zoo")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """One-cycle learning rate (Smith 2018): linear warm-up to `peak`, then cosine annealing to ~0.

    Starts at `peak / div_factor`, reaches `peak` after `warmup_steps`, and ends at
    `peak / final_div_factor` after `total_steps`.
    """

    def __init__(
        self,
        peak: float,
        total_steps: int,
        warmup_steps: int,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
    ) -> None:
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = max(1, int(warmup_steps))
        self.div_factor = float(div_factor)
        self.final_div_factor = float(final_div_factor)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        start = self.peak / self.div_factor
        end = self.peak / self.final_div_factor
        up = start + (self.peak - start) * step / self.warmup_steps
        span = max(1, self.total_steps - self.warmup_steps)
        done = ops.clip((step - self.warmup_steps) / span, 0.0, 1.0)
        down = end + (self.peak - end) * 0.5 * (1.0 + ops.cos(math.pi * done))
        return ops.where(step < self.warmup_steps, up, down)

    def get_config(self) -> dict:
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
        }


def make_schedule(recipe: Recipe, steps_per_epoch: int | None):
    """The recipe's learning rate: a float when the schedule is constant or the step count unknown."""
    if recipe.schedule == "constant" or not steps_per_epoch:
        return recipe.learning_rate
    total = max(1, recipe.epochs * steps_per_epoch)
    warmup = min(int(recipe.warmup_epochs * steps_per_epoch), total // 2)
    schedules = keras.optimizers.schedules
    if recipe.schedule == "onecycle":
        return OneCycle(recipe.learning_rate, total, warmup or max(1, int(0.3 * total)))
    if recipe.schedule == "cosine":
        if warmup:
            return schedules.CosineDecay(
                recipe.learning_rate / 100, total - warmup, warmup_target=recipe.learning_rate,
                warmup_steps=warmup,
            )
        return schedules.CosineDecay(recipe.learning_rate, total)
    # "step": divide by 10 at 50% and 75% of training (He et al. 2016's CIFAR schedule).
    bounds = [int(total * 0.5), int(total * 0.75)]
    values = [recipe.learning_rate, recipe.learning_rate / 10, recipe.learning_rate / 100]
    return schedules.PiecewiseConstantDecay(bounds, values)


def make_optimizer(recipe: Recipe, steps_per_epoch: int | None = None) -> keras.optimizers.Optimizer:
    """Build the recipe's optimizer; kernels only are weight-decayed. A `clipnorm` scales the
    gradients down whenever their global norm (over all weights together) exceeds it."""
    lr = make_schedule(recipe, steps_per_epoch)
    decay = recipe.weight_decay or None
    clip = {"global_clipnorm": recipe.clipnorm} if recipe.clipnorm else {}
    if recipe.optimizer == "sgd":
        opt = keras.optimizers.SGD(lr, momentum=recipe.momentum, nesterov=recipe.nesterov,
                                   weight_decay=decay, **clip)
    elif recipe.optimizer == "rmsprop":
        opt = keras.optimizers.RMSprop(lr, momentum=recipe.momentum, weight_decay=decay, **clip)
    elif recipe.optimizer == "adamw":
        opt = keras.optimizers.AdamW(lr, beta_1=recipe.beta_1, weight_decay=recipe.weight_decay,
                                     **clip)
    else:
        opt = keras.optimizers.Adam(lr, beta_1=recipe.beta_1, weight_decay=decay, **clip)
    if recipe.weight_decay:
        opt.exclude_from_weight_decay(var_names=list(NO_DECAY))
    return opt


@keras.saving.register_keras_serializable(package="zoo")
class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy from logits for integer labels, with label smoothing (Keras' sparse loss has none)."""

    def __init__(self, label_smoothing: float = 0.1, name: str = "sparse_smoothed_crossentropy",
                 **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        classes = ops.shape(y_pred)[-1]
        labels = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), classes)
        return keras.losses.categorical_crossentropy(
            labels, y_pred, from_logits=True, label_smoothing=self.label_smoothing
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def classification_metrics(num_classes: int, top_k: Sequence[int] = (5,)) -> list:
    """Accuracy plus Keras' top-k accuracy for each k smaller than the number of classes."""
    metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    for k in sorted(set(top_k)):
        checks.integer("top_k", k)
        if k < num_classes:
            metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(k=k, name=f"top{k}_accuracy"))
    return metrics


def epochs_text(n: float, kind: str = "") -> str:
    """`1 epoch`, `5 epochs`, `0.5 warm-up epochs`."""
    return f"{n:g} {kind}epoch{'' if n == 1 else 's'}"


def execution_settings(jit_compile: bool, steps_per_execution: int,
                       backend: str | None = None, *, draws_random: bool = False) -> dict[str, object]:
    """A recipe's `jit_compile` and `steps_per_execution` as `backend` (default: Keras' current
    one) runs them.

    The recipe's values were measured on TensorFlow and apply there. JAX always compiles with
    XLA (without it every operation runs on its own), and keeps the steps per execution. PyTorch
    runs one eager step per execution: Keras allows no other `steps_per_execution` there, and
    `torch.compile` costs more than it saves on these small steps. Inside a `tf.distribute`
    strategy's scope TensorFlow runs one step per execution without XLA: Keras 3 fails there
    with several steps per execution (keras-team/keras#19246) and with XLA over logical
    devices. A model that `draws_random` numbers as it trains (dropout, noise, a VAE's
    sampling) runs without XLA on a TensorFlow host without a GPU: XLA draws Keras' random
    numbers there with its CPU ThreeFry generator, which made a dropout MLP's steps about seven
    times slower than without XLA (benchmarks/NOTES.md).
    """
    backend = backend or keras.backend.backend()
    if backend == "jax":
        return {"jit_compile": True, "steps_per_execution": steps_per_execution}
    if backend == "torch":
        return {"jit_compile": False, "steps_per_execution": 1}
    if backend == "tensorflow" and _tf_distributed():
        return {"jit_compile": False, "steps_per_execution": 1}
    if backend == "tensorflow" and jit_compile and draws_random and not tf_gpus():
        return {"jit_compile": False, "steps_per_execution": steps_per_execution}
    return {"jit_compile": jit_compile, "steps_per_execution": steps_per_execution}


def draws_random(model: keras.Model) -> bool:
    """Whether any layer of `model` (nested ones too) keeps a `keras.random.SeedGenerator`:
    dropout, noise and sampling layers draw random numbers as they train."""
    for layer in [model, *model._flatten_layers(include_self=False)]:
        if isinstance(layer, keras.layers.Dropout) and not layer.rate:
            continue
        if any(isinstance(v, keras.random.SeedGenerator) for v in vars(layer).values()):
            return True
    return False


def tf_gpus() -> bool:
    """Whether TensorFlow sees a GPU."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def _tf_distributed() -> bool:
    import tensorflow as tf

    return tf.distribute.has_strategy()


def compile_model(
    model: keras.Model,
    task: str,
    recipe: Recipe,
    *,
    top_k: Sequence[int] = (5,),
    steps_per_epoch: int | None = None,
    keep_jit: bool = False,
    **compile_kwargs: object,
) -> keras.Model:
    """Compile `model` for its task with the recipe's optimizer, loss and metrics; returns it.

    Classifiers get cross-entropy from logits (smoothed when the recipe says so), accuracy and
    top-k accuracy. Models of the other tasks compute their own losses (`compute_loss` or
    `train_step`) and are compiled with the optimizer alone. Without `steps_per_epoch` the
    learning rate stays at the recipe's base value. The recipe's `jit_compile` goes through
    `execution_settings`; `keep_jit` (the user asked for it) keeps XLA on a model that draws
    random numbers too.
    """
    checks.choice("task", task, TASKS)
    optimizer = make_optimizer(recipe, steps_per_epoch)
    random = not keep_jit and draws_random(model)
    for key, value in execution_settings(recipe.jit_compile, recipe.steps_per_execution,
                                         draws_random=random).items():
        compile_kwargs.setdefault(key, value)
    if task == "classification":
        num_classes = int(model.output_shape[-1])
        loss = (SparseSmoothedCrossentropy(recipe.label_smoothing) if recipe.label_smoothing
                else keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.compile(optimizer=optimizer, loss=loss,
                      metrics=classification_metrics(num_classes, top_k), **compile_kwargs)
    elif task == "binary_classification":
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.BinaryCrossentropy(from_logits=True),
            metrics=[keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)],
            **compile_kwargs,
        )
    else:
        model.compile(optimizer=optimizer, **compile_kwargs)
    return model
