"""The census of minima over widths (kind ``minima_census``): seed 1.2 as a measurement.

Each width's census must be exactly the minima analysis of the same spec at that width; the
accumulation curve and Chao1's interval are checked against direct computations and against
sampling from populations whose number of classes is known.
"""

import json
import math
import re

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from landscape.analysis import census, minima
from landscape.analysis.census import CensusConfig, accumulation
from landscape.analysis.minima import chao1, chao1_interval
from landscape.hessian import hessian
from landscape.runs.problem import prepare
from landscape.spec import SpecError, find_spec, parse_spec
from landscape.study import main

SMALL = [
    "analysis.widths=[1, 2]",
    "analysis.n_starts=10",
    "analysis.chunk=5",
    "analysis.engine=numpy",
    "data.options.n_samples=40",
    "data.options.hidden=[2]",
    "trainer.epochs=300",
]


def xy(problem):
    return problem.data.X_train, problem.data.y_train


def _problem(name, overrides):
    return prepare(parse_spec(name, find_spec(name)[1], overrides))


# ------------------------------------------------------------------ units and the spec
def test_units_cover_every_width_and_chunk_once():
    config = CensusConfig(widths=(3, 1, 5), n_starts=10, chunk=4)
    assert census.KIND.n_units(config) == 9
    got = [config.unit(i) for i in range(9)]
    assert got == [(w, c) for w in (3, 1, 5) for c in range(3)]


def test_the_shipped_spec_asks_for_the_issue_s_census():
    spec = parse_spec("minima_census", find_spec("minima_census")[1], [])
    a = spec.analysis
    assert a.widths == (1, 2, 3, 4, 5, 6) and a.n_starts >= 4000
    assert tuple(spec.model.hidden) == (6,) and list(spec.data.options["hidden"]) == [6]


@pytest.mark.parametrize(
    "override, message",
    [
        ("analysis.widths=[1, 2, 2]", "analysis.widths: 2 listed twice; list each once"),
        ("analysis.widths=[]", "analysis.widths must list at least one hidden width"),
        ("analysis.widths=[0, 1]", "analysis.widths: 0 must lie in [1, 64] (hidden units"),
        ("model.hidden=[3, 3]", "has 2 hidden layers; the census varies the width of one"),
    ],
)
def test_bad_census_settings_are_refused_in_one_line(override, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        _problem("minima_census", [override])


def test_bad_census_settings_exit_2_from_the_cli_and_write_nothing(tmp_path, capsys):
    code = main(
        ["minima_census", "--storage", str(tmp_path / "c.db"), "--set", "analysis.widths=[2,2]"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "listed twice" in err[0]
    assert not (tmp_path / "c.db").exists()


# ------------------------------------------------------------------ a width is a minima study
def test_each_width_is_exactly_the_minima_analysis_at_that_width():
    with threadpool_limits(1):
        p = _problem("minima_census", SMALL)
        config = p.spec.analysis
        parts = [census.run_unit(p.inputs, config, i) for i in range(census.KIND.n_units(config))]
        report, arrays = census.finish(p.inputs, config, parts)
        for width in (1, 2):
            # the minima kind on the same spec with model.hidden = [width]
            q = _problem(
                "minima",
                [
                    *[o for o in SMALL if not o.startswith("analysis.widths")],
                    f"model.hidden=[{width}]",
                    "data.options.n_features=2",
                    "data.val_fraction=0.0",
                    'data.options.activation="tanh"',
                ],
            )
            mc = q.spec.analysis
            own = [minima.run_chunk(q.inputs, mc, c) for c in range(2)]
            rep, points = minima.finish_census(q.inputs, mc, own)
            np.testing.assert_array_equal(arrays[f"w{width}_theta0"], points["theta0"])
            np.testing.assert_array_equal(arrays[f"w{width}_theta"], points["theta"])
            np.testing.assert_array_equal(arrays[f"w{width}_kind"], points["kind"])
            w = report.widths[(1, 2).index(width)]
            assert w.width == width and w.n_starts == 10
            assert w.distinct_minima == rep.distinct_minima
            assert w.kind_counts == rep.kind_counts
            assert w.losses == tuple(m.loss for m in rep.minima)
            assert w.transpositions == math.comb(width, 2)
            assert w.group_size == math.factorial(width) * 2**width  # tanh: with sign flips
            # GD-stable: ε·λ_max < 2, λ_max from numpy.linalg on the representative's Hessian
            for m, ok in zip(rep.minima, w.gd_stable, strict=True):
                lam = np.linalg.eigvalsh(
                    hessian(q.inputs.model(), np.array(m.representative), *xy(q))
                ).max()
                assert ok == (q.spec.trainer.lr * lam < 2.0)
            assert w.accumulation.starts[-1] == 10
            assert w.accumulation.distinct[-1] == rep.distinct_minima


def test_a_census_runs_from_the_cli_with_its_report_and_json(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["minima_census", "--storage", "c.db", "--no-progress"]
    sets = [x for o in SMALL for x in ("--set", o)]
    with threadpool_limits(1):
        assert main([*args, *sets, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rep = out["minima_census"]
    assert [w["width"] for w in rep["widths"]] == [1, 2]
    assert sum(sum(w["kind_counts"].values()) == 10 for w in rep["widths"]) == 2
    page = (tmp_path / "reports" / "minima_census" / "index.html").read_text()
    assert "census.png" in page and "Isolated minima modulo symmetry, per hidden width" in page
    assert (tmp_path / "reports" / "minima_census" / "census.png").stat().st_size > 10_000
    # the terminal text: a row per width with the seed's count beside the group's
    assert main([*args, *sets]) == 0
    text = capsys.readouterr().out
    rows = [line.split() for line in text.splitlines() if line.split()[:1] in (["1"], ["2"])]
    assert [(r[0], r[1]) for r in rows] == [("1", "10"), ("2", "10")]
    assert [r[-6:-4] for r in rows] == [["0", "2"], ["1", "8"]]  # ∏C(d,2), ∏d!·2^d
    assert all(r[-2] == "of" for r in rows)  # GD-stable: "k of n"


# ------------------------------------------------------------------ accumulation and Chao1
def test_the_accumulation_curve_matches_a_direct_count():
    rng = np.random.default_rng(5)
    n_minima = 7
    # classes 0..6 are minima, 7..9 other kinds, -1 unresolved
    weights = np.array([5, 30, 20, 10, 5, 2, 0.5, 0.2, 10, 10, 7])  # rare minima: singletons
    point_class = rng.choice(np.arange(-1, 10), size=500, p=weights / weights.sum())
    acc = accumulation(point_class, n_minima)
    assert acc.starts[0] == 1 and acc.starts[-1] == 500 and len(acc.starts) <= 60
    for n, seen, est, lo, hi in zip(
        acc.starts, acc.distinct, acc.chao1, acc.low, acc.high, strict=True
    ):
        head = [c for c in point_class[:n] if 0 <= c < n_minima]
        assert seen == len(set(head))
        sizes = np.array([head.count(c) for c in set(head)])
        f1, f2 = int((sizes == 1).sum()), int((sizes == 2).sum())
        expect = seen + (f1 * f1 / (2 * f2) if f2 else f1 * (f1 - 1) / 2)
        assert est == pytest.approx(expect, rel=1e-15)
        assert lo <= est <= hi and lo >= seen


def test_chao1_interval_matches_chao_s_formula_by_hand():
    # f1 = 3, f2 = 2, S_obs = 7: Ŝ = 7 + 9/4 = 9.25, var = 2 (1.5²/2 + 1.5³ + 1.5⁴/4)
    sizes = np.array([1, 1, 1, 2, 2, 5, 9])
    var = 2 * (1.5**2 / 2 + 1.5**3 + 1.5**4 / 4)
    k = math.exp(1.959963984540054 * math.sqrt(math.log(1 + var / 2.25**2)))
    lo, hi = chao1_interval(sizes)
    assert lo == pytest.approx(7 + 2.25 / k, rel=1e-12)
    assert hi == pytest.approx(7 + 2.25 * k, rel=1e-12)
    # nothing seen once: no unseen class is indicated, the interval hugs S_obs
    lo, hi = chao1_interval(np.array([40, 50, 60]))
    assert lo == 3 and hi == pytest.approx(3, abs=1e-6)


def test_chao1_interval_covers_the_true_number_of_classes():
    # Populations with a known number of classes S, sampled as a census samples its minima:
    # the 95% interval must cover S in most samples (Chao 1987 reports ~90–95% coverage for
    # moderately uneven abundances once f2 > 0).
    rng = np.random.default_rng(11)
    S = 40
    p = rng.gamma(2.0, size=S)
    p /= p.sum()
    cover, wide = 0, []
    trials = 400
    for _ in range(trials):
        counts = np.bincount(rng.choice(S, size=120, p=p), minlength=S)
        lo, hi = chao1_interval(counts)
        cover += lo <= S <= hi
        wide.append(hi - lo)
        assert chao1(counts).observed <= lo
    assert cover / trials >= 0.85, cover / trials
    assert np.median(wide) < S  # and it says something
