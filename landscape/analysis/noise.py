"""Seed 1.3 over its noise axis: where mini-batch noise kicks SGD out of bad minima.

The lecture claims that because each mini-batch gives a different loss surface E⁽ᵗ⁾ (eq 7),
SGD is much less likely than batch gradient descent to stay at an undesirable critical point.
Whether that holds depends on a setting: the noise of an update ε·∇E⁽ᵗ⁾ scales like ε/√B, its
effect over a run like the "temperature" ε/B (for a Langevin picture of SGD, T = ε·σ²/(2B)).
Tested at one operating point the claim can be made to hold or fail at will; this module
measures it as a function over that axis, up to the physical edge where SGD itself diverges.

Everything here works on any problem that offers a loss, its gradient and an unbiased noisy
gradient of batch size B (:class:`ChainProblem`): the closed-form ReLU networks of Safran &
Shamir (:mod:`landscape.analysis.spurious`), an MLP on a data sample
(:mod:`landscape.analysis.escape`), and a tilted double well whose answer is known in closed
form (:class:`DoubleWell`).

The experiment, per problem and batch size B:

1. **The edge.** SGD's divergence step ε_div(B) (:func:`divergence_step`): the ε at which half of
   a set of chains diverge within a fixed number of updates — diverging meaning a non-finite
   loss or a loss above an absolute ceiling, never "a lot higher than where it started" (a
   chain that escapes a bad minimum climbs over a barrier on its way out). It is measured from
   the bad minima and from random starts, both reported; the grid ends below the lower one.
2. **The axis.** ε from ε_div/30 up to 0.95·ε_div, log-spaced and denser near the top
   (:func:`eps_grid`), each run for each horizon U with a constant ε and then a cool-down
   (ε·``cool_factor`` for the last ``cooldown`` of the updates) so that end points settle.
3. **Paired claim from random starts.** The same θ⁽⁰⁾ trained by SGD(ε, B) and by GD at the
   same ε and the same number of updates (is it the noise or the step size?); each end point's
   basin is where GD from it converges (:func:`descend`). An exact McNemar test per cell on
   "ended in a bad basin", Holm-corrected over every cell tested, with Newcombe's paired
   interval for the reduction of the bad share (:func:`paired_difference`). The discordant
   pairs both ways are kept: a selective effect rescues GD's bad starts without sending good
   ones to bad basins.
4. **Escape from each distinct bad minimum.** Chains started at every bad minimum GD found,
   counted per minimum *modulo the problem's symmetry group*: escaped (global basin), stayed
   (the same minimum), moved (another bad minimum) or diverged.
5. **A verdict per region** (:func:`cell_verdict`, :func:`regions`): consecutive ε of one B and
   horizon with one verdict — ``holds``, ``does not hold``, ``undecided``, ``diverges`` or
   ``nothing to escape`` — stated in ε/B and in ε/ε_div.

Divergence is an outcome of its own throughout and never counts for the claim: a diverged SGD
run is a run that did not reach the global basin.

Chains are vectorised: all chains of one B (every start at every ε) take one step together,
and the chains of one start share their noise along the ε axis (common random numbers), so
that along the axis only ε differs; different starts and replicas draw independent noise.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from landscape.rules import RuleError, setting

OUTCOMES = ("escaped", "stayed", "moved", "diverged", "unresolved")
"""What became of a chain started at a bad minimum: its basin is the global minimum's
(escaped), the minimum it started at (stayed), another bad minimum — a different one or a
symmetric copy of it (moved) — or it diverged, or its basin stayed undecided (unresolved)."""

BASINS = ("global", "spurious", "unresolved", "diverged")
"""Where descent from an end point converges (:func:`descend`)."""

VERDICTS = ("holds", "does not hold", "undecided", "diverges", "nothing to escape")
"""A cell's verdict on the claim (:func:`cell_verdict`)."""


# ------------------------------------------------------------------ problems
class ChainProblem(abc.ABC):
    """A loss with an unbiased mini-batch gradient, vectorised over chains (flat θ of size D).

    Attributes
    ----------
    dim : int
        D, the number of (free) parameters.
    global_below : float
        A loss below which descent can only end at the global minimum: every bad minimum lies
        above it (descent never raises E). E.g. 1e-5 for a realisable teacher whose global
        minimum is 0 and whose bad minima sit at E ≈ 0.02.
    basin_lr : float
        The step of the descent that decides a basin (:func:`descend`).
    gtol : float
        ‖∇E‖ at which descent has converged to a critical point.
    stall_tol : float or None
        Also converged when E fell by at most this fraction over the last check of
        :func:`descend`: a minimum on a kink of a piecewise-smooth loss (ReLU on a sample),
        where GD stalls with ‖∇E‖ bounded away from 0. None for smooth losses.
    stay_tol : float
        A chain's basin is the minimum it started at when descent ends within this fraction
        of its norm (``stayed``; :func:`escape_outcomes`), and two minima are one class only
        within it (:meth:`same_minimum`).
    loss_rtol : float
        Two minima of one class have losses within this relative tolerance (:func:`distinct`).
    kicks, kick_size, kick_steps : int, float, int
        The kick test of a minimum on a piecewise-smooth loss (:func:`kicked_back`); 0 kicks
        (smooth losses): the Hessian alone decides.
    """

    dim: int
    global_below: float
    basin_lr: float
    gtol: float = 1e-8
    stall_tol: float | None = None
    stay_tol: float = 1e-4
    loss_rtol: float = 1e-7
    kicks: int = 0
    kick_size: float = 1e-2
    kick_steps: int = 500

    @abc.abstractmethod
    def loss(self, theta: np.ndarray) -> np.ndarray:
        """E(θ); theta of shape (K, D) → (K,)."""

    @abc.abstractmethod
    def grad(self, theta: np.ndarray) -> np.ndarray:
        """∇E(θ); theta of shape (K, D) → (K, D)."""

    @abc.abstractmethod
    def noisy_grad(self, theta: np.ndarray, batch: int, rng: np.random.Generator) -> np.ndarray:
        """An unbiased estimate of ∇E from a mini-batch of ``batch`` samples.

        Parameters
        ----------
        theta : ndarray of shape (R, M, D)
            R independent chains (each draws its own mini-batch), each at M step sizes that
            share that mini-batch (common random numbers along the ε axis).
        batch : int
        rng : numpy.random.Generator

        Returns
        -------
        ndarray of shape (R, M, D)
        """

    @abc.abstractmethod
    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """The Hessian at one point; theta of shape (D,) → (D, D)."""

    def is_minimum(self, theta: np.ndarray, loss: float) -> bool:
        """Whether a point where descent converged (or stalled) is a local minimum.

        A positive definite Hessian; and with ``kicks`` > 0, GD from small kicks around it
        returns (:func:`kicked_back`). The points judged by kicks are remembered, as
        (θ, E, judgement): a point that is one of them (:meth:`same_minimum`, E within
        ``loss_rtol``) takes its judgement.
        """
        if np.linalg.eigvalsh(self.hessian(theta))[0] <= 0:
            return False
        if not self.kicks:
            return True
        judged_before = self.__dict__.setdefault("_kicked", [])
        for point, e, judged in judged_before:
            if abs(e - loss) <= self.loss_rtol * abs(loss) and self.same_minimum(point, theta):
                return judged
        judged = kicked_back(self, theta, loss, np.random.default_rng(0))
        judged_before.append((np.array(theta), loss, judged))
        return judged

    def same_minimum(self, a: np.ndarray, b: np.ndarray) -> bool:
        """Whether minima ``a`` and ``b`` (D,) are one minimum modulo the symmetry group.

        The base problem has no symmetry: the points must coincide within ``stay_tol``·‖a‖.
        """
        return bool(np.linalg.norm(a - b) <= self.stay_tol * max(np.linalg.norm(a), 1e-12))

    def symmetry(self) -> str:
        """The symmetry group :meth:`same_minimum` works modulo, in words."""
        return "none"


class DoubleWell(ChainProblem):
    """A tilted double well E(x) = x⁴/4 − x²/2 + c·x with Gaussian gradient noise of variance σ²/B.

    For 0 < c < 2/(3√3) it has a global minimum x₋ < 0, a bad minimum x₊ > 0 and a barrier
    at the local maximum x₀ between them, all roots of x³ − x + c = 0; the barrier seen from the
    bad minimum is ΔE = E(x₀) − E(x₊). The noisy gradient E'(x) + σξ/√B with ξ ~ N(0, 1) makes
    SGD a discretised Langevin process at temperature T = ε·σ²/(2B), whose escape rate from
    the bad well is Kramers' r = √(E''(x₊)·|E''(x₀)|)/(2π) · exp(−ΔE/T) (:meth:`kramers_rate`).

    Parameters
    ----------
    c : float
        The tilt (default 0.25).
    sigma : float
        Standard deviation of the gradient noise of one sample.
    """

    dim = 1
    basin_lr = 0.1

    def __init__(self, c: float = 0.25, sigma: float = 1.0) -> None:
        if not 0 < c < 2 / (3 * math.sqrt(3)):
            raise ValueError(f"c={c}: two minima need 0 < c < 2/(3√3) ≈ 0.385")
        self.c = float(c)
        self.sigma = float(sigma)
        roots = np.sort(np.roots([1.0, 0.0, -1.0, self.c]).real)
        self.x_global, self.x_barrier, self.x_bad = (float(r) for r in roots)
        e = self._energy
        self.global_below = 0.5 * (e(self.x_global) + e(self.x_bad))

    def _energy(self, x):
        return x**4 / 4 - x**2 / 2 + self.c * x

    def loss(self, theta: np.ndarray) -> np.ndarray:  # noqa: D102
        return self._energy(theta[..., 0])

    def grad(self, theta: np.ndarray) -> np.ndarray:  # noqa: D102
        return theta**3 - theta + self.c

    def noisy_grad(  # noqa: D102
        self, theta: np.ndarray, batch: int, rng: np.random.Generator
    ) -> np.ndarray:
        R = theta.shape[0]
        xi = rng.standard_normal((R, 1, 1))  # one draw per chain, shared along the ε axis
        return self.grad(theta) + (self.sigma / math.sqrt(batch)) * xi

    def hessian(self, theta: np.ndarray) -> np.ndarray:  # noqa: D102
        return np.array([[3 * theta[0] ** 2 - 1]])

    @property
    def barrier(self) -> float:
        """ΔE = E(x₀) − E(x₊), the barrier seen from the bad minimum."""
        return float(self._energy(self.x_barrier) - self._energy(self.x_bad))

    def kramers_rate(self, eps: float, batch: int) -> float:
        """Kramers' escape rate from the bad well per unit time t = ε·updates."""
        T = eps * self.sigma**2 / (2 * batch)
        curv = math.sqrt((3 * self.x_bad**2 - 1) * abs(3 * self.x_barrier**2 - 1))
        return curv / (2 * math.pi) * math.exp(-self.barrier / T)


# ------------------------------------------------------------------ chains
@dataclass(frozen=True)
class Chains:
    """Where chains ended.

    Attributes
    ----------
    theta : ndarray of shape (R, M, D)
        End points (NaN where the chain diverged).
    diverged : ndarray of bool, shape (R, M)
    updates : ndarray of int, shape (R, M)
        Updates made (fewer where a chain diverged or, for GD, was decided early).
    """

    theta: np.ndarray
    diverged: np.ndarray
    updates: np.ndarray


def _cool_at(updates: int, cooldown: float) -> int:
    """The update from which ε is cooled: the last ``cooldown`` fraction of ``updates``."""
    return updates - int(round(cooldown * updates))


def sgd_chains(
    problem: ChainProblem,
    starts: np.ndarray,
    lrs: Sequence[float],
    batch: int,
    updates: int,
    rng: np.random.Generator,
    *,
    cooldown: float = 1 / 3,
    cool_factor: float = 0.1,
    ceiling: float = math.inf,
    check_every: int = 100,
) -> Chains:
    """SGD from R starts at M step sizes at once, every chain for ``updates`` updates.

    θ⁽ᵗ⁺¹⁾ = θ⁽ᵗ⁾ − ε_t ∇E⁽ᵗ⁾(θ⁽ᵗ⁾) (eq 8), with ε_t = ε for the first updates and
    ``cool_factor``·ε for the last ``cooldown`` fraction.

    Parameters
    ----------
    problem : ChainProblem
    starts : ndarray of shape (R, D)
        One start per independent chain (its own noise); repeat a start for replicas.
    lrs : sequence of float, length M
        The step sizes every start runs at (sharing its noise along this axis).
    batch : int
        B, the mini-batch size of the noisy gradient.
    updates : int
    rng : numpy.random.Generator
    cooldown, cool_factor : float
    ceiling : float
        A chain whose loss exceeds this (or is not finite) has diverged: it stops there.
    check_every : int
        Updates between checks of the loss.

    Returns
    -------
    Chains
    """
    starts = np.asarray(starts, dtype=np.float64)
    R, D = starts.shape
    lrs = np.asarray(lrs, dtype=np.float64)
    M = len(lrs)
    theta = np.repeat(starts[:, None, :], M, axis=1)
    eps = np.repeat(lrs[None, :], R, axis=0)
    done = np.full((R, M), updates, dtype=np.int64)
    diverged = np.zeros((R, M), dtype=bool)
    cool_at = _cool_at(updates, cooldown)
    with np.errstate(all="ignore"):  # a diverging chain is a result, not a warning flood
        for t in range(updates):
            if t == cool_at:
                eps *= cool_factor
            g = problem.noisy_grad(theta, batch, rng)
            g *= eps[:, :, None]
            theta -= g
            if (t + 1) % check_every == 0 or t + 1 == updates:
                E = problem.loss(theta.reshape(R * M, D)).reshape(R, M)
                bad = ~(np.isfinite(E) & (E <= ceiling)) & ~diverged
                if bad.any():
                    diverged |= bad
                    done[bad] = t + 1
                    eps[bad] = 0.0
                    # parked at its start: finite numbers keep the vectorised step quiet
                    theta[bad] = np.broadcast_to(starts[:, None, :], theta.shape)[bad]
    theta[diverged] = np.nan
    return Chains(theta, diverged, done)


def gd_chains(
    problem: ChainProblem,
    starts: np.ndarray,
    lrs: Sequence[float],
    updates: int,
    *,
    cooldown: float = 1 / 3,
    cool_factor: float = 0.1,
    ceiling: float = math.inf,
    decided_below: float | None = None,
    check_every: int = 50,
) -> Chains:
    """Batch GD from R starts at M step sizes, on the same schedule as :func:`sgd_chains`.

    A chain stops early when its outcome is decided: at a critical point (‖∇E‖ ≤
    ``problem.gtol``: GD stays there), or, with ``decided_below``, once E is below it (pass it
    only where GD at these ε is a descent, so that no bad minimum, all above it, can follow).

    Returns
    -------
    Chains
    """
    starts = np.asarray(starts, dtype=np.float64)
    R, D = starts.shape
    lrs = np.asarray(lrs, dtype=np.float64)
    M = len(lrs)
    theta = np.repeat(starts[:, None, :], M, axis=1).reshape(R * M, D)
    done = np.full(R * M, updates, dtype=np.int64)
    diverged = np.zeros(R * M, dtype=bool)
    # the chains still running, compacted: a decided chain is written back and dropped, so
    # each step works on one contiguous array
    idx = np.arange(R * M)
    cur = theta.copy()
    eps = np.tile(lrs, R)[:, None]
    cool_at = _cool_at(updates, cooldown)

    def drop(stop: np.ndarray, t: int) -> None:
        nonlocal idx, cur, eps
        theta[idx[stop]] = cur[stop]
        done[idx[stop]] = t
        idx, cur, eps = idx[~stop], cur[~stop], eps[~stop]

    with np.errstate(all="ignore"):
        for t in range(updates):
            if not len(idx):
                break
            if t == cool_at:
                eps = eps * cool_factor
            g = problem.grad(cur)
            still = np.einsum("kd,kd->k", g, g) > problem.gtol**2
            if not still.all():
                drop(~still, t)
                g = g[still]
            g *= eps
            cur -= g
            if (t + 1) % check_every == 0 and len(idx):
                E = problem.loss(cur)
                bad = ~(np.isfinite(E) & (E <= ceiling))
                stop = bad if decided_below is None else bad | (E < decided_below)
                if stop.any():
                    diverged[idx[bad]] = True
                    drop(stop, t + 1)
        if len(idx):
            E = problem.loss(cur)
            diverged[idx[~(np.isfinite(E) & (E <= ceiling))]] = True
            theta[idx] = cur
    theta[diverged] = np.nan
    return Chains(theta.reshape(R, M, D), diverged.reshape(R, M), done.reshape(R, M))


# ------------------------------------------------------------------ basins
@dataclass(frozen=True)
class Basins:
    """Where descent from K points converged.

    Attributes
    ----------
    label : ndarray of str, shape (K,)
        One of :data:`BASINS`.
    theta : ndarray of shape (K, D)
        The point descent reached (NaN where the start was not finite).
    loss : ndarray of shape (K,)
    """

    label: np.ndarray
    theta: np.ndarray
    loss: np.ndarray


def descend(
    problem: ChainProblem,
    theta: np.ndarray,
    *,
    steps: int,
    ceiling: float = math.inf,
    check_every: int = 50,
) -> Basins:
    """Each point's basin: batch GD at ``problem.basin_lr`` until it is decided.

    ``global``: E fell below ``problem.global_below`` (GD never raises E, so it cannot end at a
    bad minimum, all of which lie above); ``spurious``: converged (‖∇E‖ ≤ ``problem.gtol``)
    at a point above it whose Hessian is positive definite — a verified minimum;
    ``unresolved``: neither within ``steps`` (or converged at a point that is not a minimum);
    ``diverged``: the point or the descent is not finite or exceeds ``ceiling``.

    Parameters
    ----------
    problem : ChainProblem
    theta : ndarray of shape (K, D)
    steps : int
        Descent budget.
    ceiling : float
    check_every : int

    Returns
    -------
    Basins
    """
    theta = np.array(theta, dtype=np.float64)
    K = theta.shape[0]
    label = np.full(K, "unresolved", dtype=object)
    finite = np.isfinite(theta).all(axis=1)
    label[~finite] = "diverged"
    theta[~finite] = np.nan
    converged = np.zeros(K, dtype=bool)
    lr = problem.basin_lr
    idx = np.flatnonzero(finite)  # the points still descending, compacted as in gd_chains
    cur = theta[idx]
    last = np.full(len(idx), np.inf)  # E at the previous check (the stall rule)

    def drop(stop: np.ndarray) -> None:
        nonlocal idx, cur, last
        theta[idx[stop]] = cur[stop]
        idx, cur, last = idx[~stop], cur[~stop], last[~stop]

    with np.errstate(all="ignore"):
        for t in range(steps + 1):
            if not len(idx):
                break
            if t % check_every == 0:
                E = problem.loss(cur)
                bad = ~(np.isfinite(E) & (E <= ceiling))
                low = (E < problem.global_below) & ~bad
                label[idx[bad]] = "diverged"
                label[idx[low]] = "global"
                stop = bad | low
                if problem.stall_tol is not None:
                    stalled = ~stop & (last - E <= problem.stall_tol * np.abs(E))
                    converged[idx[stalled]] = True
                    stop |= stalled
                last = E
                if stop.any():
                    drop(stop)
                if not len(idx):
                    break
            if t == steps:
                break
            g = problem.grad(cur)
            still = np.einsum("kd,kd->k", g, g) > problem.gtol**2
            if not still.all():
                converged[idx[~still]] = True
                drop(~still)
                g = g[still]
            g *= lr
            cur -= g
        theta[idx] = cur
    loss = np.full(K, np.nan)
    ok = np.isfinite(theta).all(axis=1)
    if ok.any():
        loss[ok] = problem.loss(theta[ok])
    for i in np.flatnonzero(converged & (label == "unresolved")):
        if loss[i] < problem.global_below:
            label[i] = "global"
        elif problem.is_minimum(theta[i], loss[i]):
            label[i] = "spurious"
    return Basins(label.astype(str), theta, loss)


def kicked_back(
    problem: ChainProblem, theta: np.ndarray, loss: float, rng: np.random.Generator
) -> bool:
    """Whether GD from small kicks around ``theta`` returns to it: a non-smooth minimum's test.

    ``problem.kicks`` points at ``kick_size``·‖θ‖ in random directions each descend for
    ``kick_steps`` steps at ``basin_lr``; θ is a minimum when none of them ends more than
    ``loss_rtol`` below E(θ). On a piecewise-smooth loss, GD can stall on a kink that is not a
    minimum (a descent direction runs along the kink): there a positive definite Hessian of
    one piece says nothing, and a kick finds the way down.
    """
    u = rng.standard_normal((problem.kicks, problem.dim))
    u *= problem.kick_size * np.linalg.norm(theta) / np.linalg.norm(u, axis=1, keepdims=True)
    x = theta[None, :] + u
    with np.errstate(all="ignore"):
        for _ in range(problem.kick_steps):
            x -= problem.basin_lr * problem.grad(x)
        E = problem.loss(x)
    return bool(np.all(np.isfinite(E) & (E >= loss - problem.loss_rtol * abs(loss))))


def distinct(problem: ChainProblem, points: np.ndarray, losses: np.ndarray) -> np.ndarray:
    """Group minima into classes modulo the problem's symmetry group.

    Parameters
    ----------
    points : ndarray of shape (m, D)
    losses : ndarray of shape (m,)

    Returns
    -------
    ndarray of int, shape (m,)
        The class of each point, 0 … C − 1 in order of first appearance.
    """
    reps: list[int] = []
    out = np.empty(len(points), dtype=np.int64)
    for i, (p, e) in enumerate(zip(points, losses, strict=True)):
        for c, j in enumerate(reps):
            if abs(e - losses[j]) <= problem.loss_rtol * max(
                abs(e), 1e-12
            ) and problem.same_minimum(p, points[j]):
                out[i] = c
                break
        else:
            out[i] = len(reps)
            reps.append(i)
    return out


def escape_outcomes(
    problem: ChainProblem, start: np.ndarray, basins: Basins
) -> tuple[np.ndarray, np.ndarray]:
    """What became of chains started at the bad minimum ``start`` (D,).

    Returns
    -------
    outcome : ndarray of str, shape (K,)
        One of :data:`OUTCOMES` per chain (``stayed``: back at ``start`` itself, within
        ``problem.stay_tol``·‖start‖).
    copy : ndarray of bool, shape (K,)
        Among ``moved``: the minimum reached is a symmetric copy of ``start``.
    """
    K = len(basins.label)
    outcome = np.empty(K, dtype=object)
    copy = np.zeros(K, dtype=bool)
    scale = max(float(np.linalg.norm(start)), 1e-12)
    for i, lab in enumerate(basins.label):
        if lab == "global":
            outcome[i] = "escaped"
        elif lab in ("diverged", "unresolved"):
            outcome[i] = lab
        elif np.linalg.norm(basins.theta[i] - start) <= problem.stay_tol * scale:
            outcome[i] = "stayed"
        else:
            outcome[i] = "moved"
            copy[i] = problem.same_minimum(basins.theta[i], start)
    return outcome.astype(str), copy


# ------------------------------------------------------------------ the edge and the axis
@dataclass(frozen=True)
class DivergenceStep:
    """SGD's divergence step: half of the chains diverge within ``updates`` updates.

    Attributes
    ----------
    eps : float
        The estimate: the geometric mean of the final bracket.
    low, high : float
        The bracket: at ``low`` fewer than half diverged, at ``high`` at least half.
    updates : int
    chains : int
    probes : list of (ε, share diverged)
        Every step size tried, in order.
    """

    eps: float
    low: float
    high: float
    updates: int
    chains: int
    probes: list[tuple[float, float]] = field(default_factory=list)


def divergence_step(
    problem: ChainProblem,
    starts: np.ndarray,
    batch: int | None,
    *,
    updates: int,
    rng: np.random.Generator,
    low: float,
    high: float,
    ceiling: float,
    points: int = 6,
    rounds: int = 3,
) -> DivergenceStep:
    """Bracket ε_div by vectorised bisection: each round tries ``points`` ε at once.

    Each round runs every start at ``points`` log-spaced ε in the bracket (constant ε, no
    cool-down) and narrows the bracket to the two neighbours where the share of diverged
    chains crosses ½; a bracket that does not contain the crossing is widened first (×4 down
    or up, at most 8 times).

    Parameters
    ----------
    problem : ChainProblem
    starts : ndarray of shape (R, D)
    batch : int or None
        B, or None for batch GD (whose divergence step on a quadratic is 2/λ_max).
    updates : int
    rng : numpy.random.Generator
    low, high : float
        The first bracket.
    ceiling : float
    points, rounds : int

    Returns
    -------
    DivergenceStep
    """
    probes: list[tuple[float, float]] = []

    def shares(eps: np.ndarray) -> np.ndarray:
        if batch is None:
            ch = gd_chains(problem, starts, eps, updates, cooldown=0.0, ceiling=ceiling)
        else:
            ch = sgd_chains(
                problem, starts, eps, batch, updates, rng, cooldown=0.0, ceiling=ceiling
            )
        s = ch.diverged.mean(axis=0)
        probes.extend(zip(eps.tolist(), s.tolist(), strict=True))
        return s

    for _ in range(8):  # widen until the crossing is inside
        s = shares(np.array([low, high]))
        if s[0] >= 0.5:
            low, high = low / 4, low
        elif s[1] < 0.5:
            low, high = high, high * 4
        else:
            break
    else:
        raise RuntimeError(f"no divergence step found between {low:g} and {high:g}")
    for _ in range(rounds):
        eps = np.geomspace(low, high, points + 2)[1:-1]
        s = shares(eps)
        above = np.flatnonzero(s >= 0.5)
        i = above[0] if len(above) else len(eps)
        grid = np.concatenate([[low], eps, [high]])
        low, high = grid[i], grid[i + 1]
    return DivergenceStep(
        float(math.sqrt(low * high)), float(low), float(high), updates, len(starts), probes
    )


def eps_grid(
    eps_div: float, points: int = 8, low: float = 1 / 30, high: float = 0.95, dense: float = 1.6
) -> np.ndarray:
    """The ε axis: from ``low``·ε_div to ``high``·ε_div, log-spaced and denser near the top.

    log ε_i = log(low·ε_div) + log(high/low)·(1 − (1 − i/(points−1))^dense): with ``dense`` > 1
    the steps shrink towards the top, where the claim's behaviour changes fastest.

    Returns
    -------
    ndarray of shape (points,)
        Increasing.
    """
    x = np.linspace(0.0, 1.0, points)
    u = 1.0 - (1.0 - x) ** dense
    return eps_div * low * (high / low) ** u


# ------------------------------------------------------------------ statistics
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
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return lo, hi


def mcnemar(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value from the discordant pairs ``b`` and ``c``.

    Under the null hypothesis each discordant pair falls either way with probability ½: the
    p-value of the exact binomial test of ``b`` successes in ``b + c`` trials (1 with none).
    """
    if b + c == 0:
        return 1.0
    from scipy.stats import binomtest  # scipy is imported only where a test is computed

    return float(binomtest(b, b + c, 0.5).pvalue)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment: family-wise error control over every cell tested.

    Returns
    -------
    ndarray
        Adjusted p-values in the input order (monotone, at most 1).
    """
    p = np.asarray(pvalues, dtype=np.float64)
    m = len(p)
    if not m:
        return p
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adj = np.maximum.accumulate(adj)
    out = np.empty(m)
    out[order] = adj
    return out


def paired_difference(
    n11: int, n10: int, n01: int, n00: int, z: float = 1.959963984540054
) -> tuple[float, float, float]:
    """Newcombe's paired interval (his method 10) for p₁ − p₂ from a paired 2×2 table.

    Rows are the first classification (GD: bad, good), columns the second (SGD: bad, good):
    p₁ = (n11 + n10)/N, p₂ = (n11 + n01)/N, and p₁ − p₂ = (n10 − n01)/N is the reduction of the
    bad share. The interval squares and adds the Wilson intervals of p₁ and p₂ with a
    correction for their correlation φ (Newcombe 1998, Statistics in Medicine 17:2635).

    Returns
    -------
    (difference, low, high)
    """
    N = n11 + n10 + n01 + n00
    if N == 0:
        return 0.0, -1.0, 1.0
    p1, p2 = (n11 + n10) / N, (n11 + n01) / N
    l1, u1 = wilson(n11 + n10, N, z)
    l2, u2 = wilson(n11 + n01, N, z)
    phi = 0.0
    marg = (n11 + n10) * (n01 + n00) * (n11 + n01) * (n10 + n00)
    if marg > 0:
        B = n11 * n00 - n10 * n01
        C = B - N / 2 if B > N / 2 else (B if B < 0 else 0.0)
        phi = C / math.sqrt(marg)
    d = p1 - p2
    lo = d - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    hi = d + math.sqrt(max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2))
    return d, max(-1.0, lo), min(1.0, hi)


# ------------------------------------------------------------------ verdicts
@dataclass(frozen=True)
class Escape:
    """What became of the chains started at one distinct bad minimum, in one cell.

    Attributes
    ----------
    minimum : int
        The bad minimum's index among the size's distinct bad minima.
    chains : int
        Chains started there.
    escaped, stayed, moved, diverged, unresolved : int
        Chains of each of :data:`OUTCOMES`.
    copies : int
        Of the ``moved`` ones, those that reached a symmetric copy of their minimum.
    share, share_low, share_high : float
        The escaped share and its 95% Wilson interval.
    """

    minimum: int
    chains: int
    escaped: int
    stayed: int
    moved: int
    diverged: int
    unresolved: int = 0
    copies: int = 0
    share: float = math.nan
    share_low: float = math.nan
    share_high: float = math.nan


@dataclass(frozen=True)
class Cell:
    """One point of the axis: SGD(ε, B) against GD(ε) from the same starts, U updates each.

    Attributes
    ----------
    size : str
        The problem's name (e.g. ``8:8``).
    batch : int
    eps : float
    horizon : int
        U, updates of every run.
    eps_div : float
        ε_div(B) the grid was made from.
    starts : int
        Paired starts.
    sgd, gd : dict of str to int
        Runs per basin (:data:`BASINS`); SGD runs that diverged during training count as
        ``diverged``.
    table : (int, int, int, int)
        n11, n10, n01, n00 of "bad" (not in the global basin) for GD (rows) and SGD (columns):
        n10 are GD's bad starts SGD rescued, n01 GD's good starts SGD sent elsewhere
        (``global_to_spurious`` counts those that SGD sent to a spurious basin).
    global_to_spurious : int
    reduction, low, high : float
        GD's bad share minus SGD's and Newcombe's 95% paired interval.
    p : float
        Exact McNemar p-value; ``p_holm`` the Holm-adjusted one (NaN where no pair differs).
    verdict : str
        One of :data:`VERDICTS`.
    escapes : list of Escape
        Per distinct bad minimum, what became of its chains.
    """

    size: str
    batch: int
    eps: float
    horizon: int
    eps_div: float
    starts: int
    sgd: dict[str, int]
    gd: dict[str, int]
    table: tuple[int, int, int, int]
    global_to_spurious: int
    reduction: float
    low: float
    high: float
    p: float
    p_holm: float
    verdict: str
    escapes: list[Escape] = field(default_factory=list)

    @property
    def eps_over_b(self) -> float:
        """ε/B, the noise scale of the axis."""
        return self.eps / self.batch

    @property
    def eps_over_div(self) -> float:
        """ε/ε_div(B): where the cell sits below SGD's own divergence step."""
        return self.eps / self.eps_div


def paired_table(gd_bad: np.ndarray, sgd_bad: np.ndarray) -> tuple[int, int, int, int]:
    """n11, n10, n01, n00 of two paired boolean outcomes (rows GD, columns SGD)."""
    gd_bad, sgd_bad = np.asarray(gd_bad, bool), np.asarray(sgd_bad, bool)
    return (
        int((gd_bad & sgd_bad).sum()),
        int((gd_bad & ~sgd_bad).sum()),
        int((~gd_bad & sgd_bad).sum()),
        int((~gd_bad & ~sgd_bad).sum()),
    )


def cell_verdict(
    table: tuple[int, int, int, int],
    sgd_diverged: int,
    p_holm: float,
    high: float,
    escaped: int = 0,
    chains: int = 0,
    *,
    alpha: float = 0.05,
    margin: float = 0.05,
    escape_floor: float = 0.15,
) -> str:
    """The verdict of one cell.

    - ``diverges``: at least half of SGD's runs diverged (beyond its edge: no evidence either
      way, and never for the claim);
    - ``nothing to escape``: neither method ended any run in a bad basin;
    - ``holds``: SGD ended in bad basins less often than GD from the same starts (Holm-adjusted
      exact McNemar p < ``alpha``, more rescued pairs than harmed);
    - ``does not hold``: SGD did worse (same test, more harmed pairs); or the 95% interval
      excludes a reduction of ``margin`` or more (the noise changes less than that); or, the
      paired test showing nothing, the direct test says the noise kicks (almost) nothing out:
      of the ``chains`` started at the bad minima, ``escaped`` reached the global basin, and the
      95% Wilson upper bound of that share is below ``escape_floor``;
    - ``undecided``: none of these.
    """
    n11, n10, n01, n00 = table
    n = n11 + n10 + n01 + n00
    if n and sgd_diverged >= 0.5 * n:
        return "diverges"
    if n11 + n10 + n01 == 0:
        return "nothing to escape"
    if p_holm < alpha:
        return "holds" if n10 > n01 else "does not hold"
    if high < margin:
        return "does not hold"
    if chains and wilson(escaped, chains)[1] < escape_floor:
        return "does not hold"
    return "undecided"


def judge(
    cells: list[Cell], *, alpha: float = 0.05, margin: float = 0.05, escape_floor: float = 0.15
) -> list[Cell]:
    """Holm-correct every cell's McNemar p-value over the cells tested and give each a verdict.

    Cells whose pairs never differ (no discordant pair) are not tested (p = 1, adjusted NaN).
    """
    tested = [i for i, c in enumerate(cells) if c.table[1] + c.table[2] > 0]
    adjusted = holm([cells[i].p for i in tested])
    p_holm = [math.nan] * len(cells)
    for i, a in zip(tested, adjusted, strict=True):
        p_holm[i] = float(a)
    out = []
    for c, ph in zip(cells, p_holm, strict=True):
        verdict = cell_verdict(
            c.table,
            c.sgd.get("diverged", 0),
            1.0 if math.isnan(ph) else ph,
            c.high,
            sum(e.escaped for e in c.escapes),
            sum(e.chains for e in c.escapes),
            alpha=alpha,
            margin=margin,
            escape_floor=escape_floor,
        )
        out.append(_replace(c, p_holm=ph, verdict=verdict))
    return out


def _replace(cell: Cell, **changes) -> Cell:
    from dataclasses import replace

    return replace(cell, **changes)


@dataclass(frozen=True)
class Region:
    """Consecutive ε of one size, batch size and horizon with one verdict.

    Attributes
    ----------
    size : str
    batch, horizon : int
    verdict : str
    eps_low, eps_high : float
        The first and last ε of the region (ε/B and ε/ε_div follow).
    cells : int
    eps_div : float
    """

    size: str
    batch: int
    horizon: int
    verdict: str
    eps_low: float
    eps_high: float
    cells: int
    eps_div: float

    @property
    def over_b(self) -> tuple[float, float]:
        """The region in ε/B."""
        return self.eps_low / self.batch, self.eps_high / self.batch

    @property
    def over_div(self) -> tuple[float, float]:
        """The region in ε/ε_div(B)."""
        return self.eps_low / self.eps_div, self.eps_high / self.eps_div


def regions(cells: list[Cell]) -> list[Region]:
    """Runs of one verdict along the ε axis, per size, batch size and horizon."""
    out: list[Region] = []
    keys = sorted({(c.size, c.horizon, c.batch) for c in cells}, key=lambda k: (k[0], k[1], k[2]))
    for size, horizon, batch in keys:
        row = sorted(
            (c for c in cells if (c.size, c.horizon, c.batch) == (size, horizon, batch)),
            key=lambda c: c.eps,
        )
        start = 0
        for i in range(1, len(row) + 1):
            if i == len(row) or row[i].verdict != row[start].verdict:
                out.append(
                    Region(
                        size,
                        batch,
                        horizon,
                        row[start].verdict,
                        row[start].eps,
                        row[i - 1].eps,
                        i - start,
                        row[start].eps_div,
                    )
                )
                start = i
    return out


def _span(lo: float, hi: float) -> str:
    return f"{lo:.3g}" if lo == hi else f"[{lo:.3g}, {hi:.3g}]"


def describe_regions(regs: list[Region], size: str, horizon: int) -> str:
    """One sentence of where the claim holds for one size and horizon, in ε/B.

    E.g. ``B=1: holds for ε/B in [0.02, 0.03] (0.5–0.8 ε_div); does not hold for ε/B ≤ 0.015;
    B=64: does not hold up to ε/B = 0.009, diverges above``.
    """
    parts = []
    for batch in sorted({r.batch for r in regs if (r.size, r.horizon) == (size, horizon)}):
        row = [r for r in regs if (r.size, r.horizon, r.batch) == (size, horizon, batch)]
        bits = []
        for r in row:
            lo, hi = r.over_b
            dlo, dhi = r.over_div
            where = f"ε/B {_span(lo, hi)} ({_span(dlo, dhi)}·ε_div)"
            bits.append(f"{r.verdict} for {where}")
        parts.append(f"B={batch}: " + "; ".join(bits))
    return " | ".join(parts)


# ------------------------------------------------------------------ the experiment
@dataclass(frozen=True)
class AxisConfig:
    """How the noise axis is swept (the spec's ``[analysis]`` fields of the same names).

    Attributes
    ----------
    grid : tuple of float
        Explicit step sizes for every B; empty: the grid is made from ε_div(B) (``auto``).
    grid_points : int
    grid_low, grid_high : float
        The auto grid runs from ``grid_low``·ε_div to ``grid_high``·ε_div (:func:`eps_grid`).
    horizons : tuple of int
        U, updates of every run (one set of cells per horizon).
    cooldown, cool_factor : float
        The last ``cooldown`` fraction of the updates run at ``cool_factor``·ε.
    n_starts : int
        Paired random starts per cell.
    chains : int
        Chains per distinct bad minimum per cell.
    ceiling : float
        The absolute loss above which a run has diverged (besides a non-finite loss).
    div_updates, div_chains : int
        Updates and chains of each probe of the divergence step.
    basin_steps : int
        Descent budget that decides a basin, and GD's reference run from the random starts.
    lr : float
        GD's reference ε (the run that finds the bad minima) — the descent of a basin uses
        ``problem.basin_lr``.
    margin : float
        The smallest reduction of the bad share worth calling an effect (:func:`cell_verdict`).
    escape_floor : float
        A cell whose chains started at the bad minima escape with a 95% upper bound below this
        share kicks (almost) nothing out (:func:`cell_verdict`).
    alpha : float
        Family-wise error rate of the Holm-corrected tests.
    """

    grid: tuple[float, ...] = ()
    grid_points: int = 8
    grid_low: float = 1 / 30
    grid_high: float = 0.95
    horizons: tuple[int, ...] = (3000, 30000)
    cooldown: float = 1 / 3
    cool_factor: float = 0.1
    n_starts: int = 200
    chains: int = 64
    ceiling: float = 100.0
    div_updates: int = 2000
    div_chains: int = 16
    basin_steps: int = 20000
    lr: float = 0.5
    margin: float = 0.05
    escape_floor: float = 0.15
    alpha: float = 0.05


def _unique(name: str, values) -> None:
    """Units of work are named by these values: each must appear once."""
    twice = sorted({v for v in values if list(values).count(v) > 1})
    if twice:
        raise RuleError(f"{name}: {', '.join(map(repr, twice))} listed twice; list each once")


@dataclass(frozen=True)
class AxisSettings:
    """The spec's fields of the noise axis (spurious and escape), each with its rule.

    Attributes
    ----------
    n_starts : int
        Paired random starts per cell.
    batches : tuple of int
        The batch sizes B: one unit of work each (per size).
    grid : "auto" or tuple of float
        ``auto``: ``grid_points`` step sizes from SGD's own divergence step ε_div(B), from
        ``grid_low``·ε_div to ``grid_high``·ε_div, log-spaced and denser near the top; a list
        is used for every B.
    grid_points : int
        Step sizes of an ``auto`` grid.
    grid_low, grid_high : float
        Ends of an ``auto`` grid, as fractions of ε_div(B).
    horizons : tuple of int
        Updates U of every run; each horizon is a set of cells of its own.
    cooldown, cool_factor : float
        The last ``cooldown`` fraction of a run's updates use ``cool_factor``·ε, so that end
        points settle.
    chains : int
        Chains started at each distinct bad minimum, per cell.
    ceiling : float
        A run whose loss exceeds this (or is not finite) has diverged: an absolute bound, never
        one relative to where the run started.
    div_updates, div_chains : int
        Updates and chains of each probe of SGD's divergence step.
    basin_steps : int
        GD steps from an end point that decide its basin.
    margin : float
        The smallest reduction of the share of bad basins worth calling an effect: a cell whose
        95% paired interval excludes it does not hold.
    escape_floor : float
        A cell whose chains started at the bad minima escape with a 95% upper bound below this
        share, and whose paired test shows nothing, does not hold: the noise kicks (almost)
        nothing out.
    alpha : float
        Family-wise error rate of the Holm-corrected McNemar tests.
    """

    n_starts: int = setting(128, low=1, high=1_000_000)
    batches: tuple[int, ...] = setting((1, 8, 64), low=1, each=True)
    grid: str | tuple[float, ...] = "auto"
    grid_points: int = setting(8, low=2)
    grid_low: float = setting(1 / 30, low=0, high=1, open_low=True)
    grid_high: float = setting(0.95, low=0, high=1, open_low=True)
    horizons: tuple[int, ...] = setting((3000, 30000), low=1, each=True)
    cooldown: float = setting(1 / 3, low=0, high=1, open_high=True)
    cool_factor: float = setting(0.1, low=0, high=1, open_low=True)
    chains: int = setting(64, low=1)
    ceiling: float = setting(100.0, low=0, open_low=True)
    div_updates: int = setting(2000, low=1)
    div_chains: int = setting(16, low=2)
    basin_steps: int = setting(20000, low=1)
    margin: float = setting(0.05, low=0, high=1, open_low=True, open_high=True)
    escape_floor: float = setting(0.15, low=0, high=1, open_low=True, open_high=True)
    alpha: float = setting(0.05, low=0, high=1, open_low=True, open_high=True)

    def check(self) -> None:
        """Cross-field rules: lists non-empty and unique, the grid increasing, low < high."""
        if not self.batches:
            raise RuleError("analysis.batches must list at least one batch size B >= 1")
        _unique("analysis.batches", self.batches)
        if isinstance(self.grid, str):
            if self.grid != "auto":
                raise RuleError(
                    f"analysis.grid={self.grid!r} is unknown; allowed: 'auto' or a list of "
                    "step sizes"
                )
        else:
            if len(self.grid) < 2:
                raise RuleError("analysis.grid must list at least 2 step sizes (or be 'auto')")
            steps = zip(self.grid[:-1], self.grid[1:], strict=True)
            if any(e <= 0 for e in self.grid) or any(y <= x for x, y in steps):
                raise RuleError(
                    f"analysis.grid={list(self.grid)} must be positive and increasing (or 'auto')"
                )
        if not self.grid_low < self.grid_high:
            raise RuleError(
                f"analysis.grid_low={self.grid_low:g}, grid_high={self.grid_high:g}: need "
                "0 < grid_low < grid_high <= 1 (fractions of the divergence step)"
            )
        if not self.horizons:
            raise RuleError("analysis.horizons must list at least one number of updates")
        _unique("analysis.horizons", self.horizons)

    def axis(self, lr: float) -> AxisConfig:
        """The engine's configuration, with GD's reference ε ``lr`` (``trainer.lr``)."""
        return AxisConfig(
            grid=() if isinstance(self.grid, str) else tuple(self.grid),
            grid_points=self.grid_points,
            grid_low=self.grid_low,
            grid_high=self.grid_high,
            horizons=tuple(self.horizons),
            cooldown=self.cooldown,
            cool_factor=self.cool_factor,
            n_starts=self.n_starts,
            chains=self.chains,
            ceiling=self.ceiling,
            div_updates=self.div_updates,
            div_chains=self.div_chains,
            basin_steps=self.basin_steps,
            lr=lr,
            margin=self.margin,
            escape_floor=self.escape_floor,
            alpha=self.alpha,
        )


def axis_trainer(kind: str):
    """The ``[trainer]`` rule of a noise-axis kind: only ``trainer.lr`` is its own."""

    def check(t) -> None:
        from landscape.train import TrainConfig

        default = TrainConfig()
        for name in TrainConfig.__dataclass_fields__:
            if name != "lr" and getattr(t, name) != getattr(default, name):
                raise RuleError(
                    f"{kind}: trainer.{name}={getattr(t, name)!r} is not used; GD's reference "
                    "runs take trainer.lr, every other run analysis.batches, grid and horizons"
                )

    return check


def earlier(name: str):
    """Where the noise axis's first version kept its report: the artifact ``NAME.json``."""

    def read(attrs, read_json):
        summary = attrs.get(name)
        if isinstance(summary, dict) and summary.get("format") == 2:
            return read_json(f"{name}.json")
        return None

    return read


def earlier_found(name: str):
    """The verdict a study of an earlier version of the analysis kept in its attr ``name``."""

    def found(attrs):
        summary = attrs.get(name)
        verdict = summary.get("verdict") if isinstance(summary, dict) else None
        return f"seed 1.3 {verdict}" if verdict else None

    return found


def unit_value(arrays: dict) -> float:
    """A unit trial's value: GD's share of its reference runs in a spurious basin."""
    return float((arrays["ref_basin"] == "spurious").mean())


def unit_attrs(arrays: dict) -> dict:
    """A unit trial's attrs: its divergence step and the distinct bad minima it found."""
    return {"eps_div": float(arrays["eps_div"]), "distinct_minima": len(arrays["minima_loss"])}


# Sub-streams of one unit's generator (see :func:`run_axis`): each phase draws from its own.
_EDGE_MINIMA, _EDGE_STARTS, _FROM_STARTS, _FROM_MINIMA = 1, 2, 3, 4


def _hessian_extremes(problem: ChainProblem, theta: np.ndarray) -> tuple[float, float]:
    lam = np.linalg.eigvalsh(problem.hessian(theta))
    return float(lam[0]), float(lam[-1])


def reference_minima(
    problem: ChainProblem, starts: np.ndarray, cfg: AxisConfig
) -> dict[str, np.ndarray]:
    """GD's reference run from the random starts: its basins and the distinct bad minima.

    Returns
    -------
    dict of str to ndarray
        ``ref_basin`` (S,), ``minima`` (C, D) a representative of each distinct bad minimum
        (modulo the problem's symmetry group), ``minima_loss``, ``minima_count`` (starts whose
        basin it is, copies included), ``minima_lmin``, ``minima_lmax`` (C,) the Hessian's
        extreme eigenvalues there, ``global_lmax`` (λ_max at a global minimum GD reached, NaN
        if none).
    """
    ref = gd_chains(
        problem,
        starts,
        [cfg.lr],
        cfg.basin_steps,
        cooldown=0.0,
        ceiling=cfg.ceiling,
        decided_below=problem.global_below,
    )
    b = descend(problem, ref.theta[:, 0], steps=cfg.basin_steps, ceiling=cfg.ceiling)
    bad = np.flatnonzero(b.label == "spurious")
    cls = distinct(problem, b.theta[bad], b.loss[bad]) if len(bad) else np.zeros(0, int)
    C = int(cls.max()) + 1 if len(cls) else 0
    reps = np.array([bad[np.flatnonzero(cls == c)[0]] for c in range(C)], dtype=int)
    lams = [_hessian_extremes(problem, b.theta[i]) for i in reps]
    glob = np.flatnonzero(b.label == "global")
    # λ_max beside the global minimum, where descent first fell below global_below (at the
    # minimum itself a student unit may coincide with a teacher's, where E is not smooth)
    global_lmax = _hessian_extremes(problem, b.theta[glob[0]])[1] if len(glob) else math.nan
    return {
        "ref_basin": b.label,
        "minima": b.theta[reps].reshape(C, problem.dim),
        "minima_loss": b.loss[reps],
        "minima_count": np.array([(cls == c).sum() for c in range(C)], dtype=np.int64),
        "minima_lmin": np.array([x[0] for x in lams]),
        "minima_lmax": np.array([x[1] for x in lams]),
        "global_lmax": np.array(global_lmax),
    }


def run_axis(
    problem: ChainProblem,
    starts: np.ndarray,
    batch: int,
    cfg: AxisConfig,
    stream,
) -> dict[str, np.ndarray]:
    """One batch size B of one problem: its edge, its ε grid and every cell of every horizon.

    Parameters
    ----------
    problem : ChainProblem
    starts : ndarray of shape (S, D)
        The paired random starts (the same for every B of the problem).
    batch : int
    cfg : AxisConfig
    stream : callable
        ``stream(i)`` returns the generator of sub-stream ``i`` of this unit.

    Returns
    -------
    dict of str to ndarray
        What :func:`reference_minima` returns, and ``batch``; ``edge_minima`` and
        ``edge_starts`` (3,): ε_div with its bracket from the bad minima (NaN without any) and
        from the random starts; ``eps_div``; ``eps`` (M,); ``horizons`` (H,); ``sgd_basin``,
        ``gd_basin`` (H, S, M) the basin of each paired run; ``esc_outcome`` (H, C, chains, M)
        of :data:`OUTCOMES` and ``esc_copy`` (moved to a symmetric copy of its start).
    """
    starts = np.asarray(starts, dtype=np.float64)
    ref = reference_minima(problem, starts, cfg)
    minima = ref["minima"]
    C = len(minima)
    lmax = ref["global_lmax"].item()
    if not np.isfinite(lmax):
        lmax = ref["minima_lmax"].max() if C else 1.0
    low, high = 2.0 / lmax / 300, 2.0 / lmax * 1.5
    n_div = cfg.div_chains

    def edge(points: np.ndarray, sub: int) -> DivergenceStep:
        return divergence_step(
            problem,
            points,
            batch,
            updates=cfg.div_updates,
            rng=stream(sub),
            low=low,
            high=high,
            ceiling=cfg.ceiling,
        )

    from_minima = edge(np.resize(minima, (n_div, problem.dim)), _EDGE_MINIMA) if C else None
    from_starts = edge(starts[:n_div], _EDGE_STARTS)
    eps_div = min(from_starts.eps, from_minima.eps if from_minima else math.inf)
    eps = (
        np.asarray(cfg.grid, dtype=np.float64)
        if cfg.grid
        else eps_grid(eps_div, cfg.grid_points, cfg.grid_low, cfg.grid_high)
    )
    M, S, H = len(eps), len(starts), len(cfg.horizons)
    sgd_basin = np.empty((H, S, M), dtype="<U10")
    gd_basin = np.empty((H, S, M), dtype="<U10")
    esc_outcome = np.empty((H, C, cfg.chains, M), dtype="<U10")
    esc_copy = np.zeros((H, C, cfg.chains, M), dtype=bool)
    # GD is a descent below 2/λ_max at the global minimum: there, once E is below every bad
    # minimum, no bad basin can follow and the run is decided
    stable = eps < 1.8 / lmax
    run = {"cooldown": cfg.cooldown, "cool_factor": cfg.cool_factor, "ceiling": cfg.ceiling}
    for h, U in enumerate(cfg.horizons):
        ch = sgd_chains(problem, starts, eps, batch, U, stream(_FROM_STARTS * 100 + h), **run)
        b = descend(
            problem, ch.theta.reshape(S * M, -1), steps=cfg.basin_steps, ceiling=cfg.ceiling
        )
        sgd_basin[h] = b.label.reshape(S, M)
        for part, decided in ((stable, problem.global_below), (~stable, None)):
            if not part.any():
                continue
            g = gd_chains(problem, starts, eps[part], U, decided_below=decided, **run)
            gb = descend(
                problem,
                g.theta.reshape(-1, problem.dim),
                steps=cfg.basin_steps,
                ceiling=cfg.ceiling,
            )
            gd_basin[h][:, part] = gb.label.reshape(S, int(part.sum()))
        for c in range(C):
            rep = np.repeat(minima[c][None], cfg.chains, axis=0)
            ch = sgd_chains(
                problem, rep, eps, batch, U, stream(_FROM_MINIMA * 100 + 10 * h + c), **run
            )
            bm = descend(
                problem,
                ch.theta.reshape(-1, problem.dim),
                steps=cfg.basin_steps,
                ceiling=cfg.ceiling,
            )
            out, copy = escape_outcomes(problem, minima[c], bm)
            esc_outcome[h, c] = out.reshape(cfg.chains, M)
            esc_copy[h, c] = copy.reshape(cfg.chains, M)

    def triple(e: DivergenceStep | None) -> np.ndarray:
        return np.array([math.nan] * 3 if e is None else [e.eps, e.low, e.high])

    return {
        **ref,
        "batch": np.array(batch),
        "edge_minima": triple(from_minima),
        "edge_starts": triple(from_starts),
        "eps_div": np.array(eps_div),
        "eps": eps,
        "horizons": np.asarray(cfg.horizons, dtype=np.int64),
        "sgd_basin": sgd_basin,
        "gd_basin": gd_basin,
        "esc_outcome": esc_outcome,
        "esc_copy": esc_copy,
    }


# ------------------------------------------------------------------ the summary
@dataclass(frozen=True)
class Minimum:
    """A distinct bad minimum GD found from the random starts (modulo the symmetry group).

    Attributes
    ----------
    size : str
    index : int
    loss : float
    count : int
        Starts whose GD basin it is (any of its symmetric copies).
    lambda_min, lambda_max : float
        The Hessian's extreme eigenvalues there (λ_min > 0: a verified minimum).
    """

    size: str
    index: int
    loss: float
    count: int
    lambda_min: float
    lambda_max: float


@dataclass(frozen=True)
class Edge:
    """SGD's divergence step at one size and batch size.

    Attributes
    ----------
    size : str
    batch : int
    eps_div : float
        The one the grid was made from: the lower of the two below.
    from_minima, from_starts : (float, float, float)
        ε_div with its bracket, measured from the bad minima (NaN without any) and from
        random starts.
    gd_limit : float
        2/λ_max at the global minimum: where batch GD itself stops converging there.
    """

    size: str
    batch: int
    eps_div: float
    from_minima: tuple[float, float, float]
    from_starts: tuple[float, float, float]
    gd_limit: float


@dataclass(frozen=True)
class Sample:
    """GD's reference run at one size.

    Attributes
    ----------
    size : str
    starts : int
    basins : dict of str to int
        GD's reference runs per basin (:data:`BASINS`).
    bad, bad_low, bad_high : float
        Their share in bad basins with its Wilson interval.
    distinct : int
        Distinct bad minima modulo the symmetry group.
    symmetry : str
    """

    size: str
    starts: int
    basins: dict[str, int]
    bad: float
    bad_low: float
    bad_high: float
    distinct: int
    symmetry: str


@dataclass(frozen=True)
class AxisReport:
    """The claim of seed 1.3 over its noise axis.

    Attributes
    ----------
    samples : list of Sample
    minima : list of Minimum
    edges : list of Edge
    cells : list of Cell
        Every (size, B, ε, U), judged.
    regions : list of Region
    sentences : dict of str to str
        Per size and horizon (key ``SIZE U=…``), where the claim holds: :func:`describe_regions`.
    verdict : str
        ``holds`` (in some region), ``does not hold`` (no cell holds, some does not),
        ``undecided``, or ``nothing to escape``.
    sentence : str
        The headline: where it holds and where it does not, in ε/B.
    config : dict
        The :class:`AxisConfig` it was run with.
    """

    samples: list[Sample]
    minima: list[Minimum]
    edges: list[Edge]
    cells: list[Cell]
    regions: list[Region]
    sentences: dict[str, str]
    verdict: str
    sentence: str
    config: dict


def _counts(values: np.ndarray, keys: Sequence[str]) -> dict[str, int]:
    return {k: int((values == k).sum()) for k in keys}


def summarise_axis(
    parts: list[tuple[str, dict[str, np.ndarray]]], cfg: AxisConfig, symmetry: str = ""
) -> AxisReport:
    """Cells, tests, regions and the verdict from every unit's arrays (:func:`run_axis`).

    Parameters
    ----------
    parts : list of (size, arrays)
        One entry per size and batch size.
    cfg : AxisConfig
    symmetry : str
        The symmetry group minima are counted modulo, in words.
    """
    from dataclasses import asdict

    samples: dict[str, Sample] = {}
    minima: dict[tuple[str, int], Minimum] = {}
    edges, cells = [], []
    for size, p in parts:
        B = int(p["batch"])
        ref = p["ref_basin"]
        if size not in samples:
            n_bad = int((ref == "spurious").sum())
            lo, hi = wilson(n_bad, len(ref))
            samples[size] = Sample(
                size,
                len(ref),
                _counts(ref, BASINS),
                n_bad / max(len(ref), 1),
                lo,
                hi,
                len(p["minima_loss"]),
                symmetry,
            )
            for c in range(len(p["minima_loss"])):
                minima[(size, c)] = Minimum(
                    size,
                    c,
                    float(p["minima_loss"][c]),
                    int(p["minima_count"][c]),
                    float(p["minima_lmin"][c]),
                    float(p["minima_lmax"][c]),
                )
        gl = float(p["global_lmax"])
        edges.append(
            Edge(
                size,
                B,
                float(p["eps_div"]),
                tuple(float(x) for x in p["edge_minima"]),
                tuple(float(x) for x in p["edge_starts"]),
                2.0 / gl if np.isfinite(gl) and gl > 0 else math.nan,
            )
        )
        for h, U in enumerate(p["horizons"].tolist()):
            for m, eps in enumerate(p["eps"].tolist()):
                sgd = p["sgd_basin"][h, :, m]
                gd = p["gd_basin"][h, :, m]
                table = paired_table(gd != "global", sgd != "global")
                d, lo, hi = paired_difference(*table)
                escapes = []
                for c in range(p["esc_outcome"].shape[1]):
                    out = p["esc_outcome"][h, c, :, m]
                    n_esc = int((out == "escaped").sum())
                    slo, shi = wilson(n_esc, len(out))
                    escapes.append(
                        Escape(
                            minimum=c,
                            chains=len(out),
                            **_counts(out, OUTCOMES),
                            copies=int(p["esc_copy"][h, c, :, m].sum()),
                            share=n_esc / max(len(out), 1),
                            share_low=slo,
                            share_high=shi,
                        )
                    )
                cells.append(
                    Cell(
                        size,
                        B,
                        float(eps),
                        int(U),
                        float(p["eps_div"]),
                        len(sgd),
                        _counts(sgd, BASINS),
                        _counts(gd, BASINS),
                        table,
                        int(((gd == "global") & (sgd == "spurious")).sum()),
                        d,
                        lo,
                        hi,
                        mcnemar(table[1], table[2]),
                        math.nan,
                        "",
                        escapes,
                    )
                )
    cells = judge(cells, alpha=cfg.alpha, margin=cfg.margin, escape_floor=cfg.escape_floor)
    regs = regions(cells)
    sentences = {
        f"{size} U={U}": describe_regions(regs, size, U)
        for size in samples
        for U in sorted({c.horizon for c in cells if c.size == size})
    }
    verdict, sentence = headline(cells, regs, list(samples.values()))
    return AxisReport(
        list(samples.values()),
        list(minima.values()),
        edges,
        cells,
        regs,
        sentences,
        verdict,
        sentence,
        asdict(cfg),
    )


def headline(cells: list[Cell], regs: list[Region], samples: list[Sample]) -> tuple[str, str]:
    """The verdict over the whole axis and its one-sentence summary.

    A size where neither GD's reference runs nor any paired GD run met a bad basin has nothing
    to escape from: it is named as such and left out of the rest. Over the other sizes, where
    the claim holds is said per batch size in ε/B; then where it does not — below the lowest
    ε/B it holds at, or, for a B where it holds nowhere, up to the ε/B beyond which SGD
    diverges — and where it stays undecided.
    """
    nothing = [s.size for s in samples if s.bad == 0 and not _any_bad(cells, s)]
    live = [c for c in cells if c.size not in nothing]
    held = [r for r in regs if r.verdict == "holds" and r.size not in nothing]
    holds, fails, unsure = [], [], []
    for batch in sorted({c.batch for c in live}):
        row = [c for c in live if c.batch == batch]
        rs = [r for r in held if r.batch == batch]
        going = [c for c in row if c.verdict != "diverges"]
        edge = " (above it SGD diverges)" if len(going) < len(row) else ""
        if rs:
            lo = min(r.over_b[0] for r in rs)
            hi = max(r.over_b[1] for r in rs)
            where = ", ".join(sorted({r.size for r in rs}))
            us = ", ".join(str(u) for u in sorted({r.horizon for r in rs}))
            at = f"ε/B = {lo:.3g}" if lo == hi else f"ε/B in {_span(lo, hi)}"
            holds.append(f"at B={batch} for {at} ({where}; U = {us})")
            below = [c for c in row if c.eps_over_b < lo and c.verdict == "does not hold"]
            if below:
                fails.append(f"at B={batch} below ε/B = {max(c.eps_over_b for c in below):.3g}")
            continue
        if not going:
            fails.append(f"at B={batch}: SGD diverges at every ε tried")
            continue
        top = max(c.eps_over_b for c in going)
        no = [c.eps_over_b for c in going if c.verdict == "does not hold"]
        if all(c.verdict in ("does not hold", "nothing to escape") for c in going):
            fails.append(f"at B={batch} for any ε/B up to {top:.3g}{edge}")
        elif no:
            fails.append(f"at B={batch} up to ε/B = {max(no):.3g}")
            unsure.append(f"at B={batch} above it (to ε/B = {top:.3g}{edge})")
        else:
            unsure.append(f"at B={batch} (up to ε/B = {top:.3g}{edge})")
    tail = ""
    if unsure:
        tail += "; undecided " + ", ".join(unsure)
    if nothing:
        tail += f"; nothing to escape from at {', '.join(nothing)} (GD met no bad basin)"
    if holds:
        text = "seed 1.3 holds " + "; ".join(holds)
        if fails:
            text += "; does not hold " + "; ".join(fails)
        return "holds", text + tail
    if fails:
        return "does not hold", "seed 1.3 does not hold " + "; ".join(fails) + tail
    if not live:
        return "nothing to escape", (
            f"seed 1.3 cannot be tested: nothing to escape from at {', '.join(nothing)} "
            "(GD met no bad basin)"
        )
    rest = f"; nothing to escape from at {', '.join(nothing)}" if nothing else ""
    return "undecided", "seed 1.3 is undecided " + ", ".join(unsure) + rest


def _any_bad(cells: list[Cell], sample: Sample) -> bool:
    """Whether any run at the sample's size ended in a bad basin (either method)."""
    return any(
        c.sgd.get("spurious", 0) or c.gd.get("spurious", 0) for c in cells if c.size == sample.size
    )
