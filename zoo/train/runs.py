"""Run folders: naming, the lock that keeps two runs out of one folder, and the files they hold.

A run folder holds `config.json` (the resolved settings, written once at the start),
`state.json` (what has been completed: epochs, history, best value, the checkpoint to resume
from), `history.csv`, `metrics.json`, the checkpoints, TensorBoard logs and plots. Every JSON
file and checkpoint is written atomically.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import platform
import shlex
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.fileio import write_json, write_text

CONFIG, STATE, METRICS, HISTORY = "config.json", "state.json", "metrics.json", "history.csv"
LAST, BEST = "last.keras", "best.keras"
CURVES = "curves.png"
LOCK = ".lock"


def utc_stamp() -> str:
    """The current UTC time as `YYYYMMDD-HHMMSS`, for run folder names."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")


def default_run_dir(model_name: str, root: str | os.PathLike = "runs") -> Path:
    """`runs/<model>-<UTC time>`, with a counter appended if that folder exists already.

    The folder is made here, so two runs started in the same second (a job array) each get
    their own: the one that makes a name first has it.
    """
    base = Path(root) / f"{model_name}-{utc_stamp()}"
    base.parent.mkdir(parents=True, exist_ok=True)
    path, n = base, 1
    while True:
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}")


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold the run folder's lock for the block; a second process is refused with `ZooError`.

    The lock is an `flock` on `.lock`: the operating system releases it when the process ends,
    even by SIGKILL, so a crashed run never leaves a stale lock.
    """
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise ZooError(f"cannot use {run_dir} as a run folder: {err.strerror or err}; choose "
                       "another --run-dir (run_dir=)") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            raise ZooError(f"run folder {run_dir} is in use by {owner}; wait for it to finish "
                           "or choose another --run-dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {platform.node()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def remove_partial_files(run_dir: Path) -> list[Path]:
    """Delete what a killed run left half-written (`.NAME.*.partial.keras`, `.NAME.*.tmp`).

    Files are written under such temporary names and renamed when complete, so these are
    never a finished checkpoint; call it only while holding the run's lock.
    """
    stale = [p for folder in (run_dir, run_dir / "checkpoints", run_dir / "samples")
             if folder.is_dir()
             for pattern in (".*.partial.keras", ".*.tmp") for p in folder.glob(pattern)]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def read_json(path: Path) -> dict[str, Any]:
    """A JSON file of the run folder; a missing or damaged one raises `ZooError` naming it."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ZooError(f"{path} is missing") from None
    except (OSError, ValueError) as err:
        raise ZooError(f"{path}: cannot read ({err})") from err


def write_history_csv(path: Path, history: list[dict[str, float]]) -> None:
    """Rewrite `history.csv` (one row per completed epoch) atomically from the recorded history."""
    columns = ["epoch", *sorted({k for row in history for k in row} - {"epoch"})]
    lines = [",".join(columns)]
    lines += [",".join("" if row.get(c) is None else f"{row[c]:.8g}" for c in columns)
              for row in history]
    write_text(path, "\n".join(lines) + "\n")


def versions() -> dict[str, str]:
    """Versions of Python and of the packages a run depends on, the Keras backend's included."""
    from importlib import metadata

    import keras

    out = {"python": platform.python_version()}
    packages = ("zoo", "keras", "tensorflow", "tensorflow-datasets", "numpy")
    for package in dict.fromkeys((*packages, keras.backend.backend())):  # jax or torch too
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return out


def read_cpuinfo() -> str:
    """The text of `/proc/cpuinfo`, or "" where there is none (not Linux)."""
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_field(cpuinfo: str, name: str) -> str | None:
    """The value of the first `name` line of `/proc/cpuinfo`'s text, or None."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


# The instructions the matrix work of a CPU runs on, fastest first: the names differ on one
# kind of machine from the next, and with them what a model trains at and in which precision.
CPU_MATRIX_UNITS = (("amx_bf16", "AMX"), ("avx512_bf16", "AVX-512 BF16"),
                    ("avx512f", "AVX-512"), ("avx2", "AVX2"))


def cpu_flags(cpuinfo: str) -> set[str]:
    """The instruction-set flags of `/proc/cpuinfo`'s text (empty where it has none: not x86)."""
    return set((cpu_field(cpuinfo, "flags") or "").split())


def matrix_units(cpuinfo: str) -> str | None:
    """The fastest matrix instructions the CPU has, as `CPU_MATRIX_UNITS` names them, or None."""
    flags = cpu_flags(cpuinfo)
    return next((name for flag, name in CPU_MATRIX_UNITS if flag in flags), None)


def device() -> dict[str, Any]:
    """The machine a run used: CPU model, cores and matrix instructions, accelerators, backend."""
    import keras

    cpuinfo = read_cpuinfo()
    info = {"backend": keras.backend.backend(),
            "cpu": cpu_field(cpuinfo, "model name") or platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "gpus": accelerators(), "platform": platform.platform()}
    if units := matrix_units(cpuinfo):
        info["cpu_units"] = units
    return info


def accelerators() -> list[str]:
    """The accelerators the Keras backend sees, by name ([] on a CPU)."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return [d.device_kind for d in jax.devices() if d.platform != "cpu"]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    import tensorflow as tf

    return [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
            for gpu in tf.config.list_physical_devices("GPU")]


def describe_hardware(info: dict[str, Any]) -> str:
    """One line for tables: the GPUs if any, else the CPU, its cores and its matrix
    instructions (where the record has them)."""
    if info.get("gpus"):
        return ", ".join(info["gpus"])
    units = f", {info['cpu_units']}" if info.get("cpu_units") else ""
    return f"{info.get('cpu', '?')} ({info.get('cores', '?')} cores{units})"


def check_keras_file(path: Path) -> None:
    """A ZooError naming `path` if it is a `.keras` file that is not a zip archive, as every
    `.keras` file is (Keras itself says "File not found" for a damaged one)."""
    if path.name.endswith(".keras") and path.is_file() and not zipfile.is_zipfile(path):
        raise ZooError(f"{path}: not a .keras model file (a .keras file is a zip archive; this "
                       "one is damaged, cut short or something else)")


# The member of a `.keras` archive that holds its weights (Keras' saving_lib writes it stored).
WEIGHTS_MEMBER = "model.weights.h5"


@contextlib.contextmanager
def weights_file(checkpoint: Path) -> Iterator[Path]:
    """A file `model.load_weights` reads `checkpoint`'s weights from as fast as the disk allows:
    for a `.keras` archive, a temporary copy of its weights member; for anything else, the path.

    Given the archive, Keras reads the HDF5 weights inside it in place, and every backward seek
    in a zip member rereads it from its start (Python 3.11's zipfile): restoring resnet34's
    weights and optimizer state took 2.3 s that way against 0.45 s from the copy. Only a member
    stored uncompressed, as Keras writes it, is copied, so the copy is no larger than the
    archive; otherwise, or if the copy cannot be made, Keras reads the archive as before.
    """
    if not checkpoint.name.endswith(".keras"):
        yield checkpoint
        return
    with tempfile.TemporaryDirectory(prefix="zoo-weights-") as folder:
        copy = Path(folder) / WEIGHTS_MEMBER
        try:
            with zipfile.ZipFile(checkpoint) as archive:
                copied = archive.getinfo(WEIGHTS_MEMBER).compress_type == zipfile.ZIP_STORED
                if copied:
                    with archive.open(WEIGHTS_MEMBER) as source, open(copy, "wb") as target:
                        shutil.copyfileobj(source, target, 1 << 20)
        except (OSError, KeyError, zipfile.BadZipFile):
            copied = False  # Keras reads the archive in place, and says what is wrong with it
        yield copy if copied else checkpoint


def command_line() -> str:
    """How this process was started, for the record: `python -m zoo.train mnist_mlp ...` as typed
    (`sys.orig_argv`; `sys.argv` names `-m`'s module by its file), quoted for a shell."""
    python, *args = sys.orig_argv or [sys.executable, *sys.argv]
    return shlex.join([Path(python).name, *args])


def save_config(run_dir: Path, config: dict[str, Any]) -> None:
    write_json(run_dir / CONFIG, config)
