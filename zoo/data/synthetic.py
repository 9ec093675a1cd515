"""Random data shaped like a real dataset, for smoke runs and benchmarks where no copy is at hand.

Labels are learnable: each class shifts the image brightness (or, for text, the choice of words)
a little, so a few steps of training lower the loss. The numbers mean nothing about the real
dataset.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from zoo.data.arrays import Splits, checked
from zoo.data.catalog import DatasetSpec

EXAMPLES = 256  # training examples by default; the test split gets a quarter as many
MINIMUM = 4  # fewer leave no validation or test example to carve
WORDS = "good great fine bad awful poor film movie plot actor story scene the a and".split()


def read(spec: DatasetSpec, examples: int = EXAMPLES, seed: int = 0) -> Splits:
    """`examples` training and `examples // 4` test examples of `spec`'s shape and classes."""
    rng = np.random.default_rng(seed)
    splits = {}
    for split, n in (("train", examples), ("test", max(1, examples // 4))):
        y = rng.integers(0, spec.num_classes, n).astype(np.int32)
        if spec.kind == "text":
            x = np.array([
                " ".join(rng.choice(WORDS[3 * label:3 * label + 3] + WORDS[6:], 30))
                for label in y
            ], dtype=object)
        else:
            base = rng.integers(0, 160, (n, *spec.shape))
            shift = (y * (95 // max(1, spec.num_classes - 1))).reshape(-1, *[1] * len(spec.shape))
            x = (base + shift).astype(np.uint8)
        splits[split] = (x, y)
    counts = {split: len(y) for split, (_, y) in splits.items()}
    return checked(dataclasses.replace(spec, counts=counts), splits, "synthetic data")
