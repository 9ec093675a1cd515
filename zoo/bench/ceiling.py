"""How fast a model's matrix layers alone train at its own shapes: the ceiling of its share of
the machine's peak.

    python -m zoo.bench.ceiling MODEL [MODEL ...] [--batch-size B] [--seconds S] [--layers]

`python -m zoo.bench` reports the share of the machine's matrix-multiply peak (one large square
product) that the zoo's training reaches. A model's own products are smaller and narrower than
that square one. This command times each layer that does matrix work (dense, convolution,
transposed convolution, recurrent) on its own, at the recipe's batch size and in the precision
and XLA setting the zoo trains the model with. Each timing covers the layer's forward pass
(without its activation) and the gradients training computes for it: its weights, and its
input where a trainable weight lies upstream (`zoo.bench.flops.matrix_layers`). One timed
call runs the pass as many times as last about 20 ms, so that a narrow layer's rate is not the
rate of calling a compiled function.

- The sum of those times is as fast as a training step could be if nothing else cost
  anything: activations, normalisation, the loss, the optimizer and Keras' step.
- Its FLOP rate is the highest share of the peak that the model can reach on this machine.
- Beside it, the model's Keras `train_step` is timed alone, run many times in one compiled
  call: the layers, the loss, the optimizer and the metrics, without `fit`'s loop around them.
- Then the whole training step: `fit` through the zoo's pipeline with the card's settings, as
  `zoo.train.fit` runs it (several batches per compiled call where it uses them), in windows
  of about a second. The last column is the share of that step spent in the matrix layers.

These are timed in turn, with the matrix-multiply peak: each round times the peak, every layer,
`train_step` and one epoch of `fit`, and each figure is the median over the rounds of that
round's figure. On a shared machine whose speed moves by the minute, columns timed one after
another compare a fast minute with a slow one (a run that did so read `vgg13_bn`'s layers alone
as 125% of its whole step); rounds compare within minutes.

TensorFlow backend. The VAE and the DCGAN, whose training steps are not one forward and
backward pass of the model, are not covered.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from operator import itemgetter
from typing import Any

import keras

import zoo
from zoo import commands
from zoo.bench import flops, loops, machine, settings
from zoo.bench.timing import random_inputs, window_rate
from zoo.errors import ZooError
from zoo.models.autoencoder import VAE
from zoo.models.gan import DCGAN
from zoo.recipe import draws_random, execution_settings
from zoo.train import core

# each timed call runs enough passes of a layer to last about this long, so that the cost of
# calling a compiled function and reading its result back is spread over them
CALL_SECONDS = 0.02
MAX_PASSES = 1024
# everything is timed once per round, in turn; the figures are medians over the rounds
ROUNDS = 3


def pass_outputs(layer: keras.layers.Layer, x, upstream, needs_input_gradient: bool) -> list:
    """One training pass of `layer` on `x`: `[y, *gradients]`, its output and the gradients
    training computes for it (its weights; `x` too with `needs_input_gradient`), for `upstream`
    as the loss's gradient for `y`.

    The gradients are taken with `upstream` given as the output's gradient, so no loss or
    elementwise work is timed beside the layer's own. They do not need `y` (a linear layer's
    gradients need its input and weights only), so `y` is returned for the caller to read:
    a compiler prunes a forward pass whose result nothing reads.
    """
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
    sources = [x] if needs_input_gradient else []
    sources += layer.trainable_variables
    if not sources:  # a frozen first layer
        return [y]
    return [y, *tape.gradient(y, sources, output_gradients=tf.cast(upstream, y.dtype))]


def training_passes(layer: keras.layers.Layer, needs_input_gradient: bool, batch_size: int,
                    jit: bool) -> tuple[Callable, keras.layers.Layer]:
    """`(passes, copy)`: `passes(n)` runs `n` training passes (`pass_outputs`) of `copy`, a copy
    of `layer` without activation, at its input shape and `batch_size`, in one call compiled
    with XLA if `jit`. It returns 1.0, or 0.5 where an output or gradient was not finite.

    Each pass reads its output and every gradient, and the next pass's input and output
    gradient wait for that reading, so no compiler can prune a part of a pass or run one pass
    for all of them. Without XLA the wait is a control dependency, which costs nothing. XLA
    keeps no control dependencies, so there both are multiplied by the reading (1.0): a pass
    over each, small beside the weights of the dense layers XLA is used for. XLA reads the
    output by summing it (small for a dense layer), so that it cannot compute only the element
    read.
    """
    import tensorflow as tf

    config = layer.get_config()
    if "activation" in config and not isinstance(layer, keras.layers.RNN):
        config["activation"] = "linear"
    copy = type(layer).from_config(config)
    shape = (batch_size, *layer.input.shape[1:])
    copy.build(shape)
    x = tf.cast(tf.random.normal(shape, seed=1), copy.compute_dtype)
    upstream = tf.random.normal(copy.compute_output_shape(shape), seed=2)

    def first(t):
        return tf.cast(tf.reshape(t, [-1])[0], tf.float32)

    def one_pass(i, reading):
        if jit:
            xs, dy = x * tf.cast(reading, x.dtype), upstream * reading
        else:
            with tf.control_dependencies([reading]):
                xs, dy = tf.identity(x), tf.identity(upstream)
        y, *grads = pass_outputs(copy, xs, dy, needs_input_gradient)
        probe = tf.reduce_sum(tf.cast(y, tf.float32)) if jit else first(y)
        probes = tf.stack([probe, *map(first, grads)])
        return i + 1, tf.where(tf.reduce_all(tf.math.is_finite(probes)), 1.0, 0.5)

    @tf.function(jit_compile=jit)
    def passes(n):
        return tf.while_loop(lambda i, _: i < n, one_pass, (tf.constant(0), tf.constant(1.0)))[1]

    return passes, copy


def layer_timer(layer: keras.layers.Layer, needs_input_gradient: bool, batch_size: int,
                jit: bool) -> Callable[[float], float]:
    """`window(seconds)`: samples per second of `layer`'s training work alone
    (`training_passes`) in one timed window (`loop_timer`)."""
    passes, _ = training_passes(layer, needs_input_gradient, batch_size, jit)
    return loop_timer(passes, batch_size)


def train_steps(name: str, jit: bool, batch_size: int, policy: str) -> tuple[Callable, Any]:
    """`(steps, model)`: `steps(n)` runs `model`'s Keras `train_step` (forward pass, loss,
    gradients, optimizer update, metrics) `n` times on one batch of random data in one call,
    compiled as the zoo compiles the model (`jit`), and returns 1.0 (0.5 for a loss that is not
    finite). `model` is `name` built and compiled with its recipe under the dtype `policy`."""
    import tensorflow as tf

    x, y = random_inputs(name, batch_size)
    model = settings.compiled_model(name, jit, 1, policy)
    with core.dtype_policy(policy):
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)  # builds optimizer, metrics
    data = tf.constant(x) if y is None else (tf.constant(x), tf.constant(y))

    def one_step(i, reading):
        with tf.control_dependencies([reading]):  # each step after the one before
            loss = model.train_step(data)["loss"]
        return i + 1, tf.where(tf.math.is_finite(tf.cast(loss, tf.float32)), 1.0, 0.5)

    @tf.function(jit_compile=jit)
    def steps(n):
        return tf.while_loop(lambda i, _: i < n, one_step, (tf.constant(0), tf.constant(1.0)))[1]

    return steps, model


def train_step_timer(name: str, jit: bool, batch_size: int,
                     policy: str) -> Callable[[float], float]:
    """`window(seconds)`: samples per second of the model's `train_step` alone (`train_steps`)
    in one timed window. What `fit` adds to it is its own loop: the iterator, the call of the
    compiled step and the callbacks, once per step or per execution."""
    steps, _ = train_steps(name, jit, batch_size, policy)
    return loop_timer(steps, batch_size)


@contextlib.contextmanager
def fit_timer(name: str, jit: bool, batch_size: int, steps: int,
              policy: str) -> Iterator[Callable[[], float]]:
    """Within the block, `window()` trains the model an epoch of `steps` steps in `fit` with its
    card's settings, through the zoo's pipeline as `zoo.train.fit` feeds it (chunks where it
    uses them; `zoo.bench.loops.epoch_timer`), and returns samples per second: the epoch's
    start included, as a real epoch pays it. The first epoch, which compiles, is not timed."""
    recipe = zoo.card(name).recipe
    x, y = loops.data(name, steps * batch_size)
    model = settings.compiled_model(name, jit, recipe.steps_per_execution, policy)
    with loops.epoch_timer(model, x, y, batch_size, recipe.augment) as epoch:
        epoch()
        yield lambda: steps * batch_size / epoch()


def loop_timer(passes: Callable, batch_size: int, warmup: int = 3) -> Callable[[float], float]:
    """`window(seconds)`: samples per second of `passes(n)`, which runs `n` passes of
    `batch_size` samples in one call, in calls of `n` passes that last about `CALL_SECONDS`,
    over a window of about `seconds`. `n` is set and the calls warmed up before it returns."""
    import tensorflow as tf

    def call_seconds(n: int) -> float:
        start = time.perf_counter()
        passes(tf.constant(n)).numpy()  # reads back one number: waits for the work
        return time.perf_counter() - start

    call_seconds(1)  # traces and compiles
    n = int(min(MAX_PASSES, max(1, CALL_SECONDS / min(call_seconds(1) for _ in range(3)))))

    def run() -> int:
        passes(tf.constant(n)).numpy()
        return n * batch_size

    for _ in range(warmup):
        run()
    return lambda seconds: window_rate(run, seconds)


def measure(name: str, batch_size: int | None, seconds: float, steps: int | None = None,
            rounds: int = ROUNDS) -> dict[str, Any]:
    """The model's matrix layers timed alone, its `train_step` alone and its whole training step
    in `fit`, with the matrix-multiply peak, as one row.

    They take turns: each of `rounds` rounds times the peak, each layer and `train_step` for a
    window of `seconds / rounds`, then one epoch of `fit`. Every figure of the row is the median
    over the rounds of that round's figure (a share of the peak is the round's rate against the
    round's peak), so a slow minute of a shared machine falls on one round, not on one column.

    `fit`'s epoch has `steps` steps, or (None) at least 32 and as many as make a second at the
    model's rate: an epoch's start, paid once per epoch, weighs on a window about as on a real
    epoch, not as on one compiled call of 32 MLP batches.
    """
    card = zoo.card(name)
    batch = batch_size or card.recipe.batch_size
    steps = steps or max(32, loops.steps_per_window(name, batch, 1.0))
    precision = machine.zoo_precision(name)
    policy = "float32" if precision == "float32" else core.mixed_policy()
    window = seconds / rounds
    with core.dtype_policy(policy), contextlib.ExitStack() as stack:
        model = zoo.get(name, compile=False)
        if isinstance(model, (VAE, DCGAN)):
            raise ZooError(f"{name}: its training step is not one forward and backward pass of "
                           "the model; zoo.bench.ceiling covers the other models")
        jit = bool(execution_settings(card.recipe.jit_compile, card.recipe.steps_per_execution,
                                      draws_random=draws_random(model))["jit_compile"])
        matrix = flops.matrix_layers(model)
        layer_windows = [layer_timer(layer, needed, batch, jit) for layer, needed in matrix]
        alone_window = train_step_timer(name, jit, batch, policy)
        fit_window = stack.enter_context(fit_timer(name, jit, batch, steps, policy))
        peak_window = machine.peak_timer(precision)
        turns = []
        for _ in range(rounds):
            turns.append({"peak_gflops": peak_window(window),
                          "layer_samples_per_s": [w(window) for w in layer_windows],
                          "train_step_samples_per_s": alone_window(window),
                          "step_samples_per_s": fit_window()})
    per_sample = flops.training_flops(model)

    def median(value: Callable[[dict], float]) -> float:
        return statistics.median(value(turn) for turn in turns)

    def matrix_seconds(turn: dict) -> float:  # per sample, the layers one after another
        return sum(1 / r for r in turn["layer_samples_per_s"])

    def share(rate: Callable[[dict], float], flop: float = per_sample) -> float:
        return median(lambda t: flop * rate(t) / 1e9 / t["peak_gflops"])

    layers = []
    for i, (layer, needed) in enumerate(matrix):
        flop = flops.passes(layer, needed) * flops.layer_flops(layer)
        rate = median(lambda t, i=i: t["layer_samples_per_s"][i])
        layers.append({"layer": layer.name, "kind": type(layer).__name__,
                       "input_shape": list(layer.input.shape[1:]),
                       "input_gradient": needed, "train_mflops_per_sample": flop / 1e6,
                       "samples_per_s": rate, "gflops": flop * rate / 1e9,
                       "share_of_peak": share(lambda t, i=i: t["layer_samples_per_s"][i], flop)})
    alone, step = itemgetter("train_step_samples_per_s"), itemgetter("step_samples_per_s")
    return {"model": name, "batch_size": batch, "precision": precision, "jit_compile": jit,
            "steps_per_window": steps, "rounds": rounds,
            "peak_gflops": median(itemgetter("peak_gflops")),
            "train_mflops_per_sample": per_sample / 1e6, "layers": layers,
            "matrix_samples_per_s": median(lambda t: 1 / matrix_seconds(t)),
            "matrix_share_of_peak": share(lambda t: 1 / matrix_seconds(t)),
            "train_step_samples_per_s": median(alone), "train_step_share_of_peak": share(alone),
            "step_samples_per_s": median(step), "step_share_of_peak": share(step),
            "matrix_part_of_step": median(lambda t: matrix_seconds(t) * step(t)),
            "turns": turns}


def markdown(rows: list[dict[str, Any]], per_layer: bool) -> str:
    """The rows as Markdown tables; with `per_layer`, one table of layers per model."""
    lines = ["Shares are of the matrix-multiply peak in the model's precision, timed in turn "
             "with the model: each round's rates against that round's peak, the median of the "
             "rounds (the peak column is the median peak).", "",
             "| model | batch | precision | XLA | peak (GFLOP/s) | train MFLOP/sample | matrix "
             "layers alone (samples/s) | their share of peak | `train_step` alone (samples/s) | "
             "its share of peak | whole step in `fit` (samples/s) | its share of peak | matrix "
             "layers' part of the step |",
             "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['batch_size']} | {r['precision']} | "
                     f"{'on' if r['jit_compile'] else 'off'} | {r['peak_gflops']:,.1f} | "
                     f"{r['train_mflops_per_sample']:,.1f} | {r['matrix_samples_per_s']:,.0f} | "
                     f"{100 * r['matrix_share_of_peak']:.0f}% | "
                     f"{r['train_step_samples_per_s']:,.0f} | "
                     f"{100 * r['train_step_share_of_peak']:.0f}% | {r['step_samples_per_s']:,.0f} | "
                     f"{100 * r['step_share_of_peak']:.0f}% | "
                     f"{100 * r['matrix_part_of_step']:.0f}% |")
    if per_layer:
        for r in rows:
            lines += ["", f"`{r['model']}`:", "",
                      "| layer | kind | input shape | input gradient | train MFLOP/sample | "
                      "GFLOP/s | share of peak |", "|---|---|---|---|---:|---:|---:|"]
            for lay in r["layers"]:
                lines.append(f"| {lay['layer']} | {lay['kind']} | "
                             f"{'x'.join(map(str, lay['input_shape']))} | "
                             f"{'yes' if lay['input_gradient'] else 'no'} | "
                             f"{lay['train_mflops_per_sample']:,.2f} | {lay['gflops']:,.1f} | "
                             f"{100 * lay['share_of_peak']:.0f}% |")
    return "\n".join(lines) + "\n"


@commands.one_line_errors
def main(argv: list[str] | None = None) -> int:
    parser = commands.Parser(prog="python -m zoo.bench.ceiling", description=__doc__)
    parser.add_argument("models", nargs="+", type=commands.model_name, metavar="MODEL")
    parser.add_argument("--batch-size", type=commands.count, help="default: the recipe's")
    parser.add_argument("--seconds", type=commands.positive, default=1.0,
                        help="timed seconds per layer, for the peak and for train_step, over "
                             "all rounds (default 1)")
    parser.add_argument("--rounds", type=commands.count, default=ROUNDS,
                        help=f"rounds in which everything is timed in turn; the figures are "
                             f"their medians (default {ROUNDS})")
    parser.add_argument("--steps", type=commands.count,
                        help="training steps per timed window of the whole step in fit "
                             "(default: as many as make a second at the model's rate, at "
                             "least 32)")
    parser.add_argument("--layers", action="store_true", help="also print each layer's rate")
    args = parser.parse_args(argv)
    if keras.backend.backend() != "tensorflow":
        print("error: zoo.bench.ceiling runs on the TensorFlow backend", file=sys.stderr)
        return 2
    try:
        rows = [measure(n, args.batch_size, args.seconds, args.steps, args.rounds)
                for n in args.models]
    except ZooError as err:
        print(f"error: {commands.one_line(err)}", file=sys.stderr)
        return 2
    print(markdown(rows, args.layers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
