"""The escape experiment: equal updates, ends classified where training ended, basins, verdict.

The problem with known spurious minima is Safran & Shamir's (seed 1.3) as a sample: the
population's spurious minima come from the closed form (landscape.analysis.spurious), and the
frozen student on a large sample has a minimum next to each.
"""

import math

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from landscape.analysis import spurious as ss
from landscape.analysis.escape import (
    basins,
    ended,
    split_minima,
    summarise,
    train_method,
)
from landscape.data import load_dataset
from landscape.model import MLP

FROZEN = {"W2": 1.0, "b1": 0.0, "b2": 0.0}


@pytest.fixture(scope="module")
def problem():
    """k = n = 8 on 4,000 samples, and one spurious minimum of the population loss."""
    d = k = n = 8
    X = load_dataset(
        "relu_teacher",
        rng=np.random.default_rng(0),
        val_fraction=0.0,
        n_samples=4000,
        n_features=d,
        n_teacher=k,
    )
    model = MLP([d, n, 1], "relu", "mse", FROZEN)
    W, _, _ = ss.gradient_descent(
        ss.init_students(np.random.default_rng(0), 12, n, d), ss.teacher(k, d), lr=0.5, steps=3000
    )
    E = ss.population_loss(W, ss.teacher(k, d))
    w = W[int(np.flatnonzero(E > 1e-3)[0])]  # start 9 of this seed: a spurious minimum

    def theta_of(weights):
        theta = model.freeze(np.zeros(model.n_params))
        model.layout.unravel(theta)[0][0][...] = weights.T
        return theta

    return model, X.X_train, X.y_train, theta_of(w), theta_of(ss.teacher(k, d))


def test_ends_are_classified_where_training_ended_and_basins_by_batch_gd(problem):
    model, X, y, spurious_pop, teacher = problem
    rng = np.random.default_rng(1)
    free = model.free
    with threadpool_limits(1):
        # the sample's own spurious minimum next to the population's, found by examining
        at_min = ended(model, spurious_pop[None], X, y)
        assert at_min["kind"][0] == "not_converged"  # the population minimum is ~1% away
        # from the sample's minimum itself: a minimum, where it is
        sample_min = at_min["theta"][0]
        here = ended(model, sample_min[None], X, y)
        assert here["kind"][0] == "minimum" and here["moved"][0] <= 1e-6
        E_sp = here["loss"][0]
        assert 0.015 < E_sp < 0.03
        assert split_minima(here["kind"], here["loss"], 0.0, 1e-3)[0] == "spurious"
        # 3% away from it (a noisy end point): not where a minimum is, so not_converged,
        # but batch GD from there goes back: its basin is that spurious minimum
        noise = rng.standard_normal(model.n_params) * model.embed(np.ones(model.n_free))
        noise *= 0.03 * np.linalg.norm(sample_min[free]) / np.linalg.norm(noise)
        ends = np.stack([sample_min + noise, teacher + noise])
        out = ended(model, ends, X, y)
        assert list(out["kind"]) == ["not_converged", "not_converged"]
        assert out["moved"][0] == pytest.approx(0.03, rel=0.2)
        basin, basin_loss = basins(
            model, ends, out["kind"], out["loss"], X, y, lr=0.5, epochs=3000, threshold=1e-3
        )
    # the same minimum or a neighbour of nearly its loss: on a sample, spurious minima come in
    # clusters (here GD from 3% away ends 1e-5 above it, relatively)
    assert basin[0] == "minimum" and basin_loss[0] == pytest.approx(E_sp, rel=1e-3)
    # near the teacher, E is below the threshold: GD cannot end at a spurious minimum from
    # there, whose loss lies above it
    assert basin[1] == "below_threshold" and basin_loss[1] <= 1e-3
    assert list(split_minima(basin, basin_loss, 0.0, 1e-3)) == ["spurious", "global"]


def test_every_method_makes_the_same_number_of_updates(problem):
    model, X, y, _, teacher = problem
    start = np.stack([model.freeze(np.zeros(model.n_params))] * 2)
    rng = np.random.default_rng(2)
    start[:, model.free] = rng.standard_normal((2, model.n_free)) / math.sqrt(8)
    epochs = {}
    with threadpool_limits(1):
        for batch in (None, 64, 7, 1):
            theta, status, ep, eps = train_method(
                model,
                start,
                X,
                y,
                batch=batch,
                decay=batch == 7,
                lr=0.5,
                sgd_lr=0.01,
                tau=100.0,
                updates=700,
                rng=np.random.default_rng(3),
            )
            epochs[batch] = (int(ep[0]), eps)
            assert np.isfinite(theta).all()
            assert (status == "budget").all() or batch is None  # GD may converge first
    # N = 4,000: GD one update an epoch; B = 64: 63 batches an epoch → 12 epochs (700 =
    # 11 · 63 + 7); B = 7: 572 an epoch → 2; B = 1: the first 700 samples of one epoch
    assert epochs.pop(None)[0] <= 700
    assert epochs == {64: (12, 0.25), 7: (2, 0.07), 1: (1, 0.01)}


def _part(label, batch, kinds, basins):
    n = len(kinds)
    return {
        "label": np.array(label),
        "batch": np.array(batch),
        "decay": np.array(False),
        "lr": np.array(0.1),
        "kind": np.array(kinds),
        "basin": np.array(basins),
        "train_loss": np.zeros(n),
        "epochs": np.full(n, 10),
    }


def test_unresolved_basins_widen_the_interval_and_escapes_are_counted():
    n = 100
    gd = _part("gd", 100, ["global"] * 70 + ["spurious"] * 30, ["global"] * 70 + ["spurious"] * 30)
    # B=8: 5 in spurious basins, 50 unresolved: could be anything from 5 to 55 of 100
    b8 = _part(
        "B=8",
        8,
        ["not_converged"] * 55 + ["global"] * 45,
        ["spurious"] * 5 + ["not_converged"] * 50 + ["global"] * 45,
    )
    # B=1: 5 in spurious basins, all resolved: clearly fewer than GD's 30
    b1 = _part("B=1", 1, ["global"] * 95 + ["spurious"] * 5, ["global"] * 95 + ["spurious"] * 5)
    esc = {
        "label": "B=1",
        "basin": np.array(["global"] * 3 + ["spurious"] * 4 + ["not_converged"]),
        "basin_loss": np.array([0.0] * 3 + [0.02, 0.02, 0.019, 0.021] + [np.nan]),
        "start_loss": np.full(8, 0.02),
    }
    rep = summarise(
        [gd, b8, b1],
        [esc],
        n_starts=n,
        updates=50,
        max_move=0.01,
        loss_threshold=1e-3,
        best_loss=0.0,
    )
    by = {m.method: m for m in rep.methods}
    assert (by["B=8"].basin_low, by["B=8"].basin_high) == (
        pytest.approx(ss.wilson(5, n)[0]),
        pytest.approx(ss.wilson(55, n)[1]),
    )
    assert by["B=8"].spurious == 0.0 and by["B=8"].basins["not_converged"] == 50
    assert {c["method"]: c["against_gd"] for c in rep.comparisons} == {
        "B=8": "overlap",
        "B=1": "lower",
    }
    assert rep.verdict == "holds" and "B=1" in rep.sentence and "B=8" not in rep.sentence
    (e,) = rep.escapes
    assert (e.runs, e.left, e.stayed, e.same, e.unresolved) == (8, 3, 4, 2, 1)
    assert (e.low, e.high) == pytest.approx(ss.wilson(3, 8))
