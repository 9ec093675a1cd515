r"""Compare recipe variants of one model on its real dataset: test accuracy per variant and seed.

    python -m zoo.bench.recipes mnist_mlp --epochs 5 --seeds 0 1 \
        --variant base: --variant cosine2e-3:schedule=cosine,learning_rate=2e-3

Each variant is the card's recipe with the given fields replaced (other keys are the model's
options, e.g. `sequence_length=400`); every run trains on the
training part (the validation fraction held out, as `zoo.train` does) and reports test accuracy.
This is how the recipe choices in `benchmarks/NOTES.md` were measured.
"""

from __future__ import annotations

import ast
import dataclasses
import sys

import keras

import zoo
from zoo import commands
from zoo.data import pipeline
from zoo.errors import ZooError
from zoo.recipe import compile_model


def parse_variant(text: str) -> tuple[str, dict]:
    """`name:key=value,key=value` -> (name, {key: value}); `name:` is the card's recipe."""
    name, colon, fields = text.partition(":")
    if not colon or not name:
        raise ZooError(f"--variant {text!r}: write NAME:KEY=VALUE,... (NAME: alone for the "
                       "card's recipe)")
    changes = {}
    for item in filter(None, fields.split(",")):
        key, equals, value = item.partition("=")
        if not equals or not key:
            raise ZooError(f"--variant {text!r}: {item!r} is not KEY=VALUE")
        try:
            changes[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            changes[key] = value
    return name, changes


def split(model: str, changes: dict, epochs: int | None = None) -> tuple:
    """`(recipe, options)`: the card's recipe with the recipe fields of `changes` replaced, and
    the rest, the model's options; a ZooError for a field or option that does not exist."""
    card = zoo.card(model)
    fields = {f.name for f in dataclasses.fields(card.recipe)}
    options = {k: v for k, v in changes.items() if k not in fields}
    unknown = sorted(set(options) - set(zoo.options(model)))
    if unknown:
        raise ZooError(f"{', '.join(unknown)}: neither a recipe field ({', '.join(sorted(fields))})"
                       f" nor an option of {card.name} ({', '.join(zoo.options(model))})")
    # a variant's own epochs over --epochs, which is every other variant's (None: the card's)
    recipe = card.recipe.replace(**{**({} if epochs is None else {"epochs": epochs}),
                                    **{k: v for k, v in changes.items() if k in fields}})
    return recipe, options


def run(model: str, changes: dict, seed: int, epochs: int | None, data_dir=None) -> float:
    """Test accuracy of `model` trained with its recipe changed by `changes`.

    Keys of `changes` that are not recipe fields are the model's own options
    (`sequence_length=400`); text is vectorised to the model's sequence length.
    """
    card = zoo.card(model)
    recipe, options = split(model, changes, epochs)
    text = {k: options[k] for k in ("sequence_length", "vocab_size") if k in options}
    train = zoo.data.arrays(card.dataset, "train", seed=seed, data_dir=data_dir, **text)
    test = zoo.data.arrays(card.dataset, "test", seed=seed, data_dir=data_dir, **text)
    keras.utils.set_random_seed(seed)
    net = zoo.get(model, compile=False, **options)
    steps = pipeline.batches(len(train[0]), recipe.batch_size)
    compile_model(net, card.task, recipe, steps_per_epoch=steps)
    net.fit(pipeline.dataset(*train, recipe.batch_size, shuffle=True, augment=recipe.augment,
                             seed=seed), epochs=recipe.epochs, verbose=0,
            shuffle=False)  # the dataset shuffles; Keras would only warn
    logs = net.evaluate(pipeline.dataset(*test, 512, shuffle=False), verbose=0, return_dict=True)
    return float(logs["accuracy"])


@commands.one_line_errors
def main(argv: list[str] | None = None) -> int:
    parser = commands.Parser(prog="python -m zoo.bench.recipes", description=__doc__)
    parser.add_argument("model")
    parser.add_argument("--epochs", type=commands.count, help="epochs (default: the recipe's)")
    parser.add_argument("--seeds", type=commands.seed, nargs="+", default=[0, 1],
                        help="the seeds each variant trains with (default 0 1)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:K=V,...",
                        help="a recipe variant (repeatable); 'base:' is the card's recipe")
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)
    try:
        variants = [parse_variant(v) for v in args.variant] or [("base", {})]
        for _, changes in variants:  # every variant checked before hours of training
            split(args.model, changes, args.epochs)
        print("| variant | " + " | ".join(f"seed {s}" for s in args.seeds) + " |")
        print("|---|" + "---:|" * len(args.seeds))
        for name, changes in variants:
            scores = [run(args.model, changes, s, args.epochs, args.data_dir) for s in args.seeds]
            print(f"| {name} | " + " | ".join(f"{100 * a:.2f}%" for a in scores) + " |",
                  flush=True)
    except ZooError as err:
        print(f"error: {commands.one_line(err)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
