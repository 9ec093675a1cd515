"""Shared test set-up: quiet TensorFlow, each test process's share of the cores, a fixed seed,
and small random batches shaped like a card says; `messages`, the lines the zoo logs."""

from __future__ import annotations

import collections
import logging
import os

from tests.processes import share_the_cores

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
share_the_cores()  # before TensorFlow, PyTorch and JAX are imported: they read it once

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import zoo  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--full", action="store_true",
                     help="also run the tests marked slow (CI runs the full suite)")
    parser.addoption("--all-backends", action="store_true",
                     help="with --full, also run tests/models and tests/train whole on JAX and "
                          "PyTorch (tests/test_backends.py; about 10 minutes more on two cores)")


# The longest-running test files (and classes) first, longest first, as measured in CI with
# --durations: pytest-xdist with `--dist loadscope --no-loadscope-reorder` hands them out in
# this order to whichever process is free, so the processes end at about the same time
# (by default it starts with the files that have the most tests, which left a 5-minute file
# running alone at the end; files left off this list run after it, in collection order).
LONGEST_FIRST = (
    "tests/test_backends.py::TestJax",  # with --all-backends
    "tests/test_docs.py",
    "tests/test_backends.py::TestTorch",
    "tests/test_backends.py",
    "tests/train/test_cli.py",
    "tests/train/test_fit.py",
    "tests/train/test_resume.py",
    "tests/models/test_models.py",
    "tests/models/test_gan.py",
    "tests/train/test_acceptance.py",
    "tests/test_bench.py",
    "tests/test_results.py",
    "tests/train/test_distribute.py",
    "tests/test_properties.py",
    "tests/test_bench_gpu.py",
    "tests/data/test_real.py",
    "tests/train/test_preemption.py",
    "tests/models/test_autoencoder.py",
    "tests/train/test_atomic.py",
    "tests/test_ci_skips.py",
)


def _rank(item) -> int:
    return next((i for i, prefix in enumerate(LONGEST_FIRST)
                 if item.nodeid.startswith(prefix)), len(LONGEST_FIRST))


def pytest_collection_modifyitems(config, items):
    """Without --full, the slow tier is deselected: the quick tier runs in a few minutes.
    The longest files run first (`LONGEST_FIRST`); within a file the order is unchanged."""
    items.sort(key=_rank)
    if config.getoption("--full"):
        return
    named = []  # tests asked for by name (path::test) still run
    for arg in config.args:
        if "::" in arg:
            path, rest = arg.split("::", 1)
            named.append(os.path.relpath(os.path.abspath(path), config.rootpath) + "::" + rest)

    def deselect(item) -> bool:
        return bool(item.get_closest_marker("slow")) and not any(
            item.nodeid.startswith(name) for name in named)

    quick = [item for item in items if not deselect(item)]
    slow = [item for item in items if deselect(item)]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = quick


def pytest_runtest_setup(item):
    """A test marked `backends("tensorflow", why=...)` checks something only those backends
    have (tf.distribute, TensorFlow's XLA choices): on another it skips, saying why."""
    marker = item.get_closest_marker("backends")
    if marker and keras.backend.backend() not in marker.args:
        pytest.skip(f"{' and '.join(marker.args)} only: {marker.kwargs['why']}")


@pytest.fixture
def messages():
    """Lines the zoo logs while the test runs, its "zoo" logger and those under it."""
    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = logging.getLogger("zoo")
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


@pytest.fixture
def one_epoch_planned(monkeypatch):
    """`zoo.reproduce`'s budget runs planned at one epoch without calibrating: a CIFAR
    network's calibration at batch 128 costs minutes of CPU, and the mnist_mlp tests in
    tests/test_results.py time the calibration itself."""
    from zoo import reproduce

    monkeypatch.setattr(reproduce, "budget_epochs", lambda *args, **kwargs: (1, 100.0))


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI (`CI` set), a real-data test that skips fails instead: CI must provide the data
    (`ZOO_DATA_DIR`) and every backend, or those tests would pass without running."""
    outcome = yield
    report = outcome.get_result()
    under_ci = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
    if (report.skipped and under_ci and item.get_closest_marker("real_data")
            and not hasattr(report, "wasxfail")):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, which must run it: {reason}"


def random_batch(name: str, n: int = 4, rng: np.random.Generator | None = None):
    """`(x, y)` of `n` random examples shaped as model `name`'s card says; `y` is None when unused."""
    rng = rng or np.random.default_rng(0)
    card = zoo.card(name)
    if card.task == "generation":
        return rng.integers(0, 256, (n, *card.output_shape), dtype=np.uint8), None
    if card.input_dtype == "int32":
        vocab = zoo.options(name).get("vocab_size", 100)
        x = rng.integers(0, vocab, (n, *card.input_shape), dtype=np.int32)
    else:
        x = rng.integers(0, 256, (n, *card.input_shape), dtype=np.uint8)
    if card.task == "classification":
        return x, rng.integers(0, card.output_shape[-1], (n,), dtype=np.int32)
    if card.task == "binary_classification":
        return x, rng.integers(0, 2, (n, 1)).astype("float32")
    return x, None


PROPERTY_CASES: collections.Counter = collections.Counter()


def pytest_runtest_logreport(report):
    """Add up the cases each property-based test tried (tests/test_properties.py)."""
    if report.when == "teardown":
        for key, cases in report.user_properties:
            if key == "property_cases":
                PROPERTY_CASES.update(cases)


def pytest_terminal_summary(terminalreporter):
    """How many generated cases the property-based tests tried."""
    if PROPERTY_CASES:
        terminalreporter.write_sep("-", "property-based cases tried")
        for name, count in sorted(PROPERTY_CASES.items()):
            terminalreporter.write_line(f"{name}: {count}")
        terminalreporter.write_line(f"total: {sum(PROPERTY_CASES.values())}")
