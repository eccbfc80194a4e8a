"""Running a study spec: the one path from a spec to stored trials, a summary and a report.

:func:`run_study` is what ``python -m landscape.study NAME`` calls and what a notebook calls;
it returns a :class:`StudyRun` and prints nothing (notices go to the ``landscape`` logger).
Bad input raises :class:`~landscape.spec.SpecError`, :class:`~landscape.runs.storage.StorageError`
or :class:`UsageError` (all ``ValueError``) before anything is written.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import multiprocessing
import os
import secrets
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from landscape import __version__, files
from landscape.analysis import KINDS
from landscape.analysis.range_test import RangeTest
from landscape.analysis.sharpness import read_sharpness
from landscape.files import DiskFullError, signals_deferred
from landscape.hessian import largest_eigenvalue
from landscape.rules import GRACE, RuleError, UsageError
from landscape.runs import adapters, records
from landscape.runs.adapters import drain_queue, enqueue_missing
from landscape.runs.problem import (
    Problem,
    TimedOut,
    analysis_rng,
    build,
    make_model,
    prepare,
    trial_rng,
)
from landscape.runs.search import (
    check_components,
    make_objective,
    make_pruner,
    make_sampler,
    range_test_record,
    retrain,
    seed_lr_bounds,
    trial_records,
)
from landscape.runs.storage import (
    ArtifactStore,
    Plan,
    PlanComplete,
    StorageError,
    StorageTarget,
    artifact_dir,
    check_storage,
    check_writable,
    existing,
    fail_dead_workers,
    fail_stale_running,
    open_storage,
    resolve,
    stop_heartbeats,
    unwrap,
)
from landscape.spec import (
    Spec,
    SpecError,
    apply_params,
    find_spec,
    parse_spec,
    spec_from_dict,
    validate_static,
)
from landscape.summary import Summary, TrialRecord, regime_of, summarize
from landscape.typed import to_json

log = logging.getLogger("landscape")


@dataclass(frozen=True)
class StudyRun:
    """What one run of a spec did and found.

    Attributes
    ----------
    study : optuna.Study
        The stored study (load it again anywhere with ``optuna.load_study``).
    spec : Spec
        The resolved spec.
    storage : str
        The storage as shown (credentials masked).
    kind : str
        ``"search"`` or the analysis kind (minima, symmetry, geometry, escape).
    trials_added, trials_total : int
    wall_seconds : float
    summary : Summary or None
        The typed summary of a search study.
    result : object or None
        The analysis' own dataclass (SymmetryCheck, GeometryReport, EscapeReport,
        MinimaReport), None while other workers still own part of the work.
    text : str
        The terminal summary.
    payload : dict
        The ``--json`` summary (JSON-able).
    report : str or None
        The written ``index.html``, None without a report.
    artifacts : str
        The artifact folder of the storage.
    dead_workers : int
        Worker processes that died (their trials are re-run later; see the README).
    """

    study: optuna.Study
    spec: Spec
    storage: str
    kind: str
    trials_added: int
    trials_total: int
    wall_seconds: float
    summary: Summary | None
    result: Any
    text: str
    payload: dict = field(repr=False)
    report: str | None
    artifacts: str
    dead_workers: int = 0


@dataclass(frozen=True)
class Presenter:
    """How a run's findings are said and reported, given by the layer above (CLI, Python API).

    Attributes
    ----------
    search_text : callable
        ``search_text(summary, metric, header) → str``: a search's terminal summary.
    analysis_text : callable
        ``analysis_text(result) → str``: an analysis's terminal summary.
    write_report : callable or None
        ``write_report(storage, study_name, out_root, store, **kwargs) → Path`` (see
        :func:`landscape.report.write.write_report`); None: no report.
    """

    search_text: Any = None
    analysis_text: Any = None
    write_report: Any = None


@dataclass(frozen=True)
class _Options:
    """How a run runs (not what it runs): storage, workers, fault tolerance, output."""

    target: StorageTarget
    study_name: str
    jobs: int
    total: int | None
    heartbeat: int
    grace: float | None
    artifacts: Any
    report: bool
    progress: bool
    range_test: RangeTest | None = None
    storage_retry: float = 120.0
    invocation: str = field(default_factory=lambda: secrets.token_hex(6))
    presenter: Presenter = field(default_factory=Presenter)


def run_study(
    name_or_spec: str | Spec,
    *,
    storage: str | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    study_name: str | None = None,
    n_trials: int | None = None,
    timeout: float | None = None,
    seed: int | None = None,
    jobs: int = 1,
    total: int | None = None,
    heartbeat: int = 10,
    grace: float | None = None,
    artifacts: str | None = None,
    report: bool = True,
    progress: bool = False,
    repeats: int | None = None,
    storage_retry: float = 120.0,
    presenter: Presenter | None = None,
) -> StudyRun:
    """Run a study spec into an Optuna storage and summarise it.

    Parameters
    ----------
    name_or_spec : str or Spec
        A spec name (``lr_search``), a TOML path, or a parsed :class:`Spec`.
    storage : str, optional
        Any Optuna storage URL, a ``.db`` path or a ``.log`` journal (default
        ``sqlite:///studies/landscape.db``).
    overrides : list of str
        ``key=value`` overrides, as ``--set`` (not with a parsed Spec).
    study_name, n_trials, timeout, seed, jobs, total, heartbeat, grace, artifacts, repeats
        As the command-line options of the same names.
    storage_retry : float
        Seconds a storage outage is waited out before the run fails (``--storage-retry``).
    report : bool
        Write ``reports/NAME/index.html`` (and upload it for optuna-dashboard).
    progress : bool
        Show a progress bar on stderr.
    presenter : Presenter, optional
        How findings are said and reported (:func:`landscape.api.run_study` gives the
        toolkit's own); without one the run has no text and writes no report.

    Returns
    -------
    StudyRun

    Raises
    ------
    SpecError, StorageError, UsageError
        Bad input, before anything is written.
    """
    with _quiet_optuna():
        return _run_study(
            name_or_spec,
            storage=storage,
            overrides=overrides,
            study_name=study_name,
            n_trials=n_trials,
            timeout=timeout,
            seed=seed,
            jobs=jobs,
            total=total,
            heartbeat=heartbeat,
            grace=grace,
            artifacts=artifacts,
            report=report,
            progress=progress,
            repeats=repeats,
            storage_retry=storage_retry,
            presenter=presenter or Presenter(),
        )


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna's per-trial INFO lines and experimental-feature warnings off, then restored."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(
        min(max(verbosity, optuna.logging.WARNING), optuna.logging.CRITICAL)
    )
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
            warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
            yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def _run_study(
    name_or_spec: str | Spec,
    *,
    storage,
    overrides,
    study_name,
    n_trials,
    timeout,
    seed,
    jobs,
    total,
    heartbeat,
    grace,
    artifacts,
    report,
    progress,
    repeats,
    storage_retry,
    presenter,
) -> StudyRun:
    if jobs < 1:
        raise UsageError(f"--jobs={jobs} must be >= 1")
    if total is not None and total < 1:
        raise UsageError(f"--total={total} must be >= 1")
    if heartbeat < 0:
        raise UsageError(f"--heartbeat={heartbeat} must be >= 0 (0 turns it off)")
    if grace is not None:
        try:
            GRACE.check("--grace", grace)
        except RuleError as exc:
            raise UsageError(str(exc)) from None
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise UsageError(f"--timeout={timeout} must be a finite number > 0 of seconds")
    if not (math.isfinite(storage_retry) and storage_retry >= 0):
        raise UsageError(f"--storage-retry={storage_retry} must be a finite number >= 0 of seconds")
    _check_study_name(study_name)
    given = {
        k: v
        for k, v in (
            ("n_trials", n_trials),
            ("timeout", timeout),
            ("seed", seed),
            ("repeats", repeats),
        )
        if v is not None
    }
    extra = [f"study.{key}={value!r}" for key, value in given.items()]
    if isinstance(name_or_spec, Spec):
        if overrides:
            raise UsageError("overrides apply to a spec name or path, not to a parsed Spec")
        spec = name_or_spec
        if given:
            spec = dataclasses.replace(spec, study=dataclasses.replace(spec.study, **given))
        validate_static(spec)  # a Spec built by hand, or changed above, is checked like a file
    else:
        spec_name, text = find_spec(name_or_spec)
        spec = parse_spec(spec_name, text, [*overrides, *extra])
    if study_name is None:
        _check_study_name(spec.name, "the study name from the spec file name")
    problem = prepare(spec)
    check_components(spec, problem.n_train)  # Optuna takes the sampler's and pruner's options
    range_test = None
    if spec.study.range_test and spec.analysis is None:
        spec, range_test = seed_lr_bounds(problem)
        problem = prepare(spec)  # the new bounds are validated as a spec file's would be
        check_components(spec, problem.n_train)
    target = _target(storage)
    options = _Options(
        target=target,
        study_name=study_name or spec.name,
        jobs=jobs,
        total=total,
        heartbeat=heartbeat,
        grace=grace,
        artifacts=artifact_dir(target, artifacts),
        report=report,
        progress=progress,
        range_test=range_test,
        storage_retry=storage_retry,
        presenter=presenter,
    )
    beat = {**_beat(options), "retry_seconds": storage_retry}
    check_writable(target)
    # Every output folder is checked before the storage is opened (or created).
    if target.path is not None and not target.exists():
        files.check_folder(target.path.parent, "the folder of --storage")
    files.check_folder(options.artifacts, "--artifacts")
    if report:
        files.check_folder("reports", "the report folder")
    store = None
    n_before = 0
    if target.exists():
        store = open_storage(target, **beat)
        n_before = _check_existing(store, options.study_name, spec, target.display)
    if store is not None:
        # A trial whose process is gone from this host can never finish: failed now (and a
        # copy queued), whatever its heartbeat or the journal's grace period say.
        for name, number in fail_dead_workers(store, [options.study_name]):
            log.warning(
                "trial %d of %r: its process is gone; marked FAIL, a copy queued", number, name
            )
    if target.kind == "journal" and store is not None:
        limit = grace if grace is not None else 600.0
        for name, number in fail_stale_running(store, limit, [options.study_name]):
            log.warning(
                "trial %d of %r ran past the %g s grace period without finishing: marked FAIL",
                number,
                name,
                limit,
            )
    _ensure_default_folder(target)
    store = store or open_storage(target, **beat)
    if spec.analysis is not None:
        return _run_analysis(spec, problem, options, store, n_before)
    return _run_search(spec, problem, options, store, n_before)


def _run_search(spec: Spec, problem: Problem, options: _Options, store, n_before: int) -> StudyRun:
    study = optuna.create_study(
        storage=store,
        study_name=options.study_name,
        direction=spec.direction,
        sampler=make_sampler(spec, n_train=problem.n_train),
        pruner=make_pruner(spec),
        load_if_exists=True,
    )
    options.artifacts.mkdir(parents=True, exist_ok=True)
    artifacts = ArtifactStore(str(options.artifacts))
    _record_setup(study, spec, artifacts, n_train=problem.n_train)
    if options.range_test is not None:
        rt = options.range_test
        records.set_range_test(study, range_test_record(rt))
        curve = {"lr": rt.lr, "loss": rt.loss, "smoothed": rt.smoothed}
        records.replace_arrays(artifacts, study, records.RANGE_TEST, curve)
    # n_trials and --total count configurations; each runs study.repeats times (trials). The
    # plan is kept by the storage: fresh trials are created only while the study (--total) or
    # this invocation (--n-trials) holds fewer configurations, across every worker.
    repeats = spec.study.repeats
    plan = _plan(study, options, spec.study.n_trials)
    missing = _missing(study, plan)
    start = time.perf_counter()
    bar = _progress(missing * repeats, not options.progress)
    dead = 0
    deadline = None if spec.study.timeout is None else time.time() + spec.study.timeout

    def tick(st: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        bar.update(1)
        bar.set_postfix_str(f"last: {records.status(trial) or trial.state.name}")

    objective = make_objective(problem, artifacts, deadline=deadline)
    with _phase("trials", study, plan), store.planned(plan):
        if missing and options.jobs > 1:
            dead = _run_workers(spec, options, bar, study, plan, deadline)
        # Inline, and after the workers: what they left (repeats of the last configurations,
        # copies of a dead worker's trial) is run here, within the same plan and deadline.
        _drain(study, objective, deadline, [tick])
    timed_out = deadline is not None and time.time() > deadline
    if spec.study.bisect and timed_out:
        log.warning("the bisection of the divergence boundary is skipped: --timeout has passed")
    if spec.study.bisect and not dead and not timed_out:
        bar.total = (bar.total or 0) + spec.study.bisect
        bar.refresh()
        with _phase("the bisection of the divergence boundary", study, plan):
            _bisect(problem, study, spec.study.bisect, artifacts, tick)
    bar.close()
    wall = time.perf_counter() - start
    recs = trial_records(study)
    by = [p.name for p in spec.search if p.type in ("categorical", "pow2")]
    rt = records.range_test(study)
    summary = summarize(recs, spec.direction, by=by, range_test=rt)
    with _phase("the λ_max computation (after the trials)", study, plan):
        lam, lam0 = _curvature(problem, study, summary, artifacts)
    if lam is not None or lam0 is not None:
        summary = summarize(
            recs, spec.direction, lambda_max=lam, lambda_max_init=lam0, by=by, range_test=rt
        )
    if _full_batch_constant(spec) and spec.study.track_sharpness and summary.best is not None:
        with _phase(
            "the sharpness tracking of representative runs (after the trials)", study, plan
        ):
            runs = _track_sharpness(problem, study, summary, recs, options.artifacts)
        summary = dataclasses.replace(summary, sharpness=runs)
    n_now = len(study.get_trials(deepcopy=False))
    target = options.target
    header = (
        f"study {options.study_name!r} in {target.display}: {n_now - n_before} trials "
        f"added ({n_now} in all) in {wall:.1f} s"
    )
    say = options.presenter.search_text
    text = say(summary, spec.study.metric, header) if say is not None else header
    with _phase("the report (after the trials)", study, plan, done=text):
        report = _finish_report(options, store)
    payload = {
        "study": options.study_name,
        "spec": spec.name,
        "storage": target.display,
        "metric": spec.study.metric,
        "direction": spec.direction,
        "trials_added": n_now - n_before,
        "trials_total": n_now,
        "wall_seconds": wall,
        "summary": summary.to_dict(),
        "report": report,
    }
    return StudyRun(
        study=study,
        spec=spec,
        storage=target.display,
        kind="search",
        trials_added=n_now - n_before,
        trials_total=n_now,
        wall_seconds=wall,
        summary=summary,
        result=None,
        text=text,
        payload=payload,
        report=report,
        artifacts=str(options.artifacts),
        dead_workers=dead,
    )


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGINT: Optuna marks the running trial FAIL and re-raises this."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.detail: str | None = None  # what was cut short, set by the run (see _phase)
        self.done: str | None = None  # the summary of what was finished before it


def _on_signal(signum, _frame) -> None:
    raise Interrupted(signum)


def install_signal_handlers(sigint: bool = True) -> None:
    """Turn SIGTERM (and SIGINT) into :class:`Interrupted` in this process."""
    _redeliver_lost_interrupts()
    signal.signal(signal.SIGTERM, _on_signal)
    if sigint:
        signal.signal(signal.SIGINT, _on_signal)


class _InterruptedTrialFilter(logging.Filter):
    """Drop Optuna's warnings about a trial that SIGTERM/SIGINT or ``--timeout`` stopped.

    Optuna logs the failed trial with the traceback of the interruption (dozens of lines); the
    CLI says it in one line of its own.
    """

    def __init__(self) -> None:
        super().__init__()
        self._numbers: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: D102
        message = record.getMessage()
        number = message.split(" ", 2)[1] if message.startswith("Trial ") else None
        if record.exc_info and isinstance(record.exc_info[1], (Interrupted, TimedOut)):
            self._numbers.add(number)
            return False
        return not (number in self._numbers and " failed with value " in message)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted (not when created)."""

    @property
    def stream(self):  # noqa: D102
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging() -> None:
    """One stderr handler for landscape's and Optuna's records, for the command line.

    Records read ``landscape: message``; Optuna's records propagate to it, and those about a
    trial that SIGTERM/SIGINT interrupted are dropped (the CLI says that in one line).
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    root = logging.getLogger()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("landscape: %(message)s"))
        handler.addFilter(_InterruptedTrialFilter())
        root.addHandler(handler)
    root.setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # The one-trial analyses (symmetry, geometry) use ask/tell; their trial needs no heartbeat.
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")


def optimize(study: optuna.Study, objective, **kwargs: Any) -> None:
    """``study.optimize`` until the run's plan is complete, re-queueing an interrupted trial.

    Returns when the storage refuses a fresh trial because the plan is complete
    (:class:`~landscape.runs.storage.PlanComplete`), at ``n_trials`` or ``timeout``. A trial
    stopped by the run's deadline (:class:`TimedOut`) is FAIL, and the loop ends there. Optuna
    fails the running trial and re-raises :class:`Interrupted` on SIGTERM/SIGINT; a copy of
    the trial with the same parameters is then enqueued (user attr ``retried_from``), so the
    next run on the study runs it again, as the heartbeat does for a worker that died. An
    interruption or a storage error that Optuna's loop buries under an error of its own (when
    storing the trial fails) is raised as itself.
    """
    current: dict[str, int] = {}

    def tracked(trial: optuna.Trial) -> float:
        current["number"] = trial.number
        return objective(trial)

    try:
        try:
            study.optimize(tracked, **kwargs)
        except Exception as exc:
            # Optuna loses the error when storing the trial fails (its tell's ``finally`` raises
            # an UnboundLocalError): the interruption or outage under it is what happened.
            real = _cause(exc, (Interrupted, StorageError, DiskFullError))
            if real is None:
                raise
            raise real.with_traceback(None) from None
    except PlanComplete:
        return
    except TimedOut as exc:
        log.warning("%s", exc)
        return
    except Interrupted:
        if "number" in current:
            # A second signal must not cut the enqueue short; it is delivered right after.
            with signals_deferred():
                _requeue(study, current["number"])
        raise


def _drain(study: optuna.Study, objective, deadline: float | None, callbacks: list) -> None:
    """:func:`optimize` until the plan is complete and no trial is queued, or the deadline.

    A sampler may stop the study early (the grid sampler, once every point was visited) with
    repeats or copies still queued: those run too, one ``optimize`` each.
    """
    waiting = (TrialState.WAITING,)
    first = True
    while first or study.get_trials(deepcopy=False, states=waiting):
        if deadline is not None and time.time() >= deadline:
            return
        optimize(study, objective, timeout=_remaining(deadline), callbacks=callbacks)
        first = False


def _requeue(study: optuna.Study, number: int) -> None:
    """Queue a copy of the interrupted trial ``number``, failing it first if still RUNNING.

    Optuna fails the trial whose objective was interrupted; a signal that arrives while the
    trial is being stored (or its heartbeat stopped) leaves it RUNNING, and no process would
    end it.
    """
    (trial,) = [t for t in study.get_trials(deepcopy=False) if t.number == number]
    if trial.state == TrialState.RUNNING:
        trial = records.fail_running(study, trial)
    if trial.state == TrialState.FAIL and trial.params:
        records.retry_copy(study, trial)


def _target(url: str | None) -> StorageTarget:
    target = resolve(url)
    if url is None and target.path is not None and not target.path.parent.exists():
        return target  # the default folder is created on demand, after every check passed
    check_storage(target)
    return target


MAX_STUDY_NAME = 512
"""Optuna's RDB schema stores study names in a VARCHAR(512)."""


def _check_study_name(name: str | None, what: str = "--study-name") -> None:
    """Refuse an empty, too long or unprintable study name (``what`` says where it came from)."""
    if name is None:
        return
    hint = "" if what == "--study-name" else "; rename the file or pass --study-name"
    if not name.strip():
        raise UsageError(f"{what}={name!r} must not be empty{hint}")
    if len(name) > MAX_STUDY_NAME:
        raise UsageError(
            f"{what} of {len(name)} characters is too long; at most "
            f"{MAX_STUDY_NAME} fit Optuna's storages{hint}"
        )
    if any(not ch.isprintable() for ch in name):
        raise UsageError(f"{what}={name!r} holds control characters; use printable ones{hint}")


def _ensure_default_folder(target: StorageTarget) -> None:
    if target.path is not None and not target.path.parent.exists():
        target.path.parent.mkdir(parents=True)


MAY_CHANGE = frozenset(
    {
        "name",
        "description",
        "study.n_trials",
        "study.timeout",
        "study.bisect",
        "study.repeats",
        "study.track_sharpness",
    }
)
"""Spec fields a rerun may change on a stored study: how much to run, not what is run."""


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted paths of a resolved spec; searched parameters keyed by their name."""
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            if k == "search" and not prefix and isinstance(v, list):
                v = {p.get("name", str(i)): p for i, p in enumerate(v)}
            out.update(_flat(v, f"{prefix}{k}."))
        return out or {prefix[:-1]: {}}
    return {prefix[:-1]: d}


def _analysis_defaults(spec: Spec) -> dict[str, Any] | None:
    """The fields of the spec's analysis kind with their defaults as JSON (None: a search)."""
    if spec.analysis is None:
        return None
    out = {}
    for f in dataclasses.fields(type(spec.analysis)):
        if f.default is not dataclasses.MISSING:
            out[f.name] = to_json(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = to_json(f.default_factory())
        else:
            out[f.name] = missing_default
    return out


missing_default = object()  # a field without a default: never equal to a stored value


def setup_differences(stored: dict, spec: Spec) -> list[str]:
    """The fields, outside :data:`MAY_CHANGE`, in which ``spec`` differs from a stored spec.

    Returns
    -------
    list of str
        ``"data.name ('digits' → 'moons')"`` for each differing field, sorted.
    """
    old, new = _flat(stored), _flat(spec.to_dict())
    missing = object()
    # An [analysis] section holds its kind's fields only; versions before the registry of
    # kinds stored every kind's fields (and some no kind read). Only the kind's own fields
    # are compared, a field this version added compared with its default.
    own = _analysis_defaults(spec)
    out = []
    for key in sorted(old.keys() | new.keys()):
        if key in MAY_CHANGE:
            continue
        if key.startswith("analysis.") and own is not None:
            field_name = key.split(".")[1]
            if field_name not in own:
                continue
            if key not in old and new.get(key, missing) == own[field_name]:
                continue
        a, b = old.get(key, missing), new.get(key, missing)
        if a != b:
            show = [("unset" if v is missing else repr(v)) for v in (a, b)]
            out.append(f"{key} ({show[0]} → {show[1]})")
    return out


def _check_existing(storage: optuna.storages.BaseStorage, name: str, spec: Spec, shown: str) -> int:
    """Compare a stored study with the spec; return its number of trials (0 if new).

    Raises
    ------
    SpecError
        If the stored study was made with another setup (naming the fields), or holds trials
        but no spec (not made by landscape): adding trials would mix two experiments.
    """
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return 0
    attrs = records.study_attrs(storage, study_id)
    n_trials = len(storage.get_all_trials(study_id, deepcopy=False))
    # the CLI's flag and run_study's argument, for whichever called
    hint = "give a new study name (--study-name NEW, or study_name= in Python) for a new study"
    stored = records.stored_spec(attrs)
    if stored is None:
        if n_trials:  # (with no trial it is being created by another invocation right now)
            raise SpecError(
                f"study {name!r} in {shown} holds {n_trials} trials but no landscape "
                f"spec, so its setup is unknown; {hint}"
            )
        return 0
    diffs = setup_differences(stored, spec)
    if diffs:
        shown_diffs = "; ".join(diffs[:4]) + (
            f"; and {len(diffs) - 4} more" if len(diffs) > 4 else ""
        )
        raise SpecError(
            f"study {name!r} in {shown} was made with another setup: {shown_diffs}; "
            f"{hint}, or rerun without the changes"
        )
    directions = [d.name.lower() for d in storage.get_study_directions(study_id)]
    if directions != [spec.direction]:
        raise SpecError(
            f"study {name!r} in {shown} has direction {directions[0]}, the spec says "
            f"{spec.direction}; {hint}"
        )
    return n_trials


def _plan(study: optuna.Study, options: _Options, n_trials: int) -> Plan:
    """The plan of configurations of this run: ``--total`` for the study, or ``n_trials`` more."""
    if options.total is not None:
        return Plan(records.study_id(study), options.total)
    return Plan(records.study_id(study), n_trials, options.invocation)


def _missing(study: optuna.Study, plan: Plan) -> int:
    """Configurations the plan still lacks (finished, running and queued ones count)."""
    trials = study.get_trials(deepcopy=False, states=records.PLAN_STATES)
    return max(0, plan.limit - sum(records.in_plan(t, plan.invocation) for t in trials))


def _finished_configurations(study: optuna.Study) -> int:
    states = (TrialState.COMPLETE, TrialState.PRUNED)
    return sum(records.in_plan(t) for t in study.get_trials(deepcopy=False, states=states))


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.time())


@contextmanager
def _phase(
    what: str, study: optuna.Study, plan: Plan | None, done: str | None = None
) -> Iterator[None]:
    """Name what an interruption cut short, and what finishes it, on :class:`Interrupted`.

    ``done`` is the summary of what the run finished before the phase (printed by the CLI
    even though the phase was cut short).
    """
    try:
        yield
    except Interrupted as exc:
        if exc.detail is None:
            try:
                exc.detail = _interrupted_detail(what, study, plan)
            except StorageError:  # the storage is what we were waiting for: say what we know
                exc.detail = (
                    f"during {what}, while the storage was unreachable; what finished is "
                    "stored; rerun the command when the storage is back"
                )
            exc.done = done
        raise


def _interrupted_detail(what: str, study: optuna.Study, plan: Plan | None) -> str:
    name = study.study_name
    if what.startswith("the report") and plan is None:
        return (
            f"during {what}: the analysis is stored; no new report was written and the previous "
            f"one, if any, is intact; `report {name}` writes it"
        )
    done = _finished_configurations(study)
    if plan is None:  # an analysis: its units are enqueued again by the same command
        return (
            f"during {what}: the running unit is marked FAIL; {done} finished; the same "
            "command runs the missing units"
        )
    if plan.invocation is None:
        target = plan.limit
    else:
        mine = sum(
            records.in_plan(t, plan.invocation)
            for t in study.get_trials(
                deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)
            )
        )
        target = done - mine + plan.limit
    if what == "trials":
        return (
            f"during the trials: the running trial is marked FAIL and queued again; {done} of "
            f"the {target} configurations planned in study {name!r} are finished; --total "
            f"{target} finishes the plan (the same command would plan {plan.limit} more)"
        )
    return (
        f"during {what}: every trial is stored ({done} configurations); no new report was "
        f"written and the previous one, if any, is intact; `report {name}` writes it, "
        f"--total {done} reruns the phases after the trials"
    )


def _bisect(problem: Problem, study: optuna.Study, steps: int, artifacts, tick=None) -> None:
    """Halve the bracket of the divergence boundary ``steps`` times (see ``study.bisect``).

    Each step runs one never-pruned trial at the geometric midpoint of the largest completed
    non-diverged ε and the smallest diverged ε; it stops early when the evidence brackets no
    boundary (no diverged or no stable trial, or a stable ε above a diverged one).
    """
    spec = problem.spec
    objective = make_objective(problem, artifacts)
    for step in range(steps):
        s = summarize(trial_records(study), spec.direction)
        lo, hi = s.largest_stable_lr, s.smallest_diverged_lr
        if lo is None or hi is None or lo >= hi:
            log.warning(
                "no boundary to bisect: largest stable ε %s, smallest diverged ε %s", lo, hi
            )
            return
        records.enqueue_bisection(study, spec.search[0].name, math.sqrt(lo * hi), step)
        optimize(study, objective, n_trials=1, callbacks=[tick] if tick else None)


def _full_batch_constant(spec: Spec) -> bool:
    """Full-batch GD with one constant ε per trial: where 2/λ_max is the stability limit."""
    t = spec.trainer
    searched = {p.target for p in spec.search}
    return t.method == "gd" and t.schedule == "constant" and "trainer.schedule" not in searched


def _representatives(summary: Summary, recs: list[TrialRecord]) -> list[tuple[str, TrialRecord]]:
    """The runs whose sharpness is tracked: one of each kind the summary can explain."""
    done = [r for r in recs if r.status != "pruned"]
    stable = [r for r in done if r.status != "diverged"]
    diverged = [r for r in done if r.status == "diverged"]
    stalled = [r for r in done if r.status == "stalled"]
    edge = sorted(
        (r for r in done if regime_of(r, summary.stability_limit_init) == "unstable at θ⁽⁰⁾"),
        key=lambda r: r.lr,
    )
    picks = [("best", summary.best)]
    if stable:
        picks.append(("largest stable ε", max(stable, key=lambda r: r.lr)))
    if diverged:
        picks.append(("smallest diverged ε", min(diverged, key=lambda r: r.lr)))
    if stalled:
        picks.append(("stalled", max(stalled, key=lambda r: r.lr)))
    if edge:
        picks.append(("unstable at θ⁽⁰⁾", edge[len(edge) // 2]))
    seen: set[int] = set()
    return [(role, r) for role, r in picks if not (r.number in seen or seen.add(r.number))]


def _track_sharpness(
    problem: Problem, study: optuna.Study, summary: Summary, recs: list, artifacts: Path
) -> list[dict]:
    """Retrain the representative runs measuring λ_max; store the readings and the arrays."""
    spec = problem.spec
    every = max(1, spec.trainer.epochs // spec.study.track_sharpness)
    limit0 = summary.stability_limit_init
    runs, arrays = [], {}
    for role, rec in _representatives(summary, recs):
        repeat = records.repeat(study.get_trials(deepcopy=False)[rec.number])
        _, _, res = retrain(problem, rec.params, rec.number, track_sharpness=every, repeat=repeat)
        h = res.history
        measured = np.isfinite(h["sharpness"])
        reading = read_sharpness(h["sharpness"], rec.lr, res.status, h["loss"])
        n = rec.number
        arrays[f"t{n}_updates"] = h["updates"][measured]
        arrays[f"t{n}_sharpness"] = h["sharpness"][measured]
        arrays[f"t{n}_loss"] = h["loss"][measured]
        runs.append(
            {
                "trial": n,
                "role": role,
                "lr": rec.lr,
                "status": res.status,
                "regime": regime_of(rec, limit0),
                "every": every,
                **dataclasses.asdict(reading),
            }
        )
    records.set_sharpness(study, runs)
    artifacts.mkdir(parents=True, exist_ok=True)
    store = ArtifactStore(str(artifacts))
    records.replace_arrays(store, study, records.SHARPNESS, arrays)
    return runs


def _curvature(
    problem: Problem, study: optuna.Study, summary: Summary, artifacts
) -> tuple[float | None, float | None]:
    """λ_max at the best converged solution and at the common θ⁽⁰⁾ (constant-ε full-batch GD).

    The solution is the trial's stored θ (:data:`landscape.runs.records.THETA`); a trial stored
    without it is trained again.
    """
    spec = problem.spec
    t = spec.trainer
    searched = {p.target for p in spec.search}
    if t.method != "gd" or summary.best is None:
        return None, None
    if t.schedule != "constant" or "trainer.schedule" in searched:
        return None, None
    d = problem.data
    lam = None
    best = summary.best_converged  # a budget-ended run's λ_max depends on the budget
    if best is not None:
        trial = study.get_trials(deepcopy=False)[best.number]
        stored = records.trial_theta(trial, artifacts)
        if stored is None:
            model, _, res = retrain(problem, best.params, best.number, repeat=records.repeat(trial))
            theta = res.theta
        else:
            model = make_model(problem, apply_params(spec, best.params))
            theta = stored["theta"]
        lam = largest_eigenvalue(model, theta, d.X_train, d.y_train, rng=analysis_rng(spec))
        records.set_lambda_max(study, best.number, lam)
    lam0 = None
    if not spec.study.vary_init and not any(p.target.startswith("model.") for p in spec.search):
        model0, theta0 = build(problem, spec, trial_rng(spec, 0))
        lam0 = largest_eigenvalue(model0, theta0, d.X_train, d.y_train, rng=analysis_rng(spec))
        records.set_lambda_max_init(study, lam0)
    return lam, lam0


def _record_setup(
    study: optuna.Study,
    spec: Spec,
    artifacts,
    *,
    kind: str | None = None,
    n_train: int | None = None,
) -> None:
    """Store the resolved spec on a new study (a rerun was checked against it already)."""
    records.set_value_name(study, spec.study.metric if kind is None else KINDS[kind].value)
    records.write_setup(
        study,
        spec.name,
        spec.to_dict(),
        spec.search_space(),
        __version__,
        toml=spec.to_toml(),
        store=artifacts,
        kind=kind,
        n_train=n_train,
    )


def _progress(total: int, disable: bool):
    return tqdm(
        total=total,
        unit="trial",
        file=sys.stderr,
        disable=True if disable else None,
        dynamic_ncols=True,
    )


# ----------------------------------------------------------------------- commands


def _beat(options: _Options) -> dict:
    """Heartbeat settings for :func:`open_storage` (none for journal files)."""
    if options.target.kind == "journal" or not options.heartbeat:
        return {}
    grace = int(round(options.grace)) if options.grace is not None else None
    return {"heartbeat": options.heartbeat, "grace": grace}


_WORKER_ERRORS = (StorageError, DiskFullError, records.DamagedArtifact)
"""What ends a worker with a one-line message: a user's to act on, not a bug."""


def _worker(job: dict[str, Any], errors: multiprocessing.connection.Connection) -> None:
    """One worker process of ``--jobs``: load the study and run trials while the plan lacks some.

    Silent and with its exit code whatever ends it: 128 + the signal number on SIGTERM (its
    running trial is FAIL and queued again already); 1 on an error a user can act on (the
    storage unreachable past ``--storage-retry``, a full disk, a damaged artifact), which it
    hands to the parent over ``errors`` (its end of a pipe) to be said once, in one line.
    """
    try:
        _work(job)
    except BaseException as exc:
        stop = _cause(exc, (Interrupted,))
        if stop is not None:  # its running trial is FAIL and re-queued already
            stop_heartbeats()  # one left beating would keep this process from ending
            sys.exit(128 + stop.signum)
        error = _cause(exc, _WORKER_ERRORS)
        if error is None:
            raise
        try:
            errors.send(error.with_traceback(None))
        except Exception:  # noqa: BLE001 - the parent is gone: say it here
            print(f"landscape: worker {os.getpid()}: {error}", file=sys.stderr)
        sys.exit(1)


def _cause(exc: BaseException, types: tuple[type[BaseException], ...]) -> BaseException | None:
    """``exc`` or the first of its causes (or contexts) that is one of ``types``, else None.

    Optuna's trial loop can lose an error: when its tell fails, its ``finally`` raises an
    ``UnboundLocalError`` of its own, with the real error (an interruption, an outage) as context.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, types):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _redeliver_lost_interrupts() -> None:
    """Deliver again, silently, a signal whose :class:`Interrupted` a finalizer swallowed.

    Python runs a signal handler wherever the main thread is, finalizers (``__del__``, weakref
    and garbage-collector callbacks) included. An exception raised there cannot propagate:
    Python prints it ("Exception ignored in …" and a traceback) and carries on as if no signal
    had come, so the process neither stops nor stays quiet. The signal is sent again instead,
    from a thread a moment later, when the finalizer has returned.
    """
    if getattr(sys.unraisablehook, "redelivers", False):
        return
    default = sys.unraisablehook

    def hook(unraisable) -> None:
        exc = unraisable.exc_value
        if not isinstance(exc, Interrupted):
            default(unraisable)
            return
        again = threading.Timer(0.05, os.kill, (os.getpid(), exc.signum))
        again.daemon = True
        again.start()

    hook.redelivers = True
    sys.unraisablehook = hook


def _work(job: dict[str, Any]) -> None:
    configure_logging()
    _redeliver_lost_interrupts()
    spec = job["spec"]
    problem = prepare(spec)
    # SIGINT stays ignored (inherited from the parent, see _run_workers): Ctrl-C reaches the
    # whole process group, and the parent alone decides, passing SIGTERM on to its workers.
    install_signal_handlers(sigint=False)
    # An outage is said once for the run, by the parent (it polls the same storage).
    store = open_storage(
        resolve(job["storage"]),
        retry_seconds=job["retry"],
        announce=False,
        first_contact=False,  # the parent reached it: a failure now is an outage
        **job["beat"],
    )
    artifacts = ArtifactStore(job["artifacts"])
    if spec.analysis is not None:
        study = optuna.load_study(study_name=job["study_name"], storage=store)
        with threadpool_limits(job["threads"]), store.planned(Plan(records.study_id(study), 0)):
            drain_queue(study, adapters.unit_objective(problem, artifacts))
        return
    study = optuna.load_study(
        study_name=job["study_name"],
        storage=store,
        sampler=make_sampler(spec, n_train=problem.n_train),
        pruner=make_pruner(spec),
    )
    plan = Plan(records.study_id(study), job["limit"], job["invocation"])
    deadline = job["deadline"]
    with threadpool_limits(job["threads"]), store.planned(plan):
        optimize(
            study,
            make_objective(problem, artifacts, deadline=deadline),
            timeout=_remaining(deadline),
        )


def _run_workers(
    spec: Spec,
    options: _Options,
    bar,
    study: optuna.Study,
    plan: Plan | None = None,
    deadline: float | None = None,
) -> int:
    """Run trials (or queued units) in ``options.jobs`` processes.

    The workers share the run's ``plan`` through the storage, so the others take over the
    share of a worker that dies; its running trial is failed as soon as its death is seen and
    a copy queued, which the others (or the parent, after them) run. An error a worker cannot
    get past (the storage unreachable past ``--storage-retry``, a full disk) stops them all
    and is raised here, once. On :class:`Interrupted` the workers get SIGTERM and are waited
    for (each fails its running trial and queues a copy); a second signal kills them.

    Returns
    -------
    int
        Workers that died leaving part of the plan undone (0 when the plan is complete or
        queued when the workers are done: the others took over, and the queued copies of the
        dead workers' trials run in this process next).
    """
    jobs = options.jobs
    target = options.target
    _redeliver_lost_interrupts()  # a Ctrl-C must reach the workers, however it lands
    n_before = sum(1 for t in study.get_trials(deepcopy=False) if t.state.is_finished())
    threads = max(1, (os.cpu_count() or 1) // jobs)
    ctx = multiprocessing.get_context("spawn")
    job = {
        "spec": spec,
        "storage": target.url if target.kind != "journal" else f"journal:{target.path}",
        "study_name": options.study_name,
        "limit": plan.limit if plan is not None else 0,
        "invocation": plan.invocation if plan is not None else None,
        "deadline": deadline,
        "threads": threads,
        "artifacts": str(options.artifacts),
        "beat": _beat(options),
        "retry": options.storage_retry,
    }
    procs: list = []
    errors: list = []  # the parent's end of each worker's pipe for its one-line error
    done = 0
    seen_dead: set[int] = set()
    try:
        for _ in range(jobs):
            reader, writer = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_worker, args=(job, writer), daemon=False)
            with _sigint_ignored():
                proc.start()
            writer.close()  # the worker has its own copy
            procs.append(proc)
            errors.append(reader)
        while any(p.is_alive() for p in procs):
            time.sleep(0.5)
            finished = sum(1 for t in study.get_trials(deepcopy=False) if t.state.is_finished())
            bar.update(max(0, finished - n_before - done))
            done = max(done, finished - n_before)
            _rescue(study, procs, seen_dead, errors)
        for p in procs:
            p.join()
        _rescue(study, procs, seen_dead, errors)
    except Interrupted:
        # Passed on: each worker fails its running trial, queues a copy and exits (in a second,
        # unless the storage is down); one stuck is killed. A trial that a worker could not
        # end (cut short at a bad moment, or killed) is failed here.
        _stop_workers(procs, patience=30.0)
        _fail_left_running(study, procs)
        raise
    except BaseException:
        # The storage (or the disk) is gone for every process: the workers cannot end their
        # trials either, and are not waited for long. A trial they leave RUNNING is failed
        # by the next run on this host (its process is gone).
        _stop_workers(procs, patience=5.0)
        raise
    _fail_left_running(study, procs)
    if plan is None or _missing(study, plan):
        return len(seen_dead)
    return 0


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Start a worker with SIGINT ignored (kept across exec), without losing a Ctrl-C.

    Ignored in the worker: a Ctrl-C during its start-up must not print its traceback; the
    parent passes the interruption on as SIGTERM. Blocked meanwhile in the parent: a SIGINT
    that arrives while it is ignored stays pending (Linux never discards a blocked signal)
    and is delivered once the handler is back.
    """
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _raise_worker_error(errors: list[multiprocessing.connection.Connection]) -> None:
    """Raise the first error a worker handed over (see :func:`_worker`), if any."""
    for reader in errors:
        if reader.poll():
            try:
                error = reader.recv()
            except EOFError:  # the worker exited without one
                continue
            raise error


def _stop_workers(procs: list, patience: float | None) -> None:
    """SIGTERM the live workers and wait for them; SIGKILL those left after a while.

    After ``patience`` seconds (None: no limit), or at a second signal while waiting.
    """
    for p in procs:
        if p.is_alive():
            p.terminate()
    try:
        end = None if patience is None else time.monotonic() + patience
        for p in procs:
            p.join(None if end is None else max(0.0, end - time.monotonic()))
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()


def _fail_left_running(study: optuna.Study, procs: list) -> None:
    """Fail the trials still RUNNING in the name of a worker that has exited, and queue copies.

    A worker that exits normally has none; one stopped at a bad moment (a signal while its
    trial was being stored) or dead may leave one, which no process would ever end.
    """
    gone = {p.pid for p in procs if p.exitcode is not None}
    if not gone:
        return
    try:
        failed = fail_dead_workers(records.storage_of(study), [study.study_name], pids=gone)
    except (StorageError, DiskFullError):
        return  # the next run on this host fails them: their processes are gone
    for name, number in failed:
        log.debug("trial %d of %r: left RUNNING by its worker; marked FAIL", number, name)


def _rescue(
    study: optuna.Study,
    procs: list,
    seen_dead: set[int],
    errors: list[multiprocessing.connection.Connection],
) -> None:
    """Fail the running trials of workers that died since the last look, and queue copies.

    A worker that exited because of an error it handed over (see :func:`_worker`) did not
    die: its error is raised instead (it was put before the worker exited, so it is there).
    """
    gone = {
        i: p for i, p in enumerate(procs) if p.exitcode not in (None, 0) and p.pid not in seen_dead
    }
    if not gone:
        return
    _raise_worker_error(errors)
    seen_dead.update(p.pid for p in gone.values())
    failed = fail_dead_workers(records.storage_of(study), [study.study_name], pids=set(seen_dead))
    numbers = ", ".join(str(n) for _, n in failed) or "none"
    for i, p in gone.items():
        code = p.exitcode
        how = f"signal {-code}" if code < 0 else f"exit code {code}"
        log.warning(
            "worker %d died (%s); its running trial (%s) is marked FAIL and a copy queued; "
            "the other workers take over its share",
            i,
            how,
            numbers,
        )


def _run_analysis(
    spec: Spec, problem: Problem, options: _Options, store, n_before: int
) -> StudyRun:
    """Run an analysis spec (see landscape.runs.adapters)."""
    kind = spec.analysis.kind
    target = options.target
    options.artifacts.mkdir(parents=True, exist_ok=True)
    artifacts = ArtifactStore(str(options.artifacts))
    study = optuna.create_study(
        storage=store,
        study_name=options.study_name,
        direction="minimize",
        sampler=optuna.samplers.RandomSampler(seed=spec.study.seed),  # units are enqueued
        pruner=optuna.pruners.NopPruner(),
        load_if_exists=True,
    )
    _record_setup(study, spec, artifacts, kind=kind)
    start = time.perf_counter()
    where = f"study {options.study_name!r} in {target.display}"
    dead = 0
    analysis = KINDS[kind]
    payload: dict[str, Any] = {}
    if not analysis.queued:
        result = adapters.run_one(problem, study, artifacts)
        header = f"{where}: {kind} in {time.perf_counter() - start:.1f} s"
    else:
        total = analysis.n_units(spec.analysis)
        names = analysis.unit_names(spec.analysis)
        param = analysis.unit_param

        def complete() -> int:
            return sum(
                1
                for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if param in t.params
            )

        def enqueue() -> list[int]:
            with store.lock(records.study_id(study)):  # two invocations must not queue a unit twice
                return enqueue_missing(study, total, param, names)

        before = complete()
        enqueue()
        waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        bar = _progress(len(waiting), not options.progress)
        objective = adapters.unit_objective(problem, artifacts)
        # Units are queued, never sampled: a plan of no fresh trial keeps workers to the queue.
        with (
            _phase(f"the {kind} units", study, None),
            store.planned(Plan(records.study_id(study), 0)),
        ):
            if options.jobs > 1:
                dead = _run_workers(spec, options, bar, study)
                enqueue()  # the units of workers that died, run here
            drain_queue(study, objective, callback=lambda s, t: bar.update(1))
        bar.close()
        n_done = complete()
        result = adapters.finish(problem, study, artifacts)
        units = f"{param}s"
        header = (
            f"{where}: {n_done - before} of {total} {units} run here in "
            f"{time.perf_counter() - start:.1f} s"
        )
        payload = {
            units: total,
            f"{units}_complete": n_done,
            "wall_seconds": time.perf_counter() - start,
        }
    say = options.presenter.analysis_text
    if result is None:
        text = (
            f"{n_done} of {total} {analysis.unit_param}s complete; other workers (or a rerun) "
            "finish the rest"
        )
        payload[kind] = None
    else:
        text = say(result) if say is not None else ""
        payload.update(adapters.payload(analysis, result))
    lines = [header, text]
    with _phase("the report (after the analysis)", study, None, done="\n".join(lines)):
        report = _finish_report(options, store)
    n_now = len(study.get_trials(deepcopy=False))
    return StudyRun(
        study=study,
        spec=spec,
        storage=target.display,
        kind=kind,
        trials_added=n_now - n_before,
        trials_total=n_now,
        wall_seconds=time.perf_counter() - start,
        summary=None,
        result=result,
        text="\n".join(line for line in lines if line),
        payload={
            "study": options.study_name,
            "storage": target.display,
            "kind": kind,
            **payload,
            "report": report,
        },
        report=report,
        artifacts=str(options.artifacts),
        dead_workers=dead,
    )


def _finish_report(options: _Options, store) -> str | None:
    """Write the study's report at the end of a run; return its path (None without one)."""
    write_report = options.presenter.write_report
    if not options.report or write_report is None:
        return None
    options.artifacts.mkdir(parents=True, exist_ok=True)
    path = write_report(
        store,
        options.study_name,
        "reports",
        ArtifactStore(str(options.artifacts)),
        storage_display=options.target.display,
        storage_id=options.target.identity_from("reports"),
        storage_aliases=(options.target.identity,),
    )
    return str(path)


# ------------------------------------------------------------------ one stored trial
@dataclass(frozen=True)
class TrialRun:
    """A stored search trial: its network, θ and data, all it takes to analyse it.

    Attributes
    ----------
    number : int
    params : dict
        Its searched parameters.
    spec : Spec
        The study's spec with those parameters applied.
    model : MLP
    theta : ndarray of shape (D,)
        θ at the end of the trial: the stored one, or the retraining's when it was trained again.
    theta0 : ndarray of shape (D,)
        Its θ⁽⁰⁾.
    data : Dataset
    status : str
        How the trial ended (converged, budget, stalled, pruned, diverged).
    loss : float
        The training loss at ``theta``.
    result : TrainResult or None
        The retraining (history included), None when θ was read from the store.
    matches_stored : bool or None
        After a retraining: its θ equals the stored θ bit for bit (without a stored θ: its
        final training loss equals the stored one to 1e-9 relative); False when the trial ran
        with another BLAS thread count or an older version. None when not trained again.
    """

    number: int
    params: dict
    spec: Spec
    model: Any
    theta: np.ndarray
    theta0: np.ndarray
    data: Any
    status: str
    loss: float
    result: Any
    matches_stored: bool | None


def load_trial(
    study: optuna.Study | str,
    number: int,
    *,
    storage: str | None = None,
    artifacts: str | None = None,
    retrain: bool = False,
) -> TrialRun:
    """Trial ``number`` of a stored search: its model, its stored final θ and θ⁽⁰⁾, its data.

    Parameters
    ----------
    study : optuna.Study or str
        The study, or its name (then ``storage`` is its URL, default the CLI's default).
    number : int
    storage : str, optional
    artifacts : str, optional
        The artifact folder (default: ``artifacts/`` beside the storage file).
    retrain : bool
        Train the trial again from its seed (its history is then in ``result``) and check the
        end point against the stored one. A trial stored without θ is always trained again.

    Returns
    -------
    TrialRun

    Raises
    ------
    UsageError
        The study is not a landscape search, or has no finished trial ``number``.
    """
    if isinstance(study, str):
        target = existing(storage)  # reading must not create an empty database
        study = optuna.load_study(study_name=study, storage=open_storage(target))
    else:
        target = resolve(_storage_url(study) or storage)
    folder = artifact_dir(target, artifacts)
    store = ArtifactStore(str(folder)) if folder.is_dir() else None
    resolved = records.stored_spec(study)
    if resolved is None or records.is_analysis(study):
        raise UsageError(
            f"study {study.study_name!r} is not a landscape search: only its trials can be loaded"
        )
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    t = trials.get(number)
    if t is None or not t.state.is_finished() or t.state == TrialState.FAIL:
        done = sorted(n for n, tr in trials.items() if tr.state.is_finished())
        raise UsageError(
            f"--trial {number}: study {study.study_name!r} has no finished trial {number}; "
            f"finished: {_ranges(done)}"
        )
    spec = spec_from_dict(records.spec_name(study) or study.study_name, resolved)
    problem = prepare(spec)
    params = dict(t.params)
    tspec = apply_params(spec, params)
    stored = records.trial_theta(t, store)
    d = problem.data
    if stored is not None and not retrain:
        model = make_model(problem, tspec)
        theta = stored["theta"]
        loss = float(model.loss(theta, d.X_train, d.y_train))
        status = records.status(t) or t.state.name.lower()
        return TrialRun(
            number, params, tspec, model, theta, stored["theta0"], d, status, loss, None, None
        )
    model, theta0, res = _retrain(problem, params, number, repeat=records.repeat(t))
    if stored is not None:
        same = bool(np.array_equal(stored["theta"], res.theta, equal_nan=True))
    else:
        value = t.user_attrs.get("train_loss")
        same = value is not None and math.isclose(res.final.loss, value, rel_tol=1e-9, abs_tol=0)
    status = records.status(t) or res.status
    return TrialRun(
        number,
        params,
        tspec,
        model,
        res.theta,
        theta0,
        d,
        status,
        float(res.final.loss),
        res,
        bool(same),
    )


_retrain = retrain  # load_trial's keyword ``retrain`` hides the function's name


def _storage_url(study: optuna.Study) -> str | None:
    """The URL of a study's RDB storage or the path of its journal file (None otherwise)."""
    storage = unwrap(records.storage_of(study))
    backend = getattr(storage, "_backend", storage)
    engine = getattr(backend, "engine", None)
    if engine is not None:
        return engine.url.render_as_string(hide_password=False)
    path = getattr(backend, "_file_path", None)  # JournalStorage's JournalFileBackend
    return f"journal:{path}" if path else None


def _ranges(numbers: list[int]) -> str:
    """0–4, 7, 9–10 for [0, 1, 2, 3, 4, 7, 9, 10] ("none" when empty)."""
    if not numbers:
        return "none"
    parts, start, prev = [], numbers[0], numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(f"{start}" if start == prev else f"{start}–{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(parts)
