"""Datasets by name: scikit-learn's generators and bundled sets, plus the 4-point XOR.

Only data that ship with scikit-learn (or are generated) are used: nothing is downloaded.
Features are standardised with training statistics only; regression targets likewise; the
train/validation split is seeded and stratified for classes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from landscape.model import MLP


@dataclass(frozen=True)
class Dataset:
    """A standardised train/validation split.

    Attributes
    ----------
    name : str
    task : {"classification", "regression"}
    X_train : ndarray of shape (N, d_0)
    y_train : ndarray of shape (N,) int labels, or (N,) / (N, m) float targets
    X_val : ndarray of shape (N_val, d_0)
    y_val : ndarray like y_train with N_val rows
    n_inputs : int
        d_0.
    n_outputs : int
        d_L: the number of classes, or of regression targets.
    options : dict
        The generator options used (for reproducing the data).
    """

    name: str
    task: str
    X_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    X_val: np.ndarray = field(repr=False)
    y_val: np.ndarray = field(repr=False)
    n_inputs: int
    n_outputs: int
    options: dict = field(default_factory=dict)

    @property
    def n_train(self) -> int:
        """N, the number of training samples."""
        return self.X_train.shape[0]

    def sizes(self, hidden: list[int] | tuple[int, ...]) -> list[int]:
        """Full layer widths [d_0, *hidden, d_L] for this data."""
        return [self.n_inputs, *hidden, self.n_outputs]


def _xor(**_: object) -> tuple[np.ndarray, np.ndarray]:
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    return X, np.array([0, 1, 1, 0])


def _teacher(
    n_samples: int = 200,
    n_features: int = 2,
    hidden: list[int] | tuple[int, ...] = (4,),
    n_outputs: int = 1,
    activation: str = "tanh",
    scale: float = 1.0,
    noise: float = 0.0,
    random_state: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Label inputs x ~ N(0, I) by a random MLP, the teacher: y = teacher(x) (+ noise).

    A student with the teacher's architecture can reach zero loss (the global minimum is
    known), and any affine standardisation of x and y is absorbed by its first and last
    layers, so that stays true after :func:`load_dataset` standardises the data.
    """
    rng = np.random.default_rng(random_state)
    teacher = MLP([n_features, *hidden, n_outputs], activation, "mse")
    theta = teacher.init(rng, scheme="normal", scale=scale)
    X = rng.standard_normal((n_samples, n_features))
    y = teacher.forward(theta, X)
    if noise:
        y = y + noise * rng.standard_normal(y.shape)
    return X, (y[:, 0] if n_outputs == 1 else y)


def orthonormal_teacher(k: int, d: int) -> np.ndarray:
    """Orthonormal teacher weights: the first k unit vectors of ℝ^d, shape (k, d).

    The Gaussian input distribution is rotation invariant, so any orthonormal teacher gives the
    same landscape up to a rotation of every w_i.
    """
    if not 1 <= k <= d:
        raise ValueError(f"k={k}, d={d}: need 1 <= k <= d for k orthonormal vectors in R^d")
    return np.eye(k, d)


def _relu_teacher(
    n_samples: int = 10000,
    n_features: int = 6,
    n_teacher: int = 6,
    random_state: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Safran & Shamir's problem as a sample: x ~ N(0, I_d), y = Σ_{j≤k} max(0, v_jᵀx).

    The teacher's v_j are the first k unit vectors of ℝ^d (orthonormal; the Gaussian is
    rotation invariant, so any orthonormal teacher gives the same landscape up to a rotation).
    A student x ↦ Σ_i max(0, w_iᵀx) — an MLP [d, n, 1] with relu, MSE and
    ``frozen = {W2 = 1.0, b1 = 0.0, b2 = 0.0}`` — reaches zero loss when n ≥ k; its sample
    loss (½ mean squared error) tends to the closed-form population loss of
    :mod:`landscape.analysis.spurious` as N grows. Not standardised by :func:`load_dataset`:
    the inputs are standard already, and a shift or scale of y would make the teacher
    unreachable for a student without biases and with fixed output weights.
    """
    if not (isinstance(n_teacher, int) and isinstance(n_features, int)):
        raise ValueError(f"n_teacher={n_teacher!r}, n_features={n_features!r} must be integers")
    V = orthonormal_teacher(n_teacher, n_features)
    X = np.random.default_rng(random_state).standard_normal((n_samples, n_features))
    return X, np.maximum(X @ V.T, 0.0).sum(axis=1)


@dataclass(frozen=True)
class _Source:
    task: str
    # a function, or the name of one in sklearn.datasets: scikit-learn takes a second to import,
    # and commands that load no data (--help, list, report) should not pay for it
    maker: Callable[..., tuple[np.ndarray, np.ndarray]] | str
    defaults: dict
    generated: bool  # takes random_state and n_samples
    standardise: bool = True  # False: the data's own units are the problem (relu_teacher)

    @property
    def make(self) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
        """The function that draws or loads the data."""
        if isinstance(self.maker, str):
            from sklearn import datasets

            return getattr(datasets, self.maker)
        return self.maker


_SOURCES: dict[str, _Source] = {
    "moons": _Source("classification", "make_moons", {"n_samples": 500, "noise": 0.2}, True),
    "circles": _Source(
        "classification", "make_circles", {"n_samples": 500, "noise": 0.1, "factor": 0.5}, True
    ),
    "blobs": _Source("classification", "make_blobs", {"n_samples": 500, "centers": 3}, True),
    "classification": _Source("classification", "make_classification", {"n_samples": 500}, True),
    "regression": _Source(
        "regression", "make_regression", {"n_samples": 500, "n_features": 10, "noise": 10.0}, True
    ),
    "friedman1": _Source("regression", "make_friedman1", {"n_samples": 500, "noise": 1.0}, True),
    "iris": _Source("classification", "load_iris", {}, False),
    "wine": _Source("classification", "load_wine", {}, False),
    "breast_cancer": _Source("classification", "load_breast_cancer", {}, False),
    "digits": _Source("classification", "load_digits", {}, False),
    "diabetes": _Source("regression", "load_diabetes", {}, False),
    "xor": _Source("classification", _xor, {}, False),
    "teacher": _Source("regression", _teacher, {}, True),
    "relu_teacher": _Source("regression", _relu_teacher, {}, True, standardise=False),
}
DATASETS = tuple(_SOURCES)

# Options a user may not set: we own the randomness, the return format and the ordering.
_RESERVED = {"random_state", "return_X_y", "as_frame", "shuffle", "return_centers", "coef"}


def dataset_options(name: str) -> tuple[str, ...]:
    """List the generator options ``load_dataset`` accepts for dataset ``name``."""
    src = _get_source(name)
    if src.make is _xor:
        return ()
    params = inspect.signature(src.make).parameters
    return tuple(p for p in params if p not in _RESERVED)


def _get_source(name: str) -> _Source:
    try:
        return _SOURCES[name]
    except (KeyError, TypeError):
        raise ValueError(f"dataset {name!r} is unknown; known: {', '.join(DATASETS)}") from None


def _standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mean = train.mean(axis=0)
    std = np.atleast_1d(train.std(axis=0))
    # A constant column (e.g. digits' always-blank pixels) carries no information: centre it only.
    std[std == 0.0] = 1.0
    if train.ndim == 1:
        mean, std = float(mean), float(std[0])
    return [(a - mean) / std for a in (train, *others)]


def load_dataset(
    name: str,
    *,
    rng: np.random.Generator,
    val_fraction: float | None = None,
    standardize: bool = True,
    **options: object,
) -> Dataset:
    """Load or generate a dataset and split it into standardised train and validation sets.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`: moons, circles, blobs, classification, regression, friedman1
        (generated by scikit-learn), iris, wine, breast_cancer, digits, diabetes (bundled with
        scikit-learn), xor (the 4-point classic), teacher (inputs labelled by a random MLP of
        given sizes, so a student of the same architecture has a global minimum of zero loss),
        relu_teacher (Safran & Shamir's Gaussian inputs and sum of k orthonormal ReLU units,
        never standardised).
    rng : numpy.random.Generator
        Seeds the generator and the split.
    val_fraction : float or None
        Share of samples held out for validation, in [0, 1); None means 0.2, and 0 for xor.
    standardize : bool
        Standardise features (and regression targets) with training statistics (not for
        relu_teacher, whose units are the problem).
    **options
        Options of the scikit-learn generator (see :func:`dataset_options`), e.g.
        ``n_samples``, ``noise``; for digits ``n_class``.

    Returns
    -------
    Dataset
    """
    src = _get_source(name)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng={rng!r} must be a numpy.random.Generator")
    allowed = dataset_options(name)
    for key in options:
        if key not in allowed:
            raise ValueError(
                f"dataset {name!r} has no option {key!r}; allowed: "
                f"{', '.join(allowed) if allowed else 'none'}"
            )
    if val_fraction is None:
        val_fraction = 0.0 if name == "xor" else 0.2
    if not (isinstance(val_fraction, int | float) and 0.0 <= val_fraction < 1.0):
        raise ValueError(f"val_fraction={val_fraction!r} must lie in [0, 1)")
    opts = {**src.defaults, **options}
    kwargs = dict(opts)
    if src.generated:
        kwargs["random_state"] = int(rng.integers(2**31 - 1))
    if not src.generated and src.make is not _xor:
        kwargs["return_X_y"] = True
    try:
        X, y = src.make(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"dataset {name!r} rejected options {opts}: {exc}") from None
    X = np.asarray(X, dtype=np.float64)
    if not (np.isfinite(X).all() and np.isfinite(np.asarray(y, dtype=float)).all()):
        raise ValueError(f"dataset {name!r} with options {opts} produced NaN or inf")
    if src.task == "classification":
        _, y = np.unique(np.asarray(y), return_inverse=True)  # labels 0 … K−1
        y = y.astype(np.intp)
    else:
        y = np.asarray(y, dtype=np.float64)
    if val_fraction > 0:
        stratify = y if src.task == "classification" else None
        try:
            from sklearn.model_selection import train_test_split

            X_tr, X_va, y_tr, y_va = train_test_split(
                X,
                y,
                test_size=val_fraction,
                random_state=int(rng.integers(2**31 - 1)),
                stratify=stratify,
            )
        except ValueError as exc:
            raise ValueError(
                f"cannot split dataset {name!r} with val_fraction={val_fraction}: {exc}"
            ) from None
    else:
        X_tr, y_tr = X, y
        X_va, y_va = X[:0], y[:0]
    if standardize and src.standardise:
        X_tr, X_va = _standardise(X_tr, X_va)
        if src.task == "regression":
            y_tr, y_va = _standardise(y_tr, y_va)
    n_outputs = (
        int(y.max()) + 1 if src.task == "classification" else (1 if y.ndim == 1 else y.shape[1])
    )
    return Dataset(
        name=name,
        task=src.task,
        X_train=np.ascontiguousarray(X_tr),
        y_train=np.ascontiguousarray(y_tr),
        X_val=np.ascontiguousarray(X_va),
        y_val=np.ascontiguousarray(y_va),
        n_inputs=X.shape[1],
        n_outputs=n_outputs,
        options=opts,
    )
