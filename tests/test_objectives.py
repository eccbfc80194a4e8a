import math

import numpy as np
import optuna
import pytest
from optuna.artifacts import FileSystemArtifactStore
from threadpoolctl import threadpool_limits

from landscape.runs import records
from landscape.runs.problem import build, prepare, trial_rng
from landscape.runs.search import (
    make_objective,
    make_sampler,
    retrain,
    suggest,
    trial_sampler_seed,
)
from landscape.spec import apply_params, find_spec, parse_spec

TINY = [
    "data.name=moons",
    "data.options.n_samples=120",
    "model.hidden=[4]",
    "trainer.epochs=30",
    "study.report_every=10",
]


def _spec(name="lr_search", extra=()):
    return parse_spec(*find_spec(name), [*TINY, *extra])


def _study(spec, seed=None):
    problem = prepare(spec)
    seed = spec.study.seed if seed is None else seed
    study = optuna.create_study(direction=spec.direction, sampler=make_sampler(spec, seed))
    return problem, study


def test_objective_suggests_only_the_chosen_schedules_parameters():
    spec = parse_spec(*find_spec("schedule_search"), TINY)
    problem, study = _study(spec)
    seen = set()
    for _ in range(30):
        trial = study.ask()
        values = suggest(trial, spec, problem.n_train)
        kind = values["schedule"]
        extra = {k.split(".")[0] for k in values if "." in k}
        assert extra <= {kind}
        seen.add(kind)
        study.tell(trial, 0.0)
        tspec = apply_params(spec, values)
        assert tspec.trainer.schedule == kind
        assert set(tspec.trainer.schedule_params) == {k.split(".")[1] for k in values if "." in k}
    assert len(seen) >= 4


def test_objective_records_readable_user_attrs(tmp_path):
    spec = _spec()
    problem, study = _study(spec)
    study.enqueue_trial({"lr": 0.5})
    store = FileSystemArtifactStore(str(tmp_path))
    study.optimize(make_objective(problem, store), n_trials=1)
    t = study.trials[0]
    assert t.state == optuna.trial.TrialState.COMPLETE
    a = t.user_attrs
    assert a["status"] in {"converged", "budget", "stalled"}
    assert a["epochs"] == 30 and a["updates"] == 30 and a["lr"] == 0.5
    assert t.value == pytest.approx(a["val_loss"])
    assert 0.0 <= a["val_accuracy"] <= 1.0 and a["wall_time"] > 0 and a["seed"] == 0
    assert sorted(t.intermediate_values) == [10, 20, 30]
    # the learning curve and θ are trial artifacts, not user attrs
    assert "history" not in a
    h = records.history(t, store)
    assert h["epoch"][-1] == 30 and len(h["loss"]) == 31
    assert h["val_loss"][-1] == pytest.approx(t.value, rel=1e-15)
    arrays = records.trial_theta(t, store)
    model, theta0 = build(problem, spec, trial_rng(spec, 0))
    assert np.array_equal(arrays["theta0"], theta0)
    with threadpool_limits(1):
        _, _, res = retrain(problem, t.params, 0)
    assert np.array_equal(arrays["theta"], res.theta)
    assert model.loss(arrays["theta"], problem.data.X_train, problem.data.y_train) == (
        pytest.approx(a["train_loss"], rel=1e-14)
    )


def test_objective_diverging_trial_is_pruned_not_failed():
    spec = _spec()
    problem, study = _study(spec)
    study.enqueue_trial({"lr": 90.0})
    study.optimize(make_objective(problem), n_trials=1)
    t = study.trials[0]
    assert t.state == optuna.trial.TrialState.PRUNED
    assert t.user_attrs["status"] == "diverged"
    assert "exceeds" in t.user_attrs["message"] or "finite" in t.user_attrs["message"]
    last = t.intermediate_values[max(t.intermediate_values)]
    assert math.isnan(last)
    # diverged: the last training loss is non-finite (stored as None) or above 10 × E(θ⁽⁰⁾)
    model, theta0 = build(problem, spec, trial_rng(spec, 0))
    e0 = model.loss(theta0, problem.data.X_train, problem.data.y_train)
    assert t.user_attrs["train_loss"] is None or t.user_attrs["train_loss"] > 10 * e0


def test_objective_same_seed_same_study():
    spec = _spec()

    def run():
        problem, study = _study(spec)
        study.optimize(make_objective(problem), n_trials=6)
        return [(t.params, t.value, t.state) for t in study.trials]

    with threadpool_limits(1):
        assert run() == run()


@pytest.mark.parametrize("n_done", [0, 12])  # TPE's random start-up phase, then TPE proper
def test_objective_concurrent_workers_propose_distinct_parameters(tmp_path, n_done):
    spec = _spec()
    url = f"sqlite:///{tmp_path / 'c.db'}"
    dist = {"lr": optuna.distributions.FloatDistribution(1e-5, 1e2, log=True)}
    first = optuna.create_study(storage=url, study_name="c", sampler=make_sampler(spec))
    for i in range(n_done):
        first.add_trial(
            optuna.trial.create_trial(
                params={"lr": 10 ** (i / 3 - 3)}, distributions=dist, value=float(i % 5)
            )
        )
    # four invocations that found the same history at the same moment (same root seed)
    handles = [
        optuna.load_study(storage=url, study_name="c", sampler=make_sampler(spec)) for _ in range(4)
    ]
    asked = [h.ask(dist) for h in handles]
    lrs = [t.params["lr"] for t in asked]
    assert len(set(lrs)) == 4, lrs
    assert sorted(t.number for t in asked) == list(range(n_done, n_done + 4))


def test_objective_trial_sampler_seed_depends_on_seed_and_number():
    assert trial_sampler_seed(0, 3) == trial_sampler_seed(0, 3)
    assert len({trial_sampler_seed(s, n) for s in range(3) for n in range(50)}) == 150


def test_objective_retrain_reproduces_a_trial():
    spec = _spec()
    problem, study = _study(spec)
    study.optimize(make_objective(problem), n_trials=3)
    best = study.best_trial
    with threadpool_limits(1):
        _, _, res = retrain(problem, best.params, best.number)
    assert res.final.val_loss == pytest.approx(best.value, rel=1e-12)


def test_objective_batch_search_pow2_space():
    spec = parse_spec(*find_spec("batch_search"), TINY)
    problem, study = _study(spec)
    trial = study.ask()
    values = suggest(trial, spec, problem.n_train)
    dist = trial.distributions["batch_size"]
    assert dist.choices == (1, 2, 4, 8, 16, 32, 64, 96)  # N = 96 training samples
    assert values["batch_size"] in dist.choices
    lr = trial.distributions["lr"]
    assert lr.log and (lr.low, lr.high) == (1e-4, 1e2)  # batch_search.toml
    assert lr.low <= values["lr"] <= lr.high


def test_objective_queues_repeats_only_for_a_first_run_the_pruner_let_finish():
    spec = _spec(extra=["study.repeats=3"])
    problem = prepare(spec)
    waiting = (optuna.trial.TrialState.WAITING,)
    # a pruner that stops every run at its first report: the first run has no repeats
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=1e-12))
    study.enqueue_trial({"lr": 0.5})
    study.optimize(make_objective(problem), n_trials=1)
    assert study.trials[0].user_attrs["status"] == "pruned"
    assert study.get_trials(states=waiting) == []
    # a first run that finishes queues runs 1 and 2, which that pruner cannot stop
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=1e-12))
    study.enqueue_trial({"lr": 0.5}, user_attrs={"bisection": 0})  # (unprunable, no repeats)
    study.optimize(make_objective(problem), n_trials=1)
    assert study.get_trials(states=waiting) == []
    study = optuna.create_study()
    study.enqueue_trial({"lr": 0.5})
    study.optimize(make_objective(problem), n_trials=1)
    queued = study.get_trials(states=waiting)
    assert [(t.system_attrs["fixed_params"], t.user_attrs) for t in queued] == [
        ({"lr": 0.5}, {"repeat": 1}),
        ({"lr": 0.5}, {"repeat": 2}),
    ]
    study.pruner = optuna.pruners.ThresholdPruner(upper=1e-12)
    study.optimize(make_objective(problem), n_trials=2)
    runs = study.trials
    assert [t.user_attrs["status"] != "pruned" for t in runs] == [True, True, True]
    assert [t.user_attrs["init_stream"] for t in runs] == [[0, 1], [0, 1, 13, 1], [0, 1, 13, 2]]
    assert len({t.value for t in runs}) == 3  # three starts, three end points
