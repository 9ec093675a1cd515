"""The official CIFAR-10 and CIFAR-100 python pickles, read with an unpickler that builds only arrays.

Pickles can run code when loaded, so these are read only from folders the user names (the data
folder, the Keras cache) and through `SafeUnpickler`, which allows nothing but the numpy array
reconstruction that the CIFAR files contain.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

from zoo.data.arrays import Splits, checked, fail
from zoo.data.catalog import DatasetSpec

ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
}
LAYOUT = {
    "cifar10": {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"],
                "labels": b"labels", "meta": ("batches.meta", b"label_names")},
    "cifar100": {"train": ["train"], "test": ["test"], "labels": b"fine_labels",
                 "meta": ("meta", b"fine_label_names")},
}


class SafeUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays; any other global is refused."""

    def find_class(self, module: str, name: str):
        if (module, name) in ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def load_pickle(path: Path) -> dict:
    """One CIFAR pickle as a dict with bytes keys."""
    try:
        data = SafeUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except FileNotFoundError as err:
        raise fail(path, "missing") from err
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, OSError) as err:
        raise fail(path, f"not a readable CIFAR pickle ({type(err).__name__}: {err}); "
                         "it may be truncated or corrupt") from err
    if not isinstance(data, dict):
        raise fail(path, f"expected a dict, found {type(data).__name__}")
    return data


def _batch(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    data = load_pickle(path)
    if b"data" not in data or label_key not in data:
        raise fail(path, f"missing b'data' or {label_key!r}; keys: {sorted(data)}")
    x = np.asarray(data[b"data"])
    y = np.asarray(data[label_key])
    if x.ndim != 2 or x.shape[1] != 3 * 32 * 32 or x.dtype != np.uint8:
        raise fail(path, f"data must be uint8 rows of 3072 pixels, got {x.dtype} {x.shape}")
    if len(x) != len(y):
        raise fail(path, f"{len(x)} images but {len(y)} labels")
    return x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), y


def read(folder: Path, spec: DatasetSpec) -> Splits:
    """A `cifar-10-batches-py` or `cifar-100-python` folder: every batch, checked."""
    layout = LAYOUT[spec.name]
    splits = {}
    for split in ("train", "test"):
        parts = [_batch(folder / name, layout["labels"]) for name in layout[split]]
        splits[split] = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    meta_file, key = layout["meta"]
    if (folder / meta_file).exists():
        names = [n.decode() for n in load_pickle(folder / meta_file).get(key, [])]
        if names and tuple(names) != spec.classes:
            raise fail(folder / meta_file, f"class names {names[:5]}... differ from {spec.name}'s")
    return checked(spec, splits, folder)
