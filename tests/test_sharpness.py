"""Sharpness along training: exact values, untouched training, and the verdicts."""

import numpy as np
import pytest
from fast import SETTINGS
from optuna.artifacts import FileSystemArtifactStore
from threadpoolctl import threadpool_limits

import landscape
from landscape import MLP, load_dataset, train
from landscape.analysis.sharpness import SHARPNESS_KINDS, SPIKE, loss_spike, read_sharpness
from landscape.hessian import hessian
from landscape.report import data
from landscape.report.text import format_summary
from landscape.runs import records
from landscape.summary import summarize


def _friedman():
    ds = load_dataset("friedman1", rng=np.random.default_rng(0), n_samples=200)
    model = MLP(ds.sizes([32]), "tanh", "mse")
    return ds, model, model.init(np.random.default_rng(1))


def test_tracked_sharpness_is_the_exact_top_eigenvalue_and_leaves_training_untouched():
    ds, model, theta0 = _friedman()
    kw = dict(lr=0.5, epochs=60, X_val=ds.X_val, y_val=ds.y_val)
    with threadpool_limits(1):
        plain = train(model, theta0, ds.X_train, ds.y_train, **kw)
        tracked = train(model, theta0, ds.X_train, ds.y_train, track_sharpness=20, **kw)
        assert np.array_equal(plain.theta, tracked.theta)
        for key in ("loss", "val_loss", "grad_norm"):
            assert np.array_equal(plain.history[key], tracked.history[key])
        s = tracked.history["sharpness"]
        measured = np.flatnonzero(np.isfinite(s))
        # θ⁽⁰⁾, updates 1, 2, 4, 8, 16, 32 (doubling), then every 20
        assert tracked.history["updates"][measured].tolist() == [0, 1, 2, 4, 8, 16, 32, 52]
        for i in measured:
            u = int(tracked.history["updates"][i])
            theta = (
                theta0
                if u == 0
                else train(model, theta0, ds.X_train, ds.y_train, lr=0.5, epochs=u).theta
            )
            lam = np.linalg.eigvalsh(hessian(model, theta, ds.X_train, ds.y_train))[-1]
            assert s[i] == pytest.approx(lam, rel=1e-6)


def test_sharpness_on_a_quadratic_is_constant_and_exact():
    ds = load_dataset("diabetes", rng=np.random.default_rng(0))
    model = MLP(ds.sizes([]), "identity", "mse")
    A = np.c_[ds.X_train, np.ones(ds.n_train)]
    lam = np.linalg.eigvalsh(A.T @ A / ds.n_train)[-1]
    res = train(
        model,
        model.init(np.random.default_rng(1)),
        ds.X_train,
        ds.y_train,
        lr=0.1,
        epochs=50,
        track_sharpness=10,
    )
    s = res.history["sharpness"]
    assert np.allclose(s[np.isfinite(s)], lam, rtol=1e-9, atol=0)
    reading = read_sharpness(s, 0.1, res.status, res.history["loss"])
    assert reading.kind == "below"  # r = 0.1·λ/2 ≈ 0.2


def test_progressive_sharpening_to_the_edge_of_stability():
    """Cohen et al. (2021): under full-batch GD with MSE, λ_max rises to 2/ε and hovers."""
    ds, model, theta0 = _friedman()
    with threadpool_limits(1):
        res = train(model, theta0, ds.X_train, ds.y_train, lr=0.5, epochs=3000, track_sharpness=30)
    s = res.history["sharpness"]
    reading = read_sharpness(s, 0.5, res.status, res.history["loss"])
    assert res.status == "budget"
    assert reading.kind == "edge of stability"
    assert reading.ratio_start < 0.8  # it started well below the limit ...
    assert reading.ratio_end == pytest.approx(1.0, abs=0.02)  # ... and ends at it
    assert reading.share_at_limit > 0.9
    # while the loss keeps falling, non-monotonically: the signature of the edge of stability
    loss = res.history["loss"]
    assert loss[-1] < 0.5 * loss[len(loss) // 4]
    assert (np.diff(loss) > 0).any()


def _uv(u: float, v: float) -> tuple[MLP, np.ndarray]:
    """Lewkowycz et al.'s uv model: f = u·v on one input x = 1, target 0, no biases."""
    model = MLP([1, 1, 1], "identity", "mse", frozen={"b1": 0.0, "b2": 0.0})
    theta = model.init(np.random.default_rng(0))
    theta[model.layout.block("W1")] = u
    theta[model.layout.block("W2")] = v
    return model, theta


def _uv_run(r0: float, epochs: int = 200):
    """The uv model from (u, v) = (2, 0.3), where λ_max(θ⁽⁰⁾) = 4.339, at ε = r0 · 2/λ_max."""
    model, theta = _uv(2.0, 0.3)
    X, y = np.ones((1, 1)), np.zeros(1)
    lam0 = np.linalg.eigvalsh(hessian(model, theta, X, y))[-1]
    lr = r0 * 2.0 / lam0
    res = train(model, theta, X, y, lr=lr, epochs=epochs, track_sharpness=1)
    return lam0, lr, res


def test_uv_model_starts_where_its_hessian_says():
    # E = ½(uv)², H = [[v², 2uv], [2uv, u²]] at f = uv: at (2, 0.3), [[0.09, 1.2], [1.2, 4]]
    lam0, _, _ = _uv_run(1.0, epochs=1)
    assert lam0 == pytest.approx((4.09 + np.sqrt(3.91**2 + 4 * 1.44)) / 2, rel=1e-12)


def test_catapult_on_the_uv_model_is_a_loss_spike_while_the_sharpness_falls():
    """Lewkowycz et al. (2020): 2/λ < ε, the loss grows, λ falls below 2/ε, the loss falls."""
    _, lr, res = _uv_run(1.5)
    loss, s = res.history["loss"], res.history["sharpness"]
    reading = read_sharpness(s, lr, res.status, loss)
    assert res.status == "converged" and reading.kind == "catapult"
    # the loss rises from ½·0.6² = 0.18 for two updates, then falls to rounding
    assert loss[0] == pytest.approx(0.18)
    assert loss[1] > loss[0] and loss[2] > loss[1] and loss[2] > 3.5 * loss[0]
    assert loss[-1] < 1e-20
    # … while λ_max falls from 1.5 × 2/ε to 0.2 × 2/ε
    assert reading.ratio_start == pytest.approx(1.5)
    assert reading.ratio_end == pytest.approx(0.2, abs=0.01)
    assert reading.loss_spike == pytest.approx(loss[2] / loss[0]) and reading.loss_spike > SPIKE


@pytest.mark.parametrize(
    ("r0", "status", "kind"),
    [(0.8, "converged", "below"), (2.5, "diverged", "diverged")],
)
def test_uv_model_below_the_limit_and_far_above_it(r0, status, kind):
    lam0, lr, res = _uv_run(r0)
    reading = read_sharpness(res.history["sharpness"], lr, res.status, res.history["loss"])
    assert res.status == status and reading.kind == kind
    assert reading.ratio_start == pytest.approx(r0)


def test_flattening_without_a_loss_spike_is_no_catapult():
    """digits, 8 tanh units, ε = 2 · 2/λ_max(θ⁽⁰⁾): λ_max falls below 2/ε, E only falls."""
    ds = load_dataset("digits", rng=np.random.default_rng(0))
    model = MLP(ds.sizes([8]), "tanh", "cross_entropy")
    theta0 = model.init(np.random.default_rng(1))
    lam0 = np.linalg.eigvalsh(hessian(model, theta0, ds.X_train, ds.y_train))[-1]
    lr = 2 * 2 / lam0
    with threadpool_limits(1):
        res = train(model, theta0, ds.X_train, ds.y_train, lr=lr, epochs=40, track_sharpness=10)
    loss = res.history["loss"]
    reading = read_sharpness(res.history["sharpness"], lr, res.status, loss)
    assert reading.kind == "flattened"
    assert (np.diff(loss) <= 0).all()  # monotone: no spike at all
    assert reading.loss_spike == 1.0
    assert reading.ratio_start == pytest.approx(2.0) and reading.ratio_end < 0.85


@pytest.mark.parametrize(
    ("r0", "kind", "spiked"),
    [
        (1.2, "flattened, then edge of stability", False),
        (1.5, "catapult, then edge of stability", True),
    ],
)
def test_from_above_the_limit_to_the_edge_of_stability(r0, kind, spiked):
    """friedman1, 16 tanh units (MSE): λ_max starts above 2/ε, comes down to it and hovers."""
    ds = load_dataset("friedman1", rng=np.random.default_rng(0), n_samples=100)
    model = MLP(ds.sizes([16]), "tanh", "mse")
    theta0 = model.init(np.random.default_rng(1))
    lam0 = np.linalg.eigvalsh(hessian(model, theta0, ds.X_train, ds.y_train))[-1]
    lr = r0 * 2 / lam0
    with threadpool_limits(1):
        res = train(model, theta0, ds.X_train, ds.y_train, lr=lr, epochs=200, track_sharpness=20)
    reading = read_sharpness(res.history["sharpness"], lr, res.status, res.history["loss"])
    assert res.status == "budget" and reading.kind == kind
    assert reading.ratio_end == pytest.approx(1.0, abs=0.1)
    assert (reading.loss_spike > SPIKE) is spiked


@pytest.mark.parametrize(
    ("ratios", "loss", "status", "kind"),
    [
        ([0.1, 0.3, 0.5, 0.8], [4, 3, 2, 1], "budget", "below"),
        ([0.2, 0.6, 0.95, 1.02, 0.99, 1.01], [6, 5, 4, 3, 3.5, 2], "budget", "edge of stability"),
        ([2.0, 1.2, 0.5, 0.1], [1, 3, 0.5, 0.1], "budget", "catapult"),
        ([2.0, 1.2, 0.5, 0.1], [1, 0.9, 0.5, 0.1], "budget", "flattened"),
        ([2.4, 1.01, 1.02, 1.03], [1, 2, 0.5, 0.6], "budget", "catapult, then edge of stability"),
        (
            [2.4, 1.01, 1.02, 1.03],
            [1, 0.5, 0.4, 0.6],
            "budget",
            "flattened, then edge of stability",
        ),
        ([1.1, 1.0, 0.99, 1.01], [4, 3, 3.3, 2], "budget", "at the limit"),
        ([0.95, 0.6, 0.7], [3, 2, 1], "budget", "fell below"),
        ([0.5, 3.0], [1, 30], "diverged", "diverged"),
        ([0.2, 1.5, 0.3, 1.6], [4, 3, 2, 1], "budget", "unsettled"),
    ],
)
def test_every_verdict_on_a_known_series(ratios, loss, status, kind):
    lr = 0.25
    sharp = np.array(ratios) * 2 / lr
    sharp = np.r_[sharp, np.nan]  # unmeasured points are skipped
    reading = read_sharpness(sharp, lr, status, np.r_[loss, loss[-1]])
    assert reading.kind == kind and kind in SHARPNESS_KINDS
    assert reading.ratio_start == pytest.approx(ratios[0])
    assert reading.ratio_max == pytest.approx(max(ratios))
    assert reading.measurements == len(ratios)


def test_a_loss_rise_after_the_sharpness_came_down_is_no_catapult():
    # the rise at the third row comes after r fell to 1.1 (inside the band) at the second
    sharp = np.array([2.0, 1.1, 0.5, 0.1]) * 2 / 0.25
    reading = read_sharpness(sharp, 0.25, "budget", np.array([1.0, 0.9, 1.5, 0.1]))
    assert reading.kind == "flattened" and reading.loss_spike == 1.0


def test_the_spike_is_read_from_every_row_not_only_the_measured_ones():
    # λ_max measured at rows 0 and 3 only; the loss spiked at row 2, between them
    sharp = np.array([2.0, np.nan, np.nan, 0.5]) * 2 / 0.25
    reading = read_sharpness(sharp, 0.25, "budget", np.array([1.0, 0.8, 2.4, 0.7]))
    assert reading.kind == "catapult" and reading.loss_spike == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("loss", "spike"),
    [([3, 2, 1], 1.0), ([1, 2, 0.5], 2.0), ([1, 0.5, 0.75, 0.1, 0.3], 3.0), ([2], 1.0)],
)
def test_loss_spike_is_the_largest_rise_above_the_lowest_loss_so_far(loss, spike):
    assert loss_spike(np.array(loss, dtype=float)) == pytest.approx(spike)


def test_loss_and_sharpness_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="one entry of each per history row"):
        read_sharpness(np.array([1.0, 2.0]), 0.1, "budget", np.array([1.0]))


def test_no_measurement_is_refused():
    with pytest.raises(ValueError, match="no finite sharpness measurement"):
        read_sharpness(np.array([np.nan]), 0.1, "budget", np.array([1.0]))


def test_a_search_tracks_its_representative_runs_and_stores_them(workdir):
    run = landscape.run_study(
        "lr_search",
        storage="s.db",
        overrides=[*SETTINGS, "search.lr.high=1e4", "study.track_sharpness=10"],
        n_trials=8,
        report=False,
    )
    runs = run.summary.sharpness
    roles = [r["role"] for r in runs]
    assert roles[0] == "best" and "smallest diverged ε" in roles
    assert len({r["trial"] for r in runs}) == len(runs)
    assert all(r["kind"] in SHARPNESS_KINDS for r in runs)
    assert records.sharpness(run.study) == runs
    store = FileSystemArtifactStore(str(workdir / "artifacts"))
    tracked = data.sharpness_runs(run.study, store)
    assert [t.trial for t in tracked] == [r["trial"] for r in runs]
    best = tracked[0]
    assert len(best.sharpness) == runs[0]["measurements"]
    every = runs[0]["every"]
    assert best.updates[0] == 0 and (np.diff(best.updates) <= every).all()
    assert (np.diff(best.updates)[-3:] == every).all()  # doubling first, then every k
    assert "sharpness along representative runs" in run.text


def test_tracking_is_off_with_zero(workdir):
    run = landscape.run_study(
        "lr_search",
        storage="s.db",
        overrides=[*SETTINGS, "study.track_sharpness=0"],
        n_trials=3,
        report=False,
    )
    assert run.summary.sharpness == [] and records.sharpness(run.study) == []


def test_a_trial_asked_to_track_sharpness_stores_every_measurement(workdir):
    run = landscape.run_study(
        "lr_search",
        storage="s.db",
        overrides=[*SETTINGS, "trainer.track_sharpness=5"],
        n_trials=2,
        report=False,
    )
    store = FileSystemArtifactStore(run.artifacts)
    for t in run.study.trials:
        h = records.history(t, store)
        assert h["sharpness_updates"][:4] == [0, 1, 2, 4]
        assert len(h["sharpness"]) == len(h["sharpness_updates"])
        assert all(v > 0 for v in h["sharpness"])


@pytest.mark.parametrize(
    ("kind", "spike", "words"),
    [
        ("catapult", 3.65, "the loss rose to 3.65× its lowest so far before λ_max came down"),
        ("flattened", 1.0, "the loss never rose before λ_max came down"),
    ],
)
def test_the_summary_says_whether_the_loss_spiked(kind, spike, words):
    run = {
        "trial": 3,
        "role": "best",
        "lr": 0.5,
        "status": "converged",
        "regime": "unstable at θ⁽⁰⁾",
        "every": 10,
        "kind": kind,
        "ratio_start": 1.5,
        "ratio_max": 1.5,
        "ratio_end": 0.2,
        "share_at_limit": 0.0,
        "measurements": 9,
        "loss_spike": spike,
    }
    text = format_summary(summarize([], "minimize", sharpness=[run]), "val_loss")
    assert (
        f"trial 3 (best, ε=0.5, unstable at θ⁽⁰⁾, converged): {kind}; r 1.5 at the start, max "
        f"1.5, 0.2 at the end; {words}" in text
    )
