"""Landscape analyses run through an Optuna study, so they are stored, shared and resumable.

``minima``: the starts are split into chunks; each chunk is one trial, enqueued in advance, so
any number of workers on one storage take chunks from the queue until none is left. A chunk
trains its starts at once, polishes and classifies the end points, and stores them as an npz
artifact (loaded with ``allow_pickle=False``). When every chunk is complete the analysis is
computed from the artifacts alone — redoable without retraining — and stored as study user
attrs and a study artifact.

``symmetry``: one trial that verifies the unit-swap symmetry on a (trained) network and stores
the deviations as user attrs and θ as an artifact.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.artifacts import FileSystemArtifactStore, download_artifact, upload_artifact
from optuna.trial import TrialState

from landscape.hessian import hessian
from landscape.minima import MinimaReport, analyse_points, polish
from landscape.objectives import Problem, analysis_rng, build, trial_rng
from landscape.symmetry import SymmetryCheck, group_counts, verify_symmetry
from landscape.train import train, train_many

POINTS = "points.npz"
ANALYSIS = "minima.npz"
_START_STREAM, _SHUFFLE_STREAM = 10, 11


def n_chunks(problem: Problem) -> int:
    """Count the chunks the starts are split into."""
    a = problem.spec.analysis
    return -(-a.n_starts // a.chunk)


def start_thetas(problem: Problem, ids: np.ndarray) -> tuple[Any, np.ndarray]:
    """Build the model and draw θ⁽⁰⁾ of starts ``ids``, each from its own stream of the study seed.

    A start's θ⁽⁰⁾ depends on its index only, not on the chunking or on which worker runs it.
    """
    spec = problem.spec
    model = None
    thetas = []
    for i in ids:
        rng = np.random.default_rng([spec.study.seed, _START_STREAM, int(i)])
        model, theta = build(problem, spec, rng)
        thetas.append(theta)
    return model, np.stack(thetas)


def run_chunk(problem: Problem, chunk: int) -> dict[str, np.ndarray]:
    """Train, polish and classify the starts of one chunk.

    Returns
    -------
    dict of str to ndarray
        ``start`` (M,), ``theta0`` / ``theta_end`` / ``theta`` (M, D) (start, end of
        training, polished), ``status`` (M,) of str, ``train_loss`` (M,), ``loss`` (M,),
        ``grad_norm`` (M,), ``converged`` (M,) of bool, ``eigenvalues`` (M, D).
    """
    spec = problem.spec
    a, t = spec.analysis, spec.trainer
    d = problem.data
    ids = np.arange(chunk * a.chunk, min(a.n_starts, (chunk + 1) * a.chunk))
    model, theta0 = start_thetas(problem, ids)
    batch = {"gd": None, "online": 1, "minibatch": t.batch_size}[t.method]
    if batch is not None and batch >= d.n_train:
        batch = None
    res = train_many(
        model, theta0, d.X_train, d.y_train, lr=t.lr, epochs=t.epochs, batch_size=batch,
        rng=np.random.default_rng([spec.study.seed, _SHUFFLE_STREAM, chunk]),
        schedule=t.schedule, schedule_params=dict(t.schedule_params), atol=t.atol,
        rtol=t.rtol, gtol=t.gtol, diverge_factor=t.diverge_factor,
    )
    D = model.n_params
    out = {
        "start": ids, "theta0": theta0, "theta_end": res.theta, "status": res.status,
        "train_loss": res.loss, "theta": np.full((len(ids), D), np.nan),
        "loss": np.full(len(ids), np.nan), "grad_norm": np.full(len(ids), np.nan),
        "converged": np.zeros(len(ids), dtype=bool), "eigenvalues": np.full((len(ids), D), np.nan),
    }
    for k, theta in enumerate(res.theta):
        if not np.isfinite(theta).all():
            continue
        p = polish(model, theta, d.X_train, d.y_train, gtol=a.polish_gtol, max_iter=a.polish_iter)
        out["theta"][k], out["loss"][k] = p.theta, p.loss
        out["grad_norm"][k], out["converged"][k] = p.grad_norm, p.converged
        if np.isfinite(p.loss):
            out["eigenvalues"][k] = np.linalg.eigvalsh(hessian(model, p.theta, d.X_train,
                                                                d.y_train))
    return out


def _counts(values: np.ndarray) -> dict[str, int]:
    keys, counts = np.unique(values.astype(str), return_counts=True)
    return {str(k): int(c) for k, c in zip(keys, counts, strict=True)}


def minima_objective(problem: Problem, store: FileSystemArtifactStore):
    """Build the objective of a minima study's chunk trials."""
    total = n_chunks(problem)

    def objective(trial: optuna.Trial) -> float:
        start = time.perf_counter()
        chunk = trial.suggest_int("chunk", 0, total - 1)
        states = (TrialState.COMPLETE, TrialState.RUNNING)
        if any(t.params.get("chunk") == chunk and t.number != trial.number
               for t in trial.study.get_trials(deepcopy=False, states=states)):
            # Not from the queue: another worker took the last chunk between our look at the
            # queue and our ask, and the sampler proposed a chunk that is taken.
            trial.set_user_attr("status", "idle")
            raise optuna.TrialPruned(f"chunk {chunk} is taken; no chunk left in the queue")
        arrays = run_chunk(problem, chunk)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / POINTS
            np.savez(path, **arrays)
            upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=trial)
        finite = arrays["loss"][np.isfinite(arrays["loss"])]
        trial.set_user_attr("status", "done")
        trial.set_user_attr("starts", [int(arrays["start"][0]), int(arrays["start"][-1])])
        trial.set_user_attr("training", _counts(arrays["status"]))
        trial.set_user_attr("polished_converged", int(arrays["converged"].sum()))
        trial.set_user_attr("wall_time", time.perf_counter() - start)
        return float(finite.min()) if finite.size else float("inf")

    return objective


def enqueue_missing(study: optuna.Study, total: int) -> list[int]:
    """Enqueue one trial per chunk that is neither complete, queued nor running."""
    taken = set()
    for t in study.get_trials(deepcopy=False,
                              states=(TrialState.COMPLETE, TrialState.WAITING,
                                      TrialState.RUNNING)):
        chunk = t.params.get("chunk", t.system_attrs.get("fixed_params", {}).get("chunk"))
        if chunk is not None:
            taken.add(int(chunk))
    missing = [c for c in range(total) if c not in taken]
    for c in missing:
        study.enqueue_trial({"chunk": c}, skip_if_exists=False)
    return missing


def drain_queue(study: optuna.Study, objective, callback=None) -> int:
    """Run queued chunk trials until the queue is empty; returns how many this worker ran."""
    done = 0
    while study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        study.optimize(objective, n_trials=1, callbacks=[callback] if callback else None)
        done += 1
    return done


def collect(study: optuna.Study, store: FileSystemArtifactStore, total: int):
    """Load every chunk's points from the artifacts, ordered by start; None if chunks miss."""
    by_chunk: dict[int, optuna.trial.FrozenTrial] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if "chunk" in t.params:
            by_chunk[int(t.params["chunk"])] = t
    if len(by_chunk) < total:
        return None
    parts = []
    with tempfile.TemporaryDirectory() as tmp:
        for c in range(total):
            meta = optuna.artifacts.get_all_artifact_meta(by_chunk[c], storage=study._storage)
            meta = [m for m in meta if m.filename == POINTS][-1]
            path = Path(tmp) / f"chunk{c}.npz"
            download_artifact(artifact_store=store, file_path=str(path),
                              artifact_id=meta.artifact_id)
            with np.load(path, allow_pickle=False) as z:
                parts.append({k: z[k] for k in z.files})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def report_dict(report: MinimaReport) -> dict:
    """Convert a :class:`MinimaReport` to JSON-able data."""
    out = dataclasses.asdict(report)
    out.pop("point_class")
    out["chao1"]["complete"] = report.chao1.complete
    return _jsonable(out)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def finalize_minima(
    problem: Problem, study: optuna.Study, store: FileSystemArtifactStore
) -> MinimaReport | None:
    """Analyse the stored points once every chunk is complete (None until then)."""
    points = collect(study, store, n_chunks(problem))
    if points is None:
        return None
    spec = problem.spec
    a = spec.analysis
    model, _ = build(problem, spec, np.random.default_rng(0))
    report = analyse_points(
        model, points["theta"], points["loss"], points["converged"], points["eigenvalues"],
        points["status"], tol=a.tol, loss_tol=a.loss_tol, rel_tol=a.rel_tol,
        data=(problem.data.X_train, problem.data.y_train),
    )
    counts = group_counts(model.layout, model.activation.odd)
    study.set_user_attr("minima", report_dict(report))
    study.set_user_attr("group_counts", {k: str(v) for k, v in
                                         dataclasses.asdict(counts).items()})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ANALYSIS
        np.savez(path, **points, minimum_class=report.point_class)
        upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=study)
    return report


def run_symmetry(
    problem: Problem, study: optuna.Study, store: FileSystemArtifactStore
) -> SymmetryCheck:
    """Verify the symmetry in one trial of ``study``; store deviations and θ."""
    spec = problem.spec
    a, t = spec.analysis, spec.trainer
    d = problem.data
    trial = study.ask()
    start = time.perf_counter()
    model, theta = build(problem, spec, trial_rng(spec, 0))
    status = "untrained"
    if a.trained:
        res = train(model, theta, d.X_train, d.y_train, lr=t.lr, epochs=t.epochs,
                    gtol=t.gtol, diverge_factor=t.diverge_factor)
        theta, status = res.theta, res.status
    check = verify_symmetry(model, theta, d.X_train, d.y_train, rng=analysis_rng(spec),
                            max_pairs=a.max_pairs, n_random=a.n_random, gd_steps=a.gd_steps,
                            lr=t.lr)
    attrs = _jsonable(dataclasses.asdict(check))
    attrs["counts"] = {k: str(v) for k, v in dataclasses.asdict(check.counts).items()}
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    trial.set_user_attr("training", status)
    trial.set_user_attr("wall_time", time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "theta.npz"
        np.savez(path, theta=theta, sizes=np.asarray(model.sizes))
        upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=trial)
    worst = max(check.output_deviation, check.loss_deviation, check.gradient_deviation,
                check.gd_deviation)
    study.tell(trial, worst)
    return check
