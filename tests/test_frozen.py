"""Frozen parameter blocks: held fixed by every trainer and polisher, left out of every analysis.

The test problem is Safran & Shamir's (seed 1.3): the student Σ_i max(0, w_iᵀx) is an MLP
[d, n, 1] with relu, MSE and output weights frozen at 1, biases at 0; its population loss is
known in closed form (landscape.analysis.spurious), which the sample must approach.
"""

import math

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from landscape.analysis import spurious as ss
from landscape.analysis.minima import examine_points, newton_many, polish, polish_many
from landscape.analysis.noise import gd_chains
from landscape.analysis.symmetry import (
    flip_layers,
    model_group_counts,
    symmetry_tangents,
    verify_symmetry,
)
from landscape.data import load_dataset
from landscape.hessian import (
    complex_step_hessians,
    hessian,
    hessian_vector_product,
    largest_eigenvalue,
    top_eigenpair,
)
from landscape.model import MLP
from landscape.spec import SpecError, parse_spec
from landscape.train import train, train_many

SS_FROZEN = {"W2": 1.0, "b1": 0.0, "b2": 0.0}


def student(d: int, n: int) -> MLP:
    return MLP([d, n, 1], "relu", "mse", SS_FROZEN)


def sample(d: int, k: int, n_samples: int, seed: int = 0):
    data = load_dataset(
        "relu_teacher",
        rng=np.random.default_rng(seed),
        val_fraction=0.0,
        n_samples=n_samples,
        n_features=d,
        n_teacher=k,
    )
    return data.X_train, data.y_train


def weights(model: MLP, theta: np.ndarray) -> np.ndarray:
    """The student's w_i as rows, (n, d): the columns of W1."""
    return model.layout.unravel(theta)[0][0].T


def test_init_puts_the_frozen_values_and_the_gradient_is_zero_there(rng):
    model = student(4, 3)
    theta = model.init(rng, k=5, scheme="normal", scale=0.5)
    W1, b1 = model.layout.unravel(theta)[0]
    W2, b2 = model.layout.unravel(theta)[1]
    assert (W2 == 1.0).all() and (b1 == 0.0).all() and (b2 == 0.0).all()
    assert np.isfinite(W1).all() and np.abs(W1).min() > 0
    assert model.n_free == 12 and model.n_params == 12 + 3 + 3 + 1
    X, y = sample(4, 3, 300)
    E, g = model.loss_and_grad(theta, X, y)
    assert (g[:, model.frozen_mask] == 0.0).all()
    # the free part is the unfrozen network's gradient (same function, same point) ...
    _, g_all = MLP([4, 3, 1], "relu", "mse").loss_and_grad(theta, X, y)
    np.testing.assert_array_equal(g[:, model.free], g_all[:, model.free])
    # ... and central differences of E along each free coordinate (relu is smooth almost
    # everywhere; a step of 1e-6 crosses no kink at these random points)
    h = 1e-6
    for i in model.free[::3]:
        up, down = theta[0].copy(), theta[0].copy()
        up[i] += h
        down[i] -= h
        fd = (model.loss(up, X, y) - model.loss(down, X, y)) / (2 * h)
        assert abs(fd - g[0, i]) <= 1e-7 * max(1.0, abs(fd))


def test_sample_loss_and_gradient_approach_the_closed_form_population(rng):
    d = k = n = 6
    model = student(d, n)
    X, y = sample(d, k, 400_000)
    V = ss.teacher(k, d)
    theta = model.init(rng, k=3, scheme="normal", scale=1 / math.sqrt(d))
    E, g = model.loss_and_grad(theta, X, y)
    for j in range(3):
        W = weights(model, theta[j])
        E_pop = float(ss.population_loss(W, V))
        G_pop = ss.population_grad(W, V)
        # Monte Carlo error of a mean over 4e5 samples: ~ 1/√N ≈ 0.16% of the spread
        assert abs(E[j] - E_pop) <= 0.01 * E_pop
        G = weights(model, g[j])
        assert np.abs(G - G_pop).max() <= 0.02 * np.abs(G_pop).max()
    # the teacher itself (n = k, w_i = v_i) fits every sample exactly: the global minimum is 0
    at_teacher = model.freeze(np.zeros(model.n_params))
    model.layout.unravel(at_teacher)[0][0][...] = V.T
    E0, g0 = model.loss_and_grad(at_teacher, X, y)
    assert E0 <= 1e-30 and np.abs(g0).max() <= 1e-15  # zero up to the rounding of X @ W


@pytest.mark.parametrize("method", ["gd", "minibatch", "online"])
def test_no_trainer_moves_a_frozen_entry(rng, method):
    model = student(3, 3)
    X, y = sample(3, 3, 200)
    theta0 = model.init(rng, scheme="normal", scale=0.6)
    batch = {"gd": None, "minibatch": 16, "online": 1}[method]
    res = train(model, theta0, X, y, lr=0.05, epochs=20, batch_size=batch, rng=rng)
    assert np.array_equal(res.theta[model.frozen_mask], theta0[model.frozen_mask])
    assert np.abs(res.theta[model.free] - theta0[model.free]).max() > 1e-3
    many = train_many(
        model,
        model.init(rng, k=4, scheme="normal", scale=0.6),
        X,
        y,
        lr=0.05,
        epochs=20,
        batch_size=batch,
        rng=rng,
    )
    # b1 (3 zeros), W2 (3 ones), b2 (one zero), in θ's order
    assert (many.theta[:, model.frozen_mask] == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0]).all()
    assert np.isfinite(many.theta).all()


def test_polishers_and_newton_keep_the_frozen_entries(rng):
    model = student(3, 3)
    X, y = sample(3, 3, 500)
    thetas = model.init(rng, k=3, scheme="normal", scale=0.6)
    frozen_vals = thetas[0, model.frozen_mask]
    p = polish(model, thetas[0], X, y)
    assert np.array_equal(p.theta[model.frozen_mask], frozen_vals)
    assert p.grad_norm <= 1e-8
    for q in polish_many(model, thetas, X, y):
        assert np.array_equal(q.theta[model.frozen_mask], frozen_vals)
    t = model.targets(y, X.shape[0])
    for dsc in newton_many(model, thetas, X, t, 5):
        assert np.array_equal(dsc.theta[model.frozen_mask], frozen_vals)


def test_hessian_is_over_the_free_parameters(rng):
    model = MLP([3, 4, 2], "tanh", "mse", {"W2": 0.5})
    X = rng.standard_normal((40, 3))
    y = rng.standard_normal((40, 2))
    theta = model.init(rng)
    H = hessian(model, theta, X, y)
    assert H.shape == (model.n_free, model.n_free) == (18, 18)
    # independent: the unfrozen network's Hessian by the complex step, restricted
    full = MLP([3, 4, 2], "tanh", "mse")
    Xc, t = full.check_inputs(X), full.targets(y, 40)
    H_all = complex_step_hessians(full, theta[None], Xc, t)[0]
    np.testing.assert_allclose(H, H_all[np.ix_(model.free, model.free)], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        complex_step_hessians(model, theta[None], Xc, t)[0], H, rtol=1e-12, atol=1e-14
    )
    # H v ignores v's frozen entries and is zero there
    v = rng.standard_normal(model.n_params)
    Hv = hessian_vector_product(model, theta, X, y, v)
    assert not Hv[model.frozen_mask].any()
    np.testing.assert_allclose(Hv[model.free], H @ v[model.free], rtol=1e-10, atol=1e-13)
    lam = np.linalg.eigvalsh(H)
    assert largest_eigenvalue(model, theta, X, y, rng=rng) == pytest.approx(lam[-1], rel=1e-8)
    big, vec = top_eigenpair(model, theta, Xc, t, rng.standard_normal(model.n_params))
    assert big == pytest.approx(lam[-1], rel=1e-6)
    assert not vec[model.frozen_mask].any()


def test_symmetries_that_move_a_frozen_entry_do_not_count(rng):
    # Safran & Shamir's student: n! permutations; no flips (relu), no rescaling (outputs fixed)
    counts = model_group_counts(student(4, 5))
    assert (counts.permutations, counts.with_signs, counts.continuous) == (120, None, 0)
    # relu with only the biases frozen at 0: rescaling keeps them, so all n rescalings count
    relu = MLP([3, 5, 1], "relu", "mse", {"b1": 0.0})
    assert model_group_counts(relu).continuous == 5
    theta = relu.init(rng)
    X = rng.standard_normal((30, 3))
    T = symmetry_tangents(relu, theta)
    assert T.shape == (relu.n_params, 5) and not T[relu.frozen_mask].any()
    # E is constant along them: the directional derivative ∇E·t vanishes
    _, g = relu.loss_and_grad(theta, X, rng.standard_normal(30))
    assert np.abs(g @ T).max() <= 1e-14
    # tanh: the sign flip negates the outgoing weights, so W2 frozen at 1 forbids it ...
    tanh = MLP([2, 3, 4, 1], "tanh", "mse", {"W3": 1.0})
    assert flip_layers(tanh) == (True, False)
    assert model_group_counts(tanh).with_signs == math.factorial(3) * 2**3 * math.factorial(4)
    # ... and frozen at 0 keeps it
    assert flip_layers(MLP([2, 3, 1], "tanh", "mse", {"W2": 0.0, "b1": 0.0})) == (True,)
    # softmax shift: with b2 frozen only the W2 part (one per hidden unit) is left
    ce = MLP([2, 3, 3], "tanh", "cross_entropy", {"b2": 0.0})
    assert model_group_counts(ce).continuous == 3
    assert model_group_counts(MLP([2, 3, 3], "tanh", "cross_entropy")).continuous == 4


def test_unit_swap_symmetry_holds_for_the_frozen_student(rng):
    model = student(4, 4)
    X, y = sample(4, 4, 200)
    theta = model.init(rng, scheme="normal", scale=0.5)
    with threadpool_limits(1):
        check = verify_symmetry(model, theta, X, y, rng=rng, gd_steps=50, lr=0.1)
    assert check.passed() and check.transpositions_tested == 6
    assert check.sign_output_deviation is None


def test_the_global_minimum_of_the_frozen_student_is_isolated(rng):
    # the unfrozen relu network's minima have n flat rescaling directions; frozen output
    # weights remove them, so the teacher's minimum is isolated: all F eigenvalues positive
    d = k = n = 3
    model = student(d, n)
    X, y = sample(d, k, 2000)
    thetas = model.init(rng, k=4, scheme="normal", scale=1 / math.sqrt(d))
    res = train_many(model, thetas, X, y, lr=0.5, epochs=2000)
    with threadpool_limits(1):
        out = examine_points(model, res.theta, X, y)
    best = int(np.nanargmin(out["loss"]))
    assert out["kind"][best] == "minimum"
    assert out["loss"][best] <= 1e-20  # the teacher (up to a permutation) fits exactly
    assert out["n_flat"][best] == 0 and out["eigenvalues"].shape == (4, model.n_free)
    assert (out["eigenvalues"][best] > 0).all()
    W = weights(model, out["theta"][best])
    order = np.argsort(np.argmax(np.abs(W), axis=1))
    np.testing.assert_allclose(W[order], ss.teacher(k, d), atol=1e-8)
    assert (out["theta"][:, model.frozen_mask] == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0]).all()


def test_bad_frozen_blocks_are_refused():
    with pytest.raises(ValueError, match="parameter block 'W3' is unknown; this network has"):
        MLP([2, 3, 1], "relu", "mse", {"W3": 1.0})
    with pytest.raises(ValueError, match="every parameter is frozen"):
        MLP([2, 1], "relu", "mse", {"W1": 1.0, "b1": 0.0})
    with pytest.raises(ValueError, match="must be finite"):
        MLP([2, 3, 1], "relu", "mse", {"W2": float("nan")})
    text = (
        '[data]\nname = "relu_teacher"\n[model]\nhidden = [3]\nactivation = "relu"\nloss = "mse"\n'
    )
    spec = parse_spec("x", text + "frozen = {W2 = 1.0, b1 = 0.0}\n")
    assert spec.model.frozen == {"W2": 1.0, "b1": 0.0}
    with pytest.raises(
        SpecError, match=r"model.frozen.W9 is not a parameter block.*W1, b1, W2, b2"
    ):
        parse_spec("x", text + "frozen = {W9 = 1.0}\n")
    with pytest.raises(SpecError, match="model.frozen.W2='one' must be a number"):
        parse_spec("x", text + 'frozen = {W2 = "one"}\n')


def test_a_population_spurious_minimum_has_a_sample_counterpart_nearby():
    # The closed form says where the population's spurious minima are; on a large sample the
    # frozen MLP has a minimum nearby with nearly the same loss: the sample stands in for the
    # population up to its O(1/√N) error, and the frozen machinery finds it.
    rng = np.random.default_rng(0)
    d = k = n = 8
    V = ss.teacher(k, d)
    pop = ss.PopulationReLU(k, n, gtol=1e-10)
    ends = gd_chains(pop, ss.init_students(rng, 40, n, d).reshape(40, -1), [0.5], 4000)
    W = ends.theta[:, 0].reshape(40, n, d)
    gn = np.linalg.norm(pop.grad(ends.theta[:, 0]), axis=1)
    E_pop = ss.population_loss(W, V)
    spurious = np.flatnonzero((E_pop > 1e-3) & (gn <= 1e-10))
    assert len(spurious) >= 1
    w = W[spurious[0]]
    model = student(d, n)
    X, y = sample(d, k, 10_000)
    theta = model.freeze(np.zeros(model.n_params))
    model.layout.unravel(theta)[0][0][...] = w.T
    with threadpool_limits(1):
        out = examine_points(model, theta[None], X, y)
    moved = np.linalg.norm(out["theta"][0] - theta) / np.linalg.norm(theta)
    assert out["kind"][0] == "minimum" and out["n_flat"][0] == 0
    assert moved <= 0.05  # the same basin: the sample's minimum is a few % away
    assert out["loss"][0] == pytest.approx(E_pop[spurious[0]], rel=0.05)
    assert out["loss"][0] > 1e-3  # not the teacher: the sample has the spurious minimum too


def test_the_shipped_frozen_spec_runs_through_the_cli(workdir, capsys):
    import json

    from landscape.study import main

    args = [
        "minima_relu_teacher",
        "--set",
        "analysis.n_starts=8",
        "--set",
        "analysis.chunk=8",
        "--set",
        "data.options.n_samples=400",
        "--set",
        "trainer.epochs=400",
        "--no-progress",
        "--no-report",
        "--json",
    ]
    assert main(args) == 0
    rep = json.loads(capsys.readouterr().out)["minima"]
    kinds = {c["kind"] for c in rep["classes"]}
    assert kinds <= {"minimum"} and rep["n_starts"] == 8
    for c in rep["classes"]:
        theta = np.array(c["representative"])
        # the representative keeps the frozen values: b1 = 0, W2 = 1, b2 = 0
        assert (theta[64:] == [0.0] * 8 + [1.0] * 8 + [0.0]).all()
    # a bad block name is one line and exit code 2, nothing run
    assert main(["minima_relu_teacher", "--set", "model.frozen.W7=1.0", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model.frozen.W7 is not a parameter block" in err[0]
