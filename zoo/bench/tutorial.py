"""The tutorial script, whole: load the data, build the model, train it with an eager
GradientTape loop for some epochs, test it. `zoo.bench` times it as a process against
`python -m zoo.train`.

    python -m zoo.bench.tutorial mnist_mlp --epochs 5 [--data-dir DIR]

It trains on the whole official training split (no validation), at the recipe's optimizer and
base learning rate held constant, in batches of the recipe's size, as the tutorials do.
"""

from __future__ import annotations

import sys
import time

import keras

import zoo
from zoo import commands
from zoo.bench.loops import _tf_dataset
from zoo.errors import ZooError
from zoo.recipe import compile_model


def train_and_test(name: str, epochs: int, data_dir=None) -> float:
    """Test accuracy after `epochs` epochs of the eager loop (a classifier's)."""
    import tensorflow as tf

    card = zoo.card(name)
    if card.task != "classification":
        raise ZooError(f"the tutorial script trains image classifiers; {name} is not one")
    raw = zoo.data.read(card.dataset, data_dir)
    model = zoo.get(name, compile=False)
    compile_model(model, card.task, card.recipe)  # no step count: the base rate, constant
    loss_fn = model.loss
    train = _tf_dataset(*raw["train"], card.recipe.batch_size)
    for epoch in range(1, epochs + 1):
        start, total, batches = time.perf_counter(), 0.0, 0
        for xb, yb in train:
            with tf.GradientTape() as tape:
                loss = loss_fn(yb, model(xb, training=True))
            grads = tape.gradient(loss, model.trainable_weights)
            model.optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
            total, batches = total + float(loss), batches + 1
        print(f"epoch {epoch}: loss {total / batches:.4f} ({time.perf_counter() - start:.1f} s)",
              flush=True)
    accuracy = keras.metrics.SparseCategoricalAccuracy()
    for xb, yb in _tf_dataset(*raw["test"], 1000):
        accuracy.update_state(yb, model(xb, training=False))
    return float(accuracy.result())


@commands.one_line_errors
def main(argv: list[str] | None = None) -> int:
    parser = commands.Parser(prog="python -m zoo.bench.tutorial", description=__doc__)
    parser.add_argument("model")
    parser.add_argument("--epochs", type=commands.count, default=5)
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)
    try:
        accuracy = train_and_test(args.model, args.epochs, args.data_dir)
    except ZooError as err:
        print(f"error: {commands.one_line(err)}", file=sys.stderr)
        return 2
    print(f"test accuracy {100 * accuracy:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
