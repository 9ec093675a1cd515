"""Every on-disk format reads back exactly what was written, as a folder and as a tarball."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import zoo
from tests.data import writers
from zoo.data.catalog import CIFAR100_CLASSES, DATASETS

CIFAR10 = DATASETS["cifar10"].classes
FASHION = DATASETS["fashion_mnist"].classes


def assert_splits(got, want, channel: bool = True):
    for split in ("train", "test"):
        x, y = want[split]
        x = x[..., None] if channel and x.ndim == 3 else x
        np.testing.assert_array_equal(got[split][0], x)
        np.testing.assert_array_equal(got[split][1], y)
        assert got[split][0].dtype == np.uint8 and got[split][1].dtype == np.int32


def test_npz(tmp_path):
    want = writers.mnist_like()
    writers.write_npz(tmp_path / "mnist.npz", want)
    assert_splits(zoo.data.read("mnist", tmp_path), want)


@pytest.mark.parametrize("compress", [True, False])
def test_idx_gz_and_raw(tmp_path, compress):
    want = writers.mnist_like(seed=3)
    writers.write_idx(tmp_path / "fashion-mnist", want, compress=compress)
    assert_splits(zoo.data.read("fashion_mnist", tmp_path), want)


def test_idx_for_mnist_in_its_own_folder(tmp_path):
    want = writers.mnist_like(seed=4)
    writers.write_idx(tmp_path / "mnist", want)
    assert_splits(zoo.data.read("mnist", tmp_path), want)


CIFAR_PICKLES = {
    "cifar10": (writers.write_cifar10, "cifar-10-batches-py", "cifar-10-python.tar.gz", CIFAR10),
    "cifar100": (writers.write_cifar100, "cifar-100-python", "cifar-100-python.tar.gz",
                 CIFAR100_CLASSES),
}


@pytest.mark.parametrize("as_tarball", [False, True])
@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_pickles(tmp_path, name, as_tarball):
    write, folder_name, archive_name, classes = CIFAR_PICKLES[name]
    want = writers.cifar_like(len(classes), 120, 100, seed=5)
    folder = write(tmp_path / "src" / folder_name, want, classes)
    data = tmp_path / "data"
    data.mkdir()
    if as_tarball:
        writers.tar_gz(folder, data / archive_name)
    else:
        folder.rename(data / folder_name)
    assert_splits(zoo.data.read(name, data), want)
    x, y = next(iter(zoo.data.load(name, batch_size=32, data_dir=data, validation=0.0)))
    assert x.shape == (32, 32, 32, 3) and x.dtype.name == "uint8" and y.dtype.name == "int32"


@pytest.mark.parametrize("as_tarball", [False, True])
def test_image_folder_cifar10_png(tmp_path, as_tarball):
    want = writers.cifar_like(10, 20, 10, seed=6)
    folder = writers.write_image_folder(tmp_path / "src" / "cifar10", want, CIFAR10)
    data = tmp_path / "data"
    data.mkdir()
    if as_tarball:
        writers.tar_gz(folder, data / "cifar10.tar.gz")
    else:
        folder.rename(data / "cifar10")
    got = zoo.data.read("cifar10", data)
    # files are listed class by class, so compare as sets of (image, label) pairs
    for split in ("train", "test"):
        order = np.lexsort((np.arange(len(want[split][1])), want[split][1]))
        np.testing.assert_array_equal(got[split][0], want[split][0][order])
        np.testing.assert_array_equal(got[split][1], want[split][1][order])


def test_image_folder_without_tensorflow_is_decoded_with_pillow(tmp_path, monkeypatch):
    """A JAX or PyTorch install without TensorFlow reads image folders too, to the same arrays."""
    want = writers.cifar_like(10, 20, 10, seed=6)
    writers.write_image_folder(tmp_path / "cifar10", want, CIFAR10)
    gray = writers.mnist_like(seed=7)
    gray = {k: (x[..., None], y) for k, (x, y) in gray.items()}
    writers.write_image_folder(tmp_path / "fashion_mnist", gray, FASHION)
    with_tf = {name: zoo.data.read(name, tmp_path) for name in ("cifar10", "fashion")}
    zoo.data._read.cache_clear()
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "other-cache"))  # decode afresh
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # `import tensorflow` fails
    for name, expected in with_tf.items():
        got = zoo.data.read(name, tmp_path)
        for split in ("train", "test"):
            np.testing.assert_array_equal(got[split][0], expected[split][0])
            np.testing.assert_array_equal(got[split][1], expected[split][1])
    bad = next((tmp_path / "cifar10" / "train" / "cat").iterdir())
    bad.write_bytes(b"\x89PNG not really")
    zoo.data._read.cache_clear()
    with pytest.raises(zoo.ZooError, match="cannot decode image"):
        zoo.data.read("cifar10", tmp_path)


def test_image_folder_for_fashion_mnist_with_slash_in_a_class_name(tmp_path):
    want = writers.mnist_like(seed=7)
    want = {k: (x[..., None], y) for k, (x, y) in want.items()}
    writers.write_image_folder(tmp_path / "fashion_mnist", want, FASHION)
    assert (tmp_path / "fashion_mnist" / "train" / "T-shirt_top").is_dir()
    got = zoo.data.read("fashion", tmp_path)
    assert got["train"][0].shape == (30, 28, 28, 1)
    assert sorted(got["train"][1].tolist()) == sorted(want["train"][1].tolist())


def test_decoded_images_are_cached_and_refreshed_when_a_file_changes(tmp_path):
    want = writers.cifar_like(10, 10, 10, seed=8)
    writers.write_image_folder(tmp_path / "cifar10", want, CIFAR10, ext="jpg")
    zoo.data.read("cifar10", tmp_path)
    cached = list((tmp_path / "cache" / "decoded").glob("cifar10-*.npz"))
    assert len(cached) == 1
    zoo.data._read.cache_clear()
    zoo.data.read("cifar10", tmp_path)
    assert list((tmp_path / "cache" / "decoded").glob("cifar10-*.npz")) == cached
    victim = next((tmp_path / "cifar10" / "train").rglob("*.jpg"))
    victim.write_bytes((tmp_path / "cifar10" / "test").rglob("*.jpg").__next__().read_bytes())
    zoo.data._read.cache_clear()
    zoo.data.read("cifar10", tmp_path)
    assert len(list((tmp_path / "cache" / "decoded").glob("cifar10-*.npz"))) == 2


@pytest.mark.parametrize("as_tarball", [False, True])
def test_aclimdb_tree(tmp_path, as_tarball):
    folder = writers.write_aclimdb(tmp_path / "src" / "aclImdb")
    data = tmp_path / "data"
    data.mkdir()
    if as_tarball:
        writers.tar_gz(folder, data / "aclImdb_v1.tar.gz")
    else:
        folder.rename(data / "aclImdb")
    got = zoo.data.read("imdb", data)
    texts, y = got["train"]
    assert len(texts) == 6 and y.tolist() == [0, 0, 0, 1, 1, 1]
    assert texts[0].startswith("A dull, boring film.")
    x, y = zoo.data.arrays("imdb", "test", data_dir=data, validation=0.0, sequence_length=12)
    assert x.shape == (6, 12) and x.dtype == np.int32 and y.shape == (6, 1)
