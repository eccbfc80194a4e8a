import math

import numpy as np
import pytest

from landscape.analysis.symmetry import (
    Transform,
    align,
    canonicalize,
    group_counts,
    random_transform,
    transposition,
    unit_slots,
    unit_transform,
    verify_symmetry,
)
from landscape.model import MLP
from landscape.params import Layout

NETS = [
    ([3, 4, 2], "tanh"),
    ([3, 5, 4, 2], "relu"),
    ([2, 3, 4, 3, 2], "tanh"),
    ([2, 4, 3, 1], "sigmoid"),
]


def _net(sizes, act, rng, loss="cross_entropy"):
    loss = loss if sizes[-1] > 1 else "mse"
    model = MLP(sizes, act, loss)
    return model, model.init(rng, scheme="normal")


def test_transform_compose_and_invert(rng):
    model, theta = _net([3, 5, 4, 2], "tanh", rng)
    a = random_transform(model.layout, rng, signs=True)
    b = random_transform(model.layout, rng, signs=True)
    np.testing.assert_array_equal(a.then(b)(theta), b(a(theta)))
    np.testing.assert_array_equal(a.inverse()(a(theta)), theta)
    assert a.then(a.inverse()).is_identity()
    assert np.array_equal(np.sort(a.index), np.arange(model.n_params))  # a permutation


def test_transform_acts_on_stacked_thetas(rng):
    model = MLP([3, 4, 2])
    thetas = model.init(rng, k=5)
    T = random_transform(model.layout, rng)
    np.testing.assert_array_equal(T(thetas)[2], T(thetas[2]))


def test_unit_slots_follow_the_layout():
    model = MLP([2, 3, 2])
    slots = unit_slots(model.layout, 0)
    # unit 1: W1[0,1]=θ[1], W1[1,1]=θ[4], b1[1]=θ[7], W2[1,0]=θ[11], W2[1,1]=θ[12]
    np.testing.assert_array_equal(slots[1], [1, 4, 7, 11, 12])
    with pytest.raises(ValueError, match="layer=1 is not a hidden layer"):
        unit_slots(model.layout, 1)


@pytest.mark.parametrize(("sizes", "act"), NETS)
def test_symmetry_leaves_output_unchanged(sizes, act, rng):
    model, theta = _net(sizes, act, rng)
    X = rng.normal(size=(9, sizes[0]))
    for _ in range(5):
        T = random_transform(model.layout, rng, signs=model.activation.odd)
        np.testing.assert_allclose(
            model.forward(T(theta), X), model.forward(theta, X), rtol=0, atol=1e-14
        )
    assert not np.allclose(T(theta), theta)


def test_sign_flip_is_no_symmetry_for_relu(rng):
    model, theta = _net([3, 4, 2], "relu", rng)
    X = rng.normal(size=(9, 3))
    flip = unit_transform(model.layout, flips={0: np.array([True, False, False, False])})
    assert np.abs(model.forward(flip(theta), X) - model.forward(theta, X)).max() > 1e-3


@pytest.mark.parametrize(("sizes", "act"), NETS)
def test_canonical_form_is_idempotent_and_orbit_invariant(sizes, act, rng):
    model, theta = _net(sizes, act, rng)
    odd = model.activation.odd
    canon, T = canonicalize(model.layout, theta, odd)
    np.testing.assert_array_equal(T(theta), canon)
    np.testing.assert_array_equal(canonicalize(model.layout, canon, odd)[0], canon)
    for _ in range(10):
        moved = random_transform(model.layout, rng, signs=odd)(theta)
        np.testing.assert_array_equal(canonicalize(model.layout, moved, odd)[0], canon)


@pytest.mark.parametrize(("sizes", "act"), NETS)
def test_align_recovers_a_permuted_copy(sizes, act, rng):
    model, theta = _net(sizes, act, rng)
    odd = model.activation.odd
    moved = random_transform(model.layout, rng, signs=odd)(theta)
    aligned, T = align(model.layout, moved, theta, odd)
    np.testing.assert_array_equal(aligned, theta)
    np.testing.assert_array_equal(T(moved), aligned)


def test_gradient_is_equivariant(rng):
    model, theta = _net([3, 5, 4, 2], "tanh", rng)
    X, y = rng.normal(size=(12, 3)), rng.integers(0, 2, 12)
    T = random_transform(model.layout, rng, signs=True)
    _, g = model.loss_and_grad(theta, X, y)
    _, g_moved = model.loss_and_grad(T(theta), X, y)
    np.testing.assert_allclose(g_moved, T(g), rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    ("sizes", "odd", "swaps", "perms", "signs"),
    [
        ([2, 4, 1], True, 6, 24, 384),
        ([3, 16, 16, 2], False, 120 * 120, math.factorial(16) ** 2, None),
        ([2, 3, 2, 1], True, 3, 12, 6 * 8 * 2 * 4),
    ],
)
def test_group_counts(sizes, odd, swaps, perms, signs):
    counts = group_counts(Layout(tuple(sizes)), odd)
    assert (counts.transpositions, counts.permutations, counts.with_signs) == (swaps, perms, signs)


def test_verify_symmetry_all_pairs(rng):
    model, theta = _net([2, 6, 5, 2], "tanh", rng)
    X, y = rng.normal(size=(30, 2)), rng.integers(0, 2, 30)
    check = verify_symmetry(model, theta, X, y, rng=rng, gd_steps=50)
    assert (check.transpositions_tested, check.transpositions_total) == (25, 25)
    assert not check.sampled and check.sign_flips_tested == 11
    assert check.output_deviation < 1e-14 and check.gradient_deviation < 1e-14
    assert check.gd_deviation < 1e-12 and check.passed(1e-12)


def test_verify_symmetry_samples_beyond_the_limit(rng):
    model, theta = _net([2, 40, 2], "relu", rng)
    X, y = rng.normal(size=(20, 2)), rng.integers(0, 2, 20)
    check = verify_symmetry(model, theta, X, y, rng=rng, max_pairs=100, gd_steps=5)
    assert check.sampled and check.transpositions_tested == 100
    assert check.transpositions_total == 780 and check.sign_output_deviation is None
    assert check.passed(1e-12)


def test_transposition_swaps_two_units(rng):
    model, theta = _net([2, 3, 2], "tanh", rng)
    T = transposition(model.layout, 0, 0, 2)
    (W1, b1), (W2, _) = model.layout.unravel(theta)
    (V1, c1), (V2, _) = model.layout.unravel(T(theta))
    np.testing.assert_array_equal(V1[:, [2, 1, 0]], W1)
    np.testing.assert_array_equal(c1[[2, 1, 0]], b1)
    np.testing.assert_array_equal(V2[[2, 1, 0]], W2)
    assert isinstance(T, Transform)


def test_verify_symmetry_checks_the_sigmoid_flip_with_its_bias_shift(rng):
    model = MLP([3, 4, 2], "sigmoid", "mse")
    theta = model.init(rng, scheme="normal")
    X, y = rng.normal(size=(20, 3)), rng.normal(size=(20, 2))
    check = verify_symmetry(model, theta, X, y, rng=rng, n_random=2, gd_steps=5)
    assert check.sign_flips_tested == 4 and check.sign_output_deviation < 1e-15
    assert check.counts.with_signs == 4 * 3 * 2 * 2**4
