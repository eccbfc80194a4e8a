"""Analysis kinds as Optuna trials, stored, shared and resumable: one adapter for every kind.

A **one-trial** kind (:attr:`Kind.run`) runs in one trial: its result's fields are the
trial's user attrs (optuna-dashboard shows them), its arrays the trial's npz artifact, its
value the trial's objective value.

A **queued** kind (:attr:`Kind.run_unit`) splits into units of work, each one trial, enqueued
in advance (:func:`enqueue_missing`), so any number of workers on one storage take units from
the queue until none is left. A unit's arrays are its trial's npz artifact (loaded with
``allow_pickle=False``). When every unit is complete, the kind's ``finish`` computes the result
from the artifacts alone — redoable without rerunning the units — stored as the study artifact
:data:`landscape.runs.records.RESULT` with its arrays.
"""

from __future__ import annotations

import time
from typing import Any

import optuna
from optuna.artifacts import FileSystemArtifactStore
from optuna.trial import TrialState

from landscape.analysis import KINDS, Kind
from landscape.runs import records
from landscape.runs.problem import Problem
from landscape.typed import to_json


def kind_of(problem: Problem) -> Kind:
    """The registry entry of the problem's analysis."""
    return KINDS[problem.spec.analysis.kind]


def unit_names(problem: Problem) -> list[str] | None:
    """The names of the analysis's units of work, None where they are numbered (chunks)."""
    return kind_of(problem).unit_names(problem.spec.analysis)


def n_units(problem: Problem) -> int:
    """How many units of work the analysis has."""
    return kind_of(problem).n_units(problem.spec.analysis)


def _unit_of(value: Any, names: list[str] | None) -> int:
    """A unit's index from its trial parameter (its name, or its number)."""
    return int(value) if names is None else names.index(value)


# ------------------------------------------------------------------ one trial
def run_one(problem: Problem, study: optuna.Study, store: FileSystemArtifactStore) -> Any:
    """Run a one-trial analysis in a trial of ``study``; store its result, arrays and value."""
    kind, config = kind_of(problem), problem.spec.analysis
    trial = study.ask()
    start = time.perf_counter()
    out = kind.run(problem.inputs, config)
    attrs = to_json(out.result)
    extra = dict(out.attrs)
    records.write_attrs(
        trial, attrs, wall_time=time.perf_counter() - start, training=extra.pop("training", None)
    )
    if out.arrays and kind.arrays:
        records.upload_arrays(store, trial, kind.arrays, out.arrays)
    study.tell(trial, out.value)
    records.set_found(study, kind, out.result)
    return out.result


# ------------------------------------------------------------------ queued units
def unit_objective(problem: Problem, store: FileSystemArtifactStore):
    """The objective of the queued unit trials of a queued analysis."""
    kind, config = kind_of(problem), problem.spec.analysis
    total = kind.n_units(config)
    names = kind.unit_names(config)
    param = kind.unit_param

    def objective(trial: optuna.Trial) -> float:
        start = time.perf_counter()
        if names is None:
            unit = trial.suggest_int(param, 0, total - 1)
        else:
            unit = names.index(trial.suggest_categorical(param, names))
        value = trial.params[param]
        states = (TrialState.COMPLETE, TrialState.RUNNING)
        if any(
            t.params.get(param) == value and t.number != trial.number
            for t in trial.study.get_trials(deepcopy=False, states=states)
        ):
            # Not from the queue: another worker took the last unit between our look at the
            # queue and our ask, and the sampler proposed a unit that is taken.
            records.set_status(trial, "idle")
            raise optuna.TrialPruned(f"{param} {value} is taken; nothing left in the queue")
        arrays = kind.run_unit(problem.inputs, config, unit)
        records.upload_arrays(store, trial, records.POINTS, arrays)
        records.set_status(trial, "done")
        attrs = {"unit": names[unit]} if names is not None else {}
        attrs.update(kind.unit_attrs(arrays) if kind.unit_attrs is not None else {})
        records.write_attrs(
            trial,
            attrs,
            wall_time=time.perf_counter() - start,
            training=attrs.pop("training", None),
        )
        return kind.unit_value(arrays) if kind.unit_value is not None else 0.0

    return objective


def enqueue_missing(
    study: optuna.Study, total: int, param: str = "chunk", names: list[str] | None = None
) -> list[int]:
    """Enqueue one trial per unit that is neither complete, queued nor running.

    Units are numbered 0 … total − 1, or named by ``names`` (then the parameter is their name).
    """
    taken = set()
    for t in study.get_trials(
        deepcopy=False, states=(TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING)
    ):
        unit = t.params.get(param, t.system_attrs.get("fixed_params", {}).get(param))
        if unit is not None:
            taken.add(_unit_of(unit, names))
    missing = [c for c in range(total) if c not in taken]
    for c in missing:
        study.enqueue_trial({param: c if names is None else names[c]}, skip_if_exists=False)
    return missing


def drain_queue(study: optuna.Study, objective, callback=None) -> int:
    """Run queued unit trials until the queue is empty; returns how many this worker ran."""
    done = 0
    while study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        try:
            study.optimize(objective, n_trials=1, callbacks=[callback] if callback else None)
        except optuna.exceptions.TrialPruned:  # pragma: no cover - optimize catches it
            pass
        done += 1
    return done


def load_units(
    study: optuna.Study,
    store: FileSystemArtifactStore,
    total: int,
    param: str,
    names: list[str] | None = None,
) -> list[dict] | None:
    """Each unit's arrays from its artifact, in unit order; None while units are missing."""
    by_unit: dict[int, optuna.trial.FrozenTrial] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if param in t.params:
            by_unit[_unit_of(t.params[param], names)] = t
    if len(by_unit) < total:
        return None
    parts = []
    for c in range(total):
        meta = records.artifact_meta(study, by_unit[c])
        meta = [m for m in meta if m.filename == records.POINTS][-1]
        whose = f"trial {by_unit[c].number} ({param} {c}) of {study.study_name!r}"
        parts.append(records.read_arrays(store, meta.artifact_id, records.POINTS, whose))
    return parts


def finish(problem: Problem, study: optuna.Study, store: FileSystemArtifactStore) -> Any:
    """The queued analysis's result once every unit is complete (None until then), stored."""
    kind, config = kind_of(problem), problem.spec.analysis
    parts = load_units(study, store, kind.n_units(config), kind.unit_param, kind.unit_names(config))
    if parts is None:
        return None
    result, arrays = kind.finish(problem.inputs, config, parts)
    records.set_result(study, kind, result, store)
    if arrays and kind.arrays:
        records.replace_arrays(store, study, kind.arrays, arrays)
    return result


def payload(kind: Kind, result: Any) -> dict:
    """The analysis's result for ``--json``."""
    if kind.payload is not None:
        return kind.payload(result)
    return {kind.name: to_json(result)}
