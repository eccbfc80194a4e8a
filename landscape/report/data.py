"""Figure data, computed from a stored study alone (no retraining).

Each function returns plain NamedTuples of arrays, tested on their own; drawing is in
:mod:`landscape.report.figures` (Optuna's visualisation pattern).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
import optuna
from optuna.artifacts import download_artifact, get_all_artifact_meta
from optuna.trial import TrialState

from landscape import records
from landscape.schedules import make_schedule

STATUS_ORDER = ("converged", "budget", "stalled", "pruned", "diverged")


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


class Curve(NamedTuple):
    """One trial's learning curve."""

    number: int
    label: str
    status: str
    epoch: np.ndarray
    updates: np.ndarray
    loss: np.ndarray
    val_loss: np.ndarray


class BatchMap(NamedTuple):
    """Final loss and status over (ε, batch size)."""

    lr: np.ndarray
    batch_size: np.ndarray
    loss: np.ndarray
    status: np.ndarray
    n_train: int
    loss_label: str = "loss"


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
    )


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
    """Up to ``n`` trials spread evenly over ε (their quantiles), best trial included.

    Only trials whose curve is stored (:data:`landscape.records.HISTORY`) are drawn.
    """
    trials = sorted((t for t in finished(study) if records.history(t, store)), key=records.lr)
    if not trials:
        return []
    picks = sorted({int(round(i)) for i in np.linspace(0, len(trials) - 1, min(n, len(trials)))})
    chosen = [trials[i] for i in picks]
    try:
        best = study.best_trial
        if all(t.number != best.number for t in chosen) and records.history(best, store):
            chosen[len(chosen) // 2] = best
    except ValueError:
        pass
    chosen.sort(key=records.lr)
    return [
        _curve(t, f"ε={records.lr(t):.3g} (#{t.number})", records.history(t, store)) for t in chosen
    ]


def best_curve(study: optuna.Study, store) -> Curve | None:
    """The best complete trial's learning curve (None without one)."""
    try:
        best = study.best_trial
    except ValueError:
        return None
    h = records.history(best, store)
    if not h:
        return None
    return _curve(best, f"{study.study_name}: best ε={records.lr(best):.3g} (#{best.number})", h)


def batch_map(study: optuna.Study, store) -> BatchMap:
    """Final metric and status over (ε, batch size)."""
    metric = records.metric(study)
    trials = finished(study)
    return BatchMap(
        np.array([records.lr(t) for t in trials], dtype=float),
        np.array([records.batch_size(t) for t in trials], dtype=float),
        np.array([_final_loss(t, metric, store) for t in trials]),
        np.array([records.status(t) for t in trials], dtype=str),
        records.n_train(study),
        loss_label(study),
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
        curves.append(_curve(t, f"{kind}, ε0={records.lr(t):.3g}", records.history(t, store)))
    return ScheduleCurves(kinds, ups, lrs, curves)


def artifact_arrays(
    study: optuna.Study, store, filename: str, trial: optuna.trial.FrozenTrial | None = None
) -> dict[str, np.ndarray] | None:
    """The newest artifact ``filename`` of the study (or trial), loaded without pickle."""
    owner = trial if trial is not None else study
    metas = [
        m for m in get_all_artifact_meta(owner, storage=study._storage) if m.filename == filename
    ]
    if not metas:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / filename
        download_artifact(
            artifact_store=store, file_path=str(path), artifact_id=metas[-1].artifact_id
        )
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}


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
    runs = records.result(t)["runs"]
    n = range(len(runs))
    return ConvergenceCurves(
        [r["label"] for r in runs],
        [r["kind"] for r in runs],
        [arrays[f"r{i}_updates"] for i in n],
        [arrays[f"r{i}_gap"] for i in n],
        [arrays[f"r{i}_distance"] for i in n],
    )


class MinimaData(NamedTuple):
    """Per class (minima, families, levels at infinity, saddles; each by loss) and counts.

    Each class has its kind, loss, basin share, copies met, dimension and Hessian spectrum.
    """

    kinds: list[str]
    loss: np.ndarray
    share: np.ndarray
    copies: np.ndarray
    dimension: np.ndarray
    spectra: list[np.ndarray]
    counts: dict[str, float]


def minima_data(study: optuna.Study, store) -> MinimaData | None:
    """The minima analysis of a study, with each class's spectrum from the artifact."""
    rep = records.minima(study)
    if rep is None:
        return None
    arrays = artifact_arrays(study, store, records.MINIMA_POINTS)
    classes = [*rep["minima"], *rep["families"], *rep["infinity"], *rep["saddles"]]
    spectra = []
    for m in classes:
        spectra.append(arrays["eigenvalues"][m["index"]] if arrays is not None else np.zeros(0))

    def column(key: str) -> np.ndarray:
        return np.array([np.nan if m[key] is None else m[key] for m in classes], dtype=float)

    kinds = rep["kind_counts"]
    return MinimaData(
        [m["kind"] for m in classes],
        column("loss"),
        column("basin_share"),
        column("copies_met"),
        column("dimension"),
        spectra,
        {
            "starts": rep["n_starts"],
            **{f"{k} (starts)": v for k, v in kinds.items()},
            "isolated minima": rep["distinct_minima"],
            "families": len(rep["families"]),
            "Chao1 (isolated)": rep["chao1"]["estimate"],
        },
    )


class EscapeData(NamedTuple):
    """Per escape method: final and polished losses, and whether polishing converged.

    ``threshold``: the loss above which a critical point counts as bad (None before the
    analysis).
    """

    methods: list[str]
    losses: list[np.ndarray]
    polished: list[np.ndarray]
    converged: list[np.ndarray] = []
    threshold: float | None = None


def escape_data(study: optuna.Study, store) -> EscapeData | None:
    """Final losses of every escape method's runs, from each method's artifact."""
    methods = records.spec_of(study).get("analysis", {}).get("methods", [])
    by_method = {
        methods.index(t.params["method"]): t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.params.get("method") in methods
    }
    if len(by_method) < len(methods) or not methods:
        return None
    losses, polished, converged = [], [], []
    for i in range(len(methods)):
        arr = artifact_arrays(study, store, records.POINTS, by_method[i])
        losses.append(arr["train_loss"])
        polished.append(arr["loss"])
        converged.append(arr["converged"].astype(bool))
    rep = records.escape(study)
    threshold = None
    if rep and rep.get("best_loss") is not None:
        threshold = float(rep["best_loss"]) + float(rep["loss_threshold"])
    return EscapeData(list(methods), losses, polished, converged, threshold)
