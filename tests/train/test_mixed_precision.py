"""Mixed float16 (what `--mixed-precision` picks on a GPU) keeps its loss scale: the optimizers
are wrapped in Keras' LossScaleOptimizer, the GAN's own steps scale their losses (so the
unscaled gradients are the float32 ones), and checkpoints keep the scale for resuming.

Float16 runs on the CPU too (slowly), which is how these tests exercise the GPU's policy here.
"""

from __future__ import annotations

import contextlib
import json

import keras
import numpy as np
import pytest

import zoo
from zoo.train import core


@pytest.fixture
def float16(monkeypatch):
    monkeypatch.setattr(core, "mixed_policy", lambda: "mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


def _jax_eager():
    """On JAX, ops run one by one in here: the loss-scale optimizer's `cond` then calls its
    branch with the gradients themselves rather than tracing it."""
    if keras.backend.backend() != "jax":
        return contextlib.nullcontext()
    import jax

    return jax.disable_jit()


def _gan_gradients(policy: str) -> list[float]:
    """Gradient norms the discriminator's and generator's optimizers receive in one step."""
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = zoo.get("dcgan")
        norms = []
        for optimizer in (model.optimizer, model.g_optimizer):
            inner = getattr(optimizer, "inner_optimizer", optimizer)
            apply = inner.apply

            def spy(grads, trainable_variables=None, _apply=apply):
                norms.append(float(np.sqrt(sum(np.sum(np.square(
                    keras.ops.convert_to_numpy(g).astype("float64"))) for g in grads))))
                return _apply(grads, trainable_variables)

            inner.apply = spy
        real = np.random.default_rng(0).integers(0, 256, (16, 28, 28, 1), dtype=np.uint8)
        model.run_eagerly = True  # so the spy sees numbers, not a compiled step's placeholders
        with _jax_eager():
            model.fit(real, batch_size=16, epochs=1, verbose=0, shuffle=False)
        return norms
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_gan_steps_scale_their_losses_under_float16():
    full, half = _gan_gradients("float32"), _gan_gradients("mixed_float16")
    assert len(full) == len(half) == 2 and all(n > 0 for n in full)
    # Unscaled float16 gradients match float32's; without scale_loss they came out 2**15 smaller.
    np.testing.assert_allclose(half, full, rtol=0.1)


def test_float16_runs_keep_the_loss_scale_in_their_checkpoints(tmp_path, float16):
    result = zoo.train.fit("mnist_mlp", epochs=1, steps=3, batch_size=16, source="synthetic",
                           mixed_precision=True, run_dir=tmp_path / "run", verbose=0)
    config = json.loads((result.run_dir / "config.json").read_text())
    assert config["precision"] == "mixed_float16"
    keras.mixed_precision.set_global_policy("mixed_float16")  # as resuming the run does
    model = zoo.train.load(result.last_checkpoint)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    scale = float(keras.ops.convert_to_numpy(model.optimizer.dynamic_scale))
    assert scale >= 1.0 and np.log2(scale) == int(np.log2(scale))  # a power of two, saved
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 3


def test_a_users_float32_model_is_refused_for_mixed_precision(tmp_path):
    inputs = keras.Input((28, 28, 1))
    model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs)))
    with pytest.raises(zoo.ZooError, match="cannot change a model already built in float32"):
        zoo.train.fit(model, "mnist", mixed_precision=True, run_dir=tmp_path / "run",
                      source="synthetic", verbose=0)
    assert not (tmp_path / "run").exists()
