"""A randomized SVD of a matrix known only through its products with other matrices.

sklearn's ``randomized_svd`` needs the matrix in memory; a biobank's standardized genotypes
(10 GB as int8 at 100,000 x 100,000) or its faces (12 GB as float64) are read a block at a time
instead, and each product below is one pass over them. The algorithm is sklearn's, step for step
(Halko, Martinsson and Tropp 2011, Algorithm 4.3 with LU-normalized power iterations; the start
drawn from ``RandomState(seed).normal``), so that the same data held in memory and fed to
sklearn gives the same factors to float tolerance.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.linalg

Product = Callable[[np.ndarray], np.ndarray]


def randomized_svd_by_products(
    times: Product,
    t_times: Product,
    shape: tuple[int, int],
    n_components: int,
    *,
    n_iter: int = 7,
    n_oversamples: int = 10,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(U, s, Vt) of the leading ``n_components`` of A (``shape`` n x d), where ``times(m)`` is
    A @ m (n x c) and ``t_times(m)`` is A.T @ m (d x c): 2 * n_iter + 2 products in all."""
    n, d = shape
    size = min(int(n_components) + int(n_oversamples), n, d)
    q = np.random.RandomState(seed).normal(size=(d, size))
    for _ in range(int(n_iter)):
        q, _ = scipy.linalg.lu(times(q), permute_l=True, check_finite=False)
        q, _ = scipy.linalg.lu(t_times(q), permute_l=True, check_finite=False)
    q, _ = scipy.linalg.qr(times(q), mode="economic", check_finite=False)
    ub, s, vt = scipy.linalg.svd(t_times(q).T, full_matrices=False)
    k = int(n_components)
    return (q @ ub)[:, :k], s[:k], vt[:k]
