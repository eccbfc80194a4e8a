"""The seed's losses (eqs 4–6), each beside its gradient with respect to the output layer.

E(θ) is the mean over the N samples of E_n (eq 4). Each loss works on the last layer's
pre-activation z (the network's raw output) and returns E together with dE/dz, the error that
backpropagation starts from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Loss:
    """A loss on output pre-activations.

    Attributes
    ----------
    name : str
    value_and_delta : callable
        ``value_and_delta(z, t, need_delta)`` with z of shape (..., N, d_L) and targets t
        (see :func:`mse` and :func:`cross_entropy`); returns E of shape (...) and, if asked,
        dE/dz of z's shape (else None). z may be overwritten.
    output : callable
        ``output(z)`` maps pre-activations to y(x; θ) in place (identity or softmax).
    """

    name: str
    value_and_delta: Callable[[np.ndarray, np.ndarray, bool], tuple[np.ndarray, np.ndarray | None]]
    output: Callable[[np.ndarray], np.ndarray]


def mse(z: np.ndarray, t: np.ndarray, need_delta: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean squared error, eq (5) with its ½, averaged over samples (eq 4).

    Parameters
    ----------
    z : ndarray of shape (..., N, d_L)
        Network output (the identity output layer: y = z). Overwritten with y − t.
    t : ndarray of shape (N, d_L)
        Real targets.
    need_delta : bool
        Also return dE/dz = (y − t) / N.

    Returns
    -------
    E : ndarray of shape (...)
        (1/N) Σ_n ½‖y_n − t_n‖².
    delta : ndarray of shape (..., N, d_L) or None
    """
    n = z.shape[-2]
    r = z
    r -= t
    E = 0.5 * np.einsum("...ij,...ij->...", r, r) / n
    if not need_delta:
        return E, None
    r /= n
    return E, r


def _log_softmax_parts(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shift z by its row maximum in place and return (shifted z, log Σ exp)."""
    z -= z.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=-1))
    return z, lse


def cross_entropy(
    z: np.ndarray, t: np.ndarray, need_delta: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Softmax cross-entropy, eq (6), averaged over samples (eq 4).

    Parameters
    ----------
    z : ndarray of shape (..., N, K)
        Logits; y_k = softmax(z)_k. Overwritten.
    t : ndarray of shape (N,)
        Integer class labels in [0, K); t_nk of eq (6) is their one-hot code.
    need_delta : bool
        Also return dE/dz = (softmax(z) − onehot(t)) / N.

    Returns
    -------
    E : ndarray of shape (...)
        (1/N) Σ_n −log y_{t_n}(x_n), computed as logsumexp(z_n) − z_{n,t_n} after shifting
        by max_k z_nk, which never overflows.
    delta : ndarray of shape (..., N, K) or None

    Notes
    -----
    A non-finite logit makes E non-finite, which the trainer reports as divergence.
    """
    n = z.shape[-2]
    z, lse = _log_softmax_parts(z)
    rows = np.arange(n)
    picked = z[..., rows, t]
    E = (lse - picked).sum(axis=-1) / n
    if not need_delta:
        return E, None
    z -= lse[..., None]
    np.exp(z, out=z)  # softmax probabilities
    z[..., rows, t] -= 1.0
    z /= n
    return E, z


def _identity_output(z: np.ndarray) -> np.ndarray:
    return z


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in place; stable for any finite z.

    Parameters
    ----------
    z : ndarray of shape (..., K)

    Returns
    -------
    ndarray of shape (..., K)
        The same array, now holding probabilities.
    """
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


LOSSES: dict[str, Loss] = {
    "mse": Loss("mse", mse, _identity_output),
    "cross_entropy": Loss("cross_entropy", cross_entropy, softmax),
}


def get_loss(name: str) -> Loss:
    """Look a loss up by name.

    Raises
    ------
    ValueError
        If ``name`` is unknown; the message lists the known names.
    """
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"loss {name!r} is unknown; known: {', '.join(LOSSES)}") from None
