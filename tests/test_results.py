"""Measured results: the table every model must appear in, FID, and `python -m zoo.reproduce`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

import keras
import numpy as np
import pytest

import zoo
from tests.data import writers
from zoo import docs, fid, reproduce, results

pytestmark = pytest.mark.slow  # the full tier: python -m pytest --full


def test_every_model_is_measured_or_says_why_not():
    measured = {row["model"] for row in results.read()}
    missing = results.not_measured()
    for name in zoo.list_models():
        assert name in measured or name in missing, f"{name}: no result and no reason"
    for why in missing.values():
        assert why["reason"] and why["dataset"] in zoo.data.list_datasets()


def test_recorded_rows_are_well_formed():
    for row in results.read():
        assert row["model"] in zoo.list_models()
        assert row["dataset"] in zoo.data.list_datasets() and row["split"] == "test"
        assert np.isfinite(float(row["value"])) and int(row["epochs"]) >= 1
        assert float(row["wall_time_s"]) > 0 and row["hardware"] and row["commit"]


def test_frechet_distance():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    assert fid.frechet_distance(a, a) == pytest.approx(0, abs=1e-8)
    shifted = a + np.array([3.0, 0.0, 4.0])
    assert fid.frechet_distance(a, shifted) == pytest.approx(25, rel=1e-6)
    scaled = a * 2  # covariance 4I against I: trace term 3 * (1 + 4 - 2 * 2) = 3
    assert fid.frechet_distance(a, scaled) == pytest.approx(3, rel=0.05)


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    writers.write_npz(data / "mnist.npz", writers.mnist_like(n_train=80, n_test=40))
    writers.write_cifar10(data / "cifar-10-batches-py", writers.cifar_like(10, 40, 20),
                          zoo.data.catalog.DATASETS["cifar10"].classes)
    for var, sub in (("ZOO_CACHE_DIR", "cache"), ("KERAS_HOME", "keras"),
                     ("TFDS_DATA_DIR", "tfds"), ("ZOO_RESULTS_DIR", "results")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(reproduce, "CALIBRATION_SECONDS", 0.5)
    monkeypatch.setattr(reproduce, "FID_SAMPLES", 64)
    zoo.data._read.cache_clear()
    yield data
    zoo.data._read.cache_clear()


def test_reproduce_appends_a_record_that_the_card_and_docs_read(tiny):
    rows = reproduce.reproduce("mnist_mlp", data_dir=tiny, budget_minutes=1e-5)  # under an epoch
    assert [r["metric"] for r in rows] == ["accuracy", "top5_accuracy"]
    assert rows[0]["epochs"] == 1 and "budget: 1 of the recipe's 5 epochs" in rows[0]["notes"]
    assert "over the budget the calibration planned for" in rows[0]["notes"]  # 6 ms: said
    assert results.read() == [{k: str(v) for k, v in r.items()} for r in rows]
    card = zoo.card("mnist_mlp")
    assert card.measured.dataset == "mnist" and card.measured.epochs == 1
    assert card.measured.metrics["accuracy"] == pytest.approx(float(rows[0]["value"]))
    # short of the recipe's, and its 6 ms of training took longer than its budget
    assert "(mnist, 1 of 5 epochs, over its 1e-05-minute budget)" in docs.measured_text(card)
    backend = keras.backend.backend()
    assert rows[0]["backend"] == backend
    assert rows[0]["versions"] == f"keras {keras.__version__}, {backend} {version(backend)}"


def test_a_budget_is_planned_from_zoo_train_fit_on_the_dataset(tiny, monkeypatch):
    """Planned from the model alone on in-memory batches, CIFAR runs overran their budgets by
    8% and 23%: the rate is now timed through fit's own pipeline, on the dataset."""
    calls, train = [], zoo.train.fit
    monkeypatch.setattr(zoo.train, "fit", lambda *a, **k: calls.append((a, k)) or train(*a, **k))
    epochs, rate = reproduce.budget_epochs("mnist_mlp", "mnist", {}, 1e-4, tiny, False)
    (args, kwargs), = calls
    assert args == ("mnist_mlp", "mnist") and kwargs["epochs"] == 3 and kwargs["data_dir"] == tiny
    assert 1 <= epochs <= zoo.card("mnist_mlp").recipe.epochs and rate > 0


def test_a_budget_is_planned_from_the_faster_timed_epoch(tiny, monkeypatch):
    """A resnet18 calibration slowed by other work on the machine measured 66 samples/s where its
    epochs then ran at 97, and planned 6 epochs of a 90-minute budget instead of 9: of the
    two timed epochs the faster counts."""
    def fit(*args, epochs, steps, callbacks, **kwargs):
        clock, = callbacks
        ticks = iter([0.0, 10.0, 10.0, 11.0])  # the second epoch takes 10 s, the third 1 s
        with monkeypatch.context() as patch:  # the calibration's own clock only
            patch.setattr(reproduce.time, "perf_counter", lambda: next(ticks))
            for epoch in range(epochs):
                clock.on_epoch_begin(epoch)
                for batch in range(steps):
                    clock.on_train_batch_end(batch)
                clock.on_test_begin()
                clock.on_epoch_end(epoch)

    monkeypatch.setattr(zoo.train, "fit", fit)
    _, rate = reproduce.budget_epochs("mnist_mlp", "mnist", {}, 1.0, tiny, False)
    train = 72  # the tiny set's 80 training examples less its validation tenth
    assert rate == pytest.approx(train / 1.0)  # from the third epoch, not the second's 7.2


def test_the_calibration_clock_times_each_epoch_after_the_first_up_to_its_validation(
        monkeypatch):
    ticks = iter([1.0, 5.0, 7.0, 8.0])
    clock = reproduce._EpochClock()
    with monkeypatch.context() as patch:
        patch.setattr(reproduce.time, "perf_counter", lambda: next(ticks))
        for epoch, steps, validation in ((0, 2, True), (1, 4, True), (2, 3, False)):
            clock.on_epoch_begin(epoch)
            for batch in range(steps):
                clock.on_train_batch_end(batch)
            if validation:
                clock.on_test_begin()
            clock.on_epoch_end(epoch)
    assert clock.timed == [(4, 4.0), (3, 1.0)]  # the first epoch compiles: not timed


def test_the_versions_column_names_the_backend_that_ran():
    environment = {"device": {"backend": "jax"},
                   "versions": {"keras": "3.15.1", "tensorflow": "2.21.0", "jax": "0.8.1"}}
    assert reproduce.versions_text(environment) == "keras 3.15.1, jax 0.8.1"


def test_reproduce_records_the_commit_of_the_code_that_ran(tiny, monkeypatch):
    head = {"commit": "1111111"}
    monkeypatch.setattr(reproduce, "commit", lambda: head["commit"])
    calibrate, train = reproduce.budget_epochs, zoo.train.fit

    def calibrate_then_commit(*args, **kwargs):
        planned = calibrate(*args, **kwargs)
        head["commit"] = "2222222"  # the user commits other work while the run calibrates
        return planned

    def fit_then_commit(*args, **kwargs):
        result = train(*args, **kwargs)
        head["commit"] = "3333333"  # ... and while it trains
        return result

    monkeypatch.setattr(reproduce, "budget_epochs", calibrate_then_commit)
    monkeypatch.setattr(zoo.train, "fit", fit_then_commit)
    rows = reproduce.reproduce("mnist_mlp", data_dir=tiny, budget_minutes=1e-4)
    assert {r["commit"] for r in rows} == {"1111111"}


def test_reproduce_substitutes_the_nearest_dataset_and_says_so(tiny, one_epoch_planned):
    rows = reproduce.reproduce("vgg13", data_dir=tiny, budget_minutes=0.05)
    assert {r["dataset"] for r in rows} == {"cifar10"}
    assert "cifar100 has no copy here: measured on the nearest available dataset, cifar10" in \
        rows[0]["notes"]
    assert "not measured on cifar100; top-1" in docs.measured_text(zoo.card("vgg13"))
    with pytest.raises(zoo.ZooError, match="no local copy of fashion_mnist"):
        reproduce.reproduce("fashion_mlp", data_dir=tiny)


def test_reproduce_scores_a_generator_with_fid_and_saves_samples(tiny, one_epoch_planned):
    rows = reproduce.reproduce("dcgan", data_dir=tiny, budget_minutes=0.05)
    metrics = {r["metric"]: float(r["value"]) for r in rows}
    assert set(metrics) == {"fid", "fid_train_vs_test"} and metrics["fid"] >= 0
    assert "FID on the 512 hidden features of mnist_mlp" in rows[0]["notes"]
    assert (tiny.parent / "results" / "dcgan-mnist.png").read_bytes()[:4] == b"\x89PNG"


class StopAt(keras.callbacks.Callback):
    """A crash as epoch `epoch` (1-based) ends, or a scheduler's SIGTERM as it begins."""

    def __init__(self, epoch: int, sigterm: bool = False) -> None:
        super().__init__()
        self.epoch, self.sigterm = epoch, sigterm

    def on_epoch_begin(self, epoch, logs=None):
        if self.sigterm and epoch + 1 == self.epoch:
            os.kill(os.getpid(), signal.SIGTERM)

    def on_epoch_end(self, epoch, logs=None):
        if not self.sigterm and epoch + 1 == self.epoch:
            raise RuntimeError(f"the job died after epoch {self.epoch}")


def _fit_with(monkeypatch, stop: keras.callbacks.Callback) -> None:
    """zoo.train.fit with `stop` among its callbacks, for the first call only."""
    train, calls = zoo.train.fit, []

    def fit(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            kwargs["callbacks"] = [*kwargs.get("callbacks", ()), stop]
        return train(*args, **kwargs)

    monkeypatch.setattr(zoo.train, "fit", fit)


def test_a_crashed_reproduce_run_resumes_and_is_recorded_as_one(tiny, monkeypatch):
    """A run of hours once lost its record: zoo.train --resume finished it but recorded nothing."""
    head = {"commit": "1111111"}
    monkeypatch.setattr(reproduce, "commit", lambda: head["commit"])
    _fit_with(monkeypatch, StopAt(2))
    with pytest.raises(RuntimeError, match="died after epoch 2"):
        reproduce.reproduce("mnist_mlp", data_dir=tiny)  # the recipe's 5 epochs
    assert results.read() == []
    run = next((tiny.parent / "runs" / "reproduce").iterdir())
    saved = json.loads((run / "reproduce.json").read_text())
    assert saved["model"] == "mnist_mlp" and saved["epochs"] == 5 and saved["elapsed_s"] > 0
    head["commit"] = "2222222"  # the fix that let it go on
    with pytest.raises(zoo.ZooError, match="give the run folder alone"):
        reproduce.reproduce("mnist_mlp", resume=run)
    rows = reproduce.reproduce(resume=run)
    assert {r["commit"] for r in rows} == {"1111111"}
    assert rows[0]["epochs"] == 5 and "resumed at commit 2222222" in rows[0]["notes"]
    assert float(rows[0]["wall_time_s"]) >= saved["elapsed_s"]
    assert results.read() == [{k: str(v) for k, v in r.items()} for r in rows]
    history = (run / "history.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in history[1:]] == ["1", "2", "3", "4", "5"]
    with pytest.raises(zoo.ZooError, match="is recorded already"):
        reproduce.reproduce(resume=run)  # a second record of the same run
    saved = json.loads((run / "reproduce.json").read_text())
    saved["recorded"] = False
    (run / "reproduce.json").write_text(json.dumps(saved))
    assert reproduce._resumed(run)["notes"].count("resumed at commit 2222222") == 1


def test_a_preempted_reproduce_run_says_how_to_finish_it(tiny, monkeypatch, capsys):
    _fit_with(monkeypatch, StopAt(3, sigterm=True))
    code = reproduce.main(["mnist_mlp", "--data-dir", str(tiny)])
    assert code == 128 + signal.SIGTERM
    run = next((tiny.parent / "runs" / "reproduce").iterdir())
    err = capsys.readouterr().err
    assert ("finish and record it with: python -m zoo.reproduce --resume "
            f"{run.relative_to(tiny.parent)}") in err
    assert reproduce.main(["--resume", str(run)]) == 0
    assert [r["epochs"] for r in results.read()] == ["5", "5"]


class CtrlC(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt  # a second Ctrl-C: no save first


def test_a_ctrl_c_that_stops_reproduce_at_once_says_how_to_finish_it(tiny, monkeypatch, capsys):
    _fit_with(monkeypatch, CtrlC())
    assert reproduce.main(["mnist_mlp", "--data-dir", str(tiny)]) == 130
    run = next((tiny.parent / "runs" / "reproduce").iterdir()).relative_to(tiny.parent)
    err = capsys.readouterr().err
    assert err.strip() == (f"interrupted, what is finished is kept in {run}; finish and record "
                           f"it with: python -m zoo.reproduce --resume {run}")


def test_reproduce_refuses_a_dataset_the_model_cannot_take_before_reading_it(tiny,
                                                                          monkeypatch):
    monkeypatch.setattr(zoo.data, "read", lambda *a, **k: pytest.fail(f"read {a}"))
    with pytest.raises(zoo.ZooError, match="mnist_mlp is not a text model; imdb holds text"):
        reproduce.reproduce("mnist_mlp", dataset="imdb", data_dir=tiny)
    with pytest.raises(zoo.ZooError, match=r"resnet20 takes inputs of shape \(32, 32, 3\) but "
                                           "fashion_mnist"):
        reproduce.reproduce("resnet20", dataset="fashion_mnist", data_dir=tiny)


def test_reproduce_sets_the_class_count_of_a_dataset_asked_for(tiny, one_epoch_planned):
    rows = reproduce.reproduce("vgg13", dataset="cifar10", data_dir=tiny, budget_minutes=0.05)
    assert {r["dataset"] for r in rows} == {"cifar10"}
    assert "num_classes=10 for cifar10" in rows[0]["notes"]


def test_an_unwritable_results_folder_is_refused_before_training(tiny, monkeypatch):
    """It was found only after the whole training run, when the record could not be written."""
    (tiny.parent / "a-file").write_text("")
    monkeypatch.setenv("ZOO_RESULTS_DIR", str(tiny.parent / "a-file" / "results"))

    def never(*args, **kwargs):
        raise AssertionError("trained before checking where its result goes")

    monkeypatch.setattr(zoo.train, "fit", never)
    with pytest.raises(zoo.ZooError, match=r"cannot write results to .*ZOO_RESULTS_DIR"):
        reproduce.reproduce("mnist_mlp", data_dir=tiny)


def test_an_installed_package_keeps_results_in_the_working_directory(monkeypatch):
    monkeypatch.delenv("ZOO_RESULTS_DIR", raising=False)
    assert results.folder() == Path(results.__file__).resolve().parents[1] / "results"
    monkeypatch.setattr(results, "__file__", "/opt/venv/lib/site-packages/zoo/results.py")
    assert results.folder() == Path("results")


def _table(path: Path, runs: dict[str, float], model: str = "mnist_mlp",
           epochs: dict[str, int] | None = None,
           budgets: dict[str, tuple[float, float]] | None = None) -> None:
    """A results.csv at `path` with one run of `model` per `runs` item (run id -> accuracy),
    of the recipe's epochs unless `epochs` gives the run's; `budgets` gives a run's budget
    and training time, in minutes, written as `zoo.reproduce --budget-minutes` writes them."""
    full = zoo.card(model).recipe.epochs
    rows = []
    for run, value in runs.items():
        minutes, trained = (budgets or {}).get(run, (None, 1))
        notes = "x" if minutes is None else f"{results.budget_text(minutes)}: N of M epochs"
        rows.append({**dict.fromkeys(results.COLUMNS, "x"), "run_id": run, "model": model,
                     "dataset": "mnist", "metric": "accuracy", "value": value,
                     "epochs": (epochs or {}).get(run, full), "wall_time_s": trained * 60,
                     "notes": notes})
    results.append(rows, path)


def test_an_installed_zoo_reads_its_packaged_results_then_the_users(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "packaged", lambda: tmp_path / "packaged")
    monkeypatch.setenv("ZOO_RESULTS_DIR", str(tmp_path / "mine"))
    _table(tmp_path / "packaged" / "results.csv", {"project": 0.98})
    (tmp_path / "packaged" / "not_measured.csv").write_text(
        "model,dataset,reason\nvgg13,cifar100,no copy\n")
    assert results.measured("mnist_mlp").metrics == {"accuracy": 0.98}
    assert results.not_measured() == {"vgg13": {"dataset": "cifar100", "reason": "no copy"}}

    _table(tmp_path / "mine" / "results.csv", {"project": 0.98, "mine": 0.97})
    assert [run[0]["run_id"] for run in results.runs_of("mnist_mlp")] == ["project", "mine"]
    assert zoo.card("mnist_mlp").measured.metrics == {"accuracy": 0.97}


def test_a_short_budget_run_does_not_replace_a_longer_one_on_the_card(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_RESULTS_DIR", str(tmp_path))

    def shown(runs, epochs, model="mnist_mlp", budgets=None):
        (tmp_path / "results.csv").unlink(missing_ok=True)
        _table(tmp_path / "results.csv", runs, model, epochs, budgets)
        return zoo.card(model).measured

    # A full-recipe run, then a user's one-epoch trial: the card keeps the full run.
    assert shown({"full": 0.98, "trial": 0.91}, {"trial": 1}).metrics == {"accuracy": 0.98}
    # A newer full run replaces it, whatever it scored; docs and --list read the same run.
    assert shown({"full": 0.98, "trial": 0.91, "again": 0.97}, {"trial": 1}).metrics == \
        {"accuracy": 0.97}
    assert results.measured_per_dataset("mnist_mlp")[0].metrics == {"accuracy": 0.97}
    # Only budget runs (resnet20's recipe is far longer): the longest, newest among equals.
    budget = {"a": 0.84, "b": 0.88, "c": 0.70, "d": 0.87}
    assert shown(budget, {"a": 38, "b": 69, "c": 1, "d": 69}, "resnet20").metrics == \
        {"accuracy": 0.87}
    # Budget runs: the largest budget first, and of one budget a run that kept to it before
    # one that overran it (69 epochs planned for 60 minutes that took 65), then the longest.
    budget = {"overran": 0.884, "kept": 0.882, "trial": 0.80, "fewer": 0.87}
    epochs = {"overran": 69, "kept": 66, "trial": 3, "fewer": 60}
    minutes = {"overran": (60, 65), "kept": (60, 59.5), "trial": (4, 3), "fewer": (60, 58)}
    assert shown(budget, epochs, "resnet20", minutes).metrics == {"accuracy": 0.882}
    del budget["kept"]
    assert shown(budget, epochs, "resnet20", minutes).metrics == {"accuracy": 0.87}
    minutes["trial"] = (90, 100)  # a larger budget, overrun
    assert shown(budget, epochs, "resnet20", minutes).metrics == {"accuracy": 0.80}
    assert results.budget_minutes("cifar10 for cifar100; 1e-05-minute budget: 1 of 200") == 1e-5
    assert results.budget_minutes("a 5-minute budget in prose") is None
    # A recipe that has since shrunk: a run of the old, longer recipe is full too, so the
    # newest full run is shown.
    assert shown({"old": 0.99, "new": 0.98}, {"old": 50}).metrics == {"accuracy": 0.98}


def test_a_table_rewritten_within_one_clock_tick_is_read_again(tmp_path):
    path = tmp_path / "results.csv"
    _table(path, {"first": 0.9})
    assert [row["run_id"] for row in results.read(path)] == ["first"]
    when = path.stat().st_mtime_ns
    path.unlink()  # rewritten, and the file system's coarse clock gives it the same time
    _table(path, {"second": 0.9, "third": 0.8})
    os.utime(path, ns=(when, when))
    assert [row["run_id"] for row in results.read(path)] == ["second", "third"]


def test_another_projects_results_table_is_not_taken_for_the_zoos(tmp_path, monkeypatch,
                                                                  messages):
    monkeypatch.setattr(results, "_WARNED", set())
    monkeypatch.delenv("ZOO_RESULTS_DIR", raising=False)
    monkeypatch.setattr(results, "__file__", str(tmp_path / "site-packages/zoo/results.py"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "results.csv").write_text("epoch,loss\n")  # a header alone too
    with pytest.raises(zoo.ZooError, match="unexpected columns"):
        results.check_writable(Path("results"))
    (tmp_path / "results" / "results.csv").write_text("epoch,loss\n1,0.5\n")
    assert results.read() == [] and results.read() == []
    assert len([m for m in messages if "results.csv: unexpected columns" in m
                and "ZOO_RESULTS_DIR" in m]) == 1  # said once
    with pytest.raises(zoo.ZooError, match=r"unexpected columns.*set ZOO_RESULTS_DIR"):
        results.check_writable(Path("results"))
    monkeypatch.setenv("ZOO_RESULTS_DIR", str(tmp_path / "results"))  # named: an error
    with pytest.raises(zoo.ZooError, match="unexpected columns"):
        results.read()


def test_a_built_wheel_carries_the_results_its_cards_read(tmp_path):
    root = Path(__file__).resolve().parents[1]
    src = tmp_path / "src"
    shutil.copytree(root / "zoo", src / "zoo", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(root / "results", src / "results")
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy(root / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist",
                    src], check=True)
    (wheel,) = (tmp_path / "dist").glob("zoo-*.whl")
    with zipfile.ZipFile(wheel) as z:
        for name in ("results.csv", "not_measured.csv"):
            assert z.read(f"zoo/_results/{name}") == (root / "results" / name).read_bytes()

    subprocess.run([*pip, "install", "--no-deps", "--target", tmp_path / "site", wheel],
                   check=True)
    (tmp_path / "elsewhere").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "ZOO_RESULTS_DIR"}
    out = subprocess.run(
        [sys.executable, "-c", "import json, zoo; from zoo import results; print(json.dumps("
         "[zoo.__file__, zoo.card('mnist_mlp').measured.metrics, results.not_measured()]))"],
        cwd=tmp_path / "elsewhere", env={**env, "PYTHONPATH": str(tmp_path / "site")},
        capture_output=True, text=True, check=True)
    where, measured, missing = json.loads(out.stdout.splitlines()[-1])
    assert Path(where).is_relative_to(tmp_path / "site")
    assert measured == results.measured("mnist_mlp", "mnist").metrics
    assert missing == results.not_measured() and missing


def test_reproduce_cli_errors(capsys):
    assert reproduce.main(["nope"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    assert reproduce.main([]) == 2
    assert "name the model to measure, or --resume" in capsys.readouterr().err
    assert reproduce.main(["--resume", "nowhere"]) == 2
    assert "nowhere is not a run that zoo.reproduce started" in capsys.readouterr().err
    assert reproduce.main(["mnist_mlp", "--data-dir", "no-such-folder"]) == 2
    assert "data_dir 'no-such-folder' is not a folder" in capsys.readouterr().err
