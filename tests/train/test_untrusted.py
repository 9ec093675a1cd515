"""Saved models are untrusted input: a `.keras` file that carries code (a `Lambda` layer) is
refused by Keras safe mode, with a message saying how to opt in, unless the user does."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import zoo
from tests.train.conftest import run_cli


@pytest.fixture
def lambda_file(tmp_path):
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Lambda(lambda t: t / 255.0)(x)  # code that loading would run
    model = keras.Model(inputs, keras.layers.Dense(10)(x), name="with_code")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    path = tmp_path / "with_code.keras"
    model.save(path)
    return path


def test_load_refuses_a_lambda_layer_unless_trusted(lambda_file):
    with pytest.raises(zoo.ZooError) as err:
        zoo.train.load(lambda_file)
    message = str(err.value)
    assert str(lambda_file) in message and "Lambda layer" in message
    assert "safe_mode=False" in message and "--trust-code" in message
    model = zoo.train.load(lambda_file, safe_mode=False)
    x = np.full((2, 28, 28, 1), 255, dtype=np.uint8)
    assert model.predict(x, verbose=0).shape == (2, 10)


def test_cli_evaluate_refuses_it_in_one_line_and_trust_code_opts_in(lambda_file, capsys):
    code, _, err = run_cli("--evaluate", str(lambda_file), "--dataset", "mnist", "--synthetic",
                           "--steps", "1", capsys=capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Lambda layer" in err
    code, out, err = run_cli("--evaluate", str(lambda_file), "--dataset", "mnist", "--synthetic",
                             "--steps", "1", "--trust-code", capsys=capsys)
    assert code == 0, err
    assert "accuracy" in out
