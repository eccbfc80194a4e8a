"""Learning-rate schedules: pure functions of the update count t (seed 1.5).

A schedule describes the *shape* of ε_t; the initial rate ε_0 is given when it is evaluated,
``schedule(t, lr0)``, so a search can vary ε_0 and the shape independently. Every schedule
accepts t as an int or an integer array (for plotting whole curves) and never mutates state.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np


def _check_positive(name: str, value: float, *, integer: bool = False) -> None:
    if integer and (int(value) != value):
        raise ValueError(f"{name}={value!r} must be an integer")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}={value!r} must be a finite number > 0")


def _check_ratio(name: str, value: float, *, allow_zero: bool = True) -> None:
    ok = (0.0 <= value <= 1.0) if allow_zero else (0.0 < value <= 1.0)
    if not (math.isfinite(value) and ok):
        interval = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(f"{name}={value!r} must lie in {interval}")


@dataclass(frozen=True)
class Schedule:
    """Base class: ε_t = lr0 · factor(t)."""

    name = "schedule"

    def factor(self, t: np.ndarray) -> np.ndarray:
        """ε_t / ε_0 at update counts t (float array of t's shape)."""
        raise NotImplementedError

    def __call__(self, t: int | np.ndarray, lr0: float) -> float | np.ndarray:
        """ε_t for update count(s) t ≥ 0 and initial rate lr0.

        Parameters
        ----------
        t : int or ndarray of int
        lr0 : float

        Returns
        -------
        float, or ndarray of t's shape
        """
        f = lr0 * self.factor(np.asarray(t, dtype=np.float64))
        return float(f) if np.ndim(f) == 0 else f

    def params(self) -> dict[str, float]:
        """Return the schedule's parameters by name (for storage and reports)."""
        return asdict(self)


@dataclass(frozen=True)
class Constant(Schedule):
    """ε_t = ε_0: right for full-batch gradient descent (seed 1.5)."""

    name = "constant"

    def factor(self, t: np.ndarray) -> np.ndarray:  # noqa: D102
        return np.ones_like(t)


@dataclass(frozen=True)
class LinearDecay(Schedule):
    """Linear decay to step τ, then constant.

    ε_t = (1 − t/τ) ε_0 + (t/τ) ε_τ for t ≤ τ and ε_τ afterwards, with ε_τ = final_ratio · ε_0
    (about 1% of ε_0 in practice, seed 1.5).

    Parameters
    ----------
    tau : int
        Update count where the decay ends, > 0.
    final_ratio : float
        ε_τ / ε_0, in [0, 1].
    """

    tau: int = 1000
    final_ratio: float = 0.01
    name = "linear"

    def __post_init__(self) -> None:
        _check_positive("tau", self.tau, integer=True)
        _check_ratio("final_ratio", self.final_ratio)

    def factor(self, t: np.ndarray) -> np.ndarray:  # noqa: D102
        a = np.minimum(t / self.tau, 1.0)
        return (1.0 - a) + a * self.final_ratio


@dataclass(frozen=True)
class InverseTime(Schedule):
    """ε_t = ε_0 / (1 + t/τ).

    Satisfies the Robbins–Monro conditions Σ ε_t = ∞ and Σ ε_t² < ∞ (seed 1.5): the partial sums
    grow like τ ε_0 log t while the sums of squares converge.

    Parameters
    ----------
    tau : float
        Time scale of the decay, > 0.
    """

    tau: float = 100.0
    name = "inverse_time"

    def __post_init__(self) -> None:
        _check_positive("tau", self.tau)

    def factor(self, t: np.ndarray) -> np.ndarray:  # noqa: D102
        return 1.0 / (1.0 + t / self.tau)


@dataclass(frozen=True)
class StepDecay(Schedule):
    """ε_t = ε_0 · γ^⌊t / step_size⌋: multiply by γ every ``step_size`` updates.

    Parameters
    ----------
    step_size : int
        Updates between drops, > 0.
    gamma : float
        Factor per drop, in (0, 1].
    """

    step_size: int = 1000
    gamma: float = 0.5
    name = "step"

    def __post_init__(self) -> None:
        _check_positive("step_size", self.step_size, integer=True)
        _check_ratio("gamma", self.gamma, allow_zero=False)

    def factor(self, t: np.ndarray) -> np.ndarray:  # noqa: D102
        return self.gamma ** np.floor(t / self.step_size)


@dataclass(frozen=True)
class Exponential(Schedule):
    """ε_t = ε_0 · γ^t.

    Parameters
    ----------
    gamma : float
        Factor per update, in (0, 1].
    """

    gamma: float = 0.999
    name = "exponential"

    def __post_init__(self) -> None:
        _check_ratio("gamma", self.gamma, allow_zero=False)

    def factor(self, t: np.ndarray) -> np.ndarray:  # noqa: D102
        return self.gamma**t


@dataclass(frozen=True)
class Cosine(Schedule):
    """Cosine decay: ε_t = ε_T + ½ (ε_0 − ε_T)(1 + cos(π t / T)) for t ≤ T, then ε_T.

    Parameters
    ----------
    period : int
        T, the update count where the decay ends, > 0.
    final_ratio : float
        ε_T / ε_0, in [0, 1].
    """

    period: int = 1000
    final_ratio: float = 0.0
    name = "cosine"

    def __post_init__(self) -> None:
        _check_positive("period", self.period, integer=True)
        _check_ratio("final_ratio", self.final_ratio)

    def factor(self, t: np.ndarray) -> np.ndarray:  # noqa: D102
        a = np.minimum(t / self.period, 1.0)
        r = self.final_ratio
        return r + 0.5 * (1.0 - r) * (1.0 + np.cos(np.pi * a))


SCHEDULES: dict[str, type[Schedule]] = {
    cls.name: cls for cls in (Constant, LinearDecay, InverseTime, StepDecay, Exponential, Cosine)
}


def make_schedule(name: str, **params: float) -> Schedule:
    """Build a schedule by name.

    Parameters
    ----------
    name : {"constant", "linear", "inverse_time", "step", "exponential", "cosine"}
    **params
        The schedule's fields (see each class).

    Raises
    ------
    ValueError
        Unknown name (lists the known ones), unknown parameter (lists the allowed ones) or a
        parameter out of range.
    """
    try:
        cls = SCHEDULES[name]
    except (KeyError, TypeError):
        raise ValueError(f"schedule {name!r} is unknown; known: {', '.join(SCHEDULES)}") from None
    allowed = [f.name for f in fields(cls)]
    for key in params:
        if key not in allowed:
            raise ValueError(
                f"schedule {name!r} has no parameter {key!r}; allowed: "
                f"{', '.join(allowed) if allowed else 'none'}"
            )
    return cls(**params)
