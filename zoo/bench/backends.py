"""The zoo's training throughput, (c) of `zoo.bench`, on each installed Keras backend.

`python -m zoo.bench --backends tensorflow jax torch` measures every model on each backend in
a process of its own (`KERAS_BACKEND` is read once, at import), on the same synthetic data
shapes, batch size and timed windows as the TensorFlow run. Run alone, this module measures
in the current process and prints one JSON line:

    KERAS_BACKEND=jax python -m zoo.bench.backends MODEL:BATCH:STEPS [...] --windows W
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from typing import Any

import keras

from zoo import commands
from zoo.bench import loops

BACKENDS = ("tensorflow", "jax", "torch")


def measure_here(specs: list[tuple[str, int, int]], windows: int) -> dict[str, float]:
    """Samples per second of `zoo.train.fit` for each `(model, batch, steps)`, in this process."""
    return {name: round(loops.rate(loops.zoo_fit(name, steps * batch, batch, windows),
                                   steps * batch), 1)
            for name, batch, steps in specs}


def measure(backend: str, rows: list[dict[str, Any]], windows: int) -> dict[str, Any]:
    """The zoo's rate of each model of `rows` (their batch and steps) on `backend`."""
    if backend == keras.backend.backend():
        return {r["model"]: r["samples_per_s"]["zoo"] for r in rows}
    if importlib.util.find_spec(backend) is None:
        return {"error": f"{backend} is not installed (pip install -e '.[{backend}]')"}
    specs = [f"{r['model']}:{r['batch_size']}:{r['steps_per_window']}" for r in rows]
    done = subprocess.run([sys.executable, "-m", "zoo.bench.backends", *specs,
                           "--windows", str(windows)],
                          env={**os.environ, "KERAS_BACKEND": backend}, capture_output=True,
                          text=True, timeout=3600)
    lines = [x for x in done.stdout.splitlines() if x.startswith("{")]
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"failed on {backend}: {last}"}
    return json.loads(lines[-1])


def table(rows: list[dict[str, Any]], by_backend: dict[str, dict[str, Any]]) -> list[str]:
    """Markdown lines: the zoo's samples/s per model (rows) and backend (columns)."""
    names = list(by_backend)
    lines = ["| model | " + " | ".join(f"{b} samples/s" for b in names) + " |",
             "|---|" + "---:|" * len(names)]
    for r in rows:
        cells = []
        for backend in names:
            result = by_backend[backend]
            value = result.get(r["model"])
            cells.append(f"{value:,.0f}" if value is not None else
                         ("not measured" if "error" in result else "-"))
        lines.append(f"| {r['model']} | " + " | ".join(cells) + " |")
    errors = [f"{b}: {v['error']}" for b, v in by_backend.items() if "error" in v]
    return lines + (["", *errors] if errors else [])


def _spec(text: str) -> tuple[str, int, int]:
    parts = text.split(":")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected MODEL:BATCH:STEPS, got {text!r}")
    return commands.model_name(parts[0]), commands.count(parts[1]), commands.count(parts[2])


@commands.one_line_errors
def main(argv: list[str] | None = None) -> int:
    p = commands.Parser(prog="python -m zoo.bench.backends", description=__doc__)
    p.add_argument("specs", nargs="+", type=_spec, metavar="MODEL:BATCH:STEPS")
    p.add_argument("--windows", type=commands.count, default=3)
    args = p.parse_args(argv)
    print(json.dumps(measure_here(args.specs, args.windows)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
