"""Every registered model builds, runs, has its card's size, trains a step, and round-trips a .keras file.

The tests walk the registry, so a newly registered model is tested with no new code.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import zoo
from tests.conftest import random_batch

MODELS = zoo.list_models()


def test_every_family_is_registered():
    families = {zoo.card(name).family for name in MODELS}
    assert families == {"mlp", "vgg", "resnet", "autoencoder", "rnn", "gan"}
    assert {"mnist_mlp", "fashion_mlp", "vgg13", "vgg13_bn", "resnet18", "resnet34", "resnet20",
            "resnet56", "autoencoder", "conv_autoencoder", "vae", "imdb_lstm", "imdb_gru",
            "imdb_rnn", "dcgan"} <= set(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_model_builds_runs_and_matches_its_card(name):
    card = zoo.card(name)
    model = zoo.get(name, compile=False)
    assert model.count_params() == card.params
    assert model.input_shape == (None, *card.input_shape)
    assert model.output_shape == (None, *card.output_shape)
    x = random_batch(name)[0] if card.task != "generation" else np.random.normal(
        size=(4, *card.input_shape)).astype("float32")
    out = keras.ops.convert_to_numpy(model(x, training=False))
    assert out.shape == (4, *card.output_shape)
    assert np.isfinite(out).all()
    if card.task in ("reconstruction",):
        assert out.min() >= 0.0 and out.max() <= 1.0
    if card.task == "generation":
        assert out.min() >= 0.0 and out.max() <= 255.0


@pytest.mark.parametrize("name", MODELS)
def test_model_trains_and_round_trips_through_a_keras_file(name, tmp_path):
    card = zoo.card(name)
    model = zoo.get(name)
    x, y = random_batch(name, n=8)
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert history.history, "fit logged nothing"
    for key, values in history.history.items():
        assert np.isfinite(values).all(), f"{key} is not finite: {values}"
    if card.task == "generation":
        probe = np.random.default_rng(1).normal(size=(3, *card.input_shape)).astype("float32")
    else:
        probe = x[:3]
    before = model.predict(probe, verbose=0)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # safe_mode=True, no custom_objects
    assert type(loaded) is type(model)
    np.testing.assert_allclose(loaded.predict(probe, verbose=0), before, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_card_is_complete(name):
    card = zoo.card(name)
    assert card.name == name
    assert card.description and card.output and card.recipe.notes
    assert card.params > 0
    assert all(d > 0 for d in card.input_shape + card.output_shape)
    if card.reference is not None:
        assert card.reference.source
        assert all(0 < v < 1 for v in card.reference.metrics.values())


CLASSIFIERS = [n for n in MODELS if zoo.card(n).task.endswith("classification")]
IMAGE_MODELS = [n for n in MODELS if zoo.card(n).input_dtype == "uint8"]


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classifiers_output_logits(name):
    """The last layer is linear (no ReLU or softmax head), so outputs take either sign."""
    model = zoo.get(name, compile=False)
    last = model.layers[-1]
    assert getattr(last, "activation", keras.activations.linear) is keras.activations.linear, last
    x = np.concatenate([random_batch(name, 16, np.random.default_rng(i))[0] for i in range(4)])
    out = keras.ops.convert_to_numpy(model(x, training=False))
    assert (out < 0).any(), f"{name}: no negative output in 64 examples"


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_image_models_take_raw_pixels_as_uint8_or_float(name):
    """Raw 0-255 pixels are rescaled inside the model, whatever their dtype."""
    model = zoo.get(name, compile=False)
    x = random_batch(name)[0] if zoo.card(name).task != "generation" else None
    if x is None:
        pytest.skip("the DCGAN's input is a latent vector")
    as_uint8 = keras.ops.convert_to_numpy(model(x, training=False))
    as_float = keras.ops.convert_to_numpy(model(x.astype("float32"), training=False))
    np.testing.assert_allclose(as_float, as_uint8, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("family", "pools"), [("resnet", 0), ("vgg", 5)])
def test_pooling_layers(family, pools):
    """CIFAR ResNets keep 32x32 after the stem (no max-pool); VGG13 pools after each of 5 units."""
    for name in zoo.list_models(f"{family}*"):
        layers = zoo.get(name, compile=False)._flatten_layers()
        found = sum(isinstance(layer, keras.layers.MaxPooling2D) for layer in layers)
        assert found == pools, (name, found)
