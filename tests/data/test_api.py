"""The public data API: the list of datasets, their descriptions, unknown names, augmentation defaults."""

from __future__ import annotations

import numpy as np
import pytest

import zoo
from tests.data import writers


def test_list_datasets():
    assert zoo.data.list_datasets() == ["cifar10", "cifar100", "fashion_mnist", "imdb", "mnist"]


def test_info_describes_what_load_delivers():
    info = zoo.data.info("cifar100")
    assert info.splits == {"train": 45_000, "validation": 5_000, "test": 10_000}
    assert info.num_classes == 100 and len(info.class_names) == 100
    assert info.class_names[:3] == ("apple", "aquarium_fish", "baby")
    assert info.input_shape == (32, 32, 3) and info.input_dtype == "uint8"
    assert "crop" in info.augmentation
    assert zoo.data.info("mnist", validation=0).splits["validation"] == 0
    imdb = zoo.data.info("imdb", sequence_length=120)
    assert imdb.input_shape == (120,) and imdb.input_dtype == "int32"
    assert imdb.class_names == ("neg", "pos")
    assert zoo.data.info("fashion").name == "fashion_mnist"


def test_unknown_dataset_names_close_matches():
    with pytest.raises(zoo.ZooError, match=r"unknown dataset 'cifar1000' \(did you mean"):
        zoo.data.info("cifar1000")
    with pytest.raises(zoo.ZooError, match="did you mean 'mnist'"):
        zoo.data.load("mnits")
    with pytest.raises(zoo.ZooError, match=r"unknown dataset 'MNIST' \(did you mean 'mnist'"):
        zoo.data.load("MNIST")  # names are case-sensitive, the suggestion is not
    with pytest.raises(zoo.ZooError, match=r"data_dir must be a folder's path .* got int 5"):
        zoo.data.load("mnist", data_dir=5)


def test_every_models_default_dataset_is_loadable():
    for name in zoo.list_models():
        assert zoo.card(name).dataset in zoo.data.list_datasets()


def test_cifar_is_augmented_for_training_only_by_default(tmp_path):
    """Through `load`: the training split is pad-cropped and flipped, validation and test are the
    exact pixels, and `augment=False` gives the exact training pixels."""
    data = writers.cifar_like(10, 40, 12)
    writers.write_cifar10(tmp_path / "cifar-10-batches-py", data,
                          zoo.data.catalog.DATASETS["cifar10"].classes)

    def pixels(split, **kwargs):
        ds = zoo.data.load("cifar10", split, data_dir=tmp_path, batch_size=64, shuffle=False,
                           validation=0.25, **kwargs)
        return np.concatenate([x.numpy() for x, _ in ds])

    train, held = zoo.data.arrays("cifar10", "train", data_dir=tmp_path, validation=0.25)[0], \
        zoo.data.arrays("cifar10", "validation", data_dir=tmp_path, validation=0.25)[0]
    assert not np.array_equal(pixels("train"), train)
    np.testing.assert_array_equal(pixels("train", augment=False), train)
    np.testing.assert_array_equal(pixels("validation"), held)
    np.testing.assert_array_equal(pixels("test"), data["test"][0])


def test_the_arrays_kept_for_the_process_cannot_be_edited_in_place():
    """They are shared by every later read, load and fit: an edit once corrupted them all."""
    x, y = zoo.data.arrays("mnist", "test", source="synthetic")
    raw = zoo.data.read("mnist", source="synthetic")
    assert x is raw["test"][0] and not x.flags.writeable and not y.flags.writeable
    before = int(x[0, 0, 0, 0])
    with pytest.raises(ValueError, match="read-only"):
        x[0, 0, 0, 0] = before + 1
    mine = x.copy()  # what the error invites
    mine[0, 0, 0, 0] = before + 1
    assert int(zoo.data.arrays("mnist", "test", source="synthetic")[0][0, 0, 0, 0]) == before
