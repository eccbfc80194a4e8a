import numpy as np
import pytest

from landscape.analysis.geometry import (
    aligned_path,
    filter_normalized_direction,
    hessian_directions,
    interpolate,
    path_grid,
    slice_1d,
    slice_2d,
    slice_grid,
)
from landscape.analysis.symmetry import random_transform
from landscape.hessian import hessian
from landscape.model import MLP


@pytest.fixture
def net(rng):
    model = MLP([3, 5, 4, 2], "tanh", "cross_entropy")
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40)
    return model, X, y


def test_interpolation_end_points_are_the_losses_exactly(net, rng):
    model, X, y = net
    a, b = model.init(rng), model.init(rng)
    p = interpolate(model, a, b, X, y, points=17, X_val=X[:10], y_val=y[:10])
    assert p.alpha[0] == 0.0 and p.alpha[-1] == 1.0 and len(p.alpha) == 17
    assert p.train_loss[0] == model.loss(a, X, y)
    assert p.train_loss[-1] == model.loss(b, X, y)
    assert p.val_loss[-1] == model.loss(b, X[:10], y[:10])
    mid = model.loss(0.5 * a + 0.5 * b, X, y)
    assert p.train_loss[8] == pytest.approx(mid, rel=1e-14)
    line = 0.5 * (p.train_loss[0] + p.train_loss[-1])
    assert p.barrier >= p.train_loss[8] - line


def test_aligning_a_permuted_copy_gives_back_theta_and_no_barrier(net, rng):
    model, X, y = net
    a = model.init(rng)
    copy = random_transform(model.layout, rng, signs=True)(a)
    paths = aligned_path(model, a, copy, X, y, points=11)
    np.testing.assert_array_equal(paths.theta_b_aligned, a)
    assert paths.distance_aligned == 0.0 and paths.distance_raw > 1.0
    assert paths.aligned.barrier == pytest.approx(0.0, abs=1e-15)
    assert paths.raw.barrier > 1e-3  # the raw path between two copies does rise


@pytest.mark.parametrize("ignore_biases", [True, False])
def test_filter_normalized_direction_matches_each_units_norm(net, rng, ignore_biases):
    model, _, _ = net
    theta = model.init(rng, scheme="normal")
    d = filter_normalized_direction(model, theta, rng, ignore_biases=ignore_biases)
    for (W, b), (dW, db) in zip(model.layout.unravel(theta), model.layout.unravel(d), strict=True):
        if ignore_biases:
            np.testing.assert_allclose(
                np.linalg.norm(dW, axis=0), np.linalg.norm(W, axis=0), rtol=1e-14
            )
            assert not db.any()
        else:
            np.testing.assert_allclose(
                np.sqrt((dW**2).sum(0) + db**2), np.sqrt((W**2).sum(0) + b**2), rtol=1e-14
            )


def test_convex_problem_has_no_barrier_and_a_paraboloid_slice(rng):
    # linear regression: E = ½ mean (Aθ − y)², Hessian H = AᵀA/N everywhere
    X = rng.normal(size=(60, 3))
    y = X @ rng.normal(size=3) + 0.1 * rng.normal(size=60)
    model = MLP([3, 1], "identity", "mse")
    A = np.hstack([X, np.ones((60, 1))])
    H = A.T @ A / 60
    star = np.linalg.lstsq(A, y, rcond=None)[0]
    a, b = star + rng.normal(size=4), star + rng.normal(size=4)
    assert interpolate(model, a, b, X, y).barrier <= 1e-15
    d = rng.normal(size=4)
    s = slice_1d(model, star, d, X, y, radius=2.0, points=21)
    E_star = model.loss(star, X, y)
    np.testing.assert_allclose(s.loss, E_star + 0.5 * s.s**2 * (d @ H @ d), rtol=1e-12)
    assert s.loss[10] == E_star
    d2 = rng.normal(size=4)
    p = slice_2d(model, star, d, d2, X, y, radius=1.0, points=7)
    ss, tt = np.meshgrid(p.s, p.t, indexing="ij")
    quad = ss[..., None] * d + tt[..., None] * d2
    expect = E_star + 0.5 * np.einsum("ijk,kl,ijl->ij", quad, H, quad)
    np.testing.assert_allclose(p.loss, expect, rtol=1e-11)


def test_hessian_directions_are_the_top_eigenvectors(net, rng):
    model, X, y = net
    theta = model.init(rng)
    lam, V = hessian_directions(model, theta, X, y, k=2)
    H = hessian(model, theta, X, y)
    np.testing.assert_allclose(H @ V[0], lam[0] * V[0], atol=1e-12)
    assert lam[0] >= lam[1] and lam[0] == pytest.approx(np.linalg.eigvalsh(H)[-1])


def test_grids_are_exact_at_their_ends_and_centre():
    assert path_grid(5).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    g = slice_grid(0.3, 7)
    assert g[3] == 0.0 and g[0] == -0.3 and g[-1] == 0.3
    with pytest.raises(ValueError, match="points=4 must be odd"):
        slice_grid(1.0, 4)
