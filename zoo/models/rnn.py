"""Recurrent sentiment classifiers for IMDB reviews: LSTM, GRU and SimpleRNN variants.

The models take token ids (0 is padding, 1 an out-of-vocabulary word), as produced by the IMDB
loader's vectoriser, and output one logit: positive review when it is above 0.
"""

from __future__ import annotations

import keras
from keras import layers

from zoo import checks
from zoo.data.text import SEQUENCE_LENGTH
from zoo.recipe import Recipe
from zoo.registry import Card, Reference, register

CELLS = {"lstm": layers.LSTM, "gru": layers.GRU, "rnn": layers.SimpleRNN}
CELL_NAMES = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN"}


def sentiment_rnn(
    name: str,
    cell: str,
    vocab_size: int,
    sequence_length: int,
    embedding_dim: int,
    units: int,
    depth: int,
    dropout: float,
) -> keras.Model:
    """Embedding, `depth` stacked recurrent layers of `units` with input dropout, one logit."""
    cell = checks.choice("cell", cell, CELLS)
    vocab_size = checks.size("vocab_size", vocab_size, minimum=3)
    sequence_length = checks.size("sequence_length", sequence_length)
    embedding_dim = checks.size("embedding_dim", embedding_dim)
    units = checks.size("units", units)
    depth = checks.integer("depth", depth, maximum=100)
    dropout = checks.rate("dropout", dropout)
    inputs = keras.Input((sequence_length,), dtype="int32", name="tokens")
    x = layers.Embedding(vocab_size, embedding_dim, name="embedding")(inputs)
    for i in range(1, depth + 1):
        x = CELLS[cell](units, return_sequences=i < depth, dropout=dropout, name=f"{cell}{i}")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(1, dtype="float32", name="logit")(x)
    return keras.Model(inputs, outputs, name=name)


def _card(cell: str, params: int, reference: Reference | None) -> Card:
    return Card(
        name=f"imdb_{cell}",
        family="rnn",
        task="binary_classification",
        dataset="imdb",
        input_shape=(SEQUENCE_LENGTH,),
        input_dtype="int32",
        output_shape=(1,),
        output="one logit: the review is positive when it is above 0",
        params=params,
        recipe=Recipe(optimizer="adam", learning_rate=2e-3, schedule="cosine", batch_size=128,
                      epochs=3, steps_per_execution=8,
                      notes="Adam, batch 128, 3 epochs, the rate annealed from 2e-3 to zero by a "
                            "cosine schedule (at a constant 1e-3 the models overfit after two "
                            "epochs); reviews vectorised to the 20,000 most frequent training "
                            f"words, the last {SEQUENCE_LENGTH} tokens of each (200 cost the "
                            "gated cells about half a point; the SimpleRNN's result varies "
                            "more with its seed than with either; benchmarks/NOTES.md)."),
        description=f"A sentiment classifier: a 128-dimensional embedding of a 20,000-word "
                    f"vocabulary, two stacked {CELL_NAMES[cell]} layers of 64 units with "
                    "dropout 0.3, and one output logit.",
        reference=reference,
    )


def _options(cell: str):
    def build(
        vocab_size: int = 20_000,
        sequence_length: int = SEQUENCE_LENGTH,
        embedding_dim: int = 128,
        units: int = 64,
        depth: int = 2,
        dropout: float = 0.3,
        cell: str = cell,
    ) -> keras.Model:
        return sentiment_rnn(f"imdb_{cell}", cell, vocab_size, sequence_length, embedding_dim,
                             units, depth, dropout)

    build.__name__ = f"imdb_{cell}"
    build.__doc__ = f"IMDB sentiment with two stacked {CELL_NAMES[cell]} layers (`cell` switches)."
    return build


imdb_lstm = register(_card("lstm", 2_642_497, Reference(
    dataset="imdb",
    metrics={"accuracy": 0.88},
    source="F. Chollet, Deep Learning with Python, chapter 6: an LSTM on the IMDB reviews "
           "reaches about 88% accuracy",
)))(_options("lstm"))
imdb_gru = register(_card("gru", 2_622_273, None))(_options("gru"))
imdb_rnn = register(_card("rnn", 2_580_673, Reference(
    dataset="imdb",
    metrics={"accuracy": 0.85},
    source="F. Chollet, Deep Learning with Python, chapter 6: a SimpleRNN on the IMDB reviews "
           "reaches about 85% validation accuracy",
    split="validation",
)))(_options("rnn"))
