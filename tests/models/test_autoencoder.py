"""Autoencoder losses: the target is the rescaled input, `fit(x)` equals `fit(x, x)`, the VAE adds KL."""

from __future__ import annotations

import re
import warnings

import keras
import numpy as np
import pytest

import zoo
from zoo.models.layers import warn_unit_floats

IMAGES = np.random.default_rng(0).integers(0, 256, (8, 28, 28, 1), dtype=np.uint8)


def test_autoencoder_loss_is_pixel_binary_crossentropy_against_scaled_input():
    model = zoo.get("autoencoder")
    pred = keras.ops.convert_to_numpy(model(IMAGES))
    target = IMAGES.astype("float64") / 255
    pred = np.clip(pred.astype("float64"), 1e-7, 1 - 1e-7)
    expected = -np.mean(target * np.log(pred) + (1 - target) * np.log(1 - pred))
    assert model.evaluate(IMAGES, verbose=0, batch_size=8) == pytest.approx(expected, rel=1e-4)
    assert model.evaluate(IMAGES, IMAGES, verbose=0, batch_size=8) == pytest.approx(
        expected, rel=1e-4)


@pytest.mark.parametrize("name", ["autoencoder", "conv_autoencoder", "vae"])
def test_fit_with_and_without_targets_agree_and_labels_are_ignored(name):
    losses = []
    labels = np.arange(len(IMAGES)) % 10
    for args in ((IMAGES,), (IMAGES, IMAGES), (IMAGES, labels)):
        keras.utils.set_random_seed(0)
        model = zoo.get(name)
        losses.append(model.fit(*args, batch_size=4, epochs=1, verbose=0, shuffle=False)
                      .history["loss"][0])
    assert losses[0] == pytest.approx(losses[1], rel=1e-5) == losses[2]


def test_vae_loss_is_reconstruction_plus_kl_and_it_samples():
    model = zoo.get("vae")
    logs = model.evaluate(IMAGES, batch_size=8, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "reconstruction_loss", "kl_loss"}
    assert logs["kl_loss"] >= 0
    assert logs["loss"] == pytest.approx(logs["reconstruction_loss"] + logs["kl_loss"], rel=1e-5)
    samples = keras.ops.convert_to_numpy(model.sample(3, seed=0))
    assert samples.shape == (3, 28, 28, 1) and samples.min() >= 0 and samples.max() <= 1


def test_a_denoising_target_is_used_when_given():
    model = zoo.get("autoencoder")
    clean = np.zeros_like(IMAGES)
    assert model.evaluate(IMAGES, clean, verbose=0) != pytest.approx(
        model.evaluate(IMAGES, IMAGES, verbose=0))


@pytest.mark.parametrize("name", ["autoencoder", "vae", "dcgan"])
def test_images_already_scaled_to_unit_floats_are_warned_about(name):
    """These models rescale 0-255 pixels inside: [0, 1] floats reach them nearly black, and an
    autoencoder then learns to output black at a tiny loss, with nothing said."""
    model = zoo.get(name)
    scaled = IMAGES.astype("float32") / 255
    warned = rf"{name} takes raw pixels \(0-255\) .* floats within \[0, 1\]"
    for kwargs in ({"validation_split": 0.5}, {"validation_data": (scaled,)}):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(IMAGES if "validation_data" in kwargs else scaled, batch_size=4, epochs=2,
                      verbose=0, **kwargs)
        caught = [w for w in caught if "raw pixels" in str(w.message)]
        assert len(caught) == 1 and re.search(warned, str(caught[0].message))
        assert caught[0].filename == __file__  # the user's call, not Keras' validation pass
    with pytest.warns(UserWarning, match=warned):
        model.evaluate(keras.ops.convert_to_tensor(scaled), batch_size=8, verbose=0)
    if name != "dcgan":  # its predict takes latent vectors
        with pytest.warns(UserWarning, match=warned):
            model.predict(scaled, verbose=0)
    with pytest.warns(UserWarning, match=r"floats within \[-1, 1\]"):  # scaled as GANs scale
        warn_unit_floats(name, scaled * 2 - 1)  # (PyTorch's loss refuses the negative targets)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # pixels as uint8 or floats, and black float pixels
        for images in (IMAGES, IMAGES.astype("float32"), np.zeros_like(scaled)):
            model.evaluate(images, batch_size=8, verbose=0)
    assert not [w for w in caught if "raw pixels" in str(w.message)]
