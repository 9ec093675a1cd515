"""`python -m zoo.reproduce MODEL`: train a model with its full recipe and record what it reaches.

    python -m zoo.reproduce resnet20 --budget-minutes 60 --data-dir ../shared/data

It trains on the model's default dataset (or, if that has no copy here, the nearest one that
has, and says so), tests it, and appends the result to `results/results.csv`: top-1 and top-5
accuracy for classifiers, the per-pixel reconstruction cross-entropy for autoencoders, the
negative ELBO for the VAE, and for the DCGAN a Fréchet distance on features of a classifier from
this zoo trained on the same dataset, with a grid of samples saved beside the table. The cards
and the docs read that file.

With `--budget-minutes`, the recipe's epochs are cut to what fits the budget on this machine
(measured by a short calibration first) and its schedule is compressed to match; the record says
how many epochs ran.

A run stopped by Ctrl-C, SIGTERM or a crash keeps every finished epoch (and, on a signal, the
batches of the one in progress): `python -m zoo.reproduce --resume runs/reproduce/RUN` finishes
it with the settings it started with and records it, its training time summed over the sessions.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import math
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

import zoo
from zoo import commands, fid, results
from zoo.bench.timing import fit_rate, random_inputs
from zoo.data import catalog, sources
from zoo.errors import ZooError
from zoo.fileio import write_json
from zoo.recipe import epochs_text
from zoo.train import chunks, plots, runs
from zoo.train.callbacks import RunAborted, TrainingInterrupted

# Where a default dataset has no copy, the nearest one that may: same images, fewer classes.
NEAREST = {"cifar100": "cifar10"}
# The feature extractor for FID: this zoo's 784-512-10 MLP, trained on the dataset scored.
FID_EXTRACTOR, FID_LAYER, FID_SAMPLES = "mnist_mlp", "dense1", 10_000
# Share of the budget planned for training; the rest absorbs validation and estimate error.
BUDGET_SHARE = 0.85
CALIBRATION_SECONDS = 15.0  # of each short epoch that times the training rate
CALIBRATION_EPOCHS = 3  # the first warms up; the faster of the others counts
# In the run folder: what recording a resumed run needs, and its training time so far.
SESSION = "reproduce.json"


class _Clock(keras.callbacks.Callback):
    """Keeps the run's training time, summed over sessions, in its `reproduce.json`."""

    def __init__(self, run_dir: Path, record: dict[str, Any]) -> None:
        super().__init__()
        self.run_dir, self.record = run_dir, record
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return self.record["elapsed_s"] + time.perf_counter() - self.start

    def save(self) -> None:
        if self.run_dir.is_dir():  # not before zoo.train made the folder
            write_json(self.run_dir / SESSION, {**self.record,
                                                "elapsed_s": round(self.elapsed(), 1)})

    def on_train_begin(self, logs=None) -> None:
        self.save()

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.save()


def commit() -> str:
    """The git commit of the code that ran (`-dirty` for uncommitted code changes), or `unknown`."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                              capture_output=True, check=True).stdout.strip()
        # results/ is where this very run writes: a change there is not a change to the code
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ".", ":(exclude)results"],
                               cwd=root, text=True, capture_output=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def available(dataset: str, data_dir) -> bool:
    """Whether `dataset` has a local copy (no download is attempted)."""
    try:
        zoo.data.read(dataset, data_dir, download=False)
    except ZooError:
        return False
    return True


def choose_dataset(name: str, dataset: str | None, data_dir) -> tuple[str, dict, str]:
    """The dataset to measure on, the model options it needs, and a note when it substitutes."""
    card = zoo.card(name)
    wanted = catalog.spec(dataset or card.dataset).name
    if dataset is not None:  # a dataset the model cannot take is refused before it is read
        spec = catalog.spec(wanted)  # (its class count is set below, as num_classes)
        options = {"num_classes": spec.num_classes} if card.task == "classification" else {}
        shapes = zoo.train.core.card_shapes(card, options, spec)
        zoo.train.core.check_pair(*shapes[:2], card.task, card.name, spec, shapes[2])
    if available(wanted, data_dir):
        classes = catalog.spec(wanted).num_classes
        if dataset is None or card.task != "classification" or classes == card.output_shape[-1]:
            return wanted, {}, ""
        return wanted, {"num_classes": classes}, f"num_classes={classes} for {wanted}"
    nearest = NEAREST.get(wanted)
    if dataset is None and nearest and available(nearest, data_dir):
        classes = catalog.spec(nearest).num_classes
        note = (f"{wanted} has no copy here: measured on the nearest available dataset, "
                f"{nearest} (num_classes={classes})")
        print(f"zoo.reproduce: {note}", flush=True)
        return nearest, {"num_classes": classes}, note
    raise ZooError(f"no local copy of {wanted} to measure {name} on: put its files in a folder "
                   "and pass --data-dir (or set ZOO_DATA_DIR); the datasets guide lists the "
                   "formats read")


class _EpochClock(keras.callbacks.Callback):
    """The training steps of each epoch after the first and their time, up to its validation:
    `timed` holds (steps, seconds) per epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.timed: list[tuple[int, float]] = []
        self.start = None
        self.steps = 0

    def on_epoch_begin(self, epoch, logs=None) -> None:
        if epoch >= 1:  # the first compiles and warms up
            self.start, self.steps = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None) -> None:
        if self.start is not None:
            self.steps = chunks.batches_done(self.model, batch)

    def on_test_begin(self, logs=None) -> None:
        if self.start is not None:
            self.timed.append((self.steps, time.perf_counter() - self.start))
            self.start = None

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.on_test_begin()  # a run without validation ends the timing here


def budget_epochs(name: str, dataset: str, options: dict, minutes: float, data_dir,
                  mixed_precision: bool) -> tuple[int, float]:
    """Epochs of the recipe that fit in `minutes`, and the training rate they were planned at.

    The rate is measured by `zoo.train.fit` itself for three short epochs on the dataset (its
    input pipeline and augmentation, the recipe's execution settings): the faster of the second
    and the third, as other work on a shared machine can slow one of them down and a plan made
    from it would waste the budget. The model alone on in-memory batches only sizes that
    measurement (benchmarks/NOTES.md, "Budget calibration": runs planned from the in-memory
    rate overran their budgets).
    """
    recipe = zoo.card(name).recipe
    with zoo.train.core.precision(mixed_precision):
        model = zoo.get(name, **options)
        x, y = random_inputs(name, recipe.batch_size * 8)
        if "num_classes" in options:
            y = y % options["num_classes"]
        quick = fit_rate(model, x, y, recipe.batch_size, seconds=CALIBRATION_SECONDS / 5)
    steps = max(2, round(quick * CALIBRATION_SECONDS / recipe.batch_size))
    clock = _EpochClock()
    with tempfile.TemporaryDirectory() as scratch, contextlib.redirect_stdout(io.StringIO()):
        zoo.train.fit(name, dataset, epochs=CALIBRATION_EPOCHS, steps=steps, data_dir=data_dir,
                      options=options, mixed_precision=mixed_precision,
                      run_dir=Path(scratch) / "calibration", verbose=0, callbacks=[clock])
    total = len(zoo.data.read(dataset, data_dir)["train"][0])
    validation = round(0.1 * total)  # zoo.train's default validation fraction
    train = total - validation
    # the examples of the timed steps: an epoch of a small dataset is shorter than the steps
    rate = max(min(steps * recipe.batch_size, train) / seconds for steps, seconds in clock.timed)
    # validation runs forward only, about a third of a training step's cost per example
    epoch_seconds = (train + validation / 3) / rate
    epochs = math.floor(minutes * 60 * BUDGET_SHARE / epoch_seconds)
    return max(1, min(recipe.epochs, epochs)), rate


def _features(extractor: keras.Model, images: np.ndarray) -> np.ndarray:
    hidden = keras.Model(extractor.inputs, extractor.get_layer(FID_LAYER).output)
    return np.asarray(hidden.predict(images, batch_size=500, verbose=0))


def score_generator(model, dataset: str, run_dir: Path, data_dir, seed: int) -> dict[str, float]:
    """FID of `FID_SAMPLES` generated images against the test images, on the extractor's features.

    Also the FID of the training images against the test images: the floor a perfect generator
    would reach with this extractor and sample size.
    """
    with contextlib.redirect_stdout(io.StringIO()):
        extractor = zoo.train.fit(FID_EXTRACTOR, dataset, data_dir=data_dir, seed=seed,
                                  run_dir=run_dir / "fid-extractor", verbose=0)
    classifier = zoo.train.load(extractor.run_dir)
    raw = zoo.data.read(dataset, data_dir)
    test = raw["test"][0][:FID_SAMPLES]
    train = raw["train"][0][:FID_SAMPLES]
    latent = np.random.default_rng(seed).normal(size=(FID_SAMPLES, model.latent_dim))
    generated = np.concatenate([
        keras.ops.convert_to_numpy(model.generator(latent[i:i + 500].astype("float32"),
                                                   training=False))
        for i in range(0, FID_SAMPLES, 500)])
    generated = np.clip(np.round(generated), 0, 255).astype(np.uint8)
    real = _features(classifier, test)
    return {"fid": fid.frechet_distance(real, _features(classifier, generated)),
            "fid_train_vs_test": fid.frechet_distance(real, _features(classifier, train)),
            "extractor_accuracy": extractor.test_metrics["accuracy"]}


def measurements(name: str, result, model, dataset: str, run_dir: Path, data_dir,
                 seed: int) -> dict[str, float]:
    """The metrics recorded for a finished run, by task."""
    task = zoo.card(name).task
    test = result.test_metrics
    if task in ("classification", "binary_classification"):
        return {k: v for k, v in test.items() if "accuracy" in k}
    if task == "reconstruction":
        if "kl_loss" in test:  # the VAE: the loss is the negative ELBO per image
            return {"neg_elbo": test["loss"], "kl": test["kl_loss"]}
        return {"reconstruction_bce": test["loss"]}
    return score_generator(model, dataset, run_dir, data_dir, seed)


def versions_text(environment: dict[str, Any]) -> str:
    """The versions column: Keras and the backend that ran it, from a run's recorded environment."""
    backend, versions = environment["device"]["backend"], environment["versions"]
    return f"keras {versions.get('keras')}, {backend} {versions.get(backend)}"


def _resumed(run_dir) -> dict[str, Any]:
    """The record of the `zoo.reproduce` run in `run_dir`: its settings, commit, notes, time."""
    run_dir = Path(run_dir)
    if not (run_dir / SESSION).is_file():
        raise ZooError(f"{run_dir} is not a run that zoo.reproduce started (no {SESSION}); "
                       "python -m zoo.train --resume continues other runs")
    record = runs.read_json(run_dir / SESSION)
    if record.get("recorded"):
        raise ZooError(f"{run_dir} is recorded already (results.csv, run {record['model']}-"
                       f"{record['dataset']}-{record['stamp']}); measure again with a new run")
    note = f"resumed at commit {commit()}"
    if not note.endswith(record["commit"]) and note not in record["notes"]:
        record["notes"] = [*record["notes"], note]
    return record


def reproduce(name: str | None = None, *, dataset: str | None = None,
              budget_minutes: float | None = None, data_dir=None,
              mixed_precision: str | bool = "auto", seed: int = 0,
              results_dir: Path | None = None, resume=None) -> list[dict[str, Any]]:
    """Train `name` with its recipe, test it, append its record to results.csv; return the rows.

    `resume`: the run folder of a `zoo.reproduce` run that stopped; it is finished with the
    settings it started with (give no others) and then recorded.
    """
    if resume is not None:
        if name is not None or dataset is not None or budget_minutes is not None or \
                mixed_precision != "auto" or seed != 0:
            raise ZooError("--resume finishes the run with the settings it started with: give "
                           "the run folder alone (and --data-dir if its data moved)")
        return _train_and_record(_resumed(resume), Path(resume), data_dir, results_dir,
                                 resume=True)
    # read first: a commit made while this run calibrates or trains is not credited with its result
    code = commit()
    if name is None:
        raise ZooError("name the model to measure, or --resume a run folder")
    card = zoo.card(name)
    sources.data_folder(data_dir)  # a mistyped folder is named as such, not as a missing copy
    dataset, options, note = choose_dataset(card.name, dataset, data_dir)
    mixed_precision = zoo.train.core.resolve_mixed_precision(card.recipe, mixed_precision)
    notes = [note] if note else []
    epochs = card.recipe.epochs
    if budget_minutes is not None:
        if budget_minutes <= 0:
            raise ZooError("--budget-minutes must be positive")
        epochs, rate = budget_epochs(card.name, dataset, options, budget_minutes, data_dir,
                                     mixed_precision)
        notes.append(f"{results.budget_text(budget_minutes)}: {epochs} of the recipe's "
                     f"{card.recipe.epochs} epochs (calibrated at {rate:,.0f} samples/s)")
        print(f"zoo.reproduce: {notes[-1]}", flush=True)
    if mixed_precision:
        notes.append(f"{zoo.train.core.mixed_policy()} mixed precision")
    stamp = runs.utc_stamp()
    record = {"model": card.name, "dataset": dataset, "epochs": epochs, "options": options,
              "seed": seed, "mixed_precision": mixed_precision, "commit": code, "stamp": stamp,
              "notes": notes, "elapsed_s": 0.0, "budget_minutes": budget_minutes}
    run_dir = Path("runs") / "reproduce" / f"{card.name}-{dataset}-{stamp}"
    return _train_and_record(record, run_dir, data_dir, results_dir, resume=False)


def _train_and_record(record: dict[str, Any], run_dir: Path, data_dir, results_dir,
                      resume: bool) -> list[dict[str, Any]]:
    out_dir = results_dir or results.folder()
    results.check_writable(out_dir)  # before the training, not after it
    card, dataset, seed = zoo.card(record["model"]), record["dataset"], record["seed"]
    notes, stamp = list(record["notes"]), record["stamp"]
    clock = _Clock(run_dir, record)
    try:
        if resume:
            result = zoo.train.fit(run_dir=run_dir, resume=True, data_dir=data_dir,
                                   callbacks=[clock])
        else:
            result = zoo.train.fit(card.name, dataset, epochs=record["epochs"],
                                   data_dir=data_dir, seed=seed, run_dir=run_dir,
                                   options=record["options"],
                                   mixed_precision=record["mixed_precision"], callbacks=[clock])
    except TrainingInterrupted:
        clock.save()  # the time of the batches a signal's checkpoint kept
        raise
    wall = clock.elapsed()
    clock.save()
    budget = record.get("budget_minutes")
    if budget is not None and wall > budget * 60:  # the plan came from a short calibration
        notes.append(f"training took {wall / 60:.3g} min, over the budget the calibration "
                     "planned for")
    data_dir = data_dir if data_dir is not None else result.config.get("data_dir")
    model = zoo.train.load(run_dir)
    metrics = measurements(card.name, result, model, dataset, run_dir, data_dir, seed)
    if card.task == "generation":
        latent = np.random.default_rng(seed).normal(size=(64, model.latent_dim))
        images = keras.ops.convert_to_numpy(model.generator(latent.astype("float32")))
        plots.save_image(out_dir / f"{card.name}-{dataset}.png", plots.grid(images, 8))
        notes.append(f"FID on the 512 hidden features of {FID_EXTRACTOR} trained on {dataset} "
                     f"({100 * metrics.pop('extractor_accuracy'):.2f}% test accuracy), "
                     f"{FID_SAMPLES:,} generated vs test images; training vs test images give "
                     f"{metrics['fid_train_vs_test']:.2f}; samples in "
                     f"results/{card.name}-{dataset}.png")
    device = result.config["environment"]["device"]
    rows = [{"run_id": f"{card.name}-{dataset}-{stamp}", "model": card.name, "dataset": dataset,
             "split": "test", "metric": metric, "value": f"{value:.6g}",
             "epochs": len(result.history.get("loss", result.history.get("d_loss", []))),
             "wall_time_s": f"{wall:.0f}", "hardware": runs.describe_hardware(device),
             "backend": device["backend"],
             "versions": versions_text(result.config["environment"]),
             "commit": record["commit"], "date": dt.date.today().isoformat(),
             "notes": "; ".join(notes)}
            for metric, value in metrics.items()]
    results.append(rows, (out_dir / "results.csv"))
    write_json(run_dir / SESSION, {**record, "elapsed_s": round(wall, 1), "recorded": True})
    return rows


@commands.one_line_errors
def main(argv: list[str] | None = None) -> int:
    parser = commands.Parser(prog="python -m zoo.reproduce", description=__doc__,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", help="registered model name")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="finish and record a run that stopped (its folder under "
                             "runs/reproduce/), with the settings it started with")
    parser.add_argument("--dataset", help="dataset (default: the card's, or the nearest one "
                                          "with a local copy)")
    parser.add_argument("--budget-minutes", type=commands.positive,
                        help="cut the recipe's epochs to fit this training time")
    parser.add_argument("--data-dir", help="folder of the real datasets (default $ZOO_DATA_DIR)")
    parser.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction,
                        default="auto", help="bfloat16 on a CPU, float16 on a GPU (default: "
                                             "the card's choice; recorded in the notes)")
    parser.add_argument("--seed", type=commands.seed, default=0)
    args = parser.parse_args(argv)
    try:
        rows = reproduce(args.model, dataset=args.dataset, budget_minutes=args.budget_minutes,
                         data_dir=args.data_dir, mixed_precision=args.mixed_precision,
                         seed=args.seed, resume=args.resume)
    except ZooError as err:
        print(f"error: {commands.one_line(err)}", file=sys.stderr)
        return 2
    except (TrainingInterrupted, RunAborted) as stop:  # zoo.train --resume would not record it
        signalled = isinstance(stop, TrainingInterrupted)
        how = (f"stopped by {signal.Signals(stop.signum).name}, saved in {stop.run_dir}"
               if signalled else f"interrupted, what is finished is kept in {stop.run_dir}")
        if signalled or (stop.run_dir / SESSION).is_file():
            print(f"{how}; finish and record it with: python -m zoo.reproduce --resume "
                  f"{stop.run_dir}", file=sys.stderr)
        else:
            print("interrupted before training started: nothing to resume", file=sys.stderr)
        return 128 + stop.signum if signalled else 130
    for row in rows:
        print(f"zoo.reproduce: {row['model']} on {row['dataset']}: {row['metric']} {row['value']}"
              f" after {epochs_text(int(row['epochs']))} in {int(row['wall_time_s']) / 60:.1f} "
              "min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
