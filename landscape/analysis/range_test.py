"""The learning-rate range test (Smith 2017; fastai's ``lr_find``): one short run, ε growing.

From θ⁽⁰⁾, gradient descent takes ``steps`` updates with ε growing exponentially from
``lr_min`` to ``lr_max`` and records the loss before each update. While ε is too small the
loss stays put; in a useful range it falls fastest; past the stable range it blows up, and the
run stops there. Read against ε, the curve brackets the learning rates worth searching in one
run instead of a study of many: a first guess, not the answer (the growing ε leaves each value
only a few steps, and a constant ε run long can behave otherwise, e.g. a catapult).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from landscape.model import MLP
from landscape.threads import one_blas_thread


@dataclass(frozen=True)
class RangeTest:
    """The range test's curve and what it suggests.

    Attributes
    ----------
    lr : ndarray of shape (M,)
        ε of each recorded update (M ≤ steps: the run stops when the loss blows up).
    loss : ndarray of shape (M,)
        E before each update (on its mini-batch; the whole set for batch learning).
    smoothed : ndarray of shape (M,)
        The loss smoothed by a bias-corrected exponential moving average (weight ``beta``).
    lr_start : float or None
        The first ε at which the smoothed loss is 10% below its start: below it ε is too small
        to move the loss in this few steps.
    lr_steepest : float or None
        ε where the smoothed loss falls fastest per decade of ε, looked for from a decade
        below ``lr_start`` to the minimum (fastai's "steep" suggestion).
    lr_min_loss : float
        ε at the smallest smoothed loss.
    lr_suggested : float
        ``lr_min_loss`` / 10, fastai's "minimum" suggestion: an order of magnitude below where
        the growing ε stopped helping.
    lr_blowup : float or None
        The first ε at which the smoothed loss exceeded ``stop_factor`` × its minimum (or
        became non-finite): the run stopped there. None when it never did (``lr_max`` is then
        not large enough to show divergence).
    search_low, search_high : float
        A search range for ε holding both failure modes: ``lr_start``/10 (or ``lr_min``) to
        10 × ``lr_blowup`` (or ``lr_max``).
    """

    lr: np.ndarray = field(repr=False)
    loss: np.ndarray = field(repr=False)
    smoothed: np.ndarray = field(repr=False)
    lr_start: float | None
    lr_steepest: float | None
    lr_min_loss: float
    lr_suggested: float
    lr_blowup: float | None
    search_low: float
    search_high: float


@one_blas_thread
def lr_range_test(
    model: MLP,
    theta0: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    *,
    lr_min: float = 1e-6,
    lr_max: float = 1e3,
    steps: int = 300,
    batch_size: int | None = None,
    rng: np.random.Generator | None = None,
    beta: float = 0.98,
    stop_factor: float = 4.0,
) -> RangeTest:
    """Run the learning-rate range test from θ⁽⁰⁾.

    Parameters
    ----------
    model : MLP
    theta0 : ndarray of shape (D,)
    X : ndarray of shape (N, d_0)
    y : ndarray of shape (N,) or (N, d_L)
    lr_min, lr_max : float
        ε of the first and the last update, 0 < lr_min < lr_max; ε_i = lr_min ·
        (lr_max/lr_min)^(i/(steps − 1)).
    steps : int
        Updates at most, >= 10.
    batch_size : int or None
        None: full-batch gradient descent; B: a mini-batch of B per update, drawn as the
        trainer does (a new permutation of the data every N/B updates).
    rng : numpy.random.Generator or None
        Required with mini-batches.
    beta : float
        Weight of the moving average, in [0, 1).
    stop_factor : float
        Stop when the smoothed loss exceeds this many times its minimum, > 1.

    Returns
    -------
    RangeTest
    """
    if not (0 < lr_min < lr_max and math.isfinite(lr_max)):
        raise ValueError(f"lr_min={lr_min!r}, lr_max={lr_max!r} must satisfy 0 < lr_min < lr_max")
    if not isinstance(steps, int) or steps < 10:
        raise ValueError(f"steps={steps!r} must be an integer >= 10")
    if not 0 <= beta < 1:
        raise ValueError(f"beta={beta!r} must lie in [0, 1)")
    if not stop_factor > 1:
        raise ValueError(f"stop_factor={stop_factor!r} must be > 1")
    theta = model.check_theta(theta0).copy()
    X = model.check_inputs(X)
    t = model.targets(y, X.shape[0])
    n = X.shape[0]
    B = n if batch_size is None else int(batch_size)
    if B < n and not isinstance(rng, np.random.Generator):
        raise ValueError(f"batch_size={B} < N={n} needs rng, a numpy.random.Generator")
    lrs = lr_min * (lr_max / lr_min) ** (np.arange(steps) / (steps - 1))
    losses, smooth = [], []
    avg, best, blowup = 0.0, math.inf, None
    perm, pos = np.arange(n), n
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for i, lr in enumerate(lrs):
            if B < n:
                if pos + B > n:
                    perm, pos = rng.permutation(n), 0
                idx = perm[pos : pos + B]
                pos += B
                E, g, _ = model.evaluate(theta, X[idx], t[idx])
            else:
                E, g, _ = model.evaluate(theta, X, t)
            E = float(E)
            avg = beta * avg + (1 - beta) * E
            s = avg / (1 - beta ** (i + 1))
            losses.append(E)
            smooth.append(s)
            if not (math.isfinite(s) and np.isfinite(g).all()) or s > stop_factor * best:
                blowup = float(lr)
                break
            best = min(best, s)
            theta -= lr * g
    lr_run = lrs[: len(losses)]
    sm = np.array(smooth)
    ok = np.isfinite(sm)
    i_min = int(np.nanargmin(np.where(ok, sm, np.nan)))
    below = np.flatnonzero(ok & (sm <= 0.9 * sm[0]))
    lr_start = float(lr_run[below[0]]) if below.size else None
    steepest = None
    if lr_start is not None:
        # between a decade below the first real fall and the minimum: earlier, a mini-batch
        # curve is noise around its start and its "steepest" point means nothing
        lo = int(np.searchsorted(lr_run, lr_start / 10))
        if i_min + 1 - lo >= 3:
            part = slice(lo, i_min + 1)
            slope = np.gradient(sm[part], np.log(lr_run[part]))
            steepest = float(lr_run[lo + int(np.argmin(slope))])
    return RangeTest(
        lr=lr_run,
        loss=np.array(losses),
        smoothed=sm,
        lr_start=lr_start,
        lr_steepest=steepest,
        lr_min_loss=float(lr_run[i_min]),
        lr_suggested=float(lr_run[i_min]) / 10,
        lr_blowup=blowup,
        search_low=max(lr_min, lr_start / 10) if lr_start is not None else lr_min,
        search_high=min(lr_max, 10 * blowup) if blowup is not None else lr_max,
    )
