"""The IMDB vectoriser: vocabulary from training text only, ids, padding and truncation, saving."""

from __future__ import annotations

import numpy as np
import pytest

import zoo
from tests.data import writers
from zoo.data.text import Vectorizer


def test_adapt_counts_words_after_standardising():
    v = Vectorizer.adapt(["The film, the FILM!<br />the end", "a film"], vocab_size=5,
                         sequence_length=4)
    assert v.vocabulary == ["", "[UNK]", "film", "the", "a"]
    assert v.vocab_size == 5
    ids = v(["the film was the end"])
    np.testing.assert_array_equal(ids, [[2, 1, 3, 1]])  # last 4 tokens kept; 'was', 'end' unknown
    np.testing.assert_array_equal(v("film"), [[0, 0, 0, 2]])  # padded at the front


def test_save_and_load_round_trip(tmp_path):
    v = Vectorizer.adapt(["good film", "bad film", "good good"], vocab_size=10, sequence_length=3)
    v.save(tmp_path / "vocabulary.json")
    loaded = Vectorizer.load(tmp_path / "vocabulary.json")
    assert loaded.vocabulary == v.vocabulary and loaded.sequence_length == 3
    np.testing.assert_array_equal(loaded(["bad good film"]), v(["bad good film"]))
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(zoo.ZooError, match="not a zoo vocabulary file"):
        Vectorizer.load(tmp_path / "broken.json")


def test_vocabulary_is_adapted_on_the_training_part_only(tmp_path):
    root = writers.write_aclimdb(tmp_path / "aclImdb", per_class=10)
    marks = {}
    for i, review in enumerate(sorted((root / "train").rglob("*.txt"))):
        mark = "mark" + "".join(chr(ord("a") + int(d)) for d in f"{i:02d}")
        review.write_text(review.read_text() + " " + mark)
        marks[review.read_text()] = mark
    (root / "test" / "pos" / "0_9.txt").write_text("zyzzyva zyzzyva zyzzyva")
    v = zoo.data.vectorizer("imdb", tmp_path, validation=0.2)
    raw = zoo.data.read("imdb", tmp_path)["train"][0]
    (kept, _), (held, _) = zoo.data.pipeline.carve_validation(raw, raw, 0.2, 0)
    assert len(held) == 4
    assert all(marks[t] in v.vocabulary for t in kept)
    assert not any(marks[t] in v.vocabulary for t in held)
    assert "zyzzyva" not in v.vocabulary  # a test-only word
    ids = zoo.data.arrays("imdb", "validation", data_dir=tmp_path, validation=0.2)[0]
    np.testing.assert_array_equal(ids, v(held))


def test_empty_vocabulary_is_refused():
    with pytest.raises(zoo.ZooError, match="non-empty vocabulary"):
        Vectorizer(["", "[UNK]"])
