"""What a stored study holds: the one module that names its attrs and artifacts.

A study made by landscape carries, as Optuna study user attrs, its spec's name and hash and what
its analyses concluded; its resolved spec is a readable TOML artifact (:data:`SPEC_TOML`) and,
for landscape's own checks, a study system attr. Each trial carries how it ended. Every other
module reads and writes them through the accessors here, so a key is spelled once and a reader
cannot drift from a writer. Plain Optuna (``optuna.load_study``) and optuna-dashboard read the
same attrs and artifacts without landscape.

Functions that take ``study`` also accept a mapping of its attrs: user and system attrs in one
dict (:func:`study_attrs`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.artifacts import get_all_artifact_meta, upload_artifact
from optuna.artifacts.exceptions import ArtifactNotFound
from optuna.trial import TrialState

from landscape.analysis import Kind
from landscape.summary import TrialRecord
from landscape.typed import from_json, to_json

_log = logging.getLogger("landscape")

# ------------------------------------------------------------------------ study attrs
_SPEC_NAME = "spec_name"
_SPEC_HASH = "spec_hash"
_SPEC = "landscape:spec"  # system attrs: long JSON, kept out of `optuna studies` and the dashboard
_SEARCH_SPACE = "landscape:search_space"
_OLD_SPEC = "spec"  # user attrs of studies stored before the spec became an artifact
_OLD_SEARCH_SPACE = "search_space"
_KIND = "analysis"
_N_TRAIN = "n_train"
_VERSION = "landscape_version"
_LAMBDA_MAX = "lambda_max"
_LAMBDA_MAX_INIT = "lambda_max_init"
_SHARPNESS = "sharpness"
_RANGE_TEST = "range_test"

# ------------------------------------------------------------------------ trial attrs
_STATUS = "status"
_RETRIED_FROM = "retried_from"
_REPEAT = "repeat"
_BISECTION = "bisection"
_WALL_TIME = "wall_time"
WORKER = "landscape:worker"
"""Trial system attr: the process running the trial, ``host:pid:start``
(:func:`landscape.runs.storage.worker_id`)."""
INVOCATION = "landscape:invocation"
"""Trial system attr: the invocation of the command that planned the trial (its ``--n-trials``
are counted by it)."""
_TRAINING = "training"
OUTCOME_KEYS = (
    "status",
    "message",
    "epochs",
    "updates",
    "train_loss",
    "val_loss",
    "accuracy",
    "val_accuracy",
    "grad_norm",
    "lr",
    "batch_size",
    "schedule",
    "train_seconds",
    "wall_time",
    "seed",
    "repeat",
    "init_stream",
    "pruned_while",
)
"""The user attrs of a search trial, readable in optuna-dashboard (see the README). Its learning
curve and its θ are trial artifacts (:data:`HISTORY`, :data:`THETA`)."""

# ------------------------------------------------------------------------ artifacts
SPEC_TOML = "spec.toml"
"""The study's resolved spec as TOML (a study artifact): rerunnable as a spec file."""
POINTS = "points.npz"
"""A chunk's (minima) or method's (escape) start, end and polished points."""
MINIMA_POINTS = "minima.npz"
"""Every polished point of a minima study with its class (a study artifact)."""
THETA = "theta.npz"
"""A search trial's final ``theta`` and its start ``theta0`` (a trial artifact, shapes (D,)); the
verified network of a symmetry study (a study artifact)."""
HISTORY = "history.json"
"""A search trial's learning curve (a trial artifact): columns ``epoch``, ``updates``, ``loss``,
``val_loss``, ``accuracy``, ``val_accuracy``, ``lr`` (evenly thinned to at most 200 rows; null
where not finite) and, when sharpness was tracked, ``sharpness_updates`` and ``sharpness``."""
GEOMETRY = "geometry.npz"
CONVERGENCE = "convergence.npz"
"""Trial artifact of the convergence analysis: ``theta_star`` and, per run i, ``r{i}_updates``,
``r{i}_gap`` (E − E*) and ``r{i}_distance`` (‖θ − θ*‖) at every evaluated epoch."""
RANGE_TEST = "range_test.npz"
"""Study artifact: the LR range test's ``lr``, ``loss`` and ``smoothed`` per update."""
SHARPNESS = "sharpness.npz"
"""Study artifact: per tracked trial n, arrays ``t{n}_updates``, ``t{n}_sharpness`` and
``t{n}_loss`` (λ_max and E at every measurement)."""
"""Paths and slices of a geometry study."""


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage a study reads and writes through.

    Optuna keeps it private (``study._storage``); this module and :mod:`landscape.runs.storage`
    are the only places that reach for it, so an Optuna upgrade that moves it breaks here only.
    """
    return study._storage


def study_id(study: optuna.Study) -> int:
    """The study's id in its storage (Optuna's private ``study._study_id``)."""
    return study._study_id


def fresh_attrs(study: optuna.Study) -> dict[str, Any]:
    """The study's attrs as stored now (not as cached when it was loaded)."""
    return study_attrs(study._storage, study._study_id)


def artifact_meta(study: optuna.Study, owner: optuna.Study | optuna.trial.FrozenTrial) -> list:
    """The metadata of every artifact of ``owner`` (the study or one of its trials)."""
    return get_all_artifact_meta(owner, storage=study._storage)


def fail_running(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> optuna.trial.FrozenTrial:
    """Mark a trial left RUNNING as FAIL (if nothing stored it meanwhile); the trial as stored."""
    try:
        study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        pass  # stored meanwhile, by a tell a signal cut short
    return study._storage.get_trial(trial._trial_id)


def trial_system_attrs(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """A trial's system attrs as stored now."""
    return study._storage.get_trial_system_attrs(trial._trial_id)


def study_names(storage: optuna.storages.BaseStorage) -> list[str]:
    """The names of the studies in a storage, oldest first."""
    return [s.study_name for s in optuna.get_all_study_summaries(storage)]


def summaries(storage: optuna.storages.BaseStorage) -> list[optuna.study.StudySummary]:
    """Every study's summary with its best trial (for ``list``)."""
    return optuna.get_all_study_summaries(storage, include_best_trial=True)


def load(storage: optuna.storages.BaseStorage, name: str) -> optuna.Study:
    """The stored study ``name`` (which must exist)."""
    return optuna.load_study(study_name=name, storage=storage)


def maximizes(study: optuna.Study) -> bool:
    """Whether the study's objective is maximised."""
    return study.direction == optuna.study.StudyDirection.MAXIMIZE


def _attrs(study: optuna.Study | Mapping) -> Mapping:
    return study if isinstance(study, Mapping) else study_attrs(study._storage, study._study_id)


def study_attrs(storage: optuna.storages.BaseStorage, study_id: int) -> dict[str, Any]:
    """A study's user and system attrs in one dict (their keys do not collide)."""
    return {**storage.get_study_system_attrs(study_id), **storage.get_study_user_attrs(study_id)}


# ------------------------------------------------------------------------ setup
def write_setup(
    study: optuna.Study,
    spec_name: str,
    spec: dict,
    search_space: list,
    version: str,
    *,
    toml: str,
    store=None,
    kind: str | None = None,
    n_train: int | None = None,
) -> None:
    """Store the resolved spec on a new study (no-op when one is stored already).

    The spec goes to a system attr (JSON, for landscape's checks) and, with an artifact
    ``store``, to the readable artifact :data:`SPEC_TOML`; user attrs get its name and a hash.
    """
    if stored_spec(study) is not None:
        return
    storage, study_id = study._storage, study._study_id
    storage.set_study_system_attr(study_id, _SPEC, spec)
    storage.set_study_system_attr(study_id, _SEARCH_SPACE, search_space)
    attrs: dict[str, Any] = {_SPEC_NAME: spec_name, _SPEC_HASH: spec_hash(spec)}
    if kind is not None:
        attrs[_KIND] = kind
    if n_train is not None:
        attrs[_N_TRAIN] = n_train
    attrs[_VERSION] = version
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    if store is not None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / SPEC_TOML
            path.write_text(toml, encoding="utf-8")
            upload_artifact(
                artifact_store=store,
                file_path=str(path),
                study_or_trial=study,
                mimetype="application/toml",
            )


def spec_hash(spec: dict) -> str:
    """The first 12 hex digits of the SHA-256 of the resolved spec's canonical JSON."""
    text = json.dumps(spec, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def set_value_name(study: optuna.Study, name: str) -> None:
    """Name the trials' objective value (Optuna's metric name: the dashboard shows it)."""
    if study.metric_names != [name]:
        study.set_metric_names([name])


def stored_spec(study: optuna.Study | Mapping) -> dict | None:
    """The resolved spec the study was made with (None: not made by landscape, or not yet)."""
    attrs = _attrs(study)
    return attrs.get(_SPEC, attrs.get(_OLD_SPEC))


def spec_of(study: optuna.Study | Mapping) -> dict:
    """The stored spec, or {} for a study landscape did not make."""
    return stored_spec(study) or {}


def spec_name(study: optuna.Study | Mapping) -> str | None:
    """The spec's name (its file stem)."""
    return _attrs(study).get(_SPEC_NAME)


def metric(study: optuna.Study | Mapping, default: str = "val_loss") -> str:
    """The metric the study's trials return."""
    return spec_of(study).get("study", {}).get("metric", default)


def kind(study: optuna.Study | Mapping) -> str:
    """``"search"`` or the analysis kind (minima, symmetry, geometry, escape)."""
    return _attrs(study).get(_KIND, "search")


def is_analysis(study: optuna.Study | Mapping) -> bool:
    """Whether the study is an analysis (its units re-queue themselves)."""
    return _KIND in _attrs(study)


def search_space(study: optuna.Study | Mapping) -> list[dict]:
    """The searched parameters as plain dicts (name, target, type, bounds …)."""
    attrs = _attrs(study)
    return attrs.get(_SEARCH_SPACE, attrs.get(_OLD_SEARCH_SPACE, []))


def n_train(study: optuna.Study | Mapping) -> int:
    """N, the training set size (search studies)."""
    return int(_attrs(study).get(_N_TRAIN, 0))


# ------------------------------------------------------------------------ conclusions
def set_lambda_max(study: optuna.Study, trial_number: int, value: float) -> None:
    """λ_max of the Hessian at the best trial's solution."""
    study.set_user_attr(_LAMBDA_MAX, {"trial": trial_number, "value": value})


def lambda_max(study: optuna.Study | Mapping) -> float | None:
    """λ_max at the best solution, if computed."""
    return _attrs(study).get(_LAMBDA_MAX, {}).get("value")


def set_lambda_max_init(study: optuna.Study, value: float) -> None:
    """λ_max of the Hessian at the common θ⁽⁰⁾."""
    study.set_user_attr(_LAMBDA_MAX_INIT, value)


def lambda_max_init(study: optuna.Study | Mapping) -> float | None:
    """λ_max at the common θ⁽⁰⁾, if computed."""
    return _attrs(study).get(_LAMBDA_MAX_INIT)


# ------------------------------------------------------------------------ results
RESULT = "result.json"
"""A queued analysis's typed result as JSON: a study artifact (too long for an attr)."""
_FOUND = "found"  # user attr: one line of what an analysis found (``list``, the dashboard)


def set_result(study: optuna.Study, kind: Kind, result: Any, store) -> None:
    """Store a queued analysis's result (:data:`RESULT`, replaced by a rerun) and its headline."""
    replace_json(store, study, RESULT, {"kind": kind.name, "result": to_json(result)})
    set_found(study, kind, result)


def set_found(study: optuna.Study, kind: Kind, result: Any) -> None:
    """One line of what an analysis found, for ``list`` and the dashboard."""
    study.set_user_attr(_FOUND, kind.headline(result))


def result_of(study: optuna.Study, kind: Kind, store) -> Any:
    """The analysis's typed result (an instance of ``kind.result``), None until it exists.

    A one-trial analysis's result is its last complete trial's user attrs; a queued one's the
    study artifact :data:`RESULT`, or where an earlier version kept it (``kind.earlier``).

    Raises
    ------
    DamagedArtifact
        When the stored result cannot be read.
    """
    if not kind.queued:
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return from_json(kind.result, dict(done[-1].user_attrs)) if done else None
    whose = f"study {study.study_name!r}"
    artifacts = study_artifacts(study._storage, study.study_name)

    def read(filename: str) -> Any:
        if filename not in artifacts or store is None:
            return None
        return read_json(store, artifacts[filename], filename, whose)

    stored = read(RESULT)
    if stored is not None:
        return from_json(kind.result, stored["result"])
    data = kind.earlier(_attrs(study), read) if kind.earlier is not None else None
    return from_json(kind.result, data) if data is not None else None


def found(attrs: Mapping, kind: Kind | None) -> str | None:
    """What a stored analysis found, in one line (None until it is complete).

    Read from the attr every analysis writes, or, for a study of an earlier version, from
    where it kept it (``kind.earlier_found``).
    """
    if attrs.get(_FOUND):
        return attrs[_FOUND]
    if kind is not None and kind.earlier_found is not None:
        return kind.earlier_found(attrs)
    return None


def set_sharpness(study: optuna.Study, runs: list[dict]) -> None:
    """The sharpness readings of a search's representative runs (arrays: :data:`SHARPNESS`)."""
    study.set_user_attr(_SHARPNESS, runs)


def sharpness(study: optuna.Study | Mapping) -> list[dict]:
    """The stored sharpness readings, one dict per tracked run (empty when none)."""
    return list(_attrs(study).get(_SHARPNESS) or [])


def set_range_test(study: optuna.Study, result: dict) -> None:
    """The LR range test that seeded the search's ε bounds (curve: :data:`RANGE_TEST`)."""
    study.set_user_attr(_RANGE_TEST, result)


def range_test(study: optuna.Study | Mapping) -> dict | None:
    """The stored LR range test, if the search was seeded by one."""
    return _attrs(study).get(_RANGE_TEST)


# ------------------------------------------------------------------------ trials
def trial_records(study: optuna.Study) -> list[TrialRecord]:
    """The finished trials of a search study as plain records for the summary."""
    recs = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        st, lr_value = status(t), lr(t)
        if st is None or lr_value is None:
            continue  # a trial ended from outside (e.g. a killed worker) has no record
        value = t.value if t.state == TrialState.COMPLETE else None
        recs.append(
            TrialRecord(
                t.number,
                float(lr_value),
                st,
                value,
                dict(t.params),
                pruned_while(t),
                bisection(t) is not None,
            )
        )
    return recs


def write_outcome(trial: optuna.Trial, outcome: Mapping[str, Any]) -> None:
    """Store how a search trial ended (exactly the keys of :data:`OUTCOME_KEYS`)."""
    if tuple(outcome) != OUTCOME_KEYS:
        raise ValueError(f"outcome keys {tuple(outcome)} differ from {OUTCOME_KEYS}")
    for key, value in outcome.items():
        trial.set_user_attr(key, value)


def write_attrs(
    trial: optuna.Trial, attrs: Mapping[str, Any], *, wall_time: float, training: Any = None
) -> None:
    """Store an analysis trial's result fields, how its training ended and its wall time."""
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    if training is not None:
        trial.set_user_attr(_TRAINING, training)
    trial.set_user_attr(_WALL_TIME, wall_time)


def result(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """An analysis trial's result: the fields of its dataclass (SymmetryCheck, …), as stored."""
    return dict(trial.user_attrs)


def training(trial: optuna.trial.FrozenTrial) -> Any:
    """How an analysis trial's training ended (a status, or counts per status)."""
    return trial.user_attrs.get(_TRAINING)


def set_status(trial: optuna.Trial, status: str) -> None:
    """A trial's status (search: converged/diverged/…; analysis units: done/idle)."""
    trial.set_user_attr(_STATUS, status)


def status(trial: optuna.trial.FrozenTrial) -> str | None:
    """How the trial ended, None for a trial ended from outside (e.g. a killed worker)."""
    return trial.user_attrs.get(_STATUS)


def lr(trial: optuna.trial.FrozenTrial) -> float | None:
    """The trial's ε (or ε0 of its schedule)."""
    return trial.user_attrs.get("lr", trial.params.get("lr"))


def pruned_while(trial: optuna.trial.FrozenTrial) -> str | None:
    """For a pruned trial, where its curve was heading (stalled, rising, improving)."""
    return trial.user_attrs.get("pruned_while")


def batch_size(trial: optuna.trial.FrozenTrial) -> int:
    """The trial's batch size (N for batch learning)."""
    return int(trial.user_attrs["batch_size"])


def updates(trial: optuna.trial.FrozenTrial) -> int:
    """Updates the trial made."""
    return int(trial.user_attrs.get("updates", 1))


def schedule(trial: optuna.trial.FrozenTrial) -> str:
    """The trial's learning-rate schedule."""
    return trial.params.get("schedule", trial.user_attrs.get("schedule", "constant"))


def history(trial: optuna.trial.FrozenTrial, store) -> dict[str, list] | None:
    """The trial's thinned learning curve (:data:`HISTORY`), None if it has none.

    Read from the artifact ``store`` (None: no curve can be read); studies stored before the
    curve became an artifact carry it as the user attr ``history``, which is read instead.
    """
    if "history" in trial.user_attrs:
        return trial.user_attrs["history"]
    artifact_id = trial_artifacts(trial).get(HISTORY)
    if store is None or artifact_id is None:
        return None
    key = (id(store), artifact_id)
    if key not in _HISTORIES:  # artifacts are written once: a read can be kept
        try:
            _HISTORIES[key] = read_json(store, artifact_id, HISTORY, _whose(trial))
        except ArtifactNotFound:  # another artifact folder than the one it was written to
            return None
        except DamagedArtifact as exc:  # one trial's curve: the report goes on without it
            _log.warning("%s; its learning curve is left out", exc)
            return None
        while len(_HISTORIES) > 4096:
            _HISTORIES.pop(next(iter(_HISTORIES)))
    return _HISTORIES[key]


_HISTORIES: dict[tuple[int, str], dict[str, list]] = {}


def trial_theta(trial: optuna.trial.FrozenTrial, store) -> dict[str, np.ndarray] | None:
    """A search trial's stored ``theta`` and ``theta0`` (:data:`THETA`), None if not stored."""
    artifact_id = trial_artifacts(trial).get(THETA)
    if store is None or artifact_id is None:
        return None
    try:
        return read_arrays(store, artifact_id, THETA, _whose(trial))
    except ArtifactNotFound:  # another artifact folder than the one it was written to
        return None
    except DamagedArtifact as exc:  # one trial's θ: read as not stored (trained again)
        _log.warning("%s; it is read as not stored", exc)
        return None


def _whose(trial: optuna.trial.FrozenTrial) -> str:
    return f"trial {trial.number}"


def trial_artifacts(trial: optuna.trial.FrozenTrial) -> dict[str, str]:
    """A finished trial's artifacts by file name (the newest of each name)."""
    found: dict[str, str] = {}
    for key, value in trial.system_attrs.items():
        if key.startswith("artifacts:"):
            meta = json.loads(value) if isinstance(value, str) else value
            if isinstance(meta, dict):
                found[meta["filename"]] = meta["artifact_id"]
    return found


def upload_json(store, owner: optuna.Study | optuna.Trial, filename: str, obj: Any) -> str:
    """Store a JSON document as an artifact of a study or trial; return its artifact id."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / filename
        path.write_text(json.dumps(obj, ensure_ascii=False, allow_nan=False), encoding="utf-8")
        return upload_artifact(
            artifact_store=store,
            file_path=str(path),
            study_or_trial=owner,
            mimetype="application/json",
        )


def mark_worker_gone(storage: optuna.storages.BaseStorage, trial_id: int) -> None:
    """The status of a RUNNING trial whose worker died, set just before it is failed."""
    storage.set_trial_user_attr(trial_id, _STATUS, "failed: worker gone")


def retry_copy(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Enqueue a copy of a failed trial with its parameters (user attr ``retried_from``).

    The copy stays in the failed trial's plan (its invocation), so it replaces the failed one
    there instead of adding to it.
    """
    attrs = {_RETRIED_FROM: trial.number}
    if bisection(trial) is not None:
        attrs[_BISECTION] = bisection(trial)
    if _REPEAT in trial.user_attrs:
        attrs[_REPEAT] = trial.user_attrs[_REPEAT]
    system = {k: trial.system_attrs[k] for k in (INVOCATION,) if k in trial.system_attrs}
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            user_attrs=attrs,
            system_attrs=system,
        )
    )


PLAN_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
"""The states of trials a plan counts: finished, running, or queued to run (not failed)."""


def in_plan(trial: optuna.trial.FrozenTrial, invocation: str | None = None) -> bool:
    """Whether a trial counts toward a plan of configurations (``--n-trials``, ``--total``).

    A configuration is a trial that is neither a repeat of one nor a bisection step, in one of
    :data:`PLAN_STATES`; with ``invocation``, only one that invocation planned.
    """
    if trial.state not in PLAN_STATES or is_repeat(trial) or bisection(trial) is not None:
        return False
    return invocation is None or trial.system_attrs.get(INVOCATION) == invocation


def worker(trial: optuna.trial.FrozenTrial) -> str | None:
    """The process that runs (or ran) a trial, ``host:pid:start``, if recorded."""
    return trial.system_attrs.get(WORKER)


def enqueue_repeats(study: optuna.Study, params: Mapping[str, Any], repeats: int) -> None:
    """Enqueue repeats 1 … repeats − 1 of a configuration (user attr ``repeat``)."""
    for r in range(1, repeats):
        study.enqueue_trial(dict(params), user_attrs={_REPEAT: r}, skip_if_exists=False)


def repeat(trial: optuna.Trial | optuna.trial.FrozenTrial) -> int:
    """Which run of its configuration a search trial is (0: the sampled one)."""
    return int(trial.user_attrs.get(_REPEAT, 0))


def is_repeat(trial: optuna.Trial | optuna.trial.FrozenTrial) -> bool:
    """Whether the trial is a repeat r > 0 of a configuration (or a retry of one)."""
    return repeat(trial) > 0


def enqueue_bisection(study: optuna.Study, param: str, lr: float, step: int) -> None:
    """Enqueue step ``step`` of the boundary bisection: a trial at ``lr``, never pruned."""
    study.enqueue_trial({param: lr}, user_attrs={_BISECTION: step})


def bisection(trial: optuna.Trial | optuna.trial.FrozenTrial) -> int | None:
    """The bisection step a trial is, None for a trial of the search."""
    return trial.user_attrs.get(_BISECTION)


def retried_from(trial: optuna.trial.FrozenTrial) -> int | None:
    """The number of the failed trial this one re-runs, if any."""
    return trial.user_attrs.get(_RETRIED_FROM)


# ------------------------------------------------------------------------ artifacts
class DamagedArtifact(ValueError):
    """A stored artifact cannot be read; the message is one line naming it and the remedy."""


_REGENERATE = {
    SHARPNESS: "run the study's command again with --total N (N: its finished trials), which "
    "adds no search trial and measures the sharpness anew",
    RANGE_TEST: "run the study's command again with --total N (N: its finished trials), which "
    "adds no search trial and runs the range test anew",
}


def _damaged(filename: str, artifact_id: str, whose: str, exc: BaseException) -> DamagedArtifact:
    remedy = _REGENERATE.get(
        filename,
        "it cannot be regenerated in place: run the analysis again under a new --study-name",
    )
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DamagedArtifact(
        f"artifact {filename} ({artifact_id}) of {whose} is damaged ({reason}); {remedy}"
    )


def read_arrays(store, artifact_id: str, filename: str, whose: str) -> dict[str, np.ndarray]:
    """The arrays of an npz artifact, loaded without pickle.

    Parameters
    ----------
    store : artifact store
    artifact_id, filename : str
    whose : str
        Its owner as a reader names it (``study 'lr_search'``, ``trial 3 of 'minima'``).

    Raises
    ------
    ArtifactNotFound
        Not in this store.
    DamagedArtifact
        Present but unreadable (truncated, not an npz file).
    """
    with store.open_reader(artifact_id) as fh:
        try:
            with np.load(fh, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            raise _damaged(filename, artifact_id, whose, exc) from None


def read_json(store, artifact_id: str, filename: str, whose: str) -> Any:
    """A JSON artifact (see :func:`read_arrays` for the arguments and errors)."""
    with store.open_reader(artifact_id) as fh:
        try:
            return json.load(fh)
        except (OSError, ValueError) as exc:
            raise _damaged(filename, artifact_id, whose, exc) from None


def study_artifacts(storage, study_name: str, mimetype: str | None = None) -> dict[str, str]:
    """A study's artifacts by file name (the first of each name), skipping deleted ones.

    Read from the study's system attrs directly: optuna-dashboard marks an artifact deleted
    from the browser with a null entry, which ``optuna.artifacts.get_all_artifact_meta``
    cannot read.
    """
    storage = optuna.storages.get_storage(storage)
    study_id = storage.get_study_id_from_name(study_name)
    found: dict[str, str] = {}
    for key, value in storage.get_study_system_attrs(study_id).items():
        if not key.startswith("artifacts:"):
            continue
        meta = json.loads(value) if isinstance(value, str) else value
        if isinstance(meta, dict) and (mimetype is None or meta.get("mimetype") == mimetype):
            found.setdefault(meta["filename"], meta["artifact_id"])
    return found


def replace_arrays(
    store, study: optuna.Study, filename: str, arrays: Mapping[str, np.ndarray]
) -> str:
    """Store arrays as the study's npz artifact ``filename``, overwriting an earlier one in place.

    A rerun that recomputes a study-level result keeps one artifact of it, not one per run.
    """
    earlier = study_artifacts(study._storage, study.study_name).get(filename)
    if earlier is None:
        return upload_arrays(store, study, filename, arrays)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / filename
        np.savez(path, **arrays)
        with open(path, "rb") as fh:
            store.write(earlier, fh)
    return earlier


def replace_json(store, study: optuna.Study, filename: str, obj: Any) -> str:
    """Store a JSON document as the study's artifact ``filename``, overwriting an earlier one."""
    earlier = study_artifacts(study._storage, study.study_name).get(filename)
    if earlier is None:
        return upload_json(store, study, filename, obj)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / filename
        path.write_text(json.dumps(obj, ensure_ascii=False, allow_nan=False), encoding="utf-8")
        with open(path, "rb") as fh:
            store.write(earlier, fh)
    return earlier


def upload_arrays(
    store, owner: optuna.Study | optuna.Trial, filename: str, arrays: Mapping[str, np.ndarray]
) -> str:
    """Store arrays as an npz artifact of a study or trial; return its artifact id."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / filename
        np.savez(path, **arrays)
        return upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=owner)
