"""Results measured by this project: `results/results.csv`, appended to by `python -m zoo.reproduce`.

Each run adds one row per metric. The cards' `measured` field and the docs read this file, so
no measured number is typed by hand anywhere. Models that cannot be measured here say why in
`results/not_measured.csv`.

A wheel carries a copy of both tables in `zoo/_results/` (setup.py puts it there), so an
installed zoo's cards give the project's results; the runs a user records with
`zoo.reproduce` go to `folder()` and are read after them.

A card shows `measured()`: the newest run that trained the recipe's full epochs, or, where no
run did, the budget run with the largest budget, one that kept to it before one that overran it,
then the longest (newest among equals). So a short `--budget-minutes` trial does not replace a
longer run, and a run that kept to its budget replaces one of the same budget that did not.
"""

from __future__ import annotations

import csv
import functools
import io
import logging
import os
import re
import tempfile
from pathlib import Path

from zoo.errors import ZooError
from zoo.fileio import write_text

log = logging.getLogger("zoo.results")
_WARNED: set[str] = set()  # the tables read() has warned about

COLUMNS = ("run_id", "model", "dataset", "split", "metric", "value", "epochs", "wall_time_s",
           "hardware", "backend", "versions", "commit", "date", "notes")


def folder() -> Path:
    """`$ZOO_RESULTS_DIR`, else the `results/` folder of the checkout the package runs from.

    An installed package (no checkout around it) uses `results/` in the working directory.
    """
    if os.environ.get("ZOO_RESULTS_DIR"):
        return Path(os.environ["ZOO_RESULTS_DIR"])
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file():
        return checkout / "results"
    return Path("results")


def packaged() -> Path:
    """The copy of the tables a built wheel carries (absent in a checkout, which has the originals)."""
    return Path(__file__).resolve().parent / "_results"


def _tables(name: str) -> list[Path]:
    """Where the tables called `name` are read from, in order: the packaged copy, then `folder()`."""
    return [p for p in (packaged() / name, folder() / name) if p.is_file()]


def check_writable(path: Path) -> None:
    """A ZooError now, not after hours of training, if results cannot be written in `path`.

    That includes a results.csv there that is not the zoo's (other columns).
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as err:
        raise ZooError(f"cannot write results to {path}: {err.strerror or err}; set "
                       "ZOO_RESULTS_DIR to a folder you can write") from None
    try:
        read(path / "results.csv")
    except ZooError as err:
        raise ZooError(f"{err}; set ZOO_RESULTS_DIR to another folder") from None


def read(path: Path | None = None) -> list[dict[str, str]]:
    """Every row of results.csv (an empty list if there is none yet), oldest first.

    Without `path`: the packaged table's rows, then those of `folder()`'s, once each.
    """
    if path is not None:
        if not path.exists():
            return []
        stat = path.stat()  # a file rewritten within the clock's tick keeps its mtime
        return [dict(row) for row in _parse(str(path), stat.st_mtime_ns, stat.st_size,
                                            stat.st_ino)]
    rows = {}
    for table in _tables("results.csv"):
        try:
            table_rows = read(table)
        except ZooError as err:
            if table.parent != Path("results"):
                raise
            # Only a guess (the working directory's results/): another project's table.
            if str(err) not in _WARNED:  # once, not at every card read
                _WARNED.add(str(err))
                log.warning("%s: not read as the zoo's results; set ZOO_RESULTS_DIR to where "
                            "zoo.reproduce writes them", err)
            continue
        for row in table_rows:
            rows.setdefault((row["run_id"], row["metric"]), row)
    return list(rows.values())


@functools.lru_cache(maxsize=4)
def _parse(path: str, *stat: int) -> tuple[dict[str, str], ...]:
    """The rows of the table at `path`; `stat` (its modification time, size, inode) keys the
    cache."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = tuple(reader)
    if reader.fieldnames is not None and set(reader.fieldnames) != set(COLUMNS):
        raise ZooError(f"{path}: unexpected columns {sorted(reader.fieldnames)}")
    return rows


def append(rows: list[dict[str, object]], path: Path | None = None) -> None:
    """Add rows to results.csv, atomically (the old rows and the new ones, or nothing)."""
    path = path or folder() / "results.csv"
    old = read(path)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in [*old, *rows]:
        missing = set(COLUMNS) - set(row)
        if missing:
            raise ZooError(f"a results row lacks {sorted(missing)}")
        writer.writerow({k: row[k] for k in COLUMNS})
    write_text(path, out.getvalue())


def not_measured(path: Path | None = None) -> dict[str, dict[str, str]]:
    """Model -> the dataset it is not measured on and why (results/not_measured.csv)."""
    reasons = {}
    for table in [path] if path is not None else _tables("not_measured.csv"):
        if table.exists():
            with open(table, newline="", encoding="utf-8") as f:
                reasons.update({row["model"]: {"dataset": row["dataset"], "reason": row["reason"]}
                                for row in csv.DictReader(f)})
    return reasons


def measured_per_dataset(model: str) -> list:
    """`measured(model, dataset)` for each dataset `model` was measured on, as `Result`s."""
    datasets = dict.fromkeys(run[0]["dataset"] for run in runs_of(model))
    return [measured(model, d) for d in datasets]


def runs_of(model: str, rows: list[dict[str, str]] | None = None) -> list[list[dict[str, str]]]:
    """The recorded runs of `model`, oldest first, each as its list of metric rows."""
    grouped: dict[str, list[dict[str, str]]] = {}
    for row in rows if rows is not None else read():
        if row["model"] == model:
            grouped.setdefault(row["run_id"], []).append(row)
    return list(grouped.values())


def budget_text(minutes: float) -> str:
    """How a run's notes name its training budget; `budget_minutes` reads it back."""
    return f"{minutes:g}-minute budget"


_BUDGET = re.compile(r"(?:^|; )([0-9.e+-]+)-minute budget")


def budget_minutes(notes: str) -> float | None:
    """The training budget a run's notes record (`zoo.reproduce --budget-minutes`), or None."""
    found = _BUDGET.search(notes or "")
    try:
        return float(found.group(1)) if found else None
    except ValueError:
        return None


def over_budget(notes: str, wall_time_s: float | str) -> float | None:
    """The budget, in minutes, of a run whose training took longer than it; None for a run that
    kept to its budget or had none."""
    minutes = budget_minutes(notes)
    return minutes if minutes is not None and float(wall_time_s) > minutes * 60 else None


def measured(model: str, dataset: str | None = None):
    """The run of `model` (on `dataset`, if given) that its card shows, as a `Result`, or None.

    That is the newest run that trained the recipe's full epochs. Where none did (budget runs):
    the one with the largest budget, of those the ones whose training kept to it (a calibration
    can plan more epochs than the budget then holds), of those the one that trained longest,
    the newest of equals. A one-epoch trial thus never hides a full run or a longer budget run,
    and a run of a shortened recipe still counts as full.
    """
    from zoo.registry import _REGISTRY, Result

    runs = [r for r in runs_of(model) if dataset is None or r[0]["dataset"] == dataset]
    if not runs:
        return None
    entry = _REGISTRY.get(model)
    full = entry.card.recipe.epochs if entry else 0

    def rank(run: list[dict[str, str]]) -> tuple:
        epochs = int(run[0]["epochs"])
        if epochs >= full:
            return True,
        notes = run[0]["notes"]
        kept = over_budget(notes, run[0]["wall_time_s"]) is None
        return False, budget_minutes(notes) or 0.0, kept, epochs

    run = max(reversed(runs), key=rank)  # max keeps the first of equals: the newest
    first = run[0]
    return Result(
        dataset=first["dataset"],
        metrics={row["metric"]: float(row["value"]) for row in run},
        epochs=int(first["epochs"]),
        wall_time_s=float(first["wall_time_s"]),
        hardware=first["hardware"],
        backend=first["backend"],
        date=first["date"],
        notes=first["notes"],
    )
