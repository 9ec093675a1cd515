"""Validators for user-given options: each returns the clean value or raises `ZooError`."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np

from zoo.errors import ZooError, unknown

SIZE_MAX = 1 << 20  # a layer width, filter count, class count or latent size beyond any sane model
SEED_MAX = (1 << 32) - 1  # what numpy (and so keras.utils.set_random_seed) accepts


def integer(name: str, value: object, *, minimum: int = 1, maximum: int | None = None) -> int:
    """Return `value` as an int in `[minimum, maximum]`; bools, floats and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ZooError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ZooError(f"{name} must be {bound}, got {value}")
    return value


def number(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    open_min: bool = False,
    open_max: bool = False,
) -> float:
    """Return `value` as a finite float within the given bounds (open or closed at each end)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ZooError(f"{name} must be a number, got {value!r}")
    value = float(value)
    too_low = minimum is not None and (value <= minimum if open_min else value < minimum)
    too_high = maximum is not None and (value >= maximum if open_max else value > maximum)
    if not math.isfinite(value) or too_low or too_high:
        low = "" if minimum is None else ("(" if open_min else "[") + f"{minimum:g}"
        high = "" if maximum is None else f"{maximum:g}" + (")" if open_max else "]")
        span = f"in {low or '(-inf'}, {high or 'inf)'}"
        raise ZooError(f"{name} must be a finite number {span}, got {value!r}")
    return value


def positive(name: str, value: object) -> float:
    """Return `value` as a finite float > 0."""
    return number(name, value, minimum=0.0, open_min=True)


def rate(name: str, value: object) -> float:
    """Return `value` as a float in [0, 1): a dropout or smoothing rate."""
    return number(name, value, minimum=0.0, maximum=1.0, open_max=True)


def shape(name: str, value: object, ndim: int) -> tuple[int, ...]:
    """Return `value` as a tuple of `ndim` positive ints."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ZooError(f"{name} must be a tuple of {ndim} positive integers, got {value!r}")
    items = tuple(value)
    if len(items) != ndim:
        raise ZooError(f"{name} must have {ndim} dimensions, got {items!r}")
    return tuple(integer(f"{name}[{i}]", v) for i, v in enumerate(items))


def choice(name: str, value: object, choices: Iterable[str]) -> str:
    """Return `value` if it is one of `choices`, else raise with close matches."""
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        raise unknown(name, value, choices)
    return value


def flag(name: str, value: object) -> bool:
    """Return `value` if it is a bool (numpy's too); strings such as "no" are refused."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ZooError(f"{name} must be True or False, got {value!r}")


def size(name: str, value: object, *, minimum: int = 1) -> int:
    """Return `value` as an int in `[minimum, SIZE_MAX]`: a layer's width, a count of classes."""
    return integer(name, value, minimum=minimum, maximum=SIZE_MAX)


def seed(value: object) -> int:
    """Return `value` as a seed: an int in `[0, SEED_MAX]`."""
    return integer("seed", value, minimum=0, maximum=SEED_MAX)


def optional_seed(value: object) -> int | None:
    """None (Keras draws a fresh seed), else `seed(value)`."""
    return None if value is None else seed(value)


def widths(name: str, value: object) -> tuple[int, ...]:
    """Return `value` as a non-empty tuple of positive ints (layer widths) up to `SIZE_MAX`."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ZooError(f"{name} must be a sequence of positive integers, got {value!r}")
    items = tuple(value)
    if not items:
        raise ZooError(f"{name} must not be empty")
    return tuple(size(f"{name}[{i}]", v) for i, v in enumerate(items))
