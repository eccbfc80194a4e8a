"""Sharpness along training: exact values, untouched training, and the verdicts."""

import numpy as np
import pytest
from fast import SETTINGS
from optuna.artifacts import FileSystemArtifactStore
from threadpoolctl import threadpool_limits

import landscape
from landscape import MLP, load_dataset, train
from landscape.analysis.sharpness import SHARPNESS_KINDS, read_sharpness
from landscape.hessian import hessian
from landscape.report import data
from landscape.runs import records


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
    assert read_sharpness(s, 0.1, res.status).kind == "below"  # r = 0.1·λ/2 ≈ 0.2


def test_progressive_sharpening_to_the_edge_of_stability():
    """Cohen et al. (2021): under full-batch GD with MSE, λ_max rises to 2/ε and hovers."""
    ds, model, theta0 = _friedman()
    with threadpool_limits(1):
        res = train(model, theta0, ds.X_train, ds.y_train, lr=0.5, epochs=3000, track_sharpness=30)
    s = res.history["sharpness"]
    reading = read_sharpness(s, 0.5, res.status)
    assert res.status == "budget"
    assert reading.kind == "edge of stability"
    assert reading.ratio_start < 0.8  # it started well below the limit ...
    assert reading.ratio_end == pytest.approx(1.0, abs=0.02)  # ... and ends at it
    assert reading.share_at_limit > 0.9
    # while the loss keeps falling, non-monotonically: the signature of the edge of stability
    loss = res.history["loss"]
    assert loss[-1] < 0.5 * loss[len(loss) // 4]
    assert (np.diff(loss) > 0).any()


@pytest.mark.parametrize(
    ("ratios", "status", "kind"),
    [
        ([0.1, 0.3, 0.5, 0.8], "budget", "below"),
        ([0.2, 0.6, 0.95, 1.02, 0.99, 1.01], "budget", "edge of stability"),
        ([2.0, 1.2, 0.5, 0.1], "budget", "catapult"),
        ([2.4, 1.01, 1.02, 1.03], "budget", "catapult, then edge of stability"),
        ([1.1, 1.0, 0.99, 1.01], "budget", "at the limit"),
        ([0.95, 0.6, 0.7], "budget", "fell below"),
        ([0.5, 3.0], "diverged", "diverged"),
        ([0.2, 1.5, 0.3, 1.6], "budget", "unsettled"),
    ],
)
def test_every_verdict_on_a_known_series(ratios, status, kind):
    lr = 0.25
    sharp = np.array(ratios) * 2 / lr
    sharp = np.r_[sharp, np.nan]  # unmeasured points are skipped
    reading = read_sharpness(sharp, lr, status)
    assert reading.kind == kind and kind in SHARPNESS_KINDS
    assert reading.ratio_start == pytest.approx(ratios[0])
    assert reading.ratio_max == pytest.approx(max(ratios))
    assert reading.measurements == len(ratios)


def test_no_measurement_is_refused():
    with pytest.raises(ValueError, match="no finite sharpness measurement"):
        read_sharpness(np.array([np.nan]), 0.1, "budget")


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
