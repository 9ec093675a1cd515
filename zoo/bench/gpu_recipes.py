r"""Compare recipe variants of a CIFAR model on an accelerator, several runs at once, without
TensorFlow: test accuracy and seconds per epoch for each variant.

    KERAS_BACKEND=jax python -m zoo.bench.gpu_recipes resnet20 --data-dir ../shared/data \
        --epochs 40 --variant base: --variant nols:label_smoothing=0.0 --parallel 4

`zoo.bench.recipes` does the same through the zoo's tf.data pipeline; this one is for a machine
that has a GPU build of JAX or PyTorch and no TensorFlow. It reads the model's dataset with
`zoo.data.read` from `--data-dir` (without TensorFlow, image folders are decoded with Pillow),
holds out the validation fraction as `zoo.train` does (seeded, `--validation`), and
augments each epoch in numpy exactly as `zoo.data.pipeline.crop_and_flip` does (4 pixels of zero
padding, a random 32x32 crop, a random horizontal flip). The model is compiled as the zoo
compiles it, with the card's recipe changed by the variant's fields (`name:key=value,...`; other
keys are the model's options; `validation=F`, `seed=N` and `precision=fp32` change the held-out
fraction, the seed and the precision of that variant alone), in `mixed_bfloat16` unless
`--precision fp32`. Besides test accuracy it reports `flip_accuracy`, that of the logits averaged
over each test image and its mirror image (test-time augmentation, for comparison only: the zoo's
results are measured without it). Variants run in parallel processes on the same
accelerator (`--parallel`), each with its share of its memory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from zoo import commands

PAD = 4


def crop_and_flip(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Zero-pad `PAD` pixels, crop a random window of the original size, flip half at random."""
    n, h, w = images.shape[:3]
    padded = np.pad(images, [(0, 0), (PAD, PAD), (PAD, PAD), (0, 0)])
    dy = rng.integers(0, 2 * PAD + 1, n)
    dx = rng.integers(0, 2 * PAD + 1, n)
    rows = (dy[:, None] + np.arange(h))[:, :, None]
    cols = (dx[:, None] + np.arange(w))[:, None, :]
    out = padded[np.arange(n)[:, None, None], rows, cols]
    flip = rng.random(n) < 0.5
    out[flip] = out[flip, :, ::-1]
    return out


def own_settings(changes: dict, validation: float, seed: int, precision: str) -> tuple:
    """A variant's `validation`, `seed` and `precision` (this tool's own keys, else the given
    ones), and its other changes: recipe fields and model options."""
    from zoo.bench.gpu import PRECISIONS
    from zoo.errors import ZooError

    changes = dict(changes)
    validation = changes.pop("validation", validation)
    seed = changes.pop("seed", seed)
    precision = changes.pop("precision", precision)
    if precision not in PRECISIONS:
        raise ZooError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return validation, seed, precision, changes


def train_variant(model_name: str, changes: dict, arrays: Path, epochs: int, seed: int,
                  validation: float, precision: str) -> dict:
    """Train one variant on the arrays saved at `arrays`; its test accuracy and epoch times."""
    import keras

    import zoo
    from zoo.bench.gpu import PRECISIONS
    from zoo.bench.recipes import split
    from zoo.data import pipeline
    from zoo.recipe import compile_model

    validation, seed, precision, changes = own_settings(changes, validation, seed, precision)
    keras.mixed_precision.set_global_policy(PRECISIONS[precision][0])
    card = zoo.card(model_name)
    recipe, options = split(model_name, changes, epochs)
    data = np.load(arrays)
    (x, y), _ = pipeline.carve_validation(data["x_train"], data["y_train"], validation, seed)
    keras.utils.set_random_seed(seed)
    model = zoo.get(model_name, compile=False, **options)
    compile_model(model, card.task, recipe, steps_per_epoch=pipeline.batches(len(x),
                                                                             recipe.batch_size))
    rng = np.random.default_rng(seed)
    seconds = []
    for epoch in range(recipe.epochs):
        start = time.perf_counter()
        order = rng.permutation(len(x))
        batch_x = crop_and_flip(x[order], rng) if recipe.augment else x[order]
        logs = model.fit(batch_x, y[order], batch_size=recipe.batch_size, epochs=epoch + 1,
                         initial_epoch=epoch, shuffle=False, verbose=0).history
        seconds.append(time.perf_counter() - start)
        print(json.dumps({"epoch": epoch + 1, "loss": logs["loss"][-1],
                          "seconds": round(seconds[-1], 2)}), file=sys.stderr, flush=True)
    labels = data["y_test"].ravel()
    plain, mirrored = (model.predict(images, batch_size=500, verbose=0)
                       for images in (data["x_test"], data["x_test"][:, :, ::-1]))
    accuracy = np.mean(np.argmax(plain, axis=-1) == labels)
    flip = np.mean(np.argmax(plain + mirrored, axis=-1) == labels)
    return {"accuracy": float(accuracy), "flip_accuracy": float(flip),
            "seed": seed, "precision": precision, "epochs": recipe.epochs,
            "train_examples": len(x), "median_epoch_s": float(np.median(seconds[1:] or seconds)),
            "train_s": round(sum(seconds), 1)}


@commands.one_line_errors
def main(argv: list[str] | None = None) -> int:
    from zoo.bench.recipes import parse_variant, split

    p = commands.Parser(prog="python -m zoo.bench.gpu_recipes", description=__doc__)
    p.add_argument("model", type=commands.model_name)
    p.add_argument("--data-dir", help="folder of local dataset files (default $ZOO_DATA_DIR)")
    p.add_argument("--dataset", help="train and test on this dataset instead of the card's "
                   "(cifar10 for resnet18 with the variant option num_classes=10)")
    p.add_argument("--epochs", type=commands.count, required=True)
    p.add_argument("--variant", action="append", default=[], metavar="NAME:K=V,...")
    p.add_argument("--seed", type=commands.seed, default=0)
    p.add_argument("--validation", type=float, default=0.1)
    p.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    p.add_argument("--parallel", type=commands.count, default=1)
    p.add_argument("--json", help="write the results here as JSON")
    p.add_argument("--logs", help="keep each variant's per-epoch log in this folder")
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--arrays", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one is not None:  # a child: one variant, one JSON line on stdout
        name, changes = parse_variant(args.one)
        result = train_variant(args.model, dict(changes), Path(args.arrays), args.epochs, args.seed,
                               args.validation, args.precision)
        print(json.dumps({"variant": name, "changes": changes, **result}), flush=True)
        return 0
    import zoo

    variants = args.variant or ["base:"]
    for variant in variants:  # a malformed one is refused before the data is read
        changes = own_settings(parse_variant(variant)[1], 0.1, 0, "bf16")[3]
        split(args.model, changes, args.epochs)
    start = time.perf_counter()
    data = zoo.data.read(args.dataset or zoo.card(args.model).dataset, args.data_dir,
                         download=False)
    print(f"read {len(data['train'][0])} + {len(data['test'][0])} images in "
          f"{time.perf_counter() - start:.1f} s", flush=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(args.logs or tmp)
        logs.mkdir(parents=True, exist_ok=True)
        arrays = Path(tmp) / "arrays.npz"
        np.savez(arrays, x_train=data["train"][0], y_train=data["train"][1],
                 x_test=data["test"][0], y_test=data["test"][1])
        env = {**os.environ, "XLA_PYTHON_CLIENT_MEM_FRACTION": f"{0.8 / args.parallel:.3f}"}
        pending = list(variants)
        running: list[tuple[subprocess.Popen, str, Path]] = []
        while pending or running:
            while pending and len(running) < args.parallel:
                variant = pending.pop(0)
                cmd = [sys.executable, "-m", "zoo.bench.gpu_recipes", args.model,
                       "--epochs", str(args.epochs), "--seed", str(args.seed),
                       "--validation", str(args.validation), "--precision", args.precision,
                       "--one", variant, "--arrays", str(arrays)]
                log = logs / f"{variant.partition(':')[0]}.log"
                with open(log, "w") as err:
                    running.append((subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                                     stderr=err, text=True), variant, log))
            time.sleep(1)
            for job in list(running):
                proc, variant, log = job
                if proc.poll() is None:
                    continue
                running.remove(job)
                lines = [x for x in proc.stdout.read().splitlines() if x.startswith("{")]
                last = (log.read_text().strip().splitlines() or ["no output"])[-1]
                row = (json.loads(lines[-1]) if proc.returncode == 0 and lines else
                       {"variant": variant.partition(":")[0], "error": f"exit {proc.returncode}: {last}"})
                print(json.dumps(row), flush=True)
                results.append(row)
                if args.json:  # after each variant: a run stopped early keeps what finished
                    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print("| variant | test accuracy | with flip | epochs | s/epoch |\n|---|---:|---:|---:|---:|")
    for r in results:
        if "error" in r:
            print(f"| {r['variant']} | {r['error']} | | | |")
        else:
            print(f"| {r['variant']} | {100 * r['accuracy']:.2f}% | "
                  f"{100 * r['flip_accuracy']:.2f}% | {r['epochs']} | "
                  f"{r['median_epoch_s']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
