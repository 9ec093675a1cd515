"""Pictures of a run: learning curves, and grids of reconstructed or generated images."""

from __future__ import annotations

import os

import numpy as np

from zoo.fileio import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# The PNG's text entry naming the last epoch a drawing of the curves shows (`drawn_to`).
EPOCH_KEY = "zoo last epoch"


def curves(path: str | os.PathLike, history: list[dict[str, float]]) -> None:
    """Plot every metric per epoch, training and validation together, one panel per metric; the
    PNG names its last epoch (`drawn_to`)."""
    if not history:
        return
    plt = _pyplot()
    keys = sorted({k for row in history for k in row} - {"epoch", "learning_rate"})
    metrics = [k for k in keys if not k.startswith("val_")]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    epochs = [row["epoch"] for row in history]
    for ax, metric in zip(axes[0], metrics, strict=True):
        for key, label in ((metric, "train"), (f"val_{metric}", "validation")):
            values = [row.get(key) for row in history]
            if any(v is not None for v in values):
                ax.plot(epochs, [np.nan if v is None else v for v in values], marker="o",
                        markersize=3, label=label)
        ax.set_title(metric.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))  # short labels (margins)
        ax.grid(alpha=0.3)
        ax.legend()
    # Margins in inches, for the short tick labels above: Matplotlib's tight_layout measured
    # every label first, a sixth to a quarter of the drawing's time (three panels of 30 epochs:
    # 0.40 s with it, 0.29-0.34 s without).
    width = 4.2 * len(metrics)
    fig.subplots_adjust(left=0.65 / width, right=1 - 0.2 / width, bottom=0.45 / 3.4,
                        top=1 - 0.35 / 3.4, wspace=0.75 / (4.2 - 0.85))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={EPOCH_KEY: str(epochs[-1])})
    plt.close(fig)


def drawn_to(path: str | os.PathLike) -> int | None:
    """The last epoch that the curves `curves()` drew at `path` show; None if there is no such
    drawing (no file, another picture, an unreadable one)."""
    from PIL import Image  # Matplotlib's own dependency

    try:
        with Image.open(path) as image:
            return int(image.text[EPOCH_KEY])
    except (OSError, AttributeError, KeyError, ValueError, SyntaxError):
        return None


def grid(images: np.ndarray, columns: int) -> np.ndarray:
    """Tile `(n, h, w, c)` images into one `(rows*h, columns*w, c)` image; empty cells are black."""
    n, h, w, c = images.shape
    rows = -(-n // columns)
    out = np.zeros((rows * h, columns * w, c), images.dtype)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        out[r * h:(r + 1) * h, col * w:(col + 1) * w] = image
    return out


def save_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an `(h, w, 1 or 3)` image with values in [0, 255] as a PNG, atomically."""
    plt = _pyplot()
    image = np.clip(np.asarray(image, np.float32), 0, 255).astype(np.uint8)
    if image.shape[-1] == 1:
        image = image[..., 0]
    with atomic_path(path) as tmp:
        plt.imsave(tmp, image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255,
                   format="png")
