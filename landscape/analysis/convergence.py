"""Does stochastic gradient descent converge? Seed 1.5 on a convex problem with a known θ*.

Mini-batch SGD with a constant ε does not converge: near θ* the gradient noise keeps θ_t
moving, and E(θ_t) − E* settles at a noise floor that grows with ε. A Robbins–Monro schedule
(Σ ε_t = ∞, Σ ε_t² < ∞, e.g. inverse time ε0/(1 + t/τ)) lets the noise die out, and the gap
keeps falling. On linear least squares θ* and E* are closed forms
(:func:`least_squares_optimum`), so both behaviours are measured exactly:
:func:`read_convergence` fits the slope of log(E − E*) against log t over the run's last
decade of updates and names a plateau or a decrease.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from landscape.model import MLP

PLATEAU_SLOPE = 0.25
"""|slope| of log(E − E*) against log t below which the last decade counts as a plateau: a
Robbins–Monro schedule on a strongly convex problem falls as t^(−1), a plateau stays flat
(its fitted slope is noise around 0)."""


def least_squares_optimum(model: MLP, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """θ* and E* of a linear model (no hidden layer, identity output) under MSE.

    Parameters
    ----------
    model : MLP
        sizes [d_0, d_L] (no hidden layer: the output is linear) and loss ``mse``.
    X : ndarray of shape (N, d_0)
    y : ndarray of shape (N,) or (N, d_L)

    Returns
    -------
    theta : ndarray of shape (D,)
        The minimiser of E(θ) = (1/2N) Σ ‖W x_n + b − y_n‖², by ``numpy.linalg.lstsq`` on
        [X 1], laid out as the model's θ (W row-major, then b). With a frozen block (W1 or
        b1) the minimiser over the free one: its column of [X 1] is left out and its fixed
        part taken from the targets.
    loss : float
        E(θ*).

    Raises
    ------
    ValueError
        For a model that is not linear least squares.
    """
    if len(model.sizes) != 2 or model.loss_fn.name != "mse":
        raise ValueError(
            f"θ* is a closed form for linear least squares only (no hidden layer, loss mse); "
            f"the model has sizes {list(model.sizes)} and loss {model.loss_fn.name!r}"
        )
    X = model.check_inputs(X)
    T = model.targets(y, X.shape[0])
    theta = model.freeze(np.zeros(model.n_params))
    ((W, b),) = model.layout.unravel(theta)
    frozen = model.frozen
    cols = ([X] if "W1" not in frozen else []) + (
        [np.ones((X.shape[0], 1))] if "b1" not in frozen else []
    )
    rhs = T - (X @ W if "W1" in frozen else 0.0) - (b if "b1" in frozen else 0.0)
    coef, *_ = np.linalg.lstsq(np.hstack(cols), rhs, rcond=None)  # rows: W (if free), then b
    if "W1" not in frozen:
        W[...] = coef[: X.shape[1]]
    if "b1" not in frozen:
        b[...] = coef[-1]
    return theta, float(model.loss(theta, X, T))


@dataclass(frozen=True)
class ConvergenceReading:
    """What the gap E(θ_t) − E* did over a run's last decade of updates.

    Attributes
    ----------
    kind : {"plateau", "decreasing", "increasing"}
    slope : float
        Least-squares slope of log(E − E*) against log t over t ∈ [t_end/10, t_end].
    floor : float
        Median gap over that decade (the noise floor for a plateau).
    final_gap : float
        E − E* at the last update.
    """

    kind: str
    slope: float
    floor: float
    final_gap: float


def read_convergence(updates: np.ndarray, gap: np.ndarray) -> ConvergenceReading:
    """Name a run's late behaviour from its gap E(θ_t) − E* against updates.

    Parameters
    ----------
    updates : ndarray of int, shape (M,)
        Update counts t of the measurements, increasing.
    gap : ndarray of shape (M,)
        E(θ_t) − E* at those updates (> 0 up to rounding).

    Returns
    -------
    ConvergenceReading

    Raises
    ------
    ValueError
        When the last decade holds fewer than 3 measurements with t ≥ 1 and a positive gap.
    """
    t = np.asarray(updates, dtype=float)
    g = np.asarray(gap, dtype=float)
    last = (t >= t[-1] / 10) & (t >= 1) & (g > 0) & np.isfinite(g)
    if last.sum() < 3:
        raise ValueError(
            f"{int(last.sum())} usable measurements in the last decade of updates; need >= 3"
        )
    slope = float(np.polyfit(np.log(t[last]), np.log(g[last]), 1)[0])
    if abs(slope) < PLATEAU_SLOPE:
        kind = "plateau"
    else:
        kind = "decreasing" if slope < 0 else "increasing"
    return ConvergenceReading(kind, slope, float(np.median(g[last])), float(g[-1]))
