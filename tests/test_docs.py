"""The documentation: the site builds strictly with a page per model, and every example runs.

Code examples are extracted from the hand-written pages, the README and the generated model
pages, and run against small dataset files in each dataset's official format, so they run in
seconds and cannot rot.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import keras
import pytest

import zoo
import zoo.data
from tests.data import writers
from tests.processes import backend_env
from zoo import docs, results
from zoo.data.catalog import CIFAR100_CLASSES, DATASETS

pytestmark = pytest.mark.slow  # the full tier: python -m pytest --full

ROOT = Path(__file__).resolve().parents[1]
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
BLOCK = re.compile(r"^```(python|bash)\n(.*?)^```", re.S | re.M)


def blocks(text: str, language: str) -> list[str]:
    return [code for lang, code in BLOCK.findall(text) if lang == language]


@pytest.fixture
def tiny_data(tmp_path, monkeypatch, one_epoch_planned):
    """Small copies of all five datasets in their official formats; the tests' working folder.
    A `zoo.reproduce` example plans one epoch without calibrating (`one_epoch_planned`)."""
    data = tmp_path / "data"
    data.mkdir()
    writers.write_npz(data / "mnist.npz", writers.mnist_like(n_train=60, n_test=20))
    writers.write_idx(data / "fashion-mnist", writers.mnist_like(n_train=60, n_test=20, seed=1))
    writers.write_cifar10(data / "cifar-10-batches-py", writers.cifar_like(10, 50, 20),
                          DATASETS["cifar10"].classes)
    writers.write_cifar100(data / "cifar-100-python", writers.cifar_like(100, 100, 40, seed=2),
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


# Commands cut to a few steps on the tests' tiny inputs (argparse keeps an option's last value).
TINY = {"zoo.bench.gpu": ["--precision", "bf16", "--batch-size", "4", "--steps", "2", "--epochs",
                          "2", "--matmul-n", "128", "--seconds", "0.2", "--json", "gpu.json"]}

# Shell lines the docs may show without running them here: set-up, not the zoo's commands.
NOT_RUN = ("pip ", "python3 -m venv ", "python -m pytest", "mkdocs ", "export ", "git ", "cd ",
           ".ci/run", "tensorboard ")


def run_command(line: str, monkeypatch) -> None:
    """Run one `python -m zoo...` line in this process; training commands are cut to 1 epoch.

    `VAR=value` prefixes are set for the command; a backend that is not installed skips it.
    Any other line must be set-up listed in NOT_RUN, so a new kind of command needs a runner.
    """
    words = shlex.split(line, comments=True)
    if not words or line.strip().startswith(NOT_RUN):
        return
    env = {}
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    if words[:2] != ["python", "-m"] or not words[2].startswith("zoo."):
        pytest.fail(f"the docs show {line!r}, which no test runs: give it a runner or NOT_RUN")
    if env.get("KERAS_BACKEND", "tensorflow") != keras.backend.backend():
        # The backend is chosen at import: run the command in a process of its own.
        if importlib.util.find_spec(env["KERAS_BACKEND"]) is None:
            pytest.skip(f"{env['KERAS_BACKEND']} is not installed")
        args = words[3:] + (["--epochs", "1", "--steps", "2"] if words[2] == "zoo.train" else
                            TINY.get(words[2], []))
        done = subprocess.run([sys.executable, "-m", words[2], *args],
                              env=backend_env(env["KERAS_BACKEND"], **env),
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{line!r} failed: {done.stderr[-2000:]}"
        return
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    module, args = words[2], words[3:]
    if module == "zoo.train":
        from zoo.train import cli

        trains = args and not args[0].startswith("-")
        if trains and "--epochs" not in args:
            args += ["--epochs", "1", "--steps", "2"]
        if trains and "--batch-size" not in args:  # the recipe's 128 costs minutes on a CPU
            args += ["--batch-size", "8"]
        try:
            code = cli.main(args)
        except SystemExit as exit_:  # --help
            code = exit_.code
        assert code == 0, f"{line!r} exited with {code}"
    elif module == "zoo.bench":
        from zoo.bench import cli

        tiny = ["--seconds", "0.3", "--windows", "2", "--steps", "1", "--no-loaders",
                "--no-end-to-end", "--json", "bench.json", "--markdown", "bench.md"]
        if "--batch-size" not in args:
            tiny += ["--batch-size", "8"]
        if "--backends" in args:  # the other backends: tests/test_bench.py, on a small model
            at = args.index("--backends") + 1
            while at < len(args) and not args[at].startswith("-"):
                args.pop(at)
            args.insert(at, "tensorflow")
            # and its first model only (the page's first command benchmarks its models)
            models = next(i for i, word in enumerate(args) if word.startswith("-"))
            del args[1:models]
        assert cli.main(args + tiny) == 0, f"{line!r} failed"
    elif module == "zoo.bench.gpu":
        from zoo.bench import gpu

        assert gpu.main(args + TINY[module]) == 0, line
    elif module == "zoo.bench.settings":
        from zoo.bench import settings

        assert settings.main([*args, "--steps", "2", "--batch-size", "8"]) == 0, line
    elif module == "zoo.bench.ceiling":
        from zoo.bench import ceiling

        assert ceiling.main([*args, "--seconds", "0.05", "--steps", "2", "--batch-size", "8"]
                            ) == 0, line
    elif module == "zoo.reproduce":
        from zoo import reproduce

        # One epoch (a budget under one), recorded in the test's folder, not the checkout's.
        monkeypatch.setenv("ZOO_RESULTS_DIR", str(Path.cwd() / "results"))
        assert reproduce.main([*args, "--budget-minutes", "1e-5"]) == 0, line
        assert args[0] in {row["model"] for row in results.read()}, line
    else:
        pytest.fail(f"no runner for {module} in the docs tests")


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_examples_on_hand_written_pages_run(page, tiny_data, monkeypatch):
    text = page.read_text()
    namespace: dict = {}
    for code in blocks(text, "python"):
        run_python(code, namespace)
    for code in blocks(text, "bash"):
        for line in code.replace("\\\n", " ").splitlines():  # join continued lines
            run_command(line, monkeypatch)


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


def test_site_structure_family_pages_and_model_sections(site):
    assert not (site / "SUMMARY").exists()  # the navigation source is not a page
    for family, names in docs.families().items():
        assert (site / "models" / family / "index.html").is_file(), family
        for name in names:
            html = (site / "models" / family / name / "index.html").read_text()
            for section in ("Architecture", "Options", "Training recipe", "Results", "Use"):
                assert f">{section}<" in html, (name, section)
    gan = (site / "models" / "gan" / "dcgan" / "index.html").read_text()
    assert "generator/project" in gan and "discriminator/logit" in gan  # nested networks
    for page in site.rglob("*.html"):
        text = page.read_text()
        assert "<!-- zoo:" not in text and " 1 epochs" not in text, page


# Measured figures (a percentage, a decimal) come from code through markers, never typed.
TYPED_FIGURE = re.compile(r"(?<![\w.`/-])\d+(?:\.\d+)?%|(?<![\w.`/-])\d+\.\d+(?![\w.`/-])")

NOT_FIGURES = {"3.10": "the oldest Python pyproject.toml accepts",
               "100%": "what top-k accuracy is when k covers every class"}


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_hand_written_prose_types_no_figures(page):
    prose = BLOCK.sub("", re.sub(r"^```text\n.*?^```", "", page.read_text(), flags=re.S | re.M))
    prose = re.sub(r"`[^`]*`", "", prose)  # inline code: names, commands, options
    prose = docs.MARKER.sub("", prose)  # values beside their markers: checked against the code
    typed = [m.group(0) for m in TYPED_FIGURE.finditer(prose) if m.group(0) not in NOT_FIGURES]
    assert not typed, f"{page.name} types {typed}: fill them from the code with a marker"


def test_markers_are_filled_from_the_code():
    from zoo.data import text

    filled = docs.fill_markers("<!-- zoo:sequence_length --> tokens", docs.values())
    assert filled == f"{text.SEQUENCE_LENGTH:,} tokens"
    with pytest.raises(ValueError, match="unknown marker"):
        docs.fill_markers("<!-- zoo:nonsense -->", docs.values())
    written = docs.fill_markers("last <!-- zoo:sequence_length -->12<!-- /zoo --> tokens",
                                docs.values())
    assert written == f"last {text.SEQUENCE_LENGTH:,} tokens"  # the value beside it is replaced
    assert docs.stale_values("<!-- zoo:sequence_length -->12<!-- /zoo -->", docs.values()) == [
        f"<!-- zoo:sequence_length -->{text.SEQUENCE_LENGTH:,}<!-- /zoo --> (written: '12')"]


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_settings_written_beside_their_markers_are_the_codes(page):
    """A page read unbuilt (on GitHub, as the README links it) shows the values written beside
    the markers; they said "(default )" when the markers stood alone."""
    stale = docs.stale_values(page.read_text(), docs.values())
    assert not stale, f"{page.name}: write " + "; ".join(stale)


def test_training_times_under_a_minute_are_given_in_seconds():
    # the MLPs train in 9-30 s: "0 min of training" on their pages said nothing
    assert [docs.duration_text(s) for s in (9, 30, 59, 60, 2339, 4775, 5990, 11_520)] == [
        "9 s", "30 s", "59 s", "1 min", "39 min", "80 min", "1.7 h", "3.2 h"]
    page = docs.model_page("mnist_mlp")
    wall = zoo.results.measured_per_dataset("mnist_mlp")[0].wall_time_s
    assert wall < 60 and f"{wall:.0f} s of training on" in page
    assert "0 min of training" not in page
