"""The machine a benchmark ran on, and its measured matrix-multiply peak."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from zoo.bench.timing import median_rate, window_rate
from zoo.train import runs


def matmul_peak(seconds: float = 2.0, n: int | None = None, dtype: str = "float32") -> float:
    """GFLOP/s of `dtype` `n x n` matrix products through TensorFlow, as the models get them.

    The median of several timed windows after a warm-up, for `n` or (None) the faster of 1024
    and 2048 (`seconds` each): on this machine's AMX units the larger product runs a tenth
    faster in bfloat16. Only the product is timed; one element of it is read back. This is the
    ceiling the dense and convolutional layers measure their share against.
    """
    if n is None:
        return max(matmul_peak(seconds, size, dtype) for size in PEAK_SIZES)
    return median_rate(product(n, dtype), seconds) / 1e9


def peak_timer(dtype: str, warmup: int = 3) -> Callable[[float], float]:
    """`window(seconds)`: `matmul_peak`'s GFLOP/s in one timed window of about `seconds`, the
    faster of its two sizes (half the window each), for a benchmark that times the peak in
    turn with what it measures against it."""
    steps = [product(n, dtype) for n in PEAK_SIZES]
    for step in steps:
        for _ in range(warmup):
            step()
    return lambda seconds: max(window_rate(step, seconds / 2) for step in steps) / 1e9


PEAK_SIZES = (1024, 2048)


def product(n: int, dtype: str) -> Callable[[], int]:
    """A call that multiplies two random `n x n` `dtype` matrices, reads back one element of
    the product and returns the FLOPs it did."""
    import tensorflow as tf

    a = tf.cast(tf.random.normal((n, n), seed=1), dtype)
    b = tf.cast(tf.random.normal((n, n), seed=2), dtype)

    @tf.function
    def matmul():
        return tf.linalg.matmul(a, b)[0, 0]

    def step() -> int:
        matmul().numpy()
        return 2 * n**3

    return step


def peaks(names, seconds: float) -> dict[str, float]:
    """`matmul_peak` in float32 and in each precision the zoo computes models `names` in."""
    return {dtype: matmul_peak(min(seconds, 3.0), dtype=dtype)
            for dtype in sorted({"float32", *map(zoo_precision, names)})}


def zoo_precision(name: str) -> str:
    """The dtype `zoo.train.fit` computes model `name` in on this machine (its card's choice)."""
    import zoo
    from zoo.train import core

    if core.resolve_mixed_precision(zoo.card(name).recipe, "auto"):
        return core.mixed_policy().removeprefix("mixed_")
    return "float32"


def describe() -> dict[str, Any]:
    """CPU model and cores, accelerators, backend, package versions, oneDNN setting."""
    return {**runs.device(), "versions": runs.versions(),
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)")}
