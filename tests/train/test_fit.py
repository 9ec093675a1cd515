"""`zoo.train.fit`: the run folder it writes, reproducibility, evaluation, divergence, locking."""

from __future__ import annotations

import errno
import json
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

import zoo
from tests.train.conftest import run_cli
from zoo.train import callbacks, core, plots, runs


def small_fit(run_dir, model="mnist_mlp", **kwargs):
    args = dict(epochs=2, steps=3, batch_size=16, run_dir=run_dir, source="synthetic", verbose=0)
    return zoo.train.fit(model, **{**args, **kwargs})


def test_run_folder_holds_everything(tmp_path):
    result = small_fit(tmp_path / "run")
    run = result.run_dir
    for name in ("config.json", "state.json", "history.csv", "metrics.json", "last.keras",
                 "best.keras", "curves.png"):
        assert (run / name).is_file(), name
    assert any((run / "tensorboard").rglob("events.out.tfevents*"))
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == "mnist_mlp" and config["dataset"] == "mnist"
    assert config["recipe"]["epochs"] == 2 and config["recipe"]["batch_size"] == 16
    assert config["recipe"]["optimizer"] == "rmsprop"  # the card's, not overridden
    assert config["seed"] == 0 and config["top_k"] == [5]
    env = config["environment"]
    assert env["device"]["backend"] == keras.backend.backend() and env["versions"]["keras"]
    assert env["versions"]["tensorflow"] and env["device"]["cores"] >= 1
    assert env["versions"][keras.backend.backend()]  # jax or torch: the backend's own version
    lines = (run / "history.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,accuracy,learning_rate,loss,top5_accuracy,val_accuracy")
    assert len(lines) == 3
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["test"]) == {"loss", "accuracy", "top5_accuracy"}
    assert metrics["examples"] == 3 * 16  # the examples --steps 3 tested, at batch 16
    assert result.test_metrics == metrics["test"]
    assert result.history["loss"] and len(result.history["val_accuracy"]) == 2
    assert result.last_checkpoint == run / "last.keras"
    assert list((run / "checkpoints").iterdir()) == [run / "checkpoints" / "epoch-0002.keras"]
    assert not list(run.rglob("*.partial*")) and not list(run.rglob("*.tmp"))


def test_same_seed_same_run_and_several_top_k(tmp_path):
    a = small_fit(tmp_path / "a", top_k=(2, 5))
    b = small_fit(tmp_path / "b", top_k=(2, 5))
    assert a.history == b.history and a.test_metrics == b.test_metrics
    assert {"top2_accuracy", "top5_accuracy"} <= set(a.test_metrics)
    c = small_fit(tmp_path / "c", seed=1)
    assert c.history["loss"] != a.history["loss"]


def test_cosine_schedule_anneals_the_logged_learning_rate(tmp_path):
    rates = small_fit(tmp_path / "run", epochs=3).history["learning_rate"]
    assert rates[0] > rates[1] > rates[2] >= 0


def test_evaluate_matches_the_saved_metrics(tmp_path, capsys):
    result = small_fit(tmp_path / "run", steps=None, epochs=1)
    again = zoo.train.evaluate(result.run_dir, source="synthetic")
    assert again == pytest.approx(result.test_metrics, rel=1e-5)
    assert zoo.train.evaluate(result.run_dir / "best.keras", source="synthetic") == \
        pytest.approx(result.test_metrics, rel=1e-5)
    model = zoo.train.load(result.run_dir)
    assert isinstance(model, keras.Model) and model.name == "mnist_mlp"


def test_a_users_own_model(tmp_path):
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Rescaling(1 / 255)(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(10)(x), name="mine")
    result = zoo.train.fit(model, "fashion_mnist", epochs=1, steps=2, run_dir=tmp_path / "r",
                           source="synthetic", verbose=0)
    assert result.config["model"] == "mine" and "accuracy" in result.test_metrics
    with pytest.raises(zoo.ZooError, match="needs a dataset"):
        zoo.train.fit(model)


def model_with_code(seed: int) -> keras.Model:
    """A model of the user's own whose file Keras safe mode refuses to load: a Lambda layer."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Lambda(lambda t: t / 255.0)(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Dense(10)(x), name="with_code")


def test_a_users_model_with_code_in_it_is_tested_and_resumed(tmp_path):
    """The final test and a resume put the checkpoint's weights into the model in memory: they
    once reloaded its file in safe mode, so such a run trained every epoch and then failed."""
    run = tmp_path / "run"
    with pytest.raises(RuntimeError, match="died after epoch 1"):
        small_fit(run, model=model_with_code(0), dataset="mnist",
                  callbacks=[StopAfterFirstEpoch()])
    with pytest.raises(zoo.ZooError, match=r"pass your model again .*resume=True"):
        zoo.train.fit(run_dir=run, resume=True, verbose=0)
    saved = keras.saving.load_model(run / "last.keras", safe_mode=False)
    result = zoo.train.fit(model_with_code(1), run_dir=run, resume=True, verbose=0)
    assert len(result.history["loss"]) == 2 and np.isfinite(result.test_metrics["loss"])
    assert json.loads((run / "metrics.json").read_text())["test"] == result.test_metrics
    uninterrupted = small_fit(tmp_path / "again", model=model_with_code(0), dataset="mnist")
    assert result.test_metrics == pytest.approx(uninterrupted.test_metrics, rel=1e-5, abs=1e-6)
    assert int(saved.optimizer.iterations) == 3  # the state resumed from: epoch 1's 3 steps
    other = model_with_code(2)  # compiled now, where the run's was compiled by the zoo
    other.compile(keras.optimizers.SGD(momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(zoo.ZooError, match="weights or optimizer do not fit the model given"):
        zoo.train.fit(other, run_dir=run, resume=True, verbose=0)  # not a silent restart
    with pytest.raises(zoo.ZooError, match="do not fit the model given"):
        inputs = keras.Input((28, 28, 1))
        wrong = keras.Model(inputs, keras.layers.Dense(7)(keras.layers.Flatten()(inputs)))
        core._restore_weights(wrong, run / "last.keras")


def test_options_adapt_a_registered_model(tmp_path):
    result = small_fit(tmp_path / "r", model="resnet20", options={"widths": (4, 8, 8)}, epochs=1,
                       steps=1)
    assert zoo.train.load(result.run_dir).count_params() < 10_000


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"model": "resnet99"}, r"unknown model 'resnet99' \(did you mean"),
    ({"epochs": -1}, "epochs must be >= 1"),
    ({"batch_size": 0}, "batch_size must be >= 1"),
    ({"learning_rate": float("nan")}, "learning_rate must be a finite number"),
    ({"optimizer": "adagrad"}, "unknown optimizer 'adagrad'"),
    ({"validation": -0.1}, r"validation must be a finite number in \[0, 1\)"),
    ({"dataset": "cifar10"}, r"mnist_mlp takes inputs of shape \(28, 28, 1\) but cifar10 has "
                             r"\(32, 32, 3\); datasets of that shape: mnist, fashion_mnist"),
    ({"model": "vgg13", "dataset": "cifar10"}, r"vgg13 outputs 100 classes but cifar10 has 10: "
                                               r"pass options=\{'num_classes': 10\}"),
    ({"model": "imdb_lstm", "dataset": "mnist"}, r"takes inputs of shape \(400,\)"),
    ({"dataset": "imdb"}, "mnist_mlp is not a text model"),
    ({"top_k": 5}, "top_k must be a list"),
    ({"top_k": [0]}, "top_k must be >= 1"),
    ({"steps": 0}, "steps must be >= 1"),
    ({"seed": -2}, "seed must be between 0 and"),
    ({"jit_compile": "yes"}, "jit_compile must be"),
    ({"options": {"hidden": ()}}, "hidden must not be empty"),
    ({"options": {"widht": 3}}, r"unknown option\(s\) 'widht'"),
    ({"verbose": 5}, r"verbose must be between 0 and 2"),
])
def test_bad_arguments_raise_before_anything_is_written(tmp_path, kwargs, message):
    with pytest.raises(zoo.ZooError, match=message):
        small_fit(tmp_path / "run", **kwargs)
    assert not (tmp_path / "run" / "config.json").exists()


def test_resume_takes_the_aliases_of_the_runs_model_and_dataset(tmp_path):
    """Retyping the first command with resume=True works when it named them by an alias."""
    small_fit(tmp_path / "run", model="mlp", dataset="mnist", epochs=1)
    again = zoo.train.fit("mlp", "mnist", run_dir=tmp_path / "run", resume=True, verbose=0)
    assert again.config["model"] == "mnist_mlp"
    small_fit(tmp_path / "fashion", model="fashion_mlp", dataset="fashion-mnist", epochs=1)
    zoo.train.fit("fashion_mlp", "fashion-mnist", run_dir=tmp_path / "fashion", resume=True,
                  verbose=0)
    with pytest.raises(zoo.ZooError, match="cannot resume with dataset='fashion_mnist'"):
        zoo.train.fit("mlp", "fashion", run_dir=tmp_path / "run", resume=True)


def test_an_existing_run_folder_needs_resume(tmp_path):
    small_fit(tmp_path / "run", epochs=1)
    with pytest.raises(zoo.ZooError, match="already holds a run: pass resume=True"):
        small_fit(tmp_path / "run", epochs=1)
    with pytest.raises(zoo.ZooError, match="nothing to resume"):
        zoo.train.fit(run_dir=tmp_path / "other", resume=True)
    with pytest.raises(zoo.ZooError, match=r"cannot resume with epochs=3: the run was started "
                                           r"with epochs=1"):
        zoo.train.fit(run_dir=tmp_path / "run", resume=True, epochs=3)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"seed": 5}, r"cannot resume with seed=5: the run was started with seed=0"),
    ({"validation": 0.2}, r"validation=0.2: the run was started with validation=0.1"),
    ({"top_k": [1, 5]}, r"top_k=\[1, 5\]: the run was started with top_k=\[5\]"),
    ({"mixed_precision": True}, r"mixed_precision=True: the run was started with "
                                r"mixed_precision=False"),
    ({"options": {"dropout": 0.5}}, r"option dropout=0.5: the run was started with "
                                    r"dropout=0.0"),
    ({"source": "synthetic:32"}, r"source='synthetic:32': the run was started with "
                                 r"source='synthetic'"),
    ({"jit_compile": False}, r"jit_compile=False: the run was started with jit_compile=True"),
])
def test_resume_refuses_changed_settings(tmp_path, kwargs, message):
    small_fit(tmp_path / "run", epochs=1)
    with pytest.raises(zoo.ZooError, match=message):
        zoo.train.fit(run_dir=tmp_path / "run", resume=True, **kwargs)


def test_resume_with_a_missing_or_corrupt_checkpoint_is_a_clear_error(tmp_path):
    small_fit(tmp_path / "run", epochs=1)
    small = dict(run_dir=tmp_path / "run", resume=True)
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    checkpoint = tmp_path / "run" / state["checkpoint"]
    saved = checkpoint.read_bytes()
    checkpoint.unlink()  # a new file: last.keras and best.keras are hard links to the old one
    for damaged in (saved[: len(saved) // 2], b"junk"):  # cut short, or not a zip at all
        checkpoint.write_bytes(damaged)
        with pytest.raises(zoo.ZooError, match=r"epoch-0001.keras: not a \.keras model file "
                                               r"\(a \.keras file is a zip archive; this one is "
                                               "damaged"):
            zoo.train.fit(**small)
    checkpoint.unlink()
    with pytest.raises(zoo.ZooError, match=r"cannot resume .*names the checkpoint .*missing"):
        zoo.train.fit(**small)
    checkpoint.write_bytes(saved)
    assert zoo.train.fit(**small).test_metrics["accuracy"] >= 0  # restored: it loads again


def test_a_run_folder_in_use_is_refused(tmp_path):
    small_fit(tmp_path / "run", epochs=1)
    with runs.locked(tmp_path / "run"), pytest.raises(zoo.ZooError, match="is in use by pid"):
        zoo.train.fit(run_dir=tmp_path / "run", resume=True)


@keras.saving.register_keras_serializable(package="zoo_tests")
class NanAfter(keras.layers.Layer):
    """Passes its input through until `steps` training calls have run, then outputs NaN."""

    def __init__(self, steps: int, **kwargs):
        super().__init__(**kwargs)
        self.steps = steps
        self.count = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                     name="count")

    def call(self, x, training=False):
        if training:
            self.count.assign_add(1.0)
        return x + keras.ops.where(self.count > self.steps, np.nan, 0.0)

    def get_config(self):
        return {**super().get_config(), "steps": self.steps}


def test_divergence_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path):
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Dense(10)(keras.layers.Rescaling(1 / 255)(keras.layers.Flatten()(inputs)))
    model = keras.Model(inputs, NanAfter(4)(x), name="unstable")
    with pytest.raises(zoo.train.TrainingDiverged) as err:
        zoo.train.fit(model, "mnist", epochs=4, steps=3, run_dir=tmp_path / "r",
                      source="synthetic", verbose=0)
    message = str(err.value)
    assert "the loss became NaN or infinite at epoch 3, batch 1" in message
    assert "last good checkpoint is" in message and "epoch-0002.keras (epoch 2)" in message
    assert "from that checkpoint (init_from=..., --init-from)" in message
    state = json.loads((tmp_path / "r" / "state.json").read_text())
    assert state["epochs_done"] == 2
    good = keras.saving.load_model(tmp_path / "r" / "last.keras")
    assert all(np.isfinite(w).all() for w in good.get_weights())


def test_a_learning_rate_that_blows_up_stops_with_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = run_cli("mnist_mlp", "--learning-rate", "1e30", "--epochs", "2", "--steps",
                           "5", "--synthetic", "--run-dir", str(run), capsys=capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err
    assert "the loss became NaN or infinite at epoch 1, batch 2 (learning rate 1e+30)" in lines[0]
    assert "No epoch finished, so there is no checkpoint. Try a lower learning rate." in lines[0]
    assert not list((run / "checkpoints").glob("*.keras"))
    state = run / "state.json"
    assert not state.exists() or "epochs_done" not in json.loads(state.read_text())


class FirstWeights(keras.callbacks.Callback):
    """The model's weights and optimizer step as training begins."""

    def on_train_begin(self, logs=None):
        self.weights = [w.copy() for w in self.model.get_weights()]
        self.iterations = int(self.model.optimizer.iterations)


def test_a_new_run_starts_from_a_checkpoints_weights_with_a_fresh_optimizer(tmp_path, capsys):
    fresh, warm = FirstWeights(), FirstWeights()
    first = small_fit(tmp_path / "a", epochs=1, callbacks=[fresh])
    trained = keras.saving.load_model(first.last_checkpoint).get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(fresh.weights, trained, strict=True))

    capsys.readouterr()
    small_fit(tmp_path / "b", epochs=1, learning_rate=1e-4, callbacks=[warm],
              init_from=first.last_checkpoint)
    assert all(np.array_equal(a, b) for a, b in zip(warm.weights, trained, strict=True))
    assert warm.iterations == 0  # the optimizer and its schedule start afresh
    where = str(first.last_checkpoint.resolve())
    assert f"weights from {where}" in capsys.readouterr().out
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["init_from"] == where and config["recipe"]["learning_rate"] == 1e-4
    with pytest.raises(zoo.ZooError, match="cannot resume with init_from="):
        small_fit(tmp_path / "b", epochs=1, resume=True,
                  init_from=tmp_path / "a" / "checkpoints" / "epoch-0001.keras")


def test_init_from_refuses_a_checkpoint_that_does_not_fit_before_making_a_run_folder(tmp_path):
    checkpoint = small_fit(tmp_path / "a", epochs=1).last_checkpoint
    (tmp_path / "notes.txt").write_text("not a model")
    (tmp_path / "cut.keras").write_bytes(checkpoint.read_bytes()[:1000])
    for model, options, file, error in (
            ("mnist_mlp", None, tmp_path / "cut.keras", r"cut.keras: not a \.keras model file"),
            ("fashion_mlp", None, checkpoint, "do not fit fashion_mlp"),
            ("mnist_mlp", {"hidden": (512, 64)}, checkpoint, "do not fit mnist_mlp"),
            ("mnist_mlp", None, tmp_path / "missing.keras", "no such file"),
            ("mnist_mlp", None, tmp_path / "notes.txt", "not a .keras or .weights.h5 file")):
        with pytest.raises(zoo.ZooError, match=error):
            small_fit(tmp_path / "b", model=model, options=options, init_from=file)
        assert not (tmp_path / "b").exists()


def test_weights_are_read_from_a_copy_of_the_archives_weights_member(tmp_path, monkeypatch):
    """A `.keras` file's weights are loaded from a plain copy of its weights member (read in the
    archive, every backward seek rereads the member), alike; a compressed member, a file of
    another kind, or a copy that fails (a full temporary folder), is read where it is."""
    def dense(seed):
        keras.utils.set_random_seed(seed)
        return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])

    saved = dense(0)
    saved.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        member = archive.read(runs.WEIGHTS_MEMBER)
    with runs.weights_file(tmp_path / "m.keras") as copy:
        assert copy.name.endswith(".weights.h5") and copy.read_bytes() == member
    assert not copy.parent.exists()  # the copy goes with its folder
    with (zipfile.ZipFile(tmp_path / "m.keras") as source,
          zipfile.ZipFile(tmp_path / "deflated.keras", "w", zipfile.ZIP_DEFLATED) as target):
        for name in source.namelist():
            target.writestr(name, source.read(name))
    saved.save_weights(tmp_path / "m.weights.h5")
    for file in ("m.keras", "deflated.keras", "m.weights.h5"):
        with runs.weights_file(tmp_path / file) as path:
            assert (path == tmp_path / file) is (file != "m.keras"), file
        loaded = core._restore_weights(dense(1), tmp_path / file)
        for a, b in zip(loaded.get_weights(), saved.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)

    def full(source, target, length):  # the temporary folder fills up halfway through the copy
        target.write(source.read(8))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runs.shutil, "copyfileobj", full)
    with runs.weights_file(tmp_path / "m.keras") as path:
        assert path == tmp_path / "m.keras"  # read in the archive, as without the copy
    loaded = core._restore_weights(dense(1), tmp_path / "m.keras")
    for a, b in zip(loaded.get_weights(), saved.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_curves_are_redrawn_at_most_every_so_often_and_whenever_training_stops(tmp_path,
                                                                              monkeypatch):
    drawn = []  # the epochs in each drawing
    draw = plots.curves
    monkeypatch.setattr(plots, "curves", lambda path, history: (drawn.append(len(history)),
                                                                 draw(path, history)))
    monkeypatch.setattr(callbacks.RunRecorder, "CURVES_EVERY_S", 3600.0)  # epochs far quicker
    small_fit(tmp_path / "quick", epochs=3)
    assert drawn == [3]
    with pytest.raises(RuntimeError, match="died after epoch 1"):  # a failure draws too
        small_fit(tmp_path / "died", epochs=3, callbacks=[StopAfterFirstEpoch()])
    assert drawn == [3, 1] and (tmp_path / "died" / "curves.png").is_file()
    # A kill before the drawing leaves no curves (or stale ones); a resumed run draws the epochs
    # it found even if it stops before finishing one of its own, and so does a finished run's.
    (tmp_path / "died" / "curves.png").unlink()
    with pytest.raises(RuntimeError, match="died before its epoch"):
        small_fit(tmp_path / "died", epochs=3, resume=True, callbacks=[DieAtEpochBegin()])
    assert drawn == [3, 1, 1] and (tmp_path / "died" / "curves.png").is_file()
    small_fit(tmp_path / "died", epochs=3, resume=True)
    assert drawn == [3, 1, 1, 3]
    small_fit(tmp_path / "quick", epochs=3, resume=True)  # finished, curves current: not redrawn
    assert drawn == [3, 1, 1, 3]
    (tmp_path / "quick" / "curves.png").unlink()
    small_fit(tmp_path / "quick", epochs=3, resume=True)  # nothing left to train
    assert drawn == [3, 1, 1, 3, 3] and (tmp_path / "quick" / "curves.png").is_file()
    history = json.loads((tmp_path / "quick" / "state.json").read_text())["history"]
    assert plots.drawn_to(tmp_path / "quick" / "curves.png") == 3
    draw(tmp_path / "quick" / "curves.png", history[:2])  # a kill before the last epoch's drawing
    small_fit(tmp_path / "quick", epochs=3, resume=True)
    assert drawn == [3, 1, 1, 3, 3, 3] and plots.drawn_to(tmp_path / "quick" / "curves.png") == 3
    monkeypatch.setattr(callbacks.RunRecorder, "CURVES_EVERY_S", 0.0)
    small_fit(tmp_path / "slow", epochs=3)
    assert drawn == [3, 1, 1, 3, 3, 3, 1, 2, 3]
    calls = []  # the drawing after the last epoch fails once: tried again when training stops
    monkeypatch.setattr(plots, "curves", lambda path, history: (
        calls.append(len(history)), 1 / 0 if len(calls) == 3 else draw(path, history)))
    with pytest.warns(UserWarning, match=r"could not draw .*curves.png: ZeroDivisionError"):
        small_fit(tmp_path / "retried", epochs=3)
    assert calls == [1, 2, 3, 3] and plots.drawn_to(tmp_path / "retried" / "curves.png") == 3
    monkeypatch.setattr(callbacks.RunRecorder, "CURVES_EVERY_S", 3600.0)
    monkeypatch.setattr(plots, "curves", lambda path, history: 1 / 0)  # a failure is a warning
    with pytest.raises(RuntimeError, match="died after epoch 1"), pytest.warns(  # when it dies
            UserWarning, match=r"could not draw .*curves.png: ZeroDivisionError: division by"):
        small_fit(tmp_path / "died again", epochs=3, callbacks=[StopAfterFirstEpoch()])
    monkeypatch.setattr(callbacks.RunRecorder, "CURVES_EVERY_S", 0.0)
    with pytest.warns(UserWarning, match=r"could not draw .*curves.png: ZeroDivisionError"):
        result = small_fit(tmp_path / "undrawn", epochs=3)  # drawing fails after every epoch
    assert len(result.history["loss"]) == 3 and result.test_metrics
    (tmp_path / "undrawn" / "metrics.json").unlink()
    with pytest.warns(UserWarning, match=r"could not draw .*curves.png: ZeroDivisionError"):
        result = small_fit(tmp_path / "undrawn", epochs=3, resume=True)  # finished: tested anyway
    assert set(result.test_metrics) >= {"accuracy", "loss"}
    assert (tmp_path / "undrawn" / "metrics.json").is_file()
    monkeypatch.setattr(plots, "curves", draw)
    small_fit(tmp_path / "undrawn", epochs=3, resume=True)
    assert (tmp_path / "undrawn" / "curves.png").is_file()


class StopAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise RuntimeError("the job died after epoch 1")


class DieAtEpochBegin(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        raise RuntimeError(f"the job died before its epoch {epoch + 1}")


def test_resume_refuses_data_that_changed_since_the_run_started(tmp_path):
    from tests.data import writers

    writers.write_npz(tmp_path / "mnist.npz", writers.mnist_like(40, 10))
    args = dict(epochs=2, batch_size=8, data_dir=tmp_path, run_dir=tmp_path / "run", verbose=0)
    with pytest.raises(RuntimeError, match="died after epoch 1"):
        zoo.train.fit("mnist_mlp", callbacks=[StopAfterFirstEpoch()], **args)
    writers.write_npz(tmp_path / "mnist.npz", writers.mnist_like(30, 10))  # files replaced
    zoo.data._read.cache_clear()
    with pytest.raises(zoo.ZooError, match=r"its data changed since the run started \(train 36, "
                                           r"validation 4, test 10 then, train 27, validation 3, "
                                           r"test 10 now\)"):
        zoo.train.fit(resume=True, run_dir=tmp_path / "run", verbose=0)


GRID_METRICS = {"reconstruction": {"loss"}, "generation": {"d_loss", "g_loss"},
                "vae": {"loss", "reconstruction_loss", "kl_loss"}}


@pytest.mark.parametrize("name", [n for n in zoo.list_models()
                                  if zoo.card(n).task in ("reconstruction", "generation")])
def test_reconstruction_and_generation_runs_draw_sample_grids(tmp_path, name):
    result = small_fit(tmp_path / name, model=name)
    samples = sorted((result.run_dir / "samples").iterdir())
    assert [p.name for p in samples] == ["epoch-0001.png", "epoch-0002.png"]
    assert samples[0].read_bytes()[:4] == b"\x89PNG"
    expected = GRID_METRICS.get(name, GRID_METRICS[zoo.card(name).task])
    assert set(result.test_metrics) == expected


def test_a_sample_grid_that_fails_to_draw_is_a_warning_and_training_goes_on(tmp_path,
                                                                            monkeypatch):
    save_image, calls = plots.save_image, []

    def full_disk_once(path, images):
        calls.append(path.name)
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        save_image(path, images)

    monkeypatch.setattr(plots, "save_image", full_disk_once)
    with pytest.warns(UserWarning, match=r"could not draw .*epoch-0001.png: OSError: .*No space"):
        result = small_fit(tmp_path / "run", model="autoencoder", epochs=3)
    assert calls == ["epoch-0001.png", "epoch-0002.png", "epoch-0003.png"]
    assert [p.name for p in sorted((result.run_dir / "samples").iterdir())] == [
        "epoch-0002.png", "epoch-0003.png"]
    assert json.loads((result.run_dir / "state.json").read_text())["epochs_done"] == 3
    assert set(result.test_metrics) == GRID_METRICS["reconstruction"]


def test_mixed_precision_keeps_float32_variables_and_logits(tmp_path):
    result = small_fit(tmp_path / "run", mixed_precision=True, epochs=1)
    assert result.config["precision"] == "mixed_bfloat16"  # a CPU
    assert np.isfinite(list(result.test_metrics.values())).all()
    model = zoo.train.load(result.run_dir)
    assert {w.dtype for w in model.weights} == {"float32"}
    assert model.get_layer("logits").compute_dtype == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"  # restored afterwards


@pytest.mark.parametrize("name", ["autoencoder", "conv_autoencoder", "vae", "imdb_gru"])
def test_mixed_precision_trains_autoencoders_and_rnns_with_float32_outputs(tmp_path, name):
    """`--mixed-precision` is the user's to ask for on any model, not only on those whose cards
    set it (of these, conv_autoencoder's): the VAE's sampling once failed there, adding float32
    noise to a bfloat16 mean."""
    result = small_fit(tmp_path / "run", model=name, mixed_precision=True, epochs=1, steps=2,
                       batch_size=4)
    assert result.config["precision"] == "mixed_bfloat16"  # a CPU
    loss = result.history["loss"][-1]
    assert np.isfinite(loss) and loss > 0
    with core.dtype_policy("mixed_bfloat16"):  # the loss is taken on float32 outputs
        assert zoo.get(name).output.dtype == "float32"


@pytest.mark.parametrize(("fast", "given", "expected"), [
    (True, "auto", "mixed_bfloat16"), (False, "auto", "float32"), (True, False, "float32"),
    (False, True, "mixed_bfloat16")])
def test_mixed_precision_auto_is_the_cards_choice_where_16_bits_are_fast(
        tmp_path, monkeypatch, fast, given, expected):
    """resnet20's card asks for mixed precision: it gets it where the machine is fast at 16-bit
    arithmetic (a GPU, a CPU with bfloat16 instructions), unless the call says otherwise; a
    resumed run keeps what it started with."""

    monkeypatch.setattr(core, "fast_16bit", lambda: fast)
    run = tmp_path / "run"
    result = small_fit(run, model="resnet20", mixed_precision=given, epochs=1, steps=1,
                       batch_size=4)
    assert result.config["precision"] == expected
    monkeypatch.setattr(core, "fast_16bit", lambda: not fast)  # resuming elsewhere
    resumed = zoo.train.fit(run_dir=run, resume=True, verbose=0)  # finished: tests again
    assert resumed.config["precision"] == expected
    if given != "auto":
        with pytest.raises(zoo.ZooError, match="cannot resume with mixed_precision"):
            zoo.train.fit(run_dir=run, resume=True, mixed_precision=not given)


def test_mixed_precision_auto_leaves_the_mlps_in_float32(tmp_path, monkeypatch):

    monkeypatch.setattr(core, "fast_16bit", lambda: True)
    assert small_fit(tmp_path / "run", epochs=1).config["precision"] == "float32"


def test_cpu_bf16_flags_are_read_from_cpuinfo():

    head = "processor\t: 0\nmodel name\t: Some CPU\n"
    assert core.cpu_has_bf16(head + "flags\t\t: fpu avx2 amx_bf16 amx_tile\n")
    assert core.cpu_has_bf16(head + "flags\t\t: fpu avx512f avx512_bf16\n")
    assert not core.cpu_has_bf16(head + "flags\t\t: fpu avx2 avx512f amx_int8\n")
    assert not core.cpu_has_bf16(head + "flags\t\t: fpu avx512_bf16x\n")  # whole flags only
    assert not core.cpu_has_bf16(head)  # no flags line (not x86, not Linux)
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():  # no GPU on the test machines: the CPU decides
        assert core.fast_16bit() is core.cpu_has_bf16(cpuinfo.read_text())


def test_the_machine_is_described_by_its_cpu_cores_and_matrix_instructions():
    epyc = ("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512f avx512_bf16\n"
            "vmx flags\t: amx_bf16\n")  # not the CPU's flags: only the "flags" line counts
    assert runs.cpu_field(epyc, "model name") == "AMD EPYC"
    assert runs.matrix_units(epyc) == "AVX-512 BF16"
    assert runs.matrix_units(epyc.replace(" avx512_bf16", "")) == "AVX-512"
    assert runs.matrix_units(epyc.replace(" avx512f avx512_bf16", "")) == "AVX2"
    assert runs.matrix_units(epyc.replace("fpu", "amx_tile amx_bf16")) == "AMX"
    assert runs.matrix_units("processor\t: 0\nFeatures\t: fp asimd\n") is None  # an Arm CPU
    info = {"cpu": "AMD EPYC", "cores": 2, "gpus": []}
    assert runs.describe_hardware(info) == "AMD EPYC (2 cores)"  # as records before the units
    assert runs.describe_hardware({**info, "cpu_units": "AVX2"}) == "AMD EPYC (2 cores, AVX2)"
    assert runs.describe_hardware({**info, "gpus": ["NVIDIA H100"]}) == "NVIDIA H100"
    here, cpuinfo = runs.device(), Path("/proc/cpuinfo")
    if cpuinfo.exists():
        text = cpuinfo.read_text()
        if name := runs.cpu_field(text, "model name"):  # x86 Linux names it; some Arm do not
            assert here["cpu"] == name
        assert here.get("cpu_units") == runs.matrix_units(text)


class _JitSeen(keras.callbacks.Callback):
    """Records `model.jit_compile` as each fit starts; `stop` ends the run after one epoch."""

    def __init__(self, stop: bool = False) -> None:
        super().__init__()
        self.seen, self.stop = [], stop

    def on_train_begin(self, logs=None) -> None:
        self.seen.append(bool(self.model.jit_compile))

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.model.stop_training = self.stop


@pytest.mark.parametrize("jit", ["auto", True])
def test_dropout_trains_without_xla_on_a_cpu_unless_asked_and_resumes_alike(tmp_path, jit):
    import tensorflow as tf

    # JAX always compiles with XLA and PyTorch never does (zoo.recipe.execution_settings)
    expected = {"jax": True, "torch": False}.get(
        keras.backend.backend(), jit is True or bool(tf.config.list_physical_devices("GPU")))
    first, again = _JitSeen(stop=True), _JitSeen()
    small_fit(tmp_path / "run", options={"dropout": 0.2}, jit_compile=jit, callbacks=[first])
    assert json.loads((tmp_path / "run" / "state.json").read_text())["epochs_done"] == 1
    zoo.train.fit(run_dir=tmp_path / "run", resume=True, verbose=0, callbacks=[again])
    assert first.seen == [expected] and again.seen == [expected]


def test_runs_started_in_the_same_second_get_folders_of_their_own(tmp_path, monkeypatch):
    """The name was once only checked, not claimed: two jobs of an array, started together,
    both chose runs/<model>-<time> and the second was refused or pointed at the first's run."""
    monkeypatch.setattr(runs, "utc_stamp", lambda: "20261205-120000")
    first = runs.default_run_dir("mnist_mlp", tmp_path / "runs")
    second = runs.default_run_dir("mnist_mlp", tmp_path / "runs")
    assert first.is_dir() and second.is_dir() and first != second
    assert second.name == "mnist_mlp-20261205-120000-2"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(zoo.ZooError, match="verbose must be between 0 and 2"):
        small_fit(None, verbose=7)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [first.name, second.name]
    result = small_fit(None, epochs=1)  # the default folder, made by its own run
    assert result.run_dir == Path("runs/mnist_mlp-20261205-120000-3")
    assert (result.run_dir / "metrics.json").is_file()


class CtrlCAt(keras.callbacks.Callback):
    """A Ctrl-C that stops at once (a second one) as epoch `epoch` (1-based) begins."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize(("epoch", "kept"), [
    (3, "epochs 1-2 saved in"), (2, "epoch 1 saved in"),
    (1, "interrupted before an epoch finished: python -m zoo.train --resume")])
def test_a_ctrl_c_that_stops_at_once_names_the_run_and_what_it_keeps(tmp_path, capsys, epoch,
                                                                      kept):
    """The command line once said "completed epochs are saved; continue with --resume" without
    naming the folder, even when no epoch had finished."""
    run = tmp_path / "run"
    with pytest.raises(zoo.train.RunAborted) as stop:
        small_fit(run, epochs=3, callbacks=[CtrlCAt(epoch)])
    assert kept in str(stop.value) and str(run) in str(stop.value)
    assert isinstance(stop.value, KeyboardInterrupt)
    if epoch > 1:
        assert str(stop.value).endswith(f"continue with: python -m zoo.train --resume {run}")
        assert len(zoo.train.fit(run_dir=run, resume=True, verbose=0).history["loss"]) == 3


def test_a_ctrl_c_on_the_command_line_is_one_line(monkeypatch, capsys):
    from zoo.train import cli

    def aborted(*args, **kwargs):
        raise zoo.train.RunAborted(Path("runs/x"))

    monkeypatch.setattr(cli, "fit", aborted)
    code, _, err = run_cli("mnist_mlp", capsys=capsys)
    assert code == 130 and err.strip() == ("interrupted before training started: runs/x holds "
                                           "nothing to resume")


def test_settings_a_compiled_model_would_ignore_are_refused(tmp_path):
    inputs = keras.Input((28, 28, 1))
    model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs)))
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(zoo.ZooError, match=r"learning_rate, top_k: .* is compiled already"):
        small_fit(tmp_path / "run", model=model, dataset="mnist", learning_rate=0.1,
                  top_k=(1, 3))
    assert not (tmp_path / "run").exists()
    uncompiled = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs)))
    with pytest.raises(zoo.ZooError, match="top_k must be a list of integers, got 5"):
        small_fit(tmp_path / "run", model=uncompiled, dataset="mnist", top_k=5)
    result = small_fit(tmp_path / "run", model=model, dataset="mnist", epochs=1)
    assert isinstance(model.optimizer, keras.optimizers.SGD) and "loss" in result.test_metrics


def test_the_precision_recorded_is_the_one_the_run_computes_in(tmp_path):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")  # an application's own choice
    try:
        small_fit(tmp_path / "run", epochs=1, mixed_precision=False)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["precision"] == \
        "mixed_bfloat16"


def test_a_capped_evaluate_tests_the_examples_the_runs_own_capped_test_did(tmp_path):
    from tests.data import writers

    writers.write_npz(tmp_path / "mnist.npz", writers.mnist_like(60, 200))
    run = small_fit(tmp_path / "run", epochs=1, steps=2, seed=1, data_dir=tmp_path,
                    source="auto").run_dir
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["examples"] == 32  # of 200
    again = zoo.train.evaluate(run, data_dir=tmp_path, batch_size=16, steps=2)
    assert again["loss"] == pytest.approx(saved["test"]["loss"], rel=1e-5)
