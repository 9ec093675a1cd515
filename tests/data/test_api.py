"""The public data API: the list of datasets, their descriptions, and unknown names."""

from __future__ import annotations

import pytest

import zoo


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


def test_every_models_default_dataset_is_loadable():
    for name in zoo.list_models():
        assert zoo.card(name).dataset in zoo.data.list_datasets()
