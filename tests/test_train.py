import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from landscape.data import load_dataset
from landscape.model import MLP
from landscape.schedules import InverseTime
from landscape.train import STATUSES, _Rules, curve_state, train


@pytest.fixture(scope="module")
def moons():
    return load_dataset("moons", rng=np.random.default_rng(0), n_samples=200)


@pytest.fixture(scope="module")
def linreg():
    """A linear-regression problem: MLP with no hidden layer and MSE."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 5)) @ np.diag([1.0, 0.8, 1.2, 0.6, 1.0])
    y = X @ rng.normal(size=5) + 0.3 + 0.1 * rng.normal(size=200)
    A = np.hstack([X, np.ones((200, 1))])  # θ layout: W (5x1) then b
    lam_max = np.linalg.eigvalsh(A.T @ A / 200).max()  # Hessian of ½·mean squared error
    solution = np.linalg.lstsq(A, y, rcond=None)[0]
    return MLP([5, 1], "identity", "mse"), X, y, lam_max, solution


def test_train_one_gd_step_is_theta_minus_lr_grad(moons, rng):
    model = MLP(moons.sizes([8]), "tanh")
    theta0 = model.init(rng)
    _, g = model.loss_and_grad(theta0, moons.X_train, moons.y_train)
    res = train(model, theta0, moons.X_train, moons.y_train, lr=0.37, epochs=1)
    np.testing.assert_array_equal(res.theta, theta0 - 0.37 * g)
    assert res.updates == 1 and res.epochs == 1


def test_train_one_minibatch_step_uses_the_first_batch_of_the_permutation(moons, rng):
    model = MLP(moons.sizes([8]), "tanh")
    theta0 = model.init(rng)
    X, y = moons.X_train, moons.y_train
    batch = np.random.default_rng(99).permutation(len(X))[:16]
    _, g = model.loss_and_grad(theta0, X[batch], y[batch])
    res = train(
        model,
        theta0,
        X,
        y,
        lr=0.2,
        epochs=1,
        batch_size=16,
        max_updates=1,
        rng=np.random.default_rng(99),
    )
    # ε is folded into the backward pass, so ε∇E rounds differently in the last bit
    np.testing.assert_allclose(res.theta, theta0 - 0.2 * g, rtol=1e-15, atol=1e-17)
    assert (res.status, res.updates) == ("budget", 1)


class _Recorder(MLP):
    """An MLP that remembers the training rows each update saw."""

    def __init__(self, *args, batch_size, **kwargs):
        super().__init__(*args, **kwargs)
        self.batch_size = batch_size
        self.seen = []

    def evaluate(self, theta, X, t, **kwargs):
        if kwargs.get("grad", True) and X.shape[0] <= self.batch_size:
            self.seen.append(X[:, 0].copy())
        return super().evaluate(theta, X, t, **kwargs)


@pytest.mark.parametrize(("batch_size", "updates_per_epoch"), [(16, 10), (1, 160), (160, 1)])
def test_train_epoch_visits_every_sample_once(moons, rng, batch_size, updates_per_epoch):
    X, y = moons.X_train, moons.y_train  # N = 160
    model = _Recorder(moons.sizes([4]), batch_size=batch_size)
    res = train(
        model,
        model.init(rng),
        X,
        y,
        lr=0.01,
        epochs=2,
        batch_size=batch_size,
        rng=np.random.default_rng(1),
    )
    assert res.updates == 2 * updates_per_epoch
    np.testing.assert_array_equal(res.history["updates"], [0, updates_per_epoch, res.updates])
    for epoch in range(2):
        rows = model.seen[epoch * updates_per_epoch : (epoch + 1) * updates_per_epoch]
        assert [len(r) for r in rows] == [batch_size] * updates_per_epoch
        np.testing.assert_array_equal(np.sort(np.concatenate(rows)), np.sort(X[:, 0]))
    if batch_size < len(X):  # a new random partition each epoch
        assert not np.array_equal(model.seen[0], model.seen[updates_per_epoch])


@pytest.mark.parametrize(
    ("drop_last", "updates", "sizes"), [(False, 11, [10] * 10 + [3]), (True, 10, [10] * 10)]
)
def test_train_last_smaller_batch(drop_last, updates, sizes, rng):
    X = rng.normal(size=(103, 2))
    y = rng.integers(0, 2, 103)
    model = _Recorder([2, 3, 2], batch_size=10)
    res = train(
        model, model.init(rng), X, y, lr=0.1, epochs=1, batch_size=10, rng=rng, drop_last=drop_last
    )
    assert res.updates == updates
    assert [len(r) for r in model.seen] == sizes


def test_train_gd_on_linear_regression_reaches_least_squares(linreg):
    model, X, y, lam_max, solution = linreg
    res = train(model, np.zeros(model.n_params), X, y, lr=0.9 * 2 / lam_max, epochs=5000)
    assert res.status == "converged"
    np.testing.assert_allclose(res.theta, solution, rtol=1e-10, atol=1e-12)


def test_train_gd_on_linear_regression_diverges_above_two_over_lambda_max(linreg):
    model, X, y, lam_max, _ = linreg
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = train(model, np.zeros(model.n_params), X, y, lr=1.1 * 2 / lam_max, epochs=5000)
    assert res.status == "diverged"
    assert res.epochs < 200


def test_train_overflow_is_diverged_without_warnings(moons, rng):
    model = MLP(moons.sizes([8]), "relu", "mse")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = train(
            model,
            model.init(rng),
            moons.X_train,
            moons.y_train,
            lr=1e3,
            epochs=1000,
            diverge_factor=1e300,
            batch_size=8,
            rng=rng,
        )
    assert res.status == "diverged"
    assert "not finite" in res.message or "became" in res.message


def test_train_tiny_lr_stalls(moons, rng):
    model = MLP(moons.sizes([8]))
    res = train(
        model, model.init(rng), moons.X_train, moons.y_train, lr=1e-6, epochs=1000, stall_window=5
    )
    assert res.status == "stalled"
    assert res.epochs == 5


def test_train_callback_stops_and_sees_each_epoch(moons, rng):
    model = MLP(moons.sizes([8]))
    seen = []

    def cb(rec):
        seen.append(rec.epoch)
        return rec.epoch == 3

    res = train(
        model, model.init(rng), moons.X_train, moons.y_train, lr=0.1, epochs=50, callback=cb
    )
    assert (res.status, res.epochs, seen) == ("stopped", 3, [1, 2, 3])


def test_train_update_budget(moons, rng):
    model = MLP(moons.sizes([4]))
    res = train(
        model,
        model.init(rng),
        moons.X_train,
        moons.y_train,
        lr=0.1,
        epochs=50,
        batch_size=16,
        max_updates=25,
        rng=rng,
    )
    assert (res.status, res.updates, res.epochs) == ("budget", 25, 3)


def test_train_history_is_exact_full_set_loss(moons, rng):
    model = MLP(moons.sizes([8]))
    res = train(
        model,
        model.init(rng),
        moons.X_train,
        moons.y_train,
        lr=0.3,
        epochs=4,
        batch_size=32,
        rng=rng,
        X_val=moons.X_val,
        y_val=moons.y_val,
    )
    h = res.history
    assert h["loss"][-1] == model.loss(res.theta, moons.X_train, moons.y_train)
    assert h["val_loss"][-1] == model.loss(res.theta, moons.X_val, moons.y_val)
    assert h["accuracy"][-1] == model.accuracy(res.theta, moons.X_train, moons.y_train)
    _, g = model.loss_and_grad(res.theta, moons.X_train, moons.y_train)
    assert h["grad_norm"][-1] == pytest.approx(np.linalg.norm(g), rel=1e-12)
    np.testing.assert_array_equal(h["epoch"], np.arange(5))
    assert res.final.epoch == 4 and res.status in STATUSES


def test_train_records_scheduled_lr(moons, rng):
    model = MLP(moons.sizes([4]))
    sched = InverseTime(tau=5.0)
    res = train(
        model,
        model.init(rng),
        moons.X_train,
        moons.y_train,
        lr=0.5,
        epochs=3,
        batch_size=40,
        rng=rng,
        schedule=sched,
    )
    # 4 updates per epoch; the record holds ε of the epoch's last update
    np.testing.assert_allclose(
        res.history["lr"], [0.5, sched(3, 0.5), sched(7, 0.5), sched(11, 0.5)], rtol=1e-15
    )


def test_train_same_seed_is_bit_identical(moons):
    model = MLP(moons.sizes([16]))

    def run(seed):
        rng = np.random.default_rng(seed)
        return train(
            model,
            model.init(rng),
            moons.X_train,
            moons.y_train,
            lr=0.2,
            epochs=5,
            batch_size=8,
            rng=rng,
        )

    with threadpool_limits(1):
        a, b, c = run(5), run(5), run(6)
    np.testing.assert_array_equal(a.theta, b.theta)
    np.testing.assert_array_equal(a.history["loss"], b.history["loss"])
    assert not np.array_equal(a.theta, c.theta)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lr": 0.0}, "lr=0.0 must be a finite number > 0"),
        ({"lr": -1.0}, "lr=-1.0 must be"),
        ({"lr": float("nan")}, "lr=nan must be"),
        ({"batch_size": 0}, r"batch_size=0 must be in \[1, 160\]"),
        ({"batch_size": 161}, r"batch_size=161 must be in \[1, 160\]"),
        ({"epochs": 0}, "epochs=0 must be an integer >= 1"),
        ({"schedule": "warmup"}, "schedule 'warmup' is unknown; known: constant"),
        ({"batch_size": 10, "rng": None}, "batch_size=10 < N=160 needs rng"),
        ({"diverge_factor": 0.5}, "diverge_factor=0.5"),
    ],
)
def test_train_rejects_bad_input(moons, kwargs, match):
    model = MLP(moons.sizes([4]))
    args = {"lr": 0.1, "epochs": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        train(model, model.init(np.random.default_rng(0)), moons.X_train, moons.y_train, **args)


def test_train_rejects_nan_data(moons):
    model = MLP(moons.sizes([4]))
    X = moons.X_train.copy()
    X[3, 1] = np.inf
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        train(model, model.init(np.random.default_rng(0)), X, moons.y_train, lr=0.1, epochs=1)


def test_train_eval_every_thins_history_but_not_training(moons):
    model = MLP(moons.sizes([8]))

    def run(**kw):
        rng = np.random.default_rng(2)
        return train(
            model,
            model.init(rng),
            moons.X_train,
            moons.y_train,
            lr=0.2,
            epochs=7,
            batch_size=16,
            rng=rng,
            **kw,
        )

    with threadpool_limits(1):
        every, thin = run(), run(eval_every=3)
    np.testing.assert_array_equal(thin.history["epoch"], [0, 3, 6, 7])
    np.testing.assert_array_equal(every.theta, thin.theta)
    np.testing.assert_array_equal(every.history["loss"][[0, 3, 6, 7]], thin.history["loss"])


def test_train_eval_every_full_batch_matches_every_epoch(linreg):
    model, X, y, lam_max, _ = linreg
    a = train(model, np.zeros(model.n_params), X, y, lr=1.0 / lam_max, epochs=10)
    b = train(model, np.zeros(model.n_params), X, y, lr=1.0 / lam_max, epochs=10, eval_every=4)
    np.testing.assert_array_equal(a.theta, b.theta)
    np.testing.assert_array_equal(b.history["epoch"], [0, 4, 8, 10])


def test_train_schedule_at_zero_is_not_convergence(moons, rng):
    model = MLP(moons.sizes([4]))
    res = train(
        model,
        model.init(rng),
        moons.X_train,
        moons.y_train,
        lr=0.5,
        epochs=50,
        schedule="cosine",
        schedule_params={"period": 5, "final_ratio": 0.0},
    )
    assert res.status == "budget"
    assert "reached ε = 0" in res.message
    assert res.epochs == 5


# ------------------------------------------------------------------ train_many
@pytest.fixture(scope="module")
def xor():
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    return MLP([2, 2, 1], "tanh", "mse"), X, np.array([0.0, 1.0, 1.0, 0.0])


def test_train_many_equals_looping_the_single_start_trainer(xor):
    from landscape.train import train_many

    model, X, y = xor
    starts = model.init(np.random.default_rng(4), k=12, scheme="normal")
    with threadpool_limits(1):
        many = train_many(model, starts, X, y, lr=0.5, epochs=400, check_every=1)
        for k in range(12):
            one = train(model, starts[k], X, y, lr=0.5, epochs=400)
            assert many.status[k] == one.status
            assert many.epochs[k] == one.epochs
            np.testing.assert_allclose(many.theta[k], one.theta, rtol=0, atol=1e-13)
            assert many.loss[k] == pytest.approx(one.final.loss, rel=1e-9, abs=1e-25)


def test_train_many_chunking_changes_nothing_for_gd(moons):
    from landscape.train import train_many

    model = MLP(moons.sizes([6]))
    starts = model.init(np.random.default_rng(0), k=10)
    with threadpool_limits(1):
        a = train_many(model, starts, moons.X_train, moons.y_train, lr=0.5, epochs=50, chunk=3)
        b = train_many(model, starts, moons.X_train, moons.y_train, lr=0.5, epochs=50, chunk=10)
    np.testing.assert_array_equal(a.theta, b.theta)
    np.testing.assert_array_equal(a.status, b.status)


def test_train_many_minibatch_shuffles_each_start_independently(moons):
    from landscape.train import train_many

    model = MLP(moons.sizes([6]))
    start = model.init(np.random.default_rng(0))
    same = np.stack([start, start])  # two identical starts
    with threadpool_limits(1):
        r = train_many(
            model,
            same,
            moons.X_train,
            moons.y_train,
            lr=0.3,
            epochs=3,
            batch_size=16,
            rng=np.random.default_rng(1),
        )
        r2 = train_many(
            model,
            same,
            moons.X_train,
            moons.y_train,
            lr=0.3,
            epochs=3,
            batch_size=16,
            rng=np.random.default_rng(1),
        )
    assert not np.array_equal(r.theta[0], r.theta[1])  # different partitions
    np.testing.assert_array_equal(r.theta, r2.theta)  # same rng, same result
    assert (r.status == "budget").all() and (r.epochs == 3).all()


def test_train_many_marks_diverged_starts(xor):
    from landscape.train import train_many

    model, X, y = xor
    starts = model.init(np.random.default_rng(0), k=4)
    starts[1] *= 50.0  # saturated units: huge outgoing weights, steep loss
    r = train_many(model, starts, X, y, lr=40.0, epochs=100)
    assert "diverged" in set(r.status)


def test_train_many_memory_stays_flat_beyond_one_chunk(xor):
    import tracemalloc

    from landscape.train import train_many

    model, X, y = xor

    def peak(k):
        starts = model.init(np.random.default_rng(0), k=k)
        tracemalloc.start()
        r = train_many(model, starts, X, y, lr=0.5, epochs=20, chunk=256)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        results = sum(a.nbytes for a in (r.theta, r.status, r.loss, r.grad_norm, r.epochs))
        return top - results  # the results themselves must grow with K

    small, large = peak(512), peak(8192)
    assert large < 1.5 * small


def test_train_many_survivors_keep_their_own_steps_when_others_diverge(xor):
    from landscape.train import train_many

    model, X, y = xor
    starts = model.init(np.random.default_rng(0), k=200, scheme="normal")
    with threadpool_limits(1):
        many = train_many(model, starts, X, y, lr=1.0, epochs=300, check_every=1)
        loop = [train(model, th, X, y, lr=1.0, epochs=300) for th in starts]
    statuses = [r.status for r in loop]
    assert 20 < statuses.count("diverged") < 180  # a mix: 51 of 200 diverge at ε = 1
    assert list(many.status) == statuses
    for k, r in enumerate(loop):
        if r.status != "diverged":
            np.testing.assert_allclose(many.theta[k], r.theta, rtol=0, atol=1e-12)


@pytest.mark.parametrize("eval_every", [1, 3])
def test_curve_state_meets_the_stall_rule_where_train_does(moons, rng, eval_every):
    model = MLP([2, 8, 2], "tanh", "cross_entropy")
    kw = dict(lr=1e-4, epochs=300, stall_window=6, stall_tol=1e-3, eval_every=eval_every)
    res = train(model, model.init(rng), moons.X_train, moons.y_train, **kw)
    assert res.status == "stalled"
    h = res.history
    assert curve_state(h, 6, 1e-3) == "stalled"
    cut = {k: v[:-1] for k, v in h.items()}  # one evaluation earlier the rule had not fired
    assert curve_state(cut, 6, 1e-3) == "improving"
    assert curve_state(h, None, 1e-3) == "improving"  # no stall rule: never stalled


def test_curve_state_rising_and_non_finite():
    h = {"epoch": np.arange(4), "loss": np.array([1.0, 0.9, 1.2, 1.3])}
    assert curve_state(h, 2, 1e-3) == "rising"
    h["loss"][-1] = np.nan
    assert curve_state(h, None) == "rising"
    h["loss"] = np.array([1.0, 0.5, 0.3, 0.1])
    assert curve_state(h, 2, 1e-3) == "improving"
    # over the last 2 epochs E fell from 0.5 to 0.4999: less than 1e-3 of it
    h["loss"] = np.array([1.0, 0.5, 0.49995, 0.4999])
    assert curve_state(h, 2, 1e-3) == "stalled"


def test_a_rising_loss_is_not_stalled():
    assert _Rules.stalled(1.0, 0.9995, 1e-3)  # fell, by less than 1e-3 of it
    assert not _Rules.stalled(1.0, 0.99, 1e-3)  # fell by more
    assert not _Rules.stalled(1.0, 1.2, 1e-3)  # rose: moving the wrong way, not stalling


def test_train_many_stops_after_max_updates_within_an_epoch(moons):
    # N = 160 samples, B = 64: 3 batches an epoch (the last of 32); 10 updates = three epochs
    # and 1 batch of the fourth, recomputed here step by step from the same permutations
    from landscape.train import train_many

    model = MLP(moons.sizes([5]))
    start = model.init(np.random.default_rng(0))
    X, y = moons.X_train, moons.y_train
    n = X.shape[0]
    with threadpool_limits(1):
        r = train_many(
            model,
            start[None],
            X,
            y,
            lr=0.2,
            epochs=50,
            batch_size=64,
            rng=np.random.default_rng(3),
            max_updates=10,
        )
        gd = train_many(model, start[None], X, y, lr=0.2, epochs=50, max_updates=10)
        gd_ref = train_many(model, start[None], X, y, lr=0.2, epochs=10)
    rng = np.random.default_rng(3)
    theta = start.copy()
    done = 0
    while done < 10:
        perm = rng.permuted(np.broadcast_to(np.arange(n), (1, n)), axis=1)[0]
        for i in range(-(-n // 64)):
            if done == 10:
                break
            idx = perm[i * 64 : (i + 1) * 64]
            theta -= 0.2 * model.loss_and_grad(theta, X[idx], y[idx])[1]
            done += 1
    np.testing.assert_allclose(r.theta[0], theta, rtol=1e-12, atol=1e-14)
    assert n == 160 and r.epochs[0] == 4 and r.status[0] == "budget"
    np.testing.assert_array_equal(gd.theta, gd_ref.theta)  # GD: one update an epoch
    assert gd.epochs[0] == 10
