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
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.artifacts import FileSystemArtifactStore
from optuna.trial import TrialState

from landscape import seeds
from landscape.analysis.convergence import least_squares_optimum, read_convergence
from landscape.analysis.escape import SampleNet
from landscape.analysis.geometry import (
    aligned_path,
    filter_normalized_direction,
    hessian_directions,
    slice_1d,
    slice_2d,
)
from landscape.analysis.minima import (
    MinimaReport,
    analyse_points,
    examine_points,
    polish,
)
from landscape.analysis.noise import AxisConfig, AxisReport, run_axis, summarise_axis
from landscape.analysis.spurious import PopulationReLU, init_students
from landscape.analysis.symmetry import (
    SymmetryCheck,
    model_group_counts,
    verify_symmetry,
)
from landscape.runs import records
from landscape.runs.problem import Problem, analysis_rng, build, trial_rng
from landscape.runs.storage import PlanComplete
from landscape.spec import parse_schedule_run, parse_size
from landscape.threads import one_blas_thread
from landscape.train import train, train_many


def n_chunks(problem: Problem) -> int:
    """Count the units of work: chunks of starts (minima), methods (escape), sizes (spurious)."""
    names = unit_names(problem.spec)
    a = problem.spec.analysis
    return len(names) if names is not None else -(-a.n_starts // a.chunk)


def unit_names(spec) -> list[str] | None:
    """The names of the units of work, None where units are numbered (minima: chunks).

    Escape's units are its methods, spurious's its sizes k:n; the names are the categories of
    the unit's trial parameter, so the dashboard and plain Optuna show them.
    """
    a = spec.analysis
    if a.kind == "escape":
        return [f"B={b}" for b in a.batches]
    if a.kind == "spurious":
        return [f"{size} B={b}" for size in a.sizes for b in a.batches]
    return None


def _unit_of(value: Any, names: list[str] | None) -> int:
    """A unit's index from its trial parameter (its name, or its number)."""
    return int(value) if names is None else names.index(value)


def start_thetas(problem: Problem, ids: np.ndarray) -> tuple[Any, np.ndarray]:
    """Build the model and draw θ⁽⁰⁾ of starts ``ids``, each from its own stream of the study seed.

    A start's θ⁽⁰⁾ depends on its index only, not on the chunking or on which worker runs it.
    """
    spec = problem.spec
    model = None
    thetas = []
    for i in ids:
        rng = seeds.stream(spec.study.seed, seeds.START, int(i))
        model, theta = build(problem, spec, rng)
        thetas.append(theta)
    return model, np.stack(thetas)


def run_chunk(problem: Problem, chunk: int) -> dict[str, np.ndarray]:
    """Train, polish and classify the starts of one chunk (minima).

    Returns
    -------
    dict of str to ndarray
        ``start`` (M,), ``theta0`` / ``theta_end`` / ``theta`` (M, D) (start, end of
        training, polished), ``status`` (M,) of str, ``train_loss`` (M,), ``loss`` (M,),
        ``grad_norm`` (M,), ``converged`` (M,) of bool, ``eigenvalues`` (M, F).
    """
    a = problem.spec.analysis
    ids = np.arange(chunk * a.chunk, min(a.n_starts, (chunk + 1) * a.chunk))
    return _train_and_examine(problem, ids, stream=chunk)


def axis_config(a, lr: float) -> AxisConfig:
    """The noise axis as the spec's analysis section says (see :class:`AxisConfig`)."""
    return AxisConfig(
        grid=() if isinstance(a.grid, str) else tuple(a.grid),
        grid_points=a.grid_points,
        grid_low=a.grid_low,
        grid_high=a.grid_high,
        horizons=tuple(a.horizons),
        cooldown=a.cooldown,
        cool_factor=a.cool_factor,
        n_starts=a.n_starts,
        chains=a.chains,
        ceiling=a.ceiling,
        div_updates=a.div_updates,
        div_chains=a.div_chains,
        basin_steps=a.basin_steps,
        lr=lr,
        margin=a.margin,
        escape_floor=a.escape_floor,
        alpha=a.alpha,
    )


@one_blas_thread
def run_spurious_unit(problem: Problem, index: int) -> dict[str, np.ndarray]:
    """One size and batch size of the noise axis (:func:`landscape.analysis.noise.run_axis`).

    The starts depend on the size alone (stream [seed, SPURIOUS, size]), so every batch size
    and GD meet the same θ⁽⁰⁾; each unit's noise has a stream of its own.
    """
    spec = problem.spec
    a = spec.analysis
    s, b = divmod(index, len(a.batches))
    k, n = parse_size(a.sizes[s])
    chain = PopulationReLU(k, n, lr=spec.trainer.lr, global_below=a.spurious_tol)
    seed = spec.study.seed
    starts = init_students(seeds.stream(seed, seeds.SPURIOUS, s), a.n_starts, n, k)
    return run_axis(
        chain,
        starts.reshape(a.n_starts, chain.dim),
        a.batches[b],
        axis_config(a, spec.trainer.lr),
        lambda j: seeds.stream(seed, seeds.SPURIOUS, s, 1 + b, j),
    )


def finalize_spurious(
    problem: Problem, study: optuna.Study, store: FileSystemArtifactStore
) -> AxisReport | None:
    """Judge the noise axis once every unit is complete (None until then)."""
    a = problem.spec.analysis
    names = unit_names(problem.spec)
    parts = _load_units(study, store, len(names), "sweep", names)
    if parts is None:
        return None
    sized = [(a.sizes[i // len(a.batches)], p) for i, p in enumerate(parts)]
    symmetry = (
        "permutations of the student's units and of the input coordinates (which permute the "
        "teacher's units)"
    )
    report = summarise_axis(sized, axis_config(a, problem.spec.trainer.lr), symmetry)
    records.set_spurious(study, jsonable(dataclasses.asdict(report)), store)
    return report


def _train_and_examine(problem: Problem, ids: np.ndarray, stream: int) -> dict[str, np.ndarray]:
    """Train starts ``ids`` as the trainer section says; polish and examine each end point."""
    spec = problem.spec
    a, t = spec.analysis, spec.trainer
    d = problem.data
    model, theta0 = start_thetas(problem, ids)
    batch = t.batch(problem.n_train)
    res = train_many(
        model,
        theta0,
        d.X_train,
        d.y_train,
        rng=seeds.stream(spec.study.seed, seeds.SHUFFLE, stream),
        **{**t.many_kwargs(d.n_train), "batch_size": batch},
    )
    # each end point polished, then examined (continued descent, flat probes)
    found = examine_points(model, res.theta, d.X_train, d.y_train, **_examine_options(a))
    return {
        "start": ids,
        "theta0": theta0,
        "theta_end": res.theta,
        "status": res.status,
        "train_loss": res.loss,
        **found,
    }


def _counts(values: np.ndarray) -> dict[str, int]:
    keys, counts = np.unique(values.astype(str), return_counts=True)
    return {str(k): int(c) for k, c in zip(keys, counts, strict=True)}


def minima_objective(problem: Problem, store: FileSystemArtifactStore):
    """Build the objective of the queued unit trials of a minima or escape study."""
    total = n_chunks(problem)
    kind = problem.spec.analysis.kind
    param = ANALYSIS_KINDS[kind].unit
    names = unit_names(problem.spec)
    run = {"minima": run_chunk, "escape": run_escape_unit, "spurious": run_spurious_unit}[kind]

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
        arrays = run(problem, unit)
        records.upload_arrays(store, trial, records.POINTS, arrays)
        records.set_status(trial, "done")
        if kind in ("spurious", "escape"):
            share = float((arrays["ref_basin"] == "spurious").mean())
            records.write_attrs(
                trial,
                {
                    "unit": names[unit],
                    "eps_div": float(arrays["eps_div"]),
                    "distinct_minima": len(arrays["minima_loss"]),
                },
                wall_time=time.perf_counter() - start,
            )
            return share  # GD's share of its reference runs in a spurious basin
        finite = arrays["loss"][np.isfinite(arrays["loss"])]
        unit_attrs = {
            "starts": [int(arrays["start"][0]), int(arrays["start"][-1])],
            "polished_converged": int(arrays["converged"].sum()),
        }
        if kind == "escape":
            unit_attrs["method"] = names[unit]
            unit_attrs["ended"] = _counts(arrays["kind"])
        records.write_attrs(
            trial,
            unit_attrs,
            wall_time=time.perf_counter() - start,
            training=_counts(arrays["status"]),
        )
        return float(finite.min()) if finite.size else float("inf")

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
    """Run queued chunk trials until the queue is empty; returns how many this worker ran."""
    done = 0
    while study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        try:
            study.optimize(objective, n_trials=1, callbacks=[callback] if callback else None)
        except PlanComplete:  # another worker took the last queued unit first
            break
        done += 1
    return done


def _load_units(
    study: optuna.Study,
    store: FileSystemArtifactStore,
    total: int,
    param: str,
    names: list[str] | None = None,
):
    """Each unit's arrays from its artifact, in unit order; None while units are missing."""
    by_unit: dict[int, optuna.trial.FrozenTrial] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if param in t.params:
            by_unit[_unit_of(t.params[param], names)] = t
    if len(by_unit) < total:
        return None
    parts = []
    for c in range(total):
        meta = optuna.artifacts.get_all_artifact_meta(by_unit[c], storage=study._storage)
        meta = [m for m in meta if m.filename == records.POINTS][-1]
        whose = f"trial {by_unit[c].number} ({param} {c}) of {study.study_name!r}"
        parts.append(records.read_arrays(store, meta.artifact_id, records.POINTS, whose))
    return parts


def collect(study: optuna.Study, store: FileSystemArtifactStore, total: int):
    """Load every chunk's points from the artifacts, ordered by start; None if chunks miss."""
    parts = _load_units(study, store, total, "chunk")
    if parts is None:
        return None
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def report_dict(report: MinimaReport, *, representatives: bool = False) -> dict:
    """Convert a :class:`MinimaReport` to JSON-able data.

    With ``representatives`` every class carries its θ (the ``--json`` output); the stored
    study attr leaves them out (the ``minima.npz`` artifact holds every point).
    """
    out = dataclasses.asdict(report)
    out.pop("point_class")
    out["chao1"]["complete"] = report.chao1.complete
    out["headline"] = report.headline()
    for key in ("minima", "families", "infinity", "saddles"):
        for c in out[key]:
            if not representatives:
                c.pop("representative")
    out["classes"] = [
        {
            "kind": c.kind,
            "loss": c.loss,
            "count": c.starts,
            "copies": c.copies_met,
            "dimension": c.dimension,
            "n_flat": c.n_flat,
            "n_negative": c.n_negative,
            "grad_norm": c.grad_norm,
            "asymptote": c.asymptote,
            **({"representative": list(c.representative)} if representatives else {}),
        }
        for c in report.classes
    ]
    return jsonable(out)


def jsonable(obj: Any) -> Any:
    """Convert numpy scalars and non-finite floats (to None) for JSON, recursively."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _analyse(model, points: dict, a, data: tuple) -> MinimaReport:
    """Classify and cluster stored end points with the spec's tolerances.

    ``points`` holds the arrays :func:`collect` returns; ``a`` is the spec's analysis section.
    """
    return analyse_points(model, points, tol=a.tol, loss_tol=a.loss_tol, data=data)


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
    report = _analyse(model, points, a, (problem.data.X_train, problem.data.y_train))
    counts = model_group_counts(model)
    records.set_minima(
        study, report_dict(report), {k: str(v) for k, v in dataclasses.asdict(counts).items()}
    )
    records.upload_arrays(
        store, study, records.MINIMA_POINTS, {**points, "point_class": report.point_class}
    )
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
    rng = trial_rng(spec, 0)
    model, theta = build(problem, spec, rng)
    status = "untrained"
    if a.trained:
        res = train(model, theta, d.X_train, d.y_train, rng=rng, **t.train_kwargs(d.n_train))
        theta, status = res.theta, res.status
    check = verify_symmetry(
        model,
        theta,
        d.X_train,
        d.y_train,
        rng=analysis_rng(spec),
        max_pairs=a.max_pairs,
        n_random=a.n_random,
        gd_steps=a.gd_steps,
        lr=t.lr,
    )
    attrs = jsonable(dataclasses.asdict(check))
    attrs["counts"] = {k: str(v) for k, v in dataclasses.asdict(check.counts).items()}
    records.write_attrs(trial, attrs, wall_time=time.perf_counter() - start, training=status)
    records.upload_arrays(
        store, trial, records.THETA, {"theta": theta, "sizes": np.asarray(model.sizes)}
    )
    worst = max(
        check.output_deviation, check.loss_deviation, check.gradient_deviation, check.gd_deviation
    )
    study.tell(trial, worst)
    return check


# ------------------------------------------------------------------------- escape
def _sample_chains(problem: Problem):
    """The escape study's chain problem: its model on its training data (see SampleNet)."""
    spec = problem.spec
    a = spec.analysis
    model, _ = start_thetas(problem, np.arange(1))
    return SampleNet(
        model,
        problem.data.X_train,
        problem.data.y_train,
        lr=spec.trainer.lr,
        global_below=a.loss_threshold,
        gtol=a.polish_gtol,
    )


@one_blas_thread
def run_escape_unit(problem: Problem, index: int) -> dict[str, np.ndarray]:
    """One batch size of the noise axis on the study's data (see run_spurious_unit).

    The starts are the study's θ⁽⁰⁾ of starts 0 … n_starts − 1 (stream START, as minima's):
    every batch size and GD meet the same ones.
    """
    spec = problem.spec
    a = spec.analysis
    _, starts = start_thetas(problem, np.arange(a.n_starts))
    return run_axis(
        _sample_chains(problem),
        starts,
        a.batches[index],
        axis_config(a, spec.trainer.lr),
        lambda j: seeds.stream(spec.study.seed, seeds.SHUFFLE, seeds.SHUFFLE_ESCAPE + index, j),
    )


def finalize_escape(
    problem: Problem, study: optuna.Study, store: FileSystemArtifactStore
) -> AxisReport | None:
    """Judge the noise axis on the sample once every batch size is complete (None until then)."""
    spec = problem.spec
    a = spec.analysis
    names = unit_names(spec)
    parts = _load_units(study, store, len(names), "sweep", names)
    if parts is None:
        return None
    label = f"{spec.data.name} {list(spec.model.hidden)}"
    chains = _sample_chains(problem)
    report = summarise_axis(
        [(label, p) for p in parts], axis_config(a, spec.trainer.lr), chains.symmetry()
    )
    records.set_escape(study, jsonable(dataclasses.asdict(report)), store)
    return report


def _examine_options(a) -> dict:
    """The analysis section's polish and examination settings (minima, escape)."""
    return {
        "gtol": a.polish_gtol,
        "max_iter": a.polish_iter,
        "steps": a.continue_steps,
        "grow": a.grow,
        "rel_flat": a.flat_tol,
        "loss_rtol": a.loss_tol,
    }


# ----------------------------------------------------------------------- geometry
@dataclass(frozen=True)
class GeometryReport:
    """Two minima, the paths between them and slices around the first."""

    losses: tuple[float, float]
    converged: tuple[bool, bool]
    barrier_raw: float
    barrier_aligned: float
    val_barrier_raw: float | None
    val_barrier_aligned: float | None
    distance_raw: float
    distance_aligned: float
    hessian_top: tuple[float, ...]


def run_geometry(
    problem: Problem, study: optuna.Study, store: FileSystemArtifactStore
) -> GeometryReport:
    """Compute paths and slices in one trial of ``study``; store the arrays as an artifact."""
    spec = problem.spec
    a, t = spec.analysis, spec.trainer
    d = problem.data
    X, y = d.X_train, d.y_train
    trial = study.ask()
    start = time.perf_counter()
    model, theta0 = start_thetas(problem, np.arange(2))
    ends = []
    for k, th in enumerate(theta0):
        res = train(
            model,
            th,
            X,
            y,
            rng=seeds.stream(spec.study.seed, seeds.SHUFFLE, seeds.SHUFFLE_GEOMETRY + k),
            **t.train_kwargs(d.n_train),
        )
        ends.append(polish(model, res.theta, X, y, gtol=a.polish_gtol, max_iter=a.polish_iter))
    pa, pb = ends
    paths = aligned_path(
        model, pa.theta, pb.theta, X, y, points=a.path_points, X_val=d.X_val, y_val=d.y_val
    )
    rng = analysis_rng(spec)
    d1 = filter_normalized_direction(model, pa.theta, rng)
    d2 = filter_normalized_direction(model, pa.theta, rng)
    lam, V = hessian_directions(model, pa.theta, X, y, k=2)
    n2 = a.slice_points // 2 + 1
    n2 += 1 - n2 % 2  # odd, so the minimum is the centre
    s_rand = slice_1d(model, pa.theta, d1, X, y, radius=a.slice_radius, points=a.slice_points)
    s_hess = slice_1d(model, pa.theta, V[0], X, y, radius=a.slice_radius, points=a.slice_points)
    p_rand = slice_2d(model, pa.theta, d1, d2, X, y, radius=a.slice_radius, points=n2)
    p_hess = slice_2d(model, pa.theta, V[0], V[1], X, y, radius=a.slice_radius, points=n2)
    arrays = {
        "theta_a": pa.theta,
        "theta_b": pb.theta,
        "theta_b_aligned": paths.theta_b_aligned,
        "alpha": paths.raw.alpha,
        "path_raw": paths.raw.train_loss,
        "path_aligned": paths.aligned.train_loss,
        "slice_s": s_rand.s,
        "slice_random": s_rand.loss,
        "slice_hessian": s_hess.loss,
        "plane_s": p_rand.s,
        "plane_random": p_rand.loss,
        "plane_hessian": p_hess.loss,
        "hessian_top": lam,
        "direction_random": np.stack([d1, d2]),
        "direction_hessian": V,
    }
    if paths.raw.val_loss is not None:
        arrays["path_raw_val"] = paths.raw.val_loss
        arrays["path_aligned_val"] = paths.aligned.val_loss
    report = GeometryReport(
        losses=(pa.loss, pb.loss),
        converged=(pa.converged, pb.converged),
        barrier_raw=paths.raw.barrier,
        barrier_aligned=paths.aligned.barrier,
        val_barrier_raw=paths.raw.val_barrier,
        val_barrier_aligned=paths.aligned.val_barrier,
        distance_raw=paths.distance_raw,
        distance_aligned=paths.distance_aligned,
        hessian_top=tuple(float(v) for v in lam),
    )
    records.write_attrs(
        trial, jsonable(dataclasses.asdict(report)), wall_time=time.perf_counter() - start
    )
    records.upload_arrays(store, trial, records.GEOMETRY, arrays)
    study.tell(trial, report.barrier_aligned)
    return report


# ----------------------------------------------------------------------- convergence
@dataclass(frozen=True)
class ConvergenceRun:
    """One schedule's mini-batch SGD run measured against θ* (see :func:`run_convergence`)."""

    label: str
    schedule: str
    lr: float
    params: dict
    status: str
    final_lr: float
    kind: str
    slope: float
    floor: float
    final_gap: float
    final_distance: float


@dataclass(frozen=True)
class ConvergenceReport:
    """Seed 1.5 measured: constant-ε floors against Robbins–Monro decay, at a known θ*.

    Attributes
    ----------
    loss_star : float
        E* = E(θ*), θ* by least squares.
    batch_size : int
    updates : int
        Updates of every run.
    runs : tuple of ConvergenceRun
    floors_grow_with_lr : bool or None
        The constant-ε runs all plateau and their floors rise with ε (None: fewer than two
        constant-ε runs).
    floor_exponent : float or None
        Slope of log(floor) against log ε over the constant-ε runs: how the noise floor scales
        with ε (None: fewer than two).
    robbins_monro_decreases : bool or None
        Every inverse-time run (Σε = ∞, Σε² < ∞) is still decreasing over its last decade and
        ends below every constant-ε floor (None: no inverse-time run).
    """

    loss_star: float
    batch_size: int
    updates: int
    runs: tuple[ConvergenceRun, ...]
    floors_grow_with_lr: bool | None
    floor_exponent: float | None
    robbins_monro_decreases: bool | None


def run_convergence(
    problem: Problem, study: optuna.Study, store: FileSystemArtifactStore
) -> ConvergenceReport:
    """Train one start by mini-batch SGD under each of ``analysis.schedules`` (one trial).

    Every run starts from the same θ⁽⁰⁾ and sees the same mini-batches (one shuffle stream),
    so the runs differ only in their ε_t. The gap E(θ_t) − E* and the distance ‖θ_t − θ*‖ are
    recorded after every evaluated epoch and stored as an artifact.
    """
    spec = problem.spec
    a, t = spec.analysis, spec.trainer
    d = problem.data
    X, y = d.X_train, d.y_train
    trial = study.ask()
    start = time.perf_counter()
    model, theta0 = start_thetas(problem, np.arange(1))
    theta_star, loss_star = least_squares_optimum(model, X, y)
    runs, arrays = [], {"theta_star": theta_star}
    for i, text in enumerate(a.schedules):
        name, lr, params = parse_schedule_run(text)
        cfg = dataclasses.replace(t, lr=lr, schedule=name, schedule_params=params)
        res = train(
            model,
            theta0[0],
            X,
            y,
            rng=seeds.stream(spec.study.seed, seeds.SHUFFLE, seeds.SHUFFLE_CONVERGENCE),
            trajectory=True,
            **cfg.train_kwargs(d.n_train),
        )
        h = res.history
        gap = h["loss"] - loss_star
        distance = np.linalg.norm(res.trajectory - theta_star, axis=1)
        reading = read_convergence(h["updates"], gap)
        arrays[f"r{i}_updates"] = h["updates"]
        arrays[f"r{i}_gap"] = gap
        arrays[f"r{i}_distance"] = distance
        runs.append(
            ConvergenceRun(
                label=text,
                schedule=name,
                lr=lr,
                params=params,
                status=res.status,
                final_lr=float(h["lr"][-1]),
                kind=reading.kind,
                slope=reading.slope,
                floor=reading.floor,
                final_gap=reading.final_gap,
                final_distance=float(distance[-1]),
            )
        )
    report = ConvergenceReport(
        loss_star=loss_star,
        batch_size=t.batch(d.n_train) or d.n_train,
        updates=int(max(arrays[f"r{i}_updates"][-1] for i in range(len(runs)))),
        runs=tuple(runs),
        floors_grow_with_lr=_floors_grow(runs),
        floor_exponent=_floor_exponent(runs),
        robbins_monro_decreases=_robbins_monro_decreases(runs),
    )
    records.write_attrs(
        trial, jsonable(dataclasses.asdict(report)), wall_time=time.perf_counter() - start
    )
    records.upload_arrays(store, trial, records.CONVERGENCE, arrays)
    study.tell(trial, min(r.final_gap for r in runs))
    return report


def _floors_grow(runs: list[ConvergenceRun]) -> bool | None:
    const = sorted((r for r in runs if r.schedule == "constant"), key=lambda r: r.lr)
    if len(const) < 2:
        return None
    floors = [r.floor for r in const]
    return all(r.kind == "plateau" for r in const) and all(
        lo < hi for lo, hi in zip(floors, floors[1:], strict=False)
    )


def _floor_exponent(runs: list[ConvergenceRun]) -> float | None:
    const = [r for r in runs if r.schedule == "constant" and r.floor > 0]
    if len({r.lr for r in const}) < 2:
        return None
    lr = np.log([r.lr for r in const])
    return float(np.polyfit(lr, np.log([r.floor for r in const]), 1)[0])


def _robbins_monro_decreases(runs: list[ConvergenceRun]) -> bool | None:
    rm = [r for r in runs if r.schedule == "inverse_time"]
    if not rm:
        return None
    floors = [r.floor for r in runs if r.schedule == "constant"]
    lowest = min(floors) if floors else np.inf
    return all(r.kind == "decreasing" and r.final_gap < lowest for r in rm)


# ------------------------------------------------------------------------ the registry
def _payload_symmetry(problem: Problem, study: optuna.Study, r: SymmetryCheck) -> dict:
    check = dataclasses.asdict(r)
    check["counts"] = {k: str(v) for k, v in check["counts"].items()}
    return {"passed": r.passed(), "check": check}


def _payload_geometry(problem: Problem, study: optuna.Study, r: GeometryReport) -> dict:
    return {"geometry": jsonable(dataclasses.asdict(r))}


def _payload_escape(problem: Problem, study: optuna.Study, r: AxisReport) -> dict:
    return {"escape": jsonable(dataclasses.asdict(r))}


def _payload_convergence(problem: Problem, study: optuna.Study, r: ConvergenceReport) -> dict:
    return {"convergence": jsonable(dataclasses.asdict(r))}


def _payload_spurious(problem: Problem, study: optuna.Study, r: AxisReport) -> dict:
    return {"spurious": jsonable(dataclasses.asdict(r))}


def _payload_minima(problem: Problem, study: optuna.Study, r: MinimaReport) -> dict:
    model, _ = build(problem, problem.spec, np.random.default_rng(0))
    counts = model_group_counts(model)
    return {
        "group_counts": {k: str(v) for k, v in dataclasses.asdict(counts).items()},
        "minima": report_dict(r, representatives=True),
    }


@dataclass(frozen=True)
class AnalysisKind:
    """How one kind of analysis runs as Optuna trials.

    Attributes
    ----------
    unit : str or None
        The trial parameter naming a queued unit of work (``chunk``, ``method``); None for an
        analysis done in one trial.
    run : callable
        ``run(problem, study, store)``: the whole analysis (one trial), or, for queued units,
        the analysis of the completed units (None while some are missing).
    payload : callable
        ``payload(problem, study, result)`` → the result as JSON (``--json``); its terminal
        text is :func:`landscape.report.text.describe`'s.
    value : str
        What each trial's objective value is (the study's metric name in the dashboard).
    """

    unit: str | None
    run: Any
    payload: Any
    value: str


ANALYSIS_KINDS = {
    "minima": AnalysisKind(
        "chunk", finalize_minima, _payload_minima, "lowest polished loss of the chunk"
    ),
    "symmetry": AnalysisKind(
        None, run_symmetry, _payload_symmetry, "largest deviation under the symmetry"
    ),
    "geometry": AnalysisKind(
        None, run_geometry, _payload_geometry, "loss barrier between the aligned minima"
    ),
    "escape": AnalysisKind(
        "sweep", finalize_escape, _payload_escape, "GD's share of runs in spurious basins"
    ),
    "convergence": AnalysisKind(
        None, run_convergence, _payload_convergence, "smallest final gap E − E*"
    ),
    "spurious": AnalysisKind(
        "sweep", finalize_spurious, _payload_spurious, "GD's share of runs in spurious basins"
    ),
}
"""Every analysis kind (``spec.ANALYSES`` names the same); a new one is one line here."""
