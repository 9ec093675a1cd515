"""The one tf.data pipeline every source feeds: in-memory uint8 arrays, seeded shuffle, batched
gather, on-the-fly augmentation, prefetch.

Examples stay in memory as compact uint8 (or int32 token ids); each epoch draws a permutation of
indices and gathers whole batches, so the per-example cost of tf.data is paid on batches, not on
images. Every random choice is stateless and derived from `(seed, epoch)`: an epoch's order and
augmentation are the same in any process, which is what lets a resumed training run see exactly
the data an uninterrupted one would.
"""

from __future__ import annotations

import numpy as np

from zoo import checks
from zoo.errors import ZooError

BATCH_MAX = (1 << 31) - 1  # batch positions are int32 in the graph
CROP_PADDING = 4  # CIFAR augmentation: pixels of zero padding before the random crop


def carve_validation(x: np.ndarray, y: np.ndarray, fraction: float, seed: int):
    """Split `(x, y)` into `(train, validation)` by a seeded permutation; both keep their order.

    The same `fraction` and `seed` always give the same, disjoint parts. A fraction above 0
    holds out at least one example (0.1 of 4 holds out 1, where rounding gave none).
    """
    fraction = checks.number("validation", fraction, minimum=0.0, maximum=1.0, open_max=True)
    seed = checks.seed(seed)
    count = max(1, round(fraction * len(x))) if fraction and len(x) else 0
    if fraction and not 0 < count < len(x):
        raise ZooError(f"validation={fraction} leaves {len(x) - count} of {len(x)} training "
                       "examples: choose a fraction that keeps both parts non-empty")
    order = np.random.default_rng(seed).permutation(len(x))
    held, kept = np.sort(order[:count]), np.sort(order[count:])
    return (x[kept], y[kept]), (x[held], y[held])


def sample(x: np.ndarray, y: np.ndarray | None, count: int | None, seed: int = 0):
    """At most `count` examples of `(x, y)`, a seeded draw over the whole split, in its order.

    What a capped evaluation (`--steps`) tests: the first examples of a split are often of one
    class (CIFAR and IMDB files come grouped by class), so a prefix would score any model 100%.
    """
    if count is None or count >= len(x):
        return x, y
    keep = np.sort(np.random.default_rng(seed).choice(len(x), count, replace=False))
    return x[keep], None if y is None else y[keep]


def crop_and_flip(images, seed):
    """CIFAR augmentation for a batch: zero-pad `CROP_PADDING` pixels, random 32x32 crop,
    random horizontal flip.

    `seed` is a stateless seed (shape `[2]`); works on uint8 without converting.
    """
    import tensorflow as tf

    batch = tf.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    crop_y, crop_x, flip = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    padded = tf.pad(images, [[0, 0], [CROP_PADDING] * 2, [CROP_PADDING] * 2, [0, 0]])
    span = 2 * CROP_PADDING + 1  # crop offsets 0 .. 2 * CROP_PADDING
    dy = tf.random.stateless_uniform([batch], crop_y, 0, span, dtype=tf.int32)
    dx = tf.random.stateless_uniform([batch], crop_x, 0, span, dtype=tf.int32)
    rows = dy[:, None] + tf.range(height)[None, :]
    cols = dx[:, None] + tf.range(width)[None, :]
    out = tf.gather(padded, rows, axis=1, batch_dims=1)
    out = tf.gather(out, cols, axis=2, batch_dims=1)
    flipped = tf.random.stateless_uniform([batch], flip) < 0.5
    return tf.where(flipped[:, None, None, None], tf.reverse(out, axis=[2]), out)


def chunks(first: int, last: int, whole: int, size: int) -> list[tuple[int, int]]:
    """`(first batch, count)` of each element of a chunked epoch of batches `first .. last - 1`,
    of which the first `whole` are full: consecutive full batches, up to `size` at a time, then
    the smaller last batch, if any, alone (a chunk stacks batches of one size). `size` 1 gives
    one batch per element."""
    full = min(last, whole)
    out = [(step, min(size, full - step)) for step in range(first, full, size)]
    return out + [(step, 1) for step in range(max(first, whole), last)]


def epoch_layout(total: int, batch_size: int, *, chunk: int = 1, drop_remainder: bool = False,
                 steps_per_epoch: int | None = None, batch_multiple: int = 1,
                 start_step: int = 0) -> list[tuple[int, int]]:
    """The elements of one epoch of `dataset()` over `total` examples, as `chunks()` gives them:
    `(first batch, batches)` each; the arguments are `dataset()`'s."""
    batch_size = checks.integer("batch_size", batch_size, maximum=BATCH_MAX)
    drop_remainder = checks.flag("drop_remainder", drop_remainder)
    batch_multiple = checks.integer("batch_multiple", batch_multiple)
    if batch_size % batch_multiple:
        raise ZooError(f"batch_size {batch_size} must be a multiple of {batch_multiple}, the "
                       "number of devices each batch is split over")
    n = usable(total, batch_multiple)
    if n == 0:
        raise ZooError("cannot make a dataset of 0 examples")
    steps = batches(n, batch_size, drop_remainder)
    if steps == 0:
        raise ZooError(f"batch_size {batch_size} with drop_remainder leaves no batch of "
                       f"{n} examples")
    if steps_per_epoch is not None:
        steps = min(steps, checks.integer("steps_per_epoch", steps_per_epoch))
    start_step = checks.integer("start_step", start_step, minimum=0)
    if start_step >= steps:
        raise ZooError(f"start_step {start_step} leaves none of the epoch's {steps} batches")
    return chunks(start_step, steps, n // batch_size, checks.integer("chunk", chunk))


def dataset(
    x: np.ndarray,
    y: np.ndarray | None,
    batch_size: int,
    *,
    shuffle: bool,
    augment: bool = False,
    seed: int = 0,
    epoch=None,
    drop_remainder: bool = False,
    steps_per_epoch: int | None = None,
    batch_multiple: int = 1,
    start_step: int = 0,
    chunk: int = 1,
):
    """One epoch of batches of `(x, y)` (or of `x` alone when `y` is None) as a `tf.data.Dataset`.

    Iterate it once per epoch, as `model.fit(ds, epochs=...)` does. Without `epoch`, each
    iteration draws a fresh order (the same sequence of orders for the same `seed`). With
    `epoch`, an int or an integer `tf.Variable` read when each iteration starts, the order and
    the augmentation come from `(seed, epoch)` alone: the trainer sets the variable as each
    epoch begins, so a resumed run sees exactly the epochs an uninterrupted one would.
    `steps_per_epoch` cuts every epoch to that many batches (for smoke runs). `start_step`
    leaves out an epoch's first batches: a run resumed in the middle of an epoch gets exactly
    the batches the interrupted one had still to train on.
    `chunk` above 1 stacks the epoch's batches into elements of shape `[k, batch, ...]` of up to
    `chunk` consecutive batches (`chunks()` gives the layout), for a training step that runs
    several batches in one call (`zoo.train.chunks`): the same batches, in the same order.
    `batch_multiple` makes every batch's size a multiple of it (the devices a batch is split
    over): `batch_size` must be one, and the fewer than `batch_multiple` examples left over
    are left out of the epoch (drawn afresh each shuffled epoch).
    """
    import tensorflow as tf

    seed = checks.seed(seed)
    shuffle, augment = checks.flag("shuffle", shuffle), checks.flag("augment", augment)
    total = len(x)
    layout = epoch_layout(total, batch_size, chunk=chunk, drop_remainder=drop_remainder,
                          steps_per_epoch=steps_per_epoch, batch_multiple=batch_multiple,
                          start_step=start_step)  # checks batch_size and batch_multiple
    n = usable(total, batch_multiple)
    xs = tf.constant(x)
    ys = None if y is None else tf.constant(y)

    def one_epoch(epoch_seed):
        order = tf.range(total, dtype=tf.int32)
        if shuffle:
            order = tf.random.experimental.stateless_shuffle(order, seed=epoch_seed)

        def augmented(batch_x, step):
            return crop_and_flip(batch_x, tf.random.experimental.stateless_fold_in(epoch_seed, step))

        def gather(step):
            ids = order[step * batch_size:tf.minimum((step + 1) * batch_size, n)]
            batch_x = augmented(tf.gather(xs, ids), step) if augment else tf.gather(xs, ids)
            return batch_x if ys is None else (batch_x, tf.gather(ys, ids))

        def gather_chunk(first, count):  # `count` whole batches, or the last, smaller one alone
            start = first * batch_size
            size = tf.minimum(tf.constant(batch_size, tf.int64), n - start)
            ids = tf.reshape(order[start:start + count * size], [count, size])
            chunk_x = tf.gather(xs, ids)
            if augment:
                chunk_x = tf.map_fn(lambda pair: augmented(*pair),
                                    (chunk_x, first + tf.range(count, dtype=tf.int64)),
                                    fn_output_signature=chunk_x.dtype)
            return chunk_x if ys is None else (chunk_x, tf.gather(ys, ids))

        if chunk == 1:
            return tf.data.Dataset.range(layout[0][0], layout[-1][0] + 1).map(
                gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        firsts, counts = zip(*layout, strict=True)
        return tf.data.Dataset.from_tensor_slices(
            (tf.constant(firsts, tf.int64), tf.constant(counts, tf.int64))).map(
                gather_chunk, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    seed = tf.constant(int(seed), tf.int64)
    if epoch is None:
        start = tf.data.Dataset.random(seed=int(seed), rerandomize_each_iteration=True).take(1)
    elif isinstance(epoch, tf.Variable):  # read afresh each time an iteration starts
        start = tf.data.Dataset.range(1).map(lambda _: tf.cast(epoch.read_value(), tf.int64))
    else:
        start = tf.data.Dataset.from_tensors(tf.constant(int(epoch), tf.int64))
    ds = start.map(lambda e: tf.stack([seed, e])).flat_map(one_epoch)
    # flat_map hides the length; state it, so Keras knows how many batches an epoch has.
    ds = ds.apply(tf.data.experimental.assert_cardinality(len(layout)))
    return ds.prefetch(tf.data.AUTOTUNE)


def usable(n: int, batch_multiple: int = 1) -> int:
    """Examples of `n` an epoch uses when every batch must be a multiple of `batch_multiple`."""
    return n - n % batch_multiple


def batches(n: int, batch_size: int, drop_remainder: bool = False) -> int:
    """Number of batches in one epoch of `n` examples."""
    return n // batch_size if drop_remainder else -(-n // batch_size)
