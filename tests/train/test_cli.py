"""`python -m zoo.train`: help, the model table, evaluation, every model's smoke run, and errors."""

from __future__ import annotations

import json
import os
import re

import pytest

import zoo
from tests.train.conftest import run_cli, spawn
from zoo import results
from zoo.data import catalog


def test_help_explains_every_option_with_its_default(capsys):
    with pytest.raises(SystemExit) as exit_:
        run_cli("--help")
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--dataset", "--epochs", "--batch-size", "--learning-rate", "--optimizer",
                 "--validation", "--seed", "--data-dir", "--run-dir", "--resume", "--top-k",
                 "--steps", "--jit-compile", "--mixed-precision", "--verbose", "--option",
                 "--list", "--evaluate", "--synthetic"):
        assert flag in text, flag
    assert "(default 0.1)" in text and "(default 5)" in text and "examples:" in text


def test_list_prints_every_model(capsys):
    code, out, _ = run_cli("--list", capsys=capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["model", "family", "dataset", "params", "reference", "measured"]
    for name in zoo.list_models():
        assert any(line.startswith(name + " ") for line in lines), name
    vgg = next(line for line in lines if line.startswith("vgg13_bn"))
    assert "cifar100" in vgg and "9,590,948" in vgg and "top-1 72.00%, top-5 90.29%  " in vgg
    plain = next(line for line in lines if line.startswith("vgg13 "))
    assert "top-5 90.29% (VGG13-BN's)" in plain  # the reference is the kin's, and says so
    rnn = next(line for line in lines if line.startswith("imdb_rnn "))
    assert "accuracy 85.00% (validation split)" in rnn and "top-1" not in rnn  # binary
    code, out, _ = run_cli("--list", "res*", capsys=capsys)  # a pattern keeps those models
    assert code == 0 and [line.split()[0] for line in out.splitlines()[2:]] == \
        zoo.list_models("res*")
    code, _, err = run_cli("--list", "nothing*", capsys=capsys)
    assert code == 2 and "no model matches 'nothing*'" in err
    for name in zoo.list_models():  # a result on another dataset is not the reference's peer
        card = zoo.card(name)
        line = next(line for line in lines if line.startswith(name + " "))
        if card.measured and card.measured.dataset != card.dataset:
            assert f"(on {card.measured.dataset}" in line, line
        else:
            assert "(on " not in line, line
        if card.measured and card.measured.epochs < card.recipe.epochs:  # a budget run
            m = card.measured
            budget = results.budget_minutes(m.notes)
            over = f", over its {budget:g}-minute budget" if m.wall_time_s > (budget or 1e9) * 60 \
                else ""
            assert line.endswith(f"{m.epochs} of {card.recipe.epochs} epochs{over})"), line


def test_train_then_evaluate_through_the_cli(tmp_path, capsys):
    code, out, _ = run_cli("fashion_mlp", "--synthetic", "--epochs", "1", "--steps", "2",
                           "--run-dir", "run", "--top-k", "1", "3", "--verbose", "0",
                           capsys=capsys)
    assert code == 0
    assert ("recipe: Adam, cosine-annealed learning rate 0.002, batch 128, 1 epoch, precision "
            "float32") in out
    assert "test accuracy" in out and "top3_accuracy" in out
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]
    code, out, _ = run_cli("--evaluate", "run", "--synthetic", "--steps", "2", capsys=capsys)
    assert code == 0 and "run/best.keras on fashion_mnist test: " in out
    assert f"{100 * saved['accuracy']:.2f}%" in out
    # a new run from the first one's weights
    code, out, _ = run_cli("fashion_mlp", "--synthetic", "--epochs", "1", "--steps", "2",
                           "--run-dir", "again", "--init-from", "run/last.keras",
                           "--learning-rate", "1e-4", capsys=capsys)
    assert code == 0 and f"weights from {tmp_path / 'run' / 'last.keras'}" in out
    assert "1 epoch, precision float32" in out
    # the precision a run computes in, not the card's choice: this card asks for 16 bits
    code, out, _ = run_cli("conv_autoencoder", "--synthetic", "--epochs", "1", "--steps", "1",
                           "--batch-size", "8", "--no-mixed-precision", capsys=capsys)
    assert code == 0 and "batch 8, 1 epoch, precision float32\n" in out


def _smoke_args(name: str) -> list[str]:
    dataset = zoo.card(name).dataset
    real = os.environ.get("ZOO_DATA_DIR") and dataset != "cifar100"
    return [] if real else ["--synthetic"]


@pytest.mark.slow
@pytest.mark.session_cache
@pytest.mark.parametrize("name", zoo.list_models())
def test_every_model_trains_through_the_cli(name, capsys):
    code, _, err = run_cli(name, "--epochs", "1", "--steps", "2", "--run-dir", name,
                             "--verbose", "0", "--batch-size", "16", *_smoke_args(name),
                             capsys=capsys)
    assert code == 0, err
    with open(f"{name}/metrics.json") as f:
        metrics = json.load(f)["test"]
    assert metrics and all(isinstance(v, float) for v in metrics.values())
    if zoo.card(name).task == "classification":
        assert {"accuracy", "top5_accuracy"} <= set(metrics)


@pytest.mark.parametrize(("args", "message"), [
    (["vgg31"], "error: unknown model 'vgg31' (did you mean 'vgg13'"),
    (["mnist_mlp", "--epochs", "-3"], "error: epochs must be >= 1, got -3"),
    (["mnist_mlp", "--batch-size", "0"], "error: batch_size must be >= 1, got 0"),
    (["mnist_mlp", "--dataset", "cifar11"], "error: unknown dataset 'cifar11'"),
    (["mnist_mlp", "--dataset", "cifar10"], "error: mnist_mlp takes inputs of shape (28, 28, 1)"),
    (["resnet18", "--dataset", "cifar10"], "--option num_classes=10"),
    (["mnist_mlp", "--optimizer", "adagrad"], "error: argument --optimizer: invalid choice"),
    (["mnist_mlp", "--epochs", "two"], "error: argument --epochs: invalid int value: 'two'"),
    (["mnist_mlp", "--option", "dropout"], "expected KEY=VALUE"),
    (["--evaluate", "nowhere.keras"], "error: no checkpoint at nowhere.keras"),
    (["--resume", "no-run"], "error: nothing to resume in no-run"),
    (["--evaluate", "nowhere.keras", "--steps", "0"], "error: steps must be >= 1, got 0"),
    ([], "error: name a model to train"),
    (["mnist_mlp", "--synthetic", "--synthetic-examples", "2"],
     "error: --synthetic-examples must be >= 4, got 2"),
])
def test_bad_options_print_one_line_and_exit_2(args, message, capsys):
    try:
        code, _, err = run_cli(*args, capsys=capsys)
    except SystemExit as exit_:  # argparse's own errors
        code, err = exit_.code, capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_errors_from_a_real_process_have_no_traceback(tmp_path):
    process = spawn("resnet20", "--epochs", "0", cwd=tmp_path)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 2
    assert "Traceback" not in err and err.strip().splitlines()[-1] == \
        "error: epochs must be >= 1, got 0"
    assert not (tmp_path / "runs").exists()


def test_every_dataset_fits_at_least_one_model():
    datasets = {zoo.card(n).dataset for n in zoo.list_models()}
    assert datasets == set(catalog.DATASETS)


def test_progress_off_a_terminal_is_one_line_per_epoch(tmp_path):
    """Piped output (a log file, CI) gets Keras' one summary line per epoch, no progress bar."""
    process = spawn("mnist_mlp", "--epochs", "3", "--synthetic", "--run-dir",
                    "run", cwd=tmp_path)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-2000:]
    assert "━" not in out and "\r" not in out
    assert out.count("Epoch ") == 3
    summary = re.compile(r"(\d+)/\1 - \d+m?s - .*loss: ")  # steps/steps - time - metrics
    summaries = [line for line in out.splitlines() if summary.match(line)]
    assert len(summaries) == 3, out
    command = json.loads((tmp_path / "run" / "config.json").read_text())["environment"]["command"]
    assert command.endswith(" -m zoo.train mnist_mlp --epochs 3 --synthetic --run-dir run")
    process = spawn("--evaluate", "run", "--synthetic", cwd=tmp_path)  # and when testing
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-2000:]
    assert "━" not in out and "\r" not in out
    assert len([line for line in out.splitlines() if summary.match(line)]) == 1, out


def test_evaluate_reads_the_runs_data_folder_and_epoch_checkpoints_belong_to_their_run(
        tmp_path, capsys, monkeypatch):
    """`--evaluate` once ignored the `--data-dir` the run was trained with (offline: cannot
    find the data), and took `RUN/checkpoints/epoch-N.keras` for a file without a run."""
    from tests.data import writers

    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    (tmp_path / "data").mkdir()
    writers.write_npz(tmp_path / "data" / "mnist.npz", writers.mnist_like(40, 12))
    code, _, err = run_cli("mlp", "--data-dir", "data", "--epochs", "2", "--steps", "1",
                           "--batch-size", "8", "--run-dir", "run", "--verbose", "0",
                           capsys=capsys)
    assert code == 0, err
    epoch_file = next((tmp_path / "run" / "checkpoints").glob("epoch-*.keras"))
    monkeypatch.chdir(tmp_path / "run")  # the data folder was given relative to tmp_path
    for path in (".", str(epoch_file)):
        code, out, err = run_cli("--evaluate", path, "--batch-size", "4", "--verbose", "2",
                                 capsys=capsys)
        assert code == 0, err
        assert " on mnist test: accuracy" in out
        assert "1/1" not in out and "3/3" in out  # 12 test examples in batches of 4
    code, out, _ = run_cli("--evaluate", ".", "--verbose", "0", capsys=capsys)
    assert code == 0 and out.startswith("zoo.train: ")  # no progress, but the summary whole
    assert out.count("\n") == 1 and "best.keras on mnist test: accuracy" in out
    code, _, err = run_cli("--evaluate", ".", "--batch-size", "0", capsys=capsys)
    assert code == 2 and "batch_size must be >= 1, got 0" in err
    read = zoo.data.read
    with monkeypatch.context() as m:  # a dataset the model cannot take is refused unread
        m.setattr(zoo.data, "read", lambda *a, **k: pytest.fail(f"read {a}"))
        for dataset, message in (("cifar10", "takes inputs of shape (28, 28, 1) but cifar10"),
                                 ("imdb", "mnist_mlp is not a text model")):
            code, _, err = run_cli("--evaluate", ".", "--dataset", dataset, capsys=capsys)
            assert code == 2 and message in err, err
    assert zoo.data.read is read
    # a run folder copied elsewhere: its data folder is gone, so the usual lookup is used
    (tmp_path / "data" / "mnist.npz").rename(tmp_path / "mnist.npz")
    (tmp_path / "data").rmdir()
    code, out, err = run_cli("--evaluate", ".", "--synthetic", "--verbose", "0", capsys=capsys)
    assert code == 0, err


@pytest.mark.parametrize(("args", "message"), [
    (["--epochs", "3"], "--epochs: not used by --evaluate"),
    (["mnist_mlp", "--seed", "1", "--option", "dropout=0.1"],
     "MODEL, --seed, --option: not used by --evaluate"),
    (["--init-from", "run/last.keras"], "--init-from: not used by --evaluate"),
])
def test_evaluate_refuses_training_flags_instead_of_dropping_them(args, message, capsys):
    code, _, err = run_cli("--evaluate", "run", *args, capsys=capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_trust_code_without_evaluate_is_refused(capsys):
    code, _, err = run_cli("mnist_mlp", "--trust-code", "--synthetic", capsys=capsys)
    assert code == 2 and "--trust-code applies to --evaluate" in err
