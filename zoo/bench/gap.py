"""Where the zoo's training time goes, relative to plain Keras: one ingredient at a time.

    python -m zoo.bench.gap MODEL [MODEL ...] [--steps N] [--windows W] [--rounds R]

Starting from (b), plain `compile` + `fit` as `python -m zoo.bench` measures it, each stage adds
one thing the zoo's path (c) does differently, in this order, until the last stage is
`zoo.train.fit` itself:

1. `plain`: float32 `tf.data` slices, shuffled and batched; Keras' default loss and accuracy;
   the recipe's optimizer at a constant rate, no weight decay.
2. `+pipeline`: the zoo's input pipeline (uint8 in memory, batched gather, prefetch).
3. `+augment`: the recipe's augmentation (none for models without it).
4. `+optimizer`: the recipe's schedule and weight decay.
5. `+loss/metrics`: the recipe's loss (label smoothing) and the top-5 metric.
6. `+execution`: the card's `jit_compile` and `steps_per_execution`.
7. `zoo.train.fit`: the zoo's callbacks (checkpoints, TensorBoard, divergence watch, history).

Every stage trains the same synthetic data of the model's input shape at the recipe's batch
size. The machine's speed drifts, so the stages run in `--rounds` rounds, alternating forward
and backward order, and each stage reports the median of all its timed windows. The table says
how much each ingredient costs; `benchmarks/NOTES.md` reads it.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable

import keras

import zoo
from zoo import commands
from zoo.bench import loops
from zoo.recipe import compile_model, make_optimizer

STAGES = ("plain", "+pipeline", "+augment", "+optimizer", "+loss/metrics", "+execution",
          "zoo.train.fit")


def _plain_optimizer(recipe):
    return make_optimizer(recipe.replace(schedule="constant", weight_decay=0.0))


def _compile_plain(model, task, optimizer):
    if task == "classification":
        model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
    elif task == "binary_classification":
        model.compile(optimizer, keras.losses.BinaryCrossentropy(from_logits=True),
                      metrics=["accuracy"])
    else:
        model.compile(optimizer)


def stage_seconds(name: str, stage: str, x, y, batch_size: int, windows: int) -> list[float]:
    """Seconds per epoch (the first one warm-up) of `name` trained as `stage` describes."""
    card = zoo.card(name)
    recipe = card.recipe
    index = STAGES.index(stage)
    if stage == "zoo.train.fit":
        return loops.zoo_fit(name, len(x), batch_size, windows)
    model = zoo.get(name, compile=False)
    if index < STAGES.index("+loss/metrics"):
        optimizer = (make_optimizer(recipe, len(x) // batch_size)
                     if stage == "+optimizer" else _plain_optimizer(recipe))
        _compile_plain(model, card.task, optimizer)
    else:
        execution = ({} if stage == "+execution"
                     else {"jit_compile": False, "steps_per_execution": 1})
        compile_model(model, card.task, recipe, steps_per_epoch=len(x) // batch_size,
                      **execution)
    if stage == "plain":
        clock = loops.EpochClock()
        model.fit(loops._tf_dataset(x, y, batch_size), epochs=windows + 1, callbacks=[clock],
                  verbose=0)
        return clock.seconds
    augment = recipe.augment and index >= STAGES.index("+augment")
    return loops.fit_seconds(model, x, y, batch_size, windows + 1, augment)


def measure(name: str, steps: int, windows: int, rounds: int,
            log: Callable[[str], None] = lambda _: None) -> dict[str, float]:
    """Samples per second of each stage: the median over all rounds' timed windows."""
    batch = zoo.card(name).recipe.batch_size
    x, y = loops.data(name, steps * batch)
    windows_by_stage: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for round_ in range(rounds):
        order = STAGES if round_ % 2 == 0 else tuple(reversed(STAGES))
        for stage in order:
            seconds = stage_seconds(name, stage, x, y, batch, windows)[1:]
            windows_by_stage[stage].extend(seconds)
            log(f"{name} round {round_ + 1} {stage}: "
                f"{steps * batch / statistics.median(seconds):,.0f} samples/s")
    return {stage: steps * batch / statistics.median(values)
            for stage, values in windows_by_stage.items()}


def table(results: dict[str, dict[str, float]]) -> str:
    """Markdown: one row per model and stage, with its rate relative to the stage before."""
    lines = ["| model | stage | samples/s | vs previous stage | vs plain |",
             "|---|---|---:|---:|---:|"]
    for name, rates in results.items():
        previous = None
        for stage in STAGES:
            value = rates[stage]
            step = "" if previous is None else f"{value / previous:.2f}x"
            lines.append(f"| {name} | {stage} | {value:,.0f} | {step} | "
                         f"{value / rates['plain']:.2f}x |")
            previous = value
    return "\n".join(lines)


@commands.one_line_errors
def main(argv: list[str] | None = None) -> int:
    parser = commands.Parser(prog="python -m zoo.bench.gap", description=__doc__)
    parser.add_argument("models", nargs="+", type=commands.model_name,
                        help="registered model names")
    parser.add_argument("--steps", type=commands.count, default=16,
                        help="batches per timed window")
    parser.add_argument("--windows", type=commands.count, default=3,
                        help="timed windows per stage")
    parser.add_argument("--rounds", type=commands.count, default=2,
                        help="passes over the stages, alternating their order")
    args = parser.parse_args(argv)
    results = {}
    for name in args.models:
        results[name] = measure(name, args.steps, args.windows, args.rounds,
                                log=lambda line: print(line, file=sys.stderr, flush=True))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
