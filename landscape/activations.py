"""Hidden-layer activations f, each beside its derivative.

The derivative is written in terms of the activation's *output* h = f(z) (as in
scikit-learn's ``_base.py``), so backpropagation needs no stored pre-activations, and it is
applied in place to the back-propagated error ``delta`` to avoid a temporary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Activation:
    """An activation f, applied in place, and its derivative as a function of h = f(z).

    Attributes
    ----------
    name : str
    forward : callable
        ``forward(z)`` overwrites z (any shape) with f(z).
    backward : callable
        ``backward(h, delta)`` overwrites delta with delta · f'(z), given h = f(z).
    odd : bool
        f(−z) = −f(z): then flipping the sign of a unit's incoming and outgoing weights is a
        symmetry of the network (seed 1.2).
    slope : callable
        ``slope(h)`` returns f'(z) as a new array, given h = f(z).
    bend : callable
        ``bend(h, hdot)`` returns the directional derivative of f'(z) when h moves by ``hdot``
        (f''(z)·ż written through h; the exact Hessian of :mod:`landscape.hessian`).
    """

    name: str
    forward: Callable[[np.ndarray], None]
    backward: Callable[[np.ndarray, np.ndarray], None]
    odd: bool
    slope: Callable[[np.ndarray], np.ndarray]
    bend: Callable[[np.ndarray, np.ndarray], np.ndarray]


def _tanh(z: np.ndarray) -> None:
    np.tanh(z, out=z)


def _dtanh(h: np.ndarray, delta: np.ndarray) -> None:
    # f'(z) = 1 − tanh(z)² = 1 − h²
    d = h * h
    np.subtract(1.0, d, out=d)
    delta *= d


def _relu(z: np.ndarray) -> None:
    np.maximum(z, 0.0, out=z)


def _drelu(h: np.ndarray, delta: np.ndarray) -> None:
    # f'(z) = 1 for z > 0 and 0 otherwise; h > 0 exactly when z > 0 (the subgradient 0 at z = 0)
    delta[h <= 0.0] = 0.0


def _sigmoid(z: np.ndarray) -> None:
    # 1/(1+e^{−z}) = (1 + tanh(z/2)) / 2 never overflows, unlike exp(−z) for z ≪ 0
    z *= 0.5
    np.tanh(z, out=z)
    z += 1.0
    z *= 0.5


def _dsigmoid(h: np.ndarray, delta: np.ndarray) -> None:
    # f'(z) = σ(z)(1 − σ(z)) = h(1 − h)
    d = 1.0 - h
    d *= h
    delta *= d


def _identity(z: np.ndarray) -> None:
    return None


def _didentity(h: np.ndarray, delta: np.ndarray) -> None:
    return None


def _zero_bend(h: np.ndarray, hdot: np.ndarray) -> np.ndarray:
    # f' is piecewise constant (relu away from its kink, identity): it does not move
    return np.zeros(np.broadcast_shapes(h.shape, hdot.shape))


ACTIVATIONS: dict[str, Activation] = {
    # tanh: f' = 1 − h², so d f' = −2h·ḣ; sigmoid: f' = h(1 − h), so d f' = (1 − 2h)·ḣ
    "tanh": Activation(
        "tanh", _tanh, _dtanh, True, lambda h: 1.0 - h * h, lambda h, hd: -2.0 * h * hd
    ),
    "relu": Activation("relu", _relu, _drelu, False, lambda h: (h > 0.0) * 1.0, _zero_bend),
    "sigmoid": Activation(
        "sigmoid",
        _sigmoid,
        _dsigmoid,
        False,
        lambda h: h * (1.0 - h),
        lambda h, hd: (1.0 - 2.0 * h) * hd,
    ),
    "identity": Activation(
        "identity", _identity, _didentity, True, lambda h: np.ones_like(h), _zero_bend
    ),
}


def get_activation(name: str) -> Activation:
    """Look an activation up by name.

    Raises
    ------
    ValueError
        If ``name`` is unknown; the message lists the known names.
    """
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"activation {name!r} is unknown; known: {', '.join(ACTIVATIONS)}"
        ) from None
