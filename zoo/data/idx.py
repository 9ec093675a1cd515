"""The IDX format of MNIST and Fashion-MNIST (`*-ubyte`, optionally gzipped), checked field by field."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from zoo.data.arrays import Splits, checked, fail
from zoo.data.catalog import DatasetSpec

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
UBYTE = 0x08


def read_file(path: Path, ndim: int) -> np.ndarray:
    """One IDX file of unsigned bytes with `ndim` dimensions; the size must match the header exactly."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise fail(path, f"cannot read ({type(err).__name__}: {err}); the file may be truncated "
                         "or corrupt") from err
    if len(raw) < 4:
        raise fail(path, f"too short for an IDX header ({len(raw)} bytes)")
    zero, dtype, dims = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != UBYTE or dims != ndim:
        raise fail(path, f"wrong magic number 0x{raw[:4].hex()}: expected 0x0000{UBYTE:02x}"
                         f"{ndim:02x} (unsigned bytes, {ndim} dimensions)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise fail(path, "truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise fail(path, f"header promises {shape} = {expected} bytes of data but the file has "
                         f"{len(raw) - header}; it is truncated or corrupt")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def find(folder: Path, stem: str) -> Path:
    """`stem` or `stem.gz` in `folder`."""
    for name in (stem, f"{stem}.gz"):
        if (folder / name).is_file():
            return folder / name
    raise fail(folder, f"missing {stem}.gz (or {stem})")


def is_idx_folder(folder: Path) -> bool:
    """Whether `folder` holds IDX files (rather than, say, an image-folder tree)."""
    return any(folder.glob("*-ubyte*"))


def read(folder: Path, spec: DatasetSpec) -> Splits:
    """The four IDX files of a folder: images and labels of the train and test splits."""
    splits = {}
    for split, (images, labels) in FILES.items():
        x = read_file(find(folder, images), 3)
        y = read_file(find(folder, labels), 1)
        if len(x) != len(y):
            raise fail(folder, f"{images} has {len(x)} images but {labels} has {len(y)} labels")
        splits[split] = (x, y)
    return checked(spec, splits, folder)
