"""Measure a model's training rate under each execution setting the zoo can choose.

    python -m zoo.bench.settings MODEL [MODEL ...] [--jit 0 1] [--spe 1 8 32] [--batch-size B]
                                 [--precision float32 mixed] [--chunks on off]
                                 [--option KEY=VALUE ...]

For every combination of XLA compilation (`jit_compile`), `steps_per_execution` and precision
(`float32`, and with `--precision ... mixed` the 16-bit mixed policy `--mixed-precision` picks
on this machine) it trains
the model with its recipe through the zoo's own input pipeline (in-memory uint8 data, batched
gather, prefetch) and prints samples per second. The cards' `jit_compile`,
`steps_per_execution` and `mixed_precision` were chosen from these tables
(`benchmarks/NOTES.md`). With XLA and more than one step per execution, `zoo.train.fit` runs
an execution's batches in one compiled call (`zoo.train.chunks`); `--chunks on off` measures
that against Keras' own loop, one batch per step. `--option` builds the models with a builder option
(`--option dropout=0.2`).
"""

from __future__ import annotations

import itertools
import sys

import zoo
from zoo import commands
from zoo.bench import loops
from zoo.errors import ZooError
from zoo.recipe import compile_model
from zoo.train.core import dtype_policy, mixed_policy


def setting_rate(name: str, jit: bool, spe: int, batch_size: int, steps: int,
                 windows: int = 4, options: dict | None = None, policy: str = "float32",
                 chunked: bool = True) -> float:
    """Training samples per second of `name` (built with `options` under the dtype `policy`)
    compiled with `jit` and `spe` steps per execution, in chunks where the zoo would use them
    (`chunked`, `loops.fit_seconds`)."""
    x, y = loops.data(name, steps * batch_size)
    model = compiled_model(name, jit, spe, policy, options)
    with dtype_policy(policy):
        seconds = loops.fit_seconds(model, x, y, batch_size, windows + 1,
                                    zoo.card(name).recipe.augment, chunked)
    return loops.rate(seconds, steps * batch_size)


def compiled_model(name: str, jit: bool, spe: int, policy: str = "float32",
                   options: dict | None = None):
    """`name` built with `options` under the dtype `policy` and compiled with its recipe, with
    `jit` and `spe` steps per execution in place of the card's."""
    card = zoo.card(name)
    with dtype_policy(policy):
        model = zoo.get(name, compile=False, **(options or {}))
        compile_model(model, card.task, card.recipe, jit_compile=jit, steps_per_execution=spe)
    return model


@commands.one_line_errors
def main(argv: list[str] | None = None) -> int:
    parser = commands.Parser(prog="python -m zoo.bench.settings", description=__doc__)
    parser.add_argument("models", nargs="+", type=commands.model_name)
    parser.add_argument("--jit", type=int, nargs="+", default=[0, 1], choices=(0, 1))
    parser.add_argument("--spe", type=commands.count, nargs="+", default=[1, 8, 32])
    parser.add_argument("--batch-size", type=commands.count, help="default: the recipe's")
    parser.add_argument("--steps", type=commands.count, default=64, help="steps per timed window")
    parser.add_argument("--precision", nargs="+", choices=("float32", "mixed"),
                        default=["float32"], help="float32, and/or the mixed 16-bit policy")
    parser.add_argument("--chunks", nargs="+", choices=("on", "off"), default=["on"],
                        help="with XLA and more than one step per execution: an execution's "
                             "batches in one compiled call (on, as zoo.train.fit runs them) or "
                             "Keras' loop (off)")
    parser.add_argument("--option", type=commands.option, action="append", default=[],
                        metavar="KEY=VALUE", help="a builder option of the models (repeatable)")
    args = parser.parse_args(argv)
    options = dict(args.option)
    for name in args.models:  # a bad option exits in one line before anything is measured
        zoo.get(name, compile=False, **options)
    policies = [mixed_policy() if p == "mixed" else p for p in args.precision]
    print("| model | jit_compile | steps_per_execution | precision | chunks | samples/s |")
    print("|---|---|---:|---|---|---:|")
    for name in args.models:
        batch = args.batch_size or zoo.card(name).recipe.batch_size
        for jit, spe, policy, chunks in itertools.product(args.jit, args.spe, policies,
                                                          args.chunks):
            if chunks == "off" and "on" in args.chunks and not (jit and spe > 1):
                continue  # no chunks to turn off: the row "on" measured it
            try:
                rate = setting_rate(name, bool(jit), spe, batch, args.steps, options=options,
                                    policy=policy, chunked=chunks == "on")
                value = f"{rate:,.0f}"
            except (ZooError, ValueError, RuntimeError) as err:
                value = f"fails ({type(err).__name__})"
            print(f"| {name} | {bool(jit)} | {spe} | {policy} | {chunks} | {value} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
