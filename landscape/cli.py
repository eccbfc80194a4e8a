"""Command line: ``python -m landscape.study NAME`` runs a study spec; ``list`` shows a storage.

Exit codes: 0 on success, 2 on bad input (one line on stderr naming the bad value; nothing is
written), 1 on an unexpected error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from landscape import files, seeds
from landscape.files import DiskFullError, disk_full
from landscape.rules import GRACE, RuleError, UsageError
from landscape.runs import DEFAULT_STORAGE
from landscape.spec.names import known_specs

if TYPE_CHECKING:
    from landscape.runs.storage import StorageTarget


def _prog() -> str:
    """How the user called us: ``landscape`` (the console script) or ``python -m …``."""
    return "landscape" if Path(sys.argv[0]).name == "landscape" else "python -m landscape.study"


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2."""

    def error(self, message: str) -> NoReturn:  # noqa: D102
        raise UsageError(message)


def _fail(message: str, code: int = 2) -> int:
    print(f"landscape: error: {message}", file=sys.stderr)
    return code


# ------------------------------------------------------------------------ parsers
def _top_help() -> str:
    specs = ", ".join(known_specs()) or "none found"
    return (
        f"usage: {_prog()} NAME [options]         run the study spec NAME\n"
        f"       {_prog()} list [options]         list the studies in a storage\n"
        f"       {_prog()} report STUDY [options] write reports/STUDY/index.html from storage\n"
        f"       {_prog()} dashboard [options]    open optuna-dashboard on the storage\n"
        f"       {_prog()} repair [options]       fail trials of dead workers, mend a journal\n"
        f"       {_prog()} lr_range NAME [options] the LR range test on spec NAME's problem\n"
        f"       {_prog()} slice STUDY --trial N  retrain a stored trial; slices, λ_max\n"
        f"       {_prog()} compare A B [options]  overlay stored searches in one figure\n\n"
        "Gradient descent on small neural networks, studied by experiment with Optuna.\n\n"
        f"NAME is a spec in ./studies or shipped with landscape ({specs}), or a path to a\n"
        "TOML file. Every command has --help.\n"
        f"Default storage: {DEFAULT_STORAGE} (look at it with: optuna-dashboard "
        f"{DEFAULT_STORAGE})\n"
    )


def _run_parser() -> _Parser:
    p = _Parser(
        prog=f"{_prog()} NAME",
        description="Run the study spec NAME: Optuna trials of the spec's trainer, then a "
        "summary of which learning rates diverged, stalled or converged.",
    )
    p.add_argument("name", metavar="NAME", help=f"spec name ({', '.join(known_specs())}) or path")
    _storage_option(p)
    p.add_argument("--study-name", help="name of the study in the storage (default: NAME)")
    p.add_argument("--n-trials", type=int, help="trials to add (default: the spec's)")
    p.add_argument(
        "--timeout",
        type=float,
        help="seconds after which no new trial starts and a running one stops (marked FAIL)",
    )
    p.add_argument("--seed", type=int, help="root seed of every random choice (default: spec's)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes sharing the study")
    p.add_argument(
        "--repeats",
        type=int,
        metavar="R",
        help="searches: run each sampled configuration R times, each from its own θ⁽⁰⁾ and "
        "shuffles (study.repeats; --n-trials counts configurations)",
    )
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
        "--storage-retry",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="how long a storage outage (database unreachable) is waited out, retrying with "
        "growing pauses, before the run fails in one line (default: 120; 0: at once)",
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
        prog=f"{_prog()} report",
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
        prog=f"{_prog()} repair",
        description="With no worker running: cut a journal file's torn last line, mark "
        "RUNNING trials older than the grace period FAIL (and enqueue copies), and check "
        "an SQLite file's integrity.",
    )
    _storage_option(p)
    p.add_argument(
        "--grace",
        type=float,
        default=None,
        metavar="SECONDS",
        help="only trials running longer than this many seconds, > 0 (default: every one)",
    )
    return p


def _dashboard_parser() -> _Parser:
    p = _Parser(
        prog=f"{_prog()} dashboard",
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


def _range_parser() -> _Parser:
    p = _Parser(
        prog=f"{_prog()} lr_range",
        description="The learning-rate range test (Smith 2017) on the problem of spec NAME: "
        "one run from trial 0's θ⁽⁰⁾ with ε growing exponentially per update; prints where the "
        "loss falls and blows up, a suggested ε and search range, and draws the curve. With a "
        "stored search of the same study name, compares with its best ε.",
    )
    p.add_argument("name", metavar="NAME", help="spec name or path")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a spec field"
    )
    _storage_option(p)
    p.add_argument("--study-name", help="stored study to compare with (default: NAME)")
    p.add_argument("--out", default="reports", help="folder of the figure (default: reports)")
    return p


def _slice_parser() -> _Parser:
    p = _Parser(
        prog=f"{_prog()} slice",
        description="Look at the landscape around a stored search trial's end point (its θ is "
        "a trial artifact): the loss along a filter-normalised random direction and along "
        "the top Hessian eigenvector, the Hessian's largest eigenvalue. In Python: "
        "landscape.load_trial(study, N) gives its model, θ and data.",
    )
    p.add_argument("study", metavar="STUDY", help="the stored search study")
    p.add_argument("--trial", type=int, required=True, metavar="N", help="trial number")
    _storage_option(p)
    _artifacts_option(p)
    p.add_argument(
        "--retrain",
        action="store_true",
        help="train the trial again from its seed and check its end point against the stored θ",
    )
    p.add_argument("--radius", type=float, default=1.0, help="half-width of the slices")
    p.add_argument("--points", type=int, default=41, help="odd number of points per slice")
    p.add_argument("--out", default="reports", help="folder of the figure (default: reports)")
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    return p


def cmd_slice(argv: Sequence[str]) -> int:
    """Slice the landscape around a stored trial's end point (see ``--help``)."""
    args = _slice_parser().parse_args(argv)
    from landscape.analysis.geometry import (
        filter_normalized_direction,
        hessian_directions,
        slice_1d,
    )
    from landscape.api import load_trial
    from landscape.runs.storage import StorageError
    from landscape.spec import SpecError

    try:
        if not (math.isfinite(args.radius) and args.radius > 0):
            raise UsageError(f"--radius {args.radius}: must be a finite number > 0")
        if args.points < 3 or args.points % 2 == 0:
            raise UsageError(f"--points {args.points}: must be odd and >= 3")
        out = Path(args.out)
        files.check_folder(out, "--out")
        run = load_trial(
            args.study,
            args.trial,
            storage=args.storage,
            artifacts=args.artifacts,
            retrain=args.retrain,
        )
    except (SpecError, StorageError, UsageError) as exc:
        return _fail(str(exc))
    except KeyError:
        return _fail(f"study {args.study!r} is not in the storage")
    d = run.data
    theta = run.theta
    if not np.isfinite(theta).all():
        return _fail(f"--trial {args.trial}: its θ is not finite (the trial diverged)")
    rng = seeds.stream(run.spec.study.seed, seeds.ANALYSIS, args.trial)
    random_dir = filter_normalized_direction(run.model, theta, rng)
    lam, top = hessian_directions(run.model, theta, d.X_train, d.y_train, k=1)
    # One length for both directions, so that their rises compare: the filter-normalised
    # direction's, about ‖θ‖ (Li et al. 2018's scale); the eigenvector comes with unit norm.
    length = float(np.linalg.norm(random_dir))
    kw = {"radius": args.radius, "points": args.points}
    r = slice_1d(run.model, theta, random_dir, d.X_train, d.y_train, **kw)
    h = slice_1d(run.model, theta, top[0] * length, d.X_train, d.y_train, **kw)
    centre = args.points // 2
    result = {
        "study": args.study,
        "trial": args.trial,
        "params": run.params,
        "status": run.status,
        "loss": run.loss,
        "retrained": run.result is not None,
        "matches_stored": run.matches_stored,
        "lambda_max": float(lam[0]),
        "two_over_lambda_max": float(2.0 / lam[0]) if lam[0] > 0 else None,
        "slice_random_rise": float(np.nanmax(r.loss) - r.loss[centre]),
        "slice_hessian_rise": float(np.nanmax(h.loss) - h.loss[centre]),
        "direction_length": length,
    }
    from landscape.report import figures  # matplotlib is loaded only to draw
    from landscape.report.write import safe_dirname

    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{safe_dirname(args.study)}-trial{args.trial}-slices.png"
    figures.save(
        figures.slices_1d(
            r.s,
            {
                "filter-normalised random direction": r.loss,
                "top Hessian eigenvector": h.loss,
            },
            f"{args.study}, trial {args.trial} ({_params_text(run.params)}): {run.status}, "
            f"E = {result['loss']:.4g}; both directions of length {length:.3g}",
        ),
        path,
    )
    result["figure"] = str(path)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    params = _params_text(run.params)
    how = "stored θ" if run.result is None else "trained again"
    if run.matches_stored is False:
        how += " (differs from the stored θ: another BLAS thread count or version?)"
    elif run.matches_stored:
        how += ", the same θ as stored"
    print(
        f"trial {args.trial} of {args.study!r} ({params}): {how}; {run.status}, E = {run.loss:.6g}"
    )
    print(
        f"λ_max = {lam[0]:.4g} (2/λ_max = {result['two_over_lambda_max'] or float('nan'):.4g}); "
        f"E rises by {result['slice_random_rise']:.3g} along the random direction and by "
        f"{result['slice_hessian_rise']:.3g} along the top eigenvector within ±{args.radius} "
        f"steps (both directions of length {length:.3g}, the filter-normalised one's)"
    )
    print(path)
    return 0


def _params_text(params: dict) -> str:
    """A trial's parameters in one short line: ``lr=0.2398, batch_size=2``."""
    return ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )


def _compare_parser() -> _Parser:
    p = _Parser(
        prog=f"{_prog()} compare",
        description="Overlay stored searches (e.g. tanh against relu, two datasets): final loss "
        "against ε and each study's best learning curve, in one figure, with a line per study.",
    )
    p.add_argument("studies", metavar="STUDY", nargs="+", help="two or more stored searches")
    _storage_option(p)
    _artifacts_option(p)
    p.add_argument("--out", default="reports", help="folder of the figure (default: reports)")
    return p


def cmd_compare(argv: Sequence[str]) -> int:
    """Compare stored searches in one figure (see ``--help``)."""
    args = _compare_parser().parse_args(argv)
    from landscape.runs import records
    from landscape.runs.storage import (
        ArtifactStore,
        StorageError,
        artifact_dir,
        existing,
        open_storage,
    )

    try:
        if len(args.studies) < 2:
            raise UsageError(f"compare needs two or more studies, got {len(args.studies)}")
        out = Path(args.out)
        files.check_folder(out, "--out")
        target = existing(args.storage)  # reading must not create an empty database
        storage = open_storage(target)
        folder = artifact_dir(target, args.artifacts)
        store = ArtifactStore(str(folder)) if folder.is_dir() else None
        known = records.study_names(storage)
        studies = []
        for name in args.studies:
            if name not in known:
                raise UsageError(f"study {name!r} is not in {target.display}; known: {known}")
            study = records.load(storage, name)
            if records.is_analysis(study) or records.stored_spec(study) is None:
                raise UsageError(f"study {name!r} is not a landscape search")
            studies.append(study)
    except (StorageError, UsageError) as exc:
        return _fail(str(exc))
    from landscape.report import data, figures  # matplotlib is loaded only to draw
    from landscape.report.write import safe_dirname

    points = [data.lr_points(s, store) for s in studies]
    best = [data.best_curve(s, store) for s in studies]
    for s, p in zip(studies, points, strict=True):
        try:
            b = f"best ε {records.lr(s.best_trial):.4g} (value {s.best_value:.4g})"
        except ValueError:
            b = "no complete trial"
        div = "none" if p.smallest_diverged is None else f"{p.smallest_diverged:.4g}"
        print(f"{s.study_name}: {len(p.lr)} finished trials; {b}; smallest diverged ε {div}")
    out.mkdir(parents=True, exist_ok=True)
    path = out / ("compare-" + "-".join(safe_dirname(n) for n in args.studies) + ".png")
    figures.save(figures.compare(list(args.studies), points, best), path)
    print(path)
    return 0


def _list_parser() -> _Parser:
    p = _Parser(prog=f"{_prog()} list", description="List the studies in a storage.")
    _storage_option(p)
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    return p


# ------------------------------------------------------------------------ helpers
def cmd_run(argv: Sequence[str]) -> int:
    """Run a study spec (see ``--help``): :func:`landscape.runs.driver.run_study`, then print."""
    args = _run_parser().parse_args(argv)
    from landscape.api import run_study
    from landscape.runs.storage import StorageError, StorageUnavailable
    from landscape.spec import SpecError

    try:
        run = run_study(
            args.name,
            storage=args.storage,
            overrides=args.set,
            study_name=args.study_name,
            n_trials=args.n_trials,
            timeout=args.timeout,
            seed=args.seed,
            jobs=args.jobs,
            total=args.total,
            heartbeat=args.heartbeat,
            grace=args.grace,
            artifacts=args.artifacts,
            report=not args.no_report,
            progress=not args.no_progress,
            repeats=args.repeats,
            storage_retry=args.storage_retry,
        )
    except StorageUnavailable as exc:  # an outage past --storage-retry: not bad input
        return _fail(str(exc), 1)
    except (SpecError, StorageError, UsageError) as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps(run.payload, indent=2))
    else:
        print(run.text)
        if run.report:
            print(f"report: {run.report}")
        print(f"look at it: optuna-dashboard {run.storage} --artifact-dir {run.artifacts}")
    return 1 if run.dead_workers else 0


def _existing_study(url: str | None, name: str) -> tuple[StorageTarget, Any]:
    from landscape.runs import records
    from landscape.runs.storage import existing, open_storage

    target = existing(url)
    storage = open_storage(target)
    names = records.study_names(storage)
    if name not in names:
        raise UsageError(
            f"study {name!r} is not in {target.display}; known: {', '.join(names) or 'none'}"
        )
    return target, storage


def cmd_report(argv: Sequence[str]) -> int:
    """Write a stored study's report (see ``--help``)."""
    args = _report_parser().parse_args(argv)
    from landscape.runs.storage import ArtifactStore, StorageError, artifact_dir, check_writable

    try:
        target, storage = _existing_study(args.storage, args.study)
        if not args.no_upload:
            try:
                check_writable(target)
            except StorageError as exc:
                raise StorageError(
                    f"{exc}; or write the report without uploading: "
                    f"{_prog()} report {args.study} --no-upload"
                ) from None
        artifacts = artifact_dir(target, args.artifacts)
        out = Path(args.out)
        files.check_folder(out, "--out")
        if not args.no_upload and artifacts.is_dir():
            files.check_folder(artifacts, "--artifacts")
    except (StorageError, UsageError) as exc:
        return _fail(str(exc))
    from landscape.report.write import write_report  # matplotlib is loaded only to report

    store = ArtifactStore(str(artifacts)) if artifacts.is_dir() else None
    path = write_report(
        storage,
        args.study,
        out,
        store,
        storage_display=target.display,
        storage_id=target.identity_from(out),
        storage_aliases=(target.identity,),
        publish=not args.no_upload and store is not None,
    )
    print(path)
    return 0


def cmd_dashboard(argv: Sequence[str]) -> int:
    """Start optuna-dashboard on a storage (see ``--help``)."""
    args = _dashboard_parser().parse_args(argv)
    from landscape.runs.storage import (
        ArtifactStore,
        StorageError,
        artifact_dir,
        check_writable,
        existing,
        open_storage,
    )

    try:
        import optuna_dashboard  # a dependency: absent only from a broken install
    except ImportError:
        return _fail("optuna-dashboard is missing from this install; pip install optuna-dashboard")
    try:
        if not 1 <= args.port <= 65535:
            raise UsageError(f"--port={args.port} must lie in [1, 65535]")
        _check_port_free(args.port)
        target = existing(args.storage)
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
        artifact_store=ArtifactStore(str(artifacts)),
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
    from landscape.runs.storage import (
        StorageError,
        existing,
        fail_stale_running,
        open_storage,
        truncate_torn_tail,
    )

    try:
        if args.grace is not None:
            try:
                GRACE.check("--grace", args.grace)  # the run's rule too
            except RuleError as exc:
                raise UsageError(str(exc)) from None
        # Recognise the file as Optuna's before touching it: a text file is not a journal.
        target = existing(args.storage)
        if target.kind == "journal":
            cut = truncate_torn_tail(target.path)
            if cut:
                print(f"cut a torn last line of {cut} bytes from {target.display}")
        storage = open_storage(target)
    except (StorageError, UsageError) as exc:
        return _fail(str(exc))
    failed = fail_stale_running(storage, args.grace or 0.0)
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


def cmd_lr_range(argv: Sequence[str]) -> int:
    """Run the LR range test on a spec's problem (see ``--help``)."""
    args = _range_parser().parse_args(argv)
    from landscape.report.text import format_range_test
    from landscape.runs.problem import prepare
    from landscape.runs.search import range_test_record, run_range_test
    from landscape.runs.storage import StorageError
    from landscape.spec import SpecError, find_spec, parse_spec

    try:
        spec = parse_spec(*find_spec(args.name), args.set)
        problem = prepare(spec)
        out = Path(args.out)
        files.check_folder(out, "--out")
        best = _stored_best_lr(args.storage, args.study_name or spec.name)
    except (SpecError, StorageError, UsageError) as exc:
        return _fail(str(exc))
    rt = run_range_test(problem)
    record = range_test_record(rt)
    print(format_range_test(record, best))
    from landscape.report import figures  # matplotlib is loaded only to draw
    from landscape.report.write import safe_dirname

    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{safe_dirname(spec.name)}-lr_range.png"
    marks = {"suggested": rt.lr_suggested, "blow-up": rt.lr_blowup, "best of the search": best}
    figures.save(figures.range_test(rt.lr, rt.loss, rt.smoothed, marks), path)
    print(path)
    return 0


def _stored_best_lr(url: str | None, name: str) -> float | None:
    """The best ε of a stored search of that name, None when there is none to compare."""
    from landscape.runs import records
    from landscape.runs.search import trial_records
    from landscape.runs.storage import check_storage, open_storage, resolve
    from landscape.summary import summarize

    target = resolve(url)
    if target.path is not None and not target.exists():
        return None  # nothing stored yet: nothing to compare with
    check_storage(target)
    storage = open_storage(target)
    if name not in records.study_names(storage):
        return None
    study = records.load(storage, name)
    if records.is_analysis(study):
        return None
    maximize = records.maximizes(study)
    s = summarize(trial_records(study), "maximize" if maximize else "minimize")
    return s.best.lr if s.best is not None else None


def cmd_list(argv: Sequence[str]) -> int:
    """List the studies in a storage (see ``--help``)."""
    args = _list_parser().parse_args(argv)
    from landscape.runs import records
    from landscape.runs.storage import StorageError, existing, open_storage, resolve

    try:
        if args.storage is None and not resolve(None).exists():
            # the default storage is made by the first study: before it, nothing is stored yet
            # (a storage named on the command line that is missing is a mistake, refused below)
            target, summaries = resolve(None), []
        else:
            target = existing(args.storage)
            summaries = records.summaries(open_storage(target))
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
                "kind": records.kind(s.user_attrs),
                "found": _finding(s.user_attrs, s.best_trial.value if s.best_trial else None),
                "spec": records.spec_name(s.user_attrs),
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
    for r in rows:  # a terminal must not run a stored name's escape sequences
        r["study"] = _printable(r["study"])
    width = max(len(r["study"]) for r in rows)
    for r in rows:
        if r["kind"] != "search":
            # an analysis's trial values are units of work, not what it found
            print(f"  {r['study']:{width}s}  {r['trials']:4d} trials  {r['kind']}: {r['found']}")
            continue
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


def _printable(text: str) -> str:
    r"""``text`` with each unprintable character written as its Python escape (``\x1b``)."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _finding(attrs: dict, value: float | None) -> str:
    """One line of what a stored analysis found ("not finished" until its result is stored)."""
    from landscape.analysis import KINDS
    from landscape.runs import records

    kind = records.kind(attrs)
    line = records.found(attrs, KINDS.get(kind))
    if line is not None:
        return line
    if kind in KINDS and not KINDS[kind].queued and value is not None:
        return f"{KINDS[kind].value} = {value:.4g}"  # a one-trial analysis of an earlier version
    return "not finished"


def _no_space_line(exc: BaseException | None) -> str:
    """One line for a full disk that no landscape writer named (a library's own write)."""
    chain: list[BaseException] = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    names = [e.filename for e in chain if isinstance(e, OSError) and e.filename]
    where = f" (writing {names[0]!r})" if names else ""
    return f"the disk is full{where}; free space there and run the command again"


SUBCOMMANDS = {
    "list": cmd_list,
    "report": cmd_report,
    "dashboard": cmd_dashboard,
    "repair": cmd_repair,
    "lr_range": cmd_lr_range,
    "slice": cmd_slice,
    "compare": cmd_compare,
}
"""Every command but running a spec (``NAME``), by the word that starts it."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m landscape.study`` and the ``landscape`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print(_top_help(), file=sys.stderr, end="")
        return 2
    if argv[0] in ("-h", "--help"):
        print(_top_help(), end="")
        return 0
    # Imported here, not at the top: `--help` should cost little more than importing Optuna.
    from landscape.report.page import ReportError
    from landscape.runs.driver import Interrupted, configure_logging, install_signal_handlers
    from landscape.runs.records import DamagedArtifact
    from landscape.runs.storage import StorageError, stop_heartbeats

    configure_logging()
    install_signal_handlers()
    try:
        command = SUBCOMMANDS.get(argv[0])
        code = command(argv[1:]) if command is not None else cmd_run(argv)
        sys.stdout.flush()  # inside the try: a closed pipe must raise here, not at exit
        return code
    except (UsageError, ReportError, files.FolderError) as exc:
        return _fail(str(exc))
    except DamagedArtifact as exc:
        return _fail(str(exc), 1)
    except BrokenPipeError:
        # The reader went away (e.g. `list --json | head`): nothing is left to say, and
        # Python's flush at exit must not raise again on the closed pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except Interrupted as exc:
        stop_heartbeats()  # one left beating by the cut-short trial would keep the process
        if exc.done:  # what the run finished before the phase that was cut short
            with contextlib.suppress(OSError):
                print(exc.done, flush=True)
        what = exc.detail or "; nothing this command writes is left half-written"
        print(f"landscape: interrupted by {exc} {what}".replace(" ;", ";"), file=sys.stderr)
        return 128 + exc.signum
    except StorageError as exc:  # an outage that outlasted --storage-retry
        return _fail(str(exc), 1)
    except Exception as exc:
        if disk_full(exc):  # the storage's or a report's disk: the one line that matters
            return _fail(str(exc) if isinstance(exc, DiskFullError) else _no_space_line(exc), 1)
        raise


if __name__ == "__main__":
    sys.exit(main())
