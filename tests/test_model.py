import numpy as np
import pytest

from landscape.activations import ACTIVATIONS
from landscape.model import MLP

DEPTHS = {1: [3, 4], 2: [3, 5, 4], 3: [3, 5, 4, 3]}


def _data(model, rng, n=9):
    X = rng.normal(size=(n, model.sizes[0]))
    if model.is_classifier:
        y = rng.integers(0, model.sizes[-1], n)
    else:
        y = rng.normal(size=(n, model.sizes[-1]))
    return X, y


def _central_difference(model, theta, X, y, h=1e-6):
    g = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        g[i] = (model.loss(theta + e, X, y) - model.loss(theta - e, X, y)) / (2 * h)
    return g


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_mlp_gradient_matches_central_differences(activation, loss, depth, rng):
    model = MLP(DEPTHS[depth], activation, loss)
    theta = model.init(rng, scheme="normal", scale=0.8)
    X, y = _data(model, rng)
    _, grad = model.loss_and_grad(theta, X, y)
    fd = _central_difference(model, theta, X, y)
    rel = np.linalg.norm(grad - fd) / np.linalg.norm(fd)
    assert rel <= 1e-6


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_mlp_stacked_thetas_equal_separate_calls(activation, loss, rng):
    model = MLP([4, 6, 5, 3], activation, loss)
    thetas = model.init(rng, k=7)
    X, y = _data(model, rng, n=11)
    E, G = model.loss_and_grad(thetas, X, y)
    assert E.shape == (7,) and G.shape == thetas.shape
    for k in range(7):
        e_k, g_k = model.loss_and_grad(thetas[k], X, y)
        assert E[k] == pytest.approx(e_k, rel=1e-14)
        np.testing.assert_allclose(G[k], g_k, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(model.loss(thetas, X, y), E, rtol=1e-14)
    np.testing.assert_allclose(model.forward(thetas, X)[3], model.forward(thetas[3], X), rtol=1e-14)


def test_mlp_forward_matches_explicit_layers(rng):
    model = MLP([3, 4, 2], "tanh", "cross_entropy")
    theta = model.init(rng)
    X = rng.normal(size=(5, 3))
    W1, b1, W2, b2 = theta[:12].reshape(3, 4), theta[12:16], theta[16:24].reshape(4, 2), theta[24:]
    z = np.tanh(X @ W1 + b1) @ W2 + b2
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.forward(theta, X), p, rtol=1e-14)
    y = np.array([0, 1, 1, 0, 1])
    assert model.loss(theta, X, y) == pytest.approx(-np.log(p[np.arange(5), y]).mean(), rel=1e-13)
    assert model.accuracy(theta, X, y) == pytest.approx((p.argmax(1) == y).mean())


def test_mlp_mse_one_output_accepts_flat_targets(rng):
    model = MLP([2, 3, 1], "tanh", "mse")
    theta = model.init(rng)
    X = rng.normal(size=(6, 2))
    y = rng.normal(size=6)
    assert model.loss(theta, X, y) == pytest.approx(
        0.5 * np.mean((model.forward(theta, X)[:, 0] - y) ** 2), rel=1e-14
    )


def test_mlp_mse_one_hot_codes_integer_labels(rng):
    model = MLP([2, 3], "identity", "mse")
    theta = model.init(rng)
    X = rng.normal(size=(4, 2))
    y = np.array([0, 2, 1, 2])
    assert model.loss(theta, X, y) == pytest.approx(model.loss(theta, X, np.eye(3)[y]))


def test_mlp_n_params_counts_weights_and_biases():
    assert MLP([64, 64, 10]).n_params == 64 * 64 + 64 + 64 * 10 + 10


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda m, th, X, y: m.loss(th[:-1], X, y),
            r"theta has shape \(19,\); this model needs \(20,\)",
        ),
        (lambda m, th, X, y: m.loss(th, X[:, :2], y), r"X has shape \(5, 2\)"),
        (lambda m, th, X, y: m.loss(th, X, y[:4]), "y has shape"),
        (lambda m, th, X, y: m.loss(th, np.where(X > 0, np.nan, X), y), "NaN or inf"),
        (lambda m, th, X, y: m.loss(th, X, y + 5), r"labels must lie in \[0, 1\]"),
        (lambda m, th, X, y: m.loss(th, X, y + 0.5), "integer class labels"),
    ],
)
def test_mlp_rejects_mismatched_inputs(call, match, rng):
    model = MLP([3, 3, 2])
    theta = model.init(rng)
    X = rng.normal(size=(5, 3))
    y = np.array([0, 1, 0, 1, 1])
    with pytest.raises(ValueError, match=match):
        call(model, theta, X, y)


def test_mlp_rejects_single_output_cross_entropy():
    with pytest.raises(ValueError, match="cross_entropy needs >= 2 outputs"):
        MLP([2, 1], loss="cross_entropy")


def test_mlp_overflowing_theta_gives_nonfinite_loss_without_warning(rng):
    model = MLP([2, 3, 1], "relu", "mse")
    theta = np.full(model.n_params, 1e200)
    E = model.loss(theta, rng.normal(size=(3, 2)), np.zeros(3))
    assert not np.isfinite(E)
