"""Seed 1.1 where theory is exact: GD on linear least squares diverges exactly for ε > 2/λ_max."""

import json

import numpy as np
from fast import SETTINGS
from threadpoolctl import threadpool_limits

import landscape
from landscape import seeds
from landscape.data import load_dataset
from landscape.runs import records
from landscape.study import main
from landscape.summary import PRUNED_WHILE


def _two_over_lambda_max(seed: int) -> float:
    """2/λ_max of E = (1/2N)‖Xw + b − y‖², from numpy.linalg alone: H = [X 1]ᵀ[X 1]/N."""
    ds = load_dataset("diabetes", rng=seeds.stream(seed, seeds.DATA), val_fraction=0.2)
    A = np.c_[ds.X_train, np.ones(ds.n_train)]
    return 2.0 / np.linalg.eigvalsh(A.T @ A / ds.n_train)[-1]


def test_linear_lr_search_brackets_the_exact_stability_limit(workdir, capsys):
    args = ["lr_search_linear", "--storage", "s.db", "--no-report", "--no-progress", "--json"]
    small = ["--n-trials", "8", "--set", "study.bisect=8", "--set", "trainer.epochs=20000"]
    with threadpool_limits(1):
        assert main([*args, *small]) == 0
    out = json.loads(capsys.readouterr().out)["summary"]
    limit = _two_over_lambda_max(0)
    lo, hi = out["largest_stable_lr"], out["smallest_diverged_lr"]
    assert out["bisection_trials"] == 8
    # the bracket holds the theory's limit, and the bisection has narrowed it to 0.5%
    assert lo <= limit < hi
    assert hi / lo < 1.005
    # the stored λ_max at θ⁽⁰⁾ (Lanczos on Hessian-vector products) is the same number
    assert abs(out["stability_limit_init"] - limit) <= 1e-9 * limit
    # every bisection trial ran to its end or diverged: none pruned
    assert "pruned" not in out["status_counts"]


def test_bisection_needs_a_search_of_the_learning_rate_alone(capsys):
    code = main(["batch_search", "--set", "study.bisect=3", "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "landscape: error: study.bisect=3 bisects ε alone: it needs a search of trainer.lr "
        "only, of type float without a step"
    )


def test_bisection_trials_are_never_pruned_and_pruned_trials_say_where_they_were(workdir):

    prune_hard = [
        "pruner.name=median",
        "pruner.options={n_startup_trials = 1, n_warmup_steps = 0}",
        "search.lr.high=1e4",
        "study.bisect=3",
    ]
    run = landscape.run_study(
        "lr_search", storage="p.db", overrides=[*SETTINGS, *prune_hard], n_trials=10, report=False
    )
    trials = run.study.get_trials(deepcopy=False)
    bisecting = [t for t in trials if records.bisection(t) is not None]
    assert [records.bisection(t) for t in bisecting] == [0, 1, 2]
    assert all(records.status(t) in ("budget", "converged", "diverged") for t in bisecting)
    pruned = [t for t in trials if records.status(t) == "pruned"]
    assert pruned, "the aggressive pruner pruned nothing: the test proves nothing"
    assert all(records.pruned_while(t) in PRUNED_WHILE for t in pruned)
    assert all(records.pruned_while(t) is None for t in trials if t not in pruned)
    assert run.summary.bisection_trials == 3
