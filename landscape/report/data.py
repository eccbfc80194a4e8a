"""Figure data, computed from a stored study alone (no retraining).

Each function returns plain NamedTuples of arrays, tested on their own; drawing is in
:mod:`landscape.report.figures` (Optuna's visualisation pattern).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import optuna
from optuna.trial import TrialState

from landscape.analysis import convergence
from landscape.analysis.minima import MinimaReport
from landscape.analysis.noise import AxisReport, wilson
from landscape.runs import records
from landscape.schedules import make_schedule
from landscape.summary import configuration as summary_configuration
from landscape.summary import quartiles

STATUS_ORDER = ("converged", "budget", "stalled", "pruned", "diverged")


class Setup(NamedTuple):
    """What a study trained, from its stored spec: enough to tell two studies apart.

    ``lr`` and ``batch_size`` are ``"searched"`` when the search varies them; ``batch_size``
    is None for full-batch gradient descent.
    """

    study: str
    dataset: str
    hidden: tuple
    activation: str
    loss: str
    method: str
    epochs: int | None
    batch_size: int | str | None
    lr: float | str | None


def setup(study: optuna.Study) -> Setup:
    """The :class:`Setup` of a stored study (fields missing from its spec are None or "")."""
    spec = records.spec_of(study) or {}
    model, trainer = spec.get("model") or {}, spec.get("trainer") or {}
    searched = {p.get("target") for p in spec.get("search") or []}
    method = trainer.get("method", "")
    batch = {"gd": None, "online": 1}.get(method, trainer.get("batch_size"))
    if "trainer.batch_size" in searched:
        batch = "searched"
    return Setup(
        study.study_name,
        (spec.get("data") or {}).get("name", ""),
        tuple(model.get("hidden") or ()),
        model.get("activation", ""),
        model.get("loss", ""),
        method,
        trainer.get("epochs"),
        batch,
        "searched" if "trainer.lr" in searched else trainer.get("lr"),
    )


SETUP_WORDS = {
    "epochs": lambda v: f"{v} epochs",
    "method": lambda v: {"gd": "full-batch GD", "minibatch": "mini-batch SGD"}.get(v, str(v)),
    "batch_size": lambda v: f"batch size {v}" if v is not None else "full batch",
    "lr": lambda v: f"ε {v}" if isinstance(v, str) else f"ε = {v:.3g}",
    "dataset": lambda v: f"data {v}",
    "hidden": lambda v: "hidden " + "-".join(map(str, v)) if v else "no hidden layer",
    "activation": str,
    "loss": lambda v: {"mse": "MSE", "cross_entropy": "cross-entropy"}.get(v, str(v)),
}
"""Each :class:`Setup` field in words."""


def setup_differences(setups: list[Setup]) -> list[str]:
    """Per study: its epochs and method, and every other field in which the studies differ."""
    keys = [
        k
        for k in SETUP_WORDS
        if k in ("epochs", "method") or len({getattr(s, k) for s in setups}) > 1
    ]
    return [", ".join(SETUP_WORDS[k](getattr(s, k)) for k in keys) for s in setups]


def loss_name(loss: str) -> str:
    """The y label of a loss E on a spec's loss: what E is, with its unit."""
    return {
        "mse": "E (½·mean squared error)",
        "cross_entropy": "E (cross-entropy, nats)",
    }.get(loss, "loss E")


class LrPoints(NamedTuple):
    """Final loss against ε, one point per finished trial."""

    lr: np.ndarray
    loss: np.ndarray
    status: np.ndarray
    metric: str
    smallest_diverged: float | None
    stability_limit: float | None
    stability_limit_init: float | None
    loss_label: str = "loss"
    group: np.ndarray | None = None
    group_name: str = ""
    spread: Spread | None = None
    setup: Setup | None = None


class Spread(NamedTuple):
    """Each configuration run several times (``study.repeats``): its median and quartiles.

    A run that diverged counts as +∞, so a quartile is +∞ when enough runs diverged.
    """

    lr: np.ndarray
    median: np.ndarray
    q25: np.ndarray
    q75: np.ndarray
    runs: np.ndarray


class Curve(NamedTuple):
    """One trial's learning curve, or a configuration's median curve over its runs.

    With several runs (``runs`` > 1), ``loss`` is the median at each epoch of the longest run
    (over the runs still going) and ``band`` its interquartile range (q25, q75).
    """

    number: int
    label: str
    status: str
    epoch: np.ndarray
    updates: np.ndarray
    loss: np.ndarray
    val_loss: np.ndarray
    band: tuple[np.ndarray, np.ndarray] | None = None
    runs: int = 1


class BatchMap(NamedTuple):
    """Final loss and status over (ε, batch size): one point per configuration.

    A configuration run several times shows its median loss and its most common status.
    """

    lr: np.ndarray
    batch_size: np.ndarray
    loss: np.ndarray
    status: np.ndarray
    n_train: int
    loss_label: str = "loss"
    runs: np.ndarray | None = None


class ScheduleCurves(NamedTuple):
    """The best trial of each schedule kind: its ε_t and its learning curve."""

    kinds: list[str]
    updates: list[np.ndarray]
    lr: list[np.ndarray]
    curves: list[Curve]


def finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Complete and pruned trials that carry a landscape status."""
    states = (TrialState.COMPLETE, TrialState.PRUNED)
    return [
        t for t in study.get_trials(deepcopy=False, states=states) if records.status(t) is not None
    ]


def _final_loss(t: optuna.trial.FrozenTrial, metric: str, store) -> float:
    """The metric at the end of the trial; for pruned or diverged trials its last finite value.

    Read from the stored learning curve; without one (no artifact store), from the final value
    stored as a user attr, else the last finite intermediate value.
    """
    key = {
        "val_loss": "val_loss",
        "train_loss": "loss",
        "val_accuracy": "val_accuracy",
        "accuracy": "accuracy",
    }[metric]
    h = records.history(t, store)
    if h is not None:
        values = [v for v in h.get(key, []) if v is not None]
    else:
        final = t.user_attrs.get(metric)
        values = [final] if final is not None else []
        values = values or [v for v in t.intermediate_values.values() if math.isfinite(v)]
    return float(values[-1]) if values else math.nan


def loss_label(study: optuna.Study) -> str:
    """The metric in words with its loss, e.g. "final training cross-entropy (nats)"."""
    metric = records.metric(study)
    loss = (records.spec_of(study).get("model") or {}).get("loss", "")
    which = {"train_loss": "training", "val_loss": "validation"}.get(metric)
    if which is None:
        return f"final {metric.replace('_', ' ')}"
    name = {"cross_entropy": "cross-entropy (nats)", "mse": "loss ½·mean squared error"}.get(
        loss, "loss"
    )
    return f"final {which} {name}"


def lr_points(study: optuna.Study, store) -> LrPoints:
    """Final metric against ε for every finished trial, with the stability limits."""
    metric = records.metric(study)
    trials = finished(study)
    lr = np.array([records.lr(t) for t in trials], dtype=float)
    loss = np.array([_final_loss(t, metric, store) for t in trials])
    status = np.array([records.status(t) for t in trials], dtype=str)
    diverged = lr[status == "diverged"]
    lam = records.lambda_max(study)
    lam0 = records.lambda_max_init(study)
    return LrPoints(
        lr,
        loss,
        status,
        metric,
        float(diverged.min()) if diverged.size else None,
        2.0 / lam if lam and lam > 0 else None,
        2.0 / lam0 if lam0 and lam0 > 0 else None,
        loss_label(study),
        *_group(study, trials),
        _spread(trials, loss, status),
        setup(study),
    )


class History(NamedTuple):
    """The search's trials in order: each one's objective value and status, and the best so far.

    ``value`` is NaN for a trial without one (a diverged run); ``best`` is the best value of
    the complete trials up to each trial (NaN before the first one); pruned trials carry the
    value at pruning, which does not count towards the best.
    """

    number: np.ndarray
    value: np.ndarray
    status: np.ndarray
    best: np.ndarray
    minimize: bool


def history(study: optuna.Study) -> History:
    """Objective value against trial number, with the best-so-far line of the complete trials."""
    trials = finished(study)
    minimize = study.direction != optuna.study.StudyDirection.MAXIMIZE
    number = np.array([t.number for t in trials], dtype=int)
    value = np.array([math.nan if t.value is None else float(t.value) for t in trials], dtype=float)
    status = np.array([records.status(t) for t in trials], dtype=str)
    complete = np.array([t.state == TrialState.COMPLETE for t in trials], dtype=bool)
    counts = complete & np.isfinite(value)
    pick = np.fmin if minimize else np.fmax
    best = pick.accumulate(np.where(counts, value, math.nan)) if len(value) else value
    return History(number, value, status, best, minimize)


def configuration(t: optuna.trial.FrozenTrial) -> tuple:
    """What makes runs repeats of one another (:func:`landscape.summary.configuration`)."""
    return summary_configuration(t.params)


def _runs_of(trials: list) -> dict[tuple, list[int]]:
    """Indices into ``trials`` of each configuration's runs, in order of first appearance."""
    out: dict[tuple, list[int]] = {}
    for i, t in enumerate(trials):
        out.setdefault(configuration(t), []).append(i)
    return out


def _spread(trials: list, loss: np.ndarray, status: np.ndarray) -> Spread | None:
    """Median and quartiles of each configuration with several runs (None: none has)."""
    rows = []
    for idx in _runs_of(trials).values():
        if len(idx) < 2:
            continue
        values = np.where(status[idx] == "diverged", np.nan, loss[idx])
        q25, med, q75 = quartiles(values)
        rows.append((records.lr(trials[idx[0]]), med, q25, q75, len(idx)))
    if not rows:
        return None
    cols = np.array(rows, dtype=float).T
    return Spread(cols[0], cols[1], cols[2], cols[3], cols[4].astype(int))


def _most_common(statuses: list[str]) -> str:
    """The most common status (ties: the worse one, in :data:`STATUS_ORDER`)."""
    counts = {s: statuses.count(s) for s in statuses}
    return max(counts, key=lambda s: (counts[s], STATUS_ORDER.index(s) if s in STATUS_ORDER else 0))


def _group(study: optuna.Study, trials: list) -> tuple[np.ndarray | None, str]:
    """What else a search varies besides ε, per trial: the batch size or the schedule."""
    searched = {p.get("target") for p in records.search_space(study) or []}
    if "trainer.batch_size" in searched:
        return np.array([records.batch_size(t) for t in trials], dtype=float), "batch size"
    if "trainer.schedule" in searched:
        return np.array([records.schedule(t) for t in trials], dtype=str), "schedule"
    return None, ""


def _curve(t: optuna.trial.FrozenTrial, label: str, h: dict[str, list]) -> Curve:

    def col(key: str) -> np.ndarray:
        return np.array([math.nan if v is None else v for v in h.get(key, [])], dtype=float)

    return Curve(
        t.number,
        label,
        records.status(t),
        col("epoch"),
        col("updates"),
        col("loss"),
        col("val_loss"),
    )


def learning_curves(study: optuna.Study, store, n: int = 8) -> list[Curve]:
    """Up to ``n`` configurations spread evenly over ε (their quantiles), the best included.

    Only trials whose curve is stored (:data:`landscape.runs.records.HISTORY`) are drawn; a
    configuration run several times is drawn as its median curve with its quartile band.
    """
    trials = [t for t in finished(study) if records.history(t, store)]
    runs = _runs_of(trials)
    firsts = sorted((trials[idx[0]] for idx in runs.values()), key=records.lr)
    if not firsts:
        return []
    picks = sorted({int(round(i)) for i in np.linspace(0, len(firsts) - 1, min(n, len(firsts)))})
    chosen = [firsts[i] for i in picks]
    try:
        best = configuration(study.best_trial)
        if best in runs and all(configuration(t) != best for t in chosen):
            chosen[len(chosen) // 2] = trials[runs[best][0]]
    except ValueError:
        pass
    chosen.sort(key=records.lr)
    return [
        runs_curve(
            [trials[i] for i in runs[configuration(t)]],
            f"ε={records.lr(t):.3g} (#{t.number})",
            store,
        )
        for t in chosen
    ]


def best_curve(study: optuna.Study, store) -> Curve | None:
    """The best complete trial's configuration's learning curve (None without one)."""
    try:
        best = study.best_trial
    except ValueError:
        return None
    if not records.history(best, store):
        return None
    label = f"{study.study_name}: best ε={records.lr(best):.3g} (#{best.number})"
    return runs_curve(_runs_like(study, best, store), label, store)


def _runs_like(study: optuna.Study, t: optuna.trial.FrozenTrial, store) -> list:
    """The finished runs of ``t``'s configuration that have a stored curve (``t`` among them)."""
    key = configuration(t)
    return [u for u in finished(study) if configuration(u) == key and records.history(u, store)]


def runs_curve(runs: list[optuna.trial.FrozenTrial], label: str, store) -> Curve:
    """The learning curve of one run, or the median curve and quartile band of several.

    Each run's loss is interpolated (in log E) onto the epochs of the longest run; a run
    counts up to its last epoch, and as +∞ from the epoch where its loss stopped being finite.
    """
    if len(runs) == 1:
        return _curve(runs[0], label, records.history(runs[0], store))
    hs = [records.history(t, store) for t in runs]

    def col(h: dict, key: str) -> np.ndarray:
        return np.array([math.nan if v is None else v for v in h.get(key, [])], dtype=float)

    longest = max(range(len(hs)), key=lambda i: col(hs[i], "epoch")[-1])
    epoch, updates = col(hs[longest], "epoch"), col(hs[longest], "updates")

    def on_grid(h: dict, key: str) -> np.ndarray:
        e, y = col(h, "epoch"), col(h, key)
        out = np.full(len(epoch), math.nan)
        ok = np.isfinite(y) & (y > 0)
        if not ok.any():
            return out
        inside = epoch <= e[-1]
        out[inside] = np.exp(np.interp(epoch[inside], e[ok], np.log(y[ok])))
        bad = ~np.isfinite(y)
        if bad.any() and e[bad].min() > e[ok].max():  # from there on, not finite: diverged
            out[inside & (epoch >= e[bad].min())] = np.inf
        return out

    def quartiles(key: str) -> np.ndarray:
        grid = np.array([on_grid(h, key) for h in hs])
        q = np.full((3, len(epoch)), math.nan)
        cols = (~np.isnan(grid)).any(axis=0)  # some run still going (finite or +∞)
        with np.errstate(invalid="ignore"):
            q[:, cols] = np.nanquantile(grid[:, cols], [0.25, 0.5, 0.75], axis=0)
        q[np.isnan(q) & cols] = np.inf  # ∞ − ∞ inside the interpolation
        return q

    loss, val = quartiles("loss"), quartiles("val_loss")
    statuses = [records.status(t) for t in runs]
    counts = ", ".join(f"{s} {statuses.count(s)}" for s in STATUS_ORDER if s in statuses)
    return Curve(
        runs[0].number,
        f"{label}, median of {len(runs)} runs ({counts})",
        _most_common(statuses),
        epoch,
        updates,
        loss[1],
        val[1],
        (loss[0], loss[2]),
        len(runs),
    )


def batch_map(study: optuna.Study, store) -> BatchMap:
    """Final metric and status over (ε, batch size), one point per configuration."""
    metric = records.metric(study)
    trials = finished(study)
    loss = np.array([_final_loss(t, metric, store) for t in trials])
    status = np.array([records.status(t) for t in trials], dtype=str)
    groups = list(_runs_of(trials).values())
    median = [
        quartiles(np.where(status[idx] == "diverged", np.nan, loss[idx]))[1] for idx in groups
    ]
    return BatchMap(
        np.array([records.lr(trials[idx[0]]) for idx in groups], dtype=float),
        np.array([records.batch_size(trials[idx[0]]) for idx in groups], dtype=float),
        np.array(median, dtype=float),
        np.array([_most_common(status[idx].tolist()) for idx in groups], dtype=str),
        records.n_train(study),
        loss_label(study),
        np.array([len(idx) for idx in groups]),
    )


def schedule_curves(study: optuna.Study, store) -> ScheduleCurves:
    """For each schedule kind, its best trial's ε_t over its updates and its learning curve."""
    spec = records.spec_of(study)
    direction = study.direction
    best: dict[str, optuna.trial.FrozenTrial] = {}
    for t in finished(study):
        if t.state != TrialState.COMPLETE or not records.history(t, store):
            continue
        kind = records.schedule(t)
        cur = best.get(kind)
        better = cur is None or (
            t.value < cur.value
            if direction == optuna.study.StudyDirection.MINIMIZE
            else t.value > cur.value
        )
        if better:
            best[kind] = t
    kinds, ups, lrs, curves = [], [], [], []
    for kind in sorted(best):
        t = best[kind]
        params = {k.split(".", 1)[1]: v for k, v in t.params.items() if k.startswith(kind + ".")}
        base = (
            spec.get("trainer", {}).get("schedule_params", {})
            if kind == spec.get("trainer", {}).get("schedule")
            else {}
        )
        sched = make_schedule(kind, **{**base, **params})
        n = max(1, records.updates(t))
        u = np.arange(n + 1)
        kinds.append(kind)
        ups.append(u)
        lrs.append(np.asarray(sched(u, records.lr(t)), dtype=float))
        curves.append(
            runs_curve(_runs_like(study, t, store), f"{kind}, ε0={records.lr(t):.3g}", store)
        )
    return ScheduleCurves(kinds, ups, lrs, curves)


def artifact_arrays(
    study: optuna.Study, store, filename: str, trial: optuna.trial.FrozenTrial | None = None
) -> dict[str, np.ndarray] | None:
    """The newest artifact ``filename`` of the study (or trial), loaded without pickle."""
    owner = trial if trial is not None else study
    metas = [m for m in records.artifact_meta(study, owner) if m.filename == filename]
    if not metas:
        return None
    whose = f"study {study.study_name!r}" if trial is None else f"trial {trial.number}"
    return records.read_arrays(store, metas[-1].artifact_id, filename, whose)


class RangeMinima(NamedTuple):
    """Where the LR range test's loss was least: the raw loss's and its moving average's.

    The moving average lags the raw loss (by about 1/(1 − β) updates), so its minimum lies at
    a larger ε and a higher loss; the suggestion is a tenth of its ε (fastai's rule).
    """

    lr_raw: float
    loss_raw: float
    lr_smoothed: float
    loss_smoothed: float


def range_minima(lr: np.ndarray, loss: np.ndarray, smoothed: np.ndarray) -> RangeMinima:
    """The least raw loss and the least smoothed loss of a range test, each with its ε."""
    raw = np.where(np.isfinite(loss), loss, np.nan)
    sm = np.where(np.isfinite(smoothed), smoothed, np.nan)
    i, j = int(np.nanargmin(raw)), int(np.nanargmin(sm))
    return RangeMinima(float(lr[i]), float(raw[i]), float(lr[j]), float(sm[j]))


class SharpnessRun(NamedTuple):
    """λ_max and E at the measured updates of one tracked run, with its ε and reading."""

    trial: int
    role: str
    lr: float
    kind: str
    updates: np.ndarray
    sharpness: np.ndarray
    loss: np.ndarray


def sharpness_runs(study: optuna.Study, store) -> list[SharpnessRun]:
    """The tracked representative runs of a search (empty when none were tracked)."""
    runs = records.sharpness(study)
    arrays = artifact_arrays(study, store, records.SHARPNESS) if runs and store else None
    if arrays is None:
        return []
    out = []
    for r in runs:
        n = r["trial"]
        if f"t{n}_sharpness" not in arrays:
            continue
        out.append(
            SharpnessRun(
                n,
                r["role"],
                r["lr"],
                r["kind"],
                arrays[f"t{n}_updates"],
                arrays[f"t{n}_sharpness"],
                arrays[f"t{n}_loss"],
            )
        )
    return out


class ConvergenceCurves(NamedTuple):
    """Per run of the convergence analysis: its label, kind, and gap/distance against updates."""

    labels: list[str]
    kinds: list[str]
    updates: list[np.ndarray]
    gap: list[np.ndarray]
    distance: list[np.ndarray]


def convergence_curves(study: optuna.Study, store) -> ConvergenceCurves | None:
    """The curves of the latest complete convergence trial, or None."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not trials or store is None:
        return None
    t = trials[-1]
    arrays = artifact_arrays(study, store, records.CONVERGENCE, t)
    if arrays is None:
        return None
    runs = records.result_of(study, convergence.KIND, store).runs  # the same, last trial
    n = range(len(runs))
    return ConvergenceCurves(
        [r.label for r in runs],
        [r.kind for r in runs],
        [arrays[f"r{i}_updates"] for i in n],
        [arrays[f"r{i}_gap"] for i in n],
        [arrays[f"r{i}_distance"] for i in n],
    )


class MinimaData(NamedTuple):
    """Per class (minima, families, levels at infinity, saddles; each by loss) and counts.

    Each class has its kind, loss, basin share, copies met, dimension and Hessian spectrum.
    The counts are of two kinds, kept apart: starts (``n_starts``, by the kind of end point
    in ``kind_counts``) and classes modulo symmetry (``distinct_minima``, ``families``, and
    Chao1's estimate of all isolated minima, seen or not).
    """

    kinds: list[str]
    loss: np.ndarray
    share: np.ndarray
    copies: np.ndarray
    dimension: np.ndarray
    spectra: list[np.ndarray]
    n_starts: int
    kind_counts: dict[str, int]
    distinct_minima: int
    families: int
    chao1: float


def minima_data(rep: MinimaReport, arrays: dict[str, np.ndarray] | None) -> MinimaData:
    """The minima figure's data: every class, with its spectrum from the points' arrays."""
    classes = rep.classes
    spectra = [
        arrays["eigenvalues"][m.index] if arrays is not None else np.zeros(0) for m in classes
    ]

    def column(key: str) -> np.ndarray:
        return np.array([getattr(m, key) for m in classes], dtype=float)

    return MinimaData(
        [m.kind for m in classes],
        column("loss"),
        column("basin_share"),
        column("copies_met"),
        column("dimension"),
        spectra,
        rep.n_starts,
        dict(rep.kind_counts),
        rep.distinct_minima,
        len(rep.families),
        rep.chao1.estimate,
    )


class AxisLine(NamedTuple):
    """One batch size and horizon of one size along the noise axis (a line of the figure).

    ``x`` is ε/ε_div(B), increasing; ``escaped``/``escaped_low``/``escaped_high`` the share of
    chains started at bad minima (all distinct ones pooled) that reached the global basin,
    with its Wilson interval (NaN where there were none); ``reduction`` with ``low``/``high``
    GD's bad share minus SGD's from the same random starts (Newcombe's paired interval);
    ``verdict`` each cell's.
    """

    size: str
    batch: int
    horizon: int
    x: np.ndarray
    eps: np.ndarray
    escaped: np.ndarray
    escaped_low: np.ndarray
    escaped_high: np.ndarray
    reduction: np.ndarray
    low: np.ndarray
    high: np.ndarray
    verdict: np.ndarray


class AxisData(NamedTuple):
    """The noise-axis figure: lines per size, and the map of verdicts over (ε/B, B).

    ``map_*`` hold the cells of the longest horizon: their ε/B, B, size and verdict.
    """

    sizes: list[str]
    lines: list[AxisLine]
    map_eps_over_b: np.ndarray
    map_batch: np.ndarray
    map_size: np.ndarray
    map_verdict: np.ndarray
    horizon: int


def axis_data(rep: AxisReport) -> AxisData:
    """The figure data of a noise-axis report (spurious, escape)."""
    cells = rep.cells
    sizes = list(dict.fromkeys(c.size for c in cells))
    lines = []
    keys = dict.fromkeys((c.size, c.batch, c.horizon) for c in cells)
    for size, batch, horizon in keys:
        row = sorted(
            (c for c in cells if (c.size, c.batch, c.horizon) == (size, batch, horizon)),
            key=lambda c: c.eps,
        )
        esc, lo, hi = [], [], []
        for c in row:
            chains = sum(e.chains for e in c.escapes)
            n_esc = sum(e.escaped for e in c.escapes)
            w = wilson(n_esc, chains) if chains else (math.nan, math.nan)
            esc.append(n_esc / chains if chains else math.nan)
            lo.append(w[0])
            hi.append(w[1])
        lines.append(
            AxisLine(
                size,
                int(batch),
                int(horizon),
                np.array([c.eps_over_div for c in row]),
                np.array([c.eps for c in row]),
                np.array(esc),
                np.array(lo),
                np.array(hi),
                np.array([c.reduction for c in row]),
                np.array([c.low for c in row]),
                np.array([c.high for c in row]),
                np.array([c.verdict for c in row]),
            )
        )
    longest = max(c.horizon for c in cells) if cells else 0
    last = [c for c in cells if c.horizon == longest]
    return AxisData(
        sizes,
        lines,
        np.array([c.eps_over_b for c in last]),
        np.array([c.batch for c in last], dtype=int),
        np.array([c.size for c in last]),
        np.array([c.verdict for c in last]),
        int(longest),
    )
