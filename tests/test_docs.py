"""The documentation: the site builds strictly with a page per model, and every example runs.

Code examples are extracted from the hand-written pages, the README and the generated model
pages, and run against small dataset files in each dataset's official format, so they run in
seconds and cannot rot.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import zoo
import zoo.data
from tests.data import writers
from zoo import docs
from zoo.data.catalog import CIFAR100_CLASSES, DATASETS

ROOT = Path(__file__).resolve().parents[1]
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
BLOCK = re.compile(r"^```(python|bash)\n(.*?)^```", re.S | re.M)


def blocks(text: str, language: str) -> list[str]:
    return [code for lang, code in BLOCK.findall(text) if lang == language]


@pytest.fixture
def tiny_data(tmp_path, monkeypatch):
    """Small copies of all five datasets in their official formats; the tests' working folder."""
    data = tmp_path / "data"
    data.mkdir()
    writers.write_npz(data / "mnist.npz", writers.mnist_like(n_train=60, n_test=20))
    writers.write_idx(data / "fashion-mnist", writers.mnist_like(n_train=60, n_test=20, seed=1))
    writers.write_cifar10(data / "cifar-10-batches-py", writers.cifar_like(10, 50, 20),
                          DATASETS["cifar10"].classes)
    writers.write_cifar100(data / "cifar-100-python", writers.cifar_like(100, 200, 100, seed=2),
                           CIFAR100_CLASSES)
    writers.write_aclimdb(data / "aclImdb", per_class=10)
    for var, value in (("ZOO_DATA_DIR", data), ("ZOO_CACHE_DIR", tmp_path / "cache"),
                       ("KERAS_HOME", tmp_path / "keras"), ("TFDS_DATA_DIR", tmp_path / "tfds")):
        monkeypatch.setenv(var, str(value))
    monkeypatch.chdir(tmp_path)
    zoo.data._read.cache_clear()
    zoo.data._vectorizer.cache_clear()
    yield data
    zoo.data._read.cache_clear()
    zoo.data._vectorizer.cache_clear()


def run_python(code: str, namespace: dict) -> None:
    exec(compile(code, "<docs example>", "exec"), namespace)


def run_command(line: str) -> None:
    """Run one `python -m zoo...` line in this process; training commands are cut to 1 epoch."""
    words = shlex.split(line, comments=True)
    if words[:2] != ["python", "-m"] or not words[2].startswith("zoo."):
        return  # pip, mkdocs, exports: not the zoo's to test
    module, args = words[2], words[3:]
    if module == "zoo.train":
        from zoo.train import cli

        trains = args and not args[0].startswith("-")
        if trains and "--epochs" not in args:
            args += ["--epochs", "1", "--steps", "2"]
        try:
            code = cli.main(args)
        except SystemExit as exit_:  # --help
            code = exit_.code
        assert code == 0, f"{line!r} exited with {code}"
    elif module == "zoo.bench":
        from zoo.bench import cli

        tiny = ["--seconds", "0.3", "--windows", "2", "--no-loaders", "--no-end-to-end",
                "--json", "bench.json", "--markdown", "bench.md"]
        assert cli.main(args + tiny) == 0, f"{line!r} failed"
    else:
        pytest.fail(f"no runner for {module} in the docs tests")


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_examples_on_hand_written_pages_run(page, tiny_data):
    text = page.read_text()
    namespace: dict = {}
    for code in blocks(text, "python"):
        run_python(code, namespace)
    for code in blocks(text, "bash"):
        for line in code.splitlines():
            run_command(line)


@pytest.mark.parametrize("name", zoo.list_models())
def test_examples_on_model_pages_run(name, tiny_data):
    page = docs.model_page(name)
    codes = blocks(page, "python")
    assert len(codes) == 1
    run_python(codes[0], {})
    assert blocks(page, "bash") == [f"python -m zoo.train {name}\n"]


def test_a_newly_registered_model_gets_a_page_and_a_row():
    import dataclasses

    card = dataclasses.replace(zoo.card("mnist_mlp"), name="docs_probe_mlp", aliases=())
    zoo.register(card)(zoo.registry.builder("mnist_mlp"))
    try:
        assert "[docs_probe_mlp](mlp/docs_probe_mlp.md)" in docs.models_table()
        assert "(models/mlp/docs_probe_mlp.md)" in docs.nav()
        assert docs.model_page("docs_probe_mlp").startswith("# docs_probe_mlp")
    finally:
        zoo.registry.unregister("docs_probe_mlp")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
                            cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return out


def test_site_has_a_page_for_every_model(site):
    for name in zoo.list_models():
        page = site / "models" / zoo.card(name).family / name / "index.html"
        assert page.is_file(), name
        html = page.read_text()
        assert f"{zoo.card(name).params:,}" in html and "Training recipe" in html


def test_models_overview_lists_every_model(site):
    html = (site / "models" / "index.html").read_text()
    for name in zoo.list_models():
        family = zoo.card(name).family
        assert f'href="{family}/{name}/"' in html, name
    home = (site / "index.html").read_text()
    assert all(f'href="models/{zoo.card(n).family}/{n}/"' in home for n in zoo.list_models())


def test_site_pages_and_api_reference(site):
    for page in ("datasets", "training", "api"):
        assert (site / page / "index.html").is_file()
    api = (site / "api" / "index.html").read_text()
    for name in ("zoo.registry.get", "zoo.data.load", "zoo.train.core.fit"):
        assert name in api
    datasets = (site / "datasets" / "index.html").read_text()
    assert "cifar-100-python.tar.gz" in datasets and "60,000" in datasets
