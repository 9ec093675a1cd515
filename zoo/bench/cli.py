"""`python -m zoo.bench`: training throughput of the tutorial loop, plain Keras and the zoo.

    python -m zoo.bench [MODEL ...] [--batch-size B] [--seconds S] [--json PATH]

For each model, on the same synthetic in-memory data of its real input shape and the same batch
size, it measures steady-state training samples per second of (a) the eager tutorial loop,
(b) plain `compile` + `fit`, (c) `zoo.train.fit`, and reports the ratios, the model's training
FLOPs per example, the GFLOP/s the zoo achieves and their share of this machine's
matrix-multiply peak, measured in the same run. The three take turns, one timed window each
per round (each of the zoo's a `zoo.train.fit` call of its own, with a warm-up epoch), so that
the machine's drift falls on all three; c/a and c/b are the medians of the
ratios within a round. With real data at hand it also measures each
loader against its model, and the whole `python -m zoo.train` process against the tutorial
script. Results go to `benchmarks/results.json` and `benchmarks/results.md`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import zoo
from zoo import commands
from zoo.bench import backends, flops, loaders, loops, machine
from zoo.errors import ZooError
from zoo.fileio import write_json, write_text
from zoo.train import runs

# End-to-end runs: the zoo's command against the tutorial script for as many epochs.
END_TO_END = (("mnist_mlp", 5), ("fashion_mlp", 3))


def interleaved(name: str, x, y, batch_size: int, samples: int,
                windows: int) -> dict[str, list[float]]:
    """Seconds of each timed window of (a) `tutorial`, (b) `keras` and (c) `zoo`, taking turns.

    (a) and (b) train a warm-up epoch first. Then each round runs `zoo.train.fit` afresh for a
    warm-up epoch and one timed one, then one epoch of (a) and of (b), in alternating order.
    Each `zoo.train.fit` call ends before the others train: it sets process-wide state (the
    dtype policy) that would otherwise fall on them.
    """
    others = {"tutorial": loops.tutorial(name, x, y, batch_size),
              "keras": loops.plain_keras(name, x, y, batch_size)}
    for epoch in others.values():
        epoch()  # warm-up: tracing, compilation
    seconds: dict[str, list[float]] = {"tutorial": [], "keras": [], "zoo": []}
    for round_ in range(windows):
        seconds["zoo"].append(loops.zoo_fit(name, samples, batch_size, 1)[-1])
        for way in sorted(others, reverse=round_ % 2 == 1):
            seconds[way].append(others[way]())
    return seconds


def same_round_ratio(seconds: dict[str, list[float]], other: str) -> float:
    """The zoo's rate over `other`'s: the median over rounds of the ratio in each round."""
    return statistics.median(o / z for o, z in zip(seconds[other], seconds["zoo"], strict=True))


def measure_model(name: str, batch_size: int | None, seconds: float, windows: int,
                  peaks: dict[str, float], steps: int | None = None) -> dict[str, Any]:
    """One row: the three rates, their ratios, FLOPs and the share of the peak of the dtype
    the zoo computes the model in (`peaks`: GFLOP/s by dtype).

    `steps` per window, or (None) as many as make `seconds / windows` at the zoo's rate.
    """
    batch = batch_size or zoo.card(name).recipe.batch_size
    steps = steps or loops.steps_per_window(name, batch, seconds / windows)
    x, y = loops.data(name, steps * batch)
    samples = steps * batch
    seconds = interleaved(name, x, y, batch, samples, windows)
    rates = {way: samples / statistics.median(s) for way, s in seconds.items()}
    per_sample = flops.training_flops(zoo.get(name, compile=False))
    gflops = rates["zoo"] * per_sample / 1e9
    precision = machine.zoo_precision(name)
    return {"model": name, "batch_size": batch, "steps_per_window": steps, "windows": windows,
            "precision": precision,
            "samples_per_s": {k: round(v, 1) for k, v in rates.items()},
            "window_seconds": {k: [round(v, 3) for v in s] for k, s in seconds.items()},
            "zoo_over_tutorial": round(same_round_ratio(seconds, "tutorial"), 2),
            "zoo_over_keras": round(same_round_ratio(seconds, "keras"), 2),
            "train_mflops_per_sample": round(per_sample / 1e6, 3),
            "zoo_gflops": round(gflops, 2), "share_of_peak": round(gflops / peaks[precision], 3)}


def loader_rows(names: list[str], rows: list[dict], data_dir, seconds: float) -> list[dict]:
    """Each needed dataset's loader rate on real data, against its model's zoo training rate."""
    zoo_rates = {r["model"]: r["samples_per_s"]["zoo"] for r in rows}
    out = []
    for dataset in dict.fromkeys(zoo.card(n).dataset for n in names):
        model = loaders.PAIRS[dataset]
        try:
            rate = loaders.loader_rate(dataset, seconds=seconds, data_dir=data_dir,
                                       download=False)
        except ZooError as err:
            out.append({"dataset": dataset, "error": str(err).splitlines()[0]})
            continue
        model_rate = zoo_rates.get(model) or loaders.model_rate(model, seconds=seconds)
        out.append({"dataset": dataset, "loader_samples_per_s": round(rate, 1), "model": model,
                    "model_samples_per_s": round(model_rate, 1),
                    "ratio": round(rate / model_rate, 1)})
    return out


def _timed(args: list[str], cwd: str) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True,
                            text=True, timeout=3600)
    if result.returncode != 0:
        raise ZooError(f"{' '.join(args)} failed: {result.stderr.strip().splitlines()[-1:]}")
    return time.perf_counter() - start, result.stdout


def end_to_end(data_dir) -> list[dict]:
    """Wall time and test accuracy of `python -m zoo.train` against the tutorial script."""
    extra = ["--data-dir", str(Path(data_dir).resolve())] if data_dir else []
    out = []
    for model, epochs in END_TO_END:
        with tempfile.TemporaryDirectory() as tmp:
            zoo_s, _ = _timed(["zoo.train", model, "--epochs", str(epochs), "--run-dir", "run",
                               "--verbose", "0", *extra], tmp)
            zoo_acc = json.loads((Path(tmp) / "run" / "metrics.json").read_text())["test"]
            tut_s, printed = _timed(["zoo.bench.tutorial", model, "--epochs", str(epochs),
                                     *extra], tmp)
        tut_acc = float(printed.strip().splitlines()[-1].split()[-1].rstrip("%")) / 100
        out.append({"model": model, "epochs": epochs, "zoo_seconds": round(zoo_s, 1),
                    "zoo_accuracy": round(zoo_acc["accuracy"], 4),
                    "tutorial_seconds": round(tut_s, 1), "tutorial_accuracy": round(tut_acc, 4),
                    "speedup": round(tut_s / zoo_s, 2)})
    return out


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: the machine, then one table per measurement."""
    m = report["machine"]
    lines = [f"Measured {report['date']} on {runs.describe_hardware(m)}, Keras "
             f"{m['versions'].get('keras')} / TensorFlow {m['versions'].get('tensorflow')}, "
             f"{m['backend']} backend; matrix-multiply peak " + ", ".join(
                 f"{v:.1f} GFLOP/s in {k}" for k, v in report.get(
                     "peak_gflops_by_dtype", {"float32": report["peak_gflops"]}).items())
             + " (measured in the same run; each model's share is of the peak of the dtype "
             "the zoo computes it in).", "",
             "| model | batch | (a) tutorial loop | (b) plain Keras | (c) zoo | c/a | c/b | "
             "train MFLOP/sample | zoo GFLOP/s | share of peak |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["models"]:
        s = r["samples_per_s"]
        lines.append(f"| {r['model']} | {r['batch_size']} | {s['tutorial']:,.0f} | "
                     f"{s['keras']:,.0f} | {s['zoo']:,.0f} | {r['zoo_over_tutorial']:.1f}x | "
                     f"{r['zoo_over_keras']:.1f}x | {r['train_mflops_per_sample']:,.1f} | "
                     f"{r['zoo_gflops']:.1f} | {100 * r['share_of_peak']:.0f}%"
                     f"{'' if r.get('precision', 'float32') == 'float32' else ' of ' + r['precision']} |")
    lines.append("\nSamples per second of training, median of timed windows after a warm-up. "
                 "The three take turns, one window each per round; c/a and c/b are the medians "
                 "of the ratios within a round.")
    if report.get("backends"):
        lines += ["", "The zoo's training rate, (c), on each Keras backend (same data, batch and "
                      "windows):", "", *backends.table(report["models"], report["backends"])]
    if report.get("loaders"):
        lines += ["", "| dataset | loader samples/s | model | model samples/s (zoo) | "
                      "loader / model |", "|---|---:|---|---:|---:|"]
        for r in report["loaders"]:
            if "error" in r:
                lines.append(f"| {r['dataset']} | not available here | | | |")
            else:
                lines.append(f"| {r['dataset']} | {r['loader_samples_per_s']:,.0f} | "
                             f"{r['model']} | {r['model_samples_per_s']:,.0f} | "
                             f"{r['ratio']:.1f}x |")
    if report.get("end_to_end"):
        lines += ["", "| whole process | epochs | `python -m zoo.train` | test accuracy | "
                      "tutorial script | test accuracy | speed-up |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for r in report["end_to_end"]:
            lines.append(f"| {r['model']} | {r['epochs']} | {r['zoo_seconds']:.1f} s | "
                         f"{100 * r['zoo_accuracy']:.2f}% | {r['tutorial_seconds']:.1f} s | "
                         f"{100 * r['tutorial_accuracy']:.2f}% | {r['speedup']:.1f}x |")
    return "\n".join(lines) + "\n"


def parser() -> argparse.ArgumentParser:
    p = commands.Parser(prog="python -m zoo.bench", description=__doc__)
    p.add_argument("models", nargs="*", metavar="MODEL",
                   help="models to measure (default: every registered model)")
    p.add_argument("--batch-size", type=commands.count,
                   help="batch size (default: each recipe's)")
    p.add_argument("--seconds", type=commands.positive, default=3.0,
                   help="timed seconds per model and way of training (default 3)")
    p.add_argument("--windows", type=commands.count, default=5,
                   help="timed windows per measurement, at least 2; the median is reported "
                        "(default 5)")
    p.add_argument("--steps", type=commands.count,
                   help="training steps per window, the same for the three ways (default: as "
                        "many as fill --seconds / --windows at the zoo's rate, at least 8); a "
                        "few steps make a quick check of the command, not a measurement")
    p.add_argument("--data-dir", help="real datasets for the loader and end-to-end runs "
                                      "(default $ZOO_DATA_DIR)")
    p.add_argument("--backends", nargs="+", choices=backends.BACKENDS, metavar="BACKEND",
                   help="also measure the zoo's rate on these Keras backends (tensorflow, jax, "
                        "torch), each in a process of its own")
    p.add_argument("--no-loaders", action="store_true", help="skip the loader measurements")
    p.add_argument("--no-end-to-end", action="store_true",
                   help="skip the whole-process runs of mnist_mlp and fashion_mlp")
    p.add_argument("--json", type=commands.output_file, default="benchmarks/results.json",
                   help="where to write the results (default benchmarks/results.json)")
    p.add_argument("--markdown", type=commands.output_file, default="benchmarks/results.md",
                   help="where to write the tables (default benchmarks/results.md)")
    return p


@commands.one_line_errors
def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        names = [zoo.registry.resolve(n) for n in args.models] or zoo.list_models()
        if args.windows < 2:
            raise ZooError("--windows must be at least 2")
        if args.seconds <= 0:
            raise ZooError("--seconds must be positive")
        peaks = machine.peaks(names, args.seconds)
        print("zoo.bench: matrix-multiply peak " + ", ".join(
            f"{dtype} {v:.1f} GFLOP/s" for dtype, v in peaks.items()), flush=True)
        rows = []
        for name in names:
            rows.append(measure_model(name, args.batch_size, args.seconds, args.windows, peaks,
                                      args.steps))
            r = rows[-1]["samples_per_s"]
            print(f"zoo.bench: {name}: tutorial {r['tutorial']:,.0f}, keras {r['keras']:,.0f}, "
                  f"zoo {r['zoo']:,.0f} samples/s", flush=True)
        report = {"date": dt.date.today().isoformat(), "machine": machine.describe(),
                  "peak_gflops": round(peaks["float32"], 1),
                  "peak_gflops_by_dtype": {k: round(v, 1) for k, v in peaks.items()},
                  "models": rows}
        if args.backends:
            report["backends"] = {b: backends.measure(b, rows, args.windows)
                                  for b in args.backends}
        if not args.no_loaders:
            report["loaders"] = loader_rows(names, rows, args.data_dir, args.seconds)
        if not args.no_end_to_end:
            report["end_to_end"] = end_to_end(args.data_dir)
    except ZooError as err:
        print(f"error: {commands.one_line(err)}", file=sys.stderr)
        return 2
    write_json(args.json, report)
    text = markdown(report)
    write_text(args.markdown, text)
    print(text)
    return 0
