import math

import numpy as np
import pytest
from scipy.special import digamma, polygamma

from landscape.schedules import (
    SCHEDULES,
    Constant,
    Cosine,
    Exponential,
    InverseTime,
    LinearDecay,
    StepDecay,
    make_schedule,
)

T = np.array([0, 1, 7, 50, 100, 250, 1000])


@pytest.mark.parametrize(
    ("schedule", "closed_form"),
    [
        (Constant(), lambda t: 0.3 * np.ones_like(t, dtype=float)),
        (
            LinearDecay(tau=100, final_ratio=0.01),
            lambda t: np.where(t <= 100, (1 - t / 100) * 0.3 + (t / 100) * 0.003, 0.003),
        ),
        (InverseTime(tau=10.0), lambda t: 0.3 / (1 + t / 10.0)),
        (StepDecay(step_size=50, gamma=0.5), lambda t: 0.3 * 0.5 ** (t // 50)),
        (Exponential(gamma=0.99), lambda t: 0.3 * 0.99**t),
        (
            Cosine(period=250, final_ratio=0.1),
            lambda t: 0.03 + 0.5 * 0.27 * (1 + np.cos(np.pi * np.minimum(t, 250) / 250)),
        ),
    ],
)
def test_schedule_matches_closed_form(schedule, closed_form):
    np.testing.assert_allclose(schedule(T, 0.3), closed_form(T), rtol=1e-14)
    assert schedule(0, 0.3) == pytest.approx(0.3, rel=1e-15)
    assert isinstance(schedule(5, 0.3), float)


def test_linear_decay_hits_its_ends_exactly():
    s = LinearDecay(tau=40, final_ratio=0.01)
    assert s(40, 2.0) == pytest.approx(0.02, rel=1e-14)
    assert s(10**6, 2.0) == pytest.approx(0.02, rel=1e-14)
    assert s(20, 2.0) == pytest.approx(1.01, rel=1e-14)


def test_inverse_time_satisfies_robbins_monro_partial_sums():
    tau, lr0 = 10.0, 0.5
    s = InverseTime(tau=tau)
    t = np.arange(10**6)
    eps = s(t, lr0)
    partial = np.cumsum(eps)
    # Σ_{t<T} ε_t = lr0·τ·(ψ(τ+T) − ψ(τ)) exactly, which grows like lr0·τ·log T: unbounded
    for T_ in (10**3, 10**4, 10**5, 10**6):
        exact = lr0 * tau * (digamma(tau + T_) - digamma(tau))
        assert partial[T_ - 1] == pytest.approx(exact, rel=1e-10)
    assert partial[10**6 - 1] - partial[10**5 - 1] == pytest.approx(
        lr0 * tau * math.log(10), rel=1e-4
    )
    # Σ ε_t² converges, to lr0²·τ²·ψ'(τ)
    limit = lr0**2 * tau**2 * polygamma(1, tau)
    sq = np.cumsum(eps**2)
    assert sq[-1] == pytest.approx(limit, rel=1e-4)
    assert sq[-1] - sq[10**5] < 1e-3 * limit  # the tail adds almost nothing


def test_make_schedule_by_name():
    assert make_schedule("inverse_time", tau=5.0) == InverseTime(tau=5.0)
    assert set(SCHEDULES) == {"constant", "linear", "inverse_time", "step", "exponential", "cosine"}


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("warmup", {}, "schedule 'warmup' is unknown; known: constant, linear"),
        ("linear", {"gamma": 0.5}, "schedule 'linear' has no parameter 'gamma'; allowed: tau"),
        ("linear", {"tau": 0}, "tau=0 must be a finite number > 0"),
        ("linear", {"tau": 2.5}, "tau=2.5 must be an integer"),
        ("step", {"gamma": 1.5}, r"gamma=1.5 must lie in \(0, 1\]"),
        ("cosine", {"final_ratio": -0.1}, r"final_ratio=-0.1 must lie in \[0, 1\]"),
    ],
)
def test_make_schedule_rejects_bad_input(name, params, match):
    with pytest.raises(ValueError, match=match):
        make_schedule(name, **params)
