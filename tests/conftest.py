"""Shared test set-up: quiet TensorFlow, a fixed seed, and small random batches shaped like a card says."""

from __future__ import annotations

import collections
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest

import zoo


def pytest_addoption(parser):
    parser.addoption("--full", action="store_true",
                     help="also run the tests marked slow (CI runs the full suite)")


def pytest_collection_modifyitems(config, items):
    """Without --full, the slow tier is deselected: the quick tier runs in a few minutes."""
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
