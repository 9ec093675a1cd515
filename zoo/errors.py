"""The one error type the zoo raises for bad user input, and helpers that build its messages."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable


class ZooError(ValueError):
    """Something the user asked for cannot be done; the message says what and how to fix it.

    It subclasses `ValueError` so code that already catches bad-value errors keeps working.
    The command-line tools print the message alone and exit with status 2.
    """


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return `" (did you mean 'x'?)"` for the closest choices to `name`, or `""` if none is close.

    Case is ignored in the comparison, so `'MNIST'` suggests `'mnist'`."""
    lowered = {str(c).lower(): c for c in choices}
    matches = [lowered[m] for m in difflib.get_close_matches(str(name).lower(), list(lowered),
                                                             n=3, cutoff=0.6)]
    if not matches:
        return ""
    quoted = " or ".join(repr(m) for m in matches)
    return f" (did you mean {quoted}?)"


def unknown(kind: str, name: object, choices: Iterable[str]) -> ZooError:
    """Build the error for an unknown `kind` called `name`, naming close matches and the valid ones."""
    choices = sorted(choices)
    return ZooError(
        f"unknown {kind} {name!r}{did_you_mean(str(name), choices)}; "
        f"valid: {', '.join(choices)}"
    )


def first_line(err: BaseException, default: str | None = None) -> str:
    """The first line of `err`'s message, for quoting a library's error in one of ours; its type
    name (or `default`) when the message is empty. The graph-node and tf.data iterator
    prefixes of a TensorFlow op error are left out: they name TensorFlow's internals."""
    lines = str(err).strip().splitlines()
    line = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", lines[0]) if lines else ""
    line = re.sub(r"^Error in user-defined function passed to .*? transformation with "
                  r"iterator: [\w:]+: ", "", line)
    if line:
        return line
    return type(err).__name__ if default is None else default
