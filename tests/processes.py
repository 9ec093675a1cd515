"""The environment of a test's child process on another Keras backend.

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
    `extra` set; with `quick_compile`, JAX compiles with `QUICK_XLA` (after any XLA_FLAGS in
    `extra`)."""
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT), **extra}
    if backend == "jax" and quick_compile:
        env["XLA_FLAGS"] = " ".join(filter(None, [env.get("XLA_FLAGS", ""), QUICK_XLA]))
    return env
