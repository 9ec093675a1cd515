"""The model registry: `register` a builder with its card, then `get`, `list_models` and `card` by name."""

from __future__ import annotations

import dataclasses
import fnmatch
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras

from zoo import checks
from zoo.errors import ZooError, unknown
from zoo.recipe import TASKS, Recipe, compile_model


@dataclass(frozen=True)
class Reference:
    """A result from the literature: metric values (fractions, e.g. 0.72) on a dataset, with the source."""

    dataset: str
    metrics: dict[str, float]
    source: str
    notes: str = ""
    split: str = "test"  # where the source measured it: "test", or "validation" where it says
    model: str = ""  # the model the source measured, where it is not this one (a close kin)


@dataclass(frozen=True)
class Result:
    """A result measured by this project's own code (read from `results/results.csv`)."""

    dataset: str
    metrics: dict[str, float]
    epochs: int
    wall_time_s: float
    hardware: str
    backend: str
    date: str
    notes: str = ""


@dataclass(frozen=True)
class Card:
    """Everything about one model: what it does, its shapes and size, how to train it, how well it does.

    `input_shape` and `input_dtype` describe what `model(x)` takes without the batch axis; image
    models take raw pixels (0-255) and rescale inside. `params` is written in the card as a literal
    number and a test checks it against the built model (`model.count_params()`, all weights).
    `measured` is `None` until this project has trained the model and recorded the result.
    """

    name: str
    family: str
    task: str
    dataset: str
    input_shape: tuple[int, ...]
    input_dtype: str
    output_shape: tuple[int, ...]
    output: str
    params: int
    recipe: Recipe
    description: str
    reference: Reference | None = None
    measured: Result | None = None
    aliases: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ZooError(f"a card's name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.aliases, (tuple, list)) or not all(
                isinstance(a, str) and a for a in self.aliases):
            raise ZooError(f"{self.name}: aliases must be a tuple of names, got "
                           f"{self.aliases!r}" + (f" (write ({self.aliases!r},))"
                                                  if isinstance(self.aliases, str) else ""))
        object.__setattr__(self, "aliases", tuple(self.aliases))  # frozen: a list becomes one
        checks.choice("task", self.task, TASKS)


@dataclass(frozen=True)
class _Entry:
    builder: Callable[..., keras.Model]
    card: Card


_REGISTRY: dict[str, _Entry] = {}
_ALIASES: dict[str, str] = {}


def register(card: Card) -> Callable[[Callable[..., keras.Model]], Callable[..., keras.Model]]:
    """Decorator: record the decorated builder under `card.name` (and its aliases) with its card.

    The builder takes only keyword options with defaults (`num_classes=100`, ...); those are the
    overrides `get` accepts. Registering a name or alias that is taken raises `ZooError`.
    """

    if not isinstance(card, Card):
        raise ZooError(f"register takes the model's Card, got {card!r}: "
                       "@zoo.register(zoo.Card(name=..., ...))")

    def decorate(builder: Callable[..., keras.Model]) -> Callable[..., keras.Model]:
        if not callable(builder):
            raise ZooError(f"register({card.name!r}) decorates a function that builds the "
                           f"model, got {builder!r}")
        for name in (card.name, *card.aliases):
            if name in _REGISTRY or name in _ALIASES:
                raise ZooError(f"a model named {name!r} is already registered")
        for param in inspect.signature(builder).parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise ZooError(f"builder {builder.__name__} takes *{param.name}: its options "
                               "must be named keyword parameters with defaults, which get() "
                               "checks and options() lists")
            if param.default is inspect.Parameter.empty:
                raise ZooError(f"builder {builder.__name__} option {param.name!r} needs a default")
        _REGISTRY[card.name] = _Entry(builder, card)
        for alias in card.aliases:
            _ALIASES[alias] = card.name
        return builder

    return decorate


def unregister(name: str) -> None:
    """Remove a registered model and its aliases (for tests and interactive experiments)."""
    entry = _REGISTRY.pop(resolve(name))
    for alias in entry.card.aliases:
        _ALIASES.pop(alias, None)


def resolve(name: str) -> str:
    """The registered name for `name` or its alias; unknown names raise with close matches."""
    if not isinstance(name, str):
        raise ZooError(f"a model name must be a string, got {name!r}")
    if name in _REGISTRY:
        return name
    if name in _ALIASES:
        return _ALIASES[name]
    names = [*_REGISTRY, *_ALIASES]
    same = [n for n in names if n.lower() == name.lower()]
    if same:  # names are case-sensitive, as Keras' and TFDS' are: say which one was meant
        raise ZooError(f"unknown model {name!r} (did you mean {same[0]!r}?); model names are "
                       "case-sensitive")
    raise unknown("model", name, names)


def list_models(pattern: str = "*", exclude: str | tuple[str, ...] = ()) -> list[str]:
    """Sorted registered names matching the shell-style `pattern` and none of `exclude`.

    An alias, as the pattern or in `exclude`, stands for its model: `list_models("mlp")` is
    `["mnist_mlp"]`. Matching ignores case: `list_models("RES*")` lists the ResNets.
    """
    excludes = (exclude,) if isinstance(exclude, str) else exclude
    if not isinstance(excludes, (tuple, list)):
        raise ZooError(f"exclude must be a pattern or a tuple of patterns, got {exclude!r}")
    patterns = [pattern, *excludes]
    for p in patterns:
        if not isinstance(p, str):
            raise ZooError(f"a model name pattern must be a string, like 'res*', got {p!r}")
    aliases = {alias.lower(): name for alias, name in _ALIASES.items()}
    pattern, *excludes = [aliases.get(p.lower(), p.lower()) for p in patterns]
    return sorted(
        name for name in _REGISTRY
        if fnmatch.fnmatchcase(name.lower(), pattern)
        and not any(fnmatch.fnmatchcase(name.lower(), e) for e in excludes)
    )


def card(name: str) -> Card:
    """The card of model `name` (or alias), with the result measured here when there is one.

    The measured result is a run in `results/results.csv` on the card's dataset, else on
    whatever dataset the model was measured (the result names it): the newest run of the full
    recipe, or where there is none the budget run with the largest budget, one that kept to it
    first (`zoo.results.measured`).
    """
    from zoo import results  # reads the registry's Result type; imported late to avoid a cycle

    found = _REGISTRY[resolve(name)].card
    measured = results.measured(found.name, found.dataset) or results.measured(found.name)
    return dataclasses.replace(found, measured=measured) if measured else found


def builder(name: str) -> Callable[..., keras.Model]:
    """The builder function registered for model `name` (or alias)."""
    return _REGISTRY[resolve(name)].builder


def options(name: str) -> dict[str, Any]:
    """The builder options of model `name` with their defaults: what `get(name, **overrides)` accepts."""
    return {p.name: p.default for p in inspect.signature(builder(name)).parameters.values()}


def get(name: str, *, compile: bool = True, steps_per_epoch: int | None = None,
        **overrides: Any) -> keras.Model:
    """A freshly built model, compiled with its card's recipe unless `compile=False`.

    `overrides` are the builder's options (see `options(name)`), e.g.
    `get("resnet18", num_classes=10)`. An unknown option raises `ZooError` listing the valid
    ones; a value the builder refuses raises `ZooError` saying why.

    The recipe's learning-rate schedule (warm-up, one-cycle or cosine decay over the recipe's
    epochs) is counted in steps, so it needs `steps_per_epoch`, the batches in an epoch of your
    data (`len(train)` of a `zoo.data.load` dataset). Without it the optimizer runs at the
    recipe's peak rate throughout; `zoo.train.fit` always passes it.
    """
    entry = _REGISTRY[resolve(name)]
    compile = checks.flag("compile", compile)
    if steps_per_epoch is not None:
        steps_per_epoch = checks.integer("steps_per_epoch", steps_per_epoch)
        if not compile:
            raise ZooError("steps_per_epoch sets the compiled optimizer's schedule: it does "
                           "nothing with compile=False")
    valid = options(entry.card.name)
    bad = sorted(set(overrides) - set(valid))
    if bad:
        raise ZooError(
            f"unknown option(s) {', '.join(map(repr, bad))} for model {entry.card.name!r}; "
            f"valid: {', '.join(f'{k}={v!r}' for k, v in valid.items())}"
        )
    try:
        model = entry.builder(**overrides)
    except ZooError as err:
        raise ZooError(f"{entry.card.name}: {err}") from None
    except (ValueError, TypeError) as err:
        raise ZooError(
            f"cannot build {entry.card.name!r} with {overrides}: {err}; "
            f"valid options: {', '.join(f'{k}={v!r}' for k, v in valid.items())}"
        ) from err
    if not isinstance(model, keras.Model):
        raise ZooError(f"the builder of {entry.card.name!r} returned {type(model).__name__}, "
                       "not a keras.Model")
    if compile:
        compile_model(model, entry.card.task, entry.card.recipe, steps_per_epoch=steps_per_epoch)
    return model
