"""How many distinct minima gradient descent reaches from random θ⁽⁰⁾ (seed 1.2).

The pipeline: many starts trained at once (:func:`landscape.train.train_many`); each end point
polished to a critical point (:func:`polish`); then examined (:func:`examine`): descent is
continued from it, since a Hessian cannot see a minimum at infinity, and its flat directions not
explained by a continuous symmetry are probed, so each end point gets exactly one kind —
``minimum`` (isolated modulo the symmetry), ``family`` (a connected set of minima at one loss,
with its dimension), ``at_infinity`` (E keeps falling while ‖θ‖ grows), ``saddle`` or
``unresolved``; the points of each kind are clustered modulo the symmetry group (:func:`cluster`,
:func:`cluster_families`), and the number of isolated minima, seen and unseen, is estimated
from their basin counts (:func:`chao1`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from landscape import seeds
from landscape.analysis.kind import Inputs, Kind, hessian_memory
from landscape.analysis.symmetry import (
    GroupCounts,
    align_model,
    model_group_counts,
    symmetry_tangents,
)
from landscape.engine import ENGINES
from landscape.engine import resolve as resolve_engine
from landscape.hessian import hessian, hessians
from landscape.model import MLP
from landscape.rules import RuleError, setting
from landscape.threads import one_blas_thread
from landscape.train import MANY_UNSUPPORTED, TrainConfig, train_many

KINDS = ("minimum", "saddle", "maximum", "not converged")
"""What a Hessian spectrum alone says (:func:`classify`)."""

POINT_KINDS = ("minimum", "family", "at_infinity", "saddle", "unresolved")
"""What an end point is, once descent was continued and flat directions probed (:func:`examine`)."""


@dataclass(frozen=True)
class Polished:
    """A point refined to a critical point.

    Attributes
    ----------
    theta : ndarray of shape (D,)
    loss : float
    grad_norm : float
        ‖∇E‖ at ``theta``.
    converged : bool
        ``grad_norm <= gtol``.
    iterations : int
        L-BFGS iterations plus Newton steps used.
    """

    theta: np.ndarray
    loss: float
    grad_norm: float
    converged: bool
    iterations: int


def _scalar_objective(model: MLP, X: np.ndarray, t: np.ndarray):
    """E and ∇E at one θ, for SciPy's L-BFGS (overflow of a bad step is a large E, not a flood)."""

    def fun(th: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(over="ignore", invalid="ignore"):
            E, g, _ = model.evaluate(th, X, t)
        return float(E), g.copy()

    return fun


@one_blas_thread
def polish(
    model: MLP,
    theta: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    *,
    gtol: float = 1e-8,
    max_iter: int = 3000,
    newton_steps: int = 20,
) -> Polished:
    """Refine θ to a critical point of E in float64: L-BFGS, then Newton on the exact Hessian.

    Parameters
    ----------
    model : MLP
    theta : ndarray of shape (D,)
    X, y : the training data
    gtol : float
        Target ‖∇E‖ (Euclidean norm).
    max_iter : int
        L-BFGS iteration budget.
    newton_steps : int
        Damped Newton steps afterwards, θ ← θ − V (|Λ| + μ)⁻¹ Vᵀ ∇E with H = V Λ Vᵀ, accepted
        when E does not rise (μ shrinks after a success and grows after a failure, as in
        Levenberg–Marquardt), until ‖∇E‖ ≤ gtol.

    Returns
    -------
    Polished
        ``converged`` is False when ‖∇E‖ stayed above gtol, e.g. a cross-entropy minimum at
        infinity (separable data), which no finite θ reaches.

    Notes
    -----
    L-BFGS alone stalls near 1e-6 on ill-conditioned minima; Newton converges quadratically
    there. Both steps descend, so polishing does not leave a minimum's basin for a saddle;
    an end point that training left at a saddle stays there, which :func:`classify` tells.
    """
    theta = model.check_theta(theta).copy()
    X = model.check_inputs(X)
    t = model.targets(y, X.shape[0])

    fun = _scalar_objective(model, X, t)
    iterations = 0
    E, g = fun(theta)
    if np.isfinite(E) and np.linalg.norm(g) > gtol:
        # L-BFGS-B's gtol bounds max_i |g_i|; gtol/√D bounds ‖g‖ by gtol.
        opts = {"maxiter": max_iter, "gtol": gtol / np.sqrt(theta.size), "ftol": 0.0, "maxcor": 30}
        res = minimize(fun, theta, jac=True, method="L-BFGS-B", options=opts)
        if np.isfinite(res.fun) and res.fun <= E:
            theta = res.x
        iterations += int(res.nit)
    d = _newton(model, theta, X, y, t, newton_steps, gtol=gtol)
    gn = float(np.linalg.norm(d.grad))
    return Polished(
        d.theta, d.loss, gn, bool(np.isfinite(d.loss) and gn <= gtol), iterations + d.steps
    )


@one_blas_thread
def polish_many(
    model: MLP,
    thetas: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    *,
    gtol: float = 1e-8,
    max_iter: int = 3000,
    newton_steps: int = 20,
    memory: int = 30,
    engine: str = "numpy",
    grow: float | None = None,
) -> list[Polished]:
    """:func:`polish` K points at once: batched L-BFGS (:func:`lbfgs_many`), then Newton.

    The damped Newton steps are :func:`newton_many`'s, all points at once.
    Its iterates are not scipy's, so a point far from any minimum may be carried to another one
    than :func:`polish` finds: ``benchmarks/bench_minima.py`` measures how often the two agree.

    Parameters
    ----------
    model : MLP
    thetas : ndarray of shape (K, D)
    X, y : the training data
    gtol, max_iter, newton_steps : as :func:`polish`
    memory : int
        Correction pairs kept per point.
    engine : {"numpy", "jax"}
        Where the Newton steps run: the NumPy reference or the compiled engine
        (:mod:`landscape.engine`), the same iterations to rounding.
    grow : float, optional
        A point whose ‖θ‖ grows by more than this fraction is left where it got, not
        converged, without the Newton steps: the descent is carrying it outwards, towards no
        finite critical point, and polishing on would replace training (an L-BFGS chasing a
        minimum at infinity runs θ out until its units saturate and float64 can no longer
        resolve E). :func:`examine` continues from there and measures the growth itself.

    Returns
    -------
    list of Polished, one per row (non-finite rows are returned unchanged, not converged)
    """
    thetas = np.array(thetas, dtype=np.float64)
    X = model.check_inputs(X)
    t = model.targets(y, X.shape[0])
    K = thetas.shape[0]
    finite = np.isfinite(thetas).all(axis=1)
    run = np.flatnonzero(finite)
    # The L-BFGS stays in NumPy on either engine: compiled as a vmapped while-loop, every start
    # pays for the slowest start's iterations and line-search halvings (measured, 256 starts of
    # the minima spec: 19.9 s of CPU against NumPy's 17.7 s, whose batch shrinks as starts end).
    start_norm = np.linalg.norm(thetas[run], axis=1)
    limit = None if grow is None else (1.0 + grow) * start_norm
    theta, E, g, iters = lbfgs_many(
        model, thetas[run], X, t, gtol=gtol, max_iter=max_iter, memory=memory, max_norm=limit
    )
    out: list[Polished | None] = [None] * K
    outward = (
        np.zeros(len(run), dtype=bool) if limit is None else np.linalg.norm(theta, axis=1) > limit
    )
    inner = np.flatnonzero(~outward)
    descents = newton_many(model, theta[inner], X, t, newton_steps, gtol=gtol, engine=engine)
    for i, d in zip(inner, descents, strict=True):
        gn = float(np.linalg.norm(d.grad))
        out[run[i]] = Polished(
            d.theta, d.loss, gn, bool(np.isfinite(d.loss) and gn <= gtol), int(iters[i]) + d.steps
        )
    for i in np.flatnonzero(outward):
        out[run[i]] = Polished(
            theta[i], float(E[i]), float(np.linalg.norm(g[i])), False, int(iters[i])
        )
    for k in np.flatnonzero(~finite):
        out[k] = Polished(thetas[k], float("nan"), float("nan"), False, 0)
    return out  # type: ignore[return-value]


@one_blas_thread
def lbfgs_many(
    model: MLP,
    thetas: np.ndarray,
    X: np.ndarray,
    t: np.ndarray,
    *,
    gtol: float,
    max_iter: int,
    memory: int = 30,
    max_norm: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """L-BFGS from K points at once, every iteration one stacked evaluation of them all.

    The per-call overhead that dominates one small network is paid once per iteration, not K
    times. The standard two-loop recursion (Nocedal & Wright, Algorithm 7.4) with ``memory``
    pairs per point and a backtracking Armijo line search (c₁ = 1e-4, first trial step 1, or
    1/‖∇E‖ on the first iteration); a pair with sᵀy ≤ 0 is skipped and a non-descent direction
    resets the memory. A point stops when ‖∇E‖ ≤ gtol, after ``max_iter`` iterations, or when
    no step down to 2⁻⁴⁰ of the first lowers E (stalled; with gtol = 0 this is how a descent
    with no gradient stop ends).

    Parameters
    ----------
    model : MLP
    thetas : ndarray of shape (K, D)
        Finite starts.
    X : ndarray of shape (N, d_0)
        Checked inputs.
    t : ndarray
        Targets from :meth:`MLP.targets`.
    gtol : float
        Target ‖∇E‖.
    max_iter, memory : int
    max_norm : ndarray of shape (K,), optional
        A point stops once ‖θ‖ exceeds its entry: the descent is carrying it outwards.

    Returns
    -------
    theta : ndarray of shape (K, D)
    loss : ndarray of shape (K,)
    grad : ndarray of shape (K, D)
    iterations : ndarray of int, shape (K,)
        Accepted iterations.
    """
    theta = np.array(thetas, dtype=np.float64)
    K, D = theta.shape

    def fun(th: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(over="ignore", invalid="ignore"):
            E, g, _ = model.evaluate(th, X, t)
        return np.asarray(E, dtype=np.float64).reshape(len(th)), np.asarray(g).reshape(len(th), D)

    E = np.full(K, np.nan)
    g = np.zeros((K, D))
    if K:
        E, g = fun(theta)
    S = np.zeros((K, memory, D))
    Y = np.zeros((K, memory, D))
    rho = np.zeros((K, memory))  # 0 marks an empty slot: its terms vanish
    iters = np.zeros(K, dtype=np.int64)
    active = np.isfinite(E) & (np.linalg.norm(g, axis=1) > gtol)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if not len(idx):
            break
        q = g[idx].copy()
        Sa, Ya, ra = S[idx], Y[idx], rho[idx]  # gathered once per iteration
        used = int((ra > 0).any(axis=0).argmax()) if (ra > 0).any() else memory
        alpha = np.zeros((len(idx), memory))
        for i in range(memory - 1, used - 1, -1):  # newest pair last; empty slots skipped
            alpha[:, i] = ra[:, i] * np.einsum("kd,kd->k", Sa[:, i], q)
            q -= alpha[:, i, None] * Ya[:, i]
        sy = np.einsum("kd,kd->k", Sa[:, -1], Ya[:, -1])
        yy = np.einsum("kd,kd->k", Ya[:, -1], Ya[:, -1])
        gamma = np.where((ra[:, -1] > 0) & (yy > 0), sy / np.where(yy > 0, yy, 1.0), 1.0)
        r = gamma[:, None] * q
        for i in range(used, memory):
            beta = ra[:, i] * np.einsum("kd,kd->k", Ya[:, i], r)
            r += Sa[:, i] * (alpha[:, i] - beta)[:, None]
        direction = -r
        slope = np.einsum("kd,kd->k", g[idx], direction)
        bad = ~(slope < 0)
        if bad.any():  # not a descent direction: forget the pairs, go down the gradient
            rho[idx[bad]] = 0.0
            direction[bad] = -g[idx[bad]]
            slope[bad] = -np.einsum("kd,kd->k", g[idx[bad]], g[idx[bad]])
        first = iters[idx] == 0
        step = np.where(first, 1.0 / np.maximum(np.linalg.norm(g[idx], axis=1), 1e-300), 1.0)
        done_ls = np.zeros(len(idx), dtype=bool)
        new_theta = theta[idx].copy()
        new_E = E[idx].copy()
        new_g = g[idx].copy()
        for _ in range(40):
            todo = np.flatnonzero(~done_ls)
            if not len(todo):
                break
            cand = theta[idx[todo]] + step[todo, None] * direction[todo]
            Ec, gc = fun(cand)
            ok = np.isfinite(Ec) & (Ec <= E[idx[todo]] + 1e-4 * step[todo] * slope[todo])
            win = todo[ok]
            new_theta[win], new_E[win], new_g[win] = cand[ok], Ec[ok], gc[ok]
            done_ls[win] = True
            step[todo[~ok]] *= 0.5
        failed = idx[~done_ls]
        active[failed] = False  # no decrease even at a step 2⁻⁴⁰ times the first: stalled
        moved = idx[done_ls]
        s = new_theta[done_ls] - theta[moved]
        yv = new_g[done_ls] - g[moved]
        sy = np.einsum("kd,kd->k", s, yv)
        keep = sy > 1e-12 * np.linalg.norm(s, axis=1) * np.linalg.norm(yv, axis=1)
        upd = moved[keep]
        S[upd, :-1], Y[upd, :-1], rho[upd, :-1] = S[upd, 1:], Y[upd, 1:], rho[upd, 1:]
        S[upd, -1], Y[upd, -1], rho[upd, -1] = s[keep], yv[keep], 1.0 / sy[keep]
        theta[moved], E[moved], g[moved] = new_theta[done_ls], new_E[done_ls], new_g[done_ls]
        iters[moved] += 1
        active[moved] &= np.linalg.norm(g[moved], axis=1) > gtol
        if max_norm is not None:
            active[moved] &= np.linalg.norm(theta[moved], axis=1) <= max_norm[moved]
    return theta, E, g, iters


@dataclass(frozen=True)
class Descent:
    """Where damped Newton descent from a point went.

    Attributes
    ----------
    theta : ndarray of shape (D,)
        The last accepted point.
    loss : float
    grad : ndarray of shape (D,)
    steps : int
        Accepted steps.
    settled : bool
        No step lowers E any more (to rounding) or ‖∇E‖ reached the target: a critical point.
    losses, norms : ndarray of shape (steps + 1,)
        E and ‖θ‖ at the start and after each accepted step.
    """

    theta: np.ndarray
    loss: float
    grad: np.ndarray
    steps: int
    settled: bool
    losses: np.ndarray
    norms: np.ndarray

    @property
    def growth(self) -> float:
        """‖θ_end‖/‖θ_start‖ − 1."""
        return float(self.norms[-1] / self.norms[0] - 1.0) if self.norms[0] > 0 else 0.0


def _continue_lbfgs(
    model: MLP,
    d: Descent,
    X: np.ndarray,
    t: np.ndarray,
    max_iter: int,
    grow: float = np.inf,
) -> tuple[np.ndarray, int]:
    """Continue a :class:`Descent` by L-BFGS without a gradient stop: where it ends, iterations.

    SciPy's L-BFGS-B, one point at a time: its Moré–Thuente line search takes far fewer
    evaluations in these curved valleys than the batched Armijo backtracking of
    :func:`lbfgs_many`. It stops early once ‖θ‖ exceeds (1 + ``grow``) times the norm where
    ``d`` began: the growth that names a slope to infinity is then measured, and the rest of
    the budget would only carry θ further out.
    """
    fun = _scalar_objective(model, X, t)
    opts = {"maxiter": max_iter, "gtol": 0.0, "ftol": 0.0, "maxcor": 30, "maxfun": 2 * max_iter}
    limit = (1.0 + grow) * float(d.norms[0])
    best = {"x": d.theta, "f": d.loss, "nit": 0}

    def out_far(intermediate_result) -> None:
        best["nit"] += 1
        if np.isfinite(intermediate_result.fun) and intermediate_result.fun < best["f"]:
            best["x"], best["f"] = np.array(intermediate_result.x), intermediate_result.fun
        if np.linalg.norm(intermediate_result.x) >= limit:
            raise StopIteration

    res = minimize(fun, d.theta, jac=True, method="L-BFGS-B", options=opts, callback=out_far)
    if np.isfinite(res.fun) and res.fun < best["f"]:
        best["x"], best["f"] = res.x, res.fun
    return best["x"], max(int(res.nit), best["nit"])


def _newton(
    model: MLP,
    theta: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    steps: int,
    *,
    gtol: float = 0.0,
) -> Descent:
    """Damped Newton descent from one point (:func:`newton_many` with K = 1)."""
    return newton_many(model, theta[None, :], X, t, steps, gtol=gtol)[0]


def newton_many(
    model: MLP,
    thetas: np.ndarray,
    X: np.ndarray,
    t: np.ndarray,
    steps: int,
    *,
    gtol: float = 0.0,
    engine: str = "numpy",
) -> list[Descent]:
    """Damped Newton descent θ ← θ − V (|Λ| + μ)⁻¹ Vᵀ ∇E from K points at once.

    With |Λ| the step descends at a saddle too, and small μ (adapted per point as in
    Levenberg–Marquardt) makes it Newton's step near a minimum (quadratic convergence); along a
    slope that flattens towards infinity it keeps moving outwards (for E = E∞ + c/w² a Newton
    step multiplies w by 4/3), which is how :func:`examine` tells a minimum at infinity from a
    finite one. A point stops when ‖∇E‖ ≤ gtol, after ``steps`` accepted steps, when no μ up to
    1e12 times its start lowers E, or when its step is at the rounding level of θ (the last two:
    critical to rounding, ``settled``). The K Hessians come from one stacked exact
    evaluation (:func:`landscape.hessian.hessians`) and the K eigendecompositions from
    one batched ``eigh``.

    Parameters
    ----------
    model : MLP
    thetas : ndarray of shape (K, D)
    X : ndarray of shape (N, d_0)
        Checked inputs.
    t : ndarray
        Targets from :meth:`MLP.targets`.
    steps : int
    gtol : float
    engine : {"numpy", "jax"}
        This NumPy loop or the same descent compiled (:func:`landscape.engine.newton`); fewer
        than :data:`landscape.engine.MIN_POINTS` points run here either way.

    Returns
    -------
    list of Descent, one per point
    """
    if not len(thetas):
        return []
    from landscape import engine as compiled

    if engine == "jax" and len(thetas) >= compiled.MIN_POINTS:
        th, E, g, taken, settled, losses, norms = compiled.newton(
            model, thetas, X, t, steps, gtol=gtol
        )
        return [
            Descent(
                th[k],
                float(E[k]),
                g[k],
                int(taken[k]),
                bool(settled[k]),
                losses[k, : taken[k] + 1],
                norms[k, : taken[k] + 1],
            )
            for k in range(len(th))
        ]
    theta = np.array(thetas, dtype=np.float64)
    K = theta.shape[0]
    with np.errstate(over="ignore", invalid="ignore"):
        E, g, _ = model.evaluate(theta, X, t)
    E, g = np.array(E, dtype=np.float64).reshape(K), np.array(g).reshape(K, -1)
    losses = [[float(e)] for e in E]
    norms = [[float(v)] for v in np.linalg.norm(theta, axis=1)]
    mu = np.full(K, np.nan)
    taken = np.zeros(K, dtype=np.int64)
    settled = np.zeros(K, dtype=bool)
    done = np.zeros(K, dtype=bool)
    while True:
        gn = np.linalg.norm(g, axis=1)
        stop = ~done & (~np.isfinite(E) | (gn <= gtol))
        settled[stop] = np.isfinite(E[stop])
        done |= stop
        out = ~done & (taken >= steps)
        settled[out] = np.isfinite(E[out]) & (gn[out] <= gtol)
        done |= out
        idx = np.flatnonzero(~done)
        if not len(idx):
            break
        # in the free coordinates: frozen entries have no gradient and never move
        lam, V = np.linalg.eigh(hessians(model, theta[idx], X, t))
        gv = np.einsum("kji,kj->ki", V, g[idx][:, model.free])
        scale = np.abs(lam).max(axis=1)
        scale[scale == 0] = 1.0
        m = np.where(np.isnan(mu[idx]), 1e-6 * scale, mu[idx])
        accepted = np.zeros(len(idx), dtype=bool)
        moved = np.zeros(len(idx))
        for _ in range(12):
            todo = np.flatnonzero(~accepted)
            if not len(todo):
                break
            rows = idx[todo]
            step = model.embed(
                np.einsum("kij,kj->ki", V[todo], gv[todo] / (np.abs(lam[todo]) + m[todo, None]))
            )
            candidate = theta[rows] - step
            with np.errstate(over="ignore", invalid="ignore"):
                E_new, g_new, _ = model.evaluate(candidate, X, t)
            E_new = np.asarray(E_new, dtype=np.float64).reshape(len(todo))
            g_new = np.asarray(g_new).reshape(len(todo), -1)
            E_old = E[rows]
            descent = (E_new < E_old) | (
                (E_new <= E_old + 1e-14 * (1.0 + np.abs(E_old)))
                & (np.linalg.norm(g_new, axis=1) < gn[rows])
            )
            ok = np.isfinite(E_new) & descent
            win = todo[ok]
            moved[win] = np.linalg.norm(step[ok], axis=1)
            theta[idx[win]], E[idx[win]], g[idx[win]] = candidate[ok], E_new[ok], g_new[ok]
            m[win] = np.maximum(m[win] / 10.0, 1e-16 * scale[win])
            accepted[win] = True
            m[todo[~ok]] *= 10.0
        mu[idx] = m
        stuck = idx[~accepted]
        settled[stuck] = True
        done[stuck] = True
        for j in np.flatnonzero(accepted):
            k = idx[j]
            taken[k] += 1
            prev = norms[k][-1]
            losses[k].append(float(E[k]))
            norms[k].append(float(np.linalg.norm(theta[k])))
            if moved[j] <= 1e-14 * (1.0 + prev):
                # Steps at the rounding level of θ: Newton has converged; further steps only
                # trade rounding noise for rounding noise.
                settled[k] = True
                done[k] = True
    return [
        Descent(
            theta[k].copy(),
            float(E[k]),
            g[k].copy(),
            int(taken[k]),
            bool(settled[k]),
            np.array(losses[k]),
            np.array(norms[k]),
        )
        for k in range(K)
    ]


@dataclass(frozen=True)
class Curvature:
    """What a critical point is, read off its Hessian spectrum.

    Attributes
    ----------
    kind : {"minimum", "saddle", "maximum", "not converged"}
    n_negative, n_flat, n_positive : int
        Eigenvalues below −tol, within ±tol, above tol.
    lambda_min, lambda_max : float
    tol : float
        The flatness tolerance used: ``rel_tol · max(|λ|)`` (at least ``abs_tol``).
    """

    kind: str
    n_negative: int
    n_flat: int
    n_positive: int
    lambda_min: float
    lambda_max: float
    tol: float


@one_blas_thread
def classify(
    eigenvalues: np.ndarray,
    *,
    converged: bool = True,
    rel_tol: float = 1e-7,
    abs_tol: float = 1e-10,
) -> Curvature:
    """Classify a critical point from its Hessian eigenvalues.

    A negative eigenvalue beyond the tolerance makes a saddle (a maximum if all are negative);
    otherwise it is a minimum, with ``n_flat`` flat directions (a degenerate minimum when > 0).

    Parameters
    ----------
    eigenvalues : ndarray of shape (D,)
    converged : bool
        False labels the point "not converged" (its spectrum is still reported).
    rel_tol, abs_tol : float
        The flatness tolerance is max(abs_tol, rel_tol · max|λ|); the Hessian is exact to
        rounding (complex step), so it is set a little above float64 precision relative to
        the largest curvature, to absorb the residual gradient of a polished point.
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    scale = float(np.abs(lam).max()) if lam.size else 0.0
    tol = max(abs_tol, rel_tol * scale)
    neg = int((lam < -tol).sum())
    pos = int((lam > tol).sum())
    flat = lam.size - neg - pos
    if not converged:
        kind = "not converged"
    elif neg == 0:
        kind = "minimum"
    elif pos == 0 and flat == 0:
        kind = "maximum"
    else:
        kind = "saddle"
    return Curvature(kind, neg, flat, pos, float(lam.min()), float(lam.max()), tol)


@dataclass(frozen=True)
class Examined:
    """What an end point is, with the evidence.

    Attributes
    ----------
    kind : one of :data:`POINT_KINDS`
    theta : ndarray of shape (D,)
        The point examined: the polished end point after continued descent settled (for
        ``at_infinity`` and ``unresolved``: where the continuation stopped).
    loss, grad_norm : float
    steps : int
        Newton steps of the continuation.
    growth : float
        ‖θ‖ after the continuation over ‖θ‖ before, minus 1.
    loss_drop : float
        E before minus E after the continuation.
    asymptote : float
        ``at_infinity``: the loss the continuation tends to (Aitken's Δ² over its last thirds;
        NaN when the sequence is not yet geometric). NaN otherwise.
    n_negative, n_flat : int
        Hessian eigenvalues below −tol and within ±tol, tol = rel_flat · max|λ|.
    n_explained : int
        Flat directions the continuous symmetries explain (ReLU rescaling, softmax shift, …).
    dimension : int
        ``family``: flat directions, not explained by symmetry, along which the loss stays
        (each probed); 0 otherwise.
    lambda_min, lambda_max : float
    reason : str
        Why the kind was given, in a few words.
    """

    kind: str
    theta: np.ndarray
    loss: float
    grad_norm: float
    steps: int
    growth: float
    loss_drop: float
    asymptote: float
    n_negative: int
    n_flat: int
    n_explained: int
    dimension: int
    lambda_min: float
    lambda_max: float
    reason: str


def loss_floor(model: MLP, X: np.ndarray, y: np.ndarray) -> float:
    """The smallest loss difference :func:`examine` trusts: 1e-12 · E(θ = 0).

    E(0) is the loss of the zero network (½·mean‖t‖² for MSE, log K for cross-entropy): the
    natural scale of E. Rounding leaves E with an absolute error of about 1e-16 of it.
    """
    X = model.check_inputs(X)
    t = model.targets(y, X.shape[0])
    E0, _, _ = model.evaluate(np.zeros(model.n_params), X, t, grad=False)
    return 1e-12 * float(E0)


def _same_loss(a: float, b: float, rtol: float, floor: float) -> bool:
    return abs(a - b) <= rtol * max(abs(a), abs(b)) + floor


def _asymptote(losses: np.ndarray) -> float:
    """Aitken's Δ² limit of E over the last two thirds of a continuation; NaN if not geometric."""
    n = len(losses)
    if n and losses[-1] == 0.0:
        return 0.0  # the loss underflowed on its way to 0
    if n < 7:
        return float("nan")
    a, b, c = losses[n - 1 - 2 * (n // 3)], losses[n - 1 - n // 3], losses[-1]
    d1, d2 = b - a, c - b
    if not (d1 < 0 and d2 < 0 and abs(d2) < abs(d1)):
        return float("nan")
    return float(max(c - d2 * d2 / (d2 - d1), 0.0))


def _unexplained_flat(
    model: MLP, theta: np.ndarray, V: np.ndarray, flat: np.ndarray
) -> tuple[np.ndarray, int]:
    """Orthonormal basis of the flat eigenspace orthogonal to the symmetry tangents.

    V holds the Hessian's eigenvectors in the free coordinates (F, F). Returns the basis
    (F, u) and the number of flat directions the symmetries explain.
    """
    F = V[:, flat]
    T = symmetry_tangents(model, theta)[model.free]  # they keep the frozen entries
    explained = 0
    if T.shape[1] and F.shape[1]:
        norms = np.linalg.norm(T, axis=0)
        T = T[:, norms > 0] / norms[norms > 0]
        if T.shape[1]:
            U, s, _ = np.linalg.svd(T, full_matrices=False)
            Q = U[:, s > 1e-8 * s[0]]
            explained = min(Q.shape[1], F.shape[1])
            F = F - Q @ (Q.T @ F)
    if not F.shape[1]:
        return F, explained
    U, s, _ = np.linalg.svd(F, full_matrices=False)
    return U[:, s > 0.5], explained


def examine(model: MLP, theta: np.ndarray, X: np.ndarray, y: np.ndarray, **options) -> Examined:
    """Tell what a polished end point is: continue descent, read the Hessian, probe flat ways.

    1. Damped Newton descent continues from θ for up to ``steps`` steps (then, if it neither
       settled nor grew, L-BFGS and Newton again). If E fell (beyond the loss tolerance) while
       ‖θ‖ grew by more than ``grow``, the point lies on a slope towards a minimum at
       infinity: ``at_infinity``. If it neither settled nor grew: ``unresolved``.
    2. Where it settled, the exact Hessian: a negative eigenvalue (below −rel_flat · max|λ|)
       makes a ``saddle``. Flat eigenvalues (within ±rel_flat · max|λ|) are first explained by
       the continuous symmetries (:func:`landscape.analysis.symmetry.symmetry_tangents`); with
       none left, the point is an isolated ``minimum``.
    3. Each remaining flat direction v (up to ``max_probes``) is probed: descent from
       θ ± probe·‖θ‖·v. A probe ending lower shows a way down the Hessian cannot see
       (``at_infinity`` if that way leads outwards, else ``saddle``); probes that end at the same
       loss away from θ show a ``family`` of minima (dimension: the flat directions so
       confirmed); probes that all come back show a degenerate but isolated ``minimum``.

    Parameters
    ----------
    model : MLP
    theta : ndarray of shape (D,)
        A polished end point (:func:`polish`).
    X, y : the training data
    **options
        As :func:`examine_many`.

    Returns
    -------
    Examined
    """
    return examine_many(model, model.check_theta(theta)[None, :], X, y, **options)[0]


@one_blas_thread
def examine_many(
    model: MLP,
    thetas: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    *,
    steps: int = 100,
    grow: float = 0.05,
    rel_flat: float = 1e-9,
    loss_rtol: float = 1e-10,
    probe: float = 1e-3,
    probe_steps: int = 60,
    max_probes: int = 3,
    lbfgs_iter: int = 3000,
    decide_steps: int = 2000,
    floor: float | None = None,
    engine: str = "numpy",
    origins: np.ndarray | None = None,
) -> list[Examined]:
    """:func:`examine` K points, the continued Newton descent of all of them at once.

    Parameters
    ----------
    model : MLP
    thetas : ndarray of shape (K, D)
        Polished end points (:func:`polish_many`); non-finite rows are ``unresolved``.
    X, y : the training data
    steps, probe_steps : int
        Newton budgets of the continuation and of each probe.
    lbfgs_iter : int
        L-BFGS budget of the continuation when Newton neither settles nor grows ‖θ‖.
    decide_steps : int
        Further Newton steps for a point still undecided after that (neither settled nor grown
        by ``grow``): slow valleys towards a finite minimum settle, slow slides outwards (a
        tanh unit's tail traded against its output weight) grow; 0 leaves them unresolved.
    grow : float
        Relative growth of ‖θ‖ that, with a falling loss, names a slope to infinity.
    rel_flat : float
        Flatness tolerance relative to the largest |eigenvalue| (the Hessian is exact to
        rounding, so 1e-9 leaves six digits of margin).
    loss_rtol, floor : float
        Two losses are equal within loss_rtol · max|E| + floor; floor defaults to
        :func:`loss_floor`.
    probe : float
        Probe distance relative to ‖θ‖.
    max_probes : int
        Flat directions probed (each in both signs).
    engine : {"numpy", "jax"}
        Where the continued descents of all points run (:func:`newton_many`); the judgement
        and its probes run in NumPy.
    origins : ndarray of shape (K, D), optional
        Where each point's descent began (the end of training, before the polish): the reason
        of a saturated point then says how far the descent carried ‖θ‖ and E.

    Returns
    -------
    list of Examined, one per row
    """
    thetas = np.asarray(thetas, dtype=np.float64)
    X = model.check_inputs(X)
    t = model.targets(y, X.shape[0])
    floor = loss_floor(model, X, y) if floor is None else floor
    nan = float("nan")
    if origins is not None:
        with np.errstate(over="ignore", invalid="ignore"):
            origin_loss = np.atleast_1d(model.loss(np.asarray(origins, dtype=np.float64), X, y))
    finite = np.flatnonzero(np.isfinite(thetas).all(axis=1))
    descents = dict(
        zip(finite, newton_many(model, thetas[finite], X, t, steps, engine=engine), strict=True)
    )
    # Newton crawls along a long curved valley: L-BFGS covers such valleys in fewer evaluations
    # (no gradient stop: it runs until no step lowers E or the budget ends), then Newton
    # again, so those points are judged after the longer descent.
    slow = [k for k, d in descents.items() if not d.settled and d.growth < grow]
    if slow:
        ends = [_continue_lbfgs(model, descents[k], X, t, lbfgs_iter, grow) for k in slow]
        again = newton_many(model, np.stack([e[0] for e in ends]), X, t, steps, engine=engine)
        for k, (_, n), e in zip(slow, ends, again, strict=True):
            d = descents[k]
            descents[k] = Descent(
                e.theta,
                e.loss,
                e.grad,
                d.steps + n + e.steps,
                e.settled,
                np.concatenate([d.losses, e.losses]),
                np.concatenate([d.norms, e.norms]),
            )
    undecided = [k for k, d in descents.items() if not d.settled and d.growth < grow]
    if undecided and decide_steps:
        again = newton_many(
            model,
            np.stack([descents[k].theta for k in undecided]),
            X,
            t,
            decide_steps,
            engine=engine,
        )
        for k, e in zip(undecided, again, strict=True):
            d = descents[k]
            descents[k] = Descent(
                e.theta,
                e.loss,
                e.grad,
                d.steps + e.steps,
                e.settled,
                np.concatenate([d.losses, e.losses[1:]]),
                np.concatenate([d.norms, e.norms[1:]]),
            )
    out = []
    for k, theta in enumerate(thetas):
        if k not in descents:
            out.append(
                Examined(
                    "unresolved",
                    theta,
                    nan,
                    nan,
                    0,
                    0.0,
                    0.0,
                    nan,
                    0,
                    0,
                    0,
                    0,
                    nan,
                    nan,
                    "no end point",
                )
            )
            continue
        d = descents[k]
        out.append(
            _judge(
                model,
                d,
                X,
                y,
                t,
                floor,
                grow,
                rel_flat,
                loss_rtol,
                probe,
                probe_steps,
                max_probes,
                steps,
                None if origins is None else origin_loss[k],
                None if origins is None else float(np.linalg.norm(origins[k])),
            )
        )
    return out


def _judge(
    model: MLP,
    d: Descent,
    X: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    floor: float,
    grow: float,
    rel_flat: float,
    loss_rtol: float,
    probe: float,
    probe_steps: int,
    max_probes: int,
    steps: int,
    origin_loss: float | None = None,
    origin_norm: float | None = None,
) -> Examined:
    """Name what a continued descent ``d`` shows (steps 1–3 of :func:`examine`).

    ``origin_loss`` and ``origin_norm``: E and ‖θ‖ where the descent began (the end of
    training, before the polish), when known.
    """
    nan = float("nan")
    E0 = float(d.losses[0])

    def lower(a: float, b: float) -> bool:  # a below b beyond the tolerance
        return a < b and not _same_loss(a, b, loss_rtol, floor)

    def result(kind, point, reason, **kw):
        lam = kw.pop("lam", None)
        if lam is None:
            lam = np.linalg.eigvalsh(hessian(model, point.theta, X, y))
        if kind in ("minimum", "family", "saddle"):
            dead, total = saturated(model, point.theta, X)
            far = ""
            if dead and origin_norm is not None and origin_norm > 0:
                gone = float(np.linalg.norm(point.theta)) / origin_norm - 1.0
                far = (
                    f"; descent from the end of training carried ‖θ‖ {gone:+.1%} while E went "
                    f"from {origin_loss:.6g} to {float(point.loss):.6g}"
                )
            if dead:
                # f'(z) > 0 everywhere for tanh and sigmoid, but it rounds to 0 once |z| ≳ 19:
                # there the gradient and the Hessian vanish by rounding, and "at rest" is an
                # artefact of float64, not a property of E.
                kind, reason = (
                    "unresolved",
                    f"saturated: f'(z) rounds to 0 at {dead} of {total} unit-samples{far}, so "
                    f"float64 cannot resolve E's slope there (else: {reason})",
                )
                kw.pop("dimension", None)
        return Examined(
            kind=kind,
            theta=point.theta,
            loss=float(point.loss),
            grad_norm=float(np.linalg.norm(point.grad)),
            steps=d.steps,
            growth=d.growth,
            loss_drop=E0 - float(d.loss),
            asymptote=kw.pop("asymptote", nan),
            n_negative=kw.pop("n_negative", 0),
            n_flat=kw.pop("n_flat", 0),
            n_explained=kw.pop("n_explained", 0),
            dimension=kw.pop("dimension", 0),
            lambda_min=float(lam.min()),
            lambda_max=float(lam.max()),
            reason=reason,
        )

    if not np.isfinite(d.loss):
        return result("unresolved", d, "loss not finite", lam=np.full(1, nan))
    margin = separating_margin(model, d.theta, X, t)
    if margin > 0.0:
        # Every sample is classified with a positive margin: scaling the output layer by
        # c > 1 scales every margin by c and lowers each sample's cross-entropy strictly, so E
        # falls along that ray towards 0 and has no minimum here, whatever the Hessian (at
        # rounding level when E is tiny) says.
        return result(
            "at_infinity",
            d,
            f"every margin is positive (the least {margin:.3g}): scaling the output layer "
            "lowers E towards 0",
            asymptote=0.0,
        )
    grown = d.growth >= grow
    if grown and d.settled and not saturated(model, d.theta, X)[0]:
        # It moved outwards, then came to rest at a critical point float64 resolves (no unit
        # saturated): a finite point, read off its Hessian below, not a slope to infinity.
        grown = False
    if grown:
        # Descent never raises E; when it carries θ outwards by a finite fraction, the point
        # is on a slope (or, with saturated units, a plateau flat to rounding) that continues
        # towards infinity, not at a finite minimum.
        why = (
            f"descent continued: E fell by {E0 - d.loss:.3g} while ‖θ‖ grew {d.growth:.1%}"
            if lower(d.loss, E0)
            else f"descent carried ‖θ‖ {d.growth:.1%} outwards at a loss constant to rounding"
        )
        return result("at_infinity", d, why, asymptote=_asymptote(d.losses))
    if not d.settled:
        return result(
            "unresolved",
            d,
            f"still descending after {d.steps} steps: E fell by {E0 - d.loss:.3g} (to "
            f"{d.loss:.6g}) while ‖θ‖ changed {d.growth:+.1%}, neither settled nor grown by "
            f"{grow:.0%}",
        )
    lam, V = np.linalg.eigh(hessian(model, d.theta, X, y))
    tol = rel_flat * float(np.abs(lam).max())
    neg = int((lam < -tol).sum())
    flat = np.abs(lam) <= tol
    extra = {"lam": lam, "n_negative": neg, "n_flat": int(flat.sum())}
    on_kink = kinks(model, d.theta, X)
    if on_kink:
        # E is not smooth here: the Hessian is that of one smooth piece and says nothing of
        # the others. Decide by the loss itself along every eigenvector and many random
        # directions, both signs, at shrinking steps (one-sided directional derivatives).
        radius = probe * max(float(np.linalg.norm(d.theta)), 1.0)
        down, n_dirs = _nonsmooth_descent(model, d.theta, V, float(d.loss), radius, X, y, lower)
        if down is not None:
            h, E = down
            return result(
                "saddle",
                d,
                f"non-smooth: {on_kink} unit-sample(s) on a ReLU kink; a step of {h:.3g} "
                f"lowers E to {E:.6g}",
                **extra,
            )
        return result(
            "minimum",
            d,
            f"non-smooth: {on_kink} unit-sample(s) on a ReLU kink; E rises or stays along all "
            f"{n_dirs} probed directions (both signs, steps {radius:.3g} down to 1e-6 of it)",
            **extra,
        )
    if neg:
        # A negative eigenvalue names a saddle only with a descent direction that shows it: a
        # step along its eigenvector that lowers E beyond the tolerance. Where E or the Hessian
        # is at rounding level (a slope to infinity, a ReLU kink seen from one smooth piece),
        # the eigenvalue alone is noise, and the point is not called a saddle.
        radius = probe * max(float(np.linalg.norm(d.theta)), 1.0)
        v = model.embed(V[:, 0])
        down = _descent_along(model, d.theta, v, float(d.loss), radius, X, y, lower)
        if down is not None:
            h, E = down
            return result(
                "saddle",
                d,
                f"{neg} negative curvature direction(s); a step of {h:.3g} along the lowest "
                f"one (λ = {lam[0]:.3g}) lowers E to {E:.6g}",
                **extra,
            )
        return result(
            "unresolved",
            d,
            f"λ_min = {lam[0]:.3g} < 0, but no step along its eigenvector (from {radius:.3g} "
            "down to 1e-6 of it) lowers E beyond the tolerance: no descent direction to "
            "certify a saddle",
            **extra,
        )
    free, explained = _unexplained_flat(model, d.theta, V, flat)
    extra["n_explained"] = explained
    if not free.shape[1]:
        return result("minimum", d, "positive curvature modulo symmetry", **extra)
    radius = probe * max(float(np.linalg.norm(d.theta)), 1.0)
    confirmed = 0
    for v in model.embed(free.T[:max_probes]):
        stays = True
        moved = False
        for sign in (1.0, -1.0):
            p = _newton(model, d.theta + sign * radius * v, X, y, t, probe_steps)
            if lower(p.loss, d.loss):
                far = _newton(model, p.theta, X, y, t, steps)
                outwards = far.norms[-1] / max(d.norms[-1], 1e-300) - 1.0  # from the point
                if outwards >= grow and lower(far.loss, p.loss):
                    return result(
                        "at_infinity",
                        far,
                        "a flat direction leads down and outwards",
                        asymptote=_asymptote(far.losses),
                        **{k: v for k, v in extra.items() if k != "lam"},
                    )
                return result(
                    "saddle", d, f"a flat direction leads down to E = {p.loss:.6g}", **extra
                )
            stays = stays and _same_loss(p.loss, d.loss, loss_rtol, floor)
            moved = moved or np.linalg.norm(p.theta - d.theta) >= radius / 4
        confirmed += int(stays and moved)
    if confirmed:
        return result(
            "family",
            d,
            f"{free.shape[1]} flat direction(s) beyond symmetry; {confirmed} probed stay at E",
            dimension=free.shape[1],
            **extra,
        )
    return result("minimum", d, "flat directions probed: each comes back", **extra)


def separating_margin(model: MLP, theta: np.ndarray, X: np.ndarray, t: np.ndarray) -> float:
    """The least margin z_{t_n} − max_{k≠t_n} z_k over the samples, where it certifies a ray.

    Parameters
    ----------
    model : MLP
    theta : ndarray of shape (D,)
    X : ndarray of shape (N, d_0)
    t : ndarray of shape (N,)
        Labels, as :meth:`MLP.targets` gives them for cross-entropy.

    Returns
    -------
    float
        The least margin for a cross-entropy model whose output layer is free (W_L and b_L not
        frozen); -inf otherwise (MSE, a frozen output layer: no such ray to certify).
    """
    L = model.layout.n_layers
    if not model.is_classifier or {f"W{L}", f"b{L}"} & set(model.frozen):
        return -math.inf
    with np.errstate(over="ignore", invalid="ignore"):
        _, z = model._hidden(theta, X)
    if not np.isfinite(z).all():
        return -math.inf
    rows = np.arange(len(t))
    own = z[rows, t]
    z = z.copy()
    z[rows, t] = -np.inf
    return float((own - z.max(axis=1)).min())


def _descent_along(
    model: MLP,
    theta: np.ndarray,
    v: np.ndarray,
    E: float,
    radius: float,
    X: np.ndarray,
    y: np.ndarray,
    lower: Callable[[float, float], bool],
) -> tuple[float, float] | None:
    """The first step ±h·v, h = radius·4⁻ᵏ down to 1e-6·radius, whose loss is ``lower`` than E.

    A step counts only when the steps h/4 and h/16 in the same direction lower E too (as
    :func:`_nonsmooth_descent` asks): along negative curvature E falls like λh²/2 from θ
    itself, while a loss lower only at h may belong to another basin h away.

    Returns
    -------
    (h, E(θ ± h·v)) or None
        The step length and the loss it reaches, None when no step lowers E.
    """
    h = radius
    while h >= 1e-6 * radius:
        for sign in (1.0, -1.0):
            e = float(model.loss(theta + sign * h * v, X, y))
            if lower(e, E):
                near = np.atleast_1d(model.loss(theta + np.outer([h / 4, h / 16], sign * v), X, y))
                if (near < E).all():
                    return h, e
        h /= 4.0
    return None


def kinks(model: MLP, theta: np.ndarray, X: np.ndarray) -> int:
    """Count the unit-samples whose ReLU pre-activation is 0 to rounding: E has a kink there.

    0 for other activations. A pre-activation counts when |z| ≤ 1e-12 · (|h|·|W| + |b|), the
    rounding size of the sum that makes it.

    Parameters
    ----------
    model : MLP
    theta : ndarray of shape (D,)
    X : ndarray of shape (N, d_0)

    Returns
    -------
    int
    """
    if model.activation.name != "relu":
        return 0
    n = 0
    h = model.check_inputs(X)
    for W, b in model.layout.unravel(np.asarray(theta, dtype=np.float64))[:-1]:
        z = h @ W + b
        n += int((np.abs(z) <= 1e-12 * (np.abs(h) @ np.abs(W) + np.abs(b))).sum())
        h = np.maximum(z, 0.0)
    return n


def _nonsmooth_descent(
    model: MLP,
    theta: np.ndarray,
    V: np.ndarray,
    E: float,
    radius: float,
    X: np.ndarray,
    y: np.ndarray,
    lower: Callable[[float, float], bool],
    n_random: int = 2000,
) -> tuple[tuple[float, float] | None, int]:
    """A step from θ that lowers E at a non-smooth point, probed along many directions.

    The directions: the Hessian's eigenvectors V (F, F) (free coordinates) and ``n_random``
    random unit directions in the free coordinates (a fixed generator: the probe is part of the
    analysis, not of the run's randomness), each with both signs, at steps radius·4⁻ᵏ down to
    1e-6·radius.

    A step counts when it lowers E beyond the tolerance and the steps h/4 and h/16 along the
    same direction lower E too.

    Returns
    -------
    ((h, E(θ + h·v)) or None, number of directions probed)
    """
    rng = np.random.default_rng(0)
    R = rng.standard_normal((n_random, V.shape[0]))
    R /= np.linalg.norm(R, axis=1, keepdims=True)
    dirs = model.embed(np.concatenate([V.T, R]))
    dirs = np.concatenate([dirs, -dirs])
    h = radius
    while h >= 1e-6 * radius:
        for lo in range(0, len(dirs), 512):
            e = np.atleast_1d(model.loss(theta + h * dirs[lo : lo + 512], X, y))
            for j in np.flatnonzero(e < E):
                # A way down from θ is lower at shorter steps along it too (a first-order
                # slope); lower only at h may be another basin h away, not a descent from θ.
                v = dirs[lo + j]
                near = np.atleast_1d(model.loss(theta + np.outer([h / 4, h / 16], v), X, y))
                if lower(float(e[j]), E) and (near < E).all():
                    return (h, float(e[j])), len(dirs) // 2
        h /= 4.0
    return None, len(dirs) // 2


def saturated(model: MLP, theta: np.ndarray, X: np.ndarray) -> tuple[int, int]:
    """Count the unit-samples whose slope f'(z) rounds to 0 though f' > 0 everywhere.

    For tanh and sigmoid; (0, total) for other activations. ``total`` counts the unit-samples
    of all hidden layers.

    Parameters
    ----------
    model : MLP
    theta : ndarray of shape (D,)
    X : ndarray of shape (N, d_0)

    Returns
    -------
    (int, int)
    """
    total = X.shape[0] * sum(model.sizes[1:-1])
    if model.activation.name not in ("tanh", "sigmoid"):
        return 0, total
    dead = 0
    h = model.check_inputs(X)
    for W, b in model.layout.unravel(np.asarray(theta, dtype=np.float64))[:-1]:
        h = h @ W + b
        model.activation.forward(h)
        dead += int((model.activation.slope(h) == 0.0).sum())
    return dead, total


@dataclass(frozen=True)
class Clusters:
    """End points grouped into classes.

    Attributes
    ----------
    labels : ndarray of int, shape (M,)
        Class of each point, numbered by first appearance.
    representatives : ndarray of int, shape (n_classes,)
        Index of the first point of each class.
    sizes : ndarray of int, shape (n_classes,)
        Points per class (the basin count).
    """

    labels: np.ndarray
    representatives: np.ndarray
    sizes: np.ndarray

    @property
    def n_classes(self) -> int:
        """Number of distinct classes."""
        return len(self.representatives)


def cluster(
    model: MLP,
    thetas: np.ndarray,
    losses: np.ndarray,
    *,
    modulo_symmetry: bool,
    tol: float = 1e-5,
    loss_tol: float = 1e-9,
    data: tuple[np.ndarray, np.ndarray] | None = None,
    reach: float = 1e-2,
) -> Clusters:
    """Group points that are the same minimum (optionally up to hidden-unit symmetry).

    Two points are the same when |E_a − E_b| ≤ loss_tol · (1 + |E_b|) and either
    ‖θ_a − θ_b‖ ≤ tol · (1 + ‖θ_b‖), or — given ``data`` — they are within
    ``reach`` · (1 + ‖θ_b‖) and the loss on the straight segment between them (at ¼, ½, ¾)
    stays below max(E_a, E_b) + loss_tol · (1 + |E_b|): no barrier separates them, they lie
    in one valley. Modulo symmetry, θ_a is first aligned to θ_b by permuting (and, for odd
    activations, sign-flipping) its hidden units (:func:`landscape.analysis.symmetry.align`).
    Greedy: each point joins the first class whose representative matches it.

    Parameters
    ----------
    model : MLP
    thetas : ndarray of shape (M, D)
    losses : ndarray of shape (M,)
    modulo_symmetry : bool
    tol, loss_tol : float
        Relative tolerances. Polished points (‖∇E‖ ≤ g) of a minimum agree to about g/λ_min,
        which a nearly flat direction (λ_min ≈ 1e-7) makes far larger than ``tol``: the
        barrier test is what merges them.
    data : (X, y), optional
        Training data for the barrier test; without it only distances count.
    reach : float
        Relative distance beyond which no barrier test is made.

    Returns
    -------
    Clusters
    """
    thetas = np.asarray(thetas, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64)
    if data is not None:
        X = model.check_inputs(data[0])
        t = model.targets(data[1], X.shape[0])
    alphas = np.array([0.25, 0.5, 0.75])[:, None]

    def same(i: int, r: int) -> bool:
        ref = thetas[r]
        slack = loss_tol * (1.0 + abs(losses[r]))
        if abs(losses[i] - losses[r]) > slack:
            return False
        cand = align_model(model, thetas[i], ref) if modulo_symmetry else thetas[i]
        dist = np.linalg.norm(cand - ref)
        scale = 1.0 + np.linalg.norm(ref)
        if dist <= tol * scale:
            return True
        if data is None or dist > reach * scale:
            return False
        path = (1.0 - alphas) * ref + alphas * cand
        with np.errstate(over="ignore", invalid="ignore"):
            E_path, _, _ = model.evaluate(path, X, t, grad=False)
        return bool((E_path <= max(losses[i], losses[r]) + slack).all())

    return _greedy(len(thetas), same)


def _greedy(n: int, same) -> Clusters:
    """Each point joins the first class whose representative ``same(i, rep)`` accepts."""
    reps: list[int] = []
    labels = np.empty(n, dtype=np.int64)
    for i in range(n):
        label = next((c for c, r in enumerate(reps) if same(i, r)), -1)
        if label < 0:
            reps.append(i)
            label = len(reps) - 1
        labels[i] = label
    sizes = np.bincount(labels, minlength=len(reps)) if n else np.zeros(0, int)
    return Clusters(labels, np.asarray(reps, dtype=np.int64), sizes)


def cluster_families(
    model: MLP,
    thetas: np.ndarray,
    losses: np.ndarray,
    data: tuple[np.ndarray, np.ndarray],
    *,
    modulo_symmetry: bool,
    loss_rtol: float = 1e-10,
    floor: float | None = None,
    samples: int = 3,
    steps: int = 30,
) -> Clusters:
    """Group points of families of minima into connected families (optionally modulo symmetry).

    Two points at one loss belong to one family when a path at that loss joins them. The path
    is found, not assumed straight: ``samples`` points of the segment between them (after
    aligning θ_a to θ_b by the discrete symmetries) are each carried back down by Newton descent
    (``steps`` steps); when every one lands at the family's loss, the segment projects onto a
    curve of minima between the two. Greedy, as :func:`cluster`.

    Parameters
    ----------
    model : MLP
    thetas : ndarray of shape (M, D)
    losses : ndarray of shape (M,)
    data : (X, y)
    modulo_symmetry : bool
    loss_rtol, floor : float
        Losses are equal within loss_rtol · max|E| + floor (floor: :func:`loss_floor`).
    samples, steps : int

    Returns
    -------
    Clusters
    """
    X = model.check_inputs(data[0])
    t = model.targets(data[1], X.shape[0])
    floor = loss_floor(model, X, data[1]) if floor is None else floor
    alphas = (np.arange(samples) + 1.0) / (samples + 1.0)
    thetas = np.asarray(thetas, dtype=np.float64)

    def same(i: int, r: int) -> bool:
        ref = thetas[r]
        if not _same_loss(losses[i], losses[r], loss_rtol, floor):
            return False
        cand = align_model(model, thetas[i], ref) if modulo_symmetry else thetas[i]
        for a in alphas:
            d = _newton(model, (1.0 - a) * ref + a * cand, X, data[1], t, steps)
            if not (np.isfinite(d.loss) and _same_loss(d.loss, losses[r], loss_rtol, floor)):
                return False
        return True

    return _greedy(len(thetas), same)


@dataclass(frozen=True)
class Chao1:
    """The Chao1 estimate of how many classes exist, seen or not (Chao 1984).

    Attributes
    ----------
    observed : int
    singletons, doubletons : int
        Classes met exactly once and exactly twice.
    estimate : float
        observed + f1²/(2 f2), or observed + f1(f1 − 1)/2 when f2 = 0 (bias-corrected form).
    """

    observed: int
    singletons: int
    doubletons: int
    estimate: float

    @property
    def complete(self) -> bool:
        """True when no class was met only once: more starts would probably find no new one."""
        return self.singletons == 0


def chao1(sizes: np.ndarray) -> Chao1:
    """Estimate the total number of classes from their basin counts."""
    sizes = np.asarray(sizes)
    s = int((sizes > 0).sum())
    f1 = int((sizes == 1).sum())
    f2 = int((sizes == 2).sum())
    est = s + f1 * f1 / (2.0 * f2) if f2 > 0 else s + f1 * (f1 - 1) / 2.0
    return Chao1(s, f1, f2, float(est))


def chao1_interval(sizes: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Chao's (1987) log-normal confidence interval of :func:`chao1`'s estimate.

    With T = Ŝ − S_obs the unseen classes, ``(S_obs + T/K, S_obs + T·K)`` where
    K = exp(z · √log(1 + var(Ŝ)/T²)): the interval never goes below the classes seen.
    var(Ŝ) is Chao's f2 · (r²/2 + r³ + r⁴/4), r = f1/f2, or the bias-corrected form's when
    f2 = 0. Without singletons nothing unseen is indicated; the interval is then the one of
    EstimateS (Colwell's user guide), from P = exp(−n/S_obs) with n the starts counted.

    Parameters
    ----------
    sizes : ndarray of int, shape (S,)
        Starts per class (zeros ignored).
    level : float
        Two-sided confidence level.

    Returns
    -------
    (low, high) : float
    """
    from scipy.stats import norm

    sizes = np.asarray(sizes)
    sizes = sizes[sizes > 0]
    z = float(norm.ppf(0.5 + level / 2.0))
    est = chao1(sizes)
    s, f1, f2 = float(est.observed), est.singletons, est.doubletons
    if s == 0:
        return 0.0, 0.0
    if f1 == 0:
        n = float(sizes.sum())
        p = math.exp(-n / s)
        centre, half = s / (1.0 - p), z * math.sqrt(s * p / (1.0 - p))
        return max(s, centre - half), centre + half
    if f2 > 0:
        r = f1 / f2
        var = f2 * (r * r / 2.0 + r**3 + r**4 / 4.0)
    else:
        var = f1 * (f1 - 1) / 2.0 + f1 * (2 * f1 - 1) ** 2 / 4.0 - f1**4 / (4.0 * est.estimate)
    unseen = est.estimate - s
    if unseen <= 0 or var <= 0:
        return s, est.estimate
    k = math.exp(z * math.sqrt(math.log(1.0 + var / unseen**2)))
    return s + unseen / k, s + unseen * k


@dataclass(frozen=True)
class PointClass:
    """One class of end points of one kind: a minimum, a family, a level at infinity, a saddle.

    Attributes
    ----------
    kind : one of :data:`POINT_KINDS` except ``unresolved``
    index : int
        Position of its representative among the analysed points.
    loss : float
        The representative's loss (``at_infinity``: where its continuation stopped).
    basin_share : float
        Fraction of all starts that ended in this class (any symmetric copy).
    starts : int
    copies_met : int
        Distinct symmetric copies the starts reached (minima and families; 1 otherwise).
    dimension : int
        Families: flat directions beyond symmetry (0 otherwise).
    n_flat, n_negative : int
        The representative's flat and negative Hessian eigenvalues.
    grad_norm : float
    lambda_min, lambda_max : float
    asymptote : float
        ``at_infinity``: the loss the class tends to (NaN if not estimated).
    representative : tuple of float
        The representative θ in the model's flat layout (empty in a study stored before the
        registry of kinds, which kept it only in the ``minima.npz`` artifact).
    """

    kind: str
    index: int
    loss: float
    basin_share: float
    starts: int
    copies_met: int
    dimension: int
    n_flat: int
    n_negative: int
    grad_norm: float
    lambda_min: float
    lambda_max: float
    asymptote: float
    representative: tuple[float, ...] = ()


@dataclass(frozen=True)
class MinimaReport:
    """Everything the minima analysis found.

    Attributes
    ----------
    n_starts : int
    status_counts : dict of str to int
        How the training runs ended.
    kind_counts : dict of str to int
        Starts per kind of end point (:data:`POINT_KINDS`).
    distinct_points : int
        Distinct isolated minima before symmetry reduction.
    distinct_minima : int
        Distinct isolated minima modulo the symmetry group.
    loss_levels : int
        Distinct loss values among the isolated minima and families (within ``loss_tol``).
    minima : list of PointClass
        Isolated minima modulo symmetry, by loss.
    families : list of PointClass
        Connected families of minima modulo symmetry, by loss.
    infinity : list of PointClass
        Slopes to infinity, grouped by the loss they tend to (within 1%).
    saddles : list of PointClass
        Saddles grouped by index and loss.
    chao1 : Chao1
        Estimated number of isolated minima modulo symmetry, seen and unseen.
    tolerances : dict
    moved : float
        Median of ‖θ_examined − θ_end‖/‖θ_end‖ over the starts whose end point is a minimum or
        a family point: how far polishing carried training's end points.
    point_class : ndarray of int, shape (n_starts,)
        Each start's class, its position in :attr:`classes`; −1 when unresolved.
    counts : GroupCounts or None
        The model's symmetry group: the copies every minimum has.
    """

    n_starts: int
    status_counts: dict[str, int]
    kind_counts: dict[str, int]
    distinct_points: int
    distinct_minima: int
    loss_levels: int
    minima: list[PointClass]
    families: list[PointClass]
    infinity: list[PointClass]
    saddles: list[PointClass]
    chao1: Chao1
    tolerances: dict = field(default_factory=dict)
    moved: float = float("nan")
    point_class: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    counts: GroupCounts | None = None

    @property
    def classes(self) -> list[PointClass]:
        """Every class: the minima, then the families, the levels at infinity, the saddles."""
        return [*self.minima, *self.families, *self.infinity, *self.saddles]

    def headline(self) -> str:
        """One line: e.g. "3 isolated minima, 1 family (dim 5), 12 starts at infinity, …"."""
        k = self.kind_counts
        fams = ", ".join(f"dim {f.dimension}" for f in self.families)
        parts = [
            f"{len(self.minima)} isolated minim{'um' if len(self.minima) == 1 else 'a'}",
            f"{len(self.families)} famil{'y' if len(self.families) == 1 else 'ies'}"
            + (f" ({fams})" if fams else ""),
            f"{k.get('at_infinity', 0)} starts at infinity",
            f"{k.get('saddle', 0)} at saddles",
            f"{k.get('unresolved', 0)} unresolved",
        ]
        ch = self.chao1
        return ", ".join(parts) + f"; Chao1 over isolated minima: {ch.estimate:.1f}"


def _counts(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return out


def _levels(values: np.ndarray, rtol: float, floor: float) -> np.ndarray:
    """Label sorted-by-value groups of values equal within rtol · |v| + floor."""
    order = np.argsort(values, kind="stable")
    labels = np.empty(len(values), dtype=np.int64)
    level, last = -1, None
    for i in order:
        if last is None or not _same_loss(values[i], last, rtol, floor):
            level += 1
            last = values[i]
        labels[i] = level
    return labels


@one_blas_thread
def analyse_points(
    model: MLP,
    points: dict[str, np.ndarray],
    *,
    tol: float = 1e-5,
    loss_tol: float = 1e-9,
    data: tuple[np.ndarray, np.ndarray],
) -> MinimaReport:
    """Cluster examined end points kind by kind and count them.

    Parameters
    ----------
    model : MLP
    points : dict of str to ndarray
        Per start (M of them), as :func:`examine` reports them: ``theta`` (M, D), ``theta_end``
        (M, D) (end of training), ``loss``, ``grad_norm``, ``asymptote``, ``lambda_min``,
        ``lambda_max`` (M,) float; ``kind``, ``status`` (M,) str; ``n_flat``, ``n_negative``,
        ``dimension`` (M,) int.
    tol, loss_tol : float
        Clustering tolerances of the isolated minima (see :func:`cluster`); ``loss_tol`` also
        separates loss levels.
    data : (X, y)
        Training data: the barrier test of :func:`cluster` and the paths of
        :func:`cluster_families`.
    """
    theta, losses, kinds = points["theta"], points["loss"], points["kind"].astype(str)
    M = len(theta)
    floor = loss_floor(model, *data)
    classes: dict[str, list[PointClass]] = {k: [] for k in POINT_KINDS}
    point_class = np.full(M, -1, dtype=np.int64)
    owner: dict[str, list[np.ndarray]] = {k: [] for k in POINT_KINDS}

    def make(kind: str, members: np.ndarray, rep: int, copies: int) -> PointClass:
        return PointClass(
            kind=kind,
            index=int(rep),
            loss=float(losses[rep]),
            basin_share=len(members) / M,
            starts=len(members),
            copies_met=int(copies),
            dimension=int(points["dimension"][rep]),
            n_flat=int(points["n_flat"][rep]),
            n_negative=int(points["n_negative"][rep]),
            grad_norm=float(points["grad_norm"][rep]),
            lambda_min=float(points["lambda_min"][rep]),
            lambda_max=float(points["lambda_max"][rep]),
            asymptote=float(points["asymptote"][rep]),
            representative=tuple(float(v) for v in theta[rep]),
        )

    distinct_points = 0
    for kind in ("minimum", "family"):
        idx = np.flatnonzero(kinds == kind)
        if not len(idx):
            continue
        if kind == "minimum":
            raw = cluster(
                model,
                theta[idx],
                losses[idx],
                modulo_symmetry=False,
                tol=tol,
                loss_tol=loss_tol,
                data=data,
            )
            rep_idx = idx[raw.representatives]
            sym = cluster(
                model,
                theta[rep_idx],
                losses[rep_idx],
                modulo_symmetry=True,
                tol=tol,
                loss_tol=loss_tol,
                data=data,
            )
            distinct_points = raw.n_classes
        else:
            raw = cluster_families(
                model, theta[idx], losses[idx], data, modulo_symmetry=False, floor=floor
            )
            rep_idx = idx[raw.representatives]
            sym = cluster_families(
                model, theta[rep_idx], losses[rep_idx], data, modulo_symmetry=True, floor=floor
            )
        of_point = sym.labels[raw.labels]
        for c in range(sym.n_classes):
            members = idx[of_point == c]
            rep = rep_idx[sym.representatives[c]]
            classes[kind].append(make(kind, members, rep, (sym.labels == c).sum()))
            owner[kind].append(members)
    for kind in ("at_infinity", "saddle"):
        idx = np.flatnonzero(kinds == kind)
        if not len(idx):
            continue
        if kind == "at_infinity":
            level = np.where(
                np.isfinite(points["asymptote"][idx]), points["asymptote"][idx], losses[idx]
            )
            labels = _levels(level, 1e-2, floor)
        else:
            labels = _levels(losses[idx], loss_tol, floor) * (M + 1) + points["n_negative"][idx]
        for lab in np.unique(labels):
            members = idx[labels == lab]
            rep = members[np.argmin(losses[members])]
            classes[kind].append(make(kind, members, rep, 1))
            owner[kind].append(members)
    position = 0
    ordered: dict[str, list[PointClass]] = {}
    for kind in ("minimum", "family", "at_infinity", "saddle"):
        order = sorted(range(len(classes[kind])), key=lambda c: (classes[kind][c].loss, c))
        ordered[kind] = [classes[kind][c] for c in order]
        for c in order:
            point_class[owner[kind][c]] = position
            position += 1
    finite = np.flatnonzero((kinds == "minimum") | (kinds == "family"))
    levels = len(np.unique(_levels(losses[finite], loss_tol, floor))) if len(finite) else 0
    moved = float("nan")
    if len(finite) and "theta_end" in points:
        ends = points["theta_end"][finite]
        moved = float(
            np.median(
                np.linalg.norm(theta[finite] - ends, axis=1)
                / np.maximum(np.linalg.norm(ends, axis=1), 1e-300)
            )
        )
    return MinimaReport(
        n_starts=M,
        status_counts=_counts(points["status"]),
        kind_counts={k: int((kinds == k).sum()) for k in POINT_KINDS},
        distinct_points=distinct_points,
        distinct_minima=len(ordered["minimum"]),
        loss_levels=levels,
        minima=ordered["minimum"],
        families=ordered["family"],
        infinity=ordered["at_infinity"],
        saddles=ordered["saddle"],
        chao1=chao1(np.array([m.starts for m in ordered["minimum"]], dtype=np.int64)),
        tolerances={"tol": tol, "loss_tol": loss_tol, "loss_floor": floor},
        moved=moved,
        point_class=point_class,
    )


EXAMINED_FIELDS = (
    "kind",
    "reason",
    "loss",
    "grad_norm",
    "steps",
    "growth",
    "loss_drop",
    "asymptote",
    "n_negative",
    "n_flat",
    "n_explained",
    "dimension",
    "lambda_min",
    "lambda_max",
)
"""The per-point arrays :func:`examine_points` returns besides θ and the eigenvalues."""


@one_blas_thread
def examine_points(
    model: MLP, thetas: np.ndarray, X: np.ndarray, y: np.ndarray, **options
) -> dict[str, np.ndarray]:
    """Polish and examine many end points, all at once (:func:`polish_many`, :func:`examine_many`).

    Parameters
    ----------
    model : MLP
    thetas : ndarray of shape (M, D)
        End points of training; non-finite rows are ``unresolved``.
    X, y : the training data
    **options
        ``gtol``, ``max_iter`` for :func:`polish_many`; ``engine`` for both; the rest for
        :func:`examine_many`.

    Returns
    -------
    dict of str to ndarray
        ``theta`` (M, D), ``eigenvalues`` (M, F) (of the Hessian at the examined point),
        ``converged`` (M,) (polishing reached gtol) and every field of
        :data:`EXAMINED_FIELDS`, (M,) each.
    """
    polish_opts = {k: options.pop(k) for k in ("gtol", "max_iter") if k in options}
    polish_opts["engine"] = options.get("engine", "numpy")
    # The polish leaves a start alone once its ‖θ‖ doubles: that descent is running out
    # towards infinity (measured on small tanh/sigmoid problems, the L-BFGS otherwise ran ‖θ‖
    # from ~10 to 1e3–1e6, into saturation, where half or more of the starts became
    # unresolved). Doubling, not the examination's 5%: GD stopped by its budget is often 5–30%
    # inside a finite minimum's norm, and the polish must reach such minima.
    polish_opts["grow"] = 1.0
    # the continuation's L-BFGS gets the polisher's budget
    options.setdefault("lbfgs_iter", polish_opts.get("max_iter", 3000))
    M, D = thetas.shape
    out: dict[str, np.ndarray] = {
        "theta": np.full((M, D), np.nan),
        "eigenvalues": np.full((M, model.n_free), np.nan),
        "converged": np.zeros(M, dtype=bool),
    }
    polished = polish_many(model, thetas, X, y, **polish_opts)
    out["converged"] = np.array([p.converged for p in polished], dtype=bool)
    start = np.stack([p.theta for p in polished]) if M else thetas
    rows = examine_many(model, start, X, y, **options, origins=thetas)
    for k, e in enumerate(rows):
        out["theta"][k] = e.theta
    ok = np.flatnonzero([np.isfinite(e.loss) for e in rows])
    if len(ok):
        Xc = model.check_inputs(X)
        out["eigenvalues"][ok] = np.linalg.eigvalsh(
            hessians(model, out["theta"][ok], Xc, model.targets(y, Xc.shape[0]))
        )
    for name in EXAMINED_FIELDS:
        out[name] = np.array([getattr(r, name) for r in rows])
    out["kind"] = out["kind"].astype(str)
    out["reason"] = out["reason"].astype(str)
    return out


# ------------------------------------------------------------------ the analysis kind
MAX_STARTS = 1_000_000
"""Random starts one census may ask for: its chunks are Optuna trials, and a study of more than
~10⁴ trials is slow to load in every storage."""


@dataclass(frozen=True)
class MinimaConfig:
    """The ``[analysis]`` section of ``kind = "minima"``: distinct minima from random θ⁽⁰⁾.

    Train ``n_starts`` random θ⁽⁰⁾ at once, polish the end points, continue descent from each
    and probe its flat directions to tell an isolated minimum from a family, a slope to
    infinity, a saddle or an undecided point, and count the distinct ones of each kind modulo
    the model's symmetries.

    Attributes
    ----------
    n_starts : int
        Random θ⁽⁰⁾ trained, each drawn from the study's seed.
    chunk : int
        Starts per trial: the unit of work one worker takes at a time.
    polish_gtol, polish_iter : float, int
        ‖∇E‖ end points are polished to; the L-BFGS iteration budget.
    tol, loss_tol : float
        Relative clustering tolerances on θ and E.
    flat_tol : float
        Hessian flatness tolerance relative to its largest eigenvalue.
    continue_steps : int
        Newton steps of the descent continued from each polished end point.
    decide_steps : int
        Further Newton steps for the points that continuation leaves undecided.
    grow : float
        Relative growth of ‖θ‖ under that descent that names a slope to infinity.
    engine : {"numpy", "jax", "auto"}
        Where the starts' training, polish and continued descents run
        (:mod:`landscape.engine`): NumPy (the reference) or compiled JAX kernels (the
        ``[fast]`` extra), which agree with it to rounding; ``auto`` takes JAX when it is
        installed. Mini-batch training stays on NumPy; the polish and the examination are
        full-batch by nature and run on JAX for ``auto`` and ``jax`` alike.
    """

    kind: str = "minima"
    n_starts: int = setting(
        128,
        low=1,
        high=MAX_STARTS,
        why="a study of more is slow to load; run several studies and compare them",
    )
    chunk: int = setting(32, low=1)
    polish_gtol: float = setting(1e-8, low=0, open_low=True)
    polish_iter: int = setting(3000, low=1)
    tol: float = setting(1e-5, low=0, open_low=True)
    loss_tol: float = setting(1e-9, low=0, open_low=True)
    flat_tol: float = setting(1e-9, low=0, open_low=True)
    continue_steps: int = setting(100, low=1)
    decide_steps: int = setting(2000, low=0)
    grow: float = setting(0.05, low=0, open_low=True)
    engine: str = setting("numpy", choices=ENGINES)

    def examine(self) -> dict:
        """The polish and examination options of :func:`examine_points`."""
        return {
            "gtol": self.polish_gtol,
            "max_iter": self.polish_iter,
            "steps": self.continue_steps,
            "decide_steps": self.decide_steps,
            "grow": self.grow,
            "rel_flat": self.flat_tol,
            "loss_rtol": self.loss_tol,
        }


def _check_engine(inputs: Inputs, config: MinimaConfig) -> None:
    """The engine asked for is installed and runs this training (full batch)."""
    n = inputs.data.n_train
    try:
        b = inputs.trainer.batch(n)
        resolve_engine(config.engine, full_batch=b is None or b >= n)
    except ValueError as exc:
        raise ValueError(f"analysis.{exc}") from None


def _chunks(config: MinimaConfig) -> int:
    return -(-config.n_starts // config.chunk)


def run_chunk(
    inputs: Inputs, config: MinimaConfig, chunk: int, hidden: list[int] | None = None
) -> dict[str, np.ndarray]:
    """Train starts of chunk ``chunk`` at once as the trainer says; polish and examine the ends.

    ``hidden`` replaces the model's hidden widths (:mod:`landscape.analysis.census`).

    Returns
    -------
    dict of str to ndarray
        ``start`` (M,), ``theta0`` / ``theta_end`` / ``theta`` (M, D) (start, end of training,
        examined point), ``status`` (M,) of str, ``train_loss`` (M,), and what
        :func:`examine_points` returns.
    """
    ids = np.arange(chunk * config.chunk, min(config.n_starts, (chunk + 1) * config.chunk))
    t, d = inputs.trainer, inputs.data
    model, theta0 = inputs.starts(ids, hidden)
    res = train_many(
        model,
        theta0,
        d.X_train,
        d.y_train,
        rng=inputs.stream(seeds.SHUFFLE, chunk),
        **{**t.many_kwargs(d.n_train), "batch_size": t.batch(d.n_train)},
        engine=config.engine,
    )
    engine = resolve_engine("auto" if config.engine == "jax" else config.engine, True)
    found = examine_points(
        model, res.theta, d.X_train, d.y_train, **config.examine(), engine=engine
    )
    return {
        "start": ids,
        "theta0": theta0,
        "theta_end": res.theta,
        "status": res.status,
        "train_loss": res.loss,
        **found,
    }


def finish_census(
    inputs: Inputs, config: MinimaConfig, parts: list[dict], hidden: list[int] | None = None
) -> tuple[MinimaReport, dict[str, np.ndarray]]:
    """Classify and cluster every chunk's end points; the points with their classes as arrays.

    ``hidden`` replaces the model's hidden widths, as in :func:`run_chunk`.
    """
    points = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    model = inputs.model(hidden)
    report = analyse_points(
        model,
        points,
        tol=config.tol,
        loss_tol=config.loss_tol,
        data=(inputs.data.X_train, inputs.data.y_train),
    )
    report = dataclasses.replace(report, counts=model_group_counts(model))
    return report, {**points, "point_class": report.point_class}


def _chunk_value(arrays: dict) -> float:
    """A chunk trial's value: the lowest polished loss among its starts."""
    finite = arrays["loss"][np.isfinite(arrays["loss"])]
    return float(finite.min()) if finite.size else float("inf")


def _chunk_attrs(arrays: dict) -> dict:
    keys, counts = np.unique(arrays["status"].astype(str), return_counts=True)
    return {
        "starts": [int(arrays["start"][0]), int(arrays["start"][-1])],
        "polished_converged": int(arrays["converged"].sum()),
        "training": {str(k): int(c) for k, c in zip(keys, counts, strict=True)},
    }


def _many_trainer(t: TrainConfig) -> None:
    """The multi-start trainer keeps no per-epoch history and has no stall rule."""
    for name, default in MANY_UNSUPPORTED.items():
        if getattr(t, name) != default:
            raise RuleError(
                f"minima: trainer.{name}={getattr(t, name)!r} is not supported by the "
                f"multi-start trainer (no per-epoch history, no stall rule); leave it at "
                f"{default!r}"
            )


def _memory(config: MinimaConfig, D: int, n: int, widths) -> dict[str, int]:
    """θ and activations of a chunk of starts at once, the Hessians, and every end point."""
    k = config.chunk
    return {
        "theta": 8 * 6 * k * D,
        "activations": 8 * 4 * k * n * sum(widths),
        **hessian_memory(config, D, n, widths),
        "ends": 8 * 4 * config.n_starts * D,
    }


def minima_json(report: MinimaReport, *, representatives: bool = False) -> dict:
    """The report as JSON-able data with a flat list of ``classes`` (``--json``).

    With ``representatives`` every class carries its θ; without, they are left out (the
    ``minima.npz`` artifact holds every point).
    """
    from landscape.typed import to_json

    out = to_json(report)
    out.pop("point_class")
    out["chao1"]["complete"] = report.chao1.complete
    out["headline"] = report.headline()
    for key in ("minima", "families", "infinity", "saddles"):
        for c in out[key]:
            if not representatives:
                c.pop("representative")
    out["classes"] = [
        {
            "kind": c.kind,
            "loss": c.loss,
            "count": c.starts,
            "copies": c.copies_met,
            "dimension": c.dimension,
            "n_flat": c.n_flat,
            "n_negative": c.n_negative,
            "grad_norm": None if math.isnan(c.grad_norm) else c.grad_norm,
            "asymptote": None if math.isnan(c.asymptote) else c.asymptote,
            **({"representative": list(c.representative)} if representatives else {}),
        }
        for c in report.classes
    ]
    return out


def _payload(report: MinimaReport) -> dict:
    counts = report.counts
    return {
        "group_counts": {
            k: str(v) for k, v in (dataclasses.asdict(counts) if counts else {}).items()
        },
        "minima": minima_json(report, representatives=True),
    }


KIND = Kind(
    name="minima",
    config=MinimaConfig,
    result=MinimaReport,
    value="lowest polished loss of the chunk",
    headline=MinimaReport.headline,
    units=_chunks,
    run_unit=run_chunk,
    finish=finish_census,
    unit_param="chunk",
    unit_value=_chunk_value,
    unit_attrs=_chunk_attrs,
    arrays="minima.npz",
    trainer=_many_trainer,
    memory=_memory,
    payload=_payload,
    check=_check_engine,
    # before the registry of kinds: the report in the study attr "minima", counts beside it
    earlier=lambda attrs, read: (
        {
            **attrs["minima"],
            # (stored as strings; from_json reads each by its field's type)
            "counts": attrs.get("group_counts") or None,
        }
        if attrs.get("minima")
        else None
    ),
    earlier_found=lambda attrs: (attrs.get("minima") or {}).get("headline"),
)
