"""The environment of the tests' processes: each one's share of the cores under pytest-xdist
(`share_the_cores`), and a child process on another Keras backend (`backend_env`).

`KERAS_BACKEND` is read once, at import, so a test of another backend runs it in a process of
its own. JAX compiles every training step with XLA, and at the few steps a test takes,
compiling dominates: a test's JAX process compiles with XLA's cheap CPU passes only
(`QUICK_XLA`), which cut a resnet20 fit of a few steps from 33 s to 13 s here and left its
predictions the same. A child that trains for hundreds of steps keeps XLA's defaults
(`quick_compile=False`): 300 steps of the DCGAN took 96 s with the cheap passes, 46 s without.
Users' runs always keep XLA's defaults.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICK_XLA = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def backend_env(backend: str, *, quick_compile: bool = True, **extra: str) -> dict[str, str]:
    """This process's environment for a child on `backend`, with the repo importable and
    `extra` set; its XLA_FLAGS are this process's (the cores' share: `share_the_cores`), then
    any in `extra`, then with `quick_compile` on JAX `QUICK_XLA`."""
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT), **extra}
    env["XLA_FLAGS"] = xla_flags(os.environ.get("XLA_FLAGS", ""), extra.get("XLA_FLAGS", ""),
                                 QUICK_XLA if backend == "jax" and quick_compile else "")
    return env


def xla_flags(*parts: str) -> str:
    """One XLA_FLAGS value from `parts` in order, each flag once."""
    return " ".join(dict.fromkeys(flag for part in parts for flag in part.split()))


def share_the_cores(environ=os.environ) -> int | None:
    """In a pytest-xdist worker (`-n N`), TensorFlow, PyTorch (OpenMP) and JAX (XLA) each use
    the worker's share of the cores rather than every core; the processes its tests start
    inherit it. Measured on two cores: the model and training tests on PyTorch and on JAX, run
    side by side as `--all-backends` runs them, took 209 s and 383 s with one thread per process, against
    482 s and 451 s with the libraries' defaults (two processes each taking both cores).
    Values already in the environment are kept. Returns the threads per process, or None
    outside xdist. Call it before the libraries are imported: they read it once."""
    workers = int(environ.get("PYTEST_XDIST_WORKER_COUNT") or 0)
    if workers < 2:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = max(1, (cores or 1) // workers)
    environ.setdefault("OMP_NUM_THREADS", str(threads))  # PyTorch, OpenBLAS
    environ.setdefault("TF_NUM_INTRAOP_THREADS", str(threads))  # inter-op: default (collectives)
    if threads == 1 and "xla_cpu_multi_thread_eigen" not in environ.get("XLA_FLAGS", ""):
        environ["XLA_FLAGS"] = xla_flags(environ.get("XLA_FLAGS", ""),
                                         "--xla_cpu_multi_thread_eigen=false")
    return threads
