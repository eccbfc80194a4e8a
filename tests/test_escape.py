"""Seed 1.3 on a data sample: the noise axis of landscape.analysis.noise on an MLP (SampleNet).

The problem with known spurious minima is Safran & Shamir's as a sample: the population's
spurious minima come from the closed form (landscape.analysis.spurious), and the frozen student
on a large sample has a minimum next to each.
"""

import numpy as np
import pytest

from landscape.analysis import spurious as ss
from landscape.analysis.escape import SampleNet
from landscape.analysis.noise import AxisConfig, descend, reference_minima, sgd_chains
from landscape.data import load_dataset
from landscape.model import MLP

FROZEN = {"W2": 1.0, "b1": 0.0, "b2": 0.0}


@pytest.fixture(scope="module")
def problem():
    """k = n = 8 on 4,000 samples, and one spurious minimum of the population loss."""
    d = k = n = 8
    data = load_dataset(
        "relu_teacher",
        rng=np.random.default_rng(0),
        val_fraction=0.0,
        n_samples=4000,
        n_features=d,
        n_teacher=k,
    )
    model = MLP([d, n, 1], "relu", "mse", FROZEN)
    pop = ss.PopulationReLU(k, n)
    starts = ss.init_students(np.random.default_rng(0), 40, n, d).reshape(40, -1)
    ref = reference_minima(pop, starts, AxisConfig(basin_steps=8000))
    w = ref["minima"][0].reshape(n, d)

    def theta_of(weights):
        theta = model.freeze(np.zeros(model.n_params))
        model.layout.unravel(theta)[0][0][...] = weights.T
        return theta

    chains = SampleNet(model, data.X_train, data.y_train, lr=0.5, global_below=1e-3, gtol=1e-8)
    return chains, theta_of, w, pop


def test_the_sample_problem_is_the_models_loss_and_gradient(problem):
    chains, theta_of, w, pop = problem
    theta = np.stack([theta_of(w), theta_of(pop.V)])
    E, g = chains.model.loss_and_grad(theta, chains.X, chains.y)
    np.testing.assert_allclose(chains.loss(theta), E, rtol=1e-15)
    np.testing.assert_allclose(chains.grad(theta), g, rtol=1e-14, atol=1e-16)
    assert chains.loss(theta)[1] < 1e-30  # the teacher itself
    # at the population's spurious minimum, the sample's loss is the population's within its
    # sampling error (the mean of ½r² over N = 4,000 samples)
    r = chains.model.forward(theta[0], chains.X)[:, 0] - chains.y
    se = 0.5 * np.std(r**2) / np.sqrt(len(r))
    assert abs(chains.loss(theta[:1])[0] - pop.loss(w.ravel()[None])[0]) < 4 * se


def test_the_noisy_gradient_averages_to_the_full_gradient_and_keeps_frozen_entries(problem):
    chains, theta_of, w, _ = problem
    theta = theta_of(w + 0.05)[None, None, :]
    rng = np.random.default_rng(0)
    draws = np.stack([chains.noisy_grad(theta, 64, rng)[0, 0] for _ in range(400)])
    full = chains.grad(theta[0])[0]
    se = draws.std(axis=0) / np.sqrt(len(draws))
    frozen = chains.model.frozen_mask
    assert np.all(np.abs(draws.mean(axis=0) - full)[~frozen] < 5 * se[~frozen] + 1e-12)
    assert frozen.any() and (draws[:, frozen] == 0).all()  # frozen blocks never move
    # the step sizes of one chain share its mini-batch
    two = chains.noisy_grad(np.repeat(theta, 2, axis=1), 8, np.random.default_rng(1))
    np.testing.assert_array_equal(two[:, 0], two[:, 1])


def test_the_sample_minimum_is_verified_and_matched_modulo_unit_permutations(problem):
    chains, theta_of, w, _ = problem
    b = descend(chains, theta_of(w)[None], steps=5000)
    assert b.label.tolist() == ["spurious"]
    m = b.theta[0]
    perm = np.random.default_rng(2).permutation(8)
    copy = theta_of(chains.model.layout.unravel(m)[0][0].T[perm])
    assert chains.same_minimum(m, copy)
    assert not chains.same_minimum(m, theta_of(w * 1.1))
    assert "permutations" in chains.symmetry()


def test_chains_near_the_edge_escape_the_sample_minimum_and_small_steps_stay(problem):
    chains, theta_of, w, _ = problem
    m = descend(chains, theta_of(w)[None], steps=5000).theta
    starts = np.repeat(m, 8, axis=0)
    out = sgd_chains(chains, starts, [0.004, 0.04], 1, 3000, np.random.default_rng(0), cooldown=0.0)
    b = descend(chains, out.theta.reshape(-1, chains.dim), steps=5000)
    lab = b.label.reshape(8, 2)
    assert (lab[:, 0] == "spurious").all()  # ε/ε_div ≈ 0.1: every chain stays
    assert (lab[:, 1] != "spurious").sum() >= 1  # near B = 1's edge (≈ 0.048): some leave
