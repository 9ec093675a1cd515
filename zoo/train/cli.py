"""`python -m zoo.train`: a thin command line over `zoo.train.fit` and `zoo.train.evaluate`."""

from __future__ import annotations

import argparse
import sys

import zoo
from zoo import commands, docs
from zoo.data import synthetic
from zoo.errors import ZooError
from zoo.recipe import OPTIMIZERS
from zoo.train.callbacks import TrainingInterrupted
from zoo.train.core import fit, resolve_verbose
from zoo.train.evaluate import evaluate

EXAMPLES = """\
examples:
  python -m zoo.train vgg13                          # VGG13 on CIFAR-100 with its recipe
  python -m zoo.train mnist_mlp --epochs 5 --data-dir /data
  python -m zoo.train resnet18 --dataset cifar10 --option num_classes=10
  python -m zoo.train --resume runs/mnist_mlp-20261130-120000
  python -m zoo.train --evaluate runs/mnist_mlp-20261130-120000
  python -m zoo.train --list

Results go to the run folder (default runs/<model>-<UTC time>/): config.json, history.csv,
metrics.json, last.keras and best.keras, curves.png, tensorboard/. Bad options exit with
status 2 and one line saying what is wrong. Ctrl-C or SIGTERM (a scheduler's pre-emption)
saves the run where it is and exits with 130 or 143; --resume continues it.
"""


def parser() -> argparse.ArgumentParser:
    """The argument parser; every option maps to one argument of `fit` or `evaluate`."""
    p = commands.Parser(prog="python -m zoo.train", epilog=EXAMPLES,
                description="Train a zoo model on its default dataset with its recipe, and "
                            "report top-1 and top-k accuracy.",
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", help="registered model name (see --list)")
    p.add_argument("--list", action="store_true",
                   help="print the table of models and exit (with MODEL, a name or pattern "
                        "like 'res*', only those)")
    p.add_argument("--evaluate", metavar="PATH",
                   help="report test metrics of a saved model (.keras file or run folder)")
    p.add_argument("--trust-code", action="store_true",
                   help="with --evaluate: load a file that holds code (a Lambda layer), which "
                        "Keras safe mode refuses; only for files from a source you trust")
    p.add_argument("--dataset", help="dataset to train on (default: the model card's)")
    p.add_argument("--epochs", type=int, help="epochs (default: the recipe's)")
    p.add_argument("--batch-size", type=int, help="batch size (default: the recipe's; 256 "
                                                  "with --evaluate)")
    p.add_argument("--learning-rate", type=float, help="peak learning rate (default: the "
                                                       "recipe's)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help="optimizer (default: the recipe's)")
    p.add_argument("--validation", type=float, default=0.1,
                   help="fraction of the training split held out for validation (default 0.1)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed for weights, validation split, data order, augmentation "
                        "(default 0)")
    p.add_argument("--data-dir", help="folder of local dataset files, under their usual names "
                                      "(mnist.npz, cifar-10-batches-py/...: docs/datasets.md), "
                                      "or one dataset's own folder (default $ZOO_DATA_DIR, then "
                                      "the Keras cache, TFDS, a download)")
    p.add_argument("--run-dir", help="run folder (default runs/<model>-<UTC time>)")
    p.add_argument("--resume", nargs="?", const=True, metavar="RUN_DIR",
                   help="continue the run in RUN_DIR (or --run-dir) from where it stopped")
    p.add_argument("--init-from", metavar="CHECKPOINT",
                   help="start a new run from the weights of this checkpoint (.keras or "
                        ".weights.h5) of the same model, with a fresh optimizer and schedule: "
                        "e.g. the last good one of a run that diverged, at a lower "
                        "--learning-rate")
    p.add_argument("--top-k", type=int, nargs="+", default=[5], metavar="K",
                   help="k of the top-k accuracy metrics (default 5)")
    p.add_argument("--steps", type=int, help="cap steps per epoch, validation and test, for "
                                             "smoke runs (default: all)")
    p.add_argument("--jit-compile", choices=("auto", "on", "off"), default="auto",
                   help="XLA compilation (default auto: the card's choice, off on a CPU "
                        "for models that draw random numbers as they train)")
    p.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction, default="auto",
                   help="compute in float16 (GPU) or bfloat16 (CPU) with float32 variables "
                        "(default: the card's choice, where the GPU or CPU is fast at it)")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2),
                   help="0 silent, 1 progress bar, 2 one line per epoch (default: 1 on a "
                        "terminal, else 2)")
    p.add_argument("--option", type=commands.option, action="append", default=[],
                   metavar="KEY=VALUE",
                   help="a builder option of the model, e.g. num_classes=10 (repeatable)")
    p.add_argument("--distribute", choices=("mirrored", "multiworker", "data_parallel"),
                   help="train past one device: mirrored (TensorFlow, this host's GPUs), "
                        "multiworker (TensorFlow, the hosts TF_CONFIG names: run the same "
                        "command on each; the chief writes the run folder), data_parallel "
                        "(JAX, every local device). --batch-size is the global batch "
                        "(default: one device)")
    p.add_argument("--synthetic", action="store_true",
                   help="train on random data of the dataset's shapes (a smoke test)")
    p.add_argument("--synthetic-examples", type=int, metavar="N",
                   help="with --synthetic: N training examples (default 256)")
    return p


def models_table(pattern: str = "*") -> str:
    """Every registered model: family, default dataset, parameters, reference and measured result."""
    rows = [("model", "family", "dataset", "params", "reference", "measured")]
    names = zoo.list_models(pattern)
    if not names:
        raise ZooError(f"no model matches {pattern!r}; --list alone lists them all")
    for name in names:
        card = zoo.card(name)
        measured = "-"
        if card.measured:
            m = card.measured
            measured = docs.metrics_text(m.metrics, card.task)
            notes = [f"on {m.dataset}"] if m.dataset != card.dataset else []  # not comparable
            if m.epochs < card.recipe.epochs:  # a budget run, short of the recipe
                notes.append(docs.run_length_text(card, m))
            measured += f" ({', '.join(notes)})" if notes else ""
        rows.append((name, card.family, card.dataset, f"{card.params:,}",
                     docs.reference_text(card), measured))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _source(args: argparse.Namespace) -> str:
    if args.synthetic_examples is not None:
        if not args.synthetic:
            raise ZooError("--synthetic-examples needs --synthetic")
        if args.synthetic_examples < synthetic.MINIMUM:
            raise ZooError(f"--synthetic-examples must be >= {synthetic.MINIMUM}, got "
                           f"{args.synthetic_examples}")
        return f"synthetic:{args.synthetic_examples}"
    return "synthetic" if args.synthetic else "auto"


# what --evaluate uses: the rest only trains
EVALUATE_FLAGS = {"evaluate", "trust_code", "dataset", "batch_size", "data_dir", "steps",
                  "verbose", "synthetic", "synthetic_examples", "list"}


def _refuse_training_flags(args: argparse.Namespace) -> None:
    """A training flag given with --evaluate is an error, not silently dropped."""
    defaults = parser().parse_args([])
    given = [k for k, v in vars(args).items()
             if k not in EVALUATE_FLAGS and v != getattr(defaults, k)]
    if given:
        names = ", ".join(("MODEL" if k == "model" else "--" + k.replace("_", "-"))
                          for k in given)
        raise ZooError(f"{names}: not used by --evaluate, which tests the saved model as it is "
                       "(its run folder gives the dataset and data folder)")


@commands.one_line_errors
def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.list:
            print(models_table(args.model or "*"))
            return 0
        if args.evaluate:
            _refuse_training_flags(args)
            verbose = resolve_verbose("auto" if args.verbose is None else args.verbose)
            evaluate(args.evaluate, args.dataset, data_dir=args.data_dir,
                     batch_size=256 if args.batch_size is None else args.batch_size,
                     steps=args.steps, source=_source(args), verbose=verbose, summary=True,
                     safe_mode=not args.trust_code)
            return 0
        if args.trust_code:
            raise ZooError("--trust-code applies to --evaluate: training and --resume load no "
                           "file that holds code (pass such a model to zoo.train.fit)")
        run_dir = args.run_dir
        if isinstance(args.resume, str):
            if run_dir and run_dir != args.resume:
                raise ZooError("give the run folder once: --resume RUN_DIR or --run-dir")
            run_dir = args.resume
        if not args.model and not args.resume:
            raise ZooError("name a model to train (see --list), or --resume a run, "
                           "--evaluate a checkpoint, --list the models")
        fit(args.model, args.dataset, epochs=args.epochs, batch_size=args.batch_size,
            learning_rate=args.learning_rate, optimizer=args.optimizer,
            validation=args.validation, seed=args.seed, data_dir=args.data_dir, run_dir=run_dir,
            resume=bool(args.resume), init_from=args.init_from, top_k=args.top_k,
            steps=args.steps,
            jit_compile={"auto": "auto", "on": True, "off": False}[args.jit_compile],
            mixed_precision=args.mixed_precision,
            verbose="auto" if args.verbose is None else args.verbose,
            options=dict(args.option), source=_source(args), distribute=args.distribute)
    except TrainingInterrupted as stop:
        print(stop, file=sys.stderr)
        return 128 + stop.signum
    except KeyboardInterrupt as stop:  # RunAborted names the run folder and what it keeps
        print(str(stop) or "interrupted before training started: nothing was saved",
              file=sys.stderr)
        return 130
    return 0
