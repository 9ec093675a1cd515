"""Measured results: the table every model must appear in, FID, and `python -m zoo.reproduce`."""

from __future__ import annotations

from importlib.metadata import version

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
    rows = reproduce.reproduce("mnist_mlp", data_dir=tiny, budget_minutes=1e-4)  # under an epoch
    assert [r["metric"] for r in rows] == ["accuracy", "top5_accuracy"]
    assert rows[0]["epochs"] == 1 and "budget: 1 of the recipe's 5 epochs" in rows[0]["notes"]
    assert results.read() == [{k: str(v) for k, v in r.items()} for r in rows]
    card = zoo.card("mnist_mlp")
    assert card.measured.dataset == "mnist" and card.measured.epochs == 1
    assert card.measured.metrics["accuracy"] == pytest.approx(float(rows[0]["value"]))
    assert "(mnist, 1 epoch)" in docs.measured_text(card)
    backend = keras.backend.backend()
    assert rows[0]["backend"] == backend
    assert rows[0]["versions"] == f"keras {keras.__version__}, {backend} {version(backend)}"


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


def test_reproduce_substitutes_the_nearest_dataset_and_says_so(tiny, capsys):
    rows = reproduce.reproduce("vgg13", data_dir=tiny, budget_minutes=0.05)
    assert {r["dataset"] for r in rows} == {"cifar10"}
    assert "cifar100 has no copy here: measured on the nearest available dataset, cifar10" in \
        rows[0]["notes"]
    assert "not measured on cifar100; top-1" in docs.measured_text(zoo.card("vgg13"))
    with pytest.raises(zoo.ZooError, match="no local copy of fashion_mnist"):
        reproduce.reproduce("fashion_mlp", data_dir=tiny)


def test_reproduce_scores_a_generator_with_fid_and_saves_samples(tiny):
    rows = reproduce.reproduce("dcgan", data_dir=tiny, budget_minutes=0.05)
    metrics = {r["metric"]: float(r["value"]) for r in rows}
    assert set(metrics) == {"fid", "fid_train_vs_test"} and metrics["fid"] >= 0
    assert "FID on the 512 hidden features of mnist_mlp" in rows[0]["notes"]
    assert (tiny.parent / "results" / "dcgan-mnist.png").read_bytes()[:4] == b"\x89PNG"


def test_reproduce_cli_errors(capsys):
    assert reproduce.main(["nope"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
