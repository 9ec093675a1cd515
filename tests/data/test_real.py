"""Real-data checks against the copies in `$ZOO_DATA_DIR` (CI sets it to ../shared/data).

They skip only when ZOO_DATA_DIR is unset; with it set, a missing dataset is a failure.
"""

from __future__ import annotations

import os
from collections import Counter

import numpy as np
import pytest

import zoo
from zoo.data import pipeline

pytestmark = pytest.mark.real_data


@pytest.fixture(scope="module")
def data_dir():
    folder = os.environ.get("ZOO_DATA_DIR")
    if not folder:
        pytest.skip("set ZOO_DATA_DIR to a folder of the real datasets to run these")
    return folder


def balanced(y: np.ndarray, classes: int, tolerance: float) -> bool:
    counts = np.bincount(y, minlength=classes)
    return counts.min() >= (1 - tolerance) * len(y) / classes


def disjoint(a: np.ndarray, b: np.ndarray) -> bool:
    return not {row.tobytes() for row in a} & {row.tobytes() for row in b}


def test_mnist(data_dir):
    raw = zoo.data.read("mnist", data_dir)
    (x, y), (tx, ty) = raw["train"], raw["test"]
    assert x.shape == (60_000, 28, 28, 1) and tx.shape == (10_000, 28, 28, 1)
    assert ty[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert y[:5].tolist() == [5, 0, 4, 1, 9]
    assert x.mean() == pytest.approx(33.32, abs=0.01)
    assert x.min() == 0 and x.max() == 255
    assert balanced(y, 10, 0.2) and balanced(ty, 10, 0.2)
    vx, _ = zoo.data.arrays("mnist", "validation", data_dir=data_dir)
    trx, _ = zoo.data.arrays("mnist", "train", data_dir=data_dir)
    assert len(vx) == 6_000 and len(trx) == 54_000 and disjoint(vx, trx)


def test_fashion_mnist(data_dir):
    raw = zoo.data.read("fashion_mnist", data_dir)
    (x, y), (tx, ty) = raw["train"], raw["test"]
    assert len(x) == 60_000 and len(tx) == 10_000
    assert ty[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert x.mean() / 255 == pytest.approx(0.2860, abs=1e-4)
    assert x.std() / 255 == pytest.approx(0.3530, abs=1e-4)
    assert np.bincount(y).tolist() == [6000] * 10 and np.bincount(ty).tolist() == [1000] * 10
    assert x.min() == 0 and x.max() == 255 and x.dtype == np.uint8
    vx, _ = zoo.data.arrays("fashion_mnist", "validation", data_dir=data_dir)
    trx, _ = zoo.data.arrays("fashion_mnist", "train", data_dir=data_dir)
    assert len(vx) == 6_000 and len(trx) == 54_000 and disjoint(vx, trx)


def test_cifar10(data_dir):
    raw = zoo.data.read("cifar10", data_dir)
    (x, y), (tx, ty) = raw["train"], raw["test"]
    assert x.shape == (50_000, 32, 32, 3) and tx.shape == (10_000, 32, 32, 3)
    assert x.min() == 0 and x.max() == 255
    assert np.bincount(y).tolist() == [5000] * 10 and np.bincount(ty).tolist() == [1000] * 10
    assert x.mean() / 255 == pytest.approx(0.4734, abs=0.01)  # JPEG copy of the official pixels
    vx, _ = zoo.data.arrays("cifar10", "validation", data_dir=data_dir)
    trx, _ = zoo.data.arrays("cifar10", "train", data_dir=data_dir)
    assert len(vx) == 5_000 and len(trx) == 45_000 and disjoint(vx, trx)
    batch = next(iter(zoo.data.load("cifar10", batch_size=256, data_dir=data_dir)))
    assert batch[0].shape == (256, 32, 32, 3) and batch[0].dtype.name == "uint8"


def test_imdb(data_dir):
    raw = zoo.data.read("imdb", data_dir)
    (x, y), (tx, ty) = raw["train"], raw["test"]
    assert len(x) == 25_000 and len(tx) == 25_000
    assert np.bincount(y).tolist() == [12_500] * 2 and np.bincount(ty).tolist() == [12_500] * 2
    assert all(len(t) > 10 for t in x[:100])
    ids, labels = zoo.data.arrays("imdb", "train", data_dir=data_dir)
    assert ids.shape == (22_500, zoo.data.text.SEQUENCE_LENGTH) and labels.shape == (22_500, 1)
    v = zoo.data.vectorizer("imdb", data_dir)
    assert v.vocab_size == 20_000 and ids.max() == 19_999 and ids.min() == 0
    assert (ids == 1).mean() < 0.05  # out-of-vocabulary tokens are rare
    vx, _ = zoo.data.arrays("imdb", "validation", data_dir=data_dir)
    assert len(vx) == 2_500
    # The held-out reviews are not training reviews: a text found in both is one IMDB itself
    # repeats in its official training split (it has about a hundred such duplicates).
    (train_texts, _), (held_texts, _) = pipeline.carve_validation(x, y, 0.1, 0)
    repeated = {t for t, n in Counter(x.tolist()).items() if n > 1}
    assert set(held_texts.tolist()) & set(train_texts.tolist()) <= repeated
