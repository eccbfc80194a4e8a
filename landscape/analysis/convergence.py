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

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from landscape import seeds
from landscape.analysis.kind import Inputs, Kind, Outcome
from landscape.model import MLP
from landscape.rules import RuleError
from landscape.schedules import make_schedule
from landscape.train import TrainConfig, train

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


# ------------------------------------------------------------------ the analysis kind
def parse_schedule_run(text: str) -> tuple[str, float, dict]:
    """Split a convergence run ``NAME:ε0[:key=value,…]`` into (name, ε0, parameters).

    Raises
    ------
    RuleError
        For a malformed text, an unknown schedule or parameter, or a value out of range.
    """
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise RuleError(
            f"analysis.schedules entry {text!r} must read NAME:lr or NAME:lr:key=value,…"
        )
    name, lr_text = parts[0], parts[1]
    params: dict[str, float] = {}
    try:
        lr = float(lr_text)
        for item in parts[2].split(",") if len(parts) == 3 else []:
            key, _, value = item.partition("=")
            params[key.strip()] = float(value)
    except ValueError:
        raise RuleError(
            f"analysis.schedules entry {text!r}: lr and parameter values must be numbers"
        ) from None
    if not (math.isfinite(lr) and lr > 0):
        raise RuleError(f"analysis.schedules entry {text!r}: lr={lr_text} must be > 0")
    try:
        make_schedule(name, **params)
    except ValueError as exc:
        raise RuleError(f"analysis.schedules entry {text!r}: {exc}") from None
    return name, lr, params


@dataclass(frozen=True)
class ConvergenceConfig:
    """The ``[analysis]`` section of ``kind = "convergence"``: SGD against a known θ*.

    Attributes
    ----------
    schedules : tuple of str
        The runs: ``NAME:ε0`` or ``NAME:ε0:key=value,…`` with a schedule of
        :data:`landscape.schedules.SCHEDULES` and its parameters, e.g. ``constant:0.01``,
        ``inverse_time:0.05:tau=100``.
    """

    kind: str = "convergence"
    schedules: tuple[str, ...] = (
        "constant:0.003",
        "constant:0.01",
        "constant:0.03",
        "inverse_time:0.03:tau=200",
        "linear:0.03:tau=20000",
    )

    def check(self) -> None:
        """At least one run, each entry a schedule that exists with valid parameters."""
        if not self.schedules:
            raise RuleError("analysis.schedules must list at least one run")
        for text in self.schedules:
            parse_schedule_run(text)


@dataclass(frozen=True)
class ConvergenceRun:
    """One schedule's mini-batch SGD run measured against θ* (see :func:`run_convergence`)."""

    label: str
    schedule: str
    lr: float
    params: dict
    status: str
    final_lr: float
    kind: str
    slope: float
    floor: float
    final_gap: float
    final_distance: float


@dataclass(frozen=True)
class ConvergenceReport:
    """Seed 1.5 measured: constant-ε floors against Robbins–Monro decay, at a known θ*.

    Attributes
    ----------
    loss_star : float
        E* = E(θ*), θ* by least squares.
    batch_size : int
    updates : int
        Updates of every run.
    runs : tuple of ConvergenceRun
    floors_grow_with_lr : bool or None
        The constant-ε runs all plateau and their floors rise with ε (None: fewer than two
        constant-ε runs).
    floor_exponent : float or None
        Slope of log(floor) against log ε over the constant-ε runs: how the noise floor scales
        with ε (None: fewer than two).
    robbins_monro_decreases : bool or None
        Every inverse-time run (Σε = ∞, Σε² < ∞) is still decreasing over its last decade and
        ends below every constant-ε floor (None: no inverse-time run).
    """

    loss_star: float
    batch_size: int
    updates: int
    runs: tuple[ConvergenceRun, ...]
    floors_grow_with_lr: bool | None
    floor_exponent: float | None
    robbins_monro_decreases: bool | None

    def verdict(self) -> str:
        """Seed 1.5's claim here: holds, does not hold, or cannot be judged."""
        return {True: "holds", False: "does not hold", None: "cannot be judged"}[
            self.robbins_monro_decreases
        ]


def run_convergence(inputs: Inputs, config: ConvergenceConfig) -> Outcome:
    """Train one start by mini-batch SGD under each of ``config.schedules`` (one trial).

    Every run starts from the same θ⁽⁰⁾ and sees the same mini-batches (one shuffle stream),
    so the runs differ only in their ε_t. The gap E(θ_t) − E* and the distance ‖θ_t − θ*‖ are
    recorded after every evaluated epoch.
    """
    t, d = inputs.trainer, inputs.data
    X, y = d.X_train, d.y_train
    model, theta0 = inputs.starts([0])
    theta_star, loss_star = least_squares_optimum(model, X, y)
    runs, arrays = [], {"theta_star": theta_star}
    for i, text in enumerate(config.schedules):
        name, lr, params = parse_schedule_run(text)
        cfg = dataclasses.replace(t, lr=lr, schedule=name, schedule_params=params)
        res = train(
            model,
            theta0[0],
            X,
            y,
            rng=inputs.stream(seeds.SHUFFLE, seeds.SHUFFLE_CONVERGENCE),
            trajectory=True,
            **cfg.train_kwargs(d.n_train),
        )
        h = res.history
        gap = h["loss"] - loss_star
        distance = np.linalg.norm(res.trajectory - theta_star, axis=1)
        reading = read_convergence(h["updates"], gap)
        arrays[f"r{i}_updates"] = h["updates"]
        arrays[f"r{i}_gap"] = gap
        arrays[f"r{i}_distance"] = distance
        runs.append(
            ConvergenceRun(
                label=text,
                schedule=name,
                lr=lr,
                params=params,
                status=res.status,
                final_lr=float(h["lr"][-1]),
                kind=reading.kind,
                slope=reading.slope,
                floor=reading.floor,
                final_gap=reading.final_gap,
                final_distance=float(distance[-1]),
            )
        )
    report = ConvergenceReport(
        loss_star=loss_star,
        batch_size=t.batch(d.n_train) or d.n_train,
        updates=int(max(arrays[f"r{i}_updates"][-1] for i in range(len(runs)))),
        runs=tuple(runs),
        floors_grow_with_lr=_floors_grow(runs),
        floor_exponent=_floor_exponent(runs),
        robbins_monro_decreases=_robbins_monro_decreases(runs),
    )
    return Outcome(report, min(r.final_gap for r in runs), arrays)


def _floors_grow(runs: list[ConvergenceRun]) -> bool | None:
    const = sorted((r for r in runs if r.schedule == "constant"), key=lambda r: r.lr)
    if len(const) < 2:
        return None
    floors = [r.floor for r in const]
    return all(r.kind == "plateau" for r in const) and all(
        lo < hi for lo, hi in zip(floors, floors[1:], strict=False)
    )


def _floor_exponent(runs: list[ConvergenceRun]) -> float | None:
    const = [r for r in runs if r.schedule == "constant" and r.floor > 0]
    if len({r.lr for r in const}) < 2:
        return None
    lr = np.log([r.lr for r in const])
    return float(np.polyfit(lr, np.log([r.floor for r in const]), 1)[0])


def _robbins_monro_decreases(runs: list[ConvergenceRun]) -> bool | None:
    rm = [r for r in runs if r.schedule == "inverse_time"]
    if not rm:
        return None
    floors = [r.floor for r in runs if r.schedule == "constant"]
    lowest = min(floors) if floors else np.inf
    return all(r.kind == "decreasing" and r.final_gap < lowest for r in rm)


def _trainer_use(t: TrainConfig) -> None:
    """Each run takes its ε and schedule from ``analysis.schedules``: those trainer fields go."""
    default = TrainConfig()
    for name in ("lr", "schedule", "schedule_params"):
        if getattr(t, name) != getattr(default, name):
            raise RuleError(
                f"convergence: trainer.{name}={getattr(t, name)!r} is not used; each run "
                "takes its ε and schedule from analysis.schedules (e.g. 'constant:0.01')"
            )


def _linear_least_squares(inputs: Inputs, config: ConvergenceConfig) -> None:
    """θ* must have a closed form: linear least squares (no hidden layer, MSE)."""
    model = inputs.model()
    if len(model.sizes) != 2 or model.loss_fn.name != "mse":
        hidden = list(model.sizes[1:-1])
        raise RuleError(
            "analysis.kind='convergence' needs θ* in closed form: linear least squares, "
            f"model.hidden=[] and model.loss='mse' (got hidden={hidden}, "
            f"loss={model.loss_fn.name!r})"
        )


KIND = Kind(
    name="convergence",
    config=ConvergenceConfig,
    result=ConvergenceReport,
    value="smallest final gap E − E*",
    headline=lambda r: (
        f"seed 1.5 {r.verdict()} (smallest final gap {min(x.final_gap for x in r.runs):.4g})"
    ),
    run=run_convergence,
    arrays="convergence.npz",
    trainer=_trainer_use,
    check=_linear_least_squares,
)
