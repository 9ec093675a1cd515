"""The lookup order: data folder, Keras cache, prepared TFDS data, TFDS download; one clear error if none."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

import zoo
from tests.data import writers
from zoo.data import tfds as zoo_tfds


def test_data_dir_argument_then_environment_then_keras_cache(tmp_path, monkeypatch, messages):
    keras_copy = writers.mnist_like(seed=1)
    (tmp_path / "keras" / "datasets").mkdir(parents=True)
    writers.write_npz(tmp_path / "keras" / "datasets" / "mnist.npz", keras_copy)
    assert zoo.data.read("mnist")["train"][1].tolist() == keras_copy["train"][1].tolist()
    assert any("mnist: read" in m and "(Keras cache)" in m for m in messages)

    env_copy = writers.mnist_like(seed=2)
    (tmp_path / "env").mkdir()
    writers.write_npz(tmp_path / "env" / "mnist.npz", env_copy)
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "env"))
    assert zoo.data.read("mnist")["train"][1].tolist() == env_copy["train"][1].tolist()

    arg_copy = writers.mnist_like(seed=3)
    (tmp_path / "arg").mkdir()
    writers.write_npz(tmp_path / "arg" / "mnist.npz", arg_copy)
    assert zoo.data.read("mnist", tmp_path / "arg")["train"][1].tolist() == \
        arg_copy["train"][1].tolist()
    assert any(str(tmp_path / "arg" / "mnist.npz") in m and "(data folder)" in m
               for m in messages)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_where_keras_datasets_leaves_it(name, tmp_path, messages):
    """`keras.datasets.cifar10/100.load_data()` extract their archive under a `-target` folder."""
    import keras

    spec = zoo.data.catalog.DATASETS[name]
    folder = "cifar-10-batches-py" if name == "cifar10" else "cifar-100-python"
    write = writers.write_cifar10 if name == "cifar10" else writers.write_cifar100
    data = writers.cifar_like(spec.num_classes, 30, 10)
    source = write(tmp_path / "src" / folder, data, spec.classes)
    archive = writers.tar_gz(source, tmp_path / f"{folder}.tar.gz")
    # What load_data() does, from a local file instead of the official address.
    home = Path(os.environ["KERAS_HOME"])  # Keras read it at import: name it here
    home.mkdir(parents=True)  # (get_file falls back to /tmp/.keras if it does not exist)
    keras.utils.get_file(fname=f"{folder}-target", origin=archive.as_uri(), extract=True,
                         cache_dir=home)
    assert zoo.data.read(name)["train"][1].tolist() == data["train"][1].tolist()
    assert any(f"{name}: read" in m and "(Keras cache)" in m for m in messages)


def test_a_data_dir_that_is_the_datasets_own_folder(tmp_path, messages):
    """`--data-dir ~/Downloads/cifar-10-batches-py` once found nothing: only the folder that
    holds it was searched."""
    spec = zoo.data.catalog.DATASETS["cifar10"]
    data = writers.cifar_like(10, 30, 10)
    own = writers.write_cifar10(tmp_path / "cifar-10-batches-py", data, spec.classes)
    assert zoo.data.read("cifar10", own)["train"][1].tolist() == data["train"][1].tolist()
    assert any(f"cifar10: read {own} (data folder)" in m for m in messages)
    idx = writers.write_idx(tmp_path / "mnist", writers.mnist_like(seed=4))
    assert zoo.data.read("mnist", idx)["test"][1].tolist() == \
        writers.mnist_like(seed=4)["test"][1].tolist()
    with pytest.raises(zoo.ZooError, match="cannot find the fashion_mnist dataset"):
        zoo.data.read("fashion_mnist", idx, download=False)  # a name of another dataset's


def test_a_data_dir_that_is_not_a_folder(tmp_path, monkeypatch):
    with pytest.raises(zoo.ZooError, match=r"data_dir '.*nowhere' is not a folder"):
        zoo.data.read("mnist", tmp_path / "nowhere")
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "gone"))
    with pytest.raises(zoo.ZooError, match=r"ZOO_DATA_DIR '.*gone' is not a folder"):
        zoo.data.read("mnist")


def test_prepared_tfds_data_is_used_before_downloading(monkeypatch, messages):
    monkeypatch.setattr(tfds.core.DatasetBuilder, "is_prepared", lambda self: True)
    monkeypatch.setattr(zoo_tfds, "download", lambda spec: pytest.fail("downloaded"))
    with tfds.testing.mock_data(num_examples=20):
        splits = zoo.data.read("cifar100")
    assert splits["train"][0].shape == (20, 32, 32, 3) and splits["train"][1].max() < 100
    assert any("prepared TensorFlow Datasets" in m for m in messages)


def test_download_through_tfds_with_mock_data(monkeypatch, messages):
    monkeypatch.setattr(zoo_tfds, "unreachable", lambda url: None)
    with tfds.testing.mock_data(num_examples=40):
        train, test = zoo.data.load("cifar100", ["train", "test"], batch_size=8, validation=0.25)
        x, _ = next(iter(train))
        assert x.shape == (8, 32, 32, 3) and x.dtype.name == "uint8"
        assert sum(len(b[1]) for b in train) == 30 and sum(len(b[1]) for b in test) == 40
        texts, labels = zoo.data.read("imdb")["train"]
    assert isinstance(texts[0], str) and set(labels.tolist()) <= {0, 1}
    assert any("downloaded through TensorFlow Datasets" in m for m in messages)


def test_nothing_found_gives_one_error_listing_every_place(tmp_path, monkeypatch):
    monkeypatch.setattr(zoo_tfds, "unreachable", lambda url: None)

    def offline(spec):
        raise ConnectionError("Failed to resolve 'www.cs.toronto.edu'")

    monkeypatch.setattr(zoo_tfds, "download", offline)
    (tmp_path / "data").mkdir()
    with pytest.raises(zoo.ZooError) as err:
        zoo.data.read("cifar100", tmp_path / "data")
    message = str(err.value)
    assert f"data folder {tmp_path / 'data'}: none of cifar-100-python" in message
    assert f"Keras cache {tmp_path / 'keras' / 'datasets'}" in message
    assert "TensorFlow Datasets in" in message and "not prepared" in message
    assert "download through TensorFlow Datasets: failed (ConnectionError" in message
    assert "pass that folder as data_dir=" in message and "ZOO_DATA_DIR" in message
    assert "the dataset's own folder works too if it keeps one of those names" in message
    assert "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz" in message


def test_no_network_is_noticed_without_waiting_for_tfds_retries(monkeypatch):
    monkeypatch.setattr(zoo_tfds, "unreachable", lambda url: "cannot reach host (no DNS)")
    monkeypatch.setattr(zoo_tfds, "download", lambda spec: pytest.fail("tried to download"))
    with pytest.raises(zoo.ZooError, match="skipped, no network: cannot reach host"):
        zoo.data.read("imdb")
    with pytest.raises(zoo.ZooError, match=r"not attempted \(download=False\)"):
        zoo.data.read("imdb", download=False)


def test_unreachable_reports_a_host_that_does_not_resolve():
    assert "cannot reach no-such-host.invalid" in zoo_tfds.unreachable(
        "https://no-such-host.invalid/x.tar.gz", timeout=2)


def test_behind_a_proxy_the_proxy_is_probed_not_the_host(monkeypatch):
    """The direct connection fails on a proxied network where TFDS, through the proxy, works;
    an unreachable proxy, though, made TFDS retry for minutes (210 s) before the error."""
    for var in ("https_proxy", "http_proxy", "all_proxy", "HTTPS_PROXY", "HTTP_PROXY",
                "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    url = "https://no-such-host.invalid/x.tar.gz"
    assert "cannot reach no-such-host.invalid:443" in zoo_tfds.unreachable(url, timeout=2)
    with socket.socket() as proxy:  # a proxy that answers
        proxy.bind(("127.0.0.1", 0))
        proxy.listen()
        monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{proxy.getsockname()[1]}")
        assert zoo_tfds.unreachable(url, timeout=2) is None
        monkeypatch.setenv("no_proxy", ".invalid")  # exempt: the host itself is probed
        assert "cannot reach no-such-host.invalid" in zoo_tfds.unreachable(url, timeout=2)
    monkeypatch.delenv("no_proxy")
    monkeypatch.setenv("https_proxy", "proxy.invalid:3128")  # no scheme, as some set it
    assert "cannot reach the proxy proxy.invalid:3128" in zoo_tfds.unreachable(url, timeout=2)
    monkeypatch.setenv("https_proxy", "socks5h://proxy.invalid")  # SOCKS' own port
    assert "cannot reach the proxy proxy.invalid:1080" in zoo_tfds.unreachable(url, timeout=2)
    monkeypatch.setenv("https_proxy", "http://user:pa/ss@proxy:3128")  # unreadable here: the
    assert zoo_tfds.unreachable(url, timeout=2) is None  # download reports it, as before


def test_the_probe_tries_the_host_tfds_downloads_from(monkeypatch):
    """Fashion-MNIST's official files are on GitHub, but TFDS fetches them from S3 over http."""
    from tensorflow_datasets.datasets.imdb_reviews import imdb_reviews_dataset_builder as imdb
    from tensorflow_datasets.image_classification import mnist

    spec = zoo.data.catalog.spec
    assert zoo_tfds.download_url(spec("mnist")) == mnist.MNIST.URL
    assert zoo_tfds.download_url(spec("fashion_mnist")) == mnist.FashionMNIST.URL
    assert zoo_tfds.download_url(spec("imdb")) == imdb._DOWNLOAD_URL
    probed = []

    def connection(address, timeout):
        probed.append(address)
        raise OSError("no route")

    monkeypatch.setattr(zoo_tfds.socket, "create_connection", connection)
    monkeypatch.setattr(zoo_tfds.urllib.request, "getproxies", dict)
    zoo_tfds.unreachable(zoo_tfds.download_url(spec("fashion_mnist")))
    assert probed == [("fashion-mnist.s3-website.eu-central-1.amazonaws.com", 80)]


def test_synthetic_source_has_the_real_shapes():
    x, y = zoo.data.arrays("cifar10", "train", source="synthetic", validation=0.0)
    assert x.shape[1:] == (32, 32, 3) and x.dtype == np.uint8 and y.max() < 10
    ids, labels = zoo.data.arrays("imdb", "test", source="synthetic", sequence_length=16)
    assert ids.shape[1:] == (16,) and labels.shape[1:] == (1,)
    with pytest.raises(zoo.ZooError, match="unknown source 'web'"):
        zoo.data.read("mnist", source="web")


def test_a_link_named_as_the_datasets_own_folder_is_read(tmp_path):
    spec = zoo.data.catalog.DATASETS["cifar10"]
    data = writers.cifar_like(10, 30, 10)
    store = writers.write_cifar10(tmp_path / "store" / "c10", data, spec.classes)
    link = tmp_path / "cifar-10-batches-py"
    link.symlink_to(store, target_is_directory=True)
    assert zoo.data.read("cifar10", link)["train"][1].tolist() == data["train"][1].tolist()
