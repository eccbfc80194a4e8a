import pytest

from landscape.report.text import format_summary
from landscape.summary import TrialRecord, regime_of, summarize


def _recs():
    rows = [  # (number, lr, status, value)
        (0, 1e-5, "stalled", 2.3),
        (1, 3e-5, "stalled", 2.29),
        (2, 1e-3, "budget", 1.1),
        (3, 0.1, "converged", 0.2),
        (4, 0.3, "converged", 0.15),
        (5, 0.5, "pruned", None),
        (6, 2.0, "converged", 0.18),
        (7, 30.0, "diverged", None),
        (8, 90.0, "diverged", None),
    ]
    return [TrialRecord(n, lr, s, v, {"lr": lr}) for n, lr, s, v in rows]


def test_summary_one_row_per_regime_and_pruned_trials_apart():
    s = summarize(reversed(_recs()), "minimize")
    got = [(r.name, r.lr_low, r.lr_high, r.count, r.status_counts) for r in s.regimes]
    assert got == [
        ("too small", 1e-5, 3e-5, 2, {"stalled": 2}),
        ("converging", 1e-3, 2.0, 4, {"budget": 1, "converged": 3}),
        ("diverging", 30.0, 90.0, 2, {"diverged": 2}),
    ]
    assert not any(r.interleaved for r in s.regimes)
    # a pruned trial whose curve was improving (or unknown) sits in the converging regime
    assert [(r.name, r.lr_low, r.count) for r in s.pruned] == [("converging", 0.5, 1)]
    assert s.status_counts == {
        "stalled": 2,
        "budget": 1,
        "converged": 3,
        "pruned": 1,
        "diverged": 2,
    }
    assert s.n_trials == 9


def test_summary_unstable_at_the_start_is_above_its_limit_without_divergence():
    s = summarize(_recs(), "minimize", lambda_max_init=8.0)  # 2/λ_max(θ⁽⁰⁾) = 0.25
    got = [(r.name, r.lr_low, r.lr_high, r.count) for r in s.regimes]
    assert got == [
        ("too small", 1e-5, 3e-5, 2),
        ("converging", 1e-3, 0.1, 2),
        ("unstable at θ⁽⁰⁾", 0.3, 2.0, 2),
        ("diverging", 30.0, 90.0, 2),
    ]
    assert [(r.name, r.count) for r in s.pruned] == [("unstable at θ⁽⁰⁾", 1)]
    # both tables hold the regime; what it means is said once, below them
    text = format_summary(s, "val_loss").splitlines()
    notes = [i for i, line in enumerate(text) if line.startswith("  (unstable at θ⁽⁰⁾: ε above")]
    pruned_table = text.index("pruned trials, by the regime their curve was in when pruned:")
    assert len(notes) == 1 and notes[0] == pruned_table + 2


@pytest.mark.parametrize(
    ("where", "regime"),
    [
        ("rising", "diverging"),
        ("stalled", "too small"),
        ("improving", "converging"),
        (None, "converging"),
    ],
)
def test_a_pruned_trial_takes_the_regime_its_curve_was_in(where, regime):
    rec = TrialRecord(0, 0.01, "pruned", None, {"lr": 0.01}, pruned_while=where)
    assert regime_of(rec) == regime
    s = summarize([rec], "minimize")
    assert s.regimes == [] and [r.name for r in s.pruned] == [regime]


def test_regimes_that_interleave_in_lr_say_so():
    recs = [*_recs(), TrialRecord(9, 0.2, "stalled", 2.2, {"lr": 0.2})]
    s = summarize(recs, "minimize")
    flags = {r.name: r.interleaved for r in s.regimes}
    assert flags == {"too small": True, "converging": True, "diverging": False}
    assert "interleaved with another regime" in format_summary(s, "val_loss")


def test_summary_best_and_boundary():
    s = summarize(_recs(), "minimize", lambda_max=4.0, lambda_max_init=8.0)
    assert (s.best.number, s.best.value) == (4, 0.15)
    assert s.best_converged.number == 4
    assert (s.largest_stable_lr, s.smallest_diverged_lr) == (2.0, 30.0)
    assert s.stability_limit == 0.5 and s.stability_limit_init == 0.25
    assert summarize(_recs(), "maximize").best.number == 0


def test_pruned_trials_are_no_evidence_for_the_boundary():
    recs = [*_recs(), TrialRecord(9, 10.0, "pruned", None, {"lr": 10.0})]
    s = summarize(recs, "minimize")
    assert (s.largest_stable_lr, s.smallest_diverged_lr) == (2.0, 30.0)


def test_the_best_converged_trial_is_not_a_budget_ended_one():
    recs = [
        r if r.number != 2 else TrialRecord(2, 1e-3, "budget", 0.01, {"lr": 1e-3}) for r in _recs()
    ]
    s = summarize(recs, "minimize", lambda_max_init=8.0)
    assert s.best.number == 2 and s.best_converged.number == 4
    none = [r for r in recs if r.status != "converged"]
    s = summarize(none, "minimize", lambda_max_init=8.0)
    assert s.best_converged is None and s.stability_limit is None
    assert "no trial converged, so no stability limit at a solution" in format_summary(s, "x")


def test_summary_to_dict_and_text():
    s = summarize(_recs(), "minimize", lambda_max=4.0)
    d = s.to_dict()
    assert d["stability_limit"] == 0.5 and d["stability_limit_init"] is None
    assert d["regimes"][0]["meaning"].startswith("the loss barely moved")
    assert d["pruned"][0]["name"] == "converging"
    text = format_summary(s, "val_loss", "header")
    assert "best: trial 4, val_loss=0.15 at ε=0.3" in text
    assert "largest stable ε 2, smallest diverged ε 30" in text
    assert "at the best converged solution (trial 4): 2/λ_max = 0.5" in text
    assert "  too small         ε     1e-05 … 3e-05      2 (stalled 2)" in text


def test_summary_of_nothing():
    s = summarize([], "minimize")
    assert s.best is None and s.regimes == [] and s.stability_limit is None
    assert "0 finished trials: none" in format_summary(s, "val_loss")


@pytest.mark.parametrize("lam", [None, 0.0, -1.0])
def test_summary_no_stability_limit_without_positive_curvature(lam):
    s = summarize(_recs(), "minimize", lambda_max=lam)
    assert s.stability_limit is None and s.lambda_max == lam
    assert (s.largest_stable_lr, s.smallest_diverged_lr) == (2.0, 30.0)  # the boundary stays


def test_summary_breaks_down_by_a_categorical_parameter():
    rows = [
        (0, 0.1, 1, "converged", 0.3),
        (1, 5.0, 1, "diverged", None),
        (2, 0.5, 32, "budget", 0.2),
        (3, 50.0, 32, "diverged", None),
        (4, 2.0, 32, "converged", 0.1),
        (5, 0.01, 4, "stalled", 0.9),
    ]
    recs = [TrialRecord(n, lr, s, v, {"lr": lr, "batch_size": b}) for n, lr, b, s, v in rows]
    s = summarize(recs, "minimize", by=["batch_size"])
    got = [
        (
            g.value,
            g.count,
            g.best.number if g.best else None,
            g.largest_stable_lr,
            g.smallest_diverged_lr,
        )
        for g in s.groups
    ]
    assert got == [(1, 2, 0, 0.1, 5.0), (4, 1, 5, 0.01, None), (32, 3, 4, 2.0, 50.0)]
    text = format_summary(s, "val_loss")
    assert "by batch_size:" in text and "ε regimes" not in text
    assert (
        " 1:  2 trials (converged 1, diverged 1); best val_loss=0.3 at ε=0.1; diverged from"
        " ε=5" in text
    )
