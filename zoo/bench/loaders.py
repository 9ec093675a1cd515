"""How fast each `zoo.data` loader delivers training batches, against how fast its model trains.

    python -m zoo.bench.loaders [--data-dir DIR] [--seconds S] [--batch-size B] [--json PATH]

The loader is measured alone (iterating its training split with shuffling and augmentation as
training uses them); the model is measured on in-memory batches. The loader must be several
times faster, or training waits for data.
"""

from __future__ import annotations

import sys

import zoo
from zoo import commands
from zoo.bench.timing import fit_rate, median_rate, random_inputs
from zoo.errors import ZooError
from zoo.fileio import write_json

# Each dataset and the default model whose training it feeds.
PAIRS = {"mnist": "mnist_mlp", "fashion_mnist": "fashion_mlp", "cifar10": "resnet20",
         "cifar100": "vgg13", "imdb": "imdb_lstm"}


def loader_rate(name: str, *, batch_size: int = 128, seconds: float = 3.0, data_dir=None,
                source: str = "auto", download: bool = True) -> float:
    """Training-split samples per second delivered by `zoo.data.load(name)` alone."""
    it = iter(zoo.data.load(name, "train", batch_size=batch_size, data_dir=data_dir,
                            source=source, download=download).repeat())

    def step() -> int:
        return int(next(it)[1].shape[0])

    return median_rate(step, seconds)


def model_rate(model: str, *, batch_size: int = 128, seconds: float = 3.0) -> float:
    """Training samples per second of zoo model `model` on in-memory random batches."""
    x, y = random_inputs(model, batch_size * 4)
    return fit_rate(zoo.get(model), x, y, batch_size, seconds)


def measure(datasets, *, batch_size: int, seconds: float, data_dir=None,
            source: str = "auto") -> list[dict]:
    """One row per dataset: loader rate, model rate, and their ratio."""
    rows = []
    for name in datasets:
        loader = loader_rate(name, batch_size=batch_size, seconds=seconds, data_dir=data_dir,
                             source=source)
        model = model_rate(PAIRS[name], batch_size=batch_size, seconds=seconds)
        rows.append({"dataset": name, "model": PAIRS[name], "batch_size": batch_size,
                     "loader_samples_per_s": round(loader, 1),
                     "model_samples_per_s": round(model, 1),
                     "ratio": round(loader / model, 1)})
    return rows


def table(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    lines = ["| dataset | loader samples/s | model | model samples/s | loader / model |",
             "|---|---:|---|---:|---:|"]
    lines += [f"| {r['dataset']} | {r['loader_samples_per_s']:,.0f} | {r['model']} | "
              f"{r['model_samples_per_s']:,.0f} | {r['ratio']:.1f}x |" for r in rows]
    return "\n".join(lines)


@commands.one_line_errors
def main(argv: list[str] | None = None) -> int:
    parser = commands.Parser(prog="python -m zoo.bench.loaders", description=__doc__)
    parser.add_argument("datasets", nargs="*", default=list(PAIRS),
                        help="datasets to measure (default: all)")
    parser.add_argument("--data-dir", help="folder of local dataset files (default: "
                                           "$ZOO_DATA_DIR, then the usual lookup)")
    parser.add_argument("--batch-size", type=commands.count, default=128,
                        help="batch size (default 128)")
    parser.add_argument("--seconds", type=commands.positive, default=3.0,
                        help="timed seconds per measurement (default 3)")
    parser.add_argument("--synthetic", action="store_true",
                        help="feed random data of the real shapes instead of the real files")
    parser.add_argument("--json", type=commands.output_file,
                        help="also write the rows as JSON to this file")
    args = parser.parse_args(argv)
    try:
        for name in args.datasets:
            if name not in PAIRS:
                raise ZooError(f"unknown dataset {name!r}; valid: {', '.join(PAIRS)}")
        rows = measure(args.datasets, batch_size=args.batch_size, seconds=args.seconds,
                       data_dir=args.data_dir, source="synthetic" if args.synthetic else "auto")
    except ZooError as err:
        print(f"error: {commands.one_line(err)}", file=sys.stderr)
        return 2
    print(table(rows))
    if args.json:
        write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
