"""The Stanford Large Movie Review Dataset tree: `aclImdb/{train,test}/{neg,pos}/<id>_<rating>.txt`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.data.arrays import Splits, checked, fail
from zoo.data.catalog import DatasetSpec


def is_aclimdb(folder: Path) -> bool:
    """Whether `folder` looks like the aclImdb tree."""
    return (folder / "train" / "pos").is_dir() or (folder / "test" / "pos").is_dir()


def read(folder: Path, spec: DatasetSpec) -> Splits:
    """Every review of the train and test splits as text; 0 is negative, 1 positive."""
    splits = {}
    for split in ("train", "test"):
        texts, labels = [], []
        for label, name in enumerate(spec.classes):
            class_dir = folder / split / name
            if not class_dir.is_dir():
                raise fail(class_dir, "missing")
            files = sorted(class_dir.glob("*.txt"))
            if not files:
                raise fail(class_dir, "is an empty class folder (no .txt reviews)")
            for path in files:
                try:
                    texts.append(path.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError) as err:
                    raise fail(path, f"cannot read review ({err})") from err
            labels += [label] * len(files)
        splits[split] = (np.array(texts, dtype=object), np.array(labels, np.int32))
    return checked(spec, splits, folder)
