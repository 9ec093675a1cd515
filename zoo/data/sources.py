"""Where a dataset comes from, tried in order: the data folder, the Keras cache, prepared TFDS data,
a TFDS download. The first that has the dataset is used and named in one log line; if none has
it, one error lists everything that was looked for and how to supply the files."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from zoo.data import aclimdb, archive, cifar, idx, imagefolder, npz, synthetic, tfds
from zoo.data.arrays import Splits
from zoo.data.catalog import DatasetSpec
from zoo.errors import ZooError, first_line

log = logging.getLogger("zoo.data")
ARCHIVES = (".tar.gz", ".tgz", ".tar")

# format -> (does this path hold it?, reader)
FORMATS: dict[str, tuple[Callable[[Path], bool], Callable[[Path, DatasetSpec], Splits]]] = {
    "npz": (lambda p: p.is_file(), npz.read),
    "idx": (lambda p: p.is_dir() and idx.is_idx_folder(p), idx.read),
    "cifar": (lambda p: p.is_dir() and any((p / m).exists() for m in ("batches.meta", "meta",
                                                                       "test_batch", "test")),
              cifar.read),
    "imagefolder": (lambda p: p.is_dir() and imagefolder.is_image_folder(p), imagefolder.read),
    "aclimdb": (lambda p: p.is_dir() and aclimdb.is_aclimdb(p), aclimdb.read),
}


def keras_cache() -> Path:
    """Where `keras.datasets` keeps its files: `$KERAS_HOME/datasets`, else `~/.keras/datasets`."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "datasets"


def data_folder(data_dir: str | os.PathLike | None) -> Path | None:
    """The user's data folder: `data_dir` if given, else `$ZOO_DATA_DIR`, else none."""
    chosen = data_dir if data_dir is not None else os.environ.get("ZOO_DATA_DIR")
    if chosen is None or str(chosen) == "":
        return None
    if not isinstance(chosen, (str, os.PathLike)):
        raise ZooError(f"data_dir must be a folder's path (a str or Path), got "
                       f"{type(chosen).__name__} {chosen!r}")
    folder = Path(chosen).expanduser()
    if not folder.is_dir():
        origin = "data_dir" if data_dir is not None else "ZOO_DATA_DIR"
        raise ZooError(f"{origin} {str(folder)!r} is not a folder")
    return folder


def _is_archive(path: Path) -> bool:
    return path.name.endswith(ARCHIVES)


def _inside(extracted: Path, rel: str, fmt: str) -> Path | None:
    """The folder inside an extracted archive that holds format `fmt`."""
    matches = FORMATS[fmt][0]
    stem = Path(rel).name
    for suffix in ARCHIVES:
        stem = stem.removesuffix(suffix)
    candidates = [extracted / stem, extracted, *sorted(p for p in extracted.iterdir() if p.is_dir())]
    return next((c for c in candidates if matches(c)), None)


def from_folder(spec: DatasetSpec, folder: Path) -> tuple[Splits, Path] | None:
    """The dataset from the first of `spec.files` present in `folder`, or `None` if none is.

    A file that is present but unreadable raises `ZooError` naming it; it is never skipped.
    """
    for fmt, rel in spec.files:
        path = folder / rel
        if not path.exists():
            continue
        matches, reader = FORMATS[fmt]
        if _is_archive(path):
            inner = _inside(archive.extract(path), rel, fmt)
            if inner is None:
                raise ZooError(f"{path}: the archive holds no {fmt} data for {spec.name}")
            return reader(inner, spec), path
        if matches(path):
            return reader(path, spec), path
    return None


def as_dataset_folder(spec: DatasetSpec, folder: Path) -> tuple[Splits, Path] | None:
    """`folder` itself, when it is one of the folders a data folder is searched for.

    That is a user pointing `data_dir` at the dataset's own folder (`cifar-10-batches-py`,
    `aclImdb`) rather than at the folder that holds it.
    """
    for fmt, rel in spec.files:
        matches, reader = FORMATS[fmt]
        if rel == folder.name and not _is_archive(folder) and matches(folder):
            return reader(folder, spec), folder
    return None


def looked_for(spec: DatasetSpec) -> str:
    """The file names a data folder is searched for, as a readable list."""
    names = {"imagefolder": "{train,test}/<class>/*.png|jpg", "idx": "*-ubyte.gz files",
             "cifar": "python pickles", "npz": "arrays", "aclimdb": "{train,test}/{neg,pos}/*.txt"}
    return "; ".join(
        f"{rel}" + ("" if _is_archive(Path(rel)) else f" ({names[fmt]})") for fmt, rel in spec.files
    )


def check_source(source: str) -> int | None:
    """Validate a source: `"auto"` gives None, `"synthetic"` or `"synthetic:N"` the example count."""
    if source == "auto":
        return None
    kind, _, count = str(source).partition(":")
    if kind == "synthetic":
        if not count:
            return synthetic.EXAMPLES
        if count.isdigit() and int(count) >= synthetic.MINIMUM:
            return int(count)
    raise ZooError(f"unknown source {source!r}; valid: auto, synthetic, synthetic:N (N >= "
                   f"{synthetic.MINIMUM} training examples)")


def read(spec: DatasetSpec, data_dir: str | os.PathLike | None = None, *, source: str = "auto",
         download: bool = True) -> Splits:
    """Find and read `spec`'s train and test splits, trying each source in order.

    `source="synthetic"` (or `"synthetic:N"` for N training examples) skips the search and
    makes random data of the dataset's shapes instead.
    """
    examples = check_source(source)
    if examples is not None:
        log.info("%s: synthetic random data (not the real dataset)", spec.name)
        return synthetic.read(spec, examples)
    tried = []
    folder = data_folder(data_dir)
    places = [("data folder", folder)] if folder else []
    places.append(("Keras cache", keras_cache()))
    for label, place in places:
        if place.is_dir():
            found = from_folder(spec, place)
            if not found and label == "data folder":
                found = as_dataset_folder(spec, place)
            if found:
                log.info("%s: read %s (%s)", spec.name, found[1], label)
                return found[0]
        tried.append(f"{label} {place}: none of {looked_for(spec)}")
    try:
        splits = tfds.prepared(spec)
    except Exception as err:  # TFDS raises many types; the message says which
        splits = None
        tried.append(f"TensorFlow Datasets in {tfds.data_dir()}: unreadable ({err})")
    else:
        tried.append(f"TensorFlow Datasets in {tfds.data_dir()}: {spec.tfds_name} not prepared")
    if splits is not None:
        log.info("%s: read prepared TensorFlow Datasets data in %s", spec.name, tfds.data_dir())
        return splits
    offline = tfds.unreachable(tfds.download_url(spec)) if download else None
    if offline:
        tried.append(f"download through TensorFlow Datasets: skipped, no network: {offline}")
    elif download:
        log.info("%s: downloading through TensorFlow Datasets into %s", spec.name, tfds.data_dir())
        try:
            splits = tfds.download(spec)
        except Exception as err:  # no network, a server error, a full disk...
            first = first_line(err, default="")
            tried.append(f"download through TensorFlow Datasets: failed ({type(err).__name__}: "
                         f"{first[:300]})")
        else:
            log.info("%s: downloaded through TensorFlow Datasets", spec.name)
            return splits
    else:
        tried.append("download through TensorFlow Datasets: not attempted (download=False)")
    raise ZooError(
        f"cannot find the {spec.name} dataset. Looked in:\n  - " + "\n  - ".join(tried)
        + f"\nTo use local files, put them, under one of the names above, in a folder and pass "
        f"that folder as data_dir=... (or --data-dir, or set ZOO_DATA_DIR); the dataset's own "
        f"folder works too if it keeps one of those names. The official files: {spec.download}"
    )
