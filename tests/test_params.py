import numpy as np
import pytest

from landscape.params import Layout


def test_layout_offsets_follow_contract():
    lay = Layout((3, 4, 2))
    # W1 (3x4) then b1 (4), W2 (4x2) then b2 (2)
    assert lay.offsets == ((0, 12, 16), (16, 24, 26))
    assert lay.n_params == 26


def test_layout_unravel_returns_views_in_row_major_order():
    lay = Layout((3, 4, 2))
    theta = np.arange(26.0)
    (W1, b1), (W2, b2) = lay.unravel(theta)
    np.testing.assert_array_equal(W1, np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(b1, np.arange(12.0, 16.0))
    np.testing.assert_array_equal(W2, np.arange(16.0, 24.0).reshape(4, 2))
    np.testing.assert_array_equal(b2, [24.0, 25.0])
    W2[1, 0] = -1.0
    assert theta[18] == -1.0  # a view, not a copy


def test_layout_unravel_stacked_views():
    lay = Layout((2, 3, 1))
    theta = np.arange(2 * lay.n_params, dtype=float).reshape(2, -1)
    layers = lay.unravel(theta)
    assert layers[0][0].shape == (2, 2, 3)
    assert all(np.shares_memory(a, theta) for pair in layers for a in pair)
    np.testing.assert_array_equal(layers[1][1][1], theta[1, -1:])


def test_layout_ravel_inverts_unravel(rng):
    lay = Layout((5, 3, 3, 2))
    theta = rng.normal(size=(4, lay.n_params))
    np.testing.assert_array_equal(lay.ravel(lay.unravel(theta)), theta)


@pytest.mark.parametrize("scheme", ["glorot", "he", "normal"])
def test_layout_init_is_seeded_and_shaped(scheme):
    lay = Layout((4, 8, 3))
    a = lay.init(np.random.default_rng(7), k=5, scheme=scheme)
    b = lay.init(np.random.default_rng(7), k=5, scheme=scheme)
    assert a.shape == (5, lay.n_params)
    np.testing.assert_array_equal(a, b)
    assert lay.init(np.random.default_rng(7), scheme=scheme).shape == (lay.n_params,)


def test_layout_init_glorot_bound_and_zero_bias():
    lay = Layout((4, 8, 3))
    theta = lay.init(np.random.default_rng(0), k=200)
    (W1, b1), (W2, b2) = lay.unravel(theta)
    bound = np.sqrt(6.0 / 12.0)
    assert np.abs(W1).max() <= bound
    assert np.abs(W1).max() > 0.95 * bound
    assert not b1.any() and not b2.any()


def test_layout_init_he_std():
    lay = Layout((50, 200, 2))
    (W1, _), _ = lay.unravel(lay.init(np.random.default_rng(0), k=20, scheme="he"))
    assert W1.std() == pytest.approx(np.sqrt(2.0 / 50), rel=0.02)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scheme": "xavier"}, "init scheme 'xavier' is unknown; known: glorot, he, normal"),
        ({"scale": 0.0}, "scale=0.0"),
        ({"k": 0}, "k=0"),
    ],
)
def test_layout_init_rejects_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Layout((2, 2)).init(np.random.default_rng(0), **kwargs)


@pytest.mark.parametrize("sizes", [(3,), (3, 0, 2)])
def test_layout_rejects_bad_sizes(sizes):
    with pytest.raises(ValueError, match="sizes="):
        Layout(sizes)
