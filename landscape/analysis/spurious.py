"""Spurious local minima of two-layer ReLU networks (seed 1.3; Safran & Shamir, ICML 2018).

The student x ↦ Σ_{i=1..n} max(0, w_iᵀx) (output weights fixed to 1, no biases) learns a teacher
x ↦ Σ_{j=1..k} max(0, v_jᵀx) with orthonormal v_j, on standard Gaussian inputs x ∈ ℝ^d, by the
squared loss. The population loss has a closed form (Cho & Saul 2009; Brutzkus & Globerson
2017): with f(w, v) = E[max(0, wᵀx) max(0, vᵀx)] = ‖w‖‖v‖ (sin θ + (π − θ) cos θ) / (2π),
θ the angle between w and v,

    E(W) = ½ Σ_{i,i'} f(w_i, w_i') − Σ_{i,j} f(w_i, v_j) + ½ Σ_{j,j'} f(v_j, v_j'),

and ∇_{w_i} E = Σ_{i'} g(w_i, w_i') − Σ_j g(w_i, v_j) with
g(w, v) = ∂f/∂w = (‖v‖ sin θ · w/‖w‖ + (π − θ) v) / (2π). So gradient descent on the population
costs O(n(n + k)d) a step, not O(Nnd) over a sample, and it is exact: no sampling error
decides whether a point is a minimum. Mini-batch noise is then defined honestly as online
SGD on the population: each step draws B fresh Gaussian inputs (:func:`sgd_step`), whose
gradient is an unbiased estimate of ∇E.

Everything is vectorised over K starts: W has shape (K, n, d).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from landscape import seeds
from landscape.analysis.kind import Kind
from landscape.analysis.noise import (
    AxisReport,
    AxisSettings,
    ChainProblem,
    _unique,
    axis_trainer,
    earlier,
    earlier_found,
    run_axis,
    summarise_axis,
    unit_attrs,
    unit_value,
)

# the teacher's weights live with the relu_teacher dataset, the same problem as a sample
from landscape.data import orthonormal_teacher as teacher
from landscape.rules import RuleError, setting
from landscape.threads import one_blas_thread

_STEP = 1e-30  # complex step of the Hessian (exact to rounding, no cancellation)


def _quiet(func):
    """Run ``func`` with floating-point warnings off: a diverged run is a result, not a flood."""

    def wrapper(*args, **kwargs):
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            return func(*args, **kwargs)

    wrapper.__doc__, wrapper.__name__ = func.__doc__, func.__name__
    return wrapper


@_quiet
def _pair(A: np.ndarray, B: np.ndarray, same: bool) -> np.ndarray:
    """f(a_i, b_j) for every pair; A (..., n, d), B (..., m, d) → (..., n, m).

    Complex-analytic (norms as √(wᵀw), arccos of the cosine), so the complex step of its
    gradient gives the Hessian. With ``same`` (B is A), the diagonal is ‖a_i‖²/2 exactly: the
    angle of a vector with itself is 0, where arccos is not differentiable.
    """
    na = np.sqrt(np.einsum("...id,...id->...i", A, A))
    nb = np.sqrt(np.einsum("...jd,...jd->...j", B, B))
    G = np.einsum("...id,...jd->...ij", A, B)
    outer = na[..., :, None] * nb[..., None, :]
    c = G / outer
    if same:
        n = A.shape[-2]
        c = np.where(np.eye(n, dtype=bool), 0.0, c)  # placeholder on the diagonal
    th = np.arccos(c)
    F = outer * (np.sqrt(1.0 - c * c) + (math.pi - th) * c) / (2.0 * math.pi)
    if same:
        F = np.where(np.eye(A.shape[-2], dtype=bool), 0.5 * na[..., :, None] ** 2, F)
    return F


@_quiet
def _pair_grad(A: np.ndarray, B: np.ndarray, same: bool) -> np.ndarray:
    """Σ_j g(a_i, b_j) for every i; A (..., n, d), B (..., m, d) → (..., n, d)."""
    na = np.sqrt((A * A).sum(axis=-1))
    nb = na if same else np.sqrt((B * B).sum(axis=-1))
    G = A @ np.swapaxes(B, -1, -2)  # batched matmul: the hot loop of GD over K starts
    c = G / (na[..., :, None] * nb[..., None, :])
    if same:
        c = np.where(np.eye(A.shape[-2], dtype=bool), 0.0, c)
    th = np.arccos(c)
    s = np.sqrt(1.0 - c * c)
    # g(a, b) = (‖b‖ sin θ â + (π − θ) b) / 2π, summed over j
    radial = (nb[..., None, :] * s).sum(axis=-1) / na  # (..., n): coefficient of a_i
    out = radial[..., None] * A + (math.pi - th) @ B
    if same:
        # the diagonal pair contributes g(a, a) = a/2, not what the placeholder gave
        diag_s = 1.0  # sin of the placeholder angle π/2
        out -= (nb * diag_s / na)[..., None] * A + (math.pi / 2) * B
        out += math.pi * A  # (π − 0)·a
    return out / (2.0 * math.pi)


def population_loss(W: np.ndarray, V: np.ndarray) -> np.ndarray:
    """E(W), the squared loss on standard Gaussian inputs, in closed form.

    Parameters
    ----------
    W : ndarray of shape (n, d) or (K, n, d)
        Student weights (one row per hidden unit).
    V : ndarray of shape (k, d)
        Teacher weights.

    Returns
    -------
    float ndarray of shape () or (K,)
    """
    W = np.asarray(W)
    V = np.asarray(V, dtype=np.float64)
    vv = 0.5 * _pair(V, V, True).sum()
    return 0.5 * _pair(W, W, True).sum(axis=(-2, -1)) - _pair(W, V, False).sum(axis=(-2, -1)) + vv


def population_grad(W: np.ndarray, V: np.ndarray) -> np.ndarray:
    """∇E(W), same shape as W (closed form; see the module docstring)."""
    W = np.asarray(W)
    Vb = np.broadcast_to(V, W.shape[:-2] + V.shape)
    return _pair_grad(W, W, True) - _pair_grad(W, Vb, False)


def population_hessian(W: np.ndarray, V: np.ndarray) -> np.ndarray:
    """The exact Hessian of E at W (n, d): shape (n·d, n·d), by the complex step of ∇E."""
    W = np.asarray(W, dtype=np.float64)
    n, d = W.shape
    D = n * d
    Z = np.repeat(W[None].astype(np.complex128), D, axis=0).reshape(D, D)
    Z[np.arange(D), np.arange(D)] += 1j * _STEP
    G = population_grad(Z.reshape(D, n, d), V).reshape(D, D)
    H = G.imag / _STEP
    return 0.5 * (H + H.T)


def init_students(rng: np.random.Generator, K: int, n: int, d: int) -> np.ndarray:
    """K random students, w_i ~ N(0, I/d) (Xavier scale: E‖w_i‖² = 1), shape (K, n, d)."""
    return rng.standard_normal((K, n, d)) / math.sqrt(d)


@_quiet
def sgd_step(
    W: np.ndarray, V: np.ndarray, lr: float | np.ndarray, batch: int, rng: np.random.Generator
) -> np.ndarray:
    """One online SGD step on the population: B fresh Gaussian inputs per start.

    Parameters
    ----------
    W : ndarray of shape (K, n, d)
        Updated in place and returned.
    V : ndarray of shape (k, d)
    lr : float or ndarray of shape (K,)
    batch : int
        B, inputs drawn for this step (per start).
    rng : numpy.random.Generator

    Notes
    -----
    With r_b = Σ_i max(0, w_iᵀx_b) − Σ_j max(0, v_jᵀx_b), the batch gradient is
    (1/B) Σ_b r_b 1[w_iᵀx_b > 0] x_b, an unbiased estimate of ∇E(W).
    """
    K, n, d = W.shape
    X = rng.standard_normal((K, batch, d))
    Z = np.einsum("kbd,knd->kbn", X, W)
    r = np.maximum(Z, 0.0).sum(-1) - np.maximum(X @ V.T, 0.0).sum(-1)  # (K, B)
    G = np.einsum("kbn,kbd->knd", (Z > 0) * r[:, :, None], X) / batch
    W -= np.reshape(lr, (-1, 1, 1)) * G if np.ndim(lr) else lr * G
    return W


def _real_grad(W: np.ndarray, V: np.ndarray) -> np.ndarray:
    """∇E(W) for real W of shape (K, n, d): :func:`population_grad` in fewer passes.

    Student and teacher rows are taken as one set B = [W; V] with signs +1 (students) and −1
    (teacher), so every angle is computed once; a unit's angle with itself is set to 0 exactly
    (its cosine may round to 1 − 2⁻⁵²), as in :func:`_pair_grad`.
    """
    K, n, d = W.shape
    k = V.shape[0]
    B = np.concatenate([W, np.broadcast_to(V, (K, k, d))], axis=1)  # (K, n + k, d)
    nb = np.sqrt(np.einsum("kjd,kjd->kj", B, B))
    na = nb[:, :n]
    c = W @ B.transpose(0, 2, 1)
    c /= na[:, :, None]
    c /= nb[:, None, :]
    np.clip(c, -1.0, 1.0, out=c)
    c.reshape(K, -1)[:, :: n + k + 1] = 1.0
    s = np.sqrt(1.0 - c * c)  # sin θ
    th = np.arccos(c, out=c)
    nb[:, n:] *= -1.0  # the teacher's rows enter with a minus sign
    radial = np.einsum("kij,kj->ki", s, nb) / na
    np.subtract(math.pi, th, out=th)
    th[:, :, n:] *= -1.0
    nb[:, n:] *= -1.0
    out = th @ B
    out += radial[:, :, None] * W
    out /= 2.0 * math.pi
    return out


class PopulationReLU(ChainProblem):
    """Safran & Shamir's student of n units on a teacher of k, as a :class:`ChainProblem`.

    θ is W flattened row by row (unit by unit), D = n·d with d = k. The loss and gradient are
    the closed forms above; a mini-batch gradient draws B fresh Gaussian inputs (the
    population's own noise), one set per chain, shared by the chain's step sizes.

    The symmetry group: with an orthonormal teacher of k units in d = k dimensions (the first
    unit vectors), permuting the student's units (rows of W) and permuting the input
    coordinates (columns of W, which permutes the teacher's units) leave E unchanged: n!·k!
    elements. :meth:`same_minimum` matches both by assignment.

    Parameters
    ----------
    k, n : int
    lr : float
        The step of the descent that decides a basin.
    global_below : float
        Below it descent is in the global minimum's basin (bad minima lie at E ≈ 0.02).
    gtol : float
    """

    def __init__(
        self, k: int, n: int, lr: float = 0.5, global_below: float = 1e-5, gtol: float = 1e-7
    ) -> None:
        self.k, self.n, self.d = k, n, k
        self.V = teacher(k, k)
        self.dim = n * k
        self.basin_lr = lr
        self.global_below = global_below
        self.gtol = gtol

    def _W(self, theta: np.ndarray) -> np.ndarray:
        return theta.reshape(*theta.shape[:-1], self.n, self.d)

    def loss(self, theta: np.ndarray) -> np.ndarray:  # noqa: D102
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            return population_loss(self._W(theta), self.V)

    def grad(self, theta: np.ndarray) -> np.ndarray:  # noqa: D102
        K = theta.shape[0]
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            return _real_grad(self._W(theta), self.V).reshape(K, self.dim)

    def noisy_grad(  # noqa: D102
        self, theta: np.ndarray, batch: int, rng: np.random.Generator
    ) -> np.ndarray:
        R, M, _ = theta.shape
        n, d = self.n, self.d
        X = rng.standard_normal((R, batch, d))
        W = theta.reshape(R, M * n, d)
        Z = W @ X.transpose(0, 2, 1)  # (R, M·n, B): every step size of a chain sees its inputs
        y = np.maximum(X @ self.V.T, 0.0).sum(-1)  # (R, B)
        Z4 = Z.reshape(R, M, n, batch)
        active = Z4 > 0
        np.maximum(Z4, 0.0, out=Z4)  # in place: one (R, M·n, B) array for the whole step
        r = Z4.sum(axis=2)
        r -= y[:, None, :]
        r /= batch
        np.multiply(active, r[:, :, None, :], out=Z4)  # the residual where a unit is on
        return (Z @ X).reshape(R, M, n * d)

    def hessian(self, theta: np.ndarray) -> np.ndarray:  # noqa: D102
        return population_hessian(self._W(theta), self.V)

    def same_minimum(self, a: np.ndarray, b: np.ndarray) -> bool:
        """Whether W_a = P·W_b·Q for permutations P of units and Q of coordinates.

        Within ``stay_tol``·‖W_a‖ (1e-4: the closed form's minima are isolated points).
        """
        A, B = self._W(a), self._W(b)
        perm_cols, perm_rows = match_units(A, B)
        gap = np.linalg.norm(A - B[perm_rows][:, perm_cols])
        return bool(gap <= self.stay_tol * max(np.linalg.norm(A), 1e-12))

    def symmetry(self) -> str:  # noqa: D102
        return (
            f"permutations of the {self.n} student units and of the {self.k} input coordinates "
            f"(which permute the teacher's units): {self.n}!·{self.k}! elements"
        )


def match_units(A: np.ndarray, B: np.ndarray, rounds: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Permutations (columns q, rows p) that bring B (n, d) closest to A: ``A ≈ B[p][:, q]``.

    A column's sorted entries do not change when rows are permuted, so the columns are matched
    first on those (an assignment problem), then rows on the matched columns, then each again
    with the other fixed.
    """
    from scipy.optimize import linear_sum_assignment

    ca, cb = np.sort(A, axis=0), np.sort(B, axis=0)
    _, q = linear_sum_assignment(((ca[:, :, None] - cb[:, None, :]) ** 2).sum(axis=0))
    p = np.arange(len(A))
    for _ in range(rounds):
        Bq = B[:, q]
        _, p = linear_sum_assignment(((A[:, None, :] - Bq[None, :, :]) ** 2).sum(axis=-1))
        Bp = B[p]
        _, q = linear_sum_assignment(((A[:, :, None] - Bp[:, None, :]) ** 2).sum(axis=0))
    return q, p


# ------------------------------------------------------------------ the analysis kind
def parse_size(text: str) -> tuple[int, int]:
    """Teacher and student widths ``(k, n)`` of a ``k:n`` size of the sweep.

    Raises
    ------
    RuleError
    """
    k, sep, n = text.partition(":")
    if sep and k.isdigit() and n.isdigit() and int(k) >= 1 and int(n) >= 1:
        return int(k), int(n)
    raise RuleError(
        f"analysis.sizes: {text!r} is not k:n (teacher units k >= 1, student units n >= 1), "
        "e.g. '8:8' or '8:9'"
    )


@dataclass(frozen=True)
class SpuriousConfig(AxisSettings):
    """The ``[analysis]`` section of ``kind = "spurious"``: Safran & Shamir's networks.

    Seed 1.3 over its noise axis on the ReLU networks in closed form. ``[data]`` and
    ``[model]`` are not used; ``trainer.lr`` is GD's reference ε and the step of the descent
    that decides a basin. The noise-axis fields are :class:`AxisSettings`'.

    Attributes
    ----------
    sizes : tuple of str
        ``k:n`` teacher and student widths (Gaussian inputs in d = k dimensions); one unit of
        work per size and batch size.
    spurious_tol : float
        Descent below this loss is in the global minimum's basin (bad minima lie far above).
    """

    kind: str = "spurious"
    sizes: tuple[str, ...] = (
        "6:6",
        "7:7",
        "8:8",
        "9:9",
        "10:10",
        "11:11",
        "12:12",
        "8:9",
        "8:10",
        "10:11",
        "10:12",
    )
    spurious_tol: float = setting(1e-6, low=0, open_low=True)

    def check(self) -> None:
        """Sizes listed once and well formed, then the axis's own rules."""
        if not self.sizes:
            raise RuleError("analysis.sizes must list at least one k:n")
        _unique("analysis.sizes", self.sizes)
        for text in self.sizes:
            parse_size(text)
        super().check()


def _names(config: SpuriousConfig) -> list[str]:
    return [f"{size} B={b}" for size in config.sizes for b in config.batches]


@one_blas_thread
def run_spurious_unit(inputs, config: SpuriousConfig, index: int) -> dict[str, np.ndarray]:
    """One size and batch size of the noise axis (:func:`landscape.analysis.noise.run_axis`).

    The starts depend on the size alone (stream [seed, SPURIOUS, size]), so every batch size
    and GD meet the same θ⁽⁰⁾; each unit's noise has a stream of its own.
    """
    s, b = divmod(index, len(config.batches))
    k, n = parse_size(config.sizes[s])
    lr = inputs.trainer.lr
    chain = PopulationReLU(k, n, lr=lr, global_below=config.spurious_tol)
    starts = init_students(inputs.stream(seeds.SPURIOUS, s), config.n_starts, n, k)
    return run_axis(
        chain,
        starts.reshape(config.n_starts, chain.dim),
        config.batches[b],
        config.axis(lr),
        lambda j: inputs.stream(seeds.SPURIOUS, s, 1 + b, j),
    )


def finish_spurious(inputs, config: SpuriousConfig, parts: list[dict]):
    """Judge the axis from every unit's arrays (in unit order)."""
    sized = [(config.sizes[i // len(config.batches)], p) for i, p in enumerate(parts)]
    symmetry = (
        "permutations of the student's units and of the input coordinates (which permute the "
        "teacher's units)"
    )
    return summarise_axis(sized, config.axis(inputs.trainer.lr), symmetry), {}


KIND = Kind(
    name="spurious",
    config=SpuriousConfig,
    result=AxisReport,
    value="GD's share of runs in spurious basins",
    headline=lambda r: f"seed 1.3 {r.verdict}",
    units=_names,
    run_unit=run_spurious_unit,
    finish=finish_spurious,
    unit_param="sweep",
    unit_value=unit_value,
    unit_attrs=unit_attrs,
    trainer=axis_trainer("spurious"),
    earlier=earlier("spurious"),
    earlier_found=earlier_found("spurious"),
)
