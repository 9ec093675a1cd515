"""Test metrics of a saved model: a `.keras` checkpoint or a whole run folder."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import keras

import zoo
from zoo import checks
from zoo.data import catalog, pipeline
from zoo.data.text import Vectorizer
from zoo.errors import ZooError, first_line
from zoo.recipe import draws_random, execution_settings
from zoo.train import runs
from zoo.train.core import check_pair, format_metrics, infer_task

log = logging.getLogger("zoo.train")


def _locate(path: str | os.PathLike) -> tuple[Path, Path | None]:
    """The checkpoint to load and its run folder (if it has one)."""
    path = Path(path)
    if path.is_dir():
        if not (path / runs.CONFIG).exists():
            raise ZooError(f"{path} is not a run folder (no {runs.CONFIG}) and not a .keras file")
        chosen = runs.LAST
        if (path / runs.METRICS).exists():  # the checkpoint the run was tested with
            chosen = runs.read_json(path / runs.METRICS).get("checkpoint", runs.LAST)
        if not (path / chosen).exists():
            raise ZooError(f"run folder {path} has no checkpoint yet ({chosen})")
        return path / chosen, path
    if not path.exists():
        raise ZooError(f"no checkpoint at {path}: give a .keras file or a run folder")
    if path.suffix != ".keras":
        raise ZooError(f"{path} is not a .keras file")
    folder = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    return path, folder if (folder / runs.CONFIG).exists() else None  # RUN/checkpoints/*.keras


def load(path: str | os.PathLike, *, safe_mode: bool = True) -> keras.Model:
    """Load a model from a `.keras` file or a run folder, in Keras safe mode.

    A run folder gives the checkpoint its test metrics came from (`best.keras` when validation
    chose one, else `last.keras`).

    A file that cannot be read, or that would run code (a `Lambda` layer) while `safe_mode` is
    on, raises `ZooError` naming it.
    """
    checkpoint, _ = _locate(path)
    runs.check_keras_file(checkpoint)
    try:
        model = keras.saving.load_model(checkpoint, safe_mode=safe_mode)
    except Exception as err:  # Keras raises many types for a bad file; say which file
        first = first_line(err)
        hint = (" It holds code (a Lambda layer), which safe mode refuses to run; load it with "
                "safe_mode=False (python -m zoo.train --evaluate ... --trust-code) only if you "
                "trust its source." if "safe_mode" in str(err) or "Lambda" in str(err) else "")
        raise ZooError(f"{checkpoint}: cannot load the model ({first}).{hint}") from err
    if getattr(model, "compiled", False):
        # A file saved on one backend carries that backend's execution settings (PyTorch
        # refuses several steps per execution): use the ones of the backend loading it.
        settings = execution_settings(model.jit_compile, model.steps_per_execution,
                                      draws_random=draws_random(model))
        model.jit_compile = settings["jit_compile"]
        model.steps_per_execution = settings["steps_per_execution"]
    return model


def evaluate(
    path: str | os.PathLike,
    dataset: str | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    batch_size: int = 256,
    steps: int | None = None,
    source: str = "auto",
    verbose: int = 0,
    summary: bool | None = None,
    safe_mode: bool = True,
) -> dict[str, float]:
    """Test-split metrics of the model saved at `path` (a `.keras` file or a run folder).

    The dataset and the data folder default to the run's (from its `config.json`; an epoch's
    checkpoint in `RUN/checkpoints/` belongs to its run too), else the registered model's card
    and the usual lookup. IMDB models need the run's `vocabulary.json`. `safe_mode=False` (`--trust-code`)
    loads a file that holds code (a `Lambda` layer): only for files from a source you trust.
    `verbose` is Keras' progress display; `summary` prints one line naming the file, the
    dataset and the metrics (by default when `verbose` is on).
    """
    batch_size = checks.integer("batch_size", batch_size)
    if steps is not None:
        steps = checks.integer("steps", steps)
    checkpoint, run_dir = _locate(path)
    config: dict[str, Any] = runs.read_json(run_dir / runs.CONFIG) if run_dir else {}
    model = load(checkpoint, safe_mode=checks.flag("safe_mode", safe_mode))
    if dataset is None:
        dataset = config.get("dataset")
    if data_dir is None and config.get("data_dir"):  # the folder the run read its data from,
        if Path(config["data_dir"]).is_dir():         # unless it is gone (a copied run folder)
            data_dir = config["data_dir"]
        else:
            log.info("the run's data folder %s is gone: looking for the data as usual",
                     config["data_dir"])
    if dataset is None and model.name in zoo.list_models():
        dataset = zoo.card(model.name).dataset
    if dataset is None:
        raise ZooError(f"{checkpoint}: cannot tell which dataset to test on; pass dataset=... "
                       f"(--dataset), one of {', '.join(zoo.data.list_datasets())}")
    spec = catalog.spec(dataset)
    task = config.get("task") or (zoo.card(model.name).task if model.name in zoo.list_models()
                                  else infer_task(model, spec))
    vectorizer = seq = None
    if spec.kind == "text" and task == "binary_classification":  # else check_pair refuses it
        vocabulary = (run_dir or checkpoint.parent) / "vocabulary.json"
        if not vocabulary.exists():
            raise ZooError(f"{checkpoint}: a text model needs the vocabulary it was trained "
                           f"with, {vocabulary}")
        vectorizer = Vectorizer.load(vocabulary)
        seq = vectorizer.sequence_length
    if task == "generation":
        check_pair((model.latent_dim,), tuple(model.generator.output_shape[1:]), task,
                   model.name, spec, seq)
    else:
        check_pair(tuple(model.input_shape[1:]), tuple(model.output_shape[1:]), task, model.name,
                   spec, seq)
    x, y = zoo.data.read(spec.name, data_dir, source=source)["test"]  # once the pair fits
    if vectorizer is not None:
        x, y = vectorizer(x), y.astype("float32")[:, None]
    if task in ("reconstruction", "generation"):
        y = None
    if steps is not None:  # spread over the whole split (its first batches may be one class),
        # drawn as the run drew its own capped test, which the same batch size repeats
        x, y = pipeline.sample(x, y, steps * batch_size, config.get("seed", 0))
    metrics = model.evaluate(pipeline.dataset(x, y, batch_size, shuffle=False),
                             verbose=verbose, return_dict=True)
    metrics = {k: float(v) for k, v in metrics.items()}
    if verbose if summary is None else summary:
        print(f"zoo.train: {checkpoint} on {spec.name} test: {format_metrics(metrics)}")
    return metrics
