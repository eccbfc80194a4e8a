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
    """

    name: str
    forward: Callable[[np.ndarray], None]
    backward: Callable[[np.ndarray, np.ndarray], None]
    odd: bool


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


ACTIVATIONS: dict[str, Activation] = {
    "tanh": Activation("tanh", _tanh, _dtanh, odd=True),
    "relu": Activation("relu", _relu, _drelu, odd=False),
    "sigmoid": Activation("sigmoid", _sigmoid, _dsigmoid, odd=False),
    "identity": Activation("identity", _identity, _didentity, odd=True),
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
