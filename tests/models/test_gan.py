"""DCGAN specifics: both networks train, generate() draws images, optimizer state survives saving."""

from __future__ import annotations

import keras
import numpy as np

import zoo


def test_dcgan_fit_updates_both_networks_and_saves_both_optimizers(tmp_path):
    model = zoo.get("dcgan")
    g_before = [w.numpy().copy() for w in model.generator.trainable_weights]
    d_before = [w.numpy().copy() for w in model.discriminator.trainable_weights]
    real = np.random.default_rng(0).integers(0, 256, (8, 28, 28, 1), dtype=np.uint8)
    history = model.fit(real, batch_size=4, epochs=1, verbose=0)
    assert set(history.history) == {"d_loss", "g_loss"}
    changed = lambda before, after: any(  # noqa: E731
        not np.allclose(b, a.numpy()) for b, a in zip(before, after, strict=True))
    assert changed(g_before, model.generator.trainable_weights)
    assert changed(d_before, model.discriminator.trainable_weights)
    assert int(model.optimizer.iterations) == 2 and int(model.g_optimizer.iterations) == 2

    model.save(tmp_path / "gan.keras")
    loaded = keras.saving.load_model(tmp_path / "gan.keras")
    assert int(loaded.optimizer.iterations) == 2 and int(loaded.g_optimizer.iterations) == 2
    for saved, restored in zip(model.g_optimizer.variables, loaded.g_optimizer.variables,
                               strict=True):
        np.testing.assert_allclose(restored.numpy(), saved.numpy())
    loaded.fit(real, batch_size=4, epochs=1, verbose=0)  # training resumes after loading


def test_generate_returns_images_in_pixel_range():
    images = keras.ops.convert_to_numpy(zoo.get("dcgan", compile=False).generate(5, seed=1))
    assert images.shape == (5, 28, 28, 1)
    assert images.min() >= 0 and images.max() <= 255
