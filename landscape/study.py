"""Command line: ``python -m landscape.study NAME`` runs a study spec; ``list`` shows a storage.

Exit codes: 0 on success, 2 on bad input (one line on stderr naming the bad value; nothing is
written), 1 on an unexpected error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import multiprocessing
import os
import signal
import socket
import sqlite3
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import optuna
from optuna.artifacts import FileSystemArtifactStore
from optuna.trial import TrialState
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from landscape import __version__
from landscape.experiments import (
    UNIT_PARAM,
    drain_queue,
    enqueue_missing,
    finalize_escape,
    finalize_minima,
    format_escape,
    format_geometry,
    jsonable,
    minima_objective,
    n_chunks,
    report_dict,
    run_geometry,
    run_symmetry,
)
from landscape.hessian import largest_eigenvalue
from landscape.minima import format_minima
from landscape.objectives import (
    Problem,
    analysis_rng,
    build,
    make_objective,
    make_pruner,
    make_sampler,
    prepare,
    retrain,
    trial_records,
    trial_rng,
)
from landscape.spec import Spec, SpecError, find_spec, known_specs, parse_spec
from landscape.storage import (
    DEFAULT_STORAGE,
    StorageError,
    StorageTarget,
    artifact_dir,
    check_storage,
    check_writable,
    fail_stale_running,
    open_storage,
    resolve,
    truncate_torn_tail,
)
from landscape.summary import Summary, format_summary, summarize
from landscape.symmetry import format_symmetry, group_counts

PROG = "python -m landscape.study"
COMMANDS = ("list", "report", "dashboard", "repair")


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGINT: Optuna marks the running trial FAIL and re-raises this."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _on_signal(signum, _frame) -> None:
    raise Interrupted(signum)


def _install_signal_handlers(sigint: bool = True) -> None:
    signal.signal(signal.SIGTERM, _on_signal)
    if sigint:
        signal.signal(signal.SIGINT, _on_signal)


class _InterruptedTrialFilter(logging.Filter):
    """Drop Optuna's warnings about a trial that failed because of SIGTERM/SIGINT.

    Optuna logs the failed trial with the traceback of the interruption (dozens of lines); the
    CLI says it in one line of its own.
    """

    def __init__(self) -> None:
        super().__init__()
        self._numbers: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: D102
        message = record.getMessage()
        number = message.split(" ", 2)[1] if message.startswith("Trial ") else None
        if record.exc_info and isinstance(record.exc_info[1], Interrupted):
            self._numbers.add(number)
            return False
        return not (number in self._numbers and " failed with value " in message)


def _configure_logging() -> None:
    """One handler for landscape's and Optuna's records, which drops interrupted-trial noise."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    logging.basicConfig(level=logging.WARNING, format="landscape: %(message)s")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _InterruptedTrialFilter) for f in handler.filters):
            handler.addFilter(_InterruptedTrialFilter())
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # The one-trial analyses (symmetry, geometry) use ask/tell; their trial needs no heartbeat.
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")


def optimize(study: optuna.Study, objective, **kwargs: Any) -> None:
    """``study.optimize`` that re-queues the trial a SIGTERM/SIGINT interrupted.

    Optuna fails the running trial and re-raises :class:`Interrupted`; a copy of the trial with
    the same parameters is then enqueued (user attr ``retried_from``), so the next run on the
    study runs it again, as the heartbeat does for a worker that died.
    """
    current: dict[str, int] = {}

    def tracked(trial: optuna.Trial) -> float:
        current["number"] = trial.number
        return objective(trial)

    try:
        study.optimize(tracked, **kwargs)
    except Interrupted:
        if "number" in current:
            # A second signal must not cut the enqueue short; it is delivered right after.
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            try:
                _requeue(study, current["number"])
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        raise


def _requeue(study: optuna.Study, number: int) -> None:
    (trial,) = [t for t in study.get_trials(deepcopy=False) if t.number == number]
    if trial.state == TrialState.FAIL and trial.params:
        study.enqueue_trial(trial.params, user_attrs={"retried_from": number})


class UsageError(Exception):
    """Bad command-line input: reported in one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2."""

    def error(self, message: str) -> NoReturn:  # noqa: D102
        raise UsageError(message)


def _fail(message: str) -> int:
    print(f"landscape: error: {message}", file=sys.stderr)
    return 2


# ------------------------------------------------------------------------ parsers
def _top_help() -> str:
    specs = ", ".join(known_specs()) or "none found"
    return (
        f"usage: {PROG} NAME [options]         run the study spec NAME\n"
        f"       {PROG} list [options]         list the studies in a storage\n"
        f"       {PROG} report STUDY [options] write reports/STUDY/index.html from storage\n"
        f"       {PROG} dashboard [options]    open optuna-dashboard on the storage\n"
        f"       {PROG} repair [options]       fail trials of dead workers, mend a journal\n\n"
        "Gradient descent on small neural networks, studied by experiment with Optuna.\n\n"
        f"NAME is a spec in ./studies or shipped with landscape ({specs}), or a path to a\n"
        "TOML file. Every command has --help.\n"
        f"Default storage: {DEFAULT_STORAGE} (look at it with: optuna-dashboard "
        f"{DEFAULT_STORAGE})\n"
    )


def _run_parser() -> _Parser:
    p = _Parser(
        prog=f"{PROG} NAME",
        description="Run the study spec NAME: Optuna trials of the spec's trainer, then a "
        "summary of which learning rates diverged, stalled or converged.",
    )
    p.add_argument("name", metavar="NAME", help=f"spec name ({', '.join(known_specs())}) or path")
    _storage_option(p)
    p.add_argument("--study-name", help="name of the study in the storage (default: NAME)")
    p.add_argument("--n-trials", type=int, help="trials to add (default: the spec's)")
    p.add_argument("--timeout", type=float, help="seconds after which no new trial starts")
    p.add_argument("--seed", type=int, help="root seed of every random choice (default: spec's)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes sharing the study")
    p.add_argument(
        "--total",
        type=int,
        metavar="N",
        help="run until the study has N finished trials (resume after a crash)",
    )
    p.add_argument(
        "--heartbeat",
        type=int,
        default=10,
        metavar="SECONDS",
        help="trial heartbeat on SQLite/PostgreSQL, 0 = off (default: 10); a dead "
        "worker's trial is failed after the grace period and re-run",
    )
    p.add_argument(
        "--grace",
        type=float,
        metavar="SECONDS",
        help="age after which a silent RUNNING trial counts as dead (default: "
        "3 × heartbeat; for journal files, which have no heartbeat, 600)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec field, e.g. --set data.name=digits --set trainer.epochs=50",
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _artifacts_option(p)
    p.add_argument(
        "--no-report", action="store_true", help="do not write reports/NAME/index.html at the end"
    )
    return p


def _artifacts_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--artifacts",
        metavar="DIR",
        help="folder of the artifact store (default: artifacts/ beside the storage)",
    )


def _report_parser() -> _Parser:
    p = _Parser(
        prog=f"{PROG} report",
        description="Write reports/STUDY/index.html and its PNGs from a stored study "
        "(nothing is retrained), and show them in optuna-dashboard as the study's note.",
    )
    p.add_argument("study", metavar="STUDY", help="study name in the storage")
    _storage_option(p)
    _artifacts_option(p)
    p.add_argument(
        "--out",
        default="reports",
        metavar="DIR",
        help="folder the report goes in (default: reports)",
    )
    p.add_argument(
        "--no-upload",
        "--no-publish",
        dest="no_upload",
        action="store_true",
        help="read the storage only: do not upload the figures and note to it",
    )
    return p


def _repair_parser() -> _Parser:
    p = _Parser(
        prog=f"{PROG} repair",
        description="With no worker running: cut a journal file's torn last line, mark "
        "RUNNING trials older than the grace period FAIL (and enqueue copies), and check "
        "an SQLite file's integrity.",
    )
    _storage_option(p)
    p.add_argument(
        "--grace",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="only trials running longer than this (default: 0, every one)",
    )
    return p


def _dashboard_parser() -> _Parser:
    p = _Parser(
        prog=f"{PROG} dashboard",
        description="Start optuna-dashboard on the storage and its artifact folder, "
        "bound to 127.0.0.1.",
    )
    _storage_option(p)
    _artifacts_option(p)
    p.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
    return p


def _storage_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--storage",
        metavar="URL",
        help=f"Optuna storage URL, a .db path or a .log journal (default: {DEFAULT_STORAGE})",
    )


def _list_parser() -> _Parser:
    p = _Parser(prog=f"{PROG} list", description="List the studies in a storage.")
    _storage_option(p)
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    return p


# ------------------------------------------------------------------------ helpers
def _target(url: str | None) -> StorageTarget:
    target = resolve(url)
    if url is None and target.path is not None and not target.path.parent.exists():
        return target  # the default folder is created on demand, after every check passed
    check_storage(target)
    return target


MAX_STUDY_NAME = 512
"""Optuna's RDB schema stores study names in a VARCHAR(512)."""


def _check_study_name(name: str | None) -> None:
    if name is None:
        return
    if not name.strip():
        raise UsageError(f"--study-name={name!r} must not be empty")
    if len(name) > MAX_STUDY_NAME:
        raise UsageError(
            f"--study-name of {len(name)} characters is too long; at most "
            f"{MAX_STUDY_NAME} fit Optuna's storages"
        )
    if any(not ch.isprintable() for ch in name):
        raise UsageError(f"--study-name={name!r} holds control characters; use printable ones")


def _ensure_default_folder(target: StorageTarget) -> None:
    if target.path is not None and not target.path.parent.exists():
        target.path.parent.mkdir(parents=True)


MAY_CHANGE = frozenset({"name", "description", "study.n_trials", "study.timeout"})
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


def setup_differences(stored: dict, spec: Spec) -> list[str]:
    """The fields, outside :data:`MAY_CHANGE`, in which ``spec`` differs from a stored spec.

    Returns
    -------
    list of str
        ``"data.name ('digits' → 'moons')"`` for each differing field, sorted.
    """
    old, new = _flat(stored), _flat(spec.to_dict())
    missing = object()
    out = []
    for key in sorted(old.keys() | new.keys()):
        if key in MAY_CHANGE:
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
    attrs = storage.get_study_user_attrs(study_id)
    n_trials = len(storage.get_all_trials(study_id, deepcopy=False))
    hint = "run with --study-name NEW for a new study"
    stored = attrs.get("spec")
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


def _curvature(
    problem: Problem, study: optuna.Study, summary: Summary
) -> tuple[float | None, float | None]:
    """λ_max at the best solution and at the common θ⁽⁰⁾, for constant-ε full-batch studies."""
    spec = problem.spec
    t = spec.trainer
    searched = {p.target for p in spec.search}
    if t.method != "gd" or summary.best is None:
        return None, None
    if t.schedule != "constant" or "trainer.schedule" in searched:
        return None, None
    d = problem.data
    best = summary.best
    model, res = retrain(problem, best.params, best.number)
    lam = largest_eigenvalue(model, res.theta, d.X_train, d.y_train, rng=analysis_rng(spec))
    study.set_user_attr("lambda_max", {"trial": best.number, "value": lam})
    lam0 = None
    if not spec.study.vary_init and not any(p.target.startswith("model.") for p in spec.search):
        model0, theta0 = build(problem, spec, trial_rng(spec, 0))
        lam0 = largest_eigenvalue(model0, theta0, d.X_train, d.y_train, rng=analysis_rng(spec))
        study.set_user_attr("lambda_max_init", lam0)
    return lam, lam0


def _record_setup(study: optuna.Study, spec: Spec, **extra: Any) -> None:
    """Store the resolved spec on a new study (a rerun was checked against it already)."""
    if "spec" in study.user_attrs:
        return
    attrs = {
        "spec_name": spec.name,
        "spec": spec.to_dict(),
        "search_space": spec.search_space(),
        **extra,
        "landscape_version": __version__,
    }
    for key, value in attrs.items():
        study.set_user_attr(key, value)


def _worker(job: dict[str, Any]) -> None:
    """One worker process of ``--jobs``: load the study and run its share of trials."""
    try:
        _work(job)
    except Interrupted as exc:  # its running trial is FAIL already (Optuna's handling)
        sys.exit(128 + exc.signum)


def _work(job: dict[str, Any]) -> None:
    _configure_logging()
    spec = parse_spec(job["spec_name"], job["text"], job["overrides"])
    problem = prepare(spec)
    # SIGINT stays ignored (inherited from the parent, see _run_workers): Ctrl-C reaches the
    # whole process group, and the parent alone decides, passing SIGTERM on to its workers.
    _install_signal_handlers(sigint=False)
    storage = open_storage(
        resolve(job["storage"]), heartbeat=job.get("heartbeat"), grace=job.get("grace")
    )
    if spec.analysis is not None:
        study = optuna.load_study(study_name=job["study_name"], storage=storage)
        store = FileSystemArtifactStore(job["artifacts"])
        with threadpool_limits(job["threads"]):
            drain_queue(study, minima_objective(problem, store))
        return
    study = optuna.load_study(
        study_name=job["study_name"],
        storage=storage,
        sampler=make_sampler(spec),
        pruner=make_pruner(spec),
    )
    with threadpool_limits(job["threads"]):
        optimize(
            study, make_objective(problem), n_trials=job["n_trials"], timeout=spec.study.timeout
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
def cmd_run(argv: Sequence[str]) -> int:
    """Run a study spec (see ``--help``)."""
    args = _run_parser().parse_args(argv)
    try:
        if args.jobs < 1:
            raise UsageError(f"--jobs={args.jobs} must be >= 1")
        if args.total is not None and args.total < 1:
            raise UsageError(f"--total={args.total} must be >= 1")
        if args.heartbeat < 0:
            raise UsageError(f"--heartbeat={args.heartbeat} must be >= 0 (0 turns it off)")
        if args.grace is not None and not (math.isfinite(args.grace) and args.grace > 0):
            raise UsageError(f"--grace={args.grace} must be a finite number > 0 of seconds")
        if args.timeout is not None and not (math.isfinite(args.timeout) and args.timeout > 0):
            raise UsageError(f"--timeout={args.timeout} must be a finite number > 0 of seconds")
        _check_study_name(args.study_name)
        spec_name, text = find_spec(args.name)
        overrides = list(args.set)
        for flag, key in (("n_trials", "n_trials"), ("timeout", "timeout"), ("seed", "seed")):
            value = getattr(args, flag)
            if value is not None:
                overrides.append(f"study.{key}={value!r}")
        spec = parse_spec(spec_name, text, overrides)
        problem = prepare(spec)
        target = _target(args.storage)
        study_name = args.study_name or spec.name
        artifacts = artifact_dir(target, args.artifacts)
        storage = None
        n_before = 0
        beat = _beat(args, target)
        check_writable(target)
        if target.exists():
            storage = open_storage(target, **beat)
            n_before = _check_existing(storage, study_name, spec, target.display)
    except (SpecError, StorageError, UsageError) as exc:
        return _fail(str(exc))
    if target.kind == "journal" and storage is not None:
        grace = args.grace if args.grace is not None else 600.0
        for name, number in fail_stale_running(storage, grace, [study_name]):
            print(
                f"landscape: trial {number} of {name!r} ran past the {grace:g} s grace period "
                "without finishing: marked FAIL",
                file=sys.stderr,
            )
    if spec.analysis is not None:
        _ensure_default_folder(target)
        storage = storage or open_storage(target, **beat)
        return _run_analysis(
            args, spec, problem, target, storage, study_name, n_before, artifacts, text, overrides
        )

    _ensure_default_folder(target)
    if storage is None:
        storage = open_storage(target, **beat)
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        direction=spec.direction,
        sampler=make_sampler(spec),
        pruner=make_pruner(spec),
        load_if_exists=True,
    )
    _record_setup(study, spec, n_train=problem.n_train)
    n_trials = spec.study.n_trials
    if args.total is not None:
        states = (TrialState.COMPLETE, TrialState.PRUNED)
        n_trials = max(0, args.total - len(study.get_trials(deepcopy=False, states=states)))
    start = time.perf_counter()
    bar = _progress(n_trials, args.no_progress)
    dead = 0
    if n_trials == 0:
        pass
    elif args.jobs == 1:

        def tick(st: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            bar.update(1)
            bar.set_postfix_str(f"last: {trial.user_attrs.get('status', trial.state.name)}")

        optimize(
            study,
            make_objective(problem),
            n_trials=n_trials,
            timeout=spec.study.timeout,
            callbacks=[tick],
        )
    else:
        dead = _run_workers(
            args,
            spec_name,
            text,
            overrides,
            target,
            study_name,
            n_before,
            bar,
            study,
            spec_n=n_trials,
        )
    bar.close()
    wall = time.perf_counter() - start
    recs = trial_records(study)
    by = [p.name for p in spec.search if p.type in ("categorical", "pow2")]
    summary = summarize(recs, spec.direction, by=by)
    lam, lam0 = _curvature(problem, study, summary)
    if lam is not None:
        summary = summarize(recs, spec.direction, lambda_max=lam, lambda_max_init=lam0, by=by)
    n_now = len(study.get_trials(deepcopy=False))
    report = _finish_report(args, storage, study_name, target, artifacts)
    if args.json:
        out = {
            "study": study_name,
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
        print(json.dumps(out, indent=2))
    else:
        header = (
            f"study {study_name!r} in {target.display}: {n_now - n_before} trials added "
            f"({n_now} in all) in {wall:.1f} s"
        )
        print(format_summary(summary, spec.study.metric, header))
        if report:
            print(f"report: {report}")
        print(f"look at it: optuna-dashboard {target.display} --artifact-dir {artifacts}")
    return 1 if dead else 0


def _beat(args, target: StorageTarget) -> dict:
    """Heartbeat settings for :func:`open_storage` (none for journal files)."""
    if target.kind == "journal" or not args.heartbeat:
        return {}
    grace = int(round(args.grace)) if args.grace is not None else None
    return {"heartbeat": args.heartbeat, "grace": grace}


def _run_workers(
    args,
    spec_name,
    text,
    overrides,
    target,
    study_name,
    n_before,
    bar,
    study,
    spec_n=None,
    artifacts=None,
):
    jobs = args.jobs
    if spec_n is None:
        spec_n = parse_spec(spec_name, text, overrides).study.n_trials
    shares = [spec_n // jobs + (1 if i < spec_n % jobs else 0) for i in range(jobs)]
    threads = max(1, (os.cpu_count() or 1) // jobs)
    ctx = multiprocessing.get_context("spawn")
    procs = []
    for i, share in enumerate(shares):
        if share == 0:
            continue
        job = {
            "spec_name": spec_name,
            "text": text,
            "overrides": overrides,
            "storage": target.url if target.kind != "journal" else f"journal:{target.path}",
            "study_name": study_name,
            "n_trials": share,
            "n_before": n_before,
            "worker": i,
            "threads": threads,
            "artifacts": str(artifacts) if artifacts else None,
            **_beat(args, target),
        }
        proc = ctx.Process(target=_worker, args=(job,), daemon=False)
        # Started with SIGINT ignored (kept across exec): a Ctrl-C during a worker's start-up
        # must not print its traceback; the parent passes the interruption on as SIGTERM.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            proc.start()
        finally:
            signal.signal(signal.SIGINT, previous)
        procs.append(proc)
    done = 0
    try:
        while any(p.is_alive() for p in procs):
            time.sleep(0.5)
            finished = sum(1 for t in study.get_trials(deepcopy=False) if t.state.is_finished())
            bar.update(max(0, finished - n_before - done))
            done = max(done, finished - n_before)
    except Interrupted:
        for p in procs:  # pass the signal on: each worker fails its running trial and exits
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join()
        raise
    for p in procs:
        p.join()
    dead = [(i, p.exitcode) for i, p in enumerate(procs) if p.exitcode != 0]
    for i, code in dead:
        how = f"signal {-code}" if code < 0 else f"exit code {code}"
        print(
            f"landscape: worker {i} died ({how}); its running trial is failed after the grace "
            "period and re-run by the next run on this storage (or use --total N)",
            file=sys.stderr,
        )
    return len(dead)


def _run_analysis(
    args, spec, problem, target, storage, study_name, n_before, artifacts, text, overrides
) -> int:
    """Run a minima or symmetry spec (see landscape.experiments)."""
    kind = spec.analysis.kind
    artifacts.mkdir(parents=True, exist_ok=True)
    store = FileSystemArtifactStore(str(artifacts))
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        direction="minimize",
        sampler=optuna.samplers.RandomSampler(seed=spec.study.seed),  # chunks are enqueued
        pruner=optuna.pruners.NopPruner(),
        load_if_exists=True,
    )
    _record_setup(study, spec, analysis=kind)
    start = time.perf_counter()

    def done(lines: list[str], payload: dict) -> int:
        report = _finish_report(args, storage, study_name, target, artifacts)
        if args.json:
            print(
                json.dumps(
                    {
                        "study": study_name,
                        "storage": target.display,
                        "kind": kind,
                        **payload,
                        "report": report,
                    },
                    indent=2,
                )
            )
            return 0
        print("\n".join(line for line in lines if line))
        if report:
            print(f"report: {report}")
        print(f"look at it: optuna-dashboard {target.display} --artifact-dir {artifacts}")
        return 0

    if kind == "symmetry":
        check = run_symmetry(problem, study, store)
        out = dataclasses.asdict(check)
        out["counts"] = {k: str(v) for k, v in out["counts"].items()}
        return done(
            [
                f"study {study_name!r} in {target.display}: symmetry verified in "
                f"{time.perf_counter() - start:.1f} s",
                format_symmetry(check),
            ],
            {"passed": check.passed(), "check": out},
        )
    if kind == "geometry":
        geo = run_geometry(problem, study, store)
        return done(
            [
                f"study {study_name!r} in {target.display}: geometry in "
                f"{time.perf_counter() - start:.1f} s",
                format_geometry(geo),
            ],
            {"geometry": jsonable(dataclasses.asdict(geo))},
        )
    total = n_chunks(problem)
    param = UNIT_PARAM[kind]
    missing = enqueue_missing(study, total, param)
    bar = _progress(len(missing), args.no_progress)
    if args.jobs == 1:
        drain_queue(study, minima_objective(problem, store), callback=lambda s, t: bar.update(1))
    else:
        _run_workers(
            args,
            spec.name,
            text,
            overrides,
            target,
            study_name,
            len(study.get_trials(deepcopy=False)) - len(missing),
            bar,
            study,
            spec_n=len(missing),
            artifacts=artifacts,
        )
    bar.close()
    wall = time.perf_counter() - start
    n_done = sum(
        1
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if param in t.params
    )
    unit_name = "chunks" if kind == "minima" else "methods"
    header = (
        f"study {study_name!r} in {target.display}: {len(missing)} of {total} "
        f"{unit_name} run here in {wall:.1f} s"
    )
    pending = (
        f"{n_done} of {total} {unit_name} complete; other workers (or a rerun) finish the rest"
    )
    if kind == "escape":
        esc = finalize_escape(problem, study, store)
        return done(
            [header, format_escape(esc) if esc else pending],
            {
                "methods_complete": n_done,
                "wall_seconds": wall,
                "escape": study.user_attrs.get("escape") if esc else None,
            },
        )
    report = finalize_minima(problem, study, store)
    wall = time.perf_counter() - start
    model, _ = build(problem, spec, np.random.default_rng(0))
    counts = group_counts(model.layout, model.activation.odd)
    return done(
        [header, format_minima(report, counts) if report else pending],
        {
            "chunks": total,
            "chunks_complete": n_done,
            "wall_seconds": wall,
            "group_counts": {k: str(v) for k, v in dataclasses.asdict(counts).items()},
            "minima": report_dict(report) if report else None,
        },
    )


def _finish_report(args, storage, study_name, target, artifacts) -> str | None:
    """Write the study's report at the end of a run; return its path (None with --no-report)."""
    if getattr(args, "no_report", False):
        return None
    from landscape.report import write_report  # matplotlib is loaded only to report

    artifacts.mkdir(parents=True, exist_ok=True)
    path = write_report(
        storage,
        study_name,
        "reports",
        FileSystemArtifactStore(str(artifacts)),
        storage_display=target.display,
        storage_id=target.identity,
    )
    return str(path)


def _existing_study(url: str | None, name: str) -> tuple[StorageTarget, Any]:
    target = resolve(url)
    if target.path is not None and not target.exists():
        raise StorageError(f"storage {target.display} does not exist")
    check_storage(target)
    storage = open_storage(target)
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    if name not in names:
        raise UsageError(
            f"study {name!r} is not in {target.display}; known: {', '.join(names) or 'none'}"
        )
    return target, storage


def cmd_report(argv: Sequence[str]) -> int:
    """Write a stored study's report (see ``--help``)."""
    args = _report_parser().parse_args(argv)
    try:
        target, storage = _existing_study(args.storage, args.study)
        if not args.no_upload:
            try:
                check_writable(target)
            except StorageError as exc:
                raise StorageError(
                    f"{exc}; or write the report without uploading: "
                    f"{PROG} report {args.study} --no-upload"
                ) from None
        artifacts = artifact_dir(target, args.artifacts)
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {args.out!r} is not a folder")
    except (StorageError, UsageError) as exc:
        return _fail(str(exc))
    from landscape.report import write_report  # matplotlib is loaded only to report

    store = FileSystemArtifactStore(str(artifacts)) if artifacts.is_dir() else None
    path = write_report(
        storage,
        args.study,
        out,
        store,
        storage_display=target.display,
        storage_id=target.identity,
        publish=not args.no_upload and store is not None,
    )
    print(path)
    return 0


def cmd_dashboard(argv: Sequence[str]) -> int:
    """Start optuna-dashboard on a storage (see ``--help``)."""
    args = _dashboard_parser().parse_args(argv)
    try:
        import optuna_dashboard  # the optional [dashboard] extra
    except ImportError:
        return _fail("optuna-dashboard is not installed; pip install 'landscape[dashboard]'")
    try:
        if not 1 <= args.port <= 65535:
            raise UsageError(f"--port={args.port} must lie in [1, 65535]")
        _check_port_free(args.port)
        target = resolve(args.storage)
        if target.path is not None and not target.exists():
            raise StorageError(f"storage {target.display} does not exist")
        check_storage(target)
        check_writable(target)  # notes and artifact uploads from the browser write to it
        artifacts = artifact_dir(target, args.artifacts)
        storage = open_storage(target)
    except (StorageError, UsageError) as exc:
        return _fail(str(exc))
    artifacts.mkdir(parents=True, exist_ok=True)
    print(
        f"optuna-dashboard on {target.display}, artifacts in {artifacts}: "
        f"http://127.0.0.1:{args.port}/",
        file=sys.stderr,
    )
    optuna_dashboard.run_server(
        storage,
        host="127.0.0.1",
        port=args.port,
        artifact_store=FileSystemArtifactStore(str(artifacts)),
    )
    return 0


def _check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise UsageError(
                f"--port={port}: 127.0.0.1:{port} cannot be bound ({exc.strerror}); "
                "choose another port"
            ) from None


def cmd_repair(argv: Sequence[str]) -> int:
    """Repair a storage after dead workers (see ``--help``)."""
    args = _repair_parser().parse_args(argv)
    try:
        if not (math.isfinite(args.grace) and args.grace >= 0):
            raise UsageError(f"--grace={args.grace} must be a finite number >= 0 of seconds")
        target = resolve(args.storage)
        if target.path is not None and not target.exists():
            raise StorageError(f"storage {target.display} does not exist")
        # Recognise the file as Optuna's before touching it: a text file is not a journal.
        check_storage(target)
        if target.kind == "journal":
            cut = truncate_torn_tail(target.path)
            if cut:
                print(f"cut a torn last line of {cut} bytes from {target.display}")
        storage = open_storage(target)
    except (StorageError, UsageError) as exc:
        return _fail(str(exc))
    failed = fail_stale_running(storage, args.grace)
    for name, number in failed:
        print(f"study {name!r}: trial {number} was RUNNING: marked FAIL")
    if target.kind == "sqlite" and target.path is not None:
        con = sqlite3.connect(target.path)
        try:
            result = con.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            con.close()
        print(f"SQLite integrity_check: {result}")
        if result != "ok":
            return 1
    print(f"{target.display}: {len(failed)} running trial(s) failed; storage readable")
    return 0


def cmd_list(argv: Sequence[str]) -> int:
    """List the studies in a storage (see ``--help``)."""
    args = _list_parser().parse_args(argv)
    try:
        target = resolve(args.storage)
        if target.path is not None and not target.exists():
            summaries = []
        else:
            check_storage(target)
            summaries = optuna.get_all_study_summaries(
                open_storage(target), include_best_trial=True
            )
    except (StorageError, UsageError) as exc:
        return _fail(str(exc))
    rows = []
    for s in summaries:
        rows.append(
            {
                "study": s.study_name,
                "direction": s.direction.name.lower(),
                "trials": s.n_trials,
                "best_value": s.best_trial.value if s.best_trial else None,
                "best_params": s.best_trial.params if s.best_trial else None,
                "spec": s.user_attrs.get("spec_name"),
                "started": s.datetime_start.isoformat(timespec="seconds")
                if s.datetime_start
                else None,
            }
        )
    if args.json:
        print(json.dumps({"storage": target.display, "studies": rows}, indent=2))
        return 0
    if not rows:
        print(f"no studies in {target.display}")
        return 0
    print(f"studies in {target.display}:")
    width = max(len(r["study"]) for r in rows)
    for r in rows:
        best = "—" if r["best_value"] is None else f"{r['best_value']:.6g}"
        params = (
            ""
            if not r["best_params"]
            else "  "
            + ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in r["best_params"].items()
            )
        )
        print(
            f"  {r['study']:{width}s}  {r['trials']:4d} trials  best {r['direction'][:3]} "
            f"{best}{params}"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m landscape.study`` and the ``landscape`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _configure_logging()
    if not argv:
        print(_top_help(), file=sys.stderr, end="")
        return 2
    if argv[0] in ("-h", "--help"):
        print(_top_help(), end="")
        return 0
    _install_signal_handlers()
    try:
        command = {
            "list": cmd_list,
            "report": cmd_report,
            "dashboard": cmd_dashboard,
            "repair": cmd_repair,
        }
        code = command[argv[0]](argv[1:]) if argv[0] in command else cmd_run(argv)
        sys.stdout.flush()  # inside the try: a closed pipe must raise here, not at exit
        return code
    except UsageError as exc:
        return _fail(str(exc))
    except BrokenPipeError:
        # The reader went away (e.g. `list --json | head`): nothing is left to say, and
        # Python's flush at exit must not raise again on the closed pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except Interrupted as exc:
        print(
            f"landscape: interrupted by {exc}; the running trial is marked FAIL; rerun the "
            "same command to resume",
            file=sys.stderr,
        )
        return 128 + exc.signum


if __name__ == "__main__":
    sys.exit(main())
