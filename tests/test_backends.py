"""Every model on Keras' JAX and PyTorch backends, beside the default TensorFlow.

Each backend runs in its own process (`KERAS_BACKEND` is read once, at import). There every
registered model trains a few steps through `zoo.train.fit` (the tf.data pipeline feeds it),
its checkpoint loads back with the same predictions (the IMDB models' from raw review strings
too), and the `.keras` file this TensorFlow
process saved loads (through `zoo.train.load`, which swaps in the loading backend's execution
settings) with the predictions TensorFlow made, and the pre-emption cases that depend on the
backend pass. With `--all-backends` the quick tier of the model and training tests runs whole
on each backend too (about 10 minutes more on two cores; CI leaves it out). Install a backend with
`pip install -e ".[jax]"` or `".[torch]"`; a backend that is not installed is skipped.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import zoo
from tests.processes import backend_env
from zoo.bench.loops import data as random_inputs

pytestmark = pytest.mark.slow  # the full tier: python -m pytest --full

ROOT = Path(__file__).resolve().parents[1]

# Run in the backend's process: argv = folder, model names.
SCRIPT = r"""
import json, math, sys
from pathlib import Path
import keras, numpy as np
import zoo

folder, names = Path(sys.argv[1]), sys.argv[2:]
report = {}


def predict(model, inputs):  # a direct call: predict() would compile each loaded copy anew
    return keras.ops.convert_to_numpy(model(inputs, training=False))


for name in names:
    run_dir = folder / keras.backend.backend() / name  # one folder per backend and model
    # 80 examples: validation's 8 make one batch of 8, as the test's do, so the test step
    # compiles once (JAX compiles a step for each batch shape)
    result = zoo.train.fit(name, epochs=1, steps=2, batch_size=8, run_dir=run_dir,
                           source="synthetic:80", verbose=0)
    x = np.load(folder / f"{name}-x.npy")
    mine = zoo.train.load(result.last_checkpoint)
    again = folder / f"{name}-{keras.backend.backend()}.keras"
    mine.save(again)
    same = np.allclose(predict(mine, x), predict(zoo.train.load(again), x), atol=1e-5)
    from_tf = zoo.train.load(folder / f"{name}-tensorflow.keras")
    expected = np.load(folder / f"{name}-y.npy")  # untrained deep nets give large logits
    tf_same = np.allclose(predict(from_tf, x), expected, rtol=1e-3,
                          atol=1e-3 * max(1.0, float(np.abs(expected).max())))
    if name.startswith("imdb_"):  # raw review strings, through the run's saved vocabulary
        vectorizer = zoo.data.text.Vectorizer.load(result.run_dir / "vocabulary.json")
        logits = predict(mine, vectorizer(["A wonderful, moving film.", "Dull."]))
        assert logits.shape == (2, 1) and np.isfinite(logits).all(), logits
    events = list((result.run_dir / "tensorboard").rglob("events.out.tfevents*"))
    report[name] = {"backend": keras.backend.backend(), "tensorboard": bool(events),
                    "metrics": {k: float(v) for k, v in result.test_metrics.items()},
                    "reload_same": bool(same), "tensorflow_file_same": bool(tf_same)}
print("REPORT " + json.dumps(report))
"""


def _installed(backend: str) -> bool:
    return importlib.util.find_spec(backend) is not None


@pytest.fixture(scope="module")
def saved_on_tensorflow(tmp_path_factory):
    """Every model built and saved here (TensorFlow), with inputs and its predictions."""
    folder = tmp_path_factory.mktemp("backends")
    keras.utils.set_random_seed(0)
    for name in zoo.list_models():
        model = zoo.get(name)
        x, _ = random_inputs(name, 4)
        if zoo.card(name).task == "generation":  # the DCGAN predicts images from latents
            x = np.random.default_rng(0).normal(size=(4, model.latent_dim)).astype("float32")
        np.save(folder / f"{name}-x.npy", x)
        np.save(folder / f"{name}-y.npy", model.predict(x, verbose=0))
        model.save(folder / f"{name}-tensorflow.keras")
    return folder


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_every_model_trains_saves_and_loads_on(backend, saved_on_tensorflow):
    if not _installed(backend):
        pytest.skip(f"{backend} is not installed: pip install -e '.[{backend}]'")
    names = zoo.list_models()
    env = backend_env(backend)
    process = subprocess.run([sys.executable, "-c", SCRIPT, str(saved_on_tensorflow), *names],
                             env=env, cwd=saved_on_tensorflow, capture_output=True, text=True,
                             timeout=1800)
    assert process.returncode == 0, process.stderr[-4000:]
    line = next(x for x in process.stdout.splitlines() if x.startswith("REPORT "))
    report = json.loads(line.removeprefix("REPORT "))
    assert sorted(report) == sorted(names)
    for name, r in report.items():
        assert r["backend"] == backend
        assert all(np.isfinite(v) for v in r["metrics"].values()), (name, r)
        assert r["reload_same"] and r["tensorflow_file_same"] and r["tensorboard"], (name, r)
        if zoo.card(name).task == "classification":
            top5 = r["metrics"]["top5_accuracy"]
            assert 0 <= r["metrics"]["accuracy"] <= top5 <= 1, (name, r)
    assert keras.backend.backend() == "tensorflow"


# The cases that depend on the backend (its random state and metric variables restored
# mid-epoch, twice in one epoch); TensorFlow runs the whole file in the suite, where the XLA
# case twice in one epoch trains in chunks (zoo.train.chunks, TensorFlow only).
PREEMPTION_CASES = "sigterm-mid-epoch or (interrupted_twice and dropout)"


def _pytest_on(backend: str, tmp_path: Path, *args: str, quick_compile: bool = True):
    """`python -m pytest ARGS` in a process of its own on `backend` (skips if not installed);
    the finished process, having passed."""
    if not _installed(backend):
        pytest.skip(f"{backend} is not installed: pip install -e '.[{backend}]'")
    process = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider",
         "--basetemp", str(tmp_path / "t"), *args],
        env=backend_env(backend, quick_compile=quick_compile), cwd=ROOT, capture_output=True,
        text=True, timeout=2400)
    assert process.returncode == 0, process.stdout[-6000:] + process.stderr[-2000:]
    return process


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_preemption_resumes_mid_epoch_on(backend, tmp_path, request):
    """SIGTERM and SIGINT save mid-epoch and the resumed run matches, on this backend too."""
    if request.config.getoption("--all-backends"):
        pytest.skip("--all-backends runs all of tests/train/test_preemption.py on this backend "
                    "(TestJax, TestTorch)")
    process = _pytest_on(backend, tmp_path, "tests/train/test_preemption.py",
                         "-k", PREEMPTION_CASES, quick_compile=False)  # trains whole epochs
    assert "2 passed" in process.stdout and "skipped" not in process.stdout


def _suite_on(backend: str, tmp_path: Path, config) -> None:
    """The quick tier of the model and training tests (tests/models, tests/train) in a pytest
    of its own on `backend`: building, fitting, saving, resuming, pre-emption mid-epoch, mixed
    precision and the distribution checks, each as that backend runs it. Tests of something
    only TensorFlow has are marked so and skip there, saying why."""
    if not config.getoption("--all-backends"):
        pytest.skip("the whole model and training tests on each backend: run with "
                    "--all-backends (about 10 minutes more on two cores; CI leaves it out)")
    process = _pytest_on(backend, tmp_path, "-rs", "tests/models", "tests/train")
    assert " passed" in process.stdout
    for line in process.stdout.splitlines():  # the only skips: what the backend lacks
        assert not line.startswith("SKIPPED") or "tensorflow only:" in line, line


# One class per backend: pytest-xdist (--dist loadscope) gives each class to whichever process
# is free, so the two suites can run side by side.
class TestJax:
    def test_model_and_training_tests_pass(self, tmp_path, request):
        _suite_on("jax", tmp_path, request.config)


class TestTorch:
    def test_model_and_training_tests_pass(self, tmp_path, request):
        _suite_on("torch", tmp_path, request.config)
