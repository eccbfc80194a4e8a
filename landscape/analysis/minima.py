"""How many distinct minima gradient descent reaches from random θ⁽⁰⁾ (seed 1.2).

The pipeline: many starts trained at once (:func:`landscape.train.train_many`); each end point
polished to a critical point (:func:`polish`); classified by its exact Hessian
(:func:`classify`); end points clustered by distance and loss, first as they are and then
modulo the hidden-unit symmetry (:func:`cluster`), which tells how much of the multitude of
minima is only the symmetry; and the total number of minima, seen and unseen, estimated from the
basin counts (:func:`chao1`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from landscape.analysis.hessian import hessian
from landscape.analysis.symmetry import align
from landscape.model import MLP
from landscape.threads import one_blas_thread

KINDS = ("minimum", "saddle", "maximum", "not converged")


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

    def fun(th: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(over="ignore", invalid="ignore"):
            E, g, _ = model.evaluate(th, X, t)
        return float(E), g.copy()

    iterations = 0
    E, g = fun(theta)
    if np.isfinite(E) and np.linalg.norm(g) > gtol:
        # L-BFGS-B's gtol bounds max_i |g_i|; gtol/√D bounds ‖g‖ by gtol.
        opts = {"maxiter": max_iter, "gtol": gtol / np.sqrt(theta.size), "ftol": 0.0, "maxcor": 30}
        res = minimize(fun, theta, jac=True, method="L-BFGS-B", options=opts)
        if np.isfinite(res.fun) and res.fun <= E:
            theta = res.x
        iterations += int(res.nit)
        E, g = fun(theta)
    mu = None
    for _ in range(newton_steps):
        gn = np.linalg.norm(g)
        if not np.isfinite(E) or gn <= gtol:
            break
        lam, V = np.linalg.eigh(hessian(model, theta, X, y))
        gv = V.T @ g
        scale = float(np.abs(lam).max()) or 1.0
        mu = 1e-6 * scale if mu is None else mu
        accepted = False
        for _ in range(12):
            step = V @ (gv / (np.abs(lam) + mu))
            candidate = theta - step
            E_new, g_new = fun(candidate)
            iterations += 1
            descent = E_new < E or (
                E_new <= E + 1e-14 * (1.0 + abs(E)) and np.linalg.norm(g_new) < gn
            )
            if np.isfinite(E_new) and descent:
                theta, E, g = candidate, E_new, g_new
                mu = max(mu / 10.0, 1e-16 * scale)
                accepted = True
                break
            mu *= 10.0
        if not accepted:
            break
    gn = float(np.linalg.norm(g))
    return Polished(theta, E, gn, bool(np.isfinite(E) and gn <= gtol), iterations)


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
    odd = model.activation.odd
    reps: list[int] = []
    labels = np.empty(len(thetas), dtype=np.int64)
    if data is not None:
        X = model.check_inputs(data[0])
        t = model.targets(data[1], X.shape[0])
    alphas = np.array([0.25, 0.5, 0.75])[:, None]
    for i, th in enumerate(thetas):
        label = -1
        for c, r in enumerate(reps):
            ref = thetas[r]
            slack = loss_tol * (1.0 + abs(losses[r]))
            if abs(losses[i] - losses[r]) > slack:
                continue
            cand = align(model.layout, th, ref, odd)[0] if modulo_symmetry else th
            dist = np.linalg.norm(cand - ref)
            scale = 1.0 + np.linalg.norm(ref)
            same = dist <= tol * scale
            if not same and data is not None and dist <= reach * scale:
                path = (1.0 - alphas) * ref + alphas * cand
                with np.errstate(over="ignore", invalid="ignore"):
                    E_path, _, _ = model.evaluate(path, X, t, grad=False)
                same = bool((E_path <= max(losses[i], losses[r]) + slack).all())
            if same:
                label = c
                break
        if label < 0:
            reps.append(i)
            label = len(reps) - 1
        labels[i] = label
    sizes = np.bincount(labels, minlength=len(reps)) if len(labels) else np.zeros(0, int)
    return Clusters(labels, np.asarray(reps, dtype=np.int64), sizes)


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


@dataclass(frozen=True)
class MinimumClass:
    """One minimum modulo symmetry.

    Attributes
    ----------
    index : int
        Position of its representative among the analysed points.
    loss : float
    basin_share : float
        Fraction of all starts whose end point is this minimum (any symmetric copy).
    starts : int
    copies_met : int
        How many distinct symmetric copies of it the starts reached.
    curvature : Curvature
    """

    index: int
    loss: float
    basin_share: float
    starts: int
    copies_met: int
    curvature: Curvature


@dataclass(frozen=True)
class MinimaReport:
    """Everything the minima analysis found.

    Attributes
    ----------
    n_starts : int
    status_counts : dict of str to int
        How the training runs ended.
    kind_counts : dict of str to int
        What the polished end points are (minimum, saddle, …, not converged).
    distinct_points : int
        Distinct minima before symmetry reduction.
    distinct_minima : int
        Distinct minima modulo the hidden-unit symmetry.
    loss_levels : int
        Distinct loss values among the minima (within ``loss_tol``): a count that stays
        meaningful where minima are flat valleys rather than points.
    minima : list of MinimumClass
        Sorted by loss.
    chao1 : Chao1
        Estimated number of minima modulo symmetry, seen and unseen.
    tolerances : dict
    point_class : ndarray of int, shape (n_starts,)
        Each start's minimum (its position in ``minima``), −1 where it ended elsewhere.
    """

    n_starts: int
    status_counts: dict[str, int]
    kind_counts: dict[str, int]
    distinct_points: int
    distinct_minima: int
    loss_levels: int
    minima: list[MinimumClass]
    chao1: Chao1
    tolerances: dict = field(default_factory=dict)
    point_class: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def _counts(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return out


@one_blas_thread
def analyse_points(
    model: MLP,
    thetas: np.ndarray,
    losses: np.ndarray,
    converged: np.ndarray,
    eigenvalues: np.ndarray,
    statuses: np.ndarray,
    *,
    tol: float = 1e-5,
    loss_tol: float = 1e-9,
    rel_tol: float = 1e-7,
    data: tuple[np.ndarray, np.ndarray] | None = None,
) -> MinimaReport:
    """Classify and cluster polished end points.

    Parameters
    ----------
    model : MLP
    thetas : ndarray of shape (M, D)
        Polished end points, one per start.
    losses : ndarray of shape (M,)
    converged : ndarray of bool, shape (M,)
        Whether polishing reached ‖∇E‖ ≤ gtol.
    eigenvalues : ndarray of shape (M, D)
        Hessian spectrum of each end point.
    statuses : ndarray of str, shape (M,)
        How each training run ended.
    tol, loss_tol : float
        Clustering tolerances (see :func:`cluster`).
    rel_tol : float
        Flatness tolerance (see :func:`classify`).
    data : (X, y), optional
        Training data, for the barrier test of :func:`cluster`.
    """
    M = len(thetas)
    curv = [
        classify(eigenvalues[i], converged=bool(converged[i]), rel_tol=rel_tol) for i in range(M)
    ]
    is_min = np.array([c.kind == "minimum" for c in curv], dtype=bool)
    idx = np.flatnonzero(is_min)
    raw = cluster(
        model,
        thetas[idx],
        losses[idx],
        modulo_symmetry=False,
        tol=tol,
        loss_tol=loss_tol,
        data=data,
    )
    # Modulo symmetry: cluster the raw classes' representatives, then map every point.
    rep_idx = idx[raw.representatives]
    sym = cluster(
        model,
        thetas[rep_idx],
        losses[rep_idx],
        modulo_symmetry=True,
        tol=tol,
        loss_tol=loss_tol,
        data=data,
    )
    class_of_point = sym.labels[raw.labels] if len(idx) else np.zeros(0, int)
    minima = []
    for c in range(sym.n_classes):
        members = idx[class_of_point == c]
        rep = rep_idx[sym.representatives[c]]
        minima.append(
            MinimumClass(
                index=int(rep),
                loss=float(losses[rep]),
                basin_share=len(members) / M,
                starts=len(members),
                copies_met=int((sym.labels == c).sum()),
                curvature=curv[rep],
            )
        )
    order = sorted(range(len(minima)), key=lambda c: (minima[c].loss, minima[c].index))
    minima = [minima[c] for c in order]
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    point_class = np.full(M, -1, dtype=np.int64)
    if len(idx):
        point_class[idx] = position[class_of_point]
    sizes = np.array([m.starts for m in minima], dtype=np.int64)
    levels = 0
    last = None
    for value in sorted(float(losses[i]) for i in idx):
        if last is None or value - last > loss_tol * (1.0 + abs(last)):
            levels += 1
            last = value
    return MinimaReport(
        n_starts=M,
        status_counts=_counts(statuses),
        kind_counts=_counts(c.kind for c in curv),
        distinct_points=raw.n_classes,
        distinct_minima=sym.n_classes,
        loss_levels=levels,
        minima=minima,
        chao1=chao1(sizes),
        tolerances={"tol": tol, "loss_tol": loss_tol, "rel_tol": rel_tol},
        point_class=point_class,
    )
