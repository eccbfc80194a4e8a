import math

import numpy as np
import pytest

from landscape.analysis.noise import (
    AxisConfig,
    descend,
    gd_chains,
    reference_minima,
    run_axis,
    sgd_chains,
    summarise_axis,
    wilson,
)
from landscape.analysis.spurious import (
    PopulationReLU,
    init_students,
    match_units,
    population_grad,
    population_hessian,
    population_loss,
    sgd_step,
    teacher,
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
    p = PopulationReLU(8, 8)
    starts = init_students(np.random.default_rng(0), 150, 8, 8).reshape(150, -1)
    ref = reference_minima(p, starts, AxisConfig(basin_steps=8000))
    share = (ref["ref_basin"] == "spurious").mean()
    assert 0.05 <= share <= 0.25
    assert set(ref["ref_basin"]) <= {"global", "spurious"}  # every run decided
    # at k = 8 every spurious end point is a copy of one minimum, modulo the symmetry group
    assert (
        len(ref["minima_loss"]) == 1
        and ref["minima_count"][0] == (ref["ref_basin"] == "spurious").sum()
    )
    assert ref["minima_loss"][0] == pytest.approx(0.021508, rel=1e-4)
    # a strict local minimum: positive definite Hessian, checked by finite differences too
    assert ref["minima_lmin"][0] > 0
    w = ref["minima"][0]
    h = 1e-6
    fd = np.array(
        [
            (p.grad((w + h * e)[None]) - p.grad((w - h * e)[None]))[0] / (2 * h)
            for e in np.eye(p.dim)
        ]
    )
    assert np.linalg.eigvalsh(0.5 * (fd + fd.T))[0] > 0


def test_wilson_interval_matches_scipy():
    from scipy.stats import binomtest

    for s, n in [(10, 100), (0, 50), (3, 7), (200, 200)]:
        ci = binomtest(s, n).proportion_ci(method="wilson")
        assert wilson(s, n) == pytest.approx((ci.low, ci.high), abs=1e-14)
    assert wilson(0, 50)[0] == 0.0 and wilson(200, 200)[1] == 1.0
    assert wilson(0, 0) == (0.0, 1.0)


def test_the_chain_problem_is_the_closed_form_and_its_noise_the_samples_gradient(rng):
    p = PopulationReLU(6, 7)
    W = init_students(rng, 5, 7, 6)
    theta = W.reshape(5, -1)
    np.testing.assert_allclose(
        p.grad(theta), population_grad(W, p.V).reshape(5, -1), rtol=0, atol=1e-15
    )
    np.testing.assert_allclose(p.loss(theta), population_loss(W, p.V), rtol=1e-15)
    # the noisy gradient is the per-chain sample gradient of sgd_step, input for input
    noisy = p.noisy_grad(theta[:, None, :], 16, np.random.default_rng(3))[:, 0]
    W2 = W.copy()
    sgd_step(W2, p.V, 1.0, 16, np.random.default_rng(3))
    np.testing.assert_allclose(noisy, (W - W2).reshape(5, -1), rtol=0, atol=1e-14)
    # the step sizes of a chain see the same inputs
    both = p.noisy_grad(np.repeat(theta[:, None, :], 2, axis=1), 4, np.random.default_rng(0))
    np.testing.assert_array_equal(both[:, 0], both[:, 1])


def test_symmetric_copies_are_one_minimum_and_others_are_not(rng):
    p = PopulationReLU(8, 8)
    starts = init_students(np.random.default_rng(0), 60, 8, 8).reshape(60, -1)
    ref = reference_minima(p, starts, AxisConfig(basin_steps=8000))
    w = ref["minima"][0]
    W = w.reshape(8, 8)
    rows, cols = rng.permutation(8), rng.permutation(8)
    copy = W[rows][:, cols].ravel()
    assert p.loss(copy[None])[0] == pytest.approx(p.loss(w[None])[0], rel=1e-14)
    assert p.same_minimum(w, copy) and p.same_minimum(copy, w)
    q, r = match_units(W, copy.reshape(8, 8))
    np.testing.assert_allclose(copy.reshape(8, 8)[r][:, q], W, atol=1e-12)
    # the teacher's own permutations are minima too (E = 0), and not this one
    assert not p.same_minimum(w, p.V.ravel())
    # a small move is a different point (not a copy): the tolerance is tight
    assert not p.same_minimum(w, w + 1e-2)


def test_online_sgd_stays_at_the_global_minimum_of_a_realisable_teacher():
    # every per-sample gradient vanishes at W = V (zero residual): SGD noise is zero there
    p = PopulationReLU(4, 4)
    start = np.repeat(p.V.ravel()[None], 2, axis=0)
    out = sgd_chains(p, start, [0.3, 0.1], 4, 50, np.random.default_rng(0))
    np.testing.assert_array_equal(out.theta, np.repeat(start[:, None], 2, axis=1))


def test_an_over_parameterised_run_near_the_global_minimum_is_in_its_basin():
    # n = k + 1 converges sublinearly: after 3000 steps E ≈ 5e-10 but ‖∇E‖ ≈ 1e-6; descent
    # from there stays below 1e-5, far below every spurious minimum: the global basin
    p = PopulationReLU(8, 9, global_below=1e-5)
    starts = init_students(np.random.default_rng(0), 4, 9, 8).reshape(4, -1)
    ends = gd_chains(p, starts, [0.5], 3000, cooldown=0.0).theta[:, 0]
    assert (p.loss(ends) < 1e-8).all()
    assert descend(p, ends, steps=100).label.tolist() == ["global"] * 4


AXIS = AxisConfig(
    grid_points=4,
    horizons=(600,),
    n_starts=40,
    chains=8,
    div_updates=400,
    div_chains=8,
    basin_steps=6000,
)


def test_the_over_parameterised_control_has_nothing_to_escape():
    # 8:9 — every GD run reaches the global minimum: the verdict says there is nothing to
    # escape from, never "holds"
    p = PopulationReLU(8, 9)
    starts = init_students(np.random.default_rng(1), AXIS.n_starts, 9, 8).reshape(AXIS.n_starts, -1)
    out = run_axis(p, starts, 8, AXIS, lambda i: np.random.default_rng([1, i]))
    assert (out["ref_basin"] == "global").all() and len(out["minima_loss"]) == 0
    rep = summarise_axis([("8:9", out)], AXIS)
    assert rep.verdict == "nothing to escape"
    assert "nothing to escape from at 8:9" in rep.sentence
    assert rep.samples[0].bad == 0 and rep.samples[0].bad_high == pytest.approx(wilson(0, 40)[1])


def test_one_size_and_batch_size_of_the_axis_end_to_end():
    p = PopulationReLU(8, 8)
    S = AXIS.n_starts
    starts = init_students(np.random.default_rng(0), S, 8, 8).reshape(S, -1)
    out = run_axis(p, starts, 8, AXIS, lambda i: np.random.default_rng([0, i]))
    # the edge: bracketed, from both kinds of starts; the grid below it, denser at the top
    eps_div = float(out["eps_div"])
    for edge in (out["edge_minima"], out["edge_starts"]):
        assert edge[1] < edge[0] < edge[2] and edge[2] / edge[1] < 1.1
    assert eps_div == pytest.approx(min(out["edge_minima"][0], out["edge_starts"][0]))
    assert 0.15 < eps_div < 0.4  # B = 8: ≈ 0.27 (well below GD's 2/λ_max = 0.77)
    np.testing.assert_allclose(out["eps"][[0, -1]], [eps_div / 30, 0.95 * eps_div])
    # every paired run has a basin; escapes per distinct minimum (one at k = 8)
    assert out["sgd_basin"].shape == out["gd_basin"].shape == (1, S, 4)
    assert out["esc_outcome"].shape == (1, 1, AXIS.chains, 4)
    # at ε/ε_div = 1/30 nothing leaves the bad minimum; near the edge some chains do
    assert (out["esc_outcome"][0, 0, :, 0] == "stayed").all()
    rep = summarise_axis([("8:8", out)], AXIS)
    assert len(rep.cells) == 4 and {c.verdict for c in rep.cells} <= {
        "holds",
        "does not hold",
        "undecided",
        "diverges",
    }
    for c in rep.cells:
        n11, n10, n01, n00 = c.table
        assert n11 + n10 + n01 + n00 == S
        assert c.sgd["global"] == n10 + n00 and c.gd["global"] == n01 + n00
        assert sum(e.chains for e in c.escapes) == AXIS.chains
    assert rep.minima[0].count == (out["ref_basin"] == "spurious").sum()


def test_spurious_axis_through_the_cli(workdir, capsys):
    import json

    from landscape.study import main

    args = [
        "spurious",
        "--set",
        'analysis.sizes=["6:6", "7:7"]',
        "--set",
        "analysis.batches=[8]",
        "--set",
        "analysis.n_starts=12",
        "--set",
        "analysis.chains=4",
        "--set",
        "analysis.horizons=[300]",
        "--set",
        "analysis.grid_points=3",
        "--set",
        "analysis.div_updates=300",
        "--set",
        "analysis.div_chains=4",
        "--set",
        "analysis.basin_steps=3000",
        "--no-progress",
    ]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["sweeps"], out["sweeps_complete"]) == (2, 2)
    rep = out["spurious"]
    assert rep["verdict"] in ("holds", "does not hold", "undecided", "nothing to escape")
    assert rep["sentence"].startswith("seed 1.3")
    assert [(c["size"], c["batch"], c["horizon"]) for c in rep["cells"]] == [
        ("6:6", 8, 300)
    ] * 3 + [("7:7", 8, 300)] * 3
    assert (workdir / "reports" / "spurious" / "spurious.png").exists()
    # the study keeps its headline as an attr and the typed report as an artifact
    import optuna

    from landscape.analysis import KINDS
    from landscape.runs import records
    from landscape.runs.storage import ArtifactStore
    from landscape.typed import to_json

    study = optuna.load_study(study_name="spurious", storage="sqlite:///studies/landscape.db")
    assert study.user_attrs["found"] == KINDS["spurious"].headline(
        records.result_of(study, KINDS["spurious"], ArtifactStore("studies/artifacts"))
    )
    stored = records.result_of(study, KINDS["spurious"], ArtifactStore("studies/artifacts"))
    assert to_json(stored)["cells"] == rep["cells"]
    # a rerun finds every unit done and reports the same
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["spurious"] == rep


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ('analysis.sizes=["8x8"]', "'8x8' is not k:n"),
        ("trainer.method=online", "spurious: trainer.method='online' is not used"),
        ("analysis.batches=[]", "analysis.batches must list at least one"),
        ("analysis.batches=[8, 8]", "analysis.batches: 8 listed twice"),
        ('analysis.grid="fine"', "analysis.grid='fine' is unknown"),
        ("analysis.grid=[0.1, 0.05]", "must be positive and increasing"),
        ("analysis.grid_high=1.5", "analysis.grid_high=1.5 must lie in (0, 1]"),
        ("analysis.horizons=[0]", "analysis.horizons: 0 must be an integer >= 1"),
        ("analysis.cooldown=1", "analysis.cooldown=1.0 must lie in [0, 1)"),
        ("analysis.ceiling=0", "analysis.ceiling=0.0 must be a finite number > 0"),
        ("analysis.sgd_lr=0.01", "analysis.sgd_lr was removed"),
        ('analysis.methods=["gd"]', "analysis.methods was removed"),
    ],
)
def test_spurious_refuses_bad_fields_in_one_line(workdir, capsys, override, message):
    from landscape.study import main

    assert main(["spurious", "--set", override]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (workdir / "studies").exists()
