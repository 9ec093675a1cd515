"""Keras' `mnist.npz`: arrays `x_train`, `y_train`, `x_test`, `y_test`, read without pickle."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from zoo.data.arrays import Splits, checked, fail
from zoo.data.catalog import DatasetSpec

KEYS = {"train": ("x_train", "y_train"), "test": ("x_test", "y_test")}


def read(path: Path, spec: DatasetSpec, origin: Path | None = None) -> Splits:
    """Read an npz file with the four Keras arrays; object arrays (pickles) are refused.

    `origin`: what the arrays came from, named in the checks' warnings (for the zoo's cache of
    decoded images, the image folder rather than the cache file)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for pair in KEYS.values() for k in pair if k not in f.files]
            if missing:
                raise fail(path, f"missing array(s) {missing}; found {sorted(f.files)}")
            splits = {split: (f[xk], f[yk]) for split, (xk, yk) in KEYS.items()}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile) as err:
        raise fail(path, f"not a readable npz file ({type(err).__name__}: {err})") from err
    return checked(spec, splits, origin or path)
