import numpy as np
import pytest

from landscape.analysis.hessian import hessian, hessian_vector_product, largest_eigenvalue
from landscape.analysis.minima import analyse_points, chao1, classify, cluster, polish
from landscape.analysis.symmetry import random_transform
from landscape.data import _teacher, load_dataset
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
    P = [polish(model, th, ds.X_train, ds.y_train) for th in res.theta]
    theta = np.stack([p.theta for p in P])
    loss = np.array([p.loss for p in P])
    eig = np.stack([np.linalg.eigvalsh(hessian(model, p.theta, ds.X_train, ds.y_train)) for p in P])
    report = analyse_points(
        model,
        theta,
        loss,
        np.array([p.converged for p in P]),
        eig,
        res.status,
        data=(ds.X_train, ds.y_train),
    )
    zero = np.flatnonzero((loss < 1e-12) & (report.point_class >= 0))
    assert len(zero) >= 3  # gradient descent does find the global minimum from several starts
    assert len(set(report.point_class[zero])) == 1
    best = report.minima[0]
    assert best.loss < 1e-12 and best.starts == len(zero)
    assert best.copies_met >= 2  # met as several distinct symmetric copies
    assert report.distinct_points >= report.distinct_minima


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
