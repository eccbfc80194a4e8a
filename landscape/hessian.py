"""Curvature of E(θ): Hessian-vector products, the Hessian, and its largest eigenvalue.

For full-batch gradient descent on a quadratic, the iteration (3) is stable exactly when
ε < 2/λ_max; near a minimum the same holds for the local quadratic model.

Second derivatives are exact to rounding, by two independent routes. Whole Hessians come from
forward-mode differentiation of backpropagation in real arithmetic (:func:`hessians`: the
derivative of the analytic gradient along each coordinate, each activation evaluated once and
shared by all directions). Hessian-vector products (Lanczos) and the independent check come
from the complex step of the analytic gradient, H v = Im ∇E(θ + i h v) / h: every operation of
the forward and backward pass (matrix products, tanh, exp, log, the piecewise relu away from
its kink) extends analytically to complex θ, so there is no subtractive cancellation for any
tiny h, unlike a finite difference of gradients, which loses half the digits. At a relu kink
(a pre-activation exactly 0) the Hessian does not exist and the two routes may differ.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

from landscape.model import MLP
from landscape.threads import one_blas_thread

_STEP = 1e-30  # complex step; any tiny value works, no cancellation occurs


def hessian_vector_product(
    model: MLP, theta: np.ndarray, X: np.ndarray, y: np.ndarray, v: np.ndarray
) -> np.ndarray:
    """H(θ) v by the complex step of the gradient.

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
        Zero at frozen entries, whose entries of v are ignored (the Hessian over the free
        parameters, in θ's layout).

    Notes
    -----
    Hv = Im ∇E(θ + i h v̂) ‖v‖ / h with v̂ = v/‖v‖: the truncation error is O(h²) ≈ 1e-60 and
    there is no cancellation, so the result is exact to rounding.
    """
    theta = model.check_theta(theta)
    X = model.check_inputs(X)
    t = model.targets(y, X.shape[0])
    return _hvp(model, theta, X, t, np.asarray(v, dtype=np.float64))


def _hvp(model: MLP, theta: np.ndarray, X: np.ndarray, t: np.ndarray, v: np.ndarray):
    if model.n_free < model.n_params:
        v = model.embed(v[model.free])  # frozen entries do not move: P H P v
    norm = float(np.linalg.norm(v))
    if norm == 0.0:
        return np.zeros_like(theta)
    z = theta + (1j * _STEP / norm) * v
    _, g, _ = model.evaluate(z, X, t, value=False)
    return g.imag * (norm / _STEP)


@one_blas_thread
def hessian(
    model: MLP, theta: np.ndarray, X: np.ndarray, y: np.ndarray, *, memory: int = 1 << 25
) -> np.ndarray:
    """Build the exact F × F Hessian of E at θ over the free parameters (see :func:`hessians`).

    Parameters
    ----------
    model : MLP
    theta : ndarray of shape (D,)
    X, y : the data E is the mean over
    memory : int
        Bytes the stacked directional derivatives may use at once; columns are computed in
        groups that fit.

    Returns
    -------
    ndarray of shape (F, F)
        Symmetrised (the two triangles agree to rounding already). F = D when nothing is
        frozen; else rows and columns follow ``model.free``.
    """
    theta = model.check_theta(theta)
    if theta.ndim != 1:
        raise ValueError(f"theta has shape {theta.shape}; hessian takes one point of shape (D,)")
    X = model.check_inputs(X)
    t = model.targets(y, X.shape[0])
    return hessians(model, theta[None, :], X, t, memory=memory)[0]


def complex_step_hessians(
    model: MLP, thetas: np.ndarray, X: np.ndarray, t: np.ndarray, *, memory: int = 1 << 25
) -> np.ndarray:
    """The Hessians of E at K points, from stacked complex-step evaluations.

    An independent path to :func:`hessians` (the tests compare the two), about 2–6× slower:
    each of the D columns evaluates the network in complex arithmetic.

    Parameters
    ----------
    model : MLP
    thetas : ndarray of shape (K, D)
    X : ndarray of shape (N, d_0)
        Checked inputs.
    t : ndarray
        Targets from :meth:`MLP.targets`.
    memory : int
        Bytes the stacked complex evaluations may use at once; points are taken in groups
        that fit.

    Returns
    -------
    ndarray of shape (K, F, F)
        Symmetrised; over the free parameters (``model.free``).
    """
    thetas = np.asarray(thetas, dtype=np.float64)
    K, D = thetas.shape
    free = model.free
    F = free.size
    per_column = 16 * X.shape[0] * max(model.sizes) * 4 + 32 * D
    group = max(1, min(K, memory // (per_column * F)))
    H = np.empty((K, F, F))
    for start in range(0, K, group):
        rows = thetas[start : start + group]
        z = np.repeat(rows.astype(np.complex128), F, axis=0)  # (k·F, D): one row per column
        z[np.arange(z.shape[0]), np.tile(free, len(rows))] += 1j * _STEP
        _, g, _ = model.evaluate(z, X, t, value=False)
        H[start : start + group] = (g.imag / _STEP)[:, free].reshape(len(rows), F, F)
    return 0.5 * (H + H.transpose(0, 2, 1))


def top_eigenpair(
    model: MLP,
    theta: np.ndarray,
    X: np.ndarray,
    t: np.ndarray,
    v0: np.ndarray,
    *,
    tol: float = 1e-6,
    max_hvps: int = 2000,
) -> tuple[float, np.ndarray]:
    """λ_max of the Hessian at θ and its unit eigenvector, by Lanczos started from ``v0``.

    Parameters
    ----------
    model : MLP
    theta : ndarray of shape (D,)
    X : ndarray of shape (N, d_0)
        Checked inputs.
    t : ndarray of shape (N, d_L)
        Targets as :meth:`MLP.targets` returns them.
    v0 : ndarray of shape (D,)
        Start vector: the previous eigenvector when tracking λ_max along a run, which makes
        the Krylov iteration converge in a few products.
    tol : float
        Relative accuracy asked of the eigenvalue.
    max_hvps : int

    Returns
    -------
    lam : float
    v : ndarray of shape (D,)
        Zero at frozen entries (λ_max is that of the Hessian over the free parameters).
    """
    free = model.free
    F = free.size
    if F <= 16:
        lam, V = np.linalg.eigh(hessians(model, theta[None, :], X, t)[0])
        return float(lam[-1]), model.embed(V[:, -1].copy())
    op = LinearOperator(
        (F, F), matvec=lambda u: _hvp(model, theta, X, t, model.embed(u.ravel()))[free], dtype=float
    )
    try:
        vals, vecs = eigsh(
            op, k=1, which="LA", v0=v0[free], tol=tol, maxiter=max_hvps, ncv=min(F, 8)
        )
    except ArpackNoConvergence as exc:  # pragma: no cover - rare on smooth losses
        if not len(exc.eigenvalues):
            raise
        vals, vecs = exc.eigenvalues, exc.eigenvectors
    i = int(np.argmax(vals))
    return float(vals[i]), model.embed(vecs[:, i].copy())


@one_blas_thread
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
    free = model.free
    F = free.size
    if F <= 16:
        return float(np.linalg.eigvalsh(hessian(model, theta, X, y))[-1])
    op = LinearOperator(
        (F, F),
        matvec=lambda u: _hvp(model, theta, X, t, model.embed(u.ravel()))[free],
        dtype=np.float64,
    )
    v0 = rng.standard_normal(F)
    try:
        vals = eigsh(
            op, k=1, which="LA", v0=v0, tol=tol, maxiter=max_hvps, return_eigenvectors=False
        )
    except ArpackNoConvergence as exc:  # pragma: no cover - rare on smooth losses
        if len(exc.eigenvalues):
            return float(np.max(exc.eigenvalues))
        raise
    return float(vals[0])


def hessians(
    model: MLP, thetas: np.ndarray, X: np.ndarray, t: np.ndarray, *, memory: int = 1 << 25
) -> np.ndarray:
    """The exact Hessians of E at K points, by forward-mode differentiation of backpropagation.

    Every column H e_j is the directional derivative of the analytic gradient along e_j,
    carried through the forward and the backward pass in real arithmetic (Pearlmutter's
    R-operator): each activation is evaluated once per point and shared by all D directions,
    where the complex step (:func:`complex_step_hessians`) evaluates a complex tanh per
    direction. Exact to rounding, like the complex step; the tests compare the two.

    Parameters
    ----------
    model : MLP
    thetas : ndarray of shape (K, D)
    X : ndarray of shape (N, d_0)
        Checked inputs.
    t : ndarray
        Targets from :meth:`MLP.targets`.
    memory : int
        Bytes the stacked directional derivatives may use at once: points and directions are
        taken in groups that fit.

    Returns
    -------
    ndarray of shape (K, F, F)
        Symmetrised (the two triangles agree to rounding already). Over the F free parameters
        (``model.free``; F = D when nothing is frozen): frozen entries never move, so their
        rows and columns are no part of the landscape.
    """
    thetas = np.asarray(thetas, dtype=np.float64)
    K, D = thetas.shape
    free = model.free
    F = free.size
    n = X.shape[0]
    per_direction = 8 * n * max(model.sizes) * 6  # the few (N, width) arrays alive per direction
    cols = int(max(1, min(F, memory // per_direction)))
    points = int(max(1, min(K, memory // (per_direction * cols))))
    H = np.empty((K, F, F))
    eye = np.eye(D)[free]  # unit directions of the free parameters, (F, D)
    for p0 in range(0, K, points):
        for c0 in range(0, F, cols):
            block = np.broadcast_to(
                eye[c0 : c0 + cols], (min(points, K - p0), *eye[c0 : c0 + cols].shape)
            )
            rows = _directional_gradients(model, thetas[p0 : p0 + points], block, X, t)
            H[p0 : p0 + points, c0 : c0 + cols] = rows[..., free] if F < D else rows
    return 0.5 * (H + H.transpose(0, 2, 1))


def _directional_gradients(
    model: MLP, thetas: np.ndarray, V: np.ndarray, X: np.ndarray, t: np.ndarray
) -> np.ndarray:
    """The derivative of ∇E(θ_k) along each direction V[k, j]: H_k V[k, j], shape (k, J, D).

    A dot marks a derivative along the direction (ȧ, ḣ, ż, δ̇); an extra axis J carries them.
    """
    act = model.activation
    layout = model.layout
    layers = layout.unravel(thetas)  # W (k, din, dout), b (k, dout)
    dirs = layout.unravel(V)  # Ẇ (k, J, din, dout), ḃ (k, J, dout)
    n = X.shape[0]
    hs: list[np.ndarray] = [X]
    hdots: list[np.ndarray | None] = [None]  # the inputs do not depend on θ
    h, hdot = X, None
    for (W, b), (Wd, bd) in zip(layers[:-1], dirs[:-1], strict=True):
        a = h @ W + b[:, None, :]
        adot = (h if h.ndim == 2 else h[:, None]) @ Wd + bd[:, :, None, :]
        if hdot is not None:
            adot += hdot @ W[:, None]
        act.forward(a)
        h, hdot = a, act.slope(a)[:, None] * adot
        hs.append(h)
        hdots.append(hdot)
    (W, b), (Wd, bd) = layers[-1], dirs[-1]
    z = h @ W + b[:, None, :]
    zdot = (h if h.ndim == 2 else h[:, None]) @ Wd + bd[:, :, None, :]
    if hdot is not None:
        zdot += hdot @ W[:, None]
    _, delta = model.loss_fn.value_and_delta(z.copy(), t, True, False)
    if model.loss_fn.name == "mse":
        deltadot = zdot / n
    else:  # softmax cross-entropy: δ = (s − onehot)/N and ṡ = s ⊙ (ż − ⟨s, ż⟩)
        s = np.exp(z - z.max(axis=-1, keepdims=True))
        s /= s.sum(axis=-1, keepdims=True)
        s = s[:, None]
        deltadot = s * (zdot - (s * zdot).sum(axis=-1, keepdims=True)) / n
    out = np.empty(V.shape)
    grads = layout.unravel(out)
    for layer in range(layout.n_layers - 1, -1, -1):
        h_prev, hdot_prev = hs[layer], hdots[layer]
        gW, gb = grads[layer]
        hp = h_prev if h_prev.ndim == 2 else h_prev[:, None]
        gW[...] = hp.swapaxes(-1, -2) @ deltadot
        if hdot_prev is not None:
            gW += hdot_prev.swapaxes(-1, -2) @ delta[:, None]
        gb[...] = deltadot.sum(axis=-2)
        if layer:
            W, Wd = layers[layer][0], dirs[layer][0]
            u = delta @ W.swapaxes(-1, -2)
            udot = deltadot @ W.swapaxes(-1, -2)[:, None] + delta[:, None] @ Wd.swapaxes(-1, -2)
            slope = act.slope(h_prev)
            deltadot = udot * slope[:, None] + u[:, None] * act.bend(h_prev[:, None], hdot_prev)
            delta = u * slope
    return out
