"""Safe, once-only, atomic extraction of `.tar.gz` archives into the zoo's cache folder.

Members are extracted with tarfile's `data` filter: no absolute paths, no `..`, no links that
point outside, no device files. Extraction goes to a temporary folder that is renamed into place
only when complete, so a crash part-way leaves nothing that a later run could mistake for a
finished extraction; the leftovers are removed and the extraction redone.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import shutil
import tarfile
import time
import zlib
from pathlib import Path

from zoo.data.arrays import fail
from zoo.fileio import cache_dir

log = logging.getLogger("zoo.data")
DONE = ".zoo-extracted"  # the completion mark: the archive's path; its time, the last use
# An earlier extraction used within this many seconds is kept: another process may be reading it.
IN_USE_SECONDS = 3600


def _key(path: Path) -> str:
    stat = path.stat()
    ident = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


def extract(archive: Path, root: Path | None = None) -> Path:
    """Extract `archive` once into `root` (default: the cache's `extracted/`) and return the folder.

    The folder is keyed by the archive's path, size and modification time, so a changed archive
    is extracted afresh, and its earlier extractions are then removed (they would pile up, one
    full copy per change) unless used in the last `IN_USE_SECONDS`. Raises `ZooError` naming
    the archive if it is corrupt or unsafe.
    """
    if not hasattr(tarfile, "data_filter"):  # Python < 3.10.12 / 3.11.4: no safe extraction
        raise fail(archive, "this Python's tarfile has no extraction filters, so the archive "
                            "cannot be extracted safely; use Python 3.11.4 or later, or extract "
                            "it yourself and pass the folder")
    root = Path(root or cache_dir() / "extracted")
    stem = archive.name.removesuffix(".gz").removesuffix(".tar").removesuffix(".tgz")
    target = root / f"{stem}-{_key(archive)}"
    if (target / DONE).exists():
        with contextlib.suppress(OSError):  # a read-only cache keeps its extractions
            os.utime(target / DONE)  # in use: not removed as an earlier extraction meanwhile
        return target
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(f"{target.name}.partial-*"):
        if not _pid_alive(stale.name.rsplit("-", 1)[-1]):
            shutil.rmtree(stale, ignore_errors=True)
    if target.exists():  # an earlier extraction without its completion mark: redo it
        shutil.rmtree(target, ignore_errors=True)
    partial = root / f"{target.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    log.info("extracting %s into %s", archive, target)
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(partial, filter="data")
        (partial / DONE).write_text(f"{archive.resolve()}\n")
        try:
            os.rename(partial, target)
        except OSError:
            if not (target / DONE).exists():  # not a concurrent extraction that finished first
                raise
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS):
            raise fail(archive, f"cannot extract into {root}: {err.strerror}; free space or "
                                "point ZOO_CACHE_DIR at another folder, then run again") from err
        raise fail(archive, f"cannot extract ({type(err).__name__}: {err}); the archive is "
                            "corrupt, truncated, or holds unsafe members") from err
    except (tarfile.TarError, EOFError, zlib.error) as err:
        raise fail(archive, f"cannot extract ({type(err).__name__}: {err}); the archive is "
                            "corrupt, truncated, or holds unsafe members") from err
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    _remove_earlier(root, stem, target, archive)
    return target


def _remove_earlier(root: Path, stem: str, target: Path, archive: Path) -> None:
    """Remove the finished extractions in `root` of `archive` before it changed (the path its
    completion mark records), other than `target`, unless one was used within `IN_USE_SECONDS`."""
    for other in root.glob(f"{stem}-*"):
        if other == target or ".partial-" in other.name:
            continue
        try:
            source = (other / DONE).read_text().strip()
            idle = time.time() - (other / DONE).stat().st_mtime
        except OSError:
            continue
        if Path(source).resolve() == archive.resolve() and idle > IN_USE_SECONDS:
            log.info("removing %s, extracted from %s before it changed", other, archive)
            shutil.rmtree(other, ignore_errors=True)


def _pid_alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True
