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

# the teacher's weights live with the relu_teacher dataset, the same problem as a sample
from landscape.data import orthonormal_teacher as teacher
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


def gradient_descent(
    W: np.ndarray,
    V: np.ndarray,
    *,
    lr: float,
    steps: int,
    gtol: float = 1e-10,
    global_below: float = 0.0,
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
    global_below : float
        A start also stops when E < global_below (checked every 50 steps): GD never raises
        E, so below every spurious minimum's loss it can only be in the global minimum's
        basin. 0 disables it.

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
    for step in range(steps):
        if global_below > 0 and step % 50 == 0 and len(active):
            below = population_loss(W[active], V) < global_below
            active = active[~below]
            if not len(active):
                break
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
    basin_steps: int = 0,
    basin_lr: float = 0.5,
    basin_global: float = 1e-5,
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
    basin_steps, basin_lr : int, float
        With ``basin_steps`` > 0, also the basin of each end point: population GD from it for
        up to that many steps; ``global`` or ``spurious`` where it converges (a basin is a GD
        notion; it answers where a noisy iterate *is*, not where it ended).
    basin_global : float
        Loss below which the descent is in the global minimum's basin (GD never raises E, and
        the spurious minima of these networks lie far above: E ≈ 0.02 for k = n = 6 … 12).

    Returns
    -------
    dict of str to ndarray of shape (K,)
        ``kind`` (one of :data:`END_KINDS`), ``loss`` (at the classified point), ``moved``
        (refinement distance over ‖W‖), ``lambda_min`` (relative to λ_max; NaN when not
        converged); with ``basin_steps``, ``basin`` (global, spurious, not_converged, diverged)
        and ``basin_loss``.
    """
    W = np.asarray(W, dtype=np.float64)
    K = W.shape[0]
    kind = np.empty(K, dtype=object)
    loss = np.full(K, np.nan)
    moved = np.zeros(K)
    lam_rel = np.full(K, np.nan)
    basin = np.empty(K, dtype=object)
    basin_loss = np.full(K, np.nan)
    if basin_steps:
        # the basin of each end point: where population GD from it converges
        Wb, _, gb = gradient_descent(
            np.where(np.isfinite(W), W, 0.0),
            V,
            lr=basin_lr,
            steps=basin_steps,
            gtol=gtol,
            global_below=basin_global,
        )
        Eb = population_loss(Wb, V)
        for i in range(K):
            # a start stopped below basin_global has no gradient norm recorded (inf): its
            # loss decides, before any test of the gradient
            if not (np.isfinite(W[i]).all() and np.isfinite(Eb[i])):
                basin[i] = "diverged"
            elif Eb[i] < basin_global:
                basin[i] = "global"
            elif not np.isfinite(gb[i]):
                basin[i] = "diverged"
            elif gb[i] > gtol:
                basin[i] = "not_converged"
            else:
                basin[i] = "global" if abs(Eb[i]) <= loss_tol else "spurious"
            basin_loss[i] = Eb[i]
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
    out = {"kind": kind.astype(str), "loss": loss, "moved": moved, "lambda_min": lam_rel}
    if basin_steps:
        out["basin"], out["basin_loss"] = basin.astype(str), basin_loss
    return out


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


# ------------------------------------------------------------------ the experiment
def method_runs(
    methods: tuple[str, ...] | list[str], decay: bool
) -> list[tuple[str, int | None, bool]]:
    """(label, batch size or None for GD, decaying?) of every run of the experiment.

    ``methods`` use the escape vocabulary (``gd``, ``online``, ``minibatch:B``); with ``decay``
    every stochastic method also runs with the inverse-time decay of ε.
    """
    runs = []
    for m in methods:
        if m == "gd":
            runs.append(("gd", None, False))
            continue
        batch = 1 if m == "online" else int(m.partition(":")[2])
        runs.append((f"B={batch}", batch, False))
        if decay:
            runs.append((f"B={batch} decay", batch, True))
    return runs


def method_lr(lr: float, sgd_lr: float, batch: int | None) -> float:
    """ε of a method: GD's ``lr``, or min(lr/2, sgd_lr · B) for batches of B.

    Linear scaling of ε with B (Goyal et al. 2017), capped at half GD's ε: with the noise,
    GD's full step diverged (B = 64, ε = 0.5: every run at k = 10, n = 12).
    """
    return lr if batch is None else min(lr / 2, sgd_lr * batch)


@one_blas_thread
def run_size(
    k: int,
    n: int,
    *,
    n_starts: int,
    methods: tuple[str, ...] | list[str],
    updates: int,
    lr: float,
    sgd_lr: float,
    tau: float,
    escape_starts: int,
    escape_runs: int,
    loss_tol: float,
    rng: np.random.Generator,
    basin_steps: int = 20000,
) -> dict[str, np.ndarray]:
    """Every method from the same random starts at equal updates, then escapes from spurious minima.

    1. ``n_starts`` students of n units (d = k inputs, teacher of k orthonormal units) are drawn
       once; every run starts from them and makes exactly ``updates`` updates: population GD
       with ε = ``lr``, online SGD with B fresh inputs per step and ε = min(lr/2, sgd_lr · B)
       (or ε₀/(1 + t/τ) from there, for the decaying variant). Where each run ended is
       classified by :func:`classify_ends` (a local refinement of at most 1% of ‖W‖), and its
       basin by population GD from the end point (``basin_steps``).
    2. From up to ``escape_starts`` spurious minima that GD reached, each run is started
       ``escape_runs`` times; the basin it is in after ``updates`` updates says whether it left
       (the global minimum's basin, or another spurious one) or stayed: the direct test of
       whether mini-batch noise kicks the iterate out of a bad basin.

    Returns
    -------
    dict of str to ndarray
        ``labels`` (M,), ``batch`` (M,) (0 for GD), ``decay`` (M,); ``kind``, ``loss``,
        ``moved`` (M, n_starts); ``escape_from`` (S,) losses of the spurious minima started
        from; ``basin`` (M, n_starts); ``escape_kind``, ``escape_loss`` (M, S·escape_runs): the
        basin after the run and its minimum's loss (GD's row: GD from there, which stays by
        construction); ``k``, ``n`` scalars.
    """
    V = teacher(k, k)
    W0 = init_students(rng, n_starts, n, k)
    runs = method_runs(methods, tau > 0)
    kinds, losses, moved, ends, basins = [], [], [], [], []

    def run(W_start: np.ndarray, batch: int | None, decay: bool) -> np.ndarray:
        if batch is None:
            return gradient_descent(W_start, V, lr=lr, steps=updates, gtol=0.0)[0]
        eps = method_lr(lr, sgd_lr, batch)
        return online_sgd(
            W_start, V, batch=batch, lr=eps, updates=updates, rng=rng, tau=tau if decay else None
        )

    for _, batch, decay in runs:
        W = run(W0, batch, decay)
        c = classify_ends(W, V, loss_tol=loss_tol, basin_steps=basin_steps, basin_lr=lr)
        kinds.append(c["kind"])
        losses.append(c["loss"])
        moved.append(c["moved"])
        basins.append(c["basin"])
        ends.append(W)
    gd_row = (
        next(i for i, r in enumerate(runs) if r[1] is None)
        if any(r[1] is None for r in runs)
        else None
    )
    if gd_row is not None:
        spurious = np.flatnonzero(kinds[gd_row] == "spurious")[:escape_starts]
        seeds_W = ends[gd_row][spurious]
        from_loss = losses[gd_row][spurious]
    else:
        seeds_W, from_loss = np.zeros((0, n, k)), np.zeros(0)
    starts = np.repeat(seeds_W, escape_runs, axis=0)
    esc_kind = np.empty((len(runs), len(starts)), dtype=object)
    esc_loss = np.full((len(runs), len(starts)), np.nan)
    if len(starts):
        for i, (_, batch, decay) in enumerate(runs):
            c = classify_ends(
                run(starts, batch, decay),
                V,
                loss_tol=loss_tol,
                basin_steps=basin_steps,
                basin_lr=lr,
            )
            esc_kind[i], esc_loss[i] = c["basin"], c["basin_loss"]
    return {
        "k": np.array(k),
        "n": np.array(n),
        "labels": np.array([r[0] for r in runs]),
        "batch": np.array([0 if r[1] is None else r[1] for r in runs]),
        "decay": np.array([r[2] for r in runs]),
        "kind": np.array(kinds, dtype=str).reshape(len(runs), n_starts),
        "basin": np.array(basins, dtype=str).reshape(len(runs), n_starts),
        "loss": np.array(losses),
        "moved": np.array(moved),
        "escape_from": np.repeat(from_loss, escape_runs),
        "escape_kind": esc_kind.astype(str).reshape(len(runs), len(starts)),
        "escape_loss": esc_loss,
    }


@dataclass(frozen=True)
class ShareRow:
    """One method at one size: where its runs ended.

    Attributes
    ----------
    k, n : int
    method : str
    runs : int
    counts : dict of str to int
        Runs per end kind (:data:`END_KINDS`).
    spurious, low, high : float
        Share of runs at a spurious minimum and its 95% Wilson interval.
    basin_spurious, basin_low, basin_high : float
        Share of runs whose end point lies in a spurious minimum's basin (GD from it converges
        there), converged or not, and its 95% interval: Wilson's lower bound with unresolved
        basins counted as not spurious, Wilson's upper bound with them counted as spurious.
        A noisy run that has not settled is not at a minimum, but it has not escaped either:
        the comparison of methods and the verdict use these shares.
    basins : dict of str to int
        Runs per basin (global, spurious, not_converged, diverged).
    """

    k: int
    n: int
    method: str
    runs: int
    counts: dict[str, int]
    spurious: float
    low: float
    high: float
    basin_spurious: float
    basin_low: float
    basin_high: float
    basins: dict[str, int] | None = None


@dataclass(frozen=True)
class EscapeRow:
    """Runs started at spurious minima GD found, by one method at one size.

    Attributes
    ----------
    k, n : int
    method : str
    runs : int
    left : int
        Runs that ended elsewhere: the global minimum, or a minimum of another loss.
    stayed : int
        Runs that ended at the spurious minimum they started in (same loss within 1e-6).
    unresolved : int
        Runs that ended at no critical point within reach (or diverged).
    share, low, high : float
        left / runs and its 95% Wilson interval.
    """

    k: int
    n: int
    method: str
    runs: int
    left: int
    stayed: int
    unresolved: int
    share: float
    low: float
    high: float


@dataclass(frozen=True)
class SpuriousReport:
    """The spurious-minima sweep: shares per size and method, escapes, and the verdict.

    Attributes
    ----------
    updates : int
        Updates every run made (equal for every method).
    shares : list of ShareRow
    escapes : list of EscapeRow
    comparisons : list of dict
        Per size and stochastic method: ``k``, ``n``, ``method`` and ``against_gd`` in
        {"lower", "higher", "overlap"} (95% Wilson intervals disjoint below, above, or not).
    verdict : {"holds", "does not hold", "undecided"}
    sentence : str
    lowest_spurious : float
        The lowest loss of any verified spurious minimum a run ended at (NaN if none): the
        basin rule "E below 1e-5 is the global basin" rests on it lying far above.
    """

    updates: int
    shares: list[ShareRow]
    escapes: list[EscapeRow]
    comparisons: list[dict]
    verdict: str
    sentence: str
    lowest_spurious: float = float("nan")


def _basin_share(basin: np.ndarray) -> tuple[float, float, float]:
    """Share in spurious basins; the interval counts unresolved basins as either."""
    n = len(basin)
    s = int((basin == "spurious").sum())
    u = int((basin == "not_converged").sum())
    return s / max(n, 1), wilson(s, n)[0], wilson(s + u, n)[1]


def summarise(parts: list[dict[str, np.ndarray]], updates: int) -> SpuriousReport:
    """Shares with Wilson intervals, escapes, and the verdict on seed 1.3 from every size's arrays.

    The claim "mini-batch noise helps escape bad minima" ``holds`` when some stochastic method
    ends in spurious minima's basins less often than GD at some size (95% Wilson intervals
    disjoint) and none more often anywhere; ``does not hold`` when some does more often and
    none less, or when no interval is disjoint although GD's share is above zero and the runs
    started at spurious minima stayed (the upper bound of their leaving share below ½);
    ``undecided`` otherwise.
    """
    shares, escapes, comparisons = [], [], []
    for p in parts:
        k, n = int(p["k"]), int(p["n"])
        gd = None
        for i, label in enumerate(p["labels"].tolist()):
            kinds = p["kind"][i]
            s = int((kinds == "spurious").sum())
            lo, hi = wilson(s, len(kinds))
            row = ShareRow(
                k,
                n,
                label,
                len(kinds),
                {e: int((kinds == e).sum()) for e in END_KINDS},
                s / max(len(kinds), 1),
                lo,
                hi,
                *_basin_share(p["basin"][i]),
                {b: int((p["basin"][i] == b).sum()) for b in END_KINDS if b != "saddle"},
            )
            shares.append(row)
            if label == "gd":
                gd = row
            ek = p["escape_kind"][i]
            if ek.size:
                same = (ek == "spurious") & (
                    np.abs(p["escape_loss"][i] - p["escape_from"]) <= 1e-6 * p["escape_from"]
                )
                unresolved = int(np.isin(ek, ["not_converged", "diverged"]).sum())
                left = len(ek) - int(same.sum()) - unresolved
                lo, hi = wilson(left, len(ek))
                escapes.append(
                    EscapeRow(
                        k,
                        n,
                        label,
                        len(ek),
                        left,
                        int(same.sum()),
                        unresolved,
                        left / len(ek),
                        lo,
                        hi,
                    )
                )
        if gd is None:
            continue
        for row in shares:
            if (row.k, row.n) != (k, n) or row.method == "gd":
                continue
            side = against_gd(row.basin_low, row.basin_high, gd.basin_low, gd.basin_high)
            comparisons.append({"k": k, "n": n, "method": row.method, "against_gd": side})
    noisy = [e for e in escapes if e.method != "gd"]
    gd_has = any(r.method == "gd" and r.basin_low > 0 for r in shares)
    verdict, sentence = judge_claim(
        [
            f"{c['method']} at k={c['k']}, n={c['n']}"
            for c in comparisons
            if c["against_gd"] == "lower"
        ],
        [
            f"{c['method']} at k={c['k']}, n={c['n']}"
            for c in comparisons
            if c["against_gd"] == "higher"
        ],
        sum(e.left for e in noisy),
        sum(e.runs for e in noisy),
        gd_has,
        where="in spurious basins",
    )
    at_spurious = np.concatenate(
        [np.asarray(p["loss"])[np.asarray(p["kind"]) == "spurious"] for p in parts] or [[]]
    )
    lowest = float(at_spurious.min()) if at_spurious.size else float("nan")
    return SpuriousReport(updates, shares, escapes, comparisons, verdict, sentence, lowest)


def against_gd(low: float, high: float, gd_low: float, gd_high: float) -> str:
    """``lower``, ``higher`` or ``overlap``: a method's 95% interval against GD's."""
    if high < gd_low:
        return "lower"
    if low > gd_high:
        return "higher"
    return "overlap"


def judge_claim(
    lower: list[str],
    higher: list[str],
    left: int,
    runs: int,
    gd_has: bool,
    *,
    where: str,
) -> tuple[str, str]:
    """The verdict on seed 1.3 from the interval comparisons and the escapes.

    Parameters
    ----------
    lower, higher : list of str
        The methods (with where they ran) whose share of runs ending at bad minima has a 95%
        Wilson interval entirely below / above GD's.
    left, runs : int
        Runs started at bad minima GD found (stochastic methods only), and how many left.
    gd_has : bool
        GD's share has a lower interval bound above 0 somewhere: there is something to escape.
    where : str
        How the share is named in the sentence ("in spurious basins", "at bad minima").

    Returns
    -------
    verdict : {"holds", "does not hold", "undecided"}
        ``holds``: some method lower and none higher; ``does not hold``: some higher and none
        lower, or none disjoint while GD has bad minima and the runs started there stayed (at
        least 10 of them, the upper bound of their leaving share below 10%); else
        ``undecided`` — also when the noise measurably kicks iterates out (the lower bound of
        the leaving share above 0) without lowering the rate from random starts.
    sentence : str
    """
    esc_lo, esc_hi = wilson(left, runs)
    stayed = gd_has and runs >= 10 and esc_hi < 0.1

    def listed(items: list[str]) -> str:
        return ", ".join(items[:6]) + (f" and {len(items) - 6} more" if len(items) > 6 else "")

    if lower and not higher:
        return "holds", (
            f"seed 1.3 holds here: mini-batch runs ended {where} less often than GD (95% Wilson "
            f"intervals disjoint) for {listed(lower)}; never more often"
        )
    if higher and not lower:
        return "does not hold", (
            f"seed 1.3 does not hold here: mini-batch runs ended {where} more often than GD for "
            f"{listed(higher)}; never less often"
        )
    if not lower and not higher and stayed:
        return "does not hold", (
            f"seed 1.3 does not hold here: mini-batch runs ended {where} as often as GD (no 95% "
            "interval disjoint from GD's), and of the runs started at bad minima GD found, "
            f"{left} of {runs} left (95%: {esc_lo:.0%}–{esc_hi:.0%})"
        )
    if lower and higher:
        return "undecided", (
            f"less often than GD for {listed(lower)}, but more often for {listed(higher)}"
        )
    if runs and esc_lo > 0:
        return "undecided", (
            f"from random starts no method ended {where} less often than GD (95% "
            f"intervals overlap), but of the runs started at bad minima GD found, {left} of "
            f"{runs} left (95%: {esc_lo:.0%}–{esc_hi:.0%}): the noise kicks some iterates out, "
            "too few to lower the rate measurably at this sample size"
        )
    return "undecided", (
        "at this sample size no method's 95% interval is disjoint from GD's"
        + (f"; {left} of {runs} runs started at bad minima left" if runs else "")
    )
