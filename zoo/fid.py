"""Fréchet distance between feature distributions, for scoring generated images (FID).

The standard FID uses an ImageNet Inception network's features; for 28x28 digits and clothes the
zoo instead uses a classifier from this zoo trained on the same dataset (see
`python -m zoo.reproduce dcgan`), so its numbers are comparable with each other, not with FIDs
published on Inception features.
"""

from __future__ import annotations

import numpy as np


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a `(n, d)` feature matrix, in float64."""
    features = np.asarray(features, np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets `a` and `b` (rows are samples).

    `|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))`, with the trace of the matrix square
    root computed from the eigenvalues of the symmetric `S_a^(1/2) S_b S_a^(1/2)`.
    """
    mu_a, cov_a = statistics(a)
    mu_b, cov_b = statistics(b)
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    middle = root_a @ cov_b @ root_a
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b)
                 - 2 * trace_root)
