"""The end-of-study summary: which ε ranges diverged, stalled, ran out of budget or converged.

Computed from plain trial records (no Optuna objects), so it can be tested alone and reused by
the reports. The seed's claims (1.1) become visible here: too large an ε diverges, too small
an ε barely moves, a well-sized ε trains.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

STATUS_MEANING = {
    "diverged": "too large: the loss blew up",
    "stalled": "too small: the loss barely moved",
    "budget": "still improving when the epoch budget ran out",
    "converged": "converged",
    "pruned": "stopped early by the pruner (worse than the median trial)",
}


@dataclass(frozen=True)
class TrialRecord:
    """What the summary needs of one finished trial.

    Attributes
    ----------
    number : int
    lr : float
        ε (ε_0 under a schedule).
    status : str
        converged, diverged, stalled, budget or pruned.
    value : float or None
        The objective value (None for pruned trials).
    params : dict
    """

    number: int
    lr: float
    status: str
    value: float | None
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Regime:
    """A run of trials, consecutive in ε, that ended with the same status."""

    status: str
    lr_low: float
    lr_high: float
    count: int

    @property
    def meaning(self) -> str:
        """Plain-words reading of the status."""
        return STATUS_MEANING.get(self.status, self.status)


@dataclass(frozen=True)
class Group:
    """The trials that share one value of a categorical parameter (a batch size, a schedule).

    Attributes
    ----------
    param : str
    value : object
    count : int
    status_counts : dict of str to int
    best : TrialRecord or None
    largest_stable_lr, smallest_diverged_lr : float or None
        The divergence boundary within the group.
    """

    param: str
    value: object
    count: int
    status_counts: dict[str, int]
    best: TrialRecord | None
    largest_stable_lr: float | None
    smallest_diverged_lr: float | None


@dataclass(frozen=True)
class Summary:
    """Counts, ε regimes, the best trial and the stability limits.

    Attributes
    ----------
    n_trials : int
        Finished trials (complete or pruned).
    status_counts : dict of str to int
    regimes : list of Regime
        Sorted by ε.
    best : TrialRecord or None
    largest_stable_lr : float or None
        The largest ε of a trial that did not diverge.
    smallest_diverged_lr : float or None
        The smallest ε of a trial that diverged.
    lambda_max : float or None
        Largest Hessian eigenvalue at the best solution (full-batch studies).
    lambda_max_init : float or None
        Largest Hessian eigenvalue at the common θ⁽⁰⁾ (when every trial starts there): where
        gradient descent diverges at once, this is the curvature it meets.
    groups : list of Group
        Per value of each categorical parameter named in ``summarize(by=…)``.
    """

    n_trials: int
    status_counts: dict[str, int]
    regimes: list[Regime]
    best: TrialRecord | None
    largest_stable_lr: float | None
    smallest_diverged_lr: float | None
    lambda_max: float | None = None
    lambda_max_init: float | None = None
    groups: list[Group] = field(default_factory=list)

    @property
    def stability_limit(self) -> float | None:
        """2/λ_max: above it, gradient descent cannot settle into the best minimum."""
        return _two_over(self.lambda_max)

    @property
    def stability_limit_init(self) -> float | None:
        """2/λ_max at θ⁽⁰⁾: above it, the first steps already overshoot along the top direction."""
        return _two_over(self.lambda_max_init)

    def to_dict(self) -> dict:
        """Plain data for ``--json``."""
        out = asdict(self)
        out["stability_limit"] = self.stability_limit
        out["stability_limit_init"] = self.stability_limit_init
        for r, reg in zip(out["regimes"], self.regimes, strict=True):
            r["meaning"] = reg.meaning
        return out


def _two_over(lam: float | None) -> float | None:
    return 2.0 / lam if lam is not None and lam > 0 else None


def _best(recs: list[TrialRecord], direction: str) -> TrialRecord | None:
    scored = [r for r in recs if r.value is not None and math.isfinite(r.value)]
    sign = 1.0 if direction == "minimize" else -1.0
    return min(scored, key=lambda r: (sign * r.value, r.number)) if scored else None


def _counts(recs: list[TrialRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in recs:
        counts[r.status] = counts.get(r.status, 0) + 1
    return counts


def _boundary(recs: list[TrialRecord]) -> tuple[float | None, float | None]:
    stable = [r.lr for r in recs if r.status != "diverged"]
    diverged = [r.lr for r in recs if r.status == "diverged"]
    return (max(stable) if stable else None), (min(diverged) if diverged else None)


def _sort_key(value: object) -> tuple:
    return (0, value, "") if isinstance(value, int | float) else (1, 0, str(value))


def summarize(
    records: Iterable[TrialRecord],
    direction: str,
    lambda_max: float | None = None,
    lambda_max_init: float | None = None,
    by: Iterable[str] = (),
) -> Summary:
    """Build the :class:`Summary` of a study's finished trials.

    Parameters
    ----------
    records : iterable of TrialRecord
    direction : {"minimize", "maximize"}
    lambda_max, lambda_max_init : float, optional
        λ_max at the best solution and at the common θ⁽⁰⁾, when they were computed.
    by : iterable of str
        Categorical parameters to break the trials down by (e.g. batch_size, schedule).
    """
    recs = sorted(records, key=lambda r: (r.lr, r.number))
    regimes: list[Regime] = []
    for r in recs:
        if regimes and regimes[-1].status == r.status:
            last = regimes[-1]
            regimes[-1] = Regime(r.status, last.lr_low, r.lr, last.count + 1)
        else:
            regimes.append(Regime(r.status, r.lr, r.lr, 1))
    groups = []
    for param in by:
        values = sorted({r.params[param] for r in recs if param in r.params}, key=_sort_key)
        for value in values:
            sub = [r for r in recs if r.params.get(param) == value]
            stable, diverged = _boundary(sub)
            groups.append(
                Group(param, value, len(sub), _counts(sub), _best(sub, direction), stable, diverged)
            )
    stable, diverged = _boundary(recs)
    return Summary(
        n_trials=len(recs),
        status_counts=_counts(recs),
        regimes=regimes,
        best=_best(recs, direction),
        largest_stable_lr=stable,
        smallest_diverged_lr=diverged,
        lambda_max=lambda_max,
        lambda_max_init=lambda_max_init,
        groups=groups,
    )
