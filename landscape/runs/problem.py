"""From a validated spec to an Optuna objective: data, model, θ⁽⁰⁾, suggestions, training.

This is the only layer below the CLI that knows Optuna. A diverging trial is PRUNED (not
FAILED) with user attr ``status = "diverged"``: Optuna's samplers ignore failed trials, so TPE
would keep proposing the diverging region, whereas pruned trials rank below every complete one
and steer it away.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna

from landscape import seeds
from landscape.analysis.range_test import RangeTest, lr_range_test
from landscape.data import Dataset, load_dataset
from landscape.model import MLP
from landscape.runs import records
from landscape.spec import (
    Param,
    Spec,
    SpecError,
    pow2_choices,
    validate_static,
    validate_with_data,
)
from landscape.summary import TrialRecord
from landscape.train import EpochRecord, TrainConfig, TrainResult, curve_state, train

HISTORY_POINTS = 200
"""At most this many history rows are stored per trial (evenly thinned), to keep storage small."""


class TimedOut(Exception):
    """A trial ran past the run's deadline (``--timeout``) and was stopped between epochs."""


@dataclass(frozen=True)
class Problem:
    """A spec with its data loaded and validated against them.

    Attributes
    ----------
    spec : Spec
    data : Dataset
    """

    spec: Spec
    data: Dataset

    @property
    def n_train(self) -> int:
        """N, the training set size."""
        return self.data.n_train


def prepare(spec: Spec) -> Problem:
    """Load the spec's data (seeded) and run the checks that need it.

    Raises
    ------
    SpecError
        Bad data options, or batch sizes outside [1, N].
    """
    rng = seeds.stream(spec.study.seed, seeds.DATA)
    try:
        data = load_dataset(
            spec.data.name, rng=rng, val_fraction=spec.data.val_fraction, **spec.data.options
        )
    except ValueError as exc:
        raise SpecError(f"data: {exc}") from None
    validate_with_data(spec, data.n_train)
    validate_search(spec, data.n_train)
    validate_trainer_use(spec, data.n_train)
    make_sampler(spec, n_train=data.n_train)
    make_pruner(spec)
    check_memory(spec, data)
    return Problem(spec=spec, data=data)


_HESSIAN_KINDS = ("minima", "geometry", "symmetry")
"""Analyses that form dense (F, F) Hessians of the free parameters (one point at a time)."""


def memory_needed(spec: Spec, data: Dataset) -> dict[str, int]:
    """Estimate the bytes one run of the spec holds at its peak, by what holds them.

    The widest model the spec may build is counted (a search over ``model.hidden`` counts its
    widest choice). K is the number of θ trained at once (``analysis.chunk`` for the
    multi-start analyses, 1 for a trial of a search).

    Returns
    -------
    dict of str to int
        ``theta`` (K × D parameters and the ~6 vectors of that size a trainer keeps: gradient,
        best, start, step, …), ``activations`` (K × N × Σ widths, forward and backward, ~4
        arrays), ``hessian`` (D² and the eigen-decomposition's copies, analyses that form one),
        ``ends`` (a minima census keeps θ⁽⁰⁾, the end point, the polished point and its
        representative for every start: 4 × n_starts × D).
    """
    hiddens = [tuple(spec.model.hidden)]
    for p in spec.search:
        if p.target == "model.hidden" and p.choices:
            hiddens += [tuple(c) if isinstance(c, (list, tuple)) else (c,) for c in p.choices]
    a = spec.analysis
    k = 1 if a is None else (a.chunk if a.kind == "minima" else 1)
    n = data.n_train + data.X_val.shape[0]
    worst = {"theta": 0, "activations": 0, "hessian": 0, "ends": 0}
    for hidden in hiddens:
        sizes = data.sizes(list(hidden))
        d = sum((a_ + 1) * b for a_, b in zip(sizes[:-1], sizes[1:], strict=True))
        parts = {
            "theta": 8 * 6 * k * d,
            "activations": 8 * 4 * k * n * sum(sizes),
            "hessian": 8 * 3 * d * d if a is not None and a.kind in _HESSIAN_KINDS else 0,
            "ends": 8 * 4 * a.n_starts * d if a is not None and a.kind == "minima" else 0,
        }
        if sum(parts.values()) > sum(worst.values()):
            worst = parts
    return worst


def available_memory() -> int:
    """Bytes this machine can give a new process without swapping (``MemAvailable``)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # not Linux: the physical memory is the bound
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def check_memory(spec: Spec, data: Dataset) -> None:
    """Refuse a spec whose run would not fit in the memory this machine has free.

    Raises
    ------
    SpecError
        Naming the estimate, what dominates it, and the memory available.
    """
    parts = memory_needed(spec, data)
    need, have = sum(parts.values()), available_memory()
    if need > have:
        what = ", ".join(f"{k} {_gib(v)}" for k, v in parts.items() if v)
        raise SpecError(
            f"this spec needs about {_gib(need)} ({what}) but {_gib(have)} is available; "
            "use narrower model.hidden, fewer samples, fewer analysis.n_starts or a smaller "
            "analysis.chunk"
        )


def validate_trainer_use(spec: Spec, n_train: int) -> None:
    """Refuse ``[trainer]`` fields the spec's kind of run would not use.

    The multi-start analyses (minima, escape) train with :func:`landscape.train.train_many`,
    which has no per-epoch history and no stall rule; spurious and escape run the noise axis
    of ``[analysis]`` (only ``trainer.lr`` is theirs: GD's reference runs); convergence sets ε
    and its schedule per run from ``analysis.schedules``.

    Raises
    ------
    SpecError
    """
    a, t = spec.analysis, spec.trainer
    if a is not None and a.kind == "convergence":
        default = TrainConfig()
        for name in ("lr", "schedule", "schedule_params"):
            if getattr(t, name) != getattr(default, name):
                raise SpecError(
                    f"convergence: trainer.{name}={getattr(t, name)!r} is not used; each run "
                    "takes its ε and schedule from analysis.schedules (e.g. 'constant:0.01')"
                )
        return
    if a is not None and a.kind in ("spurious", "escape"):
        default = TrainConfig()
        for name in TrainConfig.__dataclass_fields__:
            if name != "lr" and getattr(t, name) != getattr(default, name):
                raise SpecError(
                    f"{a.kind}: trainer.{name}={getattr(t, name)!r} is not used; GD's reference "
                    "runs take trainer.lr, every other run analysis.batches, grid and horizons"
                )
        return
    if a is None or a.kind != "minima":
        return
    try:
        t.many_kwargs(n_train)
    except ValueError as exc:
        raise SpecError(f"{a.kind}: {exc}") from None


def validate_search(spec: Spec, n_train: int) -> None:
    """Check every searched parameter as a trial would use it, before anything is stored.

    Each distribution is built as Optuna builds it (its own rules: step, log, bounds), and the
    spec of a trial is validated at the ends of each range and at every choice, with the
    parameters its ``when`` conditions need, so a value no trial could train with is refused
    here rather than failing a trial.

    Raises
    ------
    SpecError
    """
    for p in spec.search:
        try:
            d = distribution(p, n_train)
        except ValueError as exc:
            raise SpecError(f"search.{p.name}: {exc}") from None
        if isinstance(d, optuna.distributions.CategoricalDistribution):
            values = list(d.choices)
        else:
            values = [d.low, d.high]
        for value in values:
            trial_values = {**p.when, p.name: value}
            try:
                validate_static(dataclasses.replace(apply_params(spec, trial_values), search=()))
            except SpecError as exc:
                raise SpecError(f"search.{p.name}={value!r} makes a trial invalid: {exc}") from None


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


def apply_params(spec: Spec, values: dict[str, Any]) -> Spec:
    """Return the spec with each searched parameter's value written to its target field."""
    by_name = {p.name: p for p in spec.search}
    for name, value in values.items():
        spec = _set_path(spec, by_name[name].target.split("."), value)
    return spec


def _set_path(obj: Any, parts: list[str], value: Any) -> Any:
    head = parts[0]
    if dataclasses.is_dataclass(obj):
        child = getattr(obj, head)
        new = value if len(parts) == 1 else _set_path(child, parts[1:], value)
        if isinstance(new, list):
            new = tuple(new)
        return dataclasses.replace(obj, **{head: new})
    if isinstance(obj, dict):
        new = dict(obj)
        new[head] = value if len(parts) == 1 else _set_path(obj.get(head, {}), parts[1:], value)
        return new
    raise SpecError(f"cannot set {'.'.join(parts)} on {type(obj).__name__}")


# -------------------------------------------------------------------------- training
class _GridWithCopies(optuna.samplers.GridSampler):
    """Optuna's grid sampler, which also lets enqueued copies (repeats, retries) finish.

    Its ``after_trial`` reads the finished trial's grid id, which an enqueued trial does not
    have (a KeyError when one grid point is left); such a trial only stops the study once the
    grid is done.
    """

    def after_trial(self, study, trial, state, values) -> None:
        if "grid_id" in study._storage.get_trial_system_attrs(trial._trial_id):
            super().after_trial(study, trial, state, values)
        elif not self._get_unvisited_grid_ids(study):
            study.stop()


def trial_rng(spec: Spec, number: int, repeat: int = 0) -> np.random.Generator:
    """Return the generator of θ⁽⁰⁾ and the mini-batch shuffles of trial ``number``.

    ``repeat`` r > 0 (see ``study.repeats``) draws another θ⁽⁰⁾ and other shuffles for the same
    configuration.
    """
    return seeds.stream(spec.study.seed, seeds.TRAIN, *init_ids(spec, number, repeat))


def init_ids(spec: Spec, number: int, repeat: int = 0) -> list[int]:
    """The stream ids after ``[seed, TRAIN]`` of a trial's θ⁽⁰⁾ and shuffles."""
    return ([number] if spec.study.vary_init else []) + ([seeds.REPEAT, repeat] if repeat else [])


def build(problem: Problem, spec: Spec, rng: np.random.Generator) -> tuple[MLP, np.ndarray]:
    """Build the (trial's) model and draw its θ⁽⁰⁾, the first draw from ``rng``."""
    model = make_model(problem, spec)
    return model, model.init(rng, scheme=spec.model.init, scale=spec.model.init_scale)


def make_model(problem: Problem, spec: Spec) -> MLP:
    """The (trial's) network for the problem's data: sizes, activation and loss of the spec."""
    m = spec.model
    return MLP(problem.data.sizes(list(m.hidden)), m.activation, m.loss, m.frozen)


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


def trial_records(study: optuna.Study) -> list[TrialRecord]:
    """The finished trials of a search study as plain records for the summary."""
    recs = []
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    for t in study.get_trials(deepcopy=False, states=states):
        status = records.status(t)
        lr = records.lr(t)
        if status is None or lr is None:
            continue  # a trial ended from outside (e.g. a killed worker) has no record
        value = t.value if t.state == optuna.trial.TrialState.COMPLETE else None
        recs.append(
            TrialRecord(
                t.number,
                float(lr),
                status,
                value,
                dict(t.params),
                records.pruned_while(t),
                records.bisection(t) is not None,
            )
        )
    return recs


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


def analysis_rng(spec: Spec) -> np.random.Generator:
    """Return the generator for post-study analysis (e.g. the Lanczos start vector)."""
    return seeds.stream(spec.study.seed, seeds.ANALYSIS)
