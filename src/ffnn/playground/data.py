"""The playground's data: TensorFlow Playground's data sets on the plane, input features, CSVs.

Every generator draws from ``np.random.default_rng(seed)`` and returns ``(X, y)``: X float64
(N, 2) in the square [-6, 6]^2 (TF Playground's geometry, so sin(x1) and x1^2 are worth
using), y int64 class labels 0..C-1 or float64 regression targets in [-1, 1].  ``noise`` is a
fraction in [0, 0.5] (the page's percent / 100), used as TF Playground uses it.

This module needs only NumPy, so a script exported by the playground can rebuild its data
with ``make_dataset`` and ``feature_matrix``.
"""

from __future__ import annotations

import csv
import io
import math

import numpy as np

CLASSIFICATION = ("circle", "xor", "gaussian", "spiral", "moons", "blobs")
REGRESSION = ("reg-plane", "reg-gauss")
#: data sets that take any number of classes (the others have two)
MULTICLASS = ("circle", "gaussian", "spiral", "blobs")
MAX_CLASSES = 6
#: the plane every built-in data set lives in: [x_min, x_max, y_min, y_max]
DOMAIN = (-6.0, 6.0, -6.0, 6.0)

#: input features: id -> (label, function of the two coordinates)
FEATURES: dict[str, tuple[str, object]] = {
    "x1": ("X₁", lambda x1, x2: x1),
    "x2": ("X₂", lambda x1, x2: x2),
    "x1_sq": ("X₁²", lambda x1, x2: x1 * x1),
    "x2_sq": ("X₂²", lambda x1, x2: x2 * x2),
    "x1_x2": ("X₁X₂", lambda x1, x2: x1 * x2),
    "sin_x1": ("sin(X₁)", lambda x1, x2: np.sin(x1)),
    "sin_x2": ("sin(X₂)", lambda x1, x2: np.sin(x2)),
}


class CSVError(ValueError):
    """A CSV the playground cannot use; ``line`` and ``column`` say where, when known."""

    def __init__(self, message: str, line: int | None = None, column: str | None = None):
        where = []
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__((", ".join(where) + ": " if where else "") + message)
        self.line = line
        self.column = column


def feature_matrix(X: np.ndarray, features: list[str] | tuple[str, ...]) -> np.ndarray:
    """The network's input: one column per feature id, computed from the points X (N, 2)."""
    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        raise ValueError(f"unknown features {unknown}; known: {', '.join(FEATURES)}")
    x1, x2 = X[:, 0], X[:, 1]
    return np.column_stack([FEATURES[f][1](x1, x2) for f in features]) if features else \
        np.empty((X.shape[0], 0))


# --------------------------------------------------------------------------- generators
def circle(n: int, noise: float, rng: np.random.Generator, classes: int = 2):
    """Rings around the origin.  Two classes: TF Playground's circle (class 1 inside radius
    2.5, class 0 between 3.5 and 5; the label is that of the noisy point).  C classes: C
    rings of equal width with gaps, class 0 innermost."""
    radius = 5.0
    if classes == 2:
        inside = np.arange(n) < n // 2
        r = np.where(inside, rng.uniform(0, radius * 0.5, n), rng.uniform(radius * 0.7, radius, n))
        t = rng.uniform(0, 2 * np.pi, n)
        X = np.column_stack([r * np.sin(t), r * np.cos(t)])
        noisy = X + rng.uniform(-radius, radius, X.shape) * noise
        y = (np.hypot(noisy[:, 0], noisy[:, 1]) < radius * 0.5).astype(np.int64)
        return X, y
    y = np.arange(n) % classes
    width = radius / classes
    r = (y + rng.uniform(0.15, 0.85, n)) * width
    t = rng.uniform(0, 2 * np.pi, n)
    X = np.column_stack([r * np.sin(t), r * np.cos(t)])
    X += rng.uniform(-radius, radius, X.shape) * noise * 0.5
    return X, y.astype(np.int64)


def xor(n: int, noise: float, rng: np.random.Generator, classes: int = 2):
    """TF Playground's XOR: uniform points kept 0.3 away from the axes; class 1 where
    x1 x2 >= 0 (judged on the noisy point, so noise flips labels near the axes)."""
    X = rng.uniform(-5, 5, (n, 2))
    X += np.where(X > 0, 0.3, -0.3)
    noisy = X + rng.uniform(-5, 5, X.shape) * noise
    y = (noisy[:, 0] * noisy[:, 1] >= 0).astype(np.int64)
    return X, y


def gaussian(n: int, noise: float, rng: np.random.Generator, classes: int = 2):
    """Gaussian clusters: TF Playground's two (centres (2, 2) class 1 and (-2, -2) class 0);
    C classes: centres evenly on the circle of radius 2 sqrt 2.  The standard deviation grows
    with the noise from sqrt(0.5) to 2, as in TF Playground."""
    sd = math.sqrt(0.5 + 7.0 * noise)  # TF: variance from 0.5 (noise 0) to 4 (noise 0.5)
    y = np.arange(n) % classes
    angle = np.pi / 4 + np.pi + 2 * np.pi * y / classes  # class 0 at (-2, -2)
    centres = 2 * math.sqrt(2) * np.column_stack([np.cos(angle), np.sin(angle)])
    X = centres + rng.normal(0, sd, (n, 2))
    return X, y.astype(np.int64)


def spiral(n: int, noise: float, rng: np.random.Generator, classes: int = 2):
    """TF Playground's spiral: arm k has radius r = 5 i / m and angle 1.75 * 2 pi i / m + 2 pi k
    / C (two arms: class 1 starts at angle 0, class 0 at pi), plus uniform noise."""
    y = np.arange(n) % classes
    i = np.arange(n) // classes
    m = math.ceil(n / classes)
    r = 5.0 * i / m
    t = 1.75 * 2 * np.pi * i / m + 2 * np.pi * ((y + 1) % classes) / classes
    X = np.column_stack([r * np.sin(t), r * np.cos(t)])
    X += rng.uniform(-1, 1, X.shape) * noise
    return X, y.astype(np.int64)


def moons(n: int, noise: float, rng: np.random.Generator, classes: int = 2):
    """Two interleaving half circles (scikit-learn's make_moons), scaled by 2.5 and centred."""
    y = np.arange(n) % 2
    t = rng.uniform(0, np.pi, n)
    X = np.where(y[:, None] == 0, np.column_stack([np.cos(t), np.sin(t)]),
                 np.column_stack([1 - np.cos(t), 0.5 - np.sin(t)]))
    X = (X - [0.5, 0.25]) * 2.5 + rng.normal(0, 1, X.shape) * noise * 2.5
    return X, y.astype(np.int64)


def blobs(n: int, noise: float, rng: np.random.Generator, classes: int = 3):
    """C round clusters around centres spread over a circle of radius 3.5 (random rotation and
    radius jitter), standard deviation 0.6 + 3 noise."""
    y = np.arange(n) % classes
    angle = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.arange(classes) / classes
    radius = 3.5 + rng.uniform(-0.5, 0.5, classes)
    centres = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    X = centres[y] + rng.normal(0, 0.6 + 3 * noise, (n, 2))
    return X, y.astype(np.int64)


def reg_plane(n: int, noise: float, rng: np.random.Generator, classes: int = 0):
    """TF Playground's plane: target (x1 + x2) / 10 of the noisy point, points uniform."""
    X = rng.uniform(-6, 6, (n, 2))
    noisy = X + rng.uniform(-6, 6, X.shape) * noise
    return X, (noisy[:, 0] + noisy[:, 1]) / 10.0


_BUMPS = np.array([[-4, 2.5, 1], [0, 2.5, -1], [4, 2.5, 1],
                   [-4, -2.5, -1], [0, -2.5, 1], [4, -2.5, -1]])


def reg_gauss(n: int, noise: float, rng: np.random.Generator, classes: int = 0):
    """TF Playground's six bumps: each centre c with sign s gives s (1 - |p - c| / 2) within
    distance 2; the target is the bump of largest magnitude at the noisy point."""
    X = rng.uniform(-6, 6, (n, 2))
    noisy = X + rng.uniform(-6, 6, X.shape) * noise
    d = np.hypot(noisy[:, None, 0] - _BUMPS[:, 0], noisy[:, None, 1] - _BUMPS[:, 1])
    values = _BUMPS[:, 2] * np.clip(1 - d / 2, 0, None)
    return X, values[np.arange(n), np.argmax(np.abs(values), axis=1)]


GENERATORS = {"circle": circle, "xor": xor, "gaussian": gaussian, "spiral": spiral,
              "moons": moons, "blobs": blobs, "reg-plane": reg_plane, "reg-gauss": reg_gauss}


def make_dataset(name: str, n_samples: int = 500, noise: float = 0.0, classes: int = 2,
                 seed: int = 0):
    """(X, y) of the named data set, shuffled; ``noise`` in [0, 0.5]."""
    if name not in GENERATORS:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(GENERATORS)}")
    rng = np.random.default_rng(seed)
    X, y = GENERATORS[name](int(n_samples), float(noise), rng, int(classes))
    order = rng.permutation(len(y))
    return X[order], y[order]


def split(X: np.ndarray, y: np.ndarray, train_ratio: float):
    """The first ``train_ratio`` of the (already shuffled) points train, the rest test;
    at least one training point."""
    n_train = min(max(int(round(len(y) * train_ratio)), 1), len(y))
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


# --------------------------------------------------------------------------- CSV
_TARGET_NAMES = ("label", "target", "class")


def _float(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def parse_csv(text: str, *, max_rows: int = 5000, max_classes: int = MAX_CLASSES):
    """A CSV of points: two numeric feature columns and a label or target column.

    A header row is optional; with one, a column named label, target or class is the target and
    the first two others the features; without one, the columns are x1, x2, target.  The
    target decides the problem: integers with at most ``max_classes`` distinct values, or any
    text, are class labels; other numbers are regression targets.

    Returns (X float64 (N, 2), y, problem, class_names) where y holds class indices 0..C-1
    (sorted class names) or float targets.  Raises CSVError naming the line and column.
    """
    if not text.strip():
        raise CSVError("the file is empty")
    if "\x00" in text:
        raise CSVError("this is not a text CSV file (it contains NUL bytes)")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    rows = []
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        for row in reader:
            if not row or all(not cell.strip() for cell in row):
                continue
            rows.append((reader.line_num, [cell.strip() for cell in row]))
            if len(rows) > max_rows + 1:
                raise CSVError(f"too many rows: the playground takes at most {max_rows} points")
    except csv.Error as exc:
        raise CSVError(f"not a readable CSV ({exc})", line=reader.line_num) from None
    first_line, first = rows[0]
    header = any(_float(cell) is None for cell in first)
    if header:
        names = first
        rows = rows[1:]
        lowered = [c.lower() for c in names]
        target = next((lowered.index(t) for t in _TARGET_NAMES if t in lowered), len(names) - 1)
        feats = [i for i in range(len(names)) if i != target][:2]
    else:
        names = ["x1", "x2", "target"][:len(first)] + [f"column {i + 1}"
                                                        for i in range(3, len(first))]
        target, feats = len(first) - 1, [0, 1]
    width = len(names)
    if width < 3:
        raise CSVError(f"found {width} column{'s' if width != 1 else ''}; the playground needs "
                       "three: x1, x2 and a label or target", line=first_line)
    if not rows:
        raise CSVError("no data rows after the header")
    if len(rows) > max_rows:
        raise CSVError(f"too many rows ({len(rows)}): the playground takes at most {max_rows}")
    X = np.empty((len(rows), 2))
    raw_target = []
    for k, (line, row) in enumerate(rows):
        if len(row) != width:
            raise CSVError(f"{len(row)} values, but the header has {width}" if header else
                           f"{len(row)} values, but the first row has {width}", line=line)
        for j, col in enumerate(feats):
            v = _float(row[col])
            if v is None:
                what = "is empty" if not row[col] else f"{row[col][:40]!r} is not a finite number"
                raise CSVError(what, line=line, column=names[col])
            X[k, j] = v
        if not row[target]:
            raise CSVError("the target is empty", line=line, column=names[target])
        raw_target.append((line, row[target]))
    numbers = [_float(t) for _, t in raw_target]
    if all(v is not None for v in numbers):
        values = np.array(numbers)
        distinct = np.unique(values)
        if np.all(values == np.round(values)) and len(distinct) <= max_classes:
            if len(distinct) < 2:
                raise CSVError(f"every point has the label {distinct[0]:g}: a classifier needs "
                               "at least two classes")
            y = np.searchsorted(distinct, values).astype(np.int64)
            return X, y, "classification", [f"{v:g}" for v in distinct]
        return X, values, "regression", []
    labels = [t for _, t in raw_target]
    distinct_labels = sorted(set(labels))
    if len(distinct_labels) > max_classes:
        bad = next(line for (line, t), v in zip(raw_target, numbers, strict=True) if v is None)
        raise CSVError(f"{len(distinct_labels)} different labels; the playground shows at most "
                       f"{max_classes} classes (a text label such as the one on line {bad} makes "
                       "the column class labels)", column=names[target])
    if len(distinct_labels) < 2:
        raise CSVError(f"every point has the label {distinct_labels[0]!r}: a classifier needs at "
                       "least two classes", column=names[target])
    index = {name: i for i, name in enumerate(distinct_labels)}
    return X, np.array([index[t] for t in labels], dtype=np.int64), "classification", \
        distinct_labels


def domain_of(X: np.ndarray) -> tuple[float, float, float, float]:
    """The plane shown for custom points: their bounding box, 10% larger on every side."""
    if len(X) == 0:
        return DOMAIN
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = np.maximum((hi - lo) * 0.1, 0.5)
    return (float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]),
            float(hi[1] + pad[1]))


def grid(domain, size: int) -> np.ndarray:
    """The plane's cell centres, row by row from the top: (size * size, 2)."""
    x0, x1, y0, y1 = domain
    xs = x0 + (np.arange(size) + 0.5) * (x1 - x0) / size
    ys = y1 - (np.arange(size) + 0.5) * (y1 - y0) / size
    gx, gy = np.meshgrid(xs, ys)
    return np.column_stack([gx.ravel(), gy.ravel()])
