"""Property-based tests (hypothesis) of every place a user gives the zoo input.

`zoo.get`, `zoo.data.load`, `zoo.train.fit` and the command-line tools get generated options
and values: wrong types, negatives, zero, huge numbers, NaN, empty and unicode strings, paths
that do not exist or cannot be written. Each call must either work or raise `ZooError` with a
message naming what is wrong; a command must exit 0 or exit 2 with one line and no traceback.
The number of cases tried is printed at the end of the test run.
"""

from __future__ import annotations

import collections
import math
import os
import tempfile
from pathlib import Path

import keras
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zoo
from zoo import checks
from zoo.train import cli as train_cli
from zoo.train import core

CASES: collections.Counter = collections.Counter()


@pytest.fixture(autouse=True)
def _report_cases(request):
    """Each test's cases ride on its report, which tests/conftest.py adds up and prints (from
    pytest-xdist's workers too, whose reports reach the process that prints)."""
    before = CASES.copy()
    yield
    request.node.user_properties.append(("property_cases", dict(CASES - before)))


# Values no option should choke on: each either fits the option or is refused with ZooError.
ODD = [None, True, False, 0, -1, 1, 2, 3, 10**12, 2**63, -(2**70), 0.0, -0.5, 0.5, 1.5, 1e308,
       math.nan, math.inf, -math.inf, "", " ", "é", "日本語", "\x00", "🙂" * 3, "1", "-1",
       [], [0], [3, -1], [8], (8, 8), (16, 16, 1), {"a": 1}, b"bytes", object()]
odd = st.one_of(st.sampled_from(ODD), st.integers(), st.floats(allow_nan=True),
                st.text(max_size=8), st.lists(st.integers(-4, 40), max_size=3))
SETTINGS = settings(deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def _reset_keras() -> None:
    """Keras' global state reset between examples, without the full garbage collection that
    `clear_session()` runs by default: in a process that had run other test files and held 1.6 to
    2.1 million objects, each took 1.1 to 1.8 s, nearly all of this file's time there."""
    keras.backend.clear_session(free_memory=False)


def _helpful(err: zoo.ZooError, *names: str) -> None:
    message = str(err)
    assert message.strip() and "\n" not in message.strip()[:200]
    assert any(n in message for n in names), (names, message)


@pytest.mark.parametrize("name", zoo.list_models())
@settings(SETTINGS, max_examples=8)
@given(data=st.data())
def test_get_works_or_says_which_option_is_wrong(name, data):
    valid = list(zoo.options(name))
    keys = data.draw(st.lists(st.sampled_from([*valid, "bogus", "", "é"]), max_size=2,
                              unique=True))
    overrides = {key: data.draw(odd, label=key) for key in keys}
    compile_ = data.draw(st.sampled_from([True, False, "no", None, 1]), label="compile")
    CASES["zoo.get"] += 1
    try:
        model = zoo.get(name, compile=compile_, **overrides)
    except zoo.ZooError as err:
        _helpful(err, "compile", *overrides, "unknown option")
    else:
        assert isinstance(model, keras.Model) and isinstance(compile_, bool)
    finally:
        _reset_keras()


@settings(SETTINGS, max_examples=60)
@given(name=st.sampled_from([*zoo.data.list_datasets(), "fashion", "nope", ""]),
       kwargs=st.fixed_dictionaries({}, optional={
           "split": st.one_of(st.sampled_from(["train", "test", "validation", ["train", "test"],
                                                [], "", "TRAIN"]), odd),
           "batch_size": odd, "shuffle": odd, "augment": odd, "seed": odd, "validation": odd,
           "drop_remainder": odd, "vocab_size": odd, "sequence_length": odd}))
def test_load_works_or_says_which_argument_is_wrong(name, kwargs):
    CASES["zoo.data.load"] += 1
    try:
        ds = zoo.data.load(name, source="synthetic:64", **kwargs)
    except zoo.ZooError as err:
        _helpful(err, name, *kwargs, "dataset", "split", "validation")
        return
    first = ds[0] if isinstance(ds, list) else ds
    batch = next(iter(first))
    assert len(batch) == 2 and batch[0].shape[0] >= 1


class _Accepted(Exception):
    """Raised in place of training: every argument passed fit's checks."""


@pytest.fixture
def no_training(monkeypatch):
    def run(*args, **kwargs):
        raise _Accepted

    monkeypatch.setattr(core, "_run", run)


def _paths(root: Path) -> st.SearchStrategy:
    blocker = root / "a-file"
    blocker.write_text("not a folder")
    return st.sampled_from([str(root / "runs" / "new"), str(blocker), str(blocker / "run"),
                            "/proc/no-such/run", "", str(root / "é 日本"), str(root)])


@settings(SETTINGS, max_examples=60)
@given(data=st.data())
def test_fit_accepts_or_refuses_every_argument_before_training(no_training, data):
    names = ["epochs", "batch_size", "learning_rate", "optimizer", "validation", "seed", "top_k",
             "steps", "jit_compile", "mixed_precision", "options", "source", "verbose",
             "distribute", "dataset"]
    home = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # run_dir "" would be the working folder
        try:  # draws may end the example with an exception too: always come back
            keys = data.draw(st.lists(st.sampled_from(names), max_size=3, unique=True))
            kwargs = {key: data.draw(odd, label=key) for key in keys}
            kwargs["run_dir"] = data.draw(_paths(Path(tmp)), label="run_dir")
            model = data.draw(st.sampled_from(["mnist_mlp", "resnet20", "imdb_gru", "nope", "",
                                               7]))
            CASES["zoo.train.fit"] += 1
            try:
                core.fit(model, **kwargs)
            except _Accepted:
                pass
            except zoo.ZooError as err:
                _helpful(err, "run folder", "run_dir", "model", *kwargs, "mixed_precision",
                         "distribute", "dataset", "options", "already holds a run")
        finally:
            _reset_keras()
            os.chdir(home)


TOKENS = ["-1", "0", "1", "2", "3.5", "nan", "inf", "1e309", "", "é", "abc", "99999999999999999999",
          "--", "sgd", "adam", "on", "x=1", "dropout=0.9", "dropout=nan", "width=[1,2]"]
FLAGS = ["--epochs", "--batch-size", "--learning-rate", "--optimizer", "--validation", "--seed",
         "--top-k", "--steps", "--jit-compile", "--option", "--dataset", "--verbose",
         "--distribute", "--synthetic-examples", "--run-dir", "--resume", "--evaluate"]


def _one_line_or_ok(code: int, err: str) -> None:
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), err


@settings(SETTINGS, max_examples=60)
@given(data=st.data())
def test_train_cli_exits_2_with_one_line(no_training, capsys, data):
    argv = data.draw(st.lists(st.one_of(st.sampled_from(FLAGS), st.sampled_from(TOKENS),
                                        st.sampled_from(["mnist_mlp", "vgg13", "nope"])),
                              max_size=6))
    home = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # a run folder it may create lands here
        CASES["python -m zoo.train"] += 1
        try:
            code = train_cli.main([*argv, "--synthetic"])
        except _Accepted:
            code = 0
        except SystemExit as exit_:
            code = exit_.code
        finally:
            os.chdir(home)  # before the folder goes
        _, err = capsys.readouterr()
        _one_line_or_ok(code, err)


def _commands():
    from zoo import reproduce
    from zoo.bench import backends, ceiling, gap, loaders, recipes, settings, tutorial
    from zoo.bench import cli as bench_cli

    return {"zoo.bench": (bench_cli.main, ["--seconds", "--windows", "--batch-size", "--json"]),
            "zoo.bench.loaders": (loaders.main, ["--seconds", "--batch-size", "--json"]),
            "zoo.bench.settings": (settings.main, ["--steps", "--batch-size", "--spe"]),
            "zoo.bench.gap": (gap.main, ["--steps", "--rounds"]),
            "zoo.bench.ceiling": (ceiling.main, ["--seconds", "--steps", "--batch-size"]),
            "zoo.bench.recipes": (recipes.main, ["--epochs", "--seeds"]),
            "zoo.bench.tutorial": (tutorial.main, ["--epochs"]),
            "zoo.bench.backends": (backends.main, ["--windows"]),
            "zoo.reproduce": (reproduce.main, ["--budget-minutes", "--seed"])}


BAD_NUMBERS = ["-1", "0", "nan", "inf", "-inf", "1e309", "", "é", "abc", "1.5e", "99999999999999999999"]


@pytest.mark.parametrize("command", list(_commands()))
@settings(SETTINGS, max_examples=10)
@given(data=st.data())
def test_every_command_refuses_bad_values_in_one_line(command, capsys, data):
    main, flags = _commands()[command]
    flag = data.draw(st.sampled_from(flags), label="flag")
    value = data.draw(st.sampled_from(BAD_NUMBERS if flag != "--json" else
                                      ["/etc/passwd/x.json", "", "/", "/etc"]), label="value")
    if flag == "--seed" and value == "0":
        value = "-1"
    model = data.draw(st.sampled_from(["mnist_mlp", "nope"]), label="model")
    argv = {"zoo.bench.backends": [f"{model}:8:2"], "zoo.bench.loaders": ["mnist"]}.get(
        command, [model])
    CASES[f"python -m {command}"] += 1
    try:
        code = main([*argv, flag, value])
    except SystemExit as exit_:
        code = exit_.code
    _, err = capsys.readouterr()
    assert code == 2, (argv, flag, value, err)
    _one_line_or_ok(code, err)


@pytest.mark.parametrize("name", ["batch_size", "latent_dim", "units"])
def test_sizes_have_a_ceiling(name):
    with pytest.raises(zoo.ZooError, match=f"{name} must be between 1 and {checks.SIZE_MAX}"):
        checks.size(name, checks.SIZE_MAX + 1)
