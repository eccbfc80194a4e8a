"""The noise-axis engine against answers known in closed form: quadratics, a double well, tables."""

import math

import numpy as np
import pytest

from landscape.analysis.noise import (
    Cell,
    ChainProblem,
    DoubleWell,
    cell_verdict,
    descend,
    describe_regions,
    distinct,
    divergence_step,
    eps_grid,
    escape_outcomes,
    gd_chains,
    holm,
    judge,
    mcnemar,
    paired_difference,
    paired_table,
    regions,
    sgd_chains,
    wilson,
)


class Quadratic(ChainProblem):
    """E = ½ θᵀ diag(lam) θ with additive gradient noise of variance σ²/B per coordinate."""

    basin_lr = 0.1
    global_below = 1e-12

    def __init__(self, lam, sigma=0.0):
        self.lam = np.asarray(lam, dtype=float)
        self.dim = len(self.lam)
        self.sigma = sigma

    def loss(self, theta):
        return 0.5 * (theta**2 * self.lam).sum(-1)

    def grad(self, theta):
        return theta * self.lam

    def noisy_grad(self, theta, batch, rng):
        xi = rng.standard_normal((theta.shape[0], 1, theta.shape[-1]))
        return self.grad(theta) + self.sigma / math.sqrt(batch) * xi

    def hessian(self, theta):
        return np.diag(self.lam)


def test_gd_chains_follow_the_update_rule_with_its_cool_down():
    q = Quadratic([1.0, 3.0])
    start = np.array([[1.0, -2.0], [0.5, 0.25]])
    lrs = [0.1, 0.3]
    out = gd_chains(q, start, lrs, 30, cooldown=1 / 3, cool_factor=0.1, check_every=7)
    for r in range(2):
        for m, eps in enumerate(lrs):
            x = start[r].copy()
            for t in range(30):
                x = x - (eps if t < 20 else eps * 0.1) * (q.lam * x)
            np.testing.assert_allclose(out.theta[r, m], x, rtol=1e-15, atol=1e-300)
    assert not out.diverged.any() and (out.updates == 30).all()


def test_gd_divergence_step_of_a_quadratic_is_two_over_lambda_max():
    # GD on a quadratic diverges for ε > 2/λ_max (here 2/4 = 0.5) and converges below
    q = Quadratic([0.5, 1.0, 4.0])
    starts = np.random.default_rng(0).normal(size=(8, 3))
    edge = divergence_step(
        q,
        starts,
        None,
        updates=400,
        rng=np.random.default_rng(1),
        low=0.05,
        high=5.0,
        ceiling=1e6,
        rounds=4,
    )
    assert edge.low < 0.5 * 1.03 and edge.high > 0.5
    assert edge.eps == pytest.approx(0.5, rel=0.03)
    # every probe below 2/λ_max kept every chain, every probe well above lost all
    assert all(s == 0 for e, s in edge.probes if e < 0.5)
    assert all(s == 1 for e, s in edge.probes if e > 0.55)


def test_sgd_chains_share_noise_along_the_axis_and_not_across_starts():
    q = Quadratic([1.0], sigma=1.0)
    starts = np.zeros((3, 1))
    out = sgd_chains(q, starts, [0.1, 0.1], 1, 50, np.random.default_rng(0), cooldown=0.0)
    np.testing.assert_array_equal(out.theta[:, 0], out.theta[:, 1])  # common random numbers
    assert len(np.unique(out.theta[:, 0, 0])) == 3  # independent starts


def test_sgd_chains_stop_diverged_chains_and_mark_them():
    q = Quadratic([1.0], sigma=0.0)
    out = sgd_chains(
        q,
        np.ones((2, 1)),
        [0.5, 2.5],
        1,
        300,
        np.random.default_rng(0),
        ceiling=1e3,
        check_every=10,
    )
    assert out.diverged.tolist() == [[False, True], [False, True]]
    assert np.isnan(out.theta[:, 1]).all() and np.isfinite(out.theta[:, 0]).all()
    # |1 − 2.5| = 1.5 per step: E = ½·1.5^(2t) passes 1e3 at t = 10, seen at the first check
    assert (out.updates[:, 1] == 10).all() and (out.updates[:, 0] == 300).all()


def test_descend_names_global_spurious_unresolved_and_diverged_basins():
    w = DoubleWell(0.25)
    theta = np.array([[-0.5], [0.6], [np.nan], [w.x_barrier]])
    b = descend(w, theta, steps=5000)
    assert b.label.tolist() == ["global", "spurious", "diverged", "unresolved"]
    assert b.theta[1, 0] == pytest.approx(w.x_bad, abs=1e-7)
    # a budget too small to decide leaves the basin unresolved
    assert descend(w, np.array([[0.6]]), steps=3).label.tolist() == ["unresolved"]


def _direct_double_well(w, eps, batch, updates, chains, rng):
    """An independent simulation: the scalar update rule, the basin by the barrier's side."""
    x = np.full(chains, w.x_bad)
    for _ in range(updates):
        x = x - eps * (x**3 - x + w.c + w.sigma / math.sqrt(batch) * rng.standard_normal(chains))
    return float((x < w.x_barrier).mean())


@pytest.mark.parametrize(("eps", "batch"), [(0.04, 1), (0.1, 4)])
def test_double_well_escape_shares_match_a_direct_simulation(eps, batch):
    w = DoubleWell(0.25, 1.0)
    chains, updates = 600, 2000
    out = sgd_chains(
        w,
        np.full((chains, 1), w.x_bad),
        [eps],
        batch,
        updates,
        np.random.default_rng(0),
        cooldown=0.0,
        ceiling=100.0,
    )
    b = descend(w, out.theta[:, 0], steps=3000)
    ours = float((b.label == "global").mean())
    direct = _direct_double_well(w, eps, batch, updates, chains, np.random.default_rng(1))
    se = math.sqrt(ours * (1 - ours) / chains + direct * (1 - direct) / chains)
    assert abs(ours - direct) < 4 * se + 1e-9
    assert 0.2 < ours < 0.8  # a point where the share is informative


def test_double_well_escape_rises_with_eps_over_b_as_kramers_says():
    w = DoubleWell(0.25, 1.0)
    lrs = np.array([0.06, 0.08, 0.1, 0.12])
    chains, updates, batch = 500, 2000, 4
    out = sgd_chains(
        w,
        np.full((chains, 1), w.x_bad),
        lrs,
        batch,
        updates,
        np.random.default_rng(2),
        cooldown=0.0,
    )
    b = descend(w, out.theta.reshape(-1, 1), steps=3000)
    shares = (b.label.reshape(chains, len(lrs)) == "global").mean(axis=0)
    assert np.all(np.diff(shares) > 0)  # more noise per step, more escapes
    for eps, share in zip(lrs, shares, strict=True):
        # escape within time ε·U at Kramers' rate (barrier 2.9–6.8 temperatures here)
        predicted = 1 - math.exp(-w.kramers_rate(eps, batch) * eps * updates)
        assert abs(share - predicted) < 0.08, (eps, share, predicted)


def test_escape_outcomes_tell_escaped_stayed_moved_and_diverged():
    w = DoubleWell(0.25)
    start = np.array([w.x_bad])
    b = descend(w, np.array([[-1.0], [0.9], [np.nan]]), steps=3000)
    outcome, copy = escape_outcomes(w, start, b)
    assert outcome.tolist() == ["escaped", "stayed", "diverged"]
    assert not copy.any()


def test_distinct_groups_points_by_loss_and_the_problems_symmetry():
    w = DoubleWell(0.25)
    pts = np.array([[w.x_bad], [w.x_bad + 1e-9], [w.x_global]])
    assert distinct(w, pts, w.loss(pts)).tolist() == [0, 0, 1]


def test_eps_grid_spans_the_axis_and_is_denser_near_the_edge():
    g = eps_grid(0.3, points=8, low=1 / 30, high=0.95)
    assert g[0] == pytest.approx(0.01) and g[-1] == pytest.approx(0.285)
    ratios = g[1:] / g[:-1]
    assert np.all(ratios > 1) and np.all(np.diff(ratios) < 0)


def test_mcnemar_is_the_exact_binomial_test_of_the_discordant_pairs():
    # b = 1, c = 9: p = 2·P(X ≤ 1 | 10, ½) = 2·11/1024
    assert mcnemar(1, 9) == pytest.approx(22 / 1024, rel=1e-12)
    assert mcnemar(9, 1) == pytest.approx(22 / 1024, rel=1e-12)
    assert mcnemar(0, 0) == 1.0
    assert mcnemar(5, 5) == pytest.approx(1.0)


def test_holm_adjusts_step_down_and_keeps_the_order():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 → monotone
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]).tolist() == [1.0, 1.0]


def test_paired_interval_covers_the_true_difference_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    # a joint law of (GD bad, SGD bad): correlated, true difference 0.20 − 0.12 = 0.08
    probs = np.array([0.10, 0.10, 0.02, 0.78])
    hits, trials = 0, 3000
    for _ in range(trials):
        n11, n10, n01, n00 = rng.multinomial(150, probs)
        _, lo, hi = paired_difference(n11, n10, n01, n00)
        hits += lo <= 0.08 <= hi
    assert 0.93 <= hits / trials <= 0.975


def test_paired_interval_is_antisymmetric_and_includes_zero_without_discordance():
    d, lo, hi = paired_difference(10, 7, 2, 81)
    d2, lo2, hi2 = paired_difference(10, 2, 7, 81)
    assert d == pytest.approx(0.05) and (d2, lo2, hi2) == pytest.approx((-d, -hi, -lo))
    assert lo < d < hi
    _, lo, hi = paired_difference(20, 0, 0, 80)
    assert lo < 0 < hi


def test_paired_table_counts_rescued_and_harmed_pairs():
    gd = np.array([1, 1, 0, 0, 1], bool)
    sgd = np.array([1, 0, 1, 0, 0], bool)
    assert paired_table(gd, sgd) == (1, 2, 1, 1)


@pytest.mark.parametrize(
    ("table", "diverged", "p", "high", "verdict"),
    [
        ((0, 0, 0, 100), 0, 1.0, 0.04, "nothing to escape"),
        ((5, 30, 2, 63), 60, 1e-6, 0.4, "diverges"),  # most of SGD's runs diverged
        ((5, 30, 2, 63), 0, 1e-6, 0.4, "holds"),
        ((5, 2, 30, 63), 0, 1e-6, -0.2, "does not hold"),  # SGD worse
        ((20, 1, 1, 78), 0, 1.0, 0.03, "does not hold"),  # interval excludes a 5-point effect
        ((20, 4, 1, 75), 0, 0.4, 0.09, "undecided"),
    ],
)
def test_cell_verdict_table(table, diverged, p, high, verdict):
    assert cell_verdict(table, diverged, p, high) == verdict


@pytest.mark.parametrize(
    ("escaped", "chains", "verdict"),
    [
        (0, 32, "does not hold"),  # 95% upper bound 10.7%: the noise kicks nothing out
        (1, 32, "undecided"),  # 16%: not below 15%
        (0, 8, "undecided"),  # 32%: too few chains to say
        (0, 0, "undecided"),  # no bad minimum to start from
    ],
)
def test_cell_verdict_reads_the_direct_escape_test_when_the_paired_one_is_silent(
    escaped, chains, verdict
):
    table = (7, 6, 5, 82)  # GD bad 13, SGD bad 12: the paired test sees nothing
    assert cell_verdict(table, 0, 1.0, 0.09, escaped, chains) == verdict
    # a significant paired rescue holds whatever the escapes say
    assert cell_verdict((2, 14, 0, 84), 0, 0.001, 0.2, escaped, chains) == "holds"


def test_a_method_whose_runs_all_diverge_never_supports_the_claim():
    # GD ends half its starts in bad basins; every SGD run diverged: all its runs are "bad"
    gd_bad = np.array([True] * 50 + [False] * 50)
    sgd_bad = np.ones(100, bool)
    table = paired_table(gd_bad, sgd_bad)
    d, lo, hi = paired_difference(*table)
    cell = Cell(
        "x",
        1,
        0.1,
        100,
        0.1,
        100,
        {"diverged": 100},
        {},
        table,
        0,
        d,
        lo,
        hi,
        mcnemar(table[1], table[2]),
        math.nan,
        "",
    )
    (judged,) = judge([cell])
    assert judged.verdict == "diverges"
    # and with only some diverged, they count against it: SGD cannot look better
    sgd_bad = np.array([False] * 30 + [True] * 70)
    table = paired_table(gd_bad, sgd_bad)
    assert table[1] == 30 and table[2] == 50
    assert cell_verdict(table, 40, mcnemar(table[1], table[2]), 0.0) != "holds"


def _cell(batch, eps, verdict, size="8:8", horizon=100):
    return Cell(
        size,
        batch,
        eps,
        horizon,
        1.0,
        10,
        {},
        {},
        (0, 0, 0, 10),
        0,
        0.0,
        0.0,
        0.0,
        1.0,
        math.nan,
        verdict,
    )


def test_regions_group_runs_of_one_verdict_along_the_axis():
    cells = [
        _cell(1, 0.01, "does not hold"),
        _cell(1, 0.02, "does not hold"),
        _cell(1, 0.03, "holds"),
        _cell(1, 0.04, "holds"),
        _cell(1, 0.05, "diverges"),
        _cell(8, 0.1, "does not hold"),
    ]
    regs = regions(cells)
    assert [(r.batch, r.verdict, r.eps_low, r.eps_high, r.cells) for r in regs] == [
        (1, "does not hold", 0.01, 0.02, 2),
        (1, "holds", 0.03, 0.04, 2),
        (1, "diverges", 0.05, 0.05, 1),
        (8, "does not hold", 0.1, 0.1, 1),
    ]
    text = describe_regions(regs, "8:8", 100)
    assert text.startswith("B=1: does not hold for ε/B [0.01, 0.02]")
    assert "holds for ε/B [0.03, 0.04]" in text and "B=8: does not hold for ε/B 0.0125" in text


def test_wilson_is_unchanged():
    lo, hi = wilson(3, 10)
    assert (lo, hi) == pytest.approx((0.1077918, 0.6032218), abs=1e-6)


def test_a_chain_climbing_far_above_its_start_is_not_diverged_below_the_ceiling():
    # started at E ≈ 1e-4, the noise lifts the chains to E ≈ 1e-2 (100x their start): an
    # escaping run passes through such losses; only the absolute ceiling (or a non-finite
    # loss) means divergence
    q = Quadratic([1.0], sigma=1.0)
    start = np.full((50, 1), math.sqrt(2e-4))
    out = sgd_chains(q, start, [0.1], 1, 500, np.random.default_rng(0), cooldown=0, ceiling=1.0)
    E = q.loss(out.theta[:, 0])
    assert np.median(E) > 100 * q.loss(start).max() and not out.diverged.any()
    # with a ceiling below what they reach, they are diverged, and stop there
    low = sgd_chains(q, start, [0.1], 1, 500, np.random.default_rng(0), cooldown=0, ceiling=1e-3)
    assert low.diverged.mean() > 0.5 and (low.updates[low.diverged] < 500).all()


def test_kicks_tell_a_minimum_from_a_point_with_a_way_down():
    from landscape.analysis.noise import kicked_back

    w = DoubleWell(0.25)
    w.kicks = 4
    rng = np.random.default_rng(0)
    bad = np.array([w.x_bad])
    assert kicked_back(w, bad, float(w.loss(bad[None])[0]), rng)
    # a point on the slope above the bad minimum: every kick descends far below it
    slope = np.array([0.5])
    assert not kicked_back(w, slope, float(w.loss(slope[None])[0]), rng)
    # is_minimum asks the Hessian first, then the kicks, and remembers its judgement
    assert w.is_minimum(bad, float(w.loss(bad[None])[0]))
    assert len(w._kicked) == 1
    assert w.is_minimum(bad + 1e-9, float(w.loss(bad[None])[0]))
    assert len(w._kicked) == 1
