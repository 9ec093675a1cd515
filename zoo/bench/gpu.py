"""`python -m zoo.bench.gpu`: training images/s on an accelerator, with mixed precision and XLA,
against the accelerator's measured matrix-multiply peak.

    KERAS_BACKEND=jax python -m zoo.bench.gpu vgg13_bn resnet18 --json benchmarks/gpu.json

For each model and each precision (`mixed_bfloat16` and `float32`, `--precision`), it trains
the model compiled as the zoo compiles it (its recipe's optimizer, loss and metrics) on random
data of the model's input shape held in memory, so the input pipeline costs nothing, and
reports the steady-state samples per second (the median of timed epochs after a warm-up), the
training FLOPs per sample counted from the layers (`zoo.bench.flops`), the TFLOP/s that makes,
and its share of the peak measured in the same run: square matrix products of that precision
through the same backend. XLA compiles every step: always on JAX, with `jit_compile=True` on
TensorFlow (PyTorch has no XLA; it runs eagerly there). It needs no TensorFlow on JAX or
PyTorch, so it runs where only a GPU build of those is installed.

`--recount benchmarks/gpu.json` counts the FLOPs of an earlier run's models again with today's
`zoo.bench.flops`, on any machine, and rewrites its JSON and table: the measured samples/s and
peaks stay as they were, the TFLOP/s and shares of the peak follow the new count, and the table
says when the count was redone.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

import zoo
from zoo import commands
from zoo.bench import flops, loops
from zoo.bench.timing import median_rate, random_inputs
from zoo.fileio import write_json, write_text
from zoo.recipe import compile_model
from zoo.train import runs
from zoo.train.core import dtype_policy

PRECISIONS = {"bf16": ("mixed_bfloat16", "bfloat16"), "fp32": ("float32", "float32")}
DEFAULT_MODELS = ["vgg13_bn", "resnet18"]


def _sync(tensor) -> None:
    """Wait for the device: copy one element of `tensor` back to the host."""
    keras.ops.convert_to_numpy(keras.ops.reshape(tensor, (-1,))[:1])


def matmul_peak(dtype: str, n: int, seconds: float, chain: int = 10) -> float:
    """TFLOP/s of `n x n` matrix products of `dtype` through the Keras backend.

    Each timed call issues `chain` products and waits for the last; the median of several
    windows after a warm-up, as `zoo.bench.timing.median_rate` times everything else.
    """
    rng = np.random.default_rng(0)
    a = keras.ops.convert_to_tensor(rng.standard_normal((n, n), np.float32), dtype=dtype)
    b = keras.ops.convert_to_tensor(rng.standard_normal((n, n), np.float32), dtype=dtype)

    def step() -> int:
        for _ in range(chain):
            c = keras.ops.matmul(a, b)
        _sync(c)
        return chain * 2 * n**3

    return median_rate(step, seconds) / 1e12


def train_rate(name: str, precision: str, batch_size: int, steps: int, epochs: int) -> dict:
    """Samples/s of one model trained with XLA in one precision: the median epoch after the first."""
    with dtype_policy(PRECISIONS[precision][0]):
        card = zoo.card(name)
        model = zoo.get(name, compile=False)
        jit = {"jit_compile": True} if keras.backend.backend() != "torch" else {}
        compile_model(model, card.task, card.recipe, steps_per_epoch=steps, keep_jit=True, **jit)
        x, y = random_inputs(name, steps * batch_size)
        clock = loops.EpochClock()
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch_size, epochs=epochs + 1, shuffle=False, verbose=0,
                  callbacks=[clock])
        total = time.perf_counter() - start
        per_sample = flops.training_flops(model)
    rate = steps * batch_size / statistics.median(clock.seconds[1:])
    return {"model": name, "precision": precision, "batch_size": batch_size,
            "samples_per_s": round(rate, 1), **_flop_fields(rate, per_sample),
            "first_epoch_s": round(clock.seconds[0], 2), "total_s": round(total, 1)}


def _flop_fields(rate: float, per_sample: int) -> dict[str, float]:
    """A row's FLOP columns: training GFLOP per sample and the TFLOP/s that `rate` makes."""
    return {"train_gflop_per_sample": per_sample / 1e9, "achieved_tflops": rate * per_sample / 1e12}


def table(result: dict[str, Any]) -> list[str]:
    """Markdown lines: one row per model, precision and batch size."""
    peaks = result["peak_tflops"]
    lines = ["| model | precision | batch | samples/s | GFLOP/sample (train) | TFLOP/s | "
             "share of peak |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        share = r["achieved_tflops"] / peaks[r["precision"]]
        lines.append(f"| {r['model']} | {r['precision']} | {r['batch_size']} | "
                     f"{r['samples_per_s']:,.0f} | {r['train_gflop_per_sample']:.3f} | "
                     f"{r['achieved_tflops']:.3g} | {100 * share:.1f}% |")
    peak_text = ", ".join(f"{k} {v:.3g} TFLOP/s" for k, v in peaks.items())
    machine = result["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    recounted = (f" FLOPs counted again from the layers on {result['flops_recounted']} "
                 "(`--recount`)." if "flops_recounted" in result else "")
    return [*lines, "", f"Measured matrix-multiply peak ({result['matmul_n']}x"
                        f"{result['matmul_n']} products): {peak_text}. "
                        f"{', '.join(machine['gpus']) or runs.describe_hardware(machine)}, "
                        f"{machine['backend']} backend ({versions}), {result['date'][:10]}."
                        + recounted]


def recount(result: dict[str, Any]) -> dict[str, Any]:
    """`result` with each row's training FLOPs counted again from its model's layers.

    The measured samples/s are kept; the achieved TFLOP/s follow the new count.
    """
    counts: dict[str, int] = {}
    rows = []
    for r in result["rows"]:
        if r["model"] not in counts:
            counts[r["model"]] = flops.training_flops(zoo.get(r["model"], compile=False))
        rows.append({**r, **_flop_fields(r["samples_per_s"], counts[r["model"]])})
    return {**result, "rows": rows, "flops_recounted": dt.date.today().isoformat()}


def _is_result(result: Any) -> bool:
    """Whether `result` has what `recount` and `table` read: a JSON written by this benchmark."""
    keys = {"rows", "peak_tflops", "machine", "date", "matmul_n"}
    return (isinstance(result, dict) and keys <= result.keys()
            and isinstance(result["machine"], dict)
            and {"backend", "gpus", "versions"} <= result["machine"].keys()
            and isinstance(result["rows"], list) and bool(result["rows"])
            and isinstance(result["peak_tflops"], dict)
            and all(isinstance(r, dict)
                    and {"model", "precision", "batch_size", "samples_per_s"} <= r.keys()
                    and r["precision"] in result["peak_tflops"] for r in result["rows"]))


def _write(path: Path, result: dict[str, Any]) -> None:
    """Print the table; write the JSON to `path` and the table beside it (`.md`)."""
    lines = table(result)
    print("\n".join(lines))
    write_json(path, result)
    write_text(path.with_suffix(".md"), "\n".join(lines) + "\n")


def run(models: list[str], precisions: list[str], batch_sizes: list[int | None], steps: int,
        epochs: int, matmul_n: int, seconds: float) -> dict[str, Any]:
    """Measure the peak for each precision, then every model, precision and batch size."""
    peaks = {p: matmul_peak(PRECISIONS[p][1], matmul_n, seconds) for p in precisions}
    print("peak " + ", ".join(f"{p} {v:.3g} TFLOP/s" for p, v in peaks.items()), flush=True)
    rows = []
    for name in models:
        for precision in precisions:
            for batch in batch_sizes:
                row = train_rate(name, precision, batch or zoo.card(name).recipe.batch_size,
                                 steps, epochs)
                print(json.dumps(row), flush=True)
                rows.append(row)
    info = runs.device()
    return {"date": dt.datetime.now().isoformat(timespec="seconds"),
            "machine": {**info, "gpus": runs.accelerators(), "versions": runs.versions()},
            "matmul_n": matmul_n, "peak_tflops": peaks, "steps_per_epoch": steps,
            "timed_epochs": epochs, "rows": rows}


def _batch(text: str) -> int | None:
    return None if text == "recipe" else commands.count(text)


@commands.one_line_errors
def main(argv: list[str] | None = None) -> int:
    p = commands.Parser(prog="python -m zoo.bench.gpu", description=__doc__)
    p.add_argument("models", nargs="*", type=commands.model_name,
                   help=f"models to measure (default: {' '.join(DEFAULT_MODELS)})")
    p.add_argument("--precision", nargs="+", choices=list(PRECISIONS), default=list(PRECISIONS))
    p.add_argument("--batch-size", nargs="+", type=_batch, default=[None], metavar="B",
                   help="batch sizes to measure ('recipe' for the card's; default: recipe)")
    p.add_argument("--steps", type=commands.count, default=50, help="steps per timed epoch")
    p.add_argument("--epochs", type=commands.count, default=3, help="timed epochs (median)")
    p.add_argument("--matmul-n", type=commands.count, default=8192,
                   help="size of the square matrices of the peak measurement")
    p.add_argument("--seconds", type=commands.positive, default=3.0,
                   help="seconds of each peak measurement")
    p.add_argument("--json", help="write the results as JSON here and a Markdown table beside it")
    p.add_argument("--recount", metavar="JSON",
                   help="measure nothing: count the FLOPs in this earlier result again and "
                        "rewrite it and its table")
    args = p.parse_args(argv)
    if args.recount:
        if args.models or args.json:
            p.error("--recount rewrites its own file: give it no models and no --json")
        path = Path(args.recount)
        try:
            result = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            p.error(f"--recount: cannot read {path} ({e})")
        if not _is_result(result):
            p.error(f"--recount: {path} is not a result of this benchmark (it needs rows with "
                    "'model', 'precision', 'batch_size' and 'samples_per_s', a peak for each "
                    "precision, a machine and a date)")
        _write(path, recount(result))  # a model no longer registered: zoo.get's one-line error
        return 0
    result = run(args.models or DEFAULT_MODELS, args.precision, args.batch_size,
                 args.steps, args.epochs, args.matmul_n, args.seconds)
    if args.json:
        _write(Path(args.json), result)
    else:
        print("\n".join(table(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
