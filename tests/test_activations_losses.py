import numpy as np
import pytest
from scipy.special import log_softmax
from scipy.special import softmax as sp_softmax

from landscape.activations import ACTIVATIONS, get_activation
from landscape.losses import cross_entropy, get_loss, mse, softmax

REFERENCE = {
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "identity": lambda z: z,
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_forward_matches_reference(name, rng):
    z = rng.normal(scale=3.0, size=(6, 5))
    h = z.copy()
    ACTIVATIONS[name].forward(h)
    np.testing.assert_allclose(h, REFERENCE[name](z), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_derivative_matches_central_difference(name, rng):
    z = rng.normal(scale=2.0, size=(50,))
    z = z[np.abs(z) > 1e-3]  # relu's kink
    act = ACTIVATIONS[name]
    h = z.copy()
    act.forward(h)
    delta = np.ones_like(z)
    act.backward(h, delta)
    eps = 1e-6
    fd = (REFERENCE[name](z + eps) - REFERENCE[name](z - eps)) / (2 * eps)
    np.testing.assert_allclose(delta, fd, rtol=1e-7, atol=1e-9)


def test_sigmoid_saturates_without_overflow():
    z = np.array([-1000.0, 0.0, 1000.0])
    with np.errstate(all="raise"):
        get_activation("sigmoid").forward(z)
    np.testing.assert_array_equal(z, [0.0, 0.5, 1.0])


def test_mse_value_has_the_half_and_mean(rng):
    z = rng.normal(size=(8, 3))
    t = rng.normal(size=(8, 3))
    E, delta = mse(z.copy(), t, True)
    assert E == pytest.approx(0.5 * np.sum((z - t) ** 2) / 8, rel=1e-14)
    np.testing.assert_allclose(delta, (z - t) / 8, rtol=1e-14)


def test_cross_entropy_matches_scipy_log_softmax(rng):
    z = rng.normal(scale=4.0, size=(3, 10, 5))
    t = rng.integers(0, 5, 10)
    E, delta = cross_entropy(z.copy(), t, True)
    ref = -log_softmax(z, axis=-1)[:, np.arange(10), t].mean(axis=-1)
    np.testing.assert_allclose(E, ref, rtol=1e-13)
    onehot = np.eye(5)[t]
    np.testing.assert_allclose(delta, (sp_softmax(z, axis=-1) - onehot) / 10, atol=1e-15)


def test_cross_entropy_is_stable_for_huge_logits():
    z = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        E, _ = cross_entropy(z.copy(), np.array([0, 0]), True)
    # sample 0 is certain and right (0), sample 1 is wrong by 1e4 (loss 1e4): mean 5e3
    assert E == pytest.approx(5e3, rel=1e-12)


def test_softmax_rows_sum_to_one(rng):
    p = softmax(rng.normal(scale=50, size=(7, 4)))
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-15)


@pytest.mark.parametrize(
    ("getter", "name", "known"),
    [
        (get_activation, "softplus", "tanh, relu, sigmoid, identity"),
        (get_loss, "hinge", "mse, cross_entropy"),
    ],
)
def test_unknown_names_list_the_known_ones(getter, name, known):
    with pytest.raises(ValueError, match=f"'{name}' is unknown; known: {known}"):
        getter(name)
