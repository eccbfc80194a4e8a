"""The compiled engine (JAX) against the NumPy reference of train_many, and its loss against
the model's own.

Every case starts the same θ⁽⁰⁾ on both engines and asks for the same θ to rounding (1e-12
relative), the same status and the same epoch count for every start: converged, diverged (at
the same epoch) and budget; tanh, relu, sigmoid and identity; MSE and cross-entropy; frozen
blocks; schedules, including one that decays to ε = 0.
"""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from landscape import engine
from landscape.data import load_dataset
from landscape.model import MLP
from landscape.train import train_many

RTOL = 1e-12


def _teacher(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    return X, np.tanh(X @ np.array([1.5, -2.0])) + 0.3 * np.tanh(X @ np.array([-1.0, 0.5]))


def _moons(n=150):
    d = load_dataset("moons", rng=np.random.default_rng(0), n_samples=n)
    return d.X_train, d.y_train


def _agree(model, X, y, K=24, seed=1, **kwargs):
    thetas = model.init(np.random.default_rng(seed), k=K)
    with threadpool_limits(1):
        a = train_many(model, thetas, X, y, **kwargs)
        b = train_many(model, thetas, X, y, engine="jax", **kwargs)
    assert a.status.tolist() == b.status.tolist()
    assert a.epochs.tolist() == b.epochs.tolist()
    scale = np.maximum(np.abs(a.theta).max(axis=1, keepdims=True), 1.0)
    ok = np.isfinite(a.theta).all(axis=1)
    assert np.abs(a.theta - b.theta)[ok].max() <= RTOL * scale[ok].max()
    fin = np.isfinite(a.loss)
    np.testing.assert_allclose(b.loss[fin], a.loss[fin], rtol=RTOL, atol=1e-300)
    assert np.array_equal(np.isnan(a.grad_norm), np.isnan(b.grad_norm))
    g = ~np.isnan(a.grad_norm)
    np.testing.assert_allclose(b.grad_norm[g], a.grad_norm[g], rtol=1e-9, atol=1e-15)
    return a


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "identity"])
def test_engine_mse_agrees_with_numpy(activation):
    X, y = _teacher()
    a = _agree(MLP([2, 4, 1], activation, "mse"), X, y, lr=0.3, epochs=400, check_every=10)
    assert len(a.status) == 24


def test_engine_cross_entropy_two_hidden_layers_agrees():
    X, y = _moons()
    _agree(MLP([2, 6, 5, 2], "tanh", "cross_entropy"), X, y, lr=0.1, epochs=300)


def test_engine_differences_grow_only_where_gd_itself_is_unstable():
    # At ε = 0.5 one start of this net oscillates at the edge of stability: GD amplifies any
    # rounding difference by ~20x per 10 updates (1e-15 at update 230, 2e-6 at 300) on both
    # engines alike. Below the edge (ε = 0.1) the same starts agree to 1e-15 for 300 updates.
    X, y = _moons()
    model = MLP([2, 6, 5, 2], "tanh", "cross_entropy")
    theta = model.init(np.random.default_rng(1), k=24)[6:7]
    gaps = []
    for epochs in (200, 250, 300):
        a = train_many(model, theta, X, y, lr=0.5, epochs=epochs)
        b = train_many(model, theta, X, y, lr=0.5, epochs=epochs, engine="jax")
        gaps.append(np.abs(a.theta - b.theta).max())
        assert b.loss[0] == pytest.approx(a.loss[0], rel=1e-6)
    assert gaps[0] < 1e-13 and gaps[2] > 1e3 * gaps[1] > 1e3 * gaps[0]


def test_engine_converged_starts_leave_at_the_same_epoch():
    X, y = _teacher()
    # a linear model converges to θ* well inside the budget: statuses converged, epochs equal
    # (a tolerance above rounding: "θ unchanged to 8 ulp", the default, is met at an epoch
    # that rounding itself decides, 70 on one engine and 77 on the other for one start)
    kw = {"lr": 0.5, "epochs": 5000, "check_every": 7, "atol": 1e-10, "rtol": 0.0}
    a = _agree(MLP([2, 1], "identity", "mse"), X, y, **kw)
    assert set(a.status) == {"converged"} and a.epochs.max() < 5000
    kw |= {"atol": 0.0, "rtol": 8 * np.finfo(float).eps}
    thetas = MLP([2, 1], "identity", "mse").init(np.random.default_rng(1), k=24)
    a = train_many(MLP([2, 1], "identity", "mse"), thetas, X, y, **kw)
    b = train_many(MLP([2, 1], "identity", "mse"), thetas, X, y, engine="jax", **kw)
    assert set(a.status) == set(b.status) == {"converged"}
    assert np.abs(a.theta - b.theta).max() < 1e-13
    assert np.abs(a.epochs - b.epochs).max() <= 14  # two checks of 7 updates


def test_engine_divergence_at_the_same_epoch_with_theta_before_the_step():
    X, y = _teacher()
    # ε far above 2/λ_max for some starts: they diverge, the others run
    a = _agree(MLP([2, 3, 1], "tanh", "mse"), X, y, K=32, lr=4.0, epochs=200, check_every=10)
    assert "diverged" in set(a.status)
    assert np.all(a.epochs[a.status == "diverged"] < 200)


def test_engine_frozen_blocks_stay_put():
    X, y = _teacher()
    model = MLP([2, 4, 1], "relu", "mse", frozen={"W2": 1.0, "b1": 0.0, "b2": 0.0})
    thetas = model.init(np.random.default_rng(3), k=8)
    res = train_many(model, thetas, X, y, lr=0.05, epochs=200, engine="jax")
    frozen = np.setdiff1d(np.arange(model.n_params), model.free)
    assert np.array_equal(res.theta[:, frozen], thetas[:, frozen])
    _agree(model, X, y, K=8, seed=3, lr=0.05, epochs=200)


@pytest.mark.parametrize(
    ("schedule", "params"),
    [("cosine", {"period": 150, "final_ratio": 0.0}), ("step", {"step_size": 40, "gamma": 0.5})],
)
def test_engine_schedules_agree(schedule, params):
    X, y = _teacher()
    a = _agree(
        MLP([2, 4, 1], "tanh", "mse"),
        X,
        y,
        lr=0.4,
        epochs=200,
        schedule=schedule,
        schedule_params=params,
    )
    if schedule == "cosine":  # ε reached 0: no start is called converged
        assert "converged" not in set(a.status)


def test_engine_loss_is_the_models_loss():
    X, y = _moons(80)
    for model in (MLP([2, 5, 3], "sigmoid", "cross_entropy"), MLP([2, 5, 2], "relu", "mse")):
        t = model.targets(y, len(X))
        f = engine.loss_function(model)
        for theta in model.init(np.random.default_rng(0), k=4):
            assert float(f(theta, X, t)) == pytest.approx(model.loss(theta, X, y), rel=1e-14)


def test_engine_names_are_checked():
    with pytest.raises(ValueError, match=r"engine='gpu' is unknown; allowed: auto, numpy, jax"):
        engine.resolve("gpu", full_batch=True)
    with pytest.raises(ValueError, match="runs full-batch gradient descent only"):
        engine.resolve("jax", full_batch=False)
    assert engine.resolve("auto", full_batch=False) == "numpy"
    assert engine.resolve("auto", full_batch=True) == "jax"  # installed with [test]


# ------------------------------------------------------------------ Newton on the engine
def _ends(model, X, y, K=16, seed=3, epochs=1500, lr=0.3):
    thetas = model.init(np.random.default_rng(seed), k=K)
    with threadpool_limits(1):
        return train_many(model, thetas, X, y, lr=lr, epochs=epochs).theta


@pytest.mark.parametrize(
    "sizes, activation, loss, frozen",
    [
        ([2, 3, 1], "tanh", "mse", None),
        ([2, 4, 2], "sigmoid", "cross_entropy", None),
        ([2, 3, 1], "tanh", "mse", {"b2": 0.0}),
    ],
)
def test_engine_hessians_are_the_forward_mode_ones(sizes, activation, loss, frozen):
    from landscape.hessian import hessians

    X, y = _teacher() if loss == "mse" else _moons()
    model = MLP(sizes, activation, loss, frozen=frozen)
    thetas = model.freeze(model.init(np.random.default_rng(0), k=5))
    t = model.targets(y, len(X))
    _, hess, _, _ = engine._one_start(engine._model_key(model))
    jax = engine._jax()
    H = np.array(jax.vmap(hess, in_axes=(0, None, None))(thetas, X, t))
    ref = hessians(model, thetas, X, t)
    assert H.shape == ref.shape == (5, model.n_free, model.n_free)
    assert np.abs(H - ref).max() <= 1e-12 * np.abs(ref).max()


@pytest.mark.parametrize(
    "sizes, activation, loss, isolated",
    # tanh cross-entropy nets on these data slope to infinity (tanh saturating to a step):
    # that case checks the descents that do not settle
    [([2, 2, 1], "tanh", "mse", 8), ([2, 1, 2], "tanh", "cross_entropy", 0)],
)
def test_engine_newton_takes_the_numpy_steps(sizes, activation, loss, isolated):
    from landscape.analysis.minima import _unexplained_flat, newton_many
    from landscape.hessian import hessians

    assert engine.MIN_POINTS <= 16  # the 16 starts below descend on the engine

    X, y = _teacher() if loss == "mse" else _moons()
    model = MLP(sizes, activation, loss)
    t = model.targets(y, len(X))
    ends = _ends(model, X, y)
    with threadpool_limits(1):
        a = newton_many(model, ends, X, t, 30)
        b = newton_many(model, ends, X, t, 30, engine="jax")
    settled = 0
    for da, db in zip(a, b, strict=True):
        # the stop at steps of θ's rounding size may come one step apart
        assert da.settled == db.settled and abs(da.steps - db.steps) <= 2
        if not da.settled:
            # still moving after 30 steps (a slope outwards, where the Hessian is near singular
            # and each step amplifies rounding): the same descent to three digits
            assert db.loss == pytest.approx(da.loss, rel=1e-3) and db.loss < db.losses[0]
            continue
        lam, V = np.linalg.eigh(hessians(model, da.theta[None], X, t)[0])
        free, _ = _unexplained_flat(model, da.theta, V, abs(lam) <= 1e-6 * abs(lam).max())
        if free.shape[1]:
            # settled in a flat family (a redundant unit of a student wider than its teacher):
            # rounding picks the member; the loss is the family's on both engines
            assert abs(db.loss - da.loss) <= 1e-9 * da.losses[0]
            continue
        # settled at an isolated critical point: the same path to rounding. A Newton step
        # solves with the Hessian, so its rounding is the condition number times float64's.
        settled += 1
        scale = max(np.abs(da.theta).max(), 1.0)
        assert np.abs(da.theta - db.theta).max() <= 1e-10 * scale
        # E at the rounding floor of the loss (1e-16 of its scale) is rounding on both sides
        n = min(da.steps, db.steps) + 1
        np.testing.assert_allclose(
            db.losses[:n], da.losses[:n], rtol=1e-9, atol=1e-15 * da.losses[0]
        )
        np.testing.assert_allclose(db.norms[:n], da.norms[:n], rtol=1e-10)
    assert settled >= isolated


def test_engine_newton_stops_at_the_gradient_target_and_keeps_frozen_entries(monkeypatch):
    from landscape.analysis.minima import newton_many

    monkeypatch.setattr(engine, "MIN_POINTS", 1)  # 8 points: on the engine all the same

    X, y = _teacher()
    model = MLP([2, 3, 1], "tanh", "mse", frozen={"b2": 0.0, "W2": 1.0})
    t = model.targets(y, len(X))
    ends = model.freeze(_ends(model, X, y, K=8))
    out = newton_many(model, ends, X, t, 50, gtol=1e-9, engine="jax")
    frozen = ~np.isin(np.arange(model.n_params), model.free)
    for d, start in zip(out, ends, strict=True):
        assert np.array_equal(d.theta[frozen], start[frozen])
        _, g, _ = model.evaluate(d.theta, X, t)
        if d.settled and d.steps < 50:
            assert np.linalg.norm(g) <= 1e-9 or d.losses.size == d.steps + 1
        assert d.losses.size == d.norms.size == d.steps + 1
        assert np.all(np.diff(d.losses) <= 1e-14 * (1 + np.abs(d.losses[:-1])))


def test_engine_examination_names_the_same_kinds_as_numpy(monkeypatch):
    # A 2-2-1 tanh student of its own teacher: isolated minima (E = 0 at the teacher's copies)
    # from every start. Each start gets the same kind on both engines, and the minima agree to
    # 1e-10.
    from landscape.analysis.minima import examine_points

    monkeypatch.setattr(engine, "MIN_POINTS", 1)  # every descent of the 12 on the engine
    X, y = _teacher(n=80)
    model = MLP([2, 2, 1], "tanh", "mse")
    ends = _ends(model, X, y, K=12, epochs=2000)
    with threadpool_limits(1):
        a = examine_points(model, ends, X, y, engine="numpy")
        b = examine_points(model, ends, X, y, engine="jax")
    assert a["kind"].tolist() == b["kind"].tolist()
    mins = a["kind"] == "minimum"
    assert mins.sum() >= 10
    scale = np.abs(a["theta"][mins]).max()
    assert np.abs(a["theta"][mins] - b["theta"][mins]).max() <= 1e-10 * scale


def test_compile_cache_folder_follows_its_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_XLA_CACHE", "off")
    assert engine.compile_cache() is None
    monkeypatch.setenv("LANDSCAPE_XLA_CACHE", str(tmp_path / "mine"))
    assert engine.compile_cache() == tmp_path / "mine" and (tmp_path / "mine").is_dir()
    monkeypatch.delenv("LANDSCAPE_XLA_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert engine.compile_cache() == tmp_path / "xdg" / "landscape" / "xla"
    # a folder that cannot be made (its parent is a file) is no cache, not an error
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("LANDSCAPE_XLA_CACHE", str(tmp_path / "file" / "xla"))
    assert engine.compile_cache() is None


_CACHED_RUN = """
import numpy as np, sys
from threadpoolctl import threadpool_limits
from landscape.model import MLP
from landscape.train import train_many
from landscape.analysis.minima import newton_many
model = MLP([2, 3, 1], "tanh", "mse")
rng = np.random.default_rng(0)
X, y = rng.standard_normal((20, 2)), rng.standard_normal(20)
with threadpool_limits(1):
    res = train_many(model, model.init(rng, k=5), X, y, lr=0.2, epochs=50, engine="jax")
    d = newton_many(model, res.theta, X, model.targets(y, 20), 5, engine="jax")
np.save(sys.argv[1], np.concatenate([res.theta, np.stack([x.theta for x in d])]))
"""


def test_kernels_loaded_from_the_compile_cache_give_the_same_bits(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "LANDSCAPE_XLA_CACHE": str(tmp_path / "xla")}
    script = tmp_path / "run.py"
    script.write_text(_CACHED_RUN)
    for name in ("fresh", "cached"):
        done = subprocess.run(
            [sys.executable, str(script), str(tmp_path / name)], env=env, capture_output=True,
            text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0 and "Error reading" not in done.stderr, done.stderr
        if name == "fresh":
            entries = {p.name for p in (tmp_path / "xla").iterdir()}
            assert entries, "nothing was written to the cache"
    # the second process compiled nothing new: every kernel came from the cache
    assert {p.name for p in (tmp_path / "xla").iterdir()} == entries
    a, b = np.load(tmp_path / "fresh.npy"), np.load(tmp_path / "cached.npy")
    assert np.array_equal(a, b)
