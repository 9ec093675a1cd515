"""Training past one device: a two-replica run matches a one-replica run, on TensorFlow
(MirroredStrategy over two logical CPUs; MultiWorkerMirroredStrategy over two worker processes
on loopback ports) and JAX (DataParallel over two host devices)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

import zoo
from tests.processes import backend_env
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
    devices = {"XLA_FLAGS": f"--xla_force_host_platform_device_count={replicas}"}
    env = backend_env(backend, **(devices if backend == "jax" else {}))
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


BACKEND = keras.backend.backend()
# What each backend refuses, and how: tf.distribute is TensorFlow's, DataParallel is JAX's.
UNAVAILABLE = {"ring": r"distribute must be one of mirrored, multiworker, data_parallel or None"}
if BACKEND == "tensorflow":
    UNAVAILABLE["multiworker"] = r"distribute='multiworker' needs TF_CONFIG"
else:
    for name in ("mirrored", "multiworker"):
        UNAVAILABLE[name] = rf"distribute='{name}' is TensorFlow's tf.distribute; on the {BACKEND}"
if BACKEND != "jax":
    UNAVAILABLE["data_parallel"] = rf"'data_parallel' is keras.distribution on JAX; on the {BACKEND}"


@pytest.mark.parametrize(("distribute", "message"), UNAVAILABLE.items())
def test_unavailable_strategies_are_clear_errors(distribute, message, tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(zoo.ZooError, match=message):
        zoo.train.fit("mnist_mlp", epochs=1, steps=1, run_dir=tmp_path / "run",
                      source="synthetic", verbose=0, distribute=distribute)
    assert not (tmp_path / "run").exists()


WORKERS = {"worker": ["localhost:1", "localhost:2"]}


@pytest.mark.parametrize(("tf_config", "run_dir", "message"), [
    ("not json", "run", r"TF_CONFIG must be JSON with 'cluster'"),
    ({"cluster": WORKERS}, "run", r"TF_CONFIG must be JSON .*'task'"),
    ({"cluster": WORKERS, "task": {"type": "worker", "index": 2}}, "run",
     r"task worker 2 is not in its cluster"),
    ({"cluster": {**WORKERS, "evaluator": ["localhost:3"]},
      "task": {"type": "evaluator", "index": 0}}, "run", r"'evaluator' has no part"),
    ({"cluster": WORKERS, "task": {"type": "worker", "index": 0}}, None,
     r"'multiworker' needs run_dir \(--run-dir\): the same folder on every worker"),
])
@pytest.mark.backends("tensorflow", why="MultiWorkerMirroredStrategy is tf.distribute's")
def test_a_multiworker_run_is_refused_before_it_starts(tf_config, run_dir, message, tmp_path,
                                                        monkeypatch):
    monkeypatch.setenv("TF_CONFIG", tf_config if isinstance(tf_config, str)
                       else json.dumps(tf_config))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(zoo.ZooError, match=message):
        zoo.train.fit("mnist_mlp", epochs=1, steps=1, run_dir=run_dir, source="synthetic",
                      verbose=0, distribute="multiworker")
    assert not list(tmp_path.iterdir())


def _two_workers(other: list[float]):
    """A Distribution whose `mean` averages this worker's values with `other`'s."""
    from zoo.train import distribute

    def mean(mine: list[float]) -> list[float]:
        return [(a + b) / 2 for a, b in zip(mine, other, strict=True)]

    return distribute.Distribution("multiworker", 2, ["worker:0", "worker:1"], task="worker:0",
                                   mean=mean)


def test_workers_agree_on_the_stop_any_of_them_got():
    from zoo.train import distribute

    nothing = [0.0] * len(distribute.SIGNALS)
    term = [float(s == signal.SIGTERM) for s in distribute.SIGNALS]
    interrupt = [float(s == signal.SIGINT) for s in distribute.SIGNALS]
    assert _two_workers(nothing).agree(None) is None
    assert _two_workers(term).agree(None) == signal.SIGTERM  # the other worker was signalled
    assert _two_workers(interrupt).agree(signal.SIGTERM) == signal.SIGTERM
    assert _two_workers(interrupt).agree(None) == signal.SIGINT
    assert distribute.Distribution().agree is None  # one process: nothing to agree


def test_workers_with_different_settings_are_refused():
    import zlib

    same = "settings and data"
    bits = [float(zlib.crc32(same.encode()) >> i & 1) for i in range(32)]
    _two_workers(bits).check_same_everywhere(same)
    with pytest.raises(zoo.ZooError, match=r"the workers of this multi-worker run differ"):
        _two_workers(bits).check_same_everywhere("other settings")


def _free_ports(count: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _workers(folder: Path, *args: str, count: int = 2) -> list[subprocess.Popen]:
    """`count` workers of `python -m zoo.train --distribute multiworker ARGS` on loopback ports,
    each told its place by TF_CONFIG, started in `folder` with their own TMPDIR there."""
    cluster = {"worker": [f"localhost:{p}" for p in _free_ports(count)]}
    (folder / "tmp").mkdir(exist_ok=True)
    workers = []
    for index in range(count):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(folder / "tmp"),
               "TF_CONFIG": json.dumps({"cluster": cluster,
                                        "task": {"type": "worker", "index": index}})}
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "zoo.train", "--distribute", "multiworker", *args],
            cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return workers


def _finish(process: subprocess.Popen) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    return process.returncode, out, err


def _one_process(folder: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "zoo.train", *args], cwd=folder,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def _same_training(run: Path, one: Path) -> None:
    """The two-worker run's weights and test metrics are the one-process run's."""
    for got, want in zip(zoo.train.load(run / "last.keras").get_weights(),
                         zoo.train.load(one / "last.keras").get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    got, want = (json.loads((r / "metrics.json").read_text())["test"] for r in (run, one))
    assert got == pytest.approx(want, rel=1e-4, abs=1e-6)


def _left_in(temp: Path) -> list[Path]:
    """What is left in the workers' temporary folder, less TensorFlow's: autograph writes each
    function it converts there as a module, imports it and deletes it, and where Python writes
    bytecode (its default) the module's `__pycache__/__autograph_generated_file*.pyc` stays."""
    cache = temp / "__pycache__"
    return [p for p in temp.rglob("*") if p != cache and not (
        p.parent == cache and p.name.startswith("__autograph_generated_file"))]


# 240 synthetic examples: 216 to train, 24 to validate, 60 to test, all even: none is left out
# over two workers, so a one-process run sees the same data.
MULTIWORKER = ("mnist_mlp", "--synthetic", "--synthetic-examples", "240", "--batch-size", "32",
               "--verbose", "2")


@pytest.mark.slow
def test_a_signal_to_one_worker_stops_every_worker_after_the_same_epoch(tmp_path):
    """Two workers on loopback ports (TF_CONFIG), MultiWorkerMirroredStrategy. SIGTERM to the
    worker that is not the chief: both stop after the same epoch's checkpoint (exit 143);
    resumed, they end with the weights and test metrics of a one-process run; only the chief
    wrote a run folder, and the other worker left nothing behind."""
    args = (*MULTIWORKER, "--epochs", "4", "--steps", "30")
    workers = _workers(tmp_path, *args, "--run-dir", "run")
    state = tmp_path / "run" / "state.json"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and workers[1].poll() is None:
        if state.exists() and json.loads(state.read_text()).get("epochs_done", 0) >= 1:
            break
        time.sleep(0.05)
    workers[1].send_signal(signal.SIGTERM)
    finished = [_finish(w) for w in workers]
    for code, _, err in finished:
        assert code == 128 + signal.SIGTERM, err[-3000:]
    assert "the chief (worker:0) writes the run folder run" in finished[1][1]
    lines = [err.strip().splitlines()[-1] for _, _, err in finished]
    epochs = {int(re.search(r"stopped by SIGTERM after epoch (\d+)", line)[1]) for line in lines}
    assert len(epochs) == 1, lines  # the same epoch on both
    stopped = epochs.pop()
    assert 1 <= stopped < 4 and json.loads(state.read_text())["epochs_done"] == stopped
    assert all("--resume run" in line for line in lines), lines
    resumed = _workers(tmp_path, "--resume", "run")
    _one_process(tmp_path, *args, "--run-dir", "one")
    for code, _, err in (_finish(w) for w in resumed):
        assert code == 0, err[-3000:]
    assert json.loads(state.read_text())["epochs_done"] == 4
    _same_training(tmp_path / "run", tmp_path / "one")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["distribute"] == {"strategy": "multiworker", "replicas": 2,
                                    "devices": ["worker:0", "worker:1"], "task": "worker:0"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "run", "tmp"]
    assert not _left_in(tmp_path / "tmp")  # the other worker's folders are gone
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == \
        sorted(p.name for p in (tmp_path / "one" / "checkpoints").iterdir())


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
