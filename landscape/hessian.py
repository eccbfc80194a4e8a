"""Curvature of E(θ): Hessian-vector products and the largest Hessian eigenvalue.

For full-batch gradient descent on a quadratic, the iteration (3) is stable exactly when
ε < 2/λ_max; near a minimum the same holds for the local quadratic model. This module gives
λ_max from Hessian-vector products alone, so it never forms the D × D Hessian.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

from landscape.model import MLP


def hessian_vector_product(
    model: MLP, theta: np.ndarray, X: np.ndarray, y: np.ndarray, v: np.ndarray
) -> np.ndarray:
    """H(θ) v by a central difference of gradients.

    Parameters
    ----------
    model : MLP
    theta : ndarray of shape (D,)
    X : ndarray of shape (N, d_0)
    y : ndarray of shape (N,) or (N, d_L)
    v : ndarray of shape (D,)

    Returns
    -------
    ndarray of shape (D,)

    Notes
    -----
    Hv ≈ (∇E(θ + h v̂) − ∇E(θ − h v̂)) ‖v‖ / (2h) with v̂ = v/‖v‖ and
    h = ε_mach^{1/3} (1 + ‖θ‖_∞), which balances the O(h²) truncation error against the
    O(ε_mach/h) rounding error: about 1e-10 relative error for a smooth loss.
    """
    theta = model.check_theta(theta)
    X = model.check_inputs(X)
    t = model.targets(y, X.shape[0])
    return _hvp(model, theta, X, t, np.asarray(v, dtype=np.float64))


def _hvp(model: MLP, theta: np.ndarray, X: np.ndarray, t: np.ndarray, v: np.ndarray):
    norm = float(np.linalg.norm(v))
    if norm == 0.0:
        return np.zeros_like(theta)
    h = np.finfo(np.float64).eps ** (1 / 3) * (1.0 + float(np.abs(theta).max()))
    step = v * (h / norm)
    both = np.stack([theta + step, theta - step])  # one (2, D) evaluation
    _, g, _ = model._evaluate(both, X, t, value=False)
    return (g[0] - g[1]) * (norm / (2.0 * h))


def hessian(model: MLP, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Build the full D × D Hessian, column by column from Hessian-vector products, symmetrised.

    Returns
    -------
    ndarray of shape (D, D)
    """
    theta = model.check_theta(theta)
    X = model.check_inputs(X)
    t = model.targets(y, X.shape[0])
    D = theta.shape[0]
    H = np.empty((D, D))
    eye = np.eye(D)
    for i in range(D):
        H[:, i] = _hvp(model, theta, X, t, eye[i])
    return 0.5 * (H + H.T)


def largest_eigenvalue(
    model: MLP,
    theta: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    *,
    rng: np.random.Generator,
    tol: float = 1e-8,
    max_hvps: int = 2000,
) -> float:
    """λ_max, the largest (algebraic) eigenvalue of the Hessian of E at θ.

    Parameters
    ----------
    model : MLP
    theta : ndarray of shape (D,)
    X, y : the data E is the mean over
    rng : numpy.random.Generator
        Draws the Krylov start vector.
    tol : float
        Relative accuracy asked of the eigenvalue.
    max_hvps : int
        Budget of Hessian-vector products.

    Returns
    -------
    float

    Notes
    -----
    Lanczos iteration (ARPACK's ``eigsh``, ``which="LA"``) on Hessian-vector products: the
    Krylov refinement of power iteration. Plain power iteration finds the eigenvalue of largest
    *magnitude*, which at a saddle can be a negative one, and converges at the rate
    |λ_2/λ_1|; Lanczos targets the largest algebraic eigenvalue directly and needs far
    fewer products.
    """
    theta = model.check_theta(theta)
    X = model.check_inputs(X)
    t = model.targets(y, X.shape[0])
    D = theta.shape[0]
    if D <= 2:
        H = hessian(model, theta, X, y)
        return float(np.linalg.eigvalsh(H)[-1])
    op = LinearOperator((D, D), matvec=lambda v: _hvp(model, theta, X, t, v.ravel()),
                        dtype=np.float64)
    v0 = rng.standard_normal(D)
    try:
        vals = eigsh(op, k=1, which="LA", v0=v0, tol=tol, maxiter=max_hvps,
                     return_eigenvectors=False)
    except ArpackNoConvergence as exc:  # pragma: no cover - rare on smooth losses
        if len(exc.eigenvalues):
            return float(np.max(exc.eigenvalues))
        raise
    return float(vals[0])
