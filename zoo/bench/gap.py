"""Where the zoo's training time goes, relative to plain Keras: one ingredient at a time.

    python -m zoo.bench.gap MODEL [MODEL ...] [--steps N] [--rounds R]

Starting from (b), plain `compile` + `fit` as `python -m zoo.bench` measures it, each stage adds
one thing the zoo's path (c) does differently, in this order, until the last stage trains as
`zoo.train.fit` does:

1. `plain`: float32 `tf.data` slices, shuffled and batched; Keras' default loss and accuracy;
   the recipe's optimizer at a constant rate, no weight decay.
2. `+pipeline`: the zoo's input pipeline (uint8 in memory, batched gather, prefetch).
3. `+augment`: the recipe's augmentation (none for models without it).
4. `+optimizer`: the recipe's schedule and weight decay.
5. `+loss/metrics`: the recipe's loss (label smoothing) and the top-5 metric.
6. `+execution`: the card's `jit_compile` and `steps_per_execution`, run as `zoo.train.fit`
   runs them (an execution's batches in one compiled call where it compiles with XLA:
   `zoo.train.chunks`).
7. `+callbacks`: the callbacks `zoo.train.fit` runs during an epoch (divergence watch,
   pre-emption saver, epoch counter, TensorBoard); its end-of-epoch work (validation,
   checkpoints) is outside every timed window, as in `python -m zoo.bench`.

Every stage trains the same synthetic data of the model's input shape at the recipe's batch
size. This machine's speed drifts by tens of percent from one minute to the next, more than
most ingredients cost, so the stages are measured side by side: each round trains one epoch
(the timed window) of every stage in turn, alternating the order, and each stage's cost is the
median over rounds of its rate divided by `plain`'s rate in the same round.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import keras

import zoo
from zoo import commands
from zoo.bench import loops
from zoo.data import pipeline
from zoo.recipe import compile_model, make_optimizer
from zoo.train import callbacks, chunks

STAGES = ("plain", "+pipeline", "+augment", "+optimizer", "+loss/metrics", "+execution",
          "+callbacks")


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


def build_stage(name: str, stage: str, x, y, batch_size: int, folder: str):
    """`(model, dataset, callbacks, block)` of `name` trained as `stage` describes: `fit` runs
    in `block` (`zoo.train.chunks.chunked` from `+execution` on)."""
    card = zoo.card(name)
    recipe = card.recipe
    index = STAGES.index(stage)
    steps = len(x) // batch_size
    model = zoo.get(name, compile=False)
    if index < STAGES.index("+loss/metrics"):
        optimizer = (make_optimizer(recipe, steps) if index >= STAGES.index("+optimizer")
                     else _plain_optimizer(recipe))
        _compile_plain(model, card.task, optimizer)
    else:
        execution = ({} if index >= STAGES.index("+execution")
                     else {"jit_compile": False, "steps_per_execution": 1})
        compile_model(model, card.task, recipe, steps_per_epoch=steps, **execution)
    augment = recipe.augment and index >= STAGES.index("+augment")
    block = contextlib.nullcontext()
    if stage == "plain":
        ds = loops._tf_dataset(x, y, batch_size)
    elif index >= STAGES.index("+execution"):
        ds, block = chunks.training_data(model, x, y, batch_size, shuffle=True, augment=augment)
    else:
        ds = pipeline.dataset(x, y, batch_size, shuffle=True, augment=augment)
    extra = []
    if stage == "+callbacks":
        extra = [callbacks.EpochCounter(0), callbacks.DivergenceWatch(),
                 callbacks.Preemption(Path(folder), {}),
                 keras.callbacks.TensorBoard(log_dir=f"{folder}/tensorboard")]
    return model, ds, extra, block


def measure(name: str, steps: int, rounds: int,
            log: Callable[[str], None] = lambda _: None) -> dict[str, dict[str, float]]:
    """Per stage: `rate` (median samples/s) and `vs_plain` (median ratio to plain, per round)."""
    batch = zoo.card(name).recipe.batch_size
    x, y = loops.data(name, steps * batch)
    samples = steps * batch
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as blocks:
        built = {stage: build_stage(name, stage, x, y, batch, folder) for stage in STAGES}
        for model, ds, extra, block in built.values():  # warm-up: tracing, compilation
            blocks.enter_context(block)  # for every round: entering one compiles afresh
            model.fit(ds, epochs=1, callbacks=extra, verbose=0, shuffle=False)
        rates: dict[str, list[float]] = {stage: [] for stage in STAGES}
        for round_ in range(rounds):
            order = STAGES if round_ % 2 == 0 else tuple(reversed(STAGES))
            for stage in order:
                model, ds, extra, _ = built[stage]
                clock = loops.EpochClock()
                model.fit(ds, epochs=1, callbacks=[*extra, clock], verbose=0,
                          shuffle=False)  # each ds shuffles itself, where it should
                rates[stage].append(samples / clock.seconds[0])
            log(f"{name} round {round_ + 1}: " + ", ".join(
                f"{stage} {rates[stage][-1]:,.0f}" for stage in STAGES))
    return {stage: {"rate": statistics.median(values),
                    "vs_plain": statistics.median(v / p for v, p in zip(values, rates["plain"],
                                                                         strict=True))}
            for stage, values in rates.items()}


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """Markdown: one row per model and stage, its rate and its cost relative to plain Keras."""
    lines = ["| model | stage | samples/s (median) | vs plain, same round (median) |",
             "|---|---|---:|---:|"]
    for name, stages in results.items():
        for stage in STAGES:
            lines.append(f"| {name} | {stage} | {stages[stage]['rate']:,.0f} | "
                         f"{stages[stage]['vs_plain']:.2f}x |")
    return "\n".join(lines)


@commands.one_line_errors
def main(argv: list[str] | None = None) -> int:
    parser = commands.Parser(prog="python -m zoo.bench.gap", description=__doc__)
    parser.add_argument("models", nargs="+", type=commands.model_name,
                        help="registered model names")
    parser.add_argument("--steps", type=commands.count, default=16,
                        help="batches per timed window (one epoch)")
    parser.add_argument("--rounds", type=commands.count, default=8,
                        help="rounds of one window per stage, alternating their order")
    args = parser.parse_args(argv)
    results = {}
    for name in args.models:
        results[name] = measure(name, args.steps, args.rounds,
                                log=lambda line: print(line, file=sys.stderr, flush=True))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
