"""Training past one device with the engines Keras and TensorFlow already have.

- `"mirrored"`: `tf.distribute.MirroredStrategy` over this host's GPUs (or, with none, its
  logical CPU devices): one replica per device, gradients all-reduced every step.
- `"multiworker"`: `tf.distribute.MultiWorkerMirroredStrategy` over the hosts (workers) that
  `TF_CONFIG` describes; every worker runs the same command. The chief (the `"chief"` task, or
  worker 0 without one) writes the run folder; the other workers write theirs to a temporary
  folder they delete at the end. Keras 3's `fit` fails under this strategy as released
  (keras-team/keras#20585): it averages the first batch across workers to build the model, and
  averages scalar metrics along an axis they lack; `_patch_keras` mends both, for this
  strategy only. A SIGINT or SIGTERM is acted on at the end of an epoch, once every worker
  agrees, so that all of them stop after the same checkpoint (a worker that stopped alone
  mid-epoch would leave the others waiting in a collective).
- `"data_parallel"`: `keras.distribution.DataParallel` on JAX over every local device.

The batch size is the global batch, split evenly over the replicas, so a run's data order and
results do not depend on how many devices share it. The learning rate is not scaled: the
recipe's rate goes with the recipe's global batch (scale it with the batch yourself, e.g.
linearly with a warm-up, Goyal et al. 2017).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import keras

from zoo.errors import ZooError

STRATEGIES = ("mirrored", "multiworker", "data_parallel")
SIGNALS = (signal.SIGTERM, signal.SIGINT)  # the stops a multi-worker run agrees on, by rank


@dataclass
class Distribution:
    """How a run is spread: the strategy's name, its replicas and their devices."""

    name: str | None = None
    replicas: int = 1
    devices: list[str] = field(default_factory=list)
    _scope: Callable[[], Any] = contextlib.nullcontext
    # Multi-worker runs: which task this process is, whether it writes the run folder, and
    # `mean(values)`, the mean of a list of floats over every replica: a collective that every
    # worker must call at the same point.
    task: str | None = None
    chief: bool = True
    chief_task: str | None = None
    mean: Callable[[list[float]], list[float]] | None = None

    @property
    def agree(self) -> Callable[[int | None], int | None] | None:
        """For multi-worker runs, `agree(signum)`: the signal to stop on if any worker got
        one (SIGTERM before SIGINT), else None, the same on every worker."""
        if self.mean is None:
            return None
        mean = self.mean

        def agree(signum: int | None) -> int | None:
            got = mean([float(signum == s) for s in SIGNALS])
            return next((s for s, share in zip(SIGNALS, got, strict=True) if share > 0), None)

        return agree

    def check_same_everywhere(self, what: str) -> None:
        """A ZooError on every worker unless `what` (settings, data sizes) is the same on all:
        different ones would run different numbers of steps and wait on each other forever."""
        if self.mean is None:
            return
        digest = zlib.crc32(what.encode())
        bits = [float(digest >> i & 1) for i in range(32)]
        if any(share not in (0.0, 1.0) for share in self.mean(bits)):
            raise ZooError(f"the workers of this multi-worker run differ in their settings or "
                           f"data ({self.task} has: {what}); start every worker with the same "
                           "command, data and run folder")

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Where the model is built, loaded, trained and tested."""
        with self._scope():
            yield

    @property
    def batch_multiple(self) -> int:
        """What every batch's size must be a multiple of: JAX shards each batch evenly over
        the devices, and Keras 3 under tf.distribute fails on an uneven first batch."""
        return self.replicas

    def describe(self) -> dict[str, Any]:
        described = {"strategy": self.name, "replicas": self.replicas, "devices": self.devices}
        if self.task is not None:
            described["task"] = self.task
        return described


def check(name: str | None) -> str | None:
    """`name` if it is a strategy this backend has (None: one device), else a ZooError."""
    if name is None:
        return None
    if name not in STRATEGIES:
        raise ZooError(f"distribute must be one of {', '.join(STRATEGIES)} or None, got {name!r}")
    backend = keras.backend.backend()
    if name in ("mirrored", "multiworker") and backend != "tensorflow":
        raise ZooError(f"distribute={name!r} is TensorFlow's tf.distribute; on the {backend} "
                       "backend use 'data_parallel' (JAX) or train on one device")
    if name == "multiworker":
        cluster_from_environment()
    if name == "data_parallel" and backend != "jax":
        raise ZooError(f"distribute='data_parallel' is keras.distribution on JAX; on the "
                       f"{backend} backend use 'mirrored' (TensorFlow)")
    return name


def setup(name: str | None) -> Distribution:
    """The distribution for strategy `name` (checked with `check`), ready to use."""
    name = check(name)
    if name is None:
        return Distribution()
    if name == "data_parallel":
        devices = keras.distribution.list_devices()
        data_parallel = keras.distribution.DataParallel(devices=devices)
        return Distribution(name, len(devices), [str(d) for d in devices],
                            data_parallel.scope)

    import tensorflow as tf

    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        strategy = tf.distribute.MirroredStrategy([d.name for d in devices])
        return Distribution(name, strategy.num_replicas_in_sync, [d.name for d in devices],
                            strategy.scope)
    return _multiworker()


def cluster_from_environment() -> tuple[dict[str, list[str]], str, int]:
    """The cluster, task type and task index `TF_CONFIG` describes, or a ZooError saying why not."""
    text = os.environ.get("TF_CONFIG", "")
    if not text.strip():
        raise ZooError("distribute='multiworker' needs TF_CONFIG, the cluster and this "
                       "worker's place in it, e.g. TF_CONFIG='{\"cluster\": {\"worker\": "
                       "[\"host1:12345\", \"host2:12345\"]}, \"task\": {\"type\": "
                       "\"worker\", \"index\": 0}}' (docs/training.md)")
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        kind, index = str(task["type"]), int(task["index"])
        hosts = {str(k): [str(a) for a in v] for k, v in cluster.items()}
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise ZooError(f"TF_CONFIG must be JSON with 'cluster' (task type -> host:port list) "
                       f"and 'task' ({{'type': ..., 'index': ...}}): {error!r}") from None
    if kind not in hosts or not 0 <= index < len(hosts[kind]):
        raise ZooError(f"TF_CONFIG's task {kind} {index} is not in its cluster "
                       f"{json.dumps(hosts)}")
    return hosts, kind, index


def _multiworker() -> Distribution:
    import tensorflow as tf

    hosts, kind, index = cluster_from_environment()
    if kind not in ("chief", "worker"):
        raise ZooError(f"TF_CONFIG's task type {kind!r} has no part in a multi-worker run "
                       "(MultiWorkerMirroredStrategy trains on 'chief' and 'worker' tasks)")
    _patch_keras()
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except (RuntimeError, ValueError) as error:  # e.g. collectives configured too late
        raise ZooError(f"cannot start MultiWorkerMirroredStrategy: {error}") from None
    chief_task = "chief:0" if "chief" in hosts else "worker:0"  # worker 0 leads without one

    def mean(values: list[float]) -> list[float]:
        # MEAN, not SUM: TensorFlow refuses to sum a value that is not per replica when a
        # worker has several devices.
        total = strategy.reduce("MEAN", tf.constant(values, tf.float32), axis=None)
        return [float(v) for v in total.numpy()]

    devices = [f"{k}:{i}" for k, addresses in hosts.items() for i in range(len(addresses))]
    return Distribution("multiworker", strategy.num_replicas_in_sync, devices, strategy.scope,
                        task=f"{kind}:{index}", chief=f"{kind}:{index}" == chief_task,
                        mean=mean, chief_task=chief_task)


_PATCHED = False


def _patch_keras() -> None:
    """Mend Keras 3's TensorFlow trainer under MultiWorkerMirroredStrategy (keras-team/keras#20585).

    Keras builds the model from the first batch averaged over the replicas, a collective that
    fails on per-replica data; the first local replica's batch has the shapes the build
    needs. Keras averages each step's metrics over the workers along axis 0, which a scalar
    metric lacks; the average over every replica (axis None) is what is meant. Both patched
    functions leave every other strategy to Keras' own code.
    """
    global _PATCHED
    if _PATCHED:
        return
    import tensorflow as tf

    try:
        from keras.src.backend.tensorflow import trainer

        original_reduce = trainer.reduce_per_replica
        multi_worker = trainer._collective_all_reduce_multi_worker
        original_build = trainer.TensorFlowTrainer._maybe_symbolic_build
    except (ImportError, AttributeError) as error:
        raise ZooError(f"distribute='multiworker' mends Keras internals that Keras "
                       f"{keras.__version__} does not have ({error}); it was tested with Keras "
                       "3.15; on one host use 'mirrored'") from None

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and multi_worker(strategy):
            return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None),
                                         values)
        return original_reduce(values, strategy, reduction)

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if iterator is None or strategy is None or not multi_worker(strategy):
            return original_build(self, iterator=iterator, data_batch=data_batch)
        for *_, it in iterator:
            data_batch = tf.nest.map_structure(
                lambda v: strategy.experimental_local_results(v)[0], next(it))
            break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    trainer.reduce_per_replica = reduce_per_replica
    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    _PATCHED = True
