"""Training past one device: a two-replica run matches a one-replica run, on TensorFlow
(MirroredStrategy over two logical CPUs) and JAX (DataParallel over two host devices)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import zoo
from zoo.data import pipeline

ROOT = Path(__file__).resolve().parents[2]

# Run in a fresh process: devices are fixed when the backend starts. argv: replicas, run folder.
SCRIPT = r"""
import json, sys
replicas, run_dir = int(sys.argv[1]), sys.argv[2]
import keras
if keras.backend.backend() == "tensorflow" and replicas > 1:
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
import numpy as np, zoo
strategy = {"tensorflow": "mirrored", "jax": "data_parallel"}[keras.backend.backend()]
result = zoo.train.fit("mnist_mlp", epochs=2, steps=4, batch_size=32, run_dir=run_dir,
                       source="synthetic:250", verbose=0,
                       distribute=strategy if replicas > 1 else None)
weights = zoo.train.load(result.last_checkpoint).get_weights()
print("REPORT " + json.dumps({"test": result.test_metrics, "distribute": result.config["distribute"],
                              "weights": [float(np.abs(w).sum()) for w in weights]}))
"""


def run(backend: str, replicas: int, run_dir: Path) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT)}
    if backend == "jax":
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={replicas}"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(replicas), str(run_dir)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("REPORT "))
    return json.loads(line.removeprefix("REPORT "))


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_two_replicas_match_one(backend, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed: pip install -e '.[{backend}]'")
    one = run(backend, 1, tmp_path / "one")
    two = run(backend, 2, tmp_path / "two")
    assert one["distribute"]["replicas"] == 1 and two["distribute"]["replicas"] == 2
    assert len(two["distribute"]["devices"]) == 2
    np.testing.assert_allclose(two["weights"], one["weights"], rtol=1e-4)
    for key, value in one["test"].items():
        assert two["test"][key] == pytest.approx(value, rel=1e-3, abs=1e-4), key


@pytest.mark.parametrize(("distribute", "message"), [
    ("ring", r"distribute must be one of mirrored, multiworker, data_parallel or None"),
    ("data_parallel", r"'data_parallel' is keras.distribution on JAX; on the tensorflow"),
    ("multiworker", r"refused: Keras 3's fit does not run under .*MultiWorkerMirrored.*20585"),
])
def test_unavailable_strategies_are_clear_errors(distribute, message, tmp_path):
    with pytest.raises(zoo.ZooError, match=message):
        zoo.train.fit("mnist_mlp", epochs=1, steps=1, run_dir=tmp_path / "run",
                      source="synthetic", verbose=0, distribute=distribute)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_multiworker_workers_exit_with_the_reason_and_write_nothing(tmp_path):
    """Two workers on loopback ports with TF_CONFIG: both refuse, one line, exit 2."""
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("localhost", 0))
            ports.append(s.getsockname()[1])
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    workers = []
    for index in range(2):
        env = {**os.environ, "PYTHONPATH": str(ROOT),
               "TF_CONFIG": json.dumps({"cluster": cluster,
                                        "task": {"type": "worker", "index": index}})}
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "zoo.train", "mnist_mlp", "--distribute", "multiworker",
             "--synthetic", "--epochs", "1", "--run-dir", "run"], cwd=tmp_path, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 2 and "Traceback" not in err
        assert err.strip().splitlines()[-1].startswith("error: distribute='multiworker' is "
                                                       "refused")
    assert not (tmp_path / "run").exists()


def test_a_batch_that_cannot_split_evenly_is_refused_before_anything_is_written(tmp_path):
    from zoo.train import distribute

    spread = distribute.Distribution("mirrored", 2, ["a", "b"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(distribute, "setup", lambda name: spread)
        with pytest.raises(zoo.ZooError, match="batch_size 33 must be a multiple of 2"):
            zoo.train.fit("mnist_mlp", batch_size=33, run_dir=tmp_path / "run",
                          source="synthetic", distribute="mirrored")
        own = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                                keras.layers.Dense(10)])
        with pytest.raises(zoo.ZooError, match="pass a registered model's name"):
            zoo.train.fit(own, "mnist", run_dir=tmp_path / "own", source="synthetic",
                          distribute="mirrored")
    assert not (tmp_path / "run").exists() and not (tmp_path / "own").exists()


def test_batches_split_evenly_over_devices():
    x = np.arange(23, dtype=np.uint8).reshape(23, 1)
    ds = pipeline.dataset(x, None, 8, shuffle=True, seed=1, batch_multiple=2)
    sizes = [len(b) for b in ds]
    assert sizes == [8, 8, 6]  # 22 of 23: every batch splits over 2 devices
    with pytest.raises(zoo.ZooError, match="batch_size 9 must be a multiple of 2"):
        pipeline.dataset(x, None, 9, shuffle=False, batch_multiple=2)
