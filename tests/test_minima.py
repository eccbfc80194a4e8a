import numpy as np
import pytest
from scipy.optimize import minimize

from landscape.analysis.minima import (
    _asymptote,
    analyse_points,
    chao1,
    classify,
    cluster,
    cluster_families,
    examine,
    examine_points,
    polish,
)
from landscape.analysis.symmetry import (
    align_model,
    flip_units,
    model_group_counts,
    random_transform,
    symmetry_tangents,
    unit_transform,
)
from landscape.data import _teacher, load_dataset
from landscape.hessian import (
    complex_step_hessians,
    hessian,
    hessian_vector_product,
    hessians,
    largest_eigenvalue,
)
from landscape.model import MLP
from landscape.train import train, train_many


@pytest.fixture(scope="module")
def teacher_problem():
    ds = load_dataset("teacher", rng=np.random.default_rng(0), n_samples=150, hidden=[3])
    return MLP(ds.sizes([3]), "tanh", "mse"), ds


# ------------------------------------------------------------------ Hessian
def test_hessian_of_linear_regression_is_closed_form(rng):
    X, y = rng.normal(size=(50, 3)), rng.normal(size=50)
    model = MLP([3, 1], "identity", "mse")
    A = np.hstack([X, np.ones((50, 1))])
    H = hessian(model, rng.normal(size=4), X, y)
    np.testing.assert_allclose(H, A.T @ A / 50, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("act", ["tanh", "relu", "sigmoid", "identity"])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_exact_hessians_agree_with_the_complex_step_at_every_depth(act, loss, rng):
    # two independent exact routes: forward-mode through backpropagation (real arithmetic)
    # and the complex step of the gradient; θ fully random, so no relu sits at its kink
    for hidden in ([], [4], [5, 3]):
        model = MLP([3, *hidden, 3], act, loss)
        thetas = rng.normal(size=(3, model.n_params))
        X = rng.normal(size=(30, 3))
        y = rng.integers(0, 3, 30) if loss == "cross_entropy" else rng.normal(size=(30, 3))
        t = model.targets(y, 30)
        H = hessians(model, thetas, X, t)
        ref = complex_step_hessians(model, thetas, X, t)
        assert np.abs(H - ref).max() <= 1e-14 * np.abs(ref).max(), (hidden, act, loss)
        # small memory: points and directions in groups give the same numbers
        np.testing.assert_allclose(hessians(model, thetas, X, t, memory=1), H, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("act", "loss"), [("tanh", "cross_entropy"), ("relu", "mse"), ("sigmoid", "mse")]
)
def test_hessian_matches_finite_differences_of_the_gradient(act, loss, rng):
    model = MLP([3, 4, 3], act, loss)
    theta = model.init(rng, scheme="normal")
    X = rng.normal(size=(10, 3))
    y = rng.integers(0, 3, 10) if loss == "cross_entropy" else rng.normal(size=(10, 3))
    H = hessian(model, theta, X, y)
    h = 1e-5
    fd = np.array(
        [
            (
                model.loss_and_grad(theta + h * e, X, y)[1]
                - model.loss_and_grad(theta - h * e, X, y)[1]
            )
            / (2 * h)
            for e in np.eye(model.n_params)
        ]
    )
    np.testing.assert_allclose(H, fd, rtol=0, atol=1e-8 * np.abs(H).max())
    v = rng.normal(size=model.n_params)
    np.testing.assert_allclose(
        hessian_vector_product(model, theta, X, y, v), H @ v, rtol=1e-12, atol=1e-14
    )


def test_largest_eigenvalue_matches_eigvalsh(rng):
    model = MLP([4, 6, 3], "tanh", "cross_entropy")
    theta = model.init(rng)
    X, y = rng.normal(size=(40, 4)), rng.integers(0, 3, 40)
    lam = largest_eigenvalue(model, theta, X, y, rng=rng)
    assert lam == pytest.approx(np.linalg.eigvalsh(hessian(model, theta, X, y))[-1], rel=1e-8)


# ----------------------------------------------------------- classification
@pytest.mark.parametrize(
    ("eig", "kind", "flat"),
    [
        ([2.0, 2.0], "minimum", 0),
        ([2.0, -2.0], "saddle", 0),
        ([-1.0, -3.0], "maximum", 0),
        ([3.0, 1e-12, 0.0], "minimum", 2),
        ([3.0, -1e-3], "saddle", 0),
    ],
)
def test_classify_known_spectra(eig, kind, flat):
    c = classify(np.array(eig))
    assert (c.kind, c.n_flat) == (kind, flat)


def test_classify_quadratic_functions_through_the_model(rng):
    # E(θ) = ½ mean (Xθ − y)²: a convex quadratic, its only critical point a minimum
    X, y = rng.normal(size=(30, 2)), rng.normal(size=30)
    model = MLP([2, 1], "identity", "mse")
    p = polish(model, np.zeros(3), X, y)
    assert p.converged and p.grad_norm <= 1e-8
    assert classify(np.linalg.eigvalsh(hessian(model, p.theta, X, y))).kind == "minimum"


def test_classify_zero_network_is_a_saddle(rng):
    # θ = 0 of a tanh net on centred targets: ∇E = 0 (h = tanh(0) = 0 and W2 = 0, b2 = mean y),
    # and the W1–W2 cross terms of the Hessian make it indefinite.
    X = rng.normal(size=(40, 2))
    y = X[:, 0] * X[:, 1]
    y -= y.mean()
    model = MLP([2, 3, 1], "tanh", "mse")
    theta = np.zeros(model.n_params)
    _, g = model.loss_and_grad(theta, X, y)
    assert np.linalg.norm(g) < 1e-15
    c = classify(np.linalg.eigvalsh(hessian(model, theta, X, y)))
    assert c.kind == "saddle" and c.n_negative > 0


def test_polish_reaches_the_gradient_tolerance(teacher_problem, rng):
    model, ds = teacher_problem
    res = train(model, model.init(rng), ds.X_train, ds.y_train, lr=0.3, epochs=500)
    p = polish(model, res.theta, ds.X_train, ds.y_train)
    E, g = model.loss_and_grad(p.theta, ds.X_train, ds.y_train)
    assert p.converged and np.linalg.norm(g) <= 1e-8  # from ‖∇E‖ ≈ 1e-3 after training
    assert p.loss == E < res.final.loss


# ---------------------------------------------------------------- clustering
def test_cluster_permuted_copies_are_one_minimum_and_different_minima_two(teacher_problem, rng):
    model, ds = teacher_problem
    a = polish(
        model,
        train(model, model.init(rng), ds.X_train, ds.y_train, lr=0.3, epochs=300).theta,
        ds.X_train,
        ds.y_train,
    )
    copy = random_transform(model.layout, rng, signs=True)(a.theta)
    other = a.theta + 0.5  # far away: a different point
    thetas = np.stack([a.theta, copy, other])
    losses = np.array(
        [
            a.loss,
            model.loss(copy, ds.X_train, ds.y_train),
            model.loss(other, ds.X_train, ds.y_train),
        ]
    )
    raw = cluster(model, thetas[:2], losses[:2], modulo_symmetry=False)
    sym = cluster(model, thetas[:2], losses[:2], modulo_symmetry=True)
    assert (raw.n_classes, sym.n_classes) == (2, 1)
    both = cluster(
        model, np.stack([a.theta, a.theta + 0.3]), np.array([a.loss, a.loss]), modulo_symmetry=True
    )
    assert both.n_classes == 2  # same loss (by construction), different points
    assert cluster(model, thetas, losses, modulo_symmetry=True).n_classes == 2


def test_teacher_student_zero_loss_minima_form_one_class(teacher_problem):
    model, ds = teacher_problem
    starts = np.stack([model.init(np.random.default_rng(s)) for s in range(24)])
    res = train_many(model, starts, ds.X_train, ds.y_train, lr=0.3, epochs=2000)
    points = examine_points(model, res.theta, ds.X_train, ds.y_train)
    points.update(status=res.status, theta_end=res.theta)
    report = analyse_points(model, points, data=(ds.X_train, ds.y_train))
    loss = points["loss"]
    zero = np.flatnonzero((loss < 1e-12) & (points["kind"] == "minimum"))
    assert len(zero) >= 3  # gradient descent does find the global minimum from several starts
    assert len(set(report.point_class[zero])) == 1
    best = report.minima[0]
    assert best.loss < 1e-12 and best.starts == len(zero)
    assert best.copies_met >= 2  # met as several distinct symmetric copies
    assert report.distinct_points >= report.distinct_minima
    assert sum(report.kind_counts.values()) == 24
    # every class of kind minimum stays put under a long descent without a gradient stop
    X, y = ds.X_train, ds.y_train
    t = model.targets(y, len(X))
    for m in report.minima:
        theta = np.array(m.representative)
        res2 = minimize(
            lambda th: tuple(
                v.copy() if isinstance(v, np.ndarray) else float(v)
                for v in model.evaluate(th, X, t)[:2]
            ),
            theta,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 2000, "gtol": 0.0, "ftol": 0.0},
        )
        # (no lower loss beyond the analysis's tolerance: 1e-10 relative plus 1e-12 · E(0))
        assert res2.fun >= m.loss - (1e-10 * m.loss + report.tolerances["loss_floor"])
        assert np.linalg.norm(res2.x - theta) <= 1e-6 * np.linalg.norm(theta)


def test_chao1_formula():
    c = chao1(np.array([5, 1, 1, 2, 3]))
    assert (c.observed, c.singletons, c.doubletons) == (5, 2, 1)
    assert c.estimate == pytest.approx(5 + 4 / 2)
    assert chao1(np.array([1, 1, 1])).estimate == pytest.approx(3 + 3)  # f2 = 0 form
    assert chao1(np.array([4, 2])).complete


# ------------------------------------------------------------------- teacher
def test_teacher_labels_come_from_a_random_mlp():
    X, y = _teacher(n_samples=20, n_features=3, hidden=[5], random_state=7)
    teacher = MLP([3, 5, 1], "tanh", "mse")
    rng = np.random.default_rng(7)
    theta = teacher.init(rng, scheme="normal")
    np.testing.assert_array_equal(X, rng.standard_normal((20, 3)))
    np.testing.assert_allclose(y, teacher.forward(theta, X)[:, 0], rtol=1e-15)


def test_teacher_dataset_options():
    ds = load_dataset(
        "teacher",
        rng=np.random.default_rng(0),
        n_samples=100,
        n_features=4,
        hidden=[3, 2],
        n_outputs=2,
    )
    assert (ds.task, ds.n_inputs, ds.n_outputs, ds.n_train) == ("regression", 4, 2, 80)


# ------------------------------------------------- examine: kinds with known answers
XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0, 1, 1, 0])


def test_examine_least_squares_is_an_isolated_minimum(rng):
    X, y = rng.normal(size=(30, 3)), rng.normal(size=30)
    model = MLP([3, 1], "identity", "mse")
    p = polish(model, np.zeros(4), X, y)
    e = examine(model, p.theta, X, y)
    A = np.hstack([X, np.ones((30, 1))])
    np.testing.assert_allclose(e.theta, np.linalg.lstsq(A, y, rcond=None)[0], rtol=1e-12)
    assert (e.kind, e.n_flat, e.dimension) == ("minimum", 0, 0)


def test_examine_underdetermined_least_squares_is_a_family_of_dimension_d_minus_n(rng):
    # 5 samples, 8 parameters: the minima form an affine set of dimension 8 − 5 = 3
    X, y = rng.normal(size=(5, 7)), rng.normal(size=5)
    model = MLP([7, 1], "identity", "mse")
    e = examine(model, polish(model, np.zeros(8), X, y).theta, X, y)
    assert e.loss < 1e-28
    assert (e.kind, e.dimension, e.n_flat, e.n_explained) == ("family", 3, 3, 0)


def test_examine_separable_logistic_regression_is_at_infinity_with_asymptote_zero(rng):
    # separable data: cross-entropy has no minimiser; E → 0 as ‖θ‖ → ∞
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    model = MLP([2, 2], "identity", "cross_entropy")
    p = polish(model, np.zeros(6), X, y)
    e = examine(model, p.theta, X, y)
    assert e.kind == "at_infinity" and e.growth > 0.05 and e.loss < p.loss
    assert 0.0 <= e.asymptote <= max(e.loss, 1e-300) < 1e-6
    assert e.n_explained == 0  # n_explained is read only at settled points


def test_examine_xor_cross_entropy_calls_no_finite_point_a_minimum():
    model = MLP([2, 2, 2], "tanh", "cross_entropy")
    starts = np.stack([model.init(np.random.default_rng(s), scheme="normal") for s in range(12)])
    res = train_many(model, starts, XOR_X, XOR_Y, lr=0.5, epochs=3000)
    points = examine_points(model, res.theta, XOR_X, XOR_Y)
    assert set(points["kind"]) <= {"at_infinity", "saddle", "unresolved"}
    assert (points["kind"] == "at_infinity").sum() >= 10


def test_examine_xor_mse_zero_loss_set_is_a_family_of_dimension_five():
    # 2-2-1: 9 parameters, 4 equations f(x_n) = y_n: the zero-loss set has dimension 5
    model = MLP([2, 2, 1], "tanh", "mse")
    y = XOR_Y.astype(float)
    starts = np.stack([model.init(np.random.default_rng(s), scheme="normal") for s in range(8)])
    res = train_many(model, starts, XOR_X, y, lr=0.5, epochs=3000)
    points = examine_points(model, res.theta, XOR_X, y)
    zero = points["loss"] < 1e-25
    assert zero.sum() >= 3
    assert set(points["kind"][zero]) == {"family"}
    assert set(points["dimension"][zero]) == {5}
    points.update(status=res.status, theta_end=res.theta)
    report = analyse_points(model, points, data=(XOR_X, y))
    assert report.distinct_minima == 0 and report.chao1.observed == 0
    assert any(f.dimension == 5 and f.loss < 1e-25 for f in report.families)
    assert "famil" in report.headline() and "dim 5" in report.headline()


def test_cluster_families_joins_points_of_one_valley_and_their_symmetric_copies():
    model = MLP([2, 2, 1], "tanh", "mse")
    y = XOR_Y.astype(float)
    th0 = model.init(np.random.default_rng(3), scheme="normal")
    a = polish(model, train(model, th0, XOR_X, y, lr=0.5, epochs=3000).theta, XOR_X, y)
    e = examine(model, a.theta, XOR_X, y)
    assert e.kind == "family"
    # a second point of the same valley: step along a flat direction and descend again
    lam, V = np.linalg.eigh(hessian(model, e.theta, XOR_X, y))
    b = polish(model, e.theta + 0.05 * V[:, 0], XOR_X, y, gtol=1e-14)
    assert np.linalg.norm(b.theta - e.theta) > 0.01 and b.loss < 1e-25
    copy = random_transform(model.layout, np.random.default_rng(1), signs=True)(b.theta)
    thetas = np.stack([e.theta, b.theta, copy])
    losses = np.array([e.loss, b.loss, model.loss(copy, XOR_X, y)])
    raw = cluster_families(model, thetas, losses, (XOR_X, y), modulo_symmetry=False)
    sym = cluster_families(model, thetas, losses, (XOR_X, y), modulo_symmetry=True)
    assert raw.labels[0] == raw.labels[1] and sym.n_classes == 1


def test_examine_zero_network_is_a_saddle(rng):
    X = rng.normal(size=(40, 2))
    y = X[:, 0] * X[:, 1]
    y -= y.mean()
    model = MLP([2, 3, 1], "tanh", "mse")
    e = examine(model, np.zeros(model.n_params), X, y)
    assert e.kind == "saddle" and e.n_negative > 0


def test_examine_relu_teacher_minimum_is_isolated_modulo_rescaling(rng):
    model = MLP([2, 3, 1], "relu", "mse")
    teacher = model.init(np.random.default_rng(11), scheme="normal")
    X = rng.normal(size=(200, 2))
    y = model.forward(teacher, X)[:, 0]
    p = polish(model, teacher + 1e-3 * rng.normal(size=teacher.size), X, y, gtol=1e-13)
    e = examine(model, p.theta, X, y)
    assert e.loss < 1e-25
    # each hidden unit's positive rescaling is a flat direction the symmetry explains
    assert (e.kind, e.n_flat, e.n_explained, e.dimension) == ("minimum", 3, 3, 0)


def test_asymptote_of_a_geometric_sequence_is_exact():
    k = np.arange(30)
    assert _asymptote(0.25 + 3.0 * 0.8**k) == pytest.approx(0.25, rel=1e-12)
    assert np.isnan(_asymptote(np.linspace(1.0, 0.5, 30)))  # linear: not geometric


# --------------------------------------------------------- symmetry group parts
@pytest.mark.parametrize(
    ("act", "loss", "dims"),
    [
        ("relu", "mse", 9),
        ("identity", "mse", 41),
        ("tanh", "cross_entropy", 6),
        ("sigmoid", "mse", 0),
    ],
)
def test_symmetry_tangents_leave_the_outputs_unchanged(act, loss, dims, rng):
    model = MLP([3, 4, 5, 3], act, loss)
    theta = model.init(rng, scheme="normal")
    X = rng.normal(size=(30, 3))
    T = symmetry_tangents(model, theta)
    assert (
        T.shape == (model.n_params, dims) == (model.n_params, model_group_counts(model).continuous)
    )
    out = model.forward(theta, X)
    for v in T.T:
        v = v / np.linalg.norm(v)
        # along a tangent the change is second order: 1e-6 step, outputs move by ≤ 1e-11
        assert np.abs(model.forward(theta + 1e-6 * v, X) - out).max() < 1e-11
        assert (
            np.abs(model.forward(theta + 1e-6 * rng.normal(size=theta.size), X) - out).max() > 1e-9
        )


def test_sigmoid_flip_with_bias_shift_is_a_symmetry_and_align_undoes_it(rng):
    model = MLP([3, 4, 5, 2], "sigmoid", "mse")
    theta = model.init(rng, scheme="normal")
    X = rng.normal(size=(30, 3))
    f = flip_units(model.layout, theta, 0, np.array([1, 0, 1, 0], bool), odd=False)
    f = flip_units(model.layout, f, 1, np.array([0, 1, 1, 0, 1], bool), odd=False)
    np.testing.assert_allclose(model.forward(f, X), model.forward(theta, X), atol=1e-15)
    assert np.abs(f - theta).max() > 0.1
    moved = unit_transform(model.layout, perms={0: np.array([2, 0, 3, 1])})(f)
    np.testing.assert_allclose(align_model(model, moved, theta), theta, atol=1e-14)
    assert model_group_counts(model).with_signs == 4 * 3 * 2 * 2**4 * 120 * 2**5


# ------------------------------------------- the shipped demonstration of distinct minima
def test_shipped_student_spec_finds_two_isolated_minima_each_verified(workdir, capsys):
    import json

    from landscape.runs.problem import prepare
    from landscape.spec import find_spec, parse_spec
    from landscape.study import main

    args = ["minima_student", "--set", "analysis.n_starts=48", "--no-progress", "--no-report"]
    assert main([*args, "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)["minima"]
    minima = [c for c in rep["classes"] if c["kind"] == "minimum"]
    assert len(minima) >= 2
    assert minima[1]["loss"] > 2 * minima[0]["loss"] > 0  # different losses, none zero
    problem = prepare(parse_spec("minima_student", find_spec("minima_student")[1], []))
    X, y = problem.data.X_train, problem.data.y_train
    model = MLP([2, 2, 1], "tanh", "mse")
    for c in minima:
        theta = np.array(c["representative"])
        E, g = model.loss_and_grad(theta, X, y)
        assert E == pytest.approx(c["loss"], rel=1e-12) and np.linalg.norm(g) < 1e-8
        # independently: the Hessian by central differences of the gradient is positive definite
        h = 1e-5
        H = np.array(
            [
                (
                    model.loss_and_grad(theta + h * e, X, y)[1]
                    - model.loss_and_grad(theta - h * e, X, y)[1]
                )
                / (2 * h)
                for e in np.eye(theta.size)
            ]
        )
        lam = np.linalg.eigvalsh(0.5 * (H + H.T))
        assert lam[0] > 1e-6 * lam[-1]
        assert c["copies"] <= 8  # 2! unit swaps × 2² sign flips


def test_saturated_counts_the_unit_samples_whose_slope_rounds_to_zero():
    from landscape.analysis.minima import saturated

    X = np.array([[0.0], [1.0], [30.0]])
    for act, dead in (("tanh", 4), ("sigmoid", 1), ("relu", 0)):
        model = MLP([1, 2, 1], act, "mse")
        # unit 0: z = x; unit 1: z = 40x − 20. tanh' rounds to 0 for |z| ≥ 20 (z = ±20, 30,
        # 1180); σ' = σ(1 − σ) is 2e-9 at |z| = 20 and 9e-14 at 30, and 0 only at z = 1180;
        # relu' = 0 is its value, not rounding
        theta = np.array([1.0, 40.0, 0.0, -20.0, 1.0, 1.0, 0.0])
        assert saturated(model, theta, X) == (dead, 6), act
        h = np.tanh(X @ theta[None, :2] + theta[2:4]) if act == "tanh" else None
        if h is not None:
            assert int(((1.0 - h * h) == 0.0).sum()) == dead


def test_a_saddle_is_named_with_the_descent_direction_that_shows_it(rng):
    X = rng.normal(size=(40, 2))
    y = X[:, 0] * X[:, 1]
    y -= y.mean()
    model = MLP([2, 3, 1], "tanh", "mse")
    e = examine(model, np.zeros(model.n_params), X, y)
    assert e.kind == "saddle" and "lowers E to" in e.reason, e.reason
    # independently: the lowest eigenvector of the exact Hessian, a step of the printed length
    h = float(e.reason.split("a step of ")[1].split(" ")[0])
    lam, V = np.linalg.eigh(hessian(model, e.theta, X, y))
    E = model.loss(e.theta, X, y)
    assert lam[0] < 0
    steps = [model.loss(e.theta + s * h * V[:, 0], X, y) for s in (1.0, -1.0)]
    assert min(steps) < E * (1 - 1e-9)


def test_a_negative_eigenvalue_without_a_descent_direction_is_not_a_saddle(rng, monkeypatch):
    # At the least-squares minimum of a linear model every step raises E. A Hessian whose
    # lowest eigenvalue is negative there can only be wrong (rounding noise at E ≈ 0, one smooth
    # piece of a ReLU kink): the old rule called the point a saddle from the eigenvalue alone.
    from landscape.analysis import minima as mod

    X = rng.normal(size=(30, 2))
    y = X @ np.array([1.0, -2.0]) + 0.1 * rng.normal(size=30)
    model = MLP([2, 1], "identity", "mse")
    theta = np.linalg.lstsq(np.c_[X, np.ones(30)], y, rcond=None)[0]
    true = mod.hessian

    def noisy(m, th, X_, y_):
        lam, V = np.linalg.eigh(true(m, th, X_, y_))
        lam[0] = -1e-3 * lam.max()  # the lowest curvature, made negative
        return (V * lam) @ V.T

    monkeypatch.setattr(mod, "hessian", noisy)
    e = examine(model, theta, X, y)
    assert e.kind == "unresolved" and e.n_negative == 1, (e.kind, e.reason)
    assert "no descent direction to certify a saddle" in e.reason


@pytest.mark.parametrize("scale", [3.0, 300.0])
def test_a_separating_point_is_at_infinity_by_certificate_even_where_e_is_rounding(rng, scale):
    # Separable data, a logistic model that separates it. At scale 300 every margin is over
    # 100 and E underflows: the gradient and the Hessian vanish by rounding, yet scaling the
    # output layer lowers E (it is a slope to infinity, not a point at rest).
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    X += np.where(y[:, None] == 1, 0.5, -0.5) * np.array([1.0, -1.0])  # a clear gap
    model = MLP([2, 2], "identity", "cross_entropy")
    w = np.array([1.0, -1.0])
    theta = model.layout.ravel([(np.c_[-w, w] * scale / 2, np.zeros(2))])
    e = examine(model, theta, X, y)
    assert e.kind == "at_infinity" and e.asymptote == 0.0, (e.kind, e.reason)
    assert "every margin is positive" in e.reason
    # the certificate itself, checked independently: E falls as the output layer grows
    losses = [model.loss(c * theta, X, y) for c in (1.0, 1.5, 2.0)]
    assert losses[0] >= losses[1] >= losses[2]
    assert losses[0] > losses[2] or losses[0] == 0.0


# ------------------------------------------------------------------ ReLU kinks
def _kink_problem(y0=0.0):
    """f(x) = a·relu(w·x + b) + c on x = -1, 0, 1; at θ* = (w, b, a, c) = (1, 0, 1, 0) the
    sample x = 0 sits exactly on the kink (z = b = 0)."""
    from landscape.model import MLP

    model = MLP([1, 1, 1], "relu", "mse")
    X = np.array([[-1.0], [0.0], [1.0]])
    y = np.array([0.0, y0, 1.0])
    theta = np.array([1.0, 0.0, 1.0, 0.0])  # W1, b1, W2, b2
    return model, theta, X, y


def test_a_relu_point_on_a_kink_is_counted():
    from landscape.analysis.minima import kinks

    model, theta, X, _ = _kink_problem()
    assert kinks(model, theta, X) == 1
    theta2 = theta.copy()
    theta2[1] = 1e-3  # b ≠ 0: no sample on the kink
    assert kinks(model, theta2, X) == 0


def test_a_relu_kink_where_every_direction_rises_is_a_non_smooth_minimum():
    # E(θ*) = 0 is the global minimum: E rises (or stays, along the ReLU rescaling) in every
    # direction, though E is not differentiable there
    from landscape.analysis.minima import examine

    model, theta, X, y = _kink_problem()
    assert model.loss(theta, X, y) == 0.0
    e = examine(model, theta, X, y)
    assert e.kind == "minimum"
    assert e.reason.startswith("non-smooth: 1 unit-sample(s) on a ReLU kink")


def test_a_relu_kink_with_a_one_sided_way_down_is_found():
    # with target 0.5 at x = 0, raising b from 0 lowers E (the x = 0 sample's unit turns on)
    # though the piece where that unit is off has no gradient along b
    from landscape.analysis.minima import _nonsmooth_descent, loss_floor
    from landscape.hessian import hessian

    model, theta, X, y = _kink_problem(y0=0.5)
    E = float(model.loss(theta, X, y))
    _, V = np.linalg.eigh(hessian(model, theta, X, y))
    floor = loss_floor(model, X, y)
    down, n = _nonsmooth_descent(
        model, theta, V, E, 1e-3, X, y, lambda a, b: a < b - 1e-10 * b - floor
    )
    assert n == 4 + 2000
    assert down is not None and down[1] < E


class _Profile:
    """A 'model' whose loss depends on θ only through s = θ·v: E = f(s)."""

    def __init__(self, v, f):
        self.v, self.f = v, f

    def loss(self, theta, X, y):
        return self.f(np.asarray(theta) @ self.v)


def test_a_saddle_s_descent_direction_must_lower_e_at_shorter_steps_too():
    from landscape.analysis.minima import _descent_along

    v = np.array([0.6, 0.8])

    def lower(a, b):
        return a < b - 1e-12

    # negative curvature at θ = 0: E = −s², lower at h and at h/4, h/16 → the step at h counts
    got = _descent_along(_Profile(v, lambda s: -(s**2)), np.zeros(2), v, 0.0, 1.0, None, None,
                         lower)  # fmt: skip
    assert got == (1.0, -1.0)

    # another basin one radius away, E flat in between: lower only at h, not a way down from θ
    def basin(s):
        return np.where(np.abs(s) > 0.9, -1.0, 0.0)

    assert _descent_along(_Profile(v, basin), np.zeros(2), v, 0.0, 1.0, None, None, lower) is None

    # a way down reached only by a shorter step: found at that step
    def dip(s):
        return np.where(np.abs(s) < 0.3, -(s**2), 1.0)

    h, e = _descent_along(_Profile(v, dip), np.zeros(2), v, 0.0, 1.0, None, None, lower)
    assert (h, e) == (0.25, -(0.25**2))
