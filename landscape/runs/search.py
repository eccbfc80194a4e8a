"""A search's trials: samplers, pruners, suggestions, the objective, the trials' records.

This is where a spec meets Optuna. A diverging trial is PRUNED (not FAILED) with user attr
``status = "diverged"``: Optuna's samplers ignore failed trials, so TPE would keep proposing
the diverging region, whereas pruned trials rank below every complete one and steer it away.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import optuna

from landscape import seeds
from landscape.analysis.range_test import RangeTest, lr_range_test
from landscape.model import MLP
from landscape.runs import records
from landscape.runs.problem import Problem, TimedOut, analysis_rng, build, init_ids, trial_rng
from landscape.runs.records import trial_records  # noqa: F401 - also read from here
from landscape.spec import Param, Spec, SpecError, apply_params, pow2_choices
from landscape.train import EpochRecord, TrainResult, curve_state, train

HISTORY_POINTS = 200
"""At most this many history rows are stored per trial (evenly thinned), to keep storage small."""


def check_components(spec: Spec, n_train: int) -> None:
    """Ask Optuna whether it takes the spec's sampler and pruner options (before any storage).

    Raises
    ------
    SpecError
    """
    make_sampler(spec, n_train=n_train)
    make_pruner(spec)


def trial_sampler_seed(seed: int, number: int | None) -> int:
    """Seed of the sampler's draws for trial ``number`` (None: the study's own sequence)."""
    return seeds.seed_of(seed, seeds.SAMPLER, *([] if number is None else [number]))


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """A sampler whose random draws for each trial are seeded by the trial's number.

    Optuna's storages hand out trial numbers atomically, so every trial of every worker and
    every invocation on one study draws from its own stream: workers started at the same moment
    see the same history but still propose different parameters. A study run by one invocation
    is reproducible bit for bit (trial n sees the same history and the same stream), and a
    resumed study continues with new streams instead of replaying the first run's proposals.

    Parameters
    ----------
    factory : callable
        ``factory(seed)`` builds the underlying sampler (TPE or random) with that seed.
    seed : int
        The study's root seed.
    """

    def __init__(self, factory: Callable[[int], optuna.samplers.BaseSampler], seed: int):
        self._factory = factory
        self._seed = seed
        self._number: int | None = None
        self._inner = factory(trial_sampler_seed(seed, None))

    def _for(self, trial: optuna.trial.FrozenTrial) -> optuna.samplers.BaseSampler:
        if trial.number != self._number:
            # A sampler of its own per trial: TPE and random keep no state between trials
            # beyond their generator (the history is read from the study each time).
            self._inner = self._factory(trial_sampler_seed(self._seed, trial.number))
            self._number = trial.number
        return self._inner

    def before_trial(self, study, trial):  # noqa: D102
        self._for(trial).before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):  # noqa: D102
        return self._for(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):  # noqa: D102
        return self._for(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):  # noqa: D102
        return self._for(trial).sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values):  # noqa: D102
        self._for(trial).after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:  # noqa: D102
        self._inner.reseed_rng()


def grid_space(spec: Spec, n_train: int) -> dict[str, list]:
    """The finite values of every searched parameter, for ``sampler.name = "grid"``.

    Categorical and pow2 parameters give their choices, int parameters every step of their
    range, float parameters every ``step``; a float without a step has no grid.

    Raises
    ------
    SpecError
        For a parameter without finite values.
    """
    space: dict[str, list] = {}
    for p in spec.search:
        dist = distribution(p, n_train)
        if isinstance(dist, optuna.distributions.CategoricalDistribution):
            space[p.name] = list(dist.choices)
        elif isinstance(dist, optuna.distributions.IntDistribution) and not dist.log:
            space[p.name] = list(range(dist.low, dist.high + 1, dist.step))
        elif (
            isinstance(dist, optuna.distributions.FloatDistribution) and dist.step and not dist.log
        ):
            n = int(round((dist.high - dist.low) / dist.step))
            space[p.name] = [float(dist.low + i * dist.step) for i in range(n + 1)]
        else:
            raise SpecError(
                f"sampler.name='grid' needs finite values: search.{p.name} is a "
                f"{'log ' if getattr(dist, 'log', False) else ''}{p.type} range without a grid; "
                "give it a step (linear scale) or make it categorical, e.g. "
                "type = 'categorical', choices = [0.01, 0.1, 1.0]"
            )
    return space


def make_sampler(
    spec: Spec, seed: int | None = None, n_train: int | None = None
) -> optuna.samplers.BaseSampler:
    """Build the spec's sampler from the root seed (default the spec's).

    TPE and random sampling are seeded per trial (:class:`TrialSeededSampler`). The QMC
    sampler keeps one scrambled sequence for the whole study: it takes the next point by a
    sample index kept in the storage, so concurrent workers already get different points.
    The grid sampler (Optuna's ``GridSampler``) visits every point of :func:`grid_space` once,
    in an order drawn from the seed, and stops the study when the grid is done.
    """
    name, opts = spec.sampler.name, dict(spec.sampler.options)
    seed = spec.study.seed if seed is None else seed
    if name == "grid":
        if opts:
            raise SpecError(
                f"sampler.options {opts}: the grid sampler takes none (--set sampler.options={{}})"
            )
        space = grid_space(spec, 1 if n_train is None else n_train)
        return _GridWithCopies(space, seed=trial_sampler_seed(seed, None))
    cls = {
        "tpe": optuna.samplers.TPESampler,
        "random": optuna.samplers.RandomSampler,
        "qmc": optuna.samplers.QMCSampler,
    }[name]

    def factory(s: int) -> optuna.samplers.BaseSampler:
        return cls(seed=s, **opts)

    try:
        if name == "qmc":
            return factory(trial_sampler_seed(seed, None))
        return TrialSeededSampler(factory, seed)
    except TypeError as exc:
        raise SpecError(f"sampler.options {opts} do not fit the {name} sampler: {exc}") from None


def make_pruner(spec: Spec) -> optuna.pruners.BasePruner:
    """Build the spec's pruner."""
    name, opts = spec.pruner.name, dict(spec.pruner.options)
    cls = {
        "median": optuna.pruners.MedianPruner,
        "percentile": optuna.pruners.PercentilePruner,
        "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
        "none": optuna.pruners.NopPruner,
    }[name]
    try:
        return cls(**opts)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"pruner.options {opts} do not fit the {name} pruner: {exc}") from None


# ----------------------------------------------------------------------- suggestions
def distribution(p: Param, n_train: int) -> optuna.distributions.BaseDistribution:
    """Return the Optuna distribution of a searched parameter."""
    if p.type == "float":
        return optuna.distributions.FloatDistribution(p.low, p.high, log=p.log, step=p.step)
    if p.type == "int":
        step = 1 if p.step is None else int(p.step)
        return optuna.distributions.IntDistribution(int(p.low), int(p.high), log=p.log, step=step)
    if p.type == "pow2":
        high = n_train if p.high in (None, "N") else int(p.high)
        return optuna.distributions.CategoricalDistribution(pow2_choices(int(p.low or 1), high))
    return optuna.distributions.CategoricalDistribution(list(p.choices))


def suggest(trial: optuna.Trial, spec: Spec, n_train: int) -> dict[str, Any]:
    """Suggest every searched parameter whose ``when`` conditions hold, in spec order."""
    values: dict[str, Any] = {}
    for p in spec.search:
        if any(values.get(k, _MISSING) != v for k, v in p.when.items()):
            continue
        d = distribution(p, n_train)
        if isinstance(d, optuna.distributions.FloatDistribution):
            values[p.name] = trial.suggest_float(p.name, d.low, d.high, log=d.log, step=d.step)
        elif isinstance(d, optuna.distributions.IntDistribution):
            values[p.name] = trial.suggest_int(p.name, d.low, d.high, step=d.step, log=d.log)
        else:
            values[p.name] = trial.suggest_categorical(p.name, d.choices)
    return values


_MISSING = object()


class _GridWithCopies(optuna.samplers.GridSampler):
    """Optuna's grid sampler, which also lets enqueued copies (repeats, retries) finish.

    Its ``after_trial`` reads the finished trial's grid id, which an enqueued trial does not
    have (a KeyError when one grid point is left); such a trial only stops the study once the
    grid is done.
    """

    def after_trial(self, study, trial, state, values) -> None:
        if "grid_id" in records.trial_system_attrs(study, trial):
            super().after_trial(study, trial, state, values)
        elif not self._get_unvisited_grid_ids(study):
            study.stop()


def run_training(
    problem: Problem,
    spec: Spec,
    rng: np.random.Generator,
    callback: Callable[[EpochRecord], bool | None] | None = None,
) -> tuple[MLP, np.ndarray, TrainResult]:
    """Build the model and train it as the (trial's) spec says; return it, θ⁽⁰⁾ and the result."""
    data = problem.data
    model, theta0 = build(problem, spec, rng)
    try:
        res = train(
            model,
            theta0,
            data.X_train,
            data.y_train,
            rng=rng,
            X_val=data.X_val,
            y_val=data.y_val,
            callback=callback,
            **spec.trainer.train_kwargs(data.n_train),
        )
    except ValueError as exc:
        raise SpecError(str(exc)) from None
    return model, theta0, res


def metric_value(metric: str, rec: EpochRecord) -> float:
    """Read the spec's metric off one history row."""
    return {
        "val_loss": rec.val_loss,
        "train_loss": rec.loss,
        "val_accuracy": rec.val_accuracy,
        "accuracy": rec.accuracy,
    }[metric]


def _finite_or_none(x: float) -> float | None:
    # JSON has no NaN/inf; optuna-dashboard's browser side would choke on them.
    return float(x) if math.isfinite(x) else None


def history_record(res: TrainResult) -> dict[str, list]:
    """The thinned learning curve a trial stores (:data:`landscape.runs.records.HISTORY`)."""
    h = res.history
    n = len(h["epoch"])
    keep = np.unique(np.linspace(0, n - 1, min(n, HISTORY_POINTS)).round().astype(int))
    out: dict[str, list] = {}
    for key in ("epoch", "updates", "loss", "val_loss", "accuracy", "val_accuracy", "lr"):
        col = h[key][keep]
        out[key] = (
            [int(v) for v in col] if col.dtype.kind == "i" else [_finite_or_none(v) for v in col]
        )
    measured = np.isfinite(h["sharpness"])
    if measured.any():  # trainer.track_sharpness: every measurement, not thinned away
        out["sharpness_updates"] = [int(v) for v in h["updates"][measured]]
        out["sharpness"] = [float(v) for v in h["sharpness"][measured]]
    return out


def make_objective(
    problem: Problem, store=None, deadline: float | None = None
) -> Callable[[optuna.Trial], float]:
    """Build the Optuna objective of a prepared problem.

    Each trial suggests the searched parameters, trains, reports the metric every
    ``study.report_every`` epochs (pruning through the trainer's callback) and records user
    attrs that make it readable in optuna-dashboard without this package. With an artifact
    ``store`` it also keeps its learning curve (:data:`landscape.runs.records.HISTORY`) and its
    final θ with θ⁽⁰⁾ (:data:`landscape.runs.records.THETA`) as trial artifacts. Past ``deadline``
    (``time.time()``, the run's ``--timeout``) a trial stops at its next evaluated epoch with
    status ``timed out`` and raises :class:`TimedOut` (Optuna marks it FAIL: it measured
    nothing, and samplers and summaries ignore it).
    """
    spec = problem.spec
    metric = spec.study.metric
    every = spec.study.report_every

    def objective(trial: optuna.Trial) -> float:
        start = time.perf_counter()
        values = suggest(trial, spec, problem.n_train)
        tspec = apply_params(spec, values)
        repeat = records.repeat(trial)
        rng = trial_rng(spec, trial.number, repeat)
        # A bisection trial is evidence of where ε diverges, and a repeat is a measurement of
        # its configuration's spread: both run to their end.
        prunable = records.bisection(trial) is None and not records.is_repeat(trial)

        def report(rec: EpochRecord) -> bool:
            if deadline is not None and time.time() > deadline:
                records.set_status(trial, "timed out")
                raise TimedOut(
                    f"trial {trial.number} stopped at epoch {rec.epoch} by the timeout "
                    f"({time.perf_counter() - start:.1f} s into it) and marked FAIL"
                )
            if rec.epoch % every:
                return False
            v = metric_value(metric, rec)
            if math.isfinite(v):
                trial.report(v, rec.epoch)
            return prunable and trial.should_prune()

        _, theta0, res = run_training(problem, tspec, rng, callback=report)
        final = res.final
        value = metric_value(metric, final)
        status = res.status
        if status == "stopped":
            status = "pruned"
        elif not math.isfinite(value):
            status = "diverged"
        attrs = {
            "status": status,
            "message": res.message,
            "epochs": res.epochs,
            "updates": res.updates,
            "train_loss": _finite_or_none(final.loss),
            "val_loss": _finite_or_none(final.val_loss),
            "accuracy": _finite_or_none(final.accuracy),
            "val_accuracy": _finite_or_none(final.val_accuracy),
            "grad_norm": _finite_or_none(final.grad_norm),
            "lr": tspec.trainer.lr,
            "batch_size": tspec.trainer.batch(problem.n_train) or problem.n_train,
            "schedule": tspec.trainer.schedule,
            "train_seconds": res.seconds,
            "wall_time": time.perf_counter() - start,
            "seed": spec.study.seed,
            "repeat": repeat,
            "init_stream": [spec.study.seed, seeds.TRAIN, *init_ids(spec, trial.number, repeat)],
            "pruned_while": (
                curve_state(res.history, tspec.trainer.stall_window, tspec.trainer.stall_tol)
                if status == "pruned"
                else None
            ),
        }
        records.write_outcome(trial, attrs)
        if (
            spec.study.repeats > 1
            and status != "pruned"
            and records.bisection(trial) is None
            and not records.is_repeat(trial)
        ):
            # The pruner judges a configuration by its first run; one it let finish (or that
            # diverged) runs its repeats, unpruned.
            records.enqueue_repeats(trial.study, trial.params, spec.study.repeats)
        if store is not None:
            records.upload_json(store, trial, records.HISTORY, history_record(res))
            records.upload_arrays(
                store, trial, records.THETA, {"theta": res.theta, "theta0": theta0}
            )
        if status == "diverged":
            # A NaN as the last intermediate value ranks the trial last among pruned ones
            # at its step in TPE's split.
            trial.report(float("nan"), max(res.epochs, 1))
            raise optuna.TrialPruned(res.message)
        if status == "pruned":
            raise optuna.TrialPruned(res.message)
        return float(value)

    return objective


def retrain(
    problem: Problem,
    params: dict[str, Any],
    number: int,
    track_sharpness: int | None = None,
    repeat: int = 0,
) -> tuple[MLP, np.ndarray, TrainResult]:
    """Train trial ``number`` again with its parameters (bit-identical for a sequential run).

    Returns the model, θ⁽⁰⁾ and the :class:`~landscape.train.TrainResult`.

    ``track_sharpness`` measures λ_max along the way (see :func:`landscape.train.train`); it
    draws no random number, so the run is the trial's own.
    """
    spec = apply_params(problem.spec, params)
    if track_sharpness is not None:
        trainer = dataclasses.replace(spec.trainer, track_sharpness=track_sharpness)
        spec = dataclasses.replace(spec, trainer=trainer)
    return run_training(problem, spec, trial_rng(problem.spec, number, repeat))


def run_range_test(problem: Problem) -> RangeTest:
    """The LR range test from trial 0's θ⁽⁰⁾, with the spec's batch size (and full data)."""
    spec = problem.spec
    d = problem.data
    model, theta0 = build(problem, spec, trial_rng(spec, 0))
    return lr_range_test(
        model,
        theta0,
        d.X_train,
        d.y_train,
        batch_size=spec.trainer.batch(d.n_train),
        rng=analysis_rng(spec),
    )


def range_test_record(rt: RangeTest) -> dict:
    """What a study stores of its range test (the curve goes to an artifact)."""
    out = {k: v for k, v in dataclasses.asdict(rt).items() if not isinstance(v, np.ndarray)}
    out.update(updates=len(rt.lr), lr_first=float(rt.lr[0]), lr_last=float(rt.lr[-1]))
    return out


def seed_lr_bounds(problem: Problem) -> tuple[Spec, RangeTest]:
    """The spec with its search of ``trainer.lr`` spanning the range test's suggested range."""
    spec = problem.spec
    rt = run_range_test(problem)
    search = tuple(
        dataclasses.replace(p, low=rt.search_low, high=rt.search_high)
        if p.target == "trainer.lr"
        else p
        for p in spec.search
    )
    return dataclasses.replace(spec, search=search), rt
