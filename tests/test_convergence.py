"""Seed 1.5 on linear least squares: constant-ε floors against Robbins–Monro decay."""

import json

import numpy as np
import pytest

from landscape import MLP, load_dataset, train
from landscape.analysis.convergence import (
    least_squares_optimum,
    parse_schedule_run,
    read_convergence,
)
from landscape.rules import RuleError
from landscape.study import main


def _problem():
    ds = load_dataset(
        "regression", rng=np.random.default_rng(0), n_samples=200, n_features=3, noise=20.0
    )
    return ds, MLP(ds.sizes([]), "identity", "mse")


def test_least_squares_optimum_solves_the_normal_equations():
    ds, model = _problem()
    theta, loss = least_squares_optimum(model, ds.X_train, ds.y_train)
    A = np.c_[ds.X_train, np.ones(ds.n_train)]
    w = np.linalg.solve(A.T @ A, A.T @ ds.y_train)  # independent: the normal equations
    np.testing.assert_allclose(theta, w, rtol=0, atol=1e-12)
    E, g = model.loss_and_grad(theta, ds.X_train, ds.y_train)
    assert np.abs(g).max() < 1e-14 and E == pytest.approx(loss, rel=1e-15)
    assert loss == pytest.approx(0.5 * np.mean((A @ w - ds.y_train) ** 2), rel=1e-12)
    with pytest.raises(ValueError, match="linear least squares only"):
        least_squares_optimum(MLP([3, 4, 1], "tanh", "mse"), ds.X_train, ds.y_train)


def test_least_squares_optimum_over_the_free_block_only():
    ds, _ = _problem()
    X, y = ds.X_train, ds.y_train
    # b frozen at 0.5: regression of y − 0.5 through the origin (normal equations on X alone)
    model = MLP(ds.sizes([]), "identity", "mse", {"b1": 0.5})
    theta, loss = least_squares_optimum(model, X, y)
    w = np.linalg.solve(X.T @ X, X.T @ (y - 0.5))
    np.testing.assert_allclose(theta, [*w, 0.5], rtol=0, atol=1e-12)
    E, g = model.loss_and_grad(theta, X, y)
    assert np.abs(g).max() < 1e-14 and E == pytest.approx(loss, rel=1e-15)
    # W frozen at 1: only the intercept moves, to the mean residual
    model = MLP(ds.sizes([]), "identity", "mse", {"W1": 1.0})
    theta, _ = least_squares_optimum(model, X, y)
    np.testing.assert_allclose(theta, [1.0, 1.0, 1.0, np.mean(y - X.sum(axis=1))], atol=1e-12)


def test_the_trajectory_holds_theta_at_every_history_row():
    ds, model = _problem()
    theta0 = model.init(np.random.default_rng(1))
    res = train(
        model,
        theta0,
        ds.X_train,
        ds.y_train,
        lr=0.05,
        epochs=7,
        batch_size=16,
        rng=np.random.default_rng(2),
        eval_every=2,
        trajectory=True,
    )
    assert res.trajectory.shape == (len(res.history["epoch"]), model.n_params)
    assert np.array_equal(res.trajectory[0], theta0)
    assert np.array_equal(res.trajectory[-1], res.theta)
    losses = [model.loss(th, ds.X_train, ds.y_train) for th in res.trajectory]
    np.testing.assert_array_equal(losses, res.history["loss"])


def test_read_convergence_on_known_series():
    t = np.arange(0, 10001, 100)
    rng = np.random.default_rng(0)
    flat = 1e-4 * np.exp(0.5 * rng.standard_normal(t.size))  # a noisy floor
    r = read_convergence(t, flat)
    assert r.kind == "plateau" and abs(r.slope) < 0.25
    assert r.floor == pytest.approx(1e-4, rel=0.3)
    falling = 1.0 / np.maximum(t, 1)  # E − E* ∝ 1/t
    r = read_convergence(t, falling)
    assert r.kind == "decreasing" and r.slope == pytest.approx(-1.0, abs=1e-9)
    assert read_convergence(t, np.maximum(t, 1.0)).kind == "increasing"
    with pytest.raises(ValueError, match="need >= 3"):
        read_convergence(np.array([0, 1000]), np.array([1.0, 0.5]))


def test_schedule_runs_are_parsed_and_bad_ones_named():
    assert parse_schedule_run("inverse_time:0.05:tau=100") == ("inverse_time", 0.05, {"tau": 100.0})
    assert parse_schedule_run("constant:0.01") == ("constant", 0.01, {})
    for bad, msg in [
        ("constant", "must read NAME:lr"),
        ("constant:x", "must be numbers"),
        ("constant:-1", "must be > 0"),
        ("warp:0.1", "schedule 'warp' is unknown"),
        ("linear:0.1:speed=2", "has no parameter 'speed'"),
    ]:
        with pytest.raises(RuleError, match=msg):
            parse_schedule_run(bad)


def test_convergence_through_the_cli_shows_floors_and_robbins_monro(workdir, capsys):
    runs = '["constant:0.01", "constant:0.03", "constant:0.1", "inverse_time:0.1:tau=100"]'
    args = ["schedule_convergence", "--no-progress", "--no-report", "--json"]
    assert main([*args, "--set", f"analysis.schedules={runs}", "--set", "trainer.epochs=400"]) == 0
    rep = json.loads(capsys.readouterr().out)["convergence"]
    kinds = {r["label"]: r["kind"] for r in rep["runs"]}
    assert kinds == {
        "constant:0.01": "plateau",
        "constant:0.03": "plateau",
        "constant:0.1": "plateau",
        "inverse_time:0.1:tau=100": "decreasing",
    }
    floors = [r["floor"] for r in rep["runs"][:3]]
    assert floors[0] < floors[1] < floors[2]
    assert rep["floors_grow_with_lr"] is True and rep["robbins_monro_decreases"] is True
    assert rep["runs"][3]["final_gap"] < floors[0]


def test_convergence_needs_a_linear_model(capsys):
    assert main(["schedule_convergence", "--set", "model.hidden=[4]", "--no-progress"]) == 2
    assert "analysis.kind='convergence' needs θ* in closed form" in capsys.readouterr().err


def test_the_floor_grows_faster_than_eps_because_of_reshuffling_at_epoch_ends():
    """Why the summary says floor ∝ ε^k with k ≈ 2–3: the trainer reshuffles each epoch.

    An independent loop sampling mini-batches *with replacement* gives the textbook floor
    ∝ ε (k ≈ 1); the trainer's random reshuffling, measured at epoch ends, a steeper one.
    """
    ds = load_dataset(
        "regression", rng=np.random.default_rng(0), n_samples=500, n_features=5, noise=20.0
    )
    model = MLP(ds.sizes([]), "identity", "mse")
    X, y = ds.X_train, ds.y_train
    A = np.c_[X, np.ones(len(X))]
    _, loss_star = least_squares_optimum(model, X, y)

    def floor_with_replacement(lr):
        rng, th, gaps = np.random.default_rng(5), np.zeros(A.shape[1]), []
        for step in range(60 * len(X) // 8):
            idx = rng.integers(0, len(X), 8)
            th -= lr * A[idx].T @ (A[idx] @ th - y[idx]) / 8
            if step > 30 * len(X) // 8 and step % (len(X) // 8) == 0:
                gaps.append(0.5 * np.mean((A @ th - y) ** 2) - loss_star)
        return np.median(gaps)

    def floor_trainer(lr):
        res = train(
            model,
            np.zeros(model.n_params),
            X,
            y,
            lr=lr,
            epochs=60,
            batch_size=8,
            rng=np.random.default_rng(5),
        )
        return np.median(res.history["loss"][30:] - loss_star)

    k_replace = np.log10(floor_with_replacement(0.1) / floor_with_replacement(0.01))
    k_reshuffle = np.log10(floor_trainer(0.1) / floor_trainer(0.01))
    assert 0.6 < k_replace < 1.4
    assert k_reshuffle > 1.8
