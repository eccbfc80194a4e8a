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

import numpy as np

_STEP = 1e-30  # complex step of the Hessian (exact to rounding, no cancellation)


def teacher(k: int, d: int) -> np.ndarray:
    """Orthonormal teacher weights: the first k unit vectors of ℝ^d, shape (k, d).

    The Gaussian input distribution is rotation invariant, so any orthonormal teacher gives the
    same landscape up to a rotation of every w_i.
    """
    if not 1 <= k <= d:
        raise ValueError(f"k={k}, d={d}: need 1 <= k <= d for k orthonormal vectors in R^d")
    return np.eye(k, d)


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


def _pair_grad(A: np.ndarray, B: np.ndarray, same: bool) -> np.ndarray:
    """Σ_j g(a_i, b_j) for every i; A (..., n, d), B (..., m, d) → (..., n, d)."""
    na = np.sqrt(np.einsum("...id,...id->...i", A, A))
    nb = np.sqrt(np.einsum("...jd,...jd->...j", B, B))
    G = np.einsum("...id,...jd->...ij", A, B)
    c = G / (na[..., :, None] * nb[..., None, :])
    if same:
        c = np.where(np.eye(A.shape[-2], dtype=bool), 0.0, c)
    th = np.arccos(c)
    s = np.sqrt(1.0 - c * c)
    # g(a, b) = (‖b‖ sin θ â + (π − θ) b) / 2π, summed over j
    radial = (nb[..., None, :] * s).sum(axis=-1) / na  # (..., n): coefficient of a_i
    out = radial[..., None] * A + np.einsum("...ij,...jd->...id", math.pi - th, B)
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


def gradient_descent(
    W: np.ndarray,
    V: np.ndarray,
    *,
    lr: float,
    steps: int,
    gtol: float = 1e-10,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full (population) gradient descent from K starts at once.

    Parameters
    ----------
    W : ndarray of shape (K, n, d)
        Starts (not modified).
    V : ndarray of shape (k, d)
    lr : float
    steps : int
        Update budget.
    gtol : float
        A start stops when ‖∇E‖ ≤ gtol.

    Returns
    -------
    W : ndarray of shape (K, n, d)
        End points.
    updates : ndarray of int, shape (K,)
        Updates each start made.
    grad_norm : ndarray of shape (K,)
        ‖∇E‖ at the end point.
    """
    W = np.array(W, dtype=np.float64)
    K = W.shape[0]
    updates = np.zeros(K, dtype=np.int64)
    active = np.arange(K)
    gn = np.full(K, np.inf)
    for _ in range(steps):
        G = population_grad(W[active], V)
        norms = np.sqrt(np.einsum("knd,knd->k", G, G))
        gn[active] = norms
        moving = norms > gtol
        active, G = active[moving], G[moving]
        if not len(active):
            break
        W[active] -= lr * G
        updates[active] += 1
    if len(active):
        G = population_grad(W[active], V)
        gn[active] = np.sqrt(np.einsum("knd,knd->k", G, G))
    return W, updates, gn


def wilson(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for a binomial share (95% for the default z).

    Returns (0, 1) when n = 0: nothing measured, nothing excluded.
    """
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


END_KINDS = ("global", "spurious", "saddle", "not_converged", "diverged")
"""Where a run ended: the global minimum (E ≤ loss_tol), a spurious minimum (E above it, every
Hessian eigenvalue positive), another critical point, no critical point within reach of a local
refinement, or a non-finite end point."""


def classify_ends(
    W: np.ndarray,
    V: np.ndarray,
    *,
    gtol: float = 1e-8,
    loss_tol: float = 1e-6,
    max_move: float = 0.01,
    newton_steps: int = 30,
) -> dict[str, np.ndarray]:
    """Classify where K runs ended, refining each end point only locally.

    A run whose end point has ‖∇E‖ > gtol is refined by damped Newton on the exact population
    Hessian; the refinement may move it at most ``max_move`` · ‖W‖, otherwise the run is
    ``not_converged``: a polisher may refine an end point, never replace training.

    Parameters
    ----------
    W : ndarray of shape (K, n, d)
    V : ndarray of shape (k, d)
    gtol, loss_tol, max_move : float
    newton_steps : int

    Returns
    -------
    dict of str to ndarray of shape (K,)
        ``kind`` (one of :data:`END_KINDS`), ``loss`` (at the classified point), ``moved``
        (refinement distance over ‖W‖), ``lambda_min`` (relative to λ_max; NaN when not
        converged).
    """
    W = np.asarray(W, dtype=np.float64)
    K = W.shape[0]
    kind = np.empty(K, dtype=object)
    loss = np.full(K, np.nan)
    moved = np.zeros(K)
    lam_rel = np.full(K, np.nan)
    for i, w in enumerate(W):
        if not np.isfinite(w).all() or not np.isfinite(population_loss(w, V)):
            kind[i] = "diverged"
            continue
        start = w.copy()
        g = population_grad(w, V)
        mu = None
        for _ in range(newton_steps):
            if np.linalg.norm(g) <= gtol:
                break
            lam, Q = np.linalg.eigh(population_hessian(w, V))
            scale = float(np.abs(lam).max()) or 1.0
            mu = 1e-8 * scale if mu is None else mu
            E = population_loss(w, V)
            accepted = False
            for _ in range(12):
                cand = w - (Q @ ((Q.T @ g.ravel()) / (np.abs(lam) + mu))).reshape(w.shape)
                if population_loss(cand, V) <= E:
                    w, g, mu, accepted = cand, population_grad(cand, V), max(mu / 10, 1e-16), True
                    break
                mu *= 10.0
            if not accepted:
                break
        moved[i] = np.linalg.norm(w - start) / max(np.linalg.norm(start), 1e-300)
        loss[i] = float(population_loss(w, V))
        if np.linalg.norm(g) > gtol or moved[i] > max_move:
            kind[i] = "not_converged"
            continue
        if abs(loss[i]) <= loss_tol:
            kind[i] = "global"
            continue
        lam = np.linalg.eigvalsh(population_hessian(w, V))
        lam_rel[i] = lam[0] / abs(lam).max()
        kind[i] = "spurious" if lam[0] > 1e-9 * abs(lam).max() else "saddle"
    return {"kind": kind.astype(str), "loss": loss, "moved": moved, "lambda_min": lam_rel}


def online_sgd(
    W: np.ndarray,
    V: np.ndarray,
    *,
    batch: int,
    lr: float,
    updates: int,
    rng: np.random.Generator,
    tau: float | None = None,
) -> np.ndarray:
    """``updates`` online SGD steps from K starts (fresh inputs every step).

    Parameters
    ----------
    W : ndarray of shape (K, n, d)
        Starts (not modified).
    batch : int
        Inputs per step and start.
    lr : float
        ε, or ε₀ of the inverse-time decay ε_t = ε₀ / (1 + t/τ) when ``tau`` is given (Σ ε_t
        diverges and Σ ε_t² converges: Robbins–Monro).
    updates : int
    rng : numpy.random.Generator
    tau : float, optional

    Returns
    -------
    ndarray of shape (K, n, d)
    """
    W = np.array(W, dtype=np.float64)
    for t in range(updates):
        eps = lr if tau is None else lr / (1.0 + t / tau)
        sgd_step(W, V, eps, batch, rng)
    return W
