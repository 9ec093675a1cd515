"""Bad files give the zoo's error naming the file, never a traceback from deep inside or a shorter dataset."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

import zoo
from tests.data import writers
from zoo.data import archive
from zoo.data.catalog import CIFAR100_CLASSES, DATASETS

CIFAR10 = DATASETS["cifar10"].classes


def read_error(name, folder) -> str:
    with pytest.raises(zoo.ZooError) as err:
        zoo.data.read(name, folder)
    return str(err.value)


def test_truncated_idx_gz(tmp_path):
    folder = writers.write_idx(tmp_path / "fashion-mnist", writers.mnist_like())
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-40])
    message = read_error("fashion_mnist", tmp_path)
    assert str(path) in message and "truncated or corrupt" in message


def test_idx_with_fewer_bytes_than_its_header_promises(tmp_path):
    folder = writers.write_idx(tmp_path / "fashion-mnist", writers.mnist_like())
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-784]))
    message = read_error("fashion_mnist", tmp_path)
    assert str(path) in message and "header promises (10, 28, 28)" in message


def test_idx_wrong_magic_number(tmp_path):
    folder = writers.write_idx(tmp_path / "fashion-mnist", writers.mnist_like())
    path = folder / "train-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[2] = 0x0D  # float32 instead of unsigned bytes
    path.write_bytes(gzip.compress(bytes(raw)))
    message = read_error("fashion_mnist", tmp_path)
    assert str(path) in message and "wrong magic number 0x00000d01" in message


def test_idx_images_and_labels_of_different_counts(tmp_path):
    data = writers.mnist_like()
    data["train"] = (data["train"][0], data["train"][1][:-1])
    writers.write_idx(tmp_path / "fashion-mnist", data)
    assert "30 images but train-labels-idx1-ubyte has 29 labels" in read_error(
        "fashion_mnist", tmp_path)


def test_idx_missing_file(tmp_path):
    folder = writers.write_idx(tmp_path / "fashion-mnist", writers.mnist_like())
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    assert "missing t10k-labels-idx1-ubyte.gz" in read_error("fashion_mnist", tmp_path)


def test_idx_labels_out_of_range(tmp_path):
    data = writers.mnist_like()
    data["test"][1][0] = 12
    writers.write_idx(tmp_path / "fashion-mnist", data)
    assert "test labels span 0..12, expected 0..9" in read_error("fashion_mnist", tmp_path)


def test_npz_truncated_missing_key_and_pickled(tmp_path):
    path = writers.write_npz(tmp_path / "mnist.npz", writers.mnist_like())
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    assert "not a readable npz file" in read_error("mnist", tmp_path)
    zoo.data._read.cache_clear()
    np.savez(path, x_train=np.zeros((2, 28, 28), np.uint8))
    assert "missing array(s) ['y_train', 'x_test', 'y_test']" in read_error("mnist", tmp_path)
    zoo.data._read.cache_clear()
    np.savez(path, x_train=np.array([object()] * 2, dtype=object), y_train=np.zeros(2),
             x_test=np.zeros(2), y_test=np.zeros(2))
    assert "not a readable npz file" in read_error("mnist", tmp_path)


def test_npz_wrong_image_shape(tmp_path):
    data = writers.mnist_like()
    data["train"] = (np.zeros((30, 32, 32), np.uint8), data["train"][1])
    writers.write_npz(tmp_path / "mnist.npz", data)
    assert "train images have shape (32, 32, 1), expected (28, 28, 1)" in read_error(
        "mnist", tmp_path)


def test_cifar_truncated_pickle_and_missing_batch(tmp_path):
    folder = writers.write_cifar10(tmp_path / "cifar-10-batches-py",
                                   writers.cifar_like(10, 25, 10), CIFAR10)
    (folder / "data_batch_3").write_bytes((folder / "data_batch_3").read_bytes()[:500])
    message = read_error("cifar10", tmp_path)
    assert "data_batch_3" in message and "truncated or corrupt" in message
    zoo.data._read.cache_clear()
    (folder / "data_batch_3").unlink()
    assert "data_batch_3: missing" in read_error("cifar10", tmp_path)


def test_cifar_pickle_that_would_run_code_is_refused(tmp_path):
    folder = writers.write_cifar100(tmp_path / "cifar-100-python",
                                    writers.cifar_like(100, 100, 100), CIFAR100_CLASSES)
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (folder / "train").write_bytes(pickle.dumps({b"data": Exploit()}))
    message = read_error("cifar100", tmp_path)
    assert "refusing to load" in message and "system" in message
    assert not marker.exists()


def test_cifar_meta_with_other_class_names(tmp_path):
    writers.write_cifar10(tmp_path / "cifar-10-batches-py", writers.cifar_like(10, 25, 10),
                          [f"c{i}" for i in range(10)])
    assert "class names ['c0'" in read_error("cifar10", tmp_path)


def test_image_folder_empty_class_unknown_class_and_corrupt_image(tmp_path):
    root = writers.write_image_folder(tmp_path / "cifar10", writers.cifar_like(10, 20, 10),
                                      CIFAR10)
    (root / "test" / "truck").rename(tmp_path / "moved")
    (root / "test" / "truck").mkdir()
    assert f"{root / 'test' / 'truck'}: is an empty class folder" in read_error("cifar10",
                                                                               tmp_path)
    (root / "test" / "truck").rmdir()
    assert f"{root / 'test'}: has no folder for class(es) truck" in read_error("cifar10",
                                                                              tmp_path)
    (root / "test" / "lorry").mkdir()
    assert "lorry: is not a cifar10 class" in read_error("cifar10", tmp_path)
    (root / "test" / "lorry").rmdir()
    (tmp_path / "moved").rename(root / "test" / "truck")
    bad = next((root / "train" / "cat").iterdir())
    bad.write_bytes(b"\x89PNG not really")
    message = read_error("cifar10", tmp_path)
    assert str(bad) in message and "cannot decode image" in message
    assert "function_node" not in message and "Iterator::" not in message  # TF's internals


def test_image_folder_image_of_the_wrong_size(tmp_path):
    root = writers.write_image_folder(tmp_path / "cifar10", writers.cifar_like(10, 20, 10),
                                      CIFAR10)
    small = writers.images(1, (16, 16, 3), 0)
    writers.write_image_folder(tmp_path / "small", {"train": (small, np.array([3]))}, CIFAR10)
    odd = next((tmp_path / "small" / "train" / "cat").iterdir())
    odd.rename(root / "train" / "cat" / "odd.png")
    assert "odd.png: image has shape (16, 16, 3), expected (32, 32, 3)" in read_error(
        "cifar10", tmp_path)


def test_aclimdb_empty_class_folder(tmp_path):
    root = writers.write_aclimdb(tmp_path / "aclImdb")
    for f in (root / "test" / "pos").iterdir():
        f.unlink()
    assert "pos: is an empty class folder" in read_error("imdb", tmp_path)


def _tar_with(path, member: tarfile.TarInfo, data: bytes = b"x") -> None:
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)


def test_tarball_with_a_dotdot_member_is_refused(tmp_path):
    member = tarfile.TarInfo("../escaped.txt")
    member.size = 1
    path = tmp_path / "cifar10.tar.gz"
    _tar_with(path, member)
    message = read_error("cifar10", tmp_path)
    assert str(path) in message and "unsafe" in message
    assert not (tmp_path / "cache" / "escaped.txt").exists()
    assert not list((tmp_path / "cache" / "extracted").glob("cifar10-*"))


def test_tarball_with_an_absolute_member_stays_inside_the_cache(tmp_path):
    outside = tmp_path / "outside" / "absolute.txt"
    member = tarfile.TarInfo(str(outside))
    member.size = 1
    _tar_with(tmp_path / "cifar10.tar.gz", member)
    assert "the archive holds no imagefolder data" in read_error("cifar10", tmp_path)
    assert not outside.exists()  # the leading '/' was stripped: written under the cache


def test_tarball_with_a_link_out_is_refused(tmp_path):
    link = tarfile.TarInfo("cifar10/train")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc"
    path = tmp_path / "cifar10.tar.gz"
    _tar_with(path, link)
    assert "unsafe" in read_error("cifar10", tmp_path)


def test_tarball_with_a_hard_link_out_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the archive")
    link = tarfile.TarInfo("cifar10/train/airplane/0.png")
    link.type = tarfile.LNKTYPE
    link.linkname = str(secret)
    path = tmp_path / "cifar10.tar.gz"
    _tar_with(path, link)
    assert "unsafe" in read_error("cifar10", tmp_path)
    assert not list((tmp_path / "cache" / "extracted").rglob("0.png"))


def test_full_disk_while_extracting_says_so_and_the_next_run_recovers(tmp_path, monkeypatch):
    import errno

    source = writers.write_aclimdb(tmp_path / "src" / "aclImdb")
    path = writers.tar_gz(source, tmp_path / "aclImdb.tar.gz")
    root = tmp_path / "cache" / "extracted"
    real = tarfile.TarFile.extractall
    written = []

    def full_disk(self, target, *args, **kwargs):
        written.append(target)
        (Path(target) / "aclImdb").mkdir(parents=True)  # part of it got written
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tarfile.TarFile, "extractall", full_disk)
    with pytest.raises(zoo.ZooError, match="No space left on device; free space or point "
                                           "ZOO_CACHE_DIR at another folder"):
        archive.extract(path, root)
    assert written and list(root.iterdir()) == []  # nothing half-written is left behind
    monkeypatch.setattr(tarfile.TarFile, "extractall", real)
    target = archive.extract(path, root)
    assert (target / archive.DONE).exists()
    assert len(list((target / "aclImdb" / "train" / "pos").iterdir())) == 3


def test_corrupt_tarball(tmp_path):
    (tmp_path / "aclImdb.tar.gz").write_bytes(b"\x1f\x8b\x08 this is not gzip data")
    assert "aclImdb.tar.gz: cannot extract" in read_error("imdb", tmp_path)


def test_interrupted_extraction_is_detected_and_redone(tmp_path):
    source = writers.write_aclimdb(tmp_path / "src" / "aclImdb")
    path = writers.tar_gz(source, tmp_path / "aclImdb.tar.gz")
    root = tmp_path / "cache" / "extracted"
    target = archive.extract(path, root)
    # A crash before the completion mark: the folder exists but holds half the files.
    (target / archive.DONE).unlink()
    for f in (target / "aclImdb" / "train" / "pos").iterdir():
        f.unlink()
    stale = root / f"{target.name}.partial-999999999"
    stale.mkdir()
    assert archive.extract(path, root) == target
    assert len(list((target / "aclImdb" / "train" / "pos").iterdir())) == 3
    assert not stale.exists()
    assert zoo.data.read("imdb", tmp_path)["train"][1].tolist() == [0, 0, 0, 1, 1, 1]


def test_a_changed_archive_replaces_its_earlier_extraction(tmp_path):
    """Each change of an archive's time or size left a full extraction behind: a shared data
    folder re-copied every session had piled up 13 copies of IMDB (2.6 GB)."""
    source = writers.write_aclimdb(tmp_path / "src" / "aclImdb")
    path = writers.tar_gz(source, tmp_path / "aclImdb.tar.gz")
    (tmp_path / "other").mkdir()
    other = writers.tar_gz(source, tmp_path / "other" / "aclImdb.tar.gz")  # same name, elsewhere
    root = tmp_path / "cache" / "extracted"
    first, kept = archive.extract(path, root), archive.extract(other, root)
    os.utime(path, ns=(1, 1))  # copied again: a new modification time
    second = archive.extract(path, root)
    assert first.exists()  # used a moment ago: another process may still be reading it
    old = time.time() - archive.IN_USE_SECONDS - 60
    for folder in (first, kept):  # not used for over an hour
        os.utime(folder / archive.DONE, (old, old))
    os.utime(path, ns=(2, 2))  # copied again
    third = archive.extract(path, root)
    assert not first.exists()  # idle for over an hour: removed
    assert second.exists() and kept.exists()  # used a moment ago; another archive's
    assert archive.extract(path, root) == third


def test_archive_that_holds_something_else(tmp_path):
    (tmp_path / "src" / "junk").mkdir(parents=True)
    (tmp_path / "src" / "junk" / "readme.txt").write_text("hello")
    writers.tar_gz(tmp_path / "src" / "junk", tmp_path / "cifar10.tar.gz")
    assert "the archive holds no imagefolder data for cifar10" in read_error("cifar10", tmp_path)


def test_a_damaged_decoding_cache_is_rebuilt(tmp_path, messages):
    want = writers.cifar_like(10, 10, 10, seed=8)
    writers.write_image_folder(tmp_path / "cifar10", want, CIFAR10, ext="png")
    first = zoo.data.read("cifar10", tmp_path)
    (cached,) = (tmp_path / "cache" / "decoded").glob("cifar10-*.npz")
    zoo.data._read.cache_clear()
    messages.clear()
    zoo.data.read("cifar10", tmp_path)  # from the cache: warnings name the user's folder
    assert f"{tmp_path / 'cifar10'}: train split has 10 examples" in "\n".join(messages)
    cached.write_bytes(cached.read_bytes()[:200])  # e.g. a disk that filled up long ago
    zoo.data._read.cache_clear()
    again = zoo.data.read("cifar10", tmp_path)
    np.testing.assert_array_equal(again["train"][0], first["train"][0])
    np.testing.assert_array_equal(again["test"][1], first["test"][1])
    assert cached.stat().st_size > 200


def test_an_image_removed_while_the_folder_is_read(tmp_path, monkeypatch):
    from zoo.data import imagefolder

    want = writers.cifar_like(10, 10, 10, seed=8)
    writers.write_image_folder(tmp_path / "cifar10", want, CIFAR10, ext="png")
    listing = imagefolder._listing

    def listed_then_removed(spec, folder):
        out = listing(spec, folder)
        out["train"][3][0].unlink()  # another process deletes it after the listing
        return out

    monkeypatch.setattr(imagefolder, "_listing", listed_then_removed)
    message = read_error("cifar10", tmp_path)
    assert "No such file or directory" in message and "did the data folder change" in message


def test_a_python_without_tar_filters_refuses_to_extract(tmp_path, monkeypatch):
    source = writers.write_aclimdb(tmp_path / "src" / "aclImdb")
    path = writers.tar_gz(source, tmp_path / "aclImdb.tar.gz")
    monkeypatch.delattr(tarfile, "data_filter")
    with pytest.raises(zoo.ZooError, match=r"cannot be extracted safely; use Python 3\.11\.4"):
        archive.extract(path, tmp_path / "cache" / "extracted")
    assert not (tmp_path / "cache" / "extracted").exists()


def test_aclimdb_review_that_is_not_utf8(tmp_path):
    root = writers.write_aclimdb(tmp_path / "aclImdb")
    review = next((root / "train" / "pos").iterdir())
    review.write_bytes(b"\xff\xfe not \x80 text")
    message = read_error("imdb", tmp_path)
    assert str(review) in message and "cannot read review" in message
