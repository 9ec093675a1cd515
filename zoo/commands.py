"""What every `python -m zoo...` command shares: one-line errors and checked argument types.

Bad input exits with status 2 and one line saying what is wrong (never a traceback); a failure
of the machine (a full disk, a file that cannot be written) exits with status 1 and one line.
"""

from __future__ import annotations

import argparse
import ast
import functools
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from zoo.errors import ZooError
from zoo.train.callbacks import TrainingInterrupted

COUNT_MAX = 1 << 31  # batches, steps, epochs, windows: beyond this a typo, not a plan
AMOUNT_MAX = 1e6  # seconds or minutes of a measurement or a training budget


def one_line(message: object) -> str:
    """`message` on one line: its lines, stripped, joined by spaces."""
    return " ".join(line.strip() for line in str(message).splitlines() if line.strip())


class Parser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` whose errors are one line: `error: ... (see PROG --help)`."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(**kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {one_line(message)} (see {self.prog} --help)\n")


def _whole(text: str, low: int, high: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"expected {what} from {low} to {high}, got {value}")
    return value


def count(text: str) -> int:
    """An argparse type: a whole number from 1 up to `COUNT_MAX`."""
    return _whole(text, 1, COUNT_MAX, "a number")


def seed(text: str) -> int:
    """An argparse type: a seed, a whole number from 0 to 2**32 - 1."""
    return _whole(text, 0, (1 << 32) - 1, "a seed")


def positive(text: str) -> float:
    """An argparse type: a number above 0 and at most `AMOUNT_MAX` (seconds, minutes)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and 0 < value <= AMOUNT_MAX):
        raise argparse.ArgumentTypeError(f"expected a number above 0 and at most {AMOUNT_MAX:g}, "
                                         f"got {text!r}")
    return value


def model_name(text: str) -> str:
    """An argparse type: a registered model name or alias, resolved to the name."""
    import zoo

    try:
        return zoo.registry.resolve(text)
    except ZooError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def option(text: str) -> tuple[str, object]:
    """A `KEY=VALUE` builder option; the value is read as a Python literal where it is one."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key.strip(), ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key.strip(), value


def output_file(text: str) -> Path:
    """An argparse type: a file the command can write (folders it lacks are created)."""
    path = Path(text)
    if not text or path.is_dir():
        raise argparse.ArgumentTypeError(f"expected a file to write, got {text!r}")
    folder = path.absolute().parent
    while not folder.exists():  # the nearest folder that exists must take the new ones
        folder = folder.parent
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: {str(folder)!r} is a file")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: permission denied")
    return path


def one_line_errors(main: Callable[..., int]) -> Callable[..., int]:
    """Wrap a command's `main`: `ZooError` exits 2 and `OSError` exits 1, each with one line."""

    @functools.wraps(main)
    def wrapped(*args, **kwargs) -> int:
        try:
            return main(*args, **kwargs)
        except ZooError as err:
            print(f"error: {one_line(err)}", file=sys.stderr)
            return 2
        except TrainingInterrupted as stop:  # SIGINT or SIGTERM, after saving the run
            print(stop, file=sys.stderr)
            return 128 + stop.signum
        except OSError as err:
            print(one_line(f"error: {err.strerror or err}"
                           + (f": {err.filename}" if err.filename else "")), file=sys.stderr)
            return 1

    return wrapped
