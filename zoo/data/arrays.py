"""The in-memory form every reader returns, and the checks every reader's output must pass."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from zoo.data.catalog import DatasetSpec
from zoo.errors import ZooError

# split name -> (examples, integer labels)
Splits = dict[str, tuple[np.ndarray, np.ndarray]]

log = logging.getLogger("zoo.data")


def fail(path: str | Path, problem: str) -> ZooError:
    """The error for a data file that cannot be used: names the file and says what is wrong."""
    return ZooError(f"{path}: {problem}")


def checked(spec: DatasetSpec, splits: Splits, path: str | Path) -> Splits:
    """Check what a reader read from `path`: both splits present, counts agreeing, shapes,
    dtypes and label ranges right. Counts that differ from the official ones are logged."""
    missing = {"train", "test"} - set(splits)
    if missing:
        raise fail(path, f"no {' or '.join(sorted(missing))} split found")
    out: Splits = {}
    for split, (x, y) in splits.items():
        x, y = np.asarray(x), np.asarray(y)
        if len(x) != len(y):
            raise fail(path, f"{split} split has {len(x)} examples but {len(y)} labels")
        if len(x) == 0:
            raise fail(path, f"{split} split is empty")
        if spec.kind == "image":
            if x.ndim == len(spec.shape) and spec.shape[-1] == 1:
                x = x[..., None]
            if x.shape[1:] != spec.shape:
                raise fail(path, f"{split} images have shape {x.shape[1:]}, expected {spec.shape}")
            if x.dtype != np.uint8:
                raise fail(path, f"{split} images are {x.dtype}, expected uint8 pixels")
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise fail(path, f"{split} labels must be a flat array of integers, got {y.dtype} "
                             f"with shape {y.shape}")
        if y.min() < 0 or y.max() >= spec.num_classes:
            raise fail(path, f"{split} labels span {y.min()}..{y.max()}, expected "
                             f"0..{spec.num_classes - 1}")
        official = spec.counts.get(split)
        if official and len(x) != official:
            log.warning("%s: %s split has %d examples; the official dataset has %d",
                        path, split, len(x), official)
        out[split] = (x, y.astype(np.int32))
    return out
