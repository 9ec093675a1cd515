"""Review text to token ids for the IMDB models, with a vocabulary adapted on training reviews only.

The vectoriser lives in the input pipeline, not in the model: the models then take int32 token ids
and run on every Keras backend, and the reviews are tokenised once instead of every epoch. The
vocabulary is saved beside a trained model (`vocabulary.json`), so `Vectorizer.load(path)(texts)`
turns raw reviews into the model's input at prediction time.
"""

from __future__ import annotations

import json
import os
import re
import string
from collections.abc import Sequence

import numpy as np

from zoo import checks
from zoo.errors import ZooError
from zoo.fileio import write_json

PAD, OOV = "", "[UNK]"
# HTML line breaks, then every ASCII punctuation mark, become spaces.
_STRIP = r"<br\s*/?>|[" + re.escape(string.punctuation) + "]"


# Tokens kept per review (the last ones): most IMDB reviews fit whole (benchmarks/NOTES.md).
SEQUENCE_LENGTH = 400

def _chunks(texts: Sequence[str], size: int = 4096):
    """Successive string tensors of at most `size` texts."""
    import tensorflow as tf

    for start in range(0, len(texts), size):
        yield tf.constant([str(t) for t in texts[start:start + size]])


def _tokens(texts):
    """Standardise and split a string tensor into a ragged tensor of words."""
    import tensorflow as tf

    return tf.strings.split(tf.strings.regex_replace(tf.strings.lower(texts, encoding="utf-8"), _STRIP, " "))


class Vectorizer:
    """Turns strings into fixed-length int32 token ids.

    Text is lower-cased, `<br />` and punctuation become spaces, and it is split on whitespace.
    Id 0 pads, id 1 is any word outside the vocabulary, ids 2.. are the vocabulary's words in
    order of frequency. Like `keras.utils.pad_sequences`' defaults, the last `sequence_length`
    tokens are kept and shorter reviews are padded at the front, so a recurrent model ends its
    pass on the review's own words.
    """

    def __init__(self, vocabulary: Sequence[str], sequence_length: int = SEQUENCE_LENGTH) -> None:
        words = [w for w in vocabulary if w not in (PAD, OOV)]
        if not words:
            raise ZooError("a Vectorizer needs a non-empty vocabulary")
        self.vocabulary = [PAD, OOV, *words]
        self.sequence_length = checks.size("sequence_length", sequence_length)
        self._table = None

    @property
    def vocab_size(self) -> int:
        """Number of ids, padding and out-of-vocabulary included: the models' `vocab_size`."""
        return len(self.vocabulary)

    @classmethod
    def adapt(cls, texts: Sequence[str], vocab_size: int = 20_000,
              sequence_length: int = SEQUENCE_LENGTH) -> Vectorizer:
        """Learn the `vocab_size - 2` most frequent words of `texts` (ties broken alphabetically)."""
        import tensorflow as tf

        vocab_size = checks.size("vocab_size", vocab_size, minimum=3)
        counts: dict[bytes, int] = {}
        for chunk in _chunks(texts):
            words, _, n = tf.unique_with_counts(_tokens(chunk).flat_values)
            for word, count in zip(words.numpy(), n.numpy(), strict=True):
                counts[word] = counts.get(word, 0) + int(count)
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:vocab_size - 2]
        return cls([w.decode("utf-8") for w, _ in ranked], sequence_length)

    def __call__(self, texts: Sequence[str] | str) -> np.ndarray:
        """Token ids of shape `(len(texts), sequence_length)`; a single string gives one row."""
        import tensorflow as tf

        if isinstance(texts, str):
            texts = [texts]
        if self._table is None:
            self._table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(self.vocabulary[2:]),
                    tf.range(2, self.vocab_size, dtype=tf.int64)),
                default_value=1)
        out = np.zeros((len(texts), self.sequence_length), np.int32)
        row = 0
        for chunk in _chunks(texts):
            tokens = _tokens(chunk)
            ids = self._table.lookup(tokens.flat_values).numpy()
            for end, length in zip(np.cumsum(tokens.row_lengths().numpy()),
                                   tokens.row_lengths().numpy(), strict=True):
                keep = min(int(length), self.sequence_length)
                if keep:
                    out[row, -keep:] = ids[end - keep:end]
                row += 1
        return out

    def save(self, path: str | os.PathLike) -> None:
        """Write the vocabulary and sequence length as JSON (atomically)."""
        write_json(path, {"sequence_length": self.sequence_length,
                          "vocabulary": self.vocabulary})

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vectorizer:
        """Read a vectoriser written by `save`."""
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            return cls(data["vocabulary"], data["sequence_length"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ZooError(f"{path}: not a zoo vocabulary file ({err})") from err
