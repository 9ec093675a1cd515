"""TensorFlow Datasets as a source: data already prepared on disk, or a download through TFDS."""

from __future__ import annotations

import os
import socket
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from zoo.data.arrays import Splits, checked
from zoo.data.catalog import DatasetSpec


def data_dir() -> Path:
    """Where TFDS keeps prepared data: `$TFDS_DATA_DIR`, else `~/tensorflow_datasets`."""
    return Path(os.environ.get("TFDS_DATA_DIR") or Path.home() / "tensorflow_datasets")


def _builder(spec: DatasetSpec):
    import tensorflow_datasets as tfds

    return tfds.builder(spec.tfds_name, data_dir=str(data_dir()))


def _arrays(builder, spec: DatasetSpec) -> Splits:
    splits = {}
    for split in ("train", "test"):
        xs, ys = [], []
        for x, y in builder.as_dataset(split=split, as_supervised=True).batch(4096):
            xs.append(x.numpy())
            ys.append(y.numpy())
        x, y = np.concatenate(xs), np.concatenate(ys)
        if spec.kind == "text":
            x = np.array([t.decode("utf-8") for t in x], dtype=object)
        splits[split] = (x, y)
    return checked(spec, splits, f"TFDS {spec.tfds_name} in {data_dir()}")


def prepared(spec: DatasetSpec) -> Splits | None:
    """The dataset if TFDS has it prepared in its data folder, else `None`."""
    builder = _builder(spec)
    return _arrays(builder, spec) if builder.is_prepared() else None


# Where TFDS 4.9 downloads each dataset from (its builders' URLs): the host the probe tries.
TFDS_URLS = {
    "mnist": "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "fashion_mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    "cifar100": "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
    "imdb_reviews": "http://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
}


def download_url(spec: DatasetSpec) -> str:
    """The address TFDS downloads `spec` from (the official one where it is not listed)."""
    return TFDS_URLS.get(spec.tfds_name, spec.download)


PROXY_PORTS = {"https": 443, "socks4": 1080, "socks4a": 1080, "socks5": 1080, "socks5h": 1080}


def unreachable(url: str, timeout: float = 5.0) -> str | None:
    """Why `url`'s host cannot be reached (no DNS, no route), or `None` if a connection opens.

    TFDS retries a failed download for minutes; this check answers in seconds when offline.
    Behind a proxy (`https_proxy`, `http_proxy`, `all_proxy`, unless `no_proxy` exempts the
    host) the proxy is probed instead: the direct connection would fail where TFDS, through
    the proxy, succeeds. A proxy that answers but cannot reach the host is not noticed here.
    """
    parts = urlparse(url.split()[0])
    host, what = parts.hostname or "", ""
    port = parts.port or (80 if parts.scheme == "http" else 443)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if proxy and not urllib.request.proxy_bypass(host):
        proxied = urlparse(proxy if "://" in proxy else f"http://{proxy}")
        try:
            port = proxied.port or PROXY_PORTS.get(proxied.scheme, 80)
        except ValueError:  # a setting the zoo cannot read: TFDS reports it when it downloads
            return None
        host, what = proxied.hostname or "", "the proxy "
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:
        return f"cannot reach {what}{host}:{port} ({err.strerror or err})"
    return None


def download(spec: DatasetSpec) -> Splits:
    """Download and prepare the dataset through TFDS, then read it. Needs a network."""
    builder = _builder(spec)
    builder.download_and_prepare()
    return _arrays(builder, spec)
