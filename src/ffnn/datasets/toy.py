"""Small synthetic data sets, generated in NumPy from a seed.

Every generator returns ``(X, y)``:

* ``X`` float64 of shape (N, D) (D = 2 for the plane sets, 3 for ``four_class_3d``, ...);
* ``y`` int64 class labels of shape (N,) with values 0 .. C-1 for classification sets, float64
  targets of shape (N,) for regression sets.

``seed`` is an int (reproducible) or None (fresh entropy).  Each call builds its own
``np.random.default_rng(seed)``; the global NumPy RNG is never read or changed.  Classes are
balanced: C classes over N samples get ``N // C`` or ``N // C + 1`` samples each.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._checks import check_nonneg_float, check_positive_float, check_positive_int


def _rng(seed) -> np.random.Generator:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"seed must be an int or None, got {seed!r}")
    return np.random.default_rng(seed)


def _class_sizes(n_samples: int, n_classes: int) -> np.ndarray:
    """Split N samples over C classes as evenly as possible (the first N mod C get one more)."""
    sizes = np.full(n_classes, n_samples // n_classes, dtype=np.int64)
    sizes[: n_samples % n_classes] += 1
    return sizes


def _shuffled(rng: np.random.Generator, X: np.ndarray, y: np.ndarray):
    order = rng.permutation(X.shape[0])
    return X[order], y[order]


def _check_n(n_samples, n_classes: int = 1) -> int:
    n = check_positive_int(n_samples, "n_samples")
    if n < n_classes:
        raise ValueError(f"n_samples={n} is fewer than the {n_classes} classes requested")
    return n


# --------------------------------------------------------------------------- the plane
def moons(n_samples: int = 1000, noise: float = 0.2, seed: int | None = None):
    """Two interleaving half circles (scikit-learn's ``make_moons``, same geometry).

    Class 0: (cos t, sin t), class 1: (1 - cos t, 0.5 - sin t), t in [0, pi]; then Gaussian
    noise of standard deviation ``noise`` on every coordinate.

    Returns X float64 (N, 2) and y int64 (N,) in {0, 1}.
    """
    n = _check_n(n_samples, 2)
    noise = check_nonneg_float(noise, "noise")
    rng = _rng(seed)
    n0, n1 = _class_sizes(n, 2)
    t0 = np.linspace(0.0, np.pi, n0)
    t1 = np.linspace(0.0, np.pi, n1)
    X = np.concatenate([
        np.column_stack([np.cos(t0), np.sin(t0)]),
        np.column_stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)]),
    ])
    y = np.repeat(np.arange(2, dtype=np.int64), [n0, n1])
    X = X + rng.normal(0.0, noise, size=X.shape)
    return _shuffled(rng, X, y)


def circles(n_samples: int = 1000, noise: float = 0.2, factor: float = 0.5,
            seed: int | None = None):
    """A small circle inside a large one (scikit-learn's ``make_circles`` geometry).

    Class 0 on the unit circle, class 1 on the circle of radius ``factor`` (0 < factor < 1),
    then Gaussian noise of standard deviation ``noise`` on every coordinate.

    Returns X float64 (N, 2) and y int64 (N,) in {0, 1}.
    """
    n = _check_n(n_samples, 2)
    noise = check_nonneg_float(noise, "noise")
    factor = check_positive_float(factor, "factor")
    if factor >= 1:
        raise ValueError(f"factor is the inner radius and must lie in (0, 1), got {factor}")
    rng = _rng(seed)
    n0, n1 = _class_sizes(n, 2)
    t0 = np.linspace(0.0, 2 * np.pi, n0, endpoint=False)
    t1 = np.linspace(0.0, 2 * np.pi, n1, endpoint=False)
    X = np.concatenate([
        np.column_stack([np.cos(t0), np.sin(t0)]),
        factor * np.column_stack([np.cos(t1), np.sin(t1)]),
    ])
    y = np.repeat(np.arange(2, dtype=np.int64), [n0, n1])
    X = X + rng.normal(0.0, noise, size=X.shape)
    return _shuffled(rng, X, y)


def blobs(n_samples: int = 1000, centers=2, cluster_std: float = 1.0, n_features: int = 2,
          center_box: tuple[float, float] = (-10.0, 10.0), seed: int | None = None):
    """Isotropic Gaussian clusters, one class per cluster (like ``make_blobs``).

    ``centers`` is a number of clusters (their centres drawn uniformly in ``center_box`` along
    every axis) or an array of centres of shape (C, D).  Each point is its centre plus
    N(0, cluster_std^2 I) noise.

    Returns X float64 (N, D) and y int64 (N,) in {0, ..., C-1}.
    """
    rng = _rng(seed)
    if isinstance(centers, numbers.Integral) and not isinstance(centers, bool):
        n_classes = check_positive_int(centers, "centers")
        n_features = check_positive_int(n_features, "n_features")
        low, high = center_box
        C = rng.uniform(low, high, size=(n_classes, n_features))
    else:
        C = np.asarray(centers, dtype=np.float64)
        if C.ndim != 2 or C.shape[0] == 0:
            raise ValueError(f"centers must be an int or an array of shape (C, D), got shape "
                             f"{C.shape}")
        n_classes = C.shape[0]
    cluster_std = check_nonneg_float(cluster_std, "cluster_std")
    n = _check_n(n_samples, n_classes)
    sizes = _class_sizes(n, n_classes)
    y = np.repeat(np.arange(n_classes, dtype=np.int64), sizes)
    X = C[y] + rng.normal(0.0, cluster_std, size=(n, C.shape[1]))
    return _shuffled(rng, X, y)


def spiral(n_samples: int = 300, n_classes: int = 3, noise: float = 0.2,
           seed: int | None = None):
    """Interleaved spiral arms, one class per arm (the CS231n spiral).

    Arm k: radius r in [0, 1], angle t = 4 r + 2 pi k / C plus N(0, noise^2) jitter on the
    angle; the point is r (sin t, cos t).  Not linearly separable for any C >= 2.

    Returns X float64 (N, 2) and y int64 (N,) in {0, ..., C-1}.
    """
    n_classes = check_positive_int(n_classes, "n_classes")
    n = _check_n(n_samples, n_classes)
    noise = check_nonneg_float(noise, "noise")
    rng = _rng(seed)
    parts = []
    for k, size in enumerate(_class_sizes(n, n_classes)):
        r = np.linspace(0.0, 1.0, size)
        t = 4.0 * r + 2.0 * np.pi * k / n_classes + rng.normal(0.0, noise, size)
        parts.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
    y = np.repeat(np.arange(n_classes, dtype=np.int64), _class_sizes(n, n_classes))
    return _shuffled(rng, np.concatenate(parts), y)


def xor(n_samples: int = 400, noise: float = 0.0, seed: int | None = None):
    """The XOR pattern: uniform points in the four quadrants of [-1, 1]^2.

    y = 1 where the two coordinates have opposite signs (x0 * x1 < 0), else 0; each quadrant
    gets (about) a quarter of the points and the classes are balanced.  ``noise`` adds N(0, noise^2)
    to every coordinate after labelling (points may then cross the axes).

    Returns X float64 (N, 2) and y int64 (N,) in {0, 1}.
    """
    n = _check_n(n_samples, 4)
    noise = check_nonneg_float(noise, "noise")
    rng = _rng(seed)
    signs = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])  # 0, 0, 1, 1
    n0, n1 = _class_sizes(n, 2)
    quadrant = np.repeat(np.arange(4), np.concatenate([_class_sizes(n0, 2), _class_sizes(n1, 2)]))
    X = signs[quadrant] * rng.uniform(0.0, 1.0, size=(n, 2))
    y = (quadrant >= 2).astype(np.int64)
    X = X + rng.normal(0.0, noise, size=X.shape)
    return _shuffled(rng, X, y)


def gaussian_quantiles(n_samples: int = 500, n_features: int = 2, n_classes: int = 2,
                       seed: int | None = None):
    """Concentric classes cut from one standard normal by quantiles of the radius.

    Draw x ~ N(0, I_D), sort by |x|^2 and cut into C equal-sized shells: class 0 is the
    innermost (as scikit-learn's ``make_gaussian_quantiles``).

    Returns X float64 (N, D) and y int64 (N,) in {0, ..., C-1}.
    """
    n_classes = check_positive_int(n_classes, "n_classes")
    n_features = check_positive_int(n_features, "n_features")
    n = _check_n(n_samples, n_classes)
    rng = _rng(seed)
    X = rng.standard_normal((n, n_features))
    X = X[np.argsort(np.sum(X * X, axis=1), kind="stable")]
    y = np.repeat(np.arange(n_classes, dtype=np.int64), _class_sizes(n, n_classes)[::-1])
    return _shuffled(rng, X, y)


# --------------------------------------------------------------------------- seed 000
_TETRAHEDRON = np.array([[1.0, 1.0, 1.0], [1.0, -1.0, -1.0], [-1.0, 1.0, -1.0],
                         [-1.0, -1.0, 1.0]])


def four_class_3d(n_samples: int = 99, cluster_std: float = 0.35, seed: int | None = 0):
    """Four Gaussian clusters in 3-D at the corners of a regular tetrahedron (seed 000's set).

    Centres (1,1,1), (1,-1,-1), (-1,1,-1), (-1,-1,1) are 2 sqrt(2) apart; with the default
    ``cluster_std`` each point lies about 4 standard deviations from the planes halfway
    between centres, so a 3-10-4 sigmoid network can classify all training points.

    Returns X float64 (N, 3) and y int64 (N,) in {0, 1, 2, 3} (99 points: 25, 25, 25, 24).
    """
    return blobs(n_samples, centers=_TETRAHEDRON, cluster_std=cluster_std, seed=seed)


def regression_1d(n_samples: int = 100, noise: float = 0.1, seed: int | None = 0):
    """A smooth nonlinear curve in one variable, sorted by x (seed 000's regression set).

    x ~ U(-3, 3) sorted ascending; y = sin(1.5 x) + 0.3 x + N(0, noise^2).
    Pair with ``extrapolation_split`` to hold out the right end of the x range.

    Returns X float64 (N, 1) sorted ascending and y float64 (N,).
    """
    n = _check_n(n_samples, 2)
    noise = check_nonneg_float(noise, "noise")
    rng = _rng(seed)
    x = np.sort(rng.uniform(-3.0, 3.0, size=n))
    y = np.sin(1.5 * x) + 0.3 * x + rng.normal(0.0, noise, size=n)
    return x.reshape(-1, 1), y


# --------------------------------------------------------------------------- seed 004
# Each feature: (name, mean, standard deviation, price effect per unit in thousands).
# Features are drawn as independent normals with these parameters.
HOUSING_FEATURES: tuple[tuple[str, float, float, float], ...] = (
    ("area_m2", 110.0, 35.0, 2.5),
    ("rooms", 4.0, 1.2, 8.0),
    ("age_years", 35.0, 20.0, -1.2),
    ("distance_to_centre_km", 12.0, 6.0, -6.0),
    ("school_score", 6.5, 1.5, 12.0),
    ("crime_rate", 3.0, 1.0, -15.0),
    ("garden_m2", 60.0, 40.0, 0.4),
    ("energy_rating", 4.0, 1.5, 5.0),
)


def housing(n_samples: int = 500, n_features: int = 5, noise: float = 0.1,
            seed: int | None = 0):
    """Synthetic house prices (seed 004's set), features and target normalised.

    Raw features x_j ~ N(mu_j, sigma_j^2) (area, rooms, age, distance, ... see
    ``HOUSING_FEATURES``; the first ``n_features`` are used).  Price in thousands:
    p = 150 + sum_j beta_j x_j + e,  e ~ N(0, (noise * s)^2),  s^2 = sum_j beta_j^2 sigma_j^2.

    Normalisation uses the *generating* distribution, not the sample:
    X_j = (x_j - mu_j) / sigma_j and y = (p - E[p]) / sd(p) with sd(p) = s sqrt(1 + noise^2).
    So every sample is transformed by the same fixed rule and nothing about a test split
    leaks into the training data.  The relation is linear, so y ~ X w + e' exactly.

    Returns X float64 (N, n_features) and y float64 (N,), both about mean 0 and std 1.
    """
    n = _check_n(n_samples, 2)
    n_features = check_positive_int(n_features, "n_features")
    if n_features > len(HOUSING_FEATURES):
        raise ValueError(f"housing has at most {len(HOUSING_FEATURES)} features, "
                         f"got n_features={n_features}")
    noise = check_nonneg_float(noise, "noise")
    rng = _rng(seed)
    _, mu, sigma, beta = (np.array(col) for col in zip(*HOUSING_FEATURES[:n_features],
                                                       strict=True))
    mu, sigma, beta = (a.astype(np.float64) for a in (mu, sigma, beta))
    raw = mu + sigma * rng.standard_normal((n, n_features))
    signal_sd = float(np.sqrt(np.sum((beta * sigma) ** 2)))
    price = 150.0 + raw @ beta + rng.normal(0.0, noise * signal_sd, size=n)
    price_mean = 150.0 + float(mu @ beta)
    price_sd = signal_sd * np.sqrt(1.0 + noise ** 2)
    X = (raw - mu) / sigma
    y = (price - price_mean) / price_sd
    return X, y


# --------------------------------------------------------------------------- bundled
def digits():
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, works offline).

    Pixel intensities 0..16 are divided by 16.  Needs scikit-learn.

    Returns X float64 (1797, 64) in [0, 1] and y int64 (1797,) in {0, ..., 9}.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("digits() needs scikit-learn: pip install 'ffnn[datasets]'") from exc
    bunch = load_digits()
    return bunch.data.astype(np.float64) / 16.0, bunch.target.astype(np.int64)


__all__ = [
    "HOUSING_FEATURES", "blobs", "circles", "digits", "four_class_3d", "gaussian_quantiles",
    "housing", "moons", "regression_1d", "spiral", "xor",
]
