import math

import numpy as np
import pytest

from landscape.analysis.spurious import (
    classify_ends,
    gradient_descent,
    init_students,
    online_sgd,
    population_grad,
    population_hessian,
    population_loss,
    sgd_step,
    summarise,
    teacher,
    wilson,
)


def test_population_loss_matches_a_monte_carlo_estimate(rng):
    V = teacher(4, 6)
    W = rng.normal(size=(5, 6)) / math.sqrt(6)
    X = rng.standard_normal((400_000, 6))
    r = np.maximum(X @ W.T, 0).sum(1) - np.maximum(X @ V.T, 0).sum(1)
    mc = 0.5 * np.mean(r**2)
    se = 0.5 * np.std(r**2) / math.sqrt(len(X))
    assert abs(population_loss(W, V) - mc) < 4 * se


def test_pair_term_is_the_arc_cosine_kernel_of_degree_one():
    # E[relu(wᵀx) relu(vᵀx)] for unit w, v at 90°: (1 + 0)/(2π); at 0°: 1/2
    V = teacher(2, 2)
    W = np.array([[1.0, 0.0]])
    # E(W) = ½·½ − (½ + 1/(2π)) + ½·(½ + ½ + 2/(2π))
    expected = 0.25 - (0.5 + 1 / (2 * math.pi)) + 0.5 * (1.0 + 1 / math.pi)
    assert population_loss(W, V) == pytest.approx(expected, rel=1e-15)
    assert population_loss(V, V) == 0.0


def test_population_gradient_and_hessian_match_finite_differences(rng):
    V = teacher(3, 4)
    W = rng.normal(size=(4, 4)) / 2.0
    g = population_grad(W, V)
    h = 1e-6
    fd = np.zeros_like(W)
    for idx in np.ndindex(*W.shape):
        a, b = W.copy(), W.copy()
        a[idx] += h
        b[idx] -= h
        fd[idx] = (population_loss(a, V) - population_loss(b, V)) / (2 * h)
    np.testing.assert_allclose(g, fd, atol=1e-8 * np.abs(g).max())
    H = population_hessian(W, V)
    E = np.eye(W.size).reshape(-1, *W.shape)
    fdH = np.array(
        [
            (population_grad(W + h * e, V) - population_grad(W - h * e, V)).ravel() / (2 * h)
            for e in E
        ]
    )
    np.testing.assert_allclose(H, fdH, atol=1e-8 * np.abs(H).max())
    # batched over K starts: the same as one at a time
    WK = rng.normal(size=(3, 4, 4))
    np.testing.assert_allclose(population_grad(WK, V)[1], population_grad(WK[1], V), rtol=1e-14)


def test_online_sgd_gradient_is_an_unbiased_estimate(rng):
    V = teacher(3, 3)
    W0 = rng.normal(size=(1, 4, 3)) / math.sqrt(3)
    # one step of lr 1 from W0 moves by minus the batch gradient; average many batches
    steps = np.stack([W0[0] - sgd_step(W0.copy(), V, 1.0, 2000, rng)[0] for _ in range(200)])
    g = population_grad(W0[0], V)
    se = steps.std(axis=0) / math.sqrt(len(steps))
    assert np.all(np.abs(steps.mean(axis=0) - g) < 5 * se + 1e-12)


def test_gradient_descent_finds_spurious_minima_at_the_published_rate():
    # Safran & Shamir (2018), k = n = 8: about 12.6% of GD runs end at a spurious minimum
    rng = np.random.default_rng(0)
    V = teacher(8, 8)
    W, updates, gn = gradient_descent(init_students(rng, 150, 8, 8), V, lr=0.5, steps=5000)
    assert (gn <= 1e-10).all()  # every run converged: k = n is strongly convex near minima
    E = population_loss(W, V)
    spurious = E > 1e-6
    share = spurious.mean()
    assert 0.05 <= share <= 0.25
    # the others reached the global minimum (E = 0 up to the rounding of ~n² terms of size 1)
    assert (np.abs(E[~spurious]) < 1e-12).all()
    # each spurious end point is a strict local minimum: positive definite Hessian
    for w in W[spurious][:3]:
        lam = np.linalg.eigvalsh(population_hessian(w, V))
        assert lam[0] > 1e-6 * lam[-1]


def test_wilson_interval_matches_scipy():
    from scipy.stats import binomtest

    for s, n in [(10, 100), (0, 50), (3, 7), (200, 200)]:
        ci = binomtest(s, n).proportion_ci(method="wilson")
        assert wilson(s, n) == pytest.approx((ci.low, ci.high), abs=1e-14)
    assert wilson(0, 50)[0] == 0.0 and wilson(200, 200)[1] == 1.0
    assert wilson(0, 0) == (0.0, 1.0)


def test_classify_ends_names_global_spurious_unconverged_and_diverged():
    rng = np.random.default_rng(0)
    V = teacher(8, 8)
    W, _, _ = gradient_descent(init_students(rng, 60, 8, 8), V, lr=0.5, steps=5000)
    E = population_loss(W, V)
    spur = int(np.argmax(E))
    assert E[spur] > 1e-3  # a spurious end point among these starts
    glob = int(np.argmin(np.abs(E)))
    far = init_students(rng, 1, 8, 8)[0]  # a random point: no critical point within 1%
    near = W[spur] + 1e-6 * rng.standard_normal((8, 8))  # refined back to the same minimum
    ends = np.stack([W[glob], W[spur], far, near, np.full((8, 8), np.nan)])
    out = classify_ends(ends, V)
    assert out["kind"].tolist() == ["global", "spurious", "not_converged", "spurious", "diverged"]
    assert out["loss"][3] == pytest.approx(E[spur], rel=1e-9) and out["moved"][3] < 1e-5
    assert out["lambda_min"][1] > 0


def test_online_sgd_stays_at_the_global_minimum_of_a_realisable_teacher():
    # every per-sample gradient vanishes at W = V (zero residual): SGD noise is zero there
    rng = np.random.default_rng(0)
    V = teacher(4, 5)
    W = online_sgd(np.stack([V, V]), V, batch=4, lr=0.3, updates=50, rng=rng)
    np.testing.assert_array_equal(W, np.stack([V, V]))


# ------------------------------------------------------------- verdict and the CLI
def _part(k, n, gd_basin, sgd_basin, escape_left, escape_runs=20):
    """Arrays of one size as run_size returns them, with chosen basin outcomes."""
    runs = len(gd_basin)
    labels = np.array(["gd", "B=8"])
    basin = np.array([gd_basin, sgd_basin])
    kind = np.where(basin == "spurious", "spurious", "global")
    start_loss = np.full(escape_runs, 0.02)
    esc_kind = np.array(
        [
            ["spurious"] * escape_runs,
            ["global"] * escape_left + ["spurious"] * (escape_runs - escape_left),
        ]
    )
    esc_loss = np.where(esc_kind == "spurious", 0.02, 0.0)
    return {
        "k": np.array(k),
        "n": np.array(n),
        "labels": labels,
        "batch": np.array([0, 8]),
        "decay": np.array([False, False]),
        "kind": kind,
        "basin": basin,
        "loss": np.zeros((2, runs)),
        "moved": np.zeros((2, runs)),
        "escape_from": start_loss,
        "escape_kind": esc_kind,
        "escape_loss": esc_loss,
    }


def test_verdict_follows_the_wilson_intervals():
    spur = lambda m, n: np.array(["spurious"] * m + ["global"] * (n - m))  # noqa: E731
    holds = summarise([_part(8, 8, spur(40, 100), spur(5, 100), 15)], 100)
    assert holds.verdict == "holds" and "B=8 at k=8, n=8" in holds.sentence
    (cmp,) = holds.comparisons
    assert cmp["against_gd"] == "lower"
    # 0 of 40 left: the leaving share is below 10% (Wilson upper bound 8.8%)
    stays = summarise([_part(8, 8, spur(20, 100), spur(22, 100), 0, escape_runs=40)], 100)
    assert stays.verdict == "does not hold" and "0 of 40 left" in stays.sentence
    # 0 of 20 left is not enough to say so (upper bound 16%)
    few = summarise([_part(8, 8, spur(20, 100), spur(22, 100), 0)], 100)
    assert few.verdict == "undecided"
    # 10 of 40 left (95% 14%–40%): the noise kicks some out, without a measurably lower rate
    kicks = summarise([_part(8, 8, spur(20, 100), spur(22, 100), 10, escape_runs=40)], 100)
    assert kicks.verdict == "undecided" and "kicks some iterates out" in kicks.sentence
    small = summarise([_part(8, 8, spur(2, 10), spur(1, 10), 1, escape_runs=5)], 100)
    assert small.verdict == "undecided"
    row = holds.shares[0]
    assert (row.basin_spurious, row.basin_low, row.basin_high) == pytest.approx(
        (0.4, *wilson(40, 100))
    )
    (gd_esc, sgd_esc) = holds.escapes
    assert (sgd_esc.left, sgd_esc.stayed, sgd_esc.runs) == (15, 5, 20)


def test_spurious_sweep_through_the_cli(workdir, capsys):
    import json

    from landscape.study import main

    args = [
        "spurious",
        "--set",
        'analysis.sizes=["6:6", "7:8"]',
        "--set",
        "analysis.n_starts=10",
        "--set",
        "analysis.updates=300",
        "--set",
        "analysis.basin_steps=3000",
        "--set",
        'analysis.methods=["gd", "minibatch:8"]',
        "--set",
        "analysis.escape_starts=2",
        "--set",
        "analysis.escape_runs=1",
        "--no-progress",
    ]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["sizes"], out["sizes_complete"]) == (2, 2)
    rep = out["spurious"]
    assert rep["verdict"] in ("holds", "does not hold", "undecided") and rep["sentence"]
    assert rep["updates"] == 300
    assert [(r["k"], r["n"], r["method"]) for r in rep["shares"]] == [
        (6, 6, "gd"),
        (6, 6, "B=8"),
        (6, 6, "B=8 decay"),
        (7, 8, "gd"),
        (7, 8, "B=8"),
        (7, 8, "B=8 decay"),
    ]
    for r in rep["shares"]:
        assert r["runs"] == 10 and sum(r["counts"].values()) == 10
        assert r["basin_low"] <= r["basin_spurious"] <= r["basin_high"]
    assert (workdir / "reports" / "spurious" / "spurious.png").exists()
    # a rerun finds every size done and reports the same
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["spurious"] == rep


def test_spurious_refuses_bad_sizes_and_unused_trainer_fields(workdir, capsys):
    from landscape.study import main

    assert main(["spurious", "--set", 'analysis.sizes=["8x8"]']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'8x8' is not k:n" in err[0]
    assert main(["spurious", "--set", "trainer.method=online"]) == 2
    assert "spurious: trainer.method='online' is not used" in capsys.readouterr().err
    assert not (workdir / "studies" / "landscape.db").exists()


def test_an_over_parameterised_run_near_the_global_minimum_is_in_its_basin():
    # n = k + 1 converges sublinearly: after 3000 steps E ≈ 5e-10 but ‖∇E‖ ≈ 1e-6, so the run
    # is not converged; population GD from there stays below 1e-5, far below every spurious
    # minimum, so its basin is the global one (it used to be named "diverged": the start left
    # the continuation at once and had no gradient norm recorded)
    V = teacher(8, 8)
    W, _, gn = gradient_descent(
        init_students(np.random.default_rng(0), 4, 9, 8), V, lr=0.5, steps=3000, gtol=0.0
    )
    E = population_loss(W, V)
    assert (E < 1e-8).all() and (gn > 1e-8).all()
    out = classify_ends(W, V, basin_steps=100)
    assert out["kind"].tolist() == ["not_converged"] * 4
    assert out["basin"].tolist() == ["global"] * 4
    np.testing.assert_array_equal(out["basin_loss"], E)
