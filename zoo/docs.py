"""Markdown for the documentation site, rendered from the registry, the cards and the dataset catalog.

The site's model pages, the models table and the datasets table are all made here at build
time (`docs/gen_pages.py`), so registering a model gives it a page and a table row, and no
number on those pages is typed by hand.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
from collections import Counter
from pathlib import Path

import keras

import zoo
from zoo import results
from zoo.data import catalog
from zoo.recipe import epochs_text
from zoo.registry import Card

TASKS = {
    "classification": "image classification",
    "binary_classification": "text classification (sentiment)",
    "reconstruction": "image reconstruction",
    "generation": "image generation",
}


def percent(value: float) -> str:
    return f"{100 * value:.2f}%"


def metric_text(key: str, value: float, task: str | None = None) -> str:
    """`accuracy 0.72` -> `top-1 72.00%` (`accuracy 72.00%` for a binary classifier, which has
    no top-k); other metrics as numbers."""
    if key == "accuracy":
        return f"{'accuracy' if task == 'binary_classification' else 'top-1'} {percent(value)}"
    if key.startswith("top") and key.endswith("_accuracy"):
        return f"top-{key[3:-9]} {percent(value)}"
    return f"{key.replace('_', ' ')} {value:.4g}"


def duration_text(seconds: float) -> str:
    """A training time as read in a table: `9 s` under a minute, `39 min` under 100, then `3.2 h`."""
    if seconds < 59.5:
        return f"{seconds:.0f} s"
    if seconds < 99.5 * 60:  # what rounds to 100 min reads 1.7 h
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def metrics_text(metrics: dict[str, float], task: str | None = None) -> str:
    return ", ".join(metric_text(k, v, task) for k, v in metrics.items())


FAMILY_ORDER = ("mlp", "vgg", "resnet", "autoencoder", "rnn", "gan")  # the README's order


def ordered_models() -> list[str]:
    """Every registered name, family by family (the README's order; new families last)."""
    def key(name: str):
        family = zoo.card(name).family
        rank = FAMILY_ORDER.index(family) if family in FAMILY_ORDER else len(FAMILY_ORDER)
        return rank, family, name

    return sorted(zoo.list_models(), key=key)


def families() -> dict[str, list[str]]:
    """Registered model names grouped by family, families in the README's order."""
    out: dict[str, list[str]] = {}
    for name in ordered_models():
        out.setdefault(zoo.card(name).family, []).append(name)
    return out




def family_title(family: str) -> str:
    return {"mlp": "MLPs", "vgg": "VGG", "resnet": "ResNets", "autoencoder": "Autoencoders",
            "rnn": "Recurrent sentiment models", "gan": "GAN"}.get(family, family)


def model_path(name: str) -> str:
    """The page of model `name`, relative to the docs root."""
    return f"models/{zoo.card(name).family}/{name}.md"


def reference_text(card: Card) -> str:
    """The reference result for tables, naming its dataset or split where not the card's test."""
    ref = card.reference
    if ref is None:
        return "-"
    where = [f"{ref.model}'s"] if ref.model else []
    if ref.dataset != card.dataset:
        where.append(ref.dataset)
    if ref.split != "test":
        where.append(f"{ref.split} split")
    return metrics_text(ref.metrics, card.task) + (f" ({', '.join(where)})" if where else "")


def run_length_text(card: Card, result) -> str:
    """`5 epochs`, or `14 of 180 epochs` for a run cut short of the card's recipe (a budget),
    then `, over its 90-minute budget` where the run's training took longer than its budget."""
    full, epochs = card.recipe.epochs, result.epochs
    text = epochs_text(epochs) if epochs >= full else f"{epochs:g} of {epochs_text(full)}"
    overrun = results.over_budget(result.notes, result.wall_time_s)
    if overrun is not None:
        text += f", over its {results.budget_text(overrun)}"
    return text


def measured_text(card: Card) -> str:
    """The measured result for tables; a result on another dataset than the card's says so."""
    missing = results.not_measured().get(card.name)
    if card.measured is None:
        return f"not measured on {missing['dataset']}" if missing else "not measured yet"
    m = card.measured
    text = f"{metrics_text(m.metrics, card.task)} ({m.dataset}, {run_length_text(card, m)})"
    if m.dataset != card.dataset:
        text = f"not measured on {card.dataset}; {text}"
    return text


def models_table(link_prefix: str = "", sources: bool = True) -> str:
    """Every registered model in one table: family, dataset, size, reference and measured results."""
    lines = ["| model | family | dataset | parameters | reference | measured here |",
             "|---|---|---|---:|---|---|"]
    for name in ordered_models():
        card = zoo.card(name)
        reference = reference_text(card)
        if sources and card.reference:
            reference += f"<br><small>{card.reference.source.split(':')[0]}</small>"
        lines.append(f"| [{name}]({link_prefix}{card.family}/{name}.md) | "
                     f"{family_title(card.family)} | {card.dataset} | {card.params:,} | "
                     f"{reference} | {measured_text(card)} |")
    return "\n".join(lines)


def _leaf_layers(model, prefix: str = ""):
    """`(path, layer)` for every layer, looking inside nested models (a GAN's two networks,
    a VAE's encoder and decoder); input layers left out."""
    for layer in getattr(model, "layers", []):
        if isinstance(layer, keras.Model) and getattr(layer, "layers", None):
            yield from _leaf_layers(layer, f"{prefix}{layer.name}/")
        elif type(layer).__name__ != "InputLayer":
            yield prefix + layer.name, layer


def _architecture(name: str) -> str:
    """A count of layer types and a layer-by-layer table of the built model (collapsed)."""
    model = zoo.get(name, compile=False)
    layers = list(_leaf_layers(model))
    nested = [layer.name for layer in getattr(model, "layers", [])
              if isinstance(layer, keras.Model)]
    kinds = Counter(type(layer).__name__ for _, layer in layers)
    inside = (f", counting those inside its {' and '.join(f'`{n}`' for n in nested)} networks"
              if nested else "")
    lines = ["Built with its default options, it has "
             + ", ".join(f"{n} {kind}" for kind, n in kinds.most_common()) + f" layers{inside}.",
             "",
             '??? note "Layer by layer"', "",
             "    | layer | type | output shape | parameters |",
             "    |---|---|---|---:|"]
    for path, layer in layers:
        try:
            shape = str(tuple(layer.output.shape))
        except (AttributeError, ValueError):
            shape = "-"
        lines.append(f"    | `{path}` | {type(layer).__name__} | {shape} | "
                     f"{layer.count_params():,} |")
    return "\n".join(lines)


def _options(name: str) -> str:
    builder = zoo.registry.builder(name)
    lines = ["| option | default |", "|---|---|"]
    lines += [f"| `{k}` | `{v!r}` |" for k, v in zoo.options(name).items()]
    doc = inspect.getdoc(builder) or ""
    return (doc.splitlines()[0] + "\n\n" if doc else "") + "\n".join(lines) + (
        f"\n\nPass them to `zoo.get(\"{name}\", option=value)` or "
        f"`python -m zoo.train {name} --option option=value`.")


def _recipe(card: Card) -> str:
    r = card.recipe
    lines = [f"{r.summary()}.", "", r.notes, "", '??? note "Every setting"', "",
             "    | setting | value |", "    |---|---|"]
    lines += [f"    | `{f.name}` | `{getattr(r, f.name)!r}` |" for f in dataclasses.fields(r)
              if f.name != "notes"]
    return "\n".join(lines)


def _results(card: Card) -> str:
    lines = ["| | result | dataset | details |", "|---|---|---|---|"]
    if card.reference:
        notes = f" {card.reference.notes}" if card.reference.notes else ""
        split = f" ({card.reference.split})" if card.reference.split != "test" else ""
        if card.reference.model:
            notes = f" Measured on {card.reference.model}.{notes}"
        lines.append(f"| reference | {metrics_text(card.reference.metrics, card.task)} | "
                     f"{card.reference.dataset}{split} | {card.reference.source}.{notes} |")
    else:
        lines.append("| reference | - | - | no published figure for this exact model |")
    missing = results.not_measured().get(card.name)
    if missing:
        lines.append(f"| measured here | not measured | {missing['dataset']} | "
                     f"{missing['reason']} |")
    measured = results.measured_per_dataset(card.name)
    for m in measured:
        notes = f" {m.notes}." if m.notes else ""
        lines.append(f"| measured here | {metrics_text(m.metrics, card.task)} | {m.dataset} | "
                     f"{run_length_text(card, m)}, {duration_text(m.wall_time_s)} of "
                     "training on "
                     f"{m.hardware}, {m.backend} backend, {m.date}.{notes} |")
    if not measured and not missing:
        lines.append("| measured here | not measured yet | - | - |")
    return "\n".join(lines) + (
        "\n\nMeasured results come from `python -m zoo.reproduce " + card.name + "`, which "
        "appends them to `results/results.csv`.")


def example(name: str) -> str:
    """A short Python example for model `name` that runs as written (the docs tests run it)."""
    card = zoo.card(name)
    head = f'import zoo\n\nmodel = zoo.get("{name}")\n'
    if card.task == "classification":
        return head + (
            f'train, val, test = zoo.data.load("{card.dataset}", '
            f'split=["train", "validation", "test"])\n'
            "model.fit(train, validation_data=val, epochs=1)\n"
            "print(model.evaluate(test, return_dict=True))  # loss, accuracy, top5_accuracy\n")
    if card.task == "binary_classification":
        return head + (
            f'train, val = zoo.data.load("{card.dataset}", split=["train", "validation"])\n'
            "model.fit(train, validation_data=val, epochs=1)\n\n"
            "# the same vocabulary turns raw reviews into the model's input\n"
            f'vectorizer = zoo.data.vectorizer("{card.dataset}")\n'
            'logits = model.predict(vectorizer(["A wonderful, moving film.", "Dull and far too '
            'long."]))\n'
            "print(logits[:, 0] > 0)  # True where the review reads as positive\n")
    if card.task == "reconstruction":
        extra = ("new_images = model.sample(8)  # decoded from random latent vectors\n"
                 if name == "vae" else "")
        return head + (
            f'train, test = zoo.data.load("{card.dataset}", split=["train", "test"])\n'
            "model.fit(train, epochs=1)  # the labels that come with the images are ignored\n"
            "images, _ = next(iter(test))\n"
            "reconstructions = model.predict(images)  # pixel probabilities in [0, 1]\n" + extra)
    return head + (
        f'train = zoo.data.load("{card.dataset}", split="train")\n'
        "model.fit(train, epochs=1)  # logs d_loss and g_loss\n"
        "images = model.generate(16)  # pixel values in [0, 255]\n")


def model_page(name: str) -> str:
    """The page of one model: what it is, shapes, architecture, options, recipe, results, use."""
    card = zoo.card(name)
    aliases = f" (alias: {', '.join(f'`{a}`' for a in card.aliases)})" if card.aliases else ""
    return "\n".join([
        f"# {name}",
        "",
        f"{card.description}{aliases}",
        "",
        "| property | value |",
        "|---|---|",
        f"| family | [{family_title(card.family)}](index.md) |",
        f"| task | {TASKS[card.task]} |",
        f"| default dataset | [{card.dataset}](../../datasets.md) |",
        f"| input | `{card.input_shape}` {card.input_dtype} |",
        f"| output | `{card.output_shape}`: {card.output} |",
        f"| parameters | {card.params:,} |",
        "",
        "## Architecture",
        "",
        _architecture(name),
        "",
        "## Options",
        "",
        _options(name),
        "",
        "## Training recipe",
        "",
        _recipe(card),
        "",
        "## Results",
        "",
        _results(card),
        "",
        "## Use",
        "",
        "```python",
        example(name).rstrip(),
        "```",
        "",
        "Train it with its recipe from the command line:",
        "",
        "```bash",
        f"python -m zoo.train {name}",
        "```",
        "",
    ])


def family_page(family: str) -> str:
    """A family's page: the module's description and a table of its models."""
    names = families()[family]
    module = importlib.import_module(zoo.registry.builder(names[0]).__module__)
    doc = inspect.getdoc(module) or ""
    lines = [f"# {family_title(family)}", "", doc, "",
             "| model | dataset | parameters | reference | measured here |",
             "|---|---|---:|---|---|"]
    for name in names:
        card = zoo.card(name)
        lines.append(f"| [{name}]({name}.md) | {card.dataset} | {card.params:,} | "
                     f"{reference_text(card)} | {measured_text(card)} |")
    return "\n".join(lines) + "\n"


def models_overview() -> str:
    return "\n".join([
        "# Models",
        "",
        "Every registered model, with its default dataset, size, the literature's result "
        "and the result measured by this project, on the test split unless it says otherwise "
        "(accuracy for classifiers, reconstruction loss for autoencoders, FID for the GAN).",
        "",
        models_table(),
        "",
        "`python -m zoo.train --list` prints the same table in a terminal.",
        "",
    ])


def datasets_table() -> str:
    """Every dataset: examples per split, classes, example shape, and the local files accepted."""
    lines = ["| dataset | train | test | classes | example | local files accepted |",
             "|---|---:|---:|---:|---|---|"]
    for spec in catalog.DATASETS.values():
        shape = "text" if spec.kind == "text" else f"`{spec.shape}` uint8"
        files = ", ".join(f"`{rel}`" for rel in dict.fromkeys(rel for _, rel in spec.files))
        lines.append(f"| `{spec.name}` | {spec.counts['train']:,} | {spec.counts['test']:,} | "
                     f"{spec.num_classes} | {shape} | {files} |")
    return "\n".join(lines)


REPO = Path(__file__).resolve().parents[1]


def benchmark_results(name: str = "results.md") -> str:
    """The latest `python -m zoo.bench` tables (benchmarks/NAME), or a note if none."""
    path = REPO / "benchmarks" / name
    return path.read_text() if path.exists() else "No benchmark has been recorded yet."


def values() -> dict[str, str]:
    """Settings the hand-written pages quote, read from the code (`<!-- zoo:NAME -->` markers)."""
    from zoo.data import pipeline, text
    from zoo.train import core

    load = inspect.signature(zoo.data.load).parameters
    validation = inspect.signature(core.fit).parameters["validation"].default
    return {"vocab_size": f"{load['vocab_size'].default:,}",
            "sequence_length": f"{text.SEQUENCE_LENGTH:,}",
            "crop_padding": str(pipeline.CROP_PADDING),
            "validation": f"{validation:g}", "validation_percent": f"{100 * validation:g}%"}


# A setting is written beside its marker, `<!-- zoo:NAME -->value<!-- /zoo -->`, so the page
# reads right unbuilt too (stale_values checks it); a table's marker stands alone.
MARKER = re.compile(r"<!-- zoo:(\w+) -->(?:(?P<written>[^<\n]*)<!-- /zoo -->)?")


def fill_markers(text: str, fills: dict[str, str], page: str = "page") -> str:
    """Replace each marker in `text` (with the value written beside it) by `fills[NAME]`; an
    unknown NAME is an error."""
    def fill(match: re.Match) -> str:
        if match.group(1) not in fills:
            raise ValueError(f"{page}: unknown marker {match.group(0)}")
        return fills[match.group(1)]

    return MARKER.sub(fill, text)


def stale_values(text: str, fills: dict[str, str]) -> list[str]:
    """The settings of `fills` whose markers in `text` are not followed by the value the code
    gives now (`<!-- zoo:NAME -->value<!-- /zoo -->`), each as a line saying what to write."""
    return [f"<!-- zoo:{m.group(1)} -->{fills[m.group(1)]}<!-- /zoo --> "
            f"(written: {m.group('written')!r})"
            for m in MARKER.finditer(text)
            if m.group(1) in fills and m.group("written") != fills[m.group(1)]]


def nav() -> str:
    """The site's navigation (literate-nav's SUMMARY.md): fixed pages, then every model."""
    lines = ["* [Home](index.md)", "* [Models](models/index.md)"]
    for family, names in families().items():
        lines.append(f"    * [{family_title(family)}](models/{family}/index.md)")
        lines += [f"        * [{name}]({model_path(name)})" for name in names]
    lines += ["* [Datasets](datasets.md)", "* [Training](training.md)",
              "* [Benchmarks](benchmarks.md)", "* [API reference](api.md)"]
    return "\n".join(lines) + "\n"
