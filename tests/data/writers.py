"""Writers of small dataset files in each official on-disk format, for the loader tests."""

from __future__ import annotations

import gzip
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np


def images(n: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)


def labels(n: int, classes: int, seed: int) -> np.ndarray:
    """Every class at least once when n >= classes, in a shuffled order."""
    y = np.arange(n) % classes
    np.random.default_rng(seed).shuffle(y)
    return y.astype(np.uint8)


def mnist_like(n_train: int = 30, n_test: int = 10, seed: int = 0):
    return {
        "train": (images(n_train, (28, 28), seed), labels(n_train, 10, seed)),
        "test": (images(n_test, (28, 28), seed + 1), labels(n_test, 10, seed + 1)),
    }


def write_npz(path: Path, splits) -> Path:
    np.savez(path, x_train=splits["train"][0], y_train=splits["train"][1],
             x_test=splits["test"][0], y_test=splits["test"][1])
    return path


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


IDX_NAMES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def write_idx(folder: Path, splits, compress: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, (x, y) in splits.items():
        for name, array in zip(IDX_NAMES[split], (x, y), strict=True):
            data = idx_bytes(array)
            if compress:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
    return folder


def cifar_like(classes: int, n_train: int, n_test: int, seed: int = 0):
    return {
        "train": (images(n_train, (32, 32, 3), seed), labels(n_train, classes, seed)),
        "test": (images(n_test, (32, 32, 3), seed + 1), labels(n_test, classes, seed + 1)),
    }


def _pickle(path: Path, obj) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=2))


def _rows(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2).reshape(len(x), -1))


def write_cifar10(folder: Path, splits, class_names) -> Path:
    """`cifar-10-batches-py`: the training split spread over data_batch_1..5."""
    folder.mkdir(parents=True, exist_ok=True)
    x, y = splits["train"]
    for i, part in enumerate(np.array_split(np.arange(len(x)), 5), start=1):
        _pickle(folder / f"data_batch_{i}", {b"batch_label": f"batch {i}".encode(),
                                             b"labels": [int(v) for v in y[part]],
                                             b"data": _rows(x[part])})
    x, y = splits["test"]
    _pickle(folder / "test_batch", {b"labels": [int(v) for v in y], b"data": _rows(x)})
    _pickle(folder / "batches.meta", {b"label_names": [n.encode() for n in class_names]})
    return folder


def write_cifar100(folder: Path, splits, class_names) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, (x, y) in splits.items():
        _pickle(folder / split, {b"fine_labels": [int(v) for v in y],
                                 b"coarse_labels": [int(v) // 5 for v in y], b"data": _rows(x)})
    _pickle(folder / "meta", {b"fine_label_names": [n.encode() for n in class_names],
                              b"coarse_label_names": [b"c"] * 20})
    return folder


def write_image_folder(root: Path, splits, class_names, ext: str = "png") -> Path:
    """`root/{train,test}/<class>/NNNN.png`; class names with '/' are written with '_'."""
    import tensorflow as tf

    for split, (x, y) in splits.items():
        for i, (image, label) in enumerate(zip(x, y, strict=True)):
            folder = root / split / class_names[label].replace("/", "_")
            folder.mkdir(parents=True, exist_ok=True)
            image = image if image.ndim == 3 else image[..., None]
            encoded = tf.io.encode_png(image) if ext == "png" else tf.io.encode_jpeg(image,
                                                                                    quality=100)
            (folder / f"{i:04d}.{ext}").write_bytes(encoded.numpy())
    return root


REVIEWS = {
    0: ["A dull, boring film.<br /><br />Awful acting.", "Bad plot and worse dialogue!",
        "I hated it; a waste of time."],
    1: ["A great film with superb acting.", "Wonderful! I loved every scene.",
        "Brilliant story, great cast."],
}


def write_aclimdb(root: Path, per_class: int = 3) -> Path:
    for split in ("train", "test"):
        for label, name in ((0, "neg"), (1, "pos")):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                text = REVIEWS[label][i % len(REVIEWS[label])] + f" ({split} {i})"
                (folder / f"{i}_{2 + 7 * label}.txt").write_text(text, encoding="utf-8")
    (root / "imdb.vocab").write_text("the\nfilm\n")
    return root


def tar_gz(source: Path, archive: Path, arcname: str | None = None) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname=arcname or source.name)
    return archive
