"""The seed's losses (eqs 4–6), each beside its gradient with respect to the output layer.

E(θ) is the mean over the N samples of E_n (eq 4). Each loss works on the last layer's
pre-activation z (the network's raw output) and returns E together with dE/dz, the error that
backpropagation starts from.
"""

from __future__ import annotations

import functools
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
        ``value_and_delta(z, t, need_delta, need_value=True, scale=1.0)`` with z of shape
        (..., N, d_L) and targets t (see :func:`mse` and :func:`cross_entropy`); returns E of
        shape (...) (None if not ``need_value``) and scale · dE/dz of z's shape (None if not
        ``need_delta``). z may be overwritten.
    output : callable
        ``output(z)`` maps pre-activations to y(x; θ) in place (identity or softmax).
    """

    name: str
    value_and_delta: Callable[..., tuple[np.ndarray | None, np.ndarray | None]]
    output: Callable[[np.ndarray], np.ndarray]


def mse(
    z: np.ndarray, t: np.ndarray, need_delta: bool, need_value: bool = True, scale: float = 1.0
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Mean squared error, eq (5) with its ½, averaged over samples (eq 4).

    Parameters
    ----------
    z : ndarray of shape (..., N, d_L)
        Network output (the identity output layer: y = z). Overwritten with y − t.
    t : ndarray of shape (N, d_L)
        Real targets.
    need_delta : bool
        Also return dE/dz = (y − t) / N.
    need_value : bool
        Compute E (the trainers skip it on mini-batches).
    scale : float
        Factor applied to the returned delta (the trainers pass ε, so backpropagation yields
        ε∇E for eq (3) without another pass over θ).

    Returns
    -------
    E : ndarray of shape (...) or None
        (1/N) Σ_n ½‖y_n − t_n‖².
    delta : ndarray of shape (..., N, d_L) or None
    """
    n = z.shape[-2]
    r = z
    r -= t
    E = 0.5 * np.einsum("...ij,...ij->...", r, r) / n if need_value else None
    if not need_delta:
        return E, None
    r *= scale / n
    return E, r


def cross_entropy(
    z: np.ndarray, t: np.ndarray, need_delta: bool, need_value: bool = True, scale: float = 1.0
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Softmax cross-entropy, eq (6), averaged over samples (eq 4).

    Parameters
    ----------
    z : ndarray of shape (..., N, K)
        Logits; y_k = softmax(z)_k. Overwritten.
    t : ndarray of shape (N,), or (S, N) for per-start mini-batches
        Integer class labels in [0, K); t_nk of eq (6) is their one-hot code.
    need_delta : bool
        Also return dE/dz = (softmax(z) − onehot(t)) / N.
    need_value : bool
        Compute E (the trainers skip it on mini-batches).
    scale : float
        Factor applied to the returned delta (see :func:`mse`).

    Returns
    -------
    E : ndarray of shape (...) or None
        (1/N) Σ_n −log y_{t_n}(x_n), computed as logsumexp(z_n) − z_{n,t_n} after shifting
        by max_k z_nk, which never overflows.
    delta : ndarray of shape (..., N, K) or None

    Notes
    -----
    A non-finite logit makes E non-finite, which the trainer reports as divergence.
    """
    n, k = z.shape[-2:]
    if not z.flags.c_contiguous:  # the flat index below must address z itself
        z = np.ascontiguousarray(z)
    z -= np.maximum.reduce(z, axis=-1, keepdims=True)
    # z_{n, t_n} through one flat index per sample: much cheaper than z[..., rows, t]
    flat = z.reshape(-1) if z.ndim == 2 else z.reshape(*z.shape[:-2], n * k)
    picked = _row_starts(n, k) + t
    if t.ndim == 2:  # labels differ per start (independent mini-batches): index row by row
        where: tuple = (np.arange(t.shape[0])[:, None], picked)
    else:
        where = (..., picked)
    E = None
    if need_value:
        E = -flat[where].sum(axis=-1)
    np.exp(z, out=z)
    s = z @ np.ones(k)  # row sums through BLAS: cheaper than z.sum(axis=-1) on small rows
    if need_value:
        E += np.log(s).sum(axis=-1)
        E /= n
    if not need_delta:
        return E, None
    s *= n / scale
    np.reciprocal(s, out=s)
    z *= s[..., None]  # scale · softmax(z) / N
    flat[where] -= scale / n
    return E, z


@functools.lru_cache(maxsize=64)
def _row_starts(n: int, k: int) -> np.ndarray:
    """Flat offsets 0, k, 2k, … of the rows of an (n, k) array (cached: called every update)."""
    starts = np.arange(0, n * k, k)
    starts.flags.writeable = False
    return starts


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
