"""The tf.data pipeline: batching, seeded shuffling, epochs reproducible in any process, augmentation."""

from __future__ import annotations

import numpy as np
import pytest

import zoo
from tests.data import writers
from zoo.data import pipeline, synthetic


def epoch(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


X = np.arange(50, dtype=np.int32).reshape(50, 1)
Y = np.arange(50, dtype=np.int32)


def test_batches_cover_every_example_once():
    ds = pipeline.dataset(X, Y, 16, shuffle=False)
    sizes = [len(y) for _, y in ds]
    assert sizes == [16, 16, 16, 2]
    np.testing.assert_array_equal(epoch(ds)[1], Y)
    assert [len(y) for _, y in pipeline.dataset(X, Y, 16, shuffle=False, drop_remainder=True)] \
        == [16, 16, 16]


def test_shuffle_is_seeded_and_changes_every_epoch():
    ds = pipeline.dataset(X, Y, 8, shuffle=True, seed=1)
    first, second = epoch(ds)[1], epoch(ds)[1]
    assert sorted(first) == list(range(50)) and not np.array_equal(first, second)
    again = pipeline.dataset(X, Y, 8, shuffle=True, seed=1)
    np.testing.assert_array_equal(epoch(again)[1], first)
    np.testing.assert_array_equal(epoch(again)[1], second)
    assert not np.array_equal(epoch(pipeline.dataset(X, Y, 8, shuffle=True, seed=2))[1], first)


def test_an_epoch_is_the_same_in_any_dataset_and_follows_the_epoch_variable():
    import tensorflow as tf

    fixed = [epoch(pipeline.dataset(X, Y, 10, shuffle=True, seed=3, epoch=e))[1] for e in (2, 3)]
    assert not np.array_equal(fixed[0], fixed[1])
    counter = tf.Variable(0, dtype=tf.int64)
    ds = pipeline.dataset(X, Y, 10, shuffle=True, seed=3, epoch=counter)
    first = epoch(ds)[1]
    np.testing.assert_array_equal(epoch(ds)[1], first)  # same epoch number, same order
    counter.assign(2)
    np.testing.assert_array_equal(epoch(ds)[1], fixed[0])
    counter.assign(3)
    np.testing.assert_array_equal(epoch(ds)[1], fixed[1])
    assert len(ds) == 5


def test_start_step_gives_the_rest_of_the_same_epoch():
    images = np.random.default_rng(0).integers(0, 256, (50, 8, 8, 3), dtype=np.uint8)
    full = list(pipeline.dataset(images, Y, 8, shuffle=True, augment=True, seed=4, epoch=2))
    rest = pipeline.dataset(images, Y, 8, shuffle=True, augment=True, seed=4, epoch=2,
                            start_step=4)
    assert len(rest) == 3
    for (x, y), (want_x, want_y) in zip(rest, full[4:], strict=True):
        np.testing.assert_array_equal(x.numpy(), want_x.numpy())
        np.testing.assert_array_equal(y.numpy(), want_y.numpy())
    with pytest.raises(zoo.ZooError, match="start_step 7 leaves none of the epoch's 7 batches"):
        pipeline.dataset(images, Y, 8, shuffle=True, start_step=7)


def test_crop_and_flip_moves_pixels_without_inventing_them():
    images = writers.images(64, (32, 32, 3), 0)
    a, b = (next(iter(pipeline.dataset(images, np.zeros(64, np.int32), 64, shuffle=False,
                                        augment=True, seed=0, epoch=e)))[0].numpy()
            for e in (0, 1))
    assert a.dtype == np.uint8 and a.shape == images.shape
    assert not np.array_equal(a, images) and not np.array_equal(a, b)
    for original, augmented in zip(images, a, strict=True):
        padded = np.pad(original, ((4, 4), (4, 4), (0, 0)))
        found = any(
            np.array_equal(augmented, view[dy:dy + 32, dx:dx + 32])
            for view in (padded, padded[:, ::-1])
            for dy in range(9) for dx in range(9)
        )
        assert found, "an augmented image is not a crop of the padded original or its mirror"
    again = next(iter(pipeline.dataset(images, np.zeros(64, np.int32), 64, shuffle=False,
                                       augment=True, seed=0, epoch=1)))[0].numpy()
    np.testing.assert_array_equal(again, b)


def test_validation_is_disjoint_reproducible_and_keeps_order():
    x = np.arange(1000)
    (tx, _), (vx, _) = pipeline.carve_validation(x, x, 0.1, seed=0)
    assert len(vx) == 100 and len(tx) == 900
    assert not set(tx) & set(vx) and set(tx) | set(vx) == set(x)
    assert list(vx) == sorted(vx)
    (_, _), (vx2, _) = pipeline.carve_validation(x, x, 0.1, seed=0)
    np.testing.assert_array_equal(vx, vx2)
    (_, _), (vx3, _) = pipeline.carve_validation(x, x, 0.1, seed=1)
    assert not np.array_equal(vx, vx3)
    # a small set still gets its one validation example: synthetic:4, the smallest allowed
    (tx, _), (vx, _) = pipeline.carve_validation(x[:4], x[:4], 0.1, seed=0)
    assert len(vx) == 1 and len(tx) == 3
    train, validation = zoo.data.load("mnist", source=f"synthetic:{synthetic.MINIMUM}",
                                      split=["train", "validation"], batch_size=2)
    assert sum(len(b[1]) for b in train) == 3 and sum(len(b[1]) for b in validation) == 1


def test_a_capped_evaluation_draws_from_the_whole_split_not_its_first_class():
    labels = np.repeat(np.arange(10), 100)  # files grouped by class, as CIFAR's and IMDB's are
    x, y = pipeline.sample(np.arange(1000), labels, 64, seed=0)
    assert len(x) == 64 and list(x) == sorted(x) and np.array_equal(labels[x], y)
    assert len(set(y)) >= 8  # a prefix of 64 would be class 0 alone
    np.testing.assert_array_equal(pipeline.sample(np.arange(1000), labels, 64, seed=0)[0], x)
    everything = pipeline.sample(np.arange(1000), None, 5000)
    assert len(everything[0]) == 1000 and everything[1] is None


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"batch_size": 0}, "batch_size must be between 1 and"),
    ({"validation": 1.0}, r"validation must be a finite number in \[0, 1\)"),
    ({"validation": 0.999}, "leaves 0 of 30 training examples"),
    ({"split": "valid"}, r"unknown split 'valid' \(did you mean 'validation'\?\)"),
    ({"split": []}, "at least one of"),
    ({"augment": True}, "mnist has no augmentation"),
])
def test_bad_load_options(tmp_path, kwargs, message):
    writers.write_npz(tmp_path / "mnist.npz", writers.mnist_like())
    with pytest.raises(zoo.ZooError, match=message):
        zoo.data.load("mnist", data_dir=tmp_path, **kwargs)


def test_load_splits_defaults_and_validation(tmp_path):
    writers.write_npz(tmp_path / "mnist.npz", writers.mnist_like(n_train=40, n_test=10))
    train, val, test = zoo.data.load("mnist", ["train", "validation", "test"], batch_size=8,
                                     data_dir=tmp_path, validation=0.25)
    tx, ty = epoch(train)
    vx, vy = epoch(val)
    assert len(tx) == 30 and len(vx) == 10 and len(epoch(test)[0]) == 10
    assert tx.shape[1:] == (28, 28, 1) and tx.dtype == np.uint8 and ty.dtype == np.int32
    train_set = {t.tobytes() for t in tx}
    assert not any(v.tobytes() in train_set for v in vx)
    np.testing.assert_array_equal(epoch(val)[1], vy)  # evaluation splits are not shuffled
    with pytest.raises(zoo.ZooError, match="needs validation > 0"):
        zoo.data.load("mnist", "validation", data_dir=tmp_path, validation=0.0)


@pytest.mark.parametrize("kwargs", [{}, {"start_step": 3}, {"steps_per_epoch": 5},
                                    {"batch_multiple": 4}, {"drop_remainder": True}])
def test_chunks_stack_the_same_batches_in_the_same_order(kwargs):
    """A chunked epoch (`chunk=4`) is the epoch of batches, stacked four at a time; the
    smaller last batch comes alone. Augmented batches keep their own random crops and flips."""
    images = writers.images(50, (32, 32, 3), 0)
    labels = np.arange(50, dtype=np.int32)
    common = dict(shuffle=True, seed=3, epoch=1, augment=True, **kwargs)
    batches = [(x.numpy(), y.numpy()) for x, y in pipeline.dataset(images, labels, 8, **common)]
    chunked = [(x.numpy(), y.numpy()) for x, y in
               pipeline.dataset(images, labels, 8, chunk=4, **common)]
    layout = pipeline.epoch_layout(50, 8, chunk=4, **kwargs)
    assert [len(y) for _, y in chunked] == [count for _, count in layout]
    assert [first for first, _ in layout] == [kwargs.get("start_step", 0) + sum(
        c for _, c in layout[:i]) for i in range(len(layout))]
    unstacked = [(x[i], y[i]) for x, y in chunked for i in range(len(y))]
    assert len(unstacked) == len(batches)
    for (got_x, got_y), (want_x, want_y) in zip(unstacked, batches, strict=True):
        np.testing.assert_array_equal(got_y, want_y)
        np.testing.assert_array_equal(got_x, want_x)
    if len(batches[-1][1]) < 8:  # 50 examples: the last batch has 2, and comes alone
        assert chunked[-1][1].shape == (1, 2) and chunked[-2][1].shape[1] == 8
    assert len(batches[-1][1]) == (2 if not kwargs.keys() & {"drop_remainder", "steps_per_epoch",
                                                           "batch_multiple"} else 8)


def test_chunk_layout():
    assert pipeline.chunks(0, 10, 9, 4) == [(0, 4), (4, 4), (8, 1), (9, 1)]
    assert pipeline.chunks(5, 10, 10, 4) == [(5, 4), (9, 1)]
    assert pipeline.chunks(0, 3, 9, 4) == [(0, 3)]
    assert pipeline.chunks(2, 5, 4, 1) == [(2, 1), (3, 1), (4, 1)]
    with pytest.raises(zoo.ZooError, match="chunk"):
        pipeline.epoch_layout(50, 8, chunk=0)
