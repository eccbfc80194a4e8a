"""The end-of-study summary: the regimes of ε, the divergence boundary and the stability limits.

Computed from plain trial records (no Optuna objects), so it can be tested alone and reused by
the reports. The seed's claims (1.1) become visible here: too large an ε diverges, too small
an ε barely moves, a well-sized ε trains.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import numpy as np

REGIMES = ("too small", "converging", "unstable at θ⁽⁰⁾", "diverging")
"""The regimes of ε, in increasing order of ε; every finished trial falls in exactly one."""

REGIME_MEANING = {
    "too small": "the loss barely moved (stalled)",
    "converging": "trained: converged, or still improving when the budget ran out",
    "unstable at θ⁽⁰⁾": "ε above 2/λ_max(θ⁽⁰⁾), yet no divergence: the run moved to flatter "
    "regions (a catapult when the loss spiked meanwhile, flattened when it only fell) or hovers "
    "at λ_max ≈ 2/ε (edge of stability); the sharpness tracking tells which",
    "diverging": "too large: the loss blew up",
}

PRUNED_WHILE = ("stalled", "rising", "improving")
"""Where a pruned trial's curve was when pruned (:func:`landscape.train.curve_state`)."""


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
    pruned_while : str or None
        For a pruned trial, one of :data:`PRUNED_WHILE`; None otherwise (or when unknown).
    bisection : bool
        The trial bisected the divergence boundary after the search (``study.bisect``).
    """

    number: int
    lr: float
    status: str
    value: float | None
    params: dict = field(default_factory=dict)
    pruned_while: str | None = None
    bisection: bool = False


def regime_of(rec: TrialRecord, limit_init: float | None = None) -> str:
    """The regime (one of :data:`REGIMES`) of a finished trial.

    A completed trial's regime follows from how training ended; a pruned one's from where its
    curve was when pruned (rising: diverging; stalled: too small). ``unstable at θ⁽⁰⁾`` needs
    2/λ_max at θ⁽⁰⁾ (``limit_init``, full-batch constant-ε studies): a run with ε above it
    that did not diverge.
    """
    if rec.status == "diverged" or (rec.status == "pruned" and rec.pruned_while == "rising"):
        return "diverging"
    if rec.status == "stalled" or (rec.status == "pruned" and rec.pruned_while == "stalled"):
        return "too small"
    if limit_init is not None and rec.lr > limit_init:
        return "unstable at θ⁽⁰⁾"
    return "converging"


@dataclass(frozen=True)
class Regime:
    """The trials of one regime of ε.

    Attributes
    ----------
    name : str
        One of :data:`REGIMES`.
    lr_low, lr_high : float
        The smallest and largest ε of its trials.
    count : int
    status_counts : dict of str to int
        How its trials ended.
    interleaved : bool
        A trial of another regime (of the same kind, completed or pruned) has an ε strictly
        inside [lr_low, lr_high]: the regimes are not contiguous in ε here.
    """

    name: str
    lr_low: float
    lr_high: float
    count: int
    status_counts: dict[str, int]
    interleaved: bool = False

    @property
    def meaning(self) -> str:
        """Plain-words reading of the regime."""
        return REGIME_MEANING[self.name]


def _regimes(recs: list[TrialRecord], limit_init: float | None) -> list[Regime]:
    """One row per regime present among ``recs``, in the order of :data:`REGIMES`."""
    named = [(regime_of(r, limit_init), r) for r in recs]
    rows = []
    for name in REGIMES:
        mine = [r for n, r in named if n == name]
        if not mine:
            continue
        low, high = min(r.lr for r in mine), max(r.lr for r in mine)
        others = [r.lr for n, r in named if n != name]
        rows.append(
            Regime(
                name,
                low,
                high,
                len(mine),
                _counts(mine),
                interleaved=any(low < lr < high for lr in others),
            )
        )
    return rows


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
class Repeated:
    """Configurations run several times (``study.repeats``), and the best one by its median.

    Attributes
    ----------
    configurations : int
        Configurations with two or more runs.
    runs : list of int
        The smallest and largest number of runs of one of them.
    params : dict
        The best configuration's parameters (by median value; a run without a value, pruned
        or diverged, counts as the worst possible).
    lr : float
    median, q25, q75 : float
        Its median value and quartiles (±∞ when enough runs have no value).
    numbers : list of int
        Its trials.
    """

    configurations: int
    runs: list[int]
    params: dict
    lr: float
    median: float
    q25: float
    q75: float
    numbers: list[int]


def configuration(params: dict) -> tuple:
    """What makes runs repeats of one another: their searched parameters, as a hashable key."""
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


def quartiles(values: np.ndarray, worst: float = math.inf) -> np.ndarray:
    """q25, median and q75 of a configuration's runs; a run without a value (NaN) is ``worst``."""
    v = np.where(np.isnan(values), worst, values)
    with np.errstate(invalid="ignore"):
        q = np.quantile(v, [0.25, 0.5, 0.75])
    return np.where(np.isnan(q), worst, q)  # ∞ − ∞ inside the interpolation


def _repeated(recs: list[TrialRecord], direction: str) -> Repeated | None:
    worst = math.inf if direction == "minimize" else -math.inf
    by: dict[tuple, list[TrialRecord]] = {}
    for r in recs:
        if not r.bisection:
            by.setdefault(configuration(r.params), []).append(r)
    many = [g for g in by.values() if len(g) > 1]
    if not many:
        return None
    rows = []
    for g in many:
        v = np.array([r.value if r.value is not None else math.nan for r in g], dtype=float)
        rows.append((g, quartiles(np.where(np.isfinite(v), v, math.nan), worst)))
    sign = 1.0 if direction == "minimize" else -1.0
    g, q = min(rows, key=lambda row: (sign * row[1][1], row[0][0].number))
    sizes = [len(g_) for g_, _ in rows]
    return Repeated(
        len(rows),
        [min(sizes), max(sizes)],
        dict(g[0].params),
        g[0].lr,
        float(q[1]),
        float(q[0]),
        float(q[2]),
        [r.number for r in g],
    )


@dataclass(frozen=True)
class Summary:
    """Counts, ε regimes, the best trial and the stability limits.

    Attributes
    ----------
    n_trials : int
        Finished trials (complete or pruned).
    status_counts : dict of str to int
    regimes : list of Regime
        The completed trials (pruned ones left out), one row per regime, by increasing ε.
    pruned : list of Regime
        The pruned trials, one row per regime their curve was in when pruned: a pruner's
        decision is not a regime of ε, and a pruned run is no evidence of where ε diverges.
    best : TrialRecord or None
    largest_stable_lr : float or None
        The largest ε of a completed trial that did not diverge (pruned trials are no
        evidence either way).
    smallest_diverged_lr : float or None
        The smallest ε of a trial that diverged.
    best_converged : TrialRecord or None
        The best trial whose training converged: the only kind of end point where λ_max is
        a property of a solution rather than of where the budget stopped a moving run.
    lambda_max : float or None
        Largest Hessian eigenvalue at ``best_converged`` (full-batch studies).
    bisection_trials : int
        Trials that bisected the divergence boundary after the search.
    range_test : dict or None
        The LR range test that seeded the ε bounds (``study.range_test``), as stored.
    sharpness : list of dict
        λ_max along representative runs read against 2/ε (``trial``, ``role``, ``lr``,
        ``status``, ``regime``, ``every`` and the fields of
        :class:`landscape.analysis.sharpness.SharpnessReading`).
    lambda_max_init : float or None
        Largest Hessian eigenvalue at the common θ⁽⁰⁾ (when every trial starts there): where
        gradient descent diverges at once, this is the curvature it meets.
    groups : list of Group
        Per value of each categorical parameter named in ``summarize(by=…)``.
    repeated : Repeated or None
        When configurations were run several times: the best one by its median value.
    """

    n_trials: int
    status_counts: dict[str, int]
    regimes: list[Regime]
    best: TrialRecord | None
    largest_stable_lr: float | None
    smallest_diverged_lr: float | None
    pruned: list[Regime] = field(default_factory=list)
    best_converged: TrialRecord | None = None
    lambda_max: float | None = None
    lambda_max_init: float | None = None
    groups: list[Group] = field(default_factory=list)
    bisection_trials: int = 0
    sharpness: list[dict] = field(default_factory=list)
    range_test: dict | None = None
    repeated: Repeated | None = None

    @property
    def stability_limit(self) -> float | None:
        """2/λ_max at the best converged solution: above it, GD cannot settle there."""
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
        for key in ("regimes", "pruned"):
            for r, reg in zip(out[key], getattr(self, key), strict=True):
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
    stable = [r.lr for r in recs if r.status not in ("diverged", "pruned")]
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
    sharpness: Iterable[dict] = (),
    range_test: dict | None = None,
) -> Summary:
    """Build the :class:`Summary` of a study's finished trials.

    Parameters
    ----------
    records : iterable of TrialRecord
    direction : {"minimize", "maximize"}
    lambda_max, lambda_max_init : float, optional
        λ_max at the best converged solution and at the common θ⁽⁰⁾, when they were
        computed; 2/λ_max(θ⁽⁰⁾) separates ``converging`` from ``unstable at θ⁽⁰⁾``.
    by : iterable of str
        Categorical parameters to break the trials down by (e.g. batch_size, schedule).
    sharpness : iterable of dict
        The stored sharpness readings of representative runs (see ``Summary.sharpness``).
    range_test : dict, optional
        The stored LR range test (see ``Summary.range_test``).
    """
    recs = sorted(records, key=lambda r: (r.lr, r.number))
    limit_init = _two_over(lambda_max_init)
    done = [r for r in recs if r.status != "pruned"]
    pruned = [r for r in recs if r.status == "pruned"]
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
        regimes=_regimes(done, limit_init),
        pruned=_regimes(pruned, limit_init),
        best=_best(recs, direction),
        best_converged=_best([r for r in recs if r.status == "converged"], direction),
        largest_stable_lr=stable,
        smallest_diverged_lr=diverged,
        lambda_max=lambda_max,
        lambda_max_init=lambda_max_init,
        groups=groups,
        bisection_trials=sum(r.bisection for r in recs),
        sharpness=list(sharpness),
        range_test=range_test,
        repeated=_repeated(recs, direction),
    )
