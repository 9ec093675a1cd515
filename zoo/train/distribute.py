"""Training past one device with the engines Keras and TensorFlow already have.

- `"mirrored"`: `tf.distribute.MirroredStrategy` over this host's GPUs (or, with none, its
  logical CPU devices): one replica per device, gradients all-reduced every step.
- `"multiworker"`: refused with an explanation. Keras 3's `fit` does not run under
  `tf.distribute.MultiWorkerMirroredStrategy` (keras-team/keras#20585): it fails before the
  first step, so the zoo says so instead of starting the cluster's collectives.
- `"data_parallel"`: `keras.distribution.DataParallel` on JAX over every local device.

The batch size is the global batch, split evenly over the replicas, so a run's data order and
results do not depend on how many devices share it. The learning rate is not scaled: the
recipe's rate goes with the recipe's global batch (scale it with the batch yourself, e.g.
linearly with a warm-up, Goyal et al. 2017).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import keras

from zoo.errors import ZooError

STRATEGIES = ("mirrored", "multiworker", "data_parallel")


@dataclass
class Distribution:
    """How a run is spread: the strategy's name, its replicas and their devices."""

    name: str | None = None
    replicas: int = 1
    devices: list[str] = field(default_factory=list)
    _scope: Callable[[], Any] = contextlib.nullcontext

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
        return {"strategy": self.name, "replicas": self.replicas, "devices": self.devices}


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
        raise ZooError(
            "distribute='multiworker' is refused: Keras 3's fit does not run under "
            "tf.distribute.MultiWorkerMirroredStrategy (it fails building the model and "
            "reducing its metrics; keras-team/keras#20585, tensorflow/tensorflow#72388). On "
            "one host with several GPUs use 'mirrored'; across hosts, the JAX backend's "
            "'data_parallel' after keras.distribution.initialize() is the Keras 3 route "
            "(not tested here)")
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
    raise AssertionError(f"unreachable: {name}")  # check() refused the others
