"""`python -m zoo.bench` in a tiny mode: well-formed results, FLOP counts, the tutorial script.

No timing is asserted: the machines are shared and noisy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json

import keras
import numpy as np
import pytest

import zoo
from tests.data import writers
from zoo.bench import ceiling, cli, flops, gap, loops, machine, recipes, settings, tutorial
from zoo.recipe import compile_model
from zoo.train import chunks

pytestmark = pytest.mark.slow  # the full tier: python -m pytest --full


def test_benchmark_tiny_run_writes_json_and_markdown(tmp_path, capsys):
    out_json, out_md = tmp_path / "r.json", tmp_path / "r.md"
    assert cli.main(["mnist_mlp", "--seconds", "0.4", "--windows", "2", "--no-loaders",
                     "--no-end-to-end", "--json", str(out_json), "--markdown", str(out_md)]) == 0
    report = json.loads(out_json.read_text())
    assert report["peak_gflops"] > 0 and report["machine"]["cores"] >= 1
    assert report["machine"]["versions"]["keras"]
    (row,) = report["models"]
    assert row["model"] == "mnist_mlp" and row["batch_size"] == 128
    assert set(row["samples_per_s"]) == {"tutorial", "keras", "zoo"}
    assert all(v > 0 for v in row["samples_per_s"].values())
    assert row["zoo_over_keras"] > 0 and row["share_of_peak"] > 0
    assert row["precision"] == "float32" and report["peak_gflops_by_dtype"] == {
        "float32": report["peak_gflops"]}
    assert row["train_mflops_per_sample"] == pytest.approx(  # no input gradient for layer 1
        (2 * 2 * 784 * 512 + 3 * 2 * 512 * 10) / 1e6, abs=1e-3)
    text = out_md.read_text()
    assert "| model | batch | (a) tutorial loop | (b) plain Keras | (c) zoo |" in text
    assert "| mnist_mlp | 128 |" in text and text in capsys.readouterr().out


def test_benchmark_steps_fixes_the_window(tmp_path):
    """--steps sets every window's steps (a quick check of the command, as the docs tests do)."""
    out_json = tmp_path / "r.json"
    assert cli.main(["mnist_mlp", "--steps", "3", "--batch-size", "16", "--windows", "2",
                     "--no-loaders", "--no-end-to-end", "--json", str(out_json),
                     "--markdown", str(tmp_path / "r.md")]) == 0
    (row,) = json.loads(out_json.read_text())["models"]
    assert row["steps_per_window"] == 3 and row["batch_size"] == 16
    assert all(v > 0 for v in row["samples_per_s"].values())


def test_the_three_ways_take_turns_and_ratios_are_within_a_round(monkeypatch):
    """Each round: a `zoo.train.fit` call of its own (warm-up and one timed epoch), then one
    window of (a) and of (b) in alternating order, so a slow minute falls on all three; c/b is
    the median of the same round's ratios."""
    log = []
    times = {"tutorial": iter([9.0, 10.0, 20.0, 10.0]), "keras": iter([9.0, 2.0, 4.0, 2.0]),
             "zoo": iter([1.0, 2.0, 1.0])}  # round 2: the machine at half speed for all three

    def way(name):
        def make(*args):
            def epoch():
                log.append(name)
                return next(times[name])
            return epoch
        return make

    def zoo_fit(name, samples, batch, windows):
        assert windows == 1
        log.append("zoo")
        return [5.0, next(times["zoo"])]

    monkeypatch.setattr(loops, "tutorial", way("tutorial"))
    monkeypatch.setattr(loops, "plain_keras", way("keras"))
    monkeypatch.setattr(loops, "zoo_fit", zoo_fit)
    seconds = cli.interleaved("mnist_mlp", None, None, 128, 1280, 3)
    assert log == ["tutorial", "keras", "zoo", "keras", "tutorial", "zoo", "tutorial", "keras",
                   "zoo", "keras", "tutorial"]
    assert seconds == {"tutorial": [10.0, 20.0, 10.0], "keras": [2.0, 4.0, 2.0],
                       "zoo": [1.0, 2.0, 1.0]}
    assert cli.same_round_ratio(seconds, "keras") == 2.0
    assert cli.same_round_ratio(seconds, "tutorial") == 10.0


def test_steady_rate_leaves_out_the_epoch_start():
    """The window's steps come from the time between steps' ends: an epoch's first step, which
    also pays for the epoch's start, does not count (it made 28-step windows of a 1 s target)."""
    marks = [(0.0, 0), (2.0, 32), (2.1, 64), (2.2, 96), (2.25, 112)]  # last step: 16 batches
    assert loops.steady_seconds_per_batch(marks) == pytest.approx(0.1 / 32)
    with pytest.raises(ValueError, match="three marks"):
        loops.steady_seconds_per_batch(marks[:2])


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="chunks: TensorFlow only")
def test_batch_clock_counts_the_batches_of_chunked_steps():
    """On an XLA model with 4 steps per execution, trained in chunks, each mark is a chunk's
    end and counts its batches: the last one is the epoch's."""
    card = zoo.card("mnist_mlp")
    recipe = dataclasses.replace(card.recipe, steps_per_execution=4, jit_compile=True)
    model = compile_model(zoo.get("mnist_mlp", compile=False), card.task, recipe,
                          steps_per_epoch=11)
    x = np.random.default_rng(0).integers(0, 256, (8 * 10 + 5, 28, 28, 1), dtype=np.uint8)
    y = np.arange(len(x)) % 10
    clock = loops.BatchClock()
    loops.train(model, x, y, 8, 2, clock)
    assert [b for _, b in clock.marks] == [0, 4, 8, 10, 11]  # chunks of 4, 4, 2, then 5 alone
    seconds = [t for t, _ in clock.marks]
    assert seconds == sorted(seconds) and seconds[0] == 0.0


def test_benchmark_per_backend(tmp_path, capsys):
    """--backends measures the zoo on each backend in its own process; a missing one says so."""
    out_json, out_md = tmp_path / "r.json", tmp_path / "r.md"
    assert cli.main(["mnist_mlp", "--seconds", "0.4", "--windows", "2", "--no-loaders",
                     "--no-end-to-end", "--backends", "tensorflow", "jax", "torch",
                     "--json", str(out_json), "--markdown", str(out_md)]) == 0
    report = json.loads(out_json.read_text())
    by_backend = report["backends"]
    assert list(by_backend) == ["tensorflow", "jax", "torch"]
    assert by_backend["tensorflow"]["mnist_mlp"] == report["models"][0]["samples_per_s"]["zoo"]
    for backend in ("jax", "torch"):
        result = by_backend[backend]
        if importlib.util.find_spec(backend) is None:
            assert "is not installed" in result["error"]
        else:
            assert result["mnist_mlp"] > 0, result
    text = out_md.read_text()
    assert "| model | tensorflow samples/s | jax samples/s | torch samples/s |" in text


def test_benchmark_refuses_bad_options(capsys):
    assert cli.main(["resnet99", "--no-loaders", "--no-end-to-end"]) == 2
    assert "unknown model 'resnet99'" in capsys.readouterr().err
    assert cli.main(["mnist_mlp", "--windows", "1"]) == 2


def test_flops_follow_the_layer_formulas():
    assert flops.forward_flops(zoo.get("fashion_mlp", compile=False)) == 2 * (
        784 * 256 + 256 * 128 + 128 * 64 + 64 * 32 + 32 * 10)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = keras.layers.Conv2DTranspose(2, 3, strides=2, padding="same")(x)
    assert flops.forward_flops(keras.Model(inputs, x)) == 2 * 9 * 3 * 4 * 64 + 2 * 9 * 4 * 2 * 64
    lstm = zoo.get("imdb_lstm", compile=False)
    per_step = 4 * 2 * ((128 + 64) * 64 + (64 + 64) * 64)
    assert flops.forward_flops(lstm) == zoo.data.text.SEQUENCE_LENGTH * per_step + 2 * 64
    vae = zoo.get("vae", compile=False)
    assert flops.training_flops(vae) == flops.backward_flops(vae) + flops.backward_flops(
        vae.encoder)
    gan = zoo.get("dcgan", compile=False)
    g, d = flops.forward_flops(gan.generator), flops.forward_flops(gan.discriminator)
    # no input gradient for the discriminator's stem on images, the generator's on noise
    stem = flops.layer_flops(gan.discriminator.get_layer("conv1"))
    project = flops.layer_flops(gan.generator.get_layer("project"))
    assert stem > 0 and project == 2 * 100 * 7 * 7 * 256
    assert flops.training_flops(gan) == 4 * g + 8 * d - 2 * stem - project


def test_training_flops_skip_the_input_gradient_no_weight_needs():
    """The first matrix layer's input gradient is never computed: 2 forward passes, not 3;
    every layer behind a trainable one (an embedding, a normalisation) costs 3."""
    mlp = zoo.get("mnist_mlp", compile=False)
    assert flops.training_flops(mlp) == 2 * 2 * 784 * 512 + 3 * 2 * 512 * 10
    lstm = zoo.get("imdb_lstm", compile=False)  # behind its embedding: all 3
    assert flops.training_flops(lstm) == 3 * flops.forward_flops(lstm)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Conv2D(4, 3, padding="same")(x)
    branch = keras.layers.Conv2D(4, 3, padding="same")(inputs)  # a second one from the input
    convs = keras.Model(inputs, keras.layers.Add()([x, branch]))
    stem = 2 * 9 * 3 * 4 * 64
    assert flops.backward_flops(convs) == 2 * stem + 3 * 2 * 9 * 4 * 4 * 64 + 2 * stem
    assert flops.backward_flops(convs, input_needs_gradient=True) == 3 * flops.forward_flops(
        convs)
    # a recurrent layer needs its hidden-state gradients even first in line; a frozen layer
    # no weight gradient; a nested Sequential counts as one layer
    series = keras.Input((5, 3))
    rnn = keras.Model(series, keras.layers.SimpleRNN(4)(series))
    assert flops.training_flops(rnn) == 3 * flops.forward_flops(rnn)
    frozen = keras.layers.Dense(4, trainable=False)
    stack = keras.Sequential([keras.layers.Dense(6), keras.layers.Dense(2)])
    inputs = keras.Input((8,))
    model = keras.Model(inputs, stack(keras.layers.Dense(5)(frozen(keras.ops.relu(inputs)))))
    assert flops.training_flops(model) == (1 * 2 * 8 * 4 + 2 * 2 * 4 * 5
                                           + 3 * 2 * (5 * 6 + 6 * 2))


def test_matmul_peak_and_machine_description(monkeypatch):
    assert machine.matmul_peak(seconds=0.2, n=128) > 0
    assert machine.matmul_peak(seconds=0.2, n=128, dtype="bfloat16") > 0
    assert machine.peak_timer("float32", warmup=1)(0.1) > 0  # one window, the faster size
    from zoo.train import core

    monkeypatch.setattr(core, "fast_16bit", lambda: True)
    assert machine.zoo_precision("vgg13_bn") == "bfloat16"  # the card's choice, on a CPU
    assert machine.zoo_precision("mnist_mlp") == "float32"
    monkeypatch.setattr(core, "fast_16bit", lambda: False)
    assert machine.zoo_precision("vgg13_bn") == "float32"
    info = machine.describe()
    assert info["backend"] == "tensorflow" and info["cpu"]


def test_settings_table(capsys):
    assert settings.main(["mnist_mlp", "--jit", "0", "--spe", "2", "--steps", "3",
                          "--precision", "float32", "mixed"]) == 0
    out = capsys.readouterr().out
    assert "| mnist_mlp | False | 2 | float32 |" in out
    assert "| mnist_mlp | False | 2 | mixed_bfloat16 |" in out  # a CPU
    # a builder option reaches the model measured; a bad one exits in one line first
    assert settings.main(["mnist_mlp", "--jit", "1", "--spe", "2", "--steps", "3",
                          "--option", "dropout=0.2"]) == 0
    assert "| mnist_mlp | True | 2 |" in capsys.readouterr().out
    # chunks on and off where they apply (XLA, several steps per execution), once elsewhere
    assert settings.main(["mnist_mlp", "--jit", "0", "1", "--spe", "1", "2", "--steps", "4",
                          "--chunks", "on", "off"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines()
            if line.startswith("| mnist_mlp")]
    assert [row.split(" | ")[1:5] for row in rows] == [
        ["False", "1", "float32", "on"], ["False", "2", "float32", "on"],
        ["True", "1", "float32", "on"], ["True", "2", "float32", "on"],
        ["True", "2", "float32", "off"]]
    assert all(row.split(" | ")[5].rstrip(" |").replace(",", "").isdigit() for row in rows)
    assert settings.main(["mnist_mlp", "--option", "dropout=2"]) == 2
    assert "dropout" in capsys.readouterr().err


def test_gap_table_has_every_stage(capsys):
    assert gap.main(["mnist_mlp", "--steps", "2", "--rounds", "2"]) == 0
    captured = capsys.readouterr()
    rows = [line for line in captured.out.splitlines() if line.startswith("| mnist_mlp |")]
    assert [row.split(" | ")[1] for row in rows] == list(gap.STAGES)
    assert all(float(row.split(" | ")[2].replace(",", "")) > 0 for row in rows)
    assert rows[0].endswith("| 1.00x |")  # plain against itself
    assert [line.split(":")[0] for line in captured.err.splitlines() if "round" in line] == \
        ["mnist_mlp round 1", "mnist_mlp round 2"]
    # from +execution on, the stages train as zoo.train.fit does: chunks of batches (XLA)
    x, y = loops.data("mnist_mlp", 64)
    for stage, rank in (("+loss/metrics", 4), ("+execution", 5), ("+callbacks", 5)):
        model, ds, _, block = gap.build_stage("mnist_mlp", stage, x, y, 16, "unused")
        assert ds.element_spec[0].shape.rank == rank, stage
        with block:
            assert ("train_step" in model.__dict__) == (rank == 5)


def test_ceiling_times_each_matrix_layer_and_the_whole_step():
    row = ceiling.measure("mnist_mlp", 16, 0.03, steps=2, rounds=1)
    assert [(r["layer"], r["input_gradient"]) for r in row["layers"]] == [
        ("dense1", False), ("logits", True)]
    assert row["layers"][0]["train_mflops_per_sample"] == pytest.approx(2 * 2 * 784 * 512 / 1e6)
    assert all(r["samples_per_s"] > 0 and r["gflops"] > 0 for r in row["layers"])
    assert len(row["turns"]) == 1 and row["peak_gflops"] > 0
    # one round: its figures are the row's. The layers alone take part of the time the whole
    # step takes: their sum bounds its rate
    peak = row["peak_gflops"]
    matrix_seconds = sum(1 / r["samples_per_s"] for r in row["layers"])
    assert row["matrix_samples_per_s"] == pytest.approx(1 / matrix_seconds)
    assert row["matrix_part_of_step"] == pytest.approx(matrix_seconds * row["step_samples_per_s"])
    assert row["step_share_of_peak"] == pytest.approx(
        row["train_mflops_per_sample"] * row["step_samples_per_s"] / 1e3 / peak)
    assert row["train_step_samples_per_s"] > 0
    assert row["train_step_share_of_peak"] == pytest.approx(
        row["train_mflops_per_sample"] * row["train_step_samples_per_s"] / 1e3 / peak)
    assert row["precision"] == "float32" and row["jit_compile"] is True
    text = ceiling.markdown([row], per_layer=True)
    assert f"| mnist_mlp | 16 | float32 | on | {row['peak_gflops']:,.1f} | 1.6 |" in text
    assert "| dense1 | Dense | 784 | no | 1.61 |" in text and "| logits | Dense | 512 | yes |" in text


@pytest.fixture
def ceiling_turns(monkeypatch):
    """`ceiling.measure` with its timers replaced: in each round every timer runs at that
    round's speed (1 in the first, 1/2 in the second, 1/4 in the third); records the calls."""
    calls, speed = [], {"round": 0}

    def timer(kind, rate):
        def window(seconds=None):
            calls.append(kind)
            if kind == "peak":  # each round starts with the peak
                speed["round"] += 1
            return rate / 2 ** (speed["round"] - 1)
        return window

    monkeypatch.setattr(machine, "peak_timer", lambda dtype: timer("peak", 100.0))
    monkeypatch.setattr(ceiling, "layer_timer",
                        lambda layer, *args: timer(layer.name, {"dense1": 50_000.0}.get(
                            layer.name, 200_000.0)))
    monkeypatch.setattr(ceiling, "train_step_timer", lambda *args: timer("train_step", 20_000.0))

    @contextlib.contextmanager
    def fit_timer(name, jit, batch, steps, policy):
        calls.append(("fit steps", steps))
        yield timer("fit", 10_000.0)

    monkeypatch.setattr(ceiling, "fit_timer", fit_timer)
    return calls


def test_ceiling_times_everything_in_turn_and_compares_within_rounds(ceiling_turns):
    """Each round times the peak, every layer, train_step and fit; a figure is the median of
    the rounds' own figures, so shares do not move when one round runs at half speed."""
    row = ceiling.measure("mnist_mlp", 16, 0.3, steps=4, rounds=3)
    assert ceiling_turns == [("fit steps", 4)] + [
        "peak", "dense1", "logits", "train_step", "fit"] * 3
    assert row["peak_gflops"] == 50.0  # the median of 100, 50 and 25
    assert row["step_samples_per_s"] == 5_000.0
    flop = row["train_mflops_per_sample"] * 1e6
    assert row["step_share_of_peak"] == pytest.approx(flop * 10_000 / 1e9 / 100)
    # the layers one after another: 1/50,000 + 1/200,000 s a sample in the first round
    assert row["matrix_part_of_step"] == pytest.approx((1 / 50_000 + 1 / 200_000) * 10_000)
    assert row["matrix_share_of_peak"] == pytest.approx(
        flop / (1 / 50_000 + 1 / 200_000) / 1e9 / 100)
    assert row["train_step_share_of_peak"] == pytest.approx(flop * 20_000 / 1e9 / 100)
    dense1 = row["layers"][0]
    assert dense1["samples_per_s"] == 25_000.0
    assert dense1["share_of_peak"] == pytest.approx(2 * 2 * 784 * 512 * 50_000 / 1e9 / 100)


@pytest.mark.parametrize(("probed", "steps"), [(8, 32), (672, 672)])
def test_ceiling_times_fit_in_windows_of_a_second_at_least_32_steps(monkeypatch, ceiling_turns,
                                                                    probed, steps):
    """By default the whole step in `fit` is timed over as many steps as make a second, not 32:
    with 32 steps per execution, 32 MLP steps are one compiled call and the epoch's start."""
    asked = {}
    monkeypatch.setattr(loops, "steps_per_window",
                        lambda name, batch, seconds: asked.update(window=seconds) or probed)
    row = ceiling.measure("fashion_mlp", None, 0.02)
    assert asked == {"window": 1.0} and ceiling_turns[0] == ("fit steps", steps)
    assert row["steps_per_window"] == steps and len(row["turns"]) == ceiling.ROUNDS


def test_fit_timer_compiles_once_and_times_epochs(monkeypatch):
    """The fit window trains the model an epoch per call in fit calls of their own, through
    chunks for an XLA model, without compiling its step again for each window."""
    traces = []
    step = chunks.ChunkedStep.__call__
    monkeypatch.setattr(chunks.ChunkedStep, "__call__",
                        lambda self, data: traces.append(1) or step(self, data))
    with ceiling.fit_timer("mnist_mlp", True, 8, 4, "float32") as window:
        traced = len(traces)
        rates = [window(), window()]
    assert traced >= 1 and len(traces) == traced  # traced by the untimed first epoch only
    assert all(r > 0 for r in rates)


def test_ceiling_passes_compute_the_forward_pass_and_repeat_in_one_call():
    import tensorflow as tf

    layer = keras.layers.Dense(3)
    layer.build((2, 4))
    x = tf.constant(np.arange(8, dtype=np.float32).reshape(2, 4) / 8)
    upstream = tf.constant([[1.0, -2.0, 0.5], [0.25, 1.0, -1.0]])
    y, *grads = ceiling.pass_outputs(layer, x, upstream, needs_input_gradient=True)
    assert np.allclose(y, x @ layer.kernel + layer.bias, atol=1e-6)
    assert np.allclose(grads[0], upstream @ tf.transpose(layer.kernel), atol=1e-6)
    assert np.allclose(grads[1], tf.transpose(x) @ upstream, atol=1e-6)
    assert np.allclose(grads[2], tf.reduce_sum(upstream, axis=0), atol=1e-6)

    # the passes read the forward pass's output, which the gradients do not need: an infinite
    # bias leaves every gradient finite, and only a pass that computes the output sees it
    inputs = keras.Input((6,))
    dense = keras.layers.Dense(4, bias_initializer=keras.initializers.Constant(float("inf")))
    keras.Model(inputs, dense(inputs))
    for jit in (False, True):
        passes, _ = ceiling.training_passes(dense, True, 5, jit)
        assert float(passes(tf.constant(2))) == 0.5

    class Counted(keras.layers.Dense):  # counts its forward passes
        def build(self, shape):
            super().build(shape)
            self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                         dtype="int32", name="calls")

        def call(self, inputs):
            self.calls.assign_add(1)
            return super().call(inputs)

    inputs = keras.Input((6,))
    counted = Counted(4, activation="relu")
    keras.Model(inputs, counted(inputs))
    for jit in (False, True):
        passes, copy = ceiling.training_passes(counted, False, 5, jit)
        assert copy.get_config()["activation"] == "linear"
        assert float(passes(tf.constant(7))) == 1.0
        assert int(copy.calls.numpy()) == 7  # seven passes in one call


@pytest.mark.parametrize("name", ["mnist_mlp", "autoencoder"])  # labels, and inputs as targets
def test_ceiling_runs_the_keras_train_step_n_times_in_one_call(name):
    import tensorflow as tf

    for jit in (False, True):
        steps, model = ceiling.train_steps(name, jit, 8, "float32")
        before = int(model.optimizer.iterations.numpy())
        assert float(steps(tf.constant(5))) == 1.0
        assert int(model.optimizer.iterations.numpy()) == before + 5


def test_ceiling_runs_resnets_in_their_precision_and_refuses_vae_and_dcgan(capsys, monkeypatch):
    from zoo.train import core

    monkeypatch.setattr(core, "fast_16bit", lambda: True)  # as on a CPU with bfloat16 units
    assert ceiling.main(["resnet20", "--batch-size", "2", "--seconds", "0.05", "--steps", "2",
                         "--rounds", "1", "--layers"]) == 0
    out = capsys.readouterr().out
    assert "| resnet20 | 2 | bfloat16 | off |" in out
    assert "| stem | Conv2D | 32x32x3 | no |" in out
    assert ceiling.main(["dcgan"]) == 2
    assert "not one forward and backward pass" in capsys.readouterr().err


def test_tutorial_script_trains_and_tests(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    writers.write_npz(tmp_path / "mnist.npz", writers.mnist_like(n_train=64, n_test=16))
    assert tutorial.main(["mnist_mlp", "--epochs", "2", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("epoch ") == 2 and "test accuracy" in out
    assert tutorial.main(["vae", "--data-dir", str(tmp_path)]) == 2


def test_end_to_end_runs_both_processes(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    data = tmp_path / "data"
    data.mkdir()
    writers.write_npz(data / "mnist.npz", writers.mnist_like(n_train=64, n_test=16))
    writers.write_idx(data / "fashion-mnist", writers.mnist_like(n_train=64, n_test=16))
    rows = cli.end_to_end(data)
    assert [(r["model"], r["epochs"]) for r in rows] == [("mnist_mlp", 5), ("fashion_mlp", 3)]
    for r in rows:
        assert r["zoo_seconds"] > 0 and r["tutorial_seconds"] > 0 and r["speedup"] > 0
        assert 0 <= r["zoo_accuracy"] <= 1 and 0 <= r["tutorial_accuracy"] <= 1


@pytest.mark.parametrize(("args", "message"), [
    (["mnist_mlp", "--variant", "nocolon"], "--variant 'nocolon': write NAME:KEY=VALUE"),
    (["mnist_mlp", "--variant", "a:", "--variant", "b:rate"], "'rate' is not KEY=VALUE"),
    (["mnist_mlp", "--variant", "b:learnig_rate=1e-3"], "learnig_rate: neither a recipe field"),
    (["vgg31"], "unknown model 'vgg31'"),
    (["mnist_mlp", "--variant", "b:epochs=0"], "epochs must be >= 1, got 0"),
])
def test_recipe_variants_are_checked_before_any_training(args, message, capsys, monkeypatch):
    monkeypatch.setattr(recipes, "run", lambda *a, **k: pytest.fail("trained before checking"))
    assert recipes.main(args) == 2
    out, err = capsys.readouterr()
    assert message in err and out == ""  # not even the table's header


def test_a_variant_may_set_its_own_epochs_over_the_command_lines():
    assert recipes.split("mnist_mlp", {"epochs": 7})[0].epochs == 7
    assert recipes.split("mnist_mlp", {"epochs": 7}, epochs=2)[0].epochs == 7  # e80:epochs=80
    assert recipes.split("mnist_mlp", {}, epochs=2)[0].epochs == 2
    assert recipes.split("mnist_mlp", {})[0].epochs == zoo.card("mnist_mlp").recipe.epochs
