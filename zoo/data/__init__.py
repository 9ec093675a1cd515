"""Dataset loaders shared by every model: MNIST, Fashion-MNIST, CIFAR-10, CIFAR-100 and IMDB.

```python
import zoo

train, val, test = zoo.data.load("cifar10", split=["train", "validation", "test"])
zoo.data.info("cifar100")           # counts per split, classes, input shape and dtype
```

Data comes from, in order: `data_dir` (or `$ZOO_DATA_DIR`), the Keras cache, prepared
TensorFlow Datasets data, a TFDS download. See `zoo.data.sources`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo import checks
from zoo.data import catalog, pipeline, sources
from zoo.data.catalog import DATASETS, DatasetSpec
from zoo.data.text import SEQUENCE_LENGTH, Vectorizer
from zoo.errors import ZooError

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class DatasetInfo:
    """What `load` delivers for a dataset: examples per split, classes, and the input's shape and dtype."""

    name: str
    description: str
    citation: str
    splits: dict[str, int]
    num_classes: int
    class_names: tuple[str, ...]
    input_shape: tuple[int, ...]
    input_dtype: str
    augmentation: str


def list_datasets() -> list[str]:
    """Names of the datasets the zoo can load."""
    return sorted(DATASETS)


def info(name: str, validation: float = 0.1, sequence_length: int = SEQUENCE_LENGTH) -> DatasetInfo:
    """Describe dataset `name` as `load` delivers it, with `validation` carved from the training split.

    Counts are the official ones; nothing is read or downloaded.
    """
    spec = catalog.spec(name)
    validation = checks.number("validation", validation, minimum=0.0, maximum=1.0, open_max=True)
    held = round(validation * spec.counts["train"])
    text = spec.kind == "text"
    return DatasetInfo(
        name=spec.name,
        description=spec.description,
        citation=spec.citation,
        splits={"train": spec.counts["train"] - held, "validation": held,
                "test": spec.counts["test"]},
        num_classes=spec.num_classes,
        class_names=spec.classes,
        input_shape=(checks.size("sequence_length", sequence_length),) if text else spec.shape,
        input_dtype="int32" if text else spec.dtype,
        augmentation="pad 4 + random 32x32 crop + horizontal flip (training only)"
        if spec.augment else "none",
    )


def _folder_key(data_dir: str | os.PathLike | None) -> str | None:
    folder = sources.data_folder(data_dir)  # absolute, links kept: a link's name may be the
    return None if folder is None else os.path.abspath(folder)  # dataset's (cifar-10-batches-py)


@functools.lru_cache(maxsize=4)
def _read(name: str, folder: str | None, source: str, download: bool):
    splits = sources.read(catalog.spec(name), folder, source=source, download=download)
    for arrays_ in splits.values():  # shared by every later call: an edit in place would
        for array in arrays_:        # corrupt them all, so it raises instead
            array.setflags(write=False)
    return splits


def read(name: str, data_dir: str | os.PathLike | None = None, *, source: str = "auto",
         download: bool = True) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The official train and test splits of `name` as arrays (raw text for IMDB).

    Read once per process and kept, so the arrays are read-only: copy one to change it.
    """
    spec = catalog.spec(name)
    if not isinstance(source, str):
        raise ZooError(f"source must be 'auto', 'synthetic' or 'synthetic:N', got {source!r}")
    return _read(spec.name, _folder_key(data_dir), source, checks.flag("download", download))


@functools.lru_cache(maxsize=4)
def _vectorizer(name, folder, source, download, seed, validation, vocab_size, sequence_length):
    x, _ = pipeline.carve_validation(*_read(name, folder, source, download)["train"],
                                     validation, seed)[0]
    return Vectorizer.adapt(x, vocab_size, sequence_length)


def vectorizer(name: str = "imdb", data_dir: str | os.PathLike | None = None, *, seed: int = 0,
               validation: float = 0.1, vocab_size: int = 20_000, sequence_length: int = SEQUENCE_LENGTH,
               source: str = "auto", download: bool = True) -> Vectorizer:
    """The text vectoriser `load` uses: its vocabulary adapted on the training part only."""
    spec = catalog.spec(name)
    if spec.kind != "text":
        raise ZooError(f"{spec.name} is not a text dataset")
    return _vectorizer(spec.name, _folder_key(data_dir), source, checks.flag("download", download),
                       checks.seed(seed), checks.number("validation", validation, minimum=0.0,
                                                        maximum=1.0, open_max=True),
                       checks.size("vocab_size", vocab_size, minimum=3),
                       checks.size("sequence_length", sequence_length))


def arrays(name: str, split: str = "train", *, seed: int = 0, validation: float = 0.1,
           data_dir: str | os.PathLike | None = None, source: str = "auto",
           download: bool = True, vocab_size: int = 20_000,
           sequence_length: int = SEQUENCE_LENGTH) -> tuple[np.ndarray, np.ndarray]:
    """`(x, y)` of one split as numpy arrays, exactly what `load` batches.

    `"validation"` is carved from the official training split (seeded, disjoint from
    `"train"`); text is turned into token ids by `vectorizer(...)`.
    """
    spec = catalog.spec(name)
    split = checks.choice("split", split, SPLITS)
    raw = read(spec.name, data_dir, source=source, download=download)
    if split == "test":
        x, y = raw["test"]
    else:
        train, held = pipeline.carve_validation(*raw["train"], validation, seed)
        if split == "validation" and not len(held[0]):
            raise ZooError("split 'validation' needs validation > 0")
        x, y = train if split == "train" else held
    if spec.kind == "text":
        x = vectorizer(spec.name, data_dir, seed=seed, validation=validation,
                       vocab_size=vocab_size, sequence_length=sequence_length, source=source,
                       download=download)(x)
        y = y.astype("float32")[:, None]
    return x, y


def load(
    name: str,
    split: str | Sequence[str] = "train",
    *,
    batch_size: int = 128,
    shuffle: bool | None = None,
    augment: bool | None = None,
    seed: int = 0,
    data_dir: str | os.PathLike | Path | None = None,
    validation: float = 0.1,
    drop_remainder: bool = False,
    source: str = "auto",
    download: bool = True,
    vocab_size: int = 20_000,
    sequence_length: int = SEQUENCE_LENGTH,
):
    """Batched `(x, y)` `tf.data.Dataset`s of dataset `name`, ready for `model.fit`.

    Args:
        name: one of `list_datasets()` (or an alias such as `"fashion"`).
        split: `"train"`, `"validation"`, `"test"`, or a list of them (then a list is returned).
        batch_size: examples per batch.
        shuffle: reshuffle every epoch; default: the training split only.
        augment: CIFAR pad-crop-flip; default: the training split of CIFAR only.
        seed: seeds the validation carve, the shuffling and the augmentation.
        data_dir: a folder of local files (default `$ZOO_DATA_DIR`), searched first.
        validation: fraction of the official training split held out as `"validation"`.
        drop_remainder: drop the last, smaller batch.
        source: `"auto"` (the lookup order) or `"synthetic"` (random data of the right shapes).
        download: allow a TensorFlow Datasets download when no local copy is found.
        vocab_size: IMDB's vocabulary size, padding and unknown-word ids included.
        sequence_length: IMDB's tokens per review.

    Images are uint8 pixels (the models rescale) and labels int32; IMDB gives int32 token ids
    and float labels of shape `(1,)`.
    """
    spec = catalog.spec(name)
    download = checks.flag("download", download)
    if isinstance(split, (str, bytes)) or not isinstance(split, Sequence):
        split = checks.choice("split", split, SPLITS)
    names = [split] if isinstance(split, str) else list(split)
    if not names:
        raise ZooError("split must name at least one of train, validation, test")
    if augment and not spec.augment:
        raise ZooError(f"{spec.name} has no augmentation; augment=True is for CIFAR")
    out = []
    for one in names:
        x, y = arrays(spec.name, one, seed=seed, validation=validation, data_dir=data_dir,
                      source=source, download=download, vocab_size=vocab_size,
                      sequence_length=sequence_length)
        training = one == "train"
        out.append(pipeline.dataset(
            x, y, batch_size,
            shuffle=training if shuffle is None else checks.flag("shuffle", shuffle),
            augment=(spec.augment and training) if augment is None else checks.flag("augment",
                                                                                   augment),
            seed=seed, drop_remainder=drop_remainder))
    return out[0] if isinstance(split, str) else out


__all__ = ["DatasetInfo", "DatasetSpec", "Vectorizer", "arrays", "info", "list_datasets", "load",
           "read", "vectorizer"]
