"""Each data test gets empty cache, Keras and TFDS folders of its own, and no ZOO_DATA_DIR."""

from __future__ import annotations

import pytest

import zoo.data


@pytest.fixture(autouse=True)
def isolated_data(tmp_path, monkeypatch, request):
    if request.node.get_closest_marker("real_data"):
        yield
        return
    for var, sub in (("ZOO_CACHE_DIR", "cache"), ("KERAS_HOME", "keras"),
                     ("TFDS_DATA_DIR", "tfds")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    zoo.data._read.cache_clear()
    zoo.data._vectorizer.cache_clear()
    yield
    zoo.data._read.cache_clear()
    zoo.data._vectorizer.cache_clear()
