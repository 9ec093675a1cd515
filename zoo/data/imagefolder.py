"""Image-folder trees: `<root>/{train,test}/<class name>/*.png|jpg`, decoded once and cached as arrays.

Decoding tens of thousands of small images takes seconds, so the decoded arrays are kept in the
zoo's cache (keyed by every file's name, size and modification time) and reused until a file
changes.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from zoo.data import npz
from zoo.data.arrays import Splits, checked, fail
from zoo.data.catalog import DatasetSpec
from zoo.errors import ZooError, first_line
from zoo.fileio import atomic_path, cache_dir

EXTENSIONS = {".png", ".jpg", ".jpeg"}
log = logging.getLogger("zoo.data")


def is_image_folder(folder: Path) -> bool:
    """Whether `folder` has `train/` and `test/` subfolders."""
    return (folder / "train").is_dir() and (folder / "test").is_dir()


def _class_index(spec: DatasetSpec, folder: Path) -> dict[str, int]:
    """Map each accepted folder name to its label: the class name ('/' written as '_' or '-'), or
    the label's number."""
    index = {}
    for i, name in enumerate(spec.classes):
        for variant in (name, name.replace("/", "_"), name.replace("/", "-"), str(i)):
            index.setdefault(variant, i)
    return index


def _listing(spec: DatasetSpec, folder: Path) -> dict[str, list[tuple[Path, int]]]:
    index = _class_index(spec, folder)
    listing = {}
    for split in ("train", "test"):
        entries = []
        class_dirs = sorted(p for p in (folder / split).iterdir() if p.is_dir())
        if not class_dirs:
            raise fail(folder / split, "has no class folders")
        for class_dir in class_dirs:
            if class_dir.name not in index:
                raise fail(class_dir, f"is not a {spec.name} class; expected one of "
                                      f"{', '.join(spec.classes)}")
            files = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in EXTENSIONS)
            if not files:
                raise fail(class_dir, "is an empty class folder (no .png or .jpg files)")
            entries += [(p, index[class_dir.name]) for p in files]
        missing = set(range(len(spec.classes))) - {label for _, label in entries}
        if missing:  # a lost folder would silently give a smaller dataset without a class
            names = ", ".join(spec.classes[i] for i in sorted(missing))
            raise fail(folder / split, f"has no folder for class(es) {names}")
        listing[split] = entries
    return listing


def _decode_pillow(paths: list[Path], shape: tuple[int, ...]) -> np.ndarray:
    """Decode images with Pillow into one uint8 array, checking every shape: for installs
    without TensorFlow (a JAX or PyTorch GPU machine)."""
    from PIL import Image, UnidentifiedImageError

    out = np.empty((len(paths), *shape), np.uint8)
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB" if shape[-1] == 3 else "L"))
        except (OSError, UnidentifiedImageError) as err:
            raise fail(path, f"cannot decode image ({err})") from err
        pixels = pixels.reshape(*pixels.shape[:2], -1)
        if pixels.shape != shape:
            raise fail(path, f"image has shape {pixels.shape}, expected {shape}")
        out[i] = pixels
    return out


def _decode(paths: list[Path], shape: tuple[int, ...]) -> np.ndarray:
    """Decode images in parallel with TensorFlow into one uint8 array, checking every shape
    (with Pillow where TensorFlow is not installed)."""
    try:
        import tensorflow as tf
    except ImportError:
        return _decode_pillow(paths, shape)

    def decode(path):
        return tf.io.decode_image(tf.io.read_file(path), channels=shape[-1],
                                  expand_animations=False)

    ds = tf.data.Dataset.from_tensor_slices([str(p) for p in paths])
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    out = np.empty((len(paths), *shape), np.uint8)
    it = ds.as_numpy_iterator()
    for i in range(len(paths)):
        try:
            image = next(it)
        except tf.errors.OpError as err:
            raise fail(paths[i], f"cannot decode image ({first_line(err)})") from err
        if image.shape != shape:
            raise fail(paths[i], f"image has shape {image.shape}, expected {shape}")
        out[i] = image
    return out


def read(folder: Path, spec: DatasetSpec) -> Splits:
    """Read (or reuse the cached decoding of) an image-folder tree for `spec`."""
    listing = _listing(spec, folder)
    digest = hashlib.sha256(spec.name.encode())
    for split, entries in listing.items():
        for path, label in entries:
            try:
                stat = path.stat()
            except OSError as err:  # removed or made unreadable after the listing
                raise fail(path, f"cannot read it ({err.strerror}); did the data folder change "
                                 "while it was being read? Run again") from None
            digest.update(f"{split}|{path.relative_to(folder)}|{label}|{stat.st_size}|"
                          f"{stat.st_mtime_ns}\n".encode())
    cached = cache_dir() / "decoded" / f"{spec.name}-{digest.hexdigest()[:16]}.npz"
    if cached.exists():
        try:
            return npz.read(cached, spec, origin=folder)
        except ZooError as err:  # a damaged cache is the zoo's own file: decode afresh
            log.warning("the cached decoding %s is damaged (%s); decoding the images again",
                        cached, err)
            cached.unlink(missing_ok=True)
    log.info("decoding %d images under %s (once; cached in %s)",
             sum(map(len, listing.values())), folder, cached.parent)
    splits = {
        split: (_decode([p for p, _ in entries], spec.shape),
                np.array([label for _, label in entries], np.int32))
        for split, entries in listing.items()
    }
    splits = checked(spec, splits, folder)
    with atomic_path(cached) as tmp, open(tmp, "wb") as f:
        np.savez(f, **{key: splits[split][i] for split, keys in npz.KEYS.items()
                       for i, key in enumerate(keys)})
    return splits
