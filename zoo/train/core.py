"""`fit()` trains a zoo model (or your own) on a dataset with its recipe; `evaluate()` tests a saved one."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import inspect
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

import zoo
from zoo import checks
from zoo.data import catalog, pipeline, sources
from zoo.data import text as text_mod
from zoo.errors import ZooError, first_line
from zoo.fileio import write_json
from zoo.recipe import Recipe, compile_model, execution_settings, tf_gpus
from zoo.train import callbacks, chunks, plots, runs
from zoo.train import distribute as distribution
from zoo.train.callbacks import RunAborted, TrainingInterrupted  # fit's `callbacks` hides the module

log = logging.getLogger("zoo.train")
JIT_CHOICES = ("auto", True, False)


class TrainingDiverged(ZooError):
    """The loss became NaN or infinite; the message names the last good checkpoint."""


@dataclass
class TrainResult:
    """What a training run produced: its history, final test metrics and files."""

    history: dict[str, list[float]]
    test_metrics: dict[str, float]
    run_dir: Path
    last_checkpoint: Path
    best_checkpoint: Path | None
    config: dict[str, Any]


@dataclass(frozen=True)
class _Settings:
    """The run's identity: what `config.json` records and a resumed run must agree with."""

    model: str
    model_options: dict[str, Any]
    dataset: str
    task: str
    recipe: Recipe
    seed: int
    validation: float
    top_k: tuple[int, ...]
    steps: int | None
    mixed_precision: bool
    source: str
    keep_jit: bool = False  # jit_compile=True asked for: XLA even where random layers slow it
    init_from: str | None = None  # the checkpoint whose weights the run started from


def cpu_has_bf16(cpuinfo: str) -> bool:
    """Whether `/proc/cpuinfo`'s text lists bfloat16 instructions (AMX or AVX-512 BF16)."""
    return bool({"amx_bf16", "avx512_bf16"} & runs.cpu_flags(cpuinfo))


def fast_16bit() -> bool:
    """Whether this machine computes in 16 bits fast: a GPU the backend uses, or a CPU with
    bfloat16 instructions (`cpu_has_bf16`, from /proc/cpuinfo on Linux)."""
    if runs.accelerators():
        return True
    return cpu_has_bf16(runs.read_cpuinfo())


def resolve_mixed_precision(recipe: Recipe, mixed_precision: str | bool) -> bool:
    """`"auto"`: the card's choice where `fast_16bit()`; True or False as given."""
    if mixed_precision == "auto":
        return bool(recipe.mixed_precision) and fast_16bit()
    return checks.flag("mixed_precision", mixed_precision)


def mixed_policy() -> str:
    """The mixed-precision policy for this machine: float16 on a GPU, bfloat16 on a CPU."""
    gpu = keras.backend.backend() == "tensorflow" and tf_gpus()
    return "mixed_float16" if gpu else "mixed_bfloat16"


@contextlib.contextmanager
def dtype_policy(policy):
    """Build and train under Keras' dtype `policy` (a name or a policy); the previous one is
    restored after."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def precision(mixed: bool):
    """Build and train in this machine's `mixed_policy()` if `mixed`, else under the current
    policy (a context manager)."""
    return dtype_policy(mixed_policy() if mixed else keras.mixed_precision.global_policy())


def infer_task(model: keras.Model, spec: catalog.DatasetSpec) -> str:
    """Guess the task of a user's model from its output and the dataset."""
    out = tuple(model.output_shape[1:]) if hasattr(model, "output_shape") else ()
    if spec.kind == "text" and out == (1,):
        return "binary_classification"
    if spec.kind == "image" and out == (spec.num_classes,):
        return "classification"
    if model.compiled:
        return "custom"
    raise ZooError(f"cannot tell how to train model {model.name!r} (output {out}) on "
                   f"{spec.name}: compile it first, or give it {spec.num_classes} logits")


def card_shapes(card, options: dict, spec: catalog.DatasetSpec) -> tuple[tuple, tuple, int | None]:
    """The input and output shapes of registered model `card` built with `options`, and its
    sequence length: what `check_pair` compares with dataset `spec`."""
    built = {**zoo.options(card.name), **options}
    card_input = tuple(built.get("input_shape") or card.input_shape)
    if "image_shape" in built:
        card_output = tuple(built["image_shape"])
    elif "num_classes" in built:
        card_output = (built["num_classes"],)
    else:
        card_output = card.output_shape
    seq = built.get("sequence_length")
    return ((seq,) if spec.kind == "text" else card_input), card_output, seq


def check_pair(card_input: tuple, card_output: tuple, task: str, name: str,
               spec: catalog.DatasetSpec, sequence_length: int | None) -> None:
    """Refuse a model/dataset pair whose shapes or class counts do not fit, saying what would."""
    data_shape = (sequence_length,) if spec.kind == "text" else spec.shape
    model_shape = card_output if task == "generation" else card_input
    if spec.kind == "text" and task != "binary_classification":
        raise ZooError(f"{name} is not a text model; {spec.name} holds text")
    if tuple(model_shape) != tuple(data_shape):
        fitting = [d for d in catalog.DATASETS.values()
                   if (d.kind == "image" and d.shape == tuple(model_shape))]
        hint = f"; datasets of that shape: {', '.join(d.name for d in fitting)}" if fitting else ""
        raise ZooError(f"{name} takes inputs of shape {tuple(model_shape)} but {spec.name} has "
                       f"{tuple(data_shape)}{hint}")
    if task == "classification" and card_output[-1] != spec.num_classes:
        raise ZooError(f"{name} outputs {card_output[-1]} classes but {spec.name} has "
                       f"{spec.num_classes}: pass options={{'num_classes': {spec.num_classes}}} "
                       f"(--option num_classes={spec.num_classes})")


def _monitor(task: str, validation: float) -> tuple[str, str]:
    prefix = "val_" if validation else ""
    if task in ("classification", "binary_classification"):
        return f"{prefix}accuracy", "max"
    if task == "generation":
        return f"{prefix}g_loss", "min"
    return f"{prefix}loss", "min"


def _sampler(task: str, images: np.ndarray, seed: int):
    """A function drawing the run's sample grid from the model, or None for classifiers."""
    if task == "reconstruction":
        fixed = images[:8]

        def reconstructions(model):
            out = np.asarray(model.predict(fixed, verbose=0)) * 255.0
            return plots.grid(np.concatenate([fixed, out]).astype(np.float32), columns=len(fixed))

        return reconstructions
    if task == "generation":
        def generated(model):
            latent = np.random.default_rng(seed).normal(size=(16, model.latent_dim))
            images = keras.ops.convert_to_numpy(model.generator(latent.astype("float32"),
                                                                training=False))
            return plots.grid(images, columns=4)

        return generated
    return None


def _environment() -> dict[str, Any]:
    return {"versions": runs.versions(), "device": runs.device(),
            "command": runs.command_line(),
            "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def _settings_from_config(config: dict[str, Any]) -> _Settings:
    fields = {f.name for f in dataclasses.fields(_Settings)}
    values = {k: v for k, v in config.items() if k in fields}
    values["recipe"] = Recipe(**values["recipe"])
    values["top_k"] = tuple(values["top_k"])
    return _Settings(**values)


def _options_used(settings: _Settings) -> dict[str, Any]:
    """The builder options a run's model was built with: its card's defaults, then the user's."""
    registered = settings.model in zoo.list_models()
    return {**(zoo.options(settings.model) if registered else {}), **settings.model_options}


def _plain(value):
    """A list for a list or tuple (what JSON gives back for a tuple), else the value itself."""
    return list(value) if isinstance(value, (list, tuple)) else value


def _check_resume_args(saved: _Settings, given: dict[str, Any]) -> None:
    """On resume, settings come from config.json; a differing explicit argument is an error.

    `given` holds the arguments that were passed: None, or `fit`'s own default, means not given
    (so an argument passed at its default value cannot be told from one left out).
    """
    recipe = dataclasses.asdict(saved.recipe)
    defaults = {k: p.default for k, p in inspect.signature(fit).parameters.items()}
    for key, value in given.items():
        if value is None or (key in defaults and _plain(value) == _plain(defaults[key])):
            continue
        with contextlib.suppress(ZooError):  # an alias names the run's model or dataset too
            if key == "model":
                value = zoo.registry.resolve(value)
            elif key == "dataset":
                value = catalog.spec(value).name
        if key == "options":  # each given builder option must match the run's
            used = _options_used(saved)
            for option, v in value.items():
                if _plain(used.get(option)) != _plain(v):
                    raise ZooError(f"cannot resume with option {option}={v!r}: the run was "
                                   f"started with {option}={_plain(used.get(option))!r}")
            continue
        # the run's own settings first: its mixed_precision is the one it resolved and used
        old = getattr(saved, key) if hasattr(saved, key) else recipe.get(key)
        if _plain(old) != _plain(value):
            raise ZooError(f"cannot resume with {key}={_plain(value)!r}: the run was started "
                           f"with {key}={_plain(old)!r} (resume takes its settings from "
                           "config.json)")


def fit(
    model: str | keras.Model | None = None,
    dataset: str | None = None,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    optimizer: str | None = None,
    validation: float = 0.1,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    run_dir: str | os.PathLike | None = None,
    resume: bool = False,
    init_from: str | os.PathLike | None = None,
    top_k: Sequence[int] = (5,),
    steps: int | None = None,
    jit_compile: str | bool = "auto",
    mixed_precision: str | bool = "auto",
    verbose: int | str = "auto",
    options: dict[str, Any] | None = None,
    source: str = "auto",
    callbacks: Sequence[keras.callbacks.Callback] = (),
    distribute: str | None = None,
) -> TrainResult:
    """Train `model` on `dataset` with its card's recipe, then test it; every epoch is resumable.

    Args:
        model: a registered name (`"vgg13"`) or a `keras.Model` of your own; one you have
            compiled trains with its own optimizer and metrics (so `learning_rate`,
            `optimizer`, `top_k` and `jit_compile` are refused for it), else the zoo compiles it.
        dataset: default: the card's dataset (required for your own model).
        epochs: override the recipe's number of epochs.
        batch_size: override the recipe's batch size.
        learning_rate: override the recipe's (peak) learning rate.
        optimizer: override the recipe's optimizer (`adam`, `adamw`, `sgd`, `rmsprop`).
        validation: fraction of the training split held out for validation each epoch.
        seed: seeds the weights, the validation carve, the data order and augmentation.
        data_dir: folder of local dataset files (default `$ZOO_DATA_DIR`, then the usual lookup;
            a resumed run defaults to the folder it started with).
        run_dir: the run folder (default `runs/<model>-<UTC time>`).
        resume: continue the run in `run_dir` from where it stopped; it refuses data whose
            split sizes differ from those the run started with.
        init_from: a new run that starts from the weights of this checkpoint (`.keras` or
            `.weights.h5`) of the same model with the same options, with a fresh optimizer and
            the recipe's schedule from its start: for example from the last good checkpoint of
            a run that diverged, at a lower `learning_rate`. It is checked before the run
            folder is made.
        top_k: the k of each top-k accuracy metric (classifiers).
        steps: cap on steps per epoch (and on validation and test steps), for smoke runs.
        jit_compile: XLA compilation on TensorFlow: `"auto"` (the card's choice, measured
            fastest on CPU, and off on a CPU for a model with dropout or other random layers,
            whose random numbers XLA draws slowly there), True or False. JAX always compiles;
            PyTorch runs eagerly (`zoo.recipe.execution_settings`).
        mixed_precision: compute in 16 bits with float32 variables: float16 with loss scaling
            on a GPU, bfloat16 on a CPU. `"auto"`: the card's choice (`Recipe.mixed_precision`,
            the convolutional networks), where the machine is fast at it: a GPU, or a CPU
            with bfloat16 instructions (`fast_16bit`); True or False to choose.
        verbose: 0 silent, 1 progress bar, 2 one line per epoch; `"auto"`: 1 on a terminal,
            else 2.
        options: builder options of a registered model (`{"num_classes": 10}`).
        source: `"auto"` (local files, then TFDS) or `"synthetic"` (random data of the right
            shapes; for smoke runs and benchmarks; `"synthetic:N"` for N training examples).
        callbacks: extra Keras callbacks, called after the zoo's own.
        distribute: train past one device: `"mirrored"` (TensorFlow, this host's GPUs, or
            its logical CPU devices without GPUs), `"multiworker"` (TensorFlow, the hosts
            `TF_CONFIG` names; every worker runs the same call and the chief writes
            `run_dir`), `"data_parallel"` (JAX, every local device), or None
            (`zoo.train.distribute`). The batch size is the global batch.

    Returns:
        A `TrainResult`. Raises `ZooError` for bad options, `TrainingDiverged` if the loss
        becomes NaN (the last good checkpoint is kept and named), `TrainingInterrupted` after
        SIGINT or SIGTERM saved the run, and `RunAborted` for a Ctrl-C that stopped it at once
        (both `KeyboardInterrupt`s that name the run folder).
    """
    if distribute == "multiworker" and run_dir is None:  # each worker would pick its own name
        raise ZooError("distribute='multiworker' needs run_dir (--run-dir): the same folder on "
                       "every worker, where the chief writes the run")
    spread = distribution.setup(distribute)
    if resume:
        if run_dir is None:
            raise ZooError("resume needs the run folder to continue (run_dir=..., --resume DIR)")
        run_dir = Path(run_dir)
        if not (run_dir / runs.CONFIG).exists():
            raise ZooError(f"nothing to resume in {run_dir}: it has no {runs.CONFIG}")
        config = runs.read_json(run_dir / runs.CONFIG)
        settings = _settings_from_config(config)
        given = {"model": model if isinstance(model, str) else None, "dataset": dataset,
                 "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
                 "optimizer": optimizer, "jit_compile": jit_compile, "steps": steps,
                 "validation": validation,
                 "seed": seed, "top_k": top_k, "mixed_precision": mixed_precision,
                 "options": _options_dict(options) or None, "source": source,
                 "init_from": None if init_from is None else _init_path(init_from)}
        _check_resume_args(settings, given)
        if data_dir is None and config.get("data_dir"):  # the folder the run started with
            data_dir = config["data_dir"]
        user_model = model if isinstance(model, keras.Model) else None
    else:
        settings, user_model = _resolve(model, dataset, epochs, batch_size, learning_rate,
                                        optimizer, validation, seed, top_k, steps, jit_compile,
                                        mixed_precision, options, source)
        if init_from is not None:
            settings = dataclasses.replace(settings, init_from=_init_path(init_from))
            _check_init_from(settings, user_model)
        if isinstance(run_dir, str) and not run_dir.strip():
            raise ZooError("run_dir must name a folder, got an empty string")
        if run_dir is not None:
            run_dir = Path(run_dir)
            if spread.chief:  # the other workers of a multi-worker run write elsewhere
                _refuse_used(run_dir)  # checked again under the lock, against a run started since
        config = None
    if settings.recipe.batch_size % spread.batch_multiple:  # before anything is written
        raise ZooError(f"batch_size {settings.recipe.batch_size} must be a multiple of "
                       f"{spread.batch_multiple}, the replicas each batch is split over")
    if spread.name and (user_model is not None or isinstance(model, keras.Model)):
        raise ZooError(f"distribute={spread.name!r} builds the model inside the strategy's "
                       "scope: pass a registered model's name, not a keras.Model built outside")
    verbose = resolve_verbose(verbose)
    if run_dir is None:  # made now, once every argument is checked: nothing is left behind
        run_dir = runs.default_run_dir(settings.model)
    if not spread.chief:
        return _run_as_worker(settings, user_model, run_dir, config, data_dir, verbose,
                              list(callbacks), spread)
    with runs.locked(run_dir):
        if config is None:
            _refuse_used(run_dir)
        for path in runs.remove_partial_files(run_dir):
            log.info("removed %s, left half-written by an interrupted run", path)
        try:
            return _run(settings, user_model, run_dir, config, data_dir, verbose,
                        list(callbacks), spread)
        except KeyboardInterrupt as stop:
            if isinstance(stop, (TrainingInterrupted, RunAborted)):
                raise
            raise RunAborted(run_dir) from stop


def _run_as_worker(settings, user_model, run_dir: Path, config, data_dir, verbose,
                   extra_callbacks, spread: distribution.Distribution) -> TrainResult:
    """A multi-worker run on a worker other than the chief: the same steps (each is a collective
    the chief waits for), with the files written to a temporary folder deleted at the end. A
    resumed run starts from a copy of the chief's run folder, which every worker must see
    (a shared file system). The result and any interruption name the chief's folder."""
    own = Path(tempfile.mkdtemp(prefix=f"zoo-{spread.task.replace(':', '')}-"))
    print(f"zoo.train: {spread.task} of a multi-worker run: the chief ({spread.chief_task}) "
          f"writes the run folder {run_dir}; this worker writes to {own}, deleted at the end",
          flush=True)
    try:
        if config is not None:
            # Half-written files, which the chief may be removing meanwhile, are left out.
            partial = shutil.ignore_patterns(".*.partial.keras", ".*.tmp", runs.LOCK,
                                             "tensorboard")
            try:
                shutil.copytree(run_dir, own, ignore=partial, dirs_exist_ok=True)
            except (shutil.Error, OSError) as error:
                raise ZooError(f"cannot resume on {spread.task}: copying the chief's run folder "
                               f"{run_dir} failed ({error})") from None
        try:
            result = _run(settings, user_model, own, config, data_dir, verbose, extra_callbacks,
                          spread)
        except callbacks.TrainingInterrupted as stop:
            raise callbacks.TrainingInterrupted(stop.signum, run_dir, stop.epoch,
                                                stop.batch) from None
        except (ZooError, OSError) as error:  # name the chief's folder, not this one's
            if str(own) not in str(error):
                raise
            raise type(error)(str(error).replace(str(own), str(run_dir))) from None
    finally:
        shutil.rmtree(own, ignore_errors=True)
    return dataclasses.replace(
        result, run_dir=run_dir, last_checkpoint=run_dir / runs.LAST,
        best_checkpoint=None if result.best_checkpoint is None else run_dir / runs.BEST)


def _options_dict(options) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
        raise ZooError(f"options must be a dict of the model builder's options (e.g. "
                       f"{{'dropout': 0.2}}), got {options!r}")
    return dict(options)


def _init_path(init_from: str | os.PathLike) -> str:
    """`init_from` as an absolute path, or a ZooError if it is not a checkpoint file."""
    path = Path(init_from).expanduser()
    if not path.is_file():
        raise ZooError(f"init_from {str(init_from)!r}: no such file (a .keras checkpoint, or a "
                       ".weights.h5 file)")
    if not path.name.endswith((".keras", ".weights.h5")):
        raise ZooError(f"init_from {str(init_from)!r}: not a .keras or .weights.h5 file")
    return str(path.resolve())


def _check_init_from(settings: _Settings, user_model) -> None:
    """A weight that does not fit is an error before any file is written. A model of the
    user's own gets the weights now; a registered one is built here only to check them (and
    again in the run)."""
    with precision(settings.mixed_precision):
        built = user_model if user_model is not None else zoo.get(
            settings.model, compile=False, **settings.model_options)
        _init_weights(built, settings.init_from)


def _init_weights(model: keras.Model, checkpoint: str) -> keras.Model:
    """`model` with the weights of `checkpoint`, every one of them; its optimizer starts afresh."""
    return _load_weights(model, Path(checkpoint), optimizer=False,
                         mismatch=f"init_from {checkpoint}: its weights do not fit {model.name}",
                         advice="start from a checkpoint of the same model with the same "
                                "options")


def _load_weights(model: keras.Model, checkpoint: Path, *, optimizer: bool, mismatch: str,
                  advice: str) -> keras.Model:
    """`model.load_weights(checkpoint)`, strictly: what Keras would only warn of skipping is a
    ZooError, `mismatch (Keras' words); advice`. With `optimizer`, that is any variable, the
    optimizer's state included; without, any part but the optimizer, which starts afresh.
    Nothing in the file is deserialised."""
    runs.check_keras_file(checkpoint)
    try:
        with warnings.catch_warnings():
            if optimizer:
                warnings.filterwarnings("error", "Skipping variable loading")
            else:
                warnings.filterwarnings("error", "Skipping")
                warnings.filterwarnings("ignore", "Skipping variable loading for optimizer")
            with runs.weights_file(checkpoint) as weights:
                model.load_weights(weights)
    except Exception as err:  # Keras raises ValueError, KeyError... for weights that do not fit
        raise ZooError(f"{mismatch} ({first_line(err)}); {advice}") from err
    return model


def _refuse_used(run_dir: Path) -> None:
    if (run_dir / runs.STATE).exists() or (run_dir / runs.CONFIG).exists():
        raise ZooError(f"run folder {run_dir} already holds a run: pass resume=True "
                       "(--resume) to continue it, or choose another run_dir")


def _resolve(model, dataset, epochs, batch_size, learning_rate, optimizer, validation, seed,
             top_k, steps, jit_compile, mixed_precision, options, source):
    """Check every argument and resolve the recipe: card defaults with the user's overrides."""
    if model is None:
        raise ZooError(f"fit needs a model: a registered name ({', '.join(zoo.list_models())}) "
                       "or a keras.Model")
    options = _options_dict(options)
    if isinstance(model, keras.Model):
        if options:
            raise ZooError("options apply to registered models; build your model with them")
        if dataset is None:
            raise ZooError("fit(model=<keras.Model>) needs a dataset")
        unused = [k for k, v in (("learning_rate", learning_rate), ("optimizer", optimizer),
                                 ("top_k", None if _plain(top_k) == [5] else top_k),
                                 ("jit_compile", None if jit_compile == "auto" else jit_compile))
                  if v is not None]
        if model.compiled and unused:  # they would be recorded in config.json, never used
            raise ZooError(f"{', '.join(unused)}: {model.name} is compiled already, and trains "
                           "with its own optimizer and metrics; compile it with these, or pass "
                           "it uncompiled to get the zoo's")
        spec = catalog.spec(dataset)
        task = infer_task(model, spec)
        name, recipe, user_model = model.name, Recipe(), model
        card_input, card_output = tuple(model.input_shape[1:]), tuple(model.output_shape[1:])
        seq = card_input[0] if spec.kind == "text" else None
    else:
        card = zoo.card(model)
        name, recipe, task, user_model = card.name, card.recipe, card.task, None
        spec = catalog.spec(dataset or card.dataset)
        if options:  # build once to check the options' values before anything is written
            zoo.get(name, compile=False, **options)
        card_input, card_output, seq = card_shapes(card, options, spec)
    check_pair(card_input, card_output, task, name, spec, seq)
    if jit_compile not in JIT_CHOICES:
        raise ZooError(f"jit_compile must be 'auto', True or False, got {jit_compile!r}")
    recipe = recipe.replace(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                            optimizer=optimizer,
                            jit_compile=None if jit_compile == "auto" else jit_compile)
    sources.check_source(source)
    if isinstance(top_k, (int, str)) or not isinstance(top_k, Sequence):
        raise ZooError(f"top_k must be a list of integers, got {top_k!r}")
    settings = _Settings(
        model=name, model_options=options, dataset=spec.name, task=task, recipe=recipe,
        seed=checks.seed(seed),
        validation=checks.number("validation", validation, minimum=0.0, maximum=1.0,
                                 open_max=True),
        top_k=tuple(checks.integer("top_k", k) for k in top_k),
        steps=None if steps is None else checks.integer("steps", steps),
        mixed_precision=resolve_mixed_precision(recipe, mixed_precision), source=source,
        keep_jit=jit_compile is True)
    policy = getattr(getattr(user_model, "dtype_policy", None), "name", "float32")
    if user_model is not None and settings.mixed_precision and not policy.startswith("mixed"):
        raise ZooError(f"mixed_precision=True cannot change a model already built in {policy}: "
                       "build it after keras.mixed_precision.set_global_policy("
                       f"{mixed_policy()!r}), or pass a registered model's name")
    return settings, user_model


def _data(settings: _Settings, data_dir):
    """Arrays of the three splits, and the vectoriser for text (saved with the run)."""
    spec = catalog.spec(settings.dataset)
    text = {}
    if spec.kind == "text":
        options = _options_used(settings)
        text = {"vocab_size": options.get("vocab_size", 20_000),
                "sequence_length": options.get("sequence_length", text_mod.SEQUENCE_LENGTH)}
    common = dict(seed=settings.seed, validation=settings.validation, data_dir=data_dir,
                  source=settings.source, **text)
    splits = {s: zoo.data.arrays(spec.name, s, **common)
              for s in (("train", "validation", "test") if settings.validation
                        else ("train", "test"))}
    vectorizer = None
    if spec.kind == "text":
        vectorizer = zoo.data.vectorizer(spec.name, data_dir, seed=settings.seed,
                                         validation=settings.validation, source=settings.source,
                                         **text)
    return splits, vectorizer


def _build(settings: _Settings, user_model, steps_per_epoch: int) -> keras.Model:
    if user_model is not None:
        model = user_model
        if not model.compiled:
            compile_model(model, settings.task, settings.recipe, top_k=settings.top_k,
                          steps_per_epoch=steps_per_epoch, keep_jit=settings.keep_jit)
        return model
    if settings.model not in zoo.list_models():
        raise ZooError(f"{settings.model} is not a registered model: pass the keras.Model again "
                       "to resume a run that has no checkpoint yet")
    # IMDB models keep their vocab_size: the vectoriser was adapted to at most that many ids.
    model = zoo.get(settings.model, compile=False, **settings.model_options)
    return compile_model(model, settings.task, settings.recipe, top_k=settings.top_k,
                         steps_per_epoch=steps_per_epoch, keep_jit=settings.keep_jit)


def resolve_verbose(verbose: int | str) -> int:
    """`"auto"`: Keras' progress bar on a terminal, one line per pass when piped; else 0-2."""
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    return checks.integer("verbose", verbose, minimum=0, maximum=2)


def _precision(settings: _Settings) -> str:
    """The dtype policy the run computes in: `precision()`'s."""
    return mixed_policy() if settings.mixed_precision else \
        keras.mixed_precision.global_policy().name


def _print_recipe(settings: _Settings, run_dir: Path, counts: dict[str, int],
                  start_epoch: int, interrupted: dict[str, Any] | None = None) -> None:
    steps = "all" if settings.steps is None else settings.steps
    print(f"zoo.train: {settings.model} on {settings.dataset} "
          f"({', '.join(f'{k} {v:,}' for k, v in counts.items())})\n"
          f"  recipe: {settings.recipe.summary(_precision(settings))}\n"
          f"  seed {settings.seed}, steps per epoch {steps}, run folder {run_dir}"
          + (f"\n  weights from {settings.init_from}" if settings.init_from else "")
          + _resuming(start_epoch, interrupted), flush=True)


def _resuming(start_epoch: int, interrupted: dict[str, Any] | None) -> str:
    if interrupted:
        return (f"\n  resuming in epoch {interrupted['epoch']} after batch "
                f"{interrupted['batches_done']} (stopped by a signal there)")
    return f"\n  resuming after epoch {start_epoch}" if start_epoch else ""


def _load(checkpoint: Path) -> keras.Model:
    from zoo.train.evaluate import load  # evaluate imports this module

    return load(checkpoint)


def _restore_weights(model: keras.Model, checkpoint: Path) -> keras.Model:
    """`model` with the weights and optimizer state of `checkpoint`, which a run of it saved.

    Nothing in the file is deserialised, so a model with code of its own (a `Lambda`, a custom
    layer Keras has not registered) is restored as safely as any other.
    """
    optimizer = getattr(model, "optimizer", None)  # None until compiled
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)  # else its state would be skipped
    # an optimizer Keras cannot restore would restart its state at step 0
    return _load_weights(model, checkpoint, optimizer=True,
                         mismatch=f"{checkpoint}: its weights or optimizer do not fit the model "
                                  "given",
                         advice="pass the model the run was started with, compiled (or not) "
                                "as it was then")


def _resume_from(run_dir: Path, state: dict[str, Any], settings: _Settings, user_model,
                 steps_per_epoch: int) -> keras.Model:
    """The model where the run stopped, with its seed states, or a ZooError saying what is wrong.

    That is the checkpoint saved mid-epoch on SIGINT or SIGTERM if there is one, else the last
    finished epoch's. A model of the user's own, passed again, gets the checkpoint's weights and
    optimizer state; a registered one is loaded from the file.
    """
    where = state.get("interrupted") or state
    checkpoint = run_dir / where.get("checkpoint", runs.LAST)
    if not checkpoint.is_file():
        raise ZooError(f"cannot resume {run_dir}: {runs.STATE} names the checkpoint "
                       f"{checkpoint}, which is missing; restore it or start a new run")
    # its random state is put back as training starts (ResumeState)
    if user_model is not None:
        return _restore_weights(_build(settings, user_model, steps_per_epoch), checkpoint)
    try:
        return _load(checkpoint)
    except ZooError as err:
        if settings.model in zoo.list_models():
            raise
        raise ZooError(f"cannot resume {run_dir}: {checkpoint} cannot be loaded as it is; pass "
                       f"your model again to restore its weights into it: "
                       f"zoo.train.fit(model, run_dir=..., resume=True) ({err})") from err


def _keep_jit(model: keras.Model, settings: _Settings) -> keras.Model:
    """A resumed model compiled as the run started: XLA kept where `jit_compile=True` asked."""
    if settings.keep_jit:
        model.jit_compile = execution_settings(True, model.steps_per_execution)["jit_compile"]
    return model


def _run(settings: _Settings, user_model, run_dir: Path, config, data_dir, verbose,
         extra_callbacks, spread: distribution.Distribution) -> TrainResult:
    splits, vectorizer = _data(settings, data_dir)
    recipe = settings.recipe
    x, y = splits["train"]
    if settings.task in ("reconstruction", "generation"):
        y = None
    steps_per_epoch = pipeline.batches(pipeline.usable(len(x), spread.batch_multiple),
                                       recipe.batch_size)
    if settings.steps:
        steps_per_epoch = min(steps_per_epoch, settings.steps)
    state = runs.read_json(run_dir / runs.STATE) if (run_dir / runs.STATE).exists() else {}
    start = int(state.get("epochs_done", 0))
    if state.get("interrupted"):  # the epoch a signal stopped (a diverged one is not recorded)
        start = int(state["interrupted"]["epoch"]) - 1
    counts = {k: len(v[0]) for k, v in splits.items()}
    spread.check_same_everywhere(json.dumps(
        {"settings": dataclasses.asdict(settings), "data": counts, "epoch": start,
         "interrupted": state.get("interrupted")}, sort_keys=True, default=str))
    if config is not None and config.get("data") and config["data"] != counts:
        def listed(c):
            return ", ".join(f"{k} {v:,}" for k, v in c.items())

        raise ZooError(f"cannot resume {run_dir}: its data changed since the run started "
                       f"({listed(config['data'])} then, {listed(counts)} now); restore the "
                       f"data it used (data_dir {config.get('data_dir')}) or start a new run")
    if config is None:
        config = {**{k: v for k, v in dataclasses.asdict(settings).items()},
                  "data_dir": None if data_dir is None else str(Path(data_dir).resolve()),
                  "data": {k: len(v[0]) for k, v in splits.items()},
                  "precision": _precision(settings),
                  "distribute": spread.describe(), "environment": _environment()}
        runs.save_config(run_dir, config)
        if vectorizer is not None:
            vectorizer.save(run_dir / "vocabulary.json")
    _print_recipe(settings, run_dir, {k: len(v[0]) for k, v in splits.items()}, start,
                  state.get("interrupted"))

    keras.utils.set_random_seed(settings.seed)
    epoch_counter = callbacks.EpochCounter(start)  # the dataset reads it: outside the strategy
    # variables made here are mirrored, or laid out over the devices
    with precision(settings.mixed_precision), spread.scope():
        if start or state.get("interrupted"):
            model = _keep_jit(_resume_from(run_dir, state, settings, user_model,
                                           steps_per_epoch), settings)
        else:
            model = _build(settings, user_model, steps_per_epoch)
            if settings.init_from and user_model is None:
                _init_weights(model, settings.init_from)
        history = _train(model, settings, splits, x, y, start, run_dir, state, verbose,
                         extra_callbacks, epoch_counter, spread)

    # The model tested is the one validation chose (best.keras), as early stopping would; a GAN's
    # validation losses choose nothing, so it, and runs without validation, test the last one.
    best = run_dir / runs.BEST
    chosen = runs.LAST
    with spread.scope():
        if settings.validation and settings.task != "generation" and best.exists():
            chosen = runs.BEST  # into the model in memory: a file is deserialised only to resume
            model = _restore_weights(model, best)
        tested = _eval_split(splits["test"], settings)
        test = model.evaluate(_eval_dataset(tested, settings, spread.batch_multiple),
                              verbose=0, return_dict=True)
    test = {k: float(v) for k, v in test.items()}
    epoch = state.get("best_epoch") if chosen == runs.BEST else state.get("epochs_done", start)
    write_json(run_dir / runs.METRICS, {"test": test, "checkpoint": chosen, "epoch": epoch,
                                        "epochs": state.get("epochs_done", start),
                                        "dataset": settings.dataset,
                                        "examples": len(tested[0])})
    print(f"zoo.train: test {format_metrics(test)} ({chosen}, epoch {epoch}); run folder "
          f"{run_dir}", flush=True)
    return TrainResult(history=history, test_metrics=test, run_dir=run_dir,
                       last_checkpoint=run_dir / runs.LAST,
                       best_checkpoint=best if best.exists() else None, config=config)


def _eval_split(split, settings: _Settings):
    """The examples of a validation or test split that are evaluated: all, or with `steps`, a
    seeded draw of `steps` batches' worth over the whole split (not its first, one-class ones)."""
    x, y = split
    count = None if settings.steps is None else settings.steps * settings.recipe.batch_size
    return pipeline.sample(x, y, count, settings.seed)


def _eval_dataset(split, settings: _Settings, multiple: int = 1):
    """Validation or test batches of `_eval_split(split)`, in order."""
    x, y = _eval_split(split, settings)
    if settings.task in ("reconstruction", "generation"):
        y = None
    return pipeline.dataset(x, y, settings.recipe.batch_size, shuffle=False,
                            steps_per_epoch=settings.steps, batch_multiple=multiple)


@contextlib.contextmanager
def _signals_to(preemption: callbacks.Preemption):
    """Route SIGINT and SIGTERM to `preemption` for the block (main thread only).

    A signal the process ignores (a shell's background job ignores SIGINT) stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, preemption.request)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def format_metrics(metrics: dict[str, float]) -> str:
    parts = []
    for key, value in metrics.items():
        parts.append(f"{key} {100 * value:.2f}%" if "accuracy" in key else f"{key} {value:.4f}")
    return ", ".join(parts)


def _train(model, settings, splits, x, y, start, run_dir, state, verbose, extra_callbacks,
           epoch, spread: distribution.Distribution):
    """Fit from epoch `start` to the recipe's last, with the run's callbacks; with nothing left
    to train (a finished run resumed), redraw its curves, which a kill may have left behind."""
    recipe, multiple = settings.recipe, spread.batch_multiple
    history = {}
    if start < recipe.epochs:
        def train_data(start_step=0):  # `(dataset, the block to fit in)`: zoo.train.chunks
            return chunks.training_data(model, x, y, recipe.batch_size, shuffle=True,
                                        augment=recipe.augment, seed=settings.seed,
                                        epoch=epoch.variable, steps_per_epoch=settings.steps,
                                        batch_multiple=multiple, start_step=start_step)

        per_step = chunks.batches_per_step(model)
        if per_step > 1:
            print(f"  each step trains up to {per_step} batches in one compiled call: the "
                  "progress bar counts steps", flush=True)
        val_ds = (_eval_dataset(splits["validation"], settings, multiple)
                  if settings.validation else None)
        monitor, mode = _monitor(settings.task, settings.validation)
        watch = callbacks.DivergenceWatch()
        sample_source = splits["validation" if settings.validation else "test"][0]
        recorder = callbacks.RunRecorder(run_dir, state, monitor, mode, watch,
                                         _sampler(settings.task, sample_source, settings.seed))
        interrupted = state.get("interrupted")
        skip = interrupted["batches_done"] if interrupted else 0
        preemption = callbacks.Preemption(run_dir, state, first_batch=skip, agree=spread.agree)
        callback_list = [epoch, watch, recorder, preemption,  # TensorBoard on every backend
                         keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard")),
                         *extra_callbacks]
        if start or interrupted:
            callback_list.insert(0, callbacks.ResumeState(
                interrupted or state, interrupted["metrics"] if interrupted else None))
        fit_args = dict(validation_data=val_ds, verbose=verbose, shuffle=False)
        try:
            with _signals_to(preemption):
                if skip:  # the rest of the epoch SIGINT or SIGTERM stopped
                    data, block = train_data(skip)
                    with block:
                        model.fit(data, epochs=start + 1, initial_epoch=start,
                                  callbacks=callback_list, **fit_args)
                    preemption.raise_if_stopped()
                    start += 1
                if start < recipe.epochs and watch.where is None and not model.stop_training:
                    data, block = train_data()
                    with block:
                        model.fit(data, epochs=recipe.epochs, initial_epoch=start,
                                  callbacks=callback_list, **fit_args)
                    preemption.raise_if_stopped()
        except BaseException:  # interrupted or failed: the curves show every epoch saved too
            recorder.draw_curves()
            raise
        recorder.draw_curves()
        if watch.where is not None:
            epoch, batch = watch.where
            good = state.get("checkpoint")
            raise TrainingDiverged(
                f"training stopped: the loss became NaN or infinite at epoch {epoch}, batch "
                f"{batch} (learning rate {recipe.learning_rate:g}). "
                + (f"The last good checkpoint is {run_dir / good} (epoch "
                   f"{state['epochs_done']})." if good else "No epoch finished, so there is no "
                                                            "checkpoint.")
                + " Try a lower learning rate"
                + (", from scratch or from that checkpoint (init_from=..., --init-from)."
                   if good else "."))
    elif callbacks.curves_behind(run_dir, state):  # finished, but a kill came before the drawing
        callbacks.draw_curves(run_dir, state["history"])
    for row in state.get("history", []):
        for key, value in row.items():
            if key != "epoch":
                history.setdefault(key, []).append(value)
    return history
