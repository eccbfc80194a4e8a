"""The compiled engine: full-batch gradient descent over many starts as one XLA kernel.

:func:`landscape.train.train_many` stays the readable reference (the seed's update rule, eq 3,
in one NumPy line); with ``engine="jax"`` its full-batch path runs here instead: the loss of
one start written in ``jax.numpy``, its gradient by reverse-mode autodiff, ``vmap`` over the
starts, ``lax.scan`` over a block of ``check_every`` updates, ``jit`` once per block shape. The
stopping rules are the trainer's own (:class:`landscape.train._Rules`), applied with the same
timing: divergence at every update inside the kernel (a diverged start is held where it was
and leaves at the end of the block), convergence between blocks in NumPy. The results agree
with the NumPy path to rounding (tests/test_engine.py: θ within 1e-12 relative, the same
statuses and epochs).

JAX is an optional extra (``pip install landscape[fast]``); :func:`available` says whether it
is installed, and ``engine="auto"`` uses it where it applies. float64 is switched on
(``jax_enable_x64``) when the engine is first used: the toolkit computes in float64
throughout.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

ENGINES = ("auto", "numpy", "jax")
"""The values of ``engine``: ``auto`` is ``jax`` when it is installed and applies, else numpy."""


def available() -> bool:
    """Whether JAX is installed (the ``[fast]`` extra)."""
    return importlib.util.find_spec("jax") is not None


def resolve(engine: str, full_batch: bool) -> str:
    """The engine that runs: ``numpy`` or ``jax``.

    Raises
    ------
    ValueError
        For an unknown name, ``jax`` without JAX installed, or ``jax`` asked for mini-batch
        training (the engine runs full-batch gradient descent; mini-batches run on NumPy).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine={engine!r} is unknown; allowed: {', '.join(ENGINES)}")
    if engine == "numpy":
        return "numpy"
    if engine == "auto":
        return "jax" if full_batch and available() else "numpy"
    if not available():
        raise ValueError(
            "engine='jax' needs JAX: pip install 'landscape[fast]' (or use engine='numpy')"
        )
    if not full_batch:
        raise ValueError(
            "engine='jax' runs full-batch gradient descent only; mini-batch training runs on "
            "engine='numpy' (or 'auto')"
        )
    return "jax"


@functools.cache
def _jax():
    if "jax" not in sys.modules:
        # One XLA thread, as small work gets one BLAS thread (landscape.threads): on our
        # (K, N, width) arrays a second thread costs more CPU than it saves (measured: 8.3 s
        # against 4.4 s of CPU for 256 starts × 3,000 updates). A user's XLA_FLAGS win.
        os.environ.setdefault(
            "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        )
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


def _activation(name: str) -> Callable:
    jnp = _jax().numpy
    if name == "tanh":
        return jnp.tanh
    if name == "relu":
        # where, not maximum: the subgradient at z = 0 is 0, as in the NumPy path
        return lambda z: jnp.where(z > 0.0, z, 0.0)
    if name == "sigmoid":
        return lambda z: 0.5 * (1.0 + jnp.tanh(0.5 * z))  # as the NumPy path: never overflows
    if name == "identity":
        return lambda z: z
    raise ValueError(f"activation {name!r} has no engine form")


def loss_function(model) -> Callable:
    """E(θ) of one start on (X, t) in ``jax.numpy``: ``f(theta (D,), X (N, d_0), t) → E``.

    ``t`` as :meth:`landscape.model.MLP.targets` gives it: labels (N,) for cross-entropy,
    real targets (N, d_L) for MSE.
    """
    jnp = _jax().numpy
    blocks = model.layout._blocks
    act = _activation(model.activation.name)
    loss = model.loss_fn.name

    def energy(theta, X, t):
        h = X
        for i, (w0, b0, b1, d_in, d_out) in enumerate(blocks):
            z = h @ theta[w0:b0].reshape(d_in, d_out) + theta[b0:b1]
            h = act(z) if i < len(blocks) - 1 else z
        n = X.shape[0]
        if loss == "mse":
            r = h - t
            return 0.5 * jnp.sum(r * r) / n
        z = h - jnp.max(h, axis=-1, keepdims=True)
        picked = jnp.take_along_axis(z, t[:, None], axis=-1)[:, 0]
        return (jnp.sum(jnp.log(jnp.sum(jnp.exp(z), axis=-1))) - jnp.sum(picked)) / n

    return energy


@functools.lru_cache(maxsize=32)
def _kernels(model_key: tuple, diverge_factor: float) -> tuple[Any, Any]:
    """The compiled block of updates and the evaluation, for one model (cached by its key)."""
    jax = _jax()
    jnp = jax.numpy
    model = _MODELS[model_key]
    energy = loss_function(model)
    value_and_grad = jax.value_and_grad(energy)
    free = (
        None
        if model._frozen_idx is None
        else jnp.asarray(np.isin(np.arange(model.n_params), model.free).astype(np.float64))
    )

    def one(theta, X, t):
        E, g = value_and_grad(theta, X, t)
        return E, g if free is None else g * free

    evaluate = jax.jit(jax.vmap(one, in_axes=(0, None, None)))

    def block(theta, alive, E0, lrs, first_epoch, X, t):
        """``len(lrs)`` updates of every alive start; divergence checked before each one."""

        def update(carry, inputs):
            theta, alive, div_epoch, div_E, last = carry
            lr, epoch = inputs
            E, g = jax.vmap(one, in_axes=(0, None, None))(theta, X, t)
            bad = alive & (~jnp.isfinite(E) | (E > diverge_factor * E0))
            div_epoch = jnp.where(bad, epoch - 1, div_epoch)
            div_E = jnp.where(bad, E, div_E)
            alive = alive & ~bad
            step = lr * g
            theta = jnp.where(alive[:, None], theta - step, theta)
            last = jnp.where(alive[:, None], step, last)
            return (theta, alive, div_epoch, div_E, last), None

        k = theta.shape[0]
        epochs = first_epoch + jnp.arange(lrs.shape[0])
        init = (theta, alive, jnp.full(k, -1), jnp.full(k, jnp.nan), jnp.zeros_like(theta))
        (theta, alive, div_epoch, div_E, last), _ = jax.lax.scan(update, init, (lrs, epochs))
        return theta, alive, div_epoch, div_E, last

    return jax.jit(block), evaluate


_MODELS: dict[tuple, Any] = {}


def _model_key(model) -> tuple:
    key = (
        model.layout.sizes,
        model.activation.name,
        model.loss_fn.name,
        tuple(sorted(model.frozen.items())),
    )
    _MODELS.setdefault(key, model)
    return key


def gd_chunk(
    model,
    theta: np.ndarray,
    X: np.ndarray,
    t: np.ndarray,
    lr: float,
    epochs: int,
    sched,
    rules,
    check_every: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Full-batch gradient descent of the starts ``theta`` (K, D), as the NumPy path does it.

    Parameters
    ----------
    model : MLP
    theta : ndarray of shape (K, D)
        The starts; not modified.
    X : ndarray of shape (N, d_0)
    t : ndarray
        Targets as :meth:`landscape.model.MLP.targets` gives them.
    lr, epochs, sched, rules, check_every
        As in :func:`landscape.train.train_many` (``sched`` and ``rules`` resolved).

    Returns
    -------
    theta : ndarray of shape (K, D)
    status : ndarray of str, shape (K,)
        converged, diverged or budget.
    loss, grad_norm : ndarray of shape (K,)
        E and ‖∇E‖ where each start ended (NaN ‖∇E‖ for a start that diverged mid-run, as
        the NumPy path reports it).
    epochs : ndarray of int, shape (K,)
    """
    jax = _jax()
    jnp = jax.numpy
    block, evaluate = _kernels(_model_key(model), float(rules.diverge_factor))
    K = theta.shape[0]
    Xj, tj = jnp.asarray(X), jnp.asarray(t)
    th = jnp.asarray(theta)
    E0, _ = evaluate(th, Xj, tj)
    alive = jnp.ones(K, dtype=bool)
    status = np.full(K, "budget", dtype="<U9")
    loss = np.full(K, np.nan)
    gnorm = np.full(K, np.nan)
    ran = np.full(K, epochs, dtype=np.int64)
    out = np.array(theta, dtype=np.float64, copy=True)
    done = np.zeros(K, dtype=bool)
    epoch = 0
    while epoch < epochs:
        c = min(check_every, epochs - epoch)
        lrs = np.atleast_1d(np.asarray(sched(np.arange(epoch, epoch + c), lr), dtype=np.float64))
        lrs_j = jnp.asarray(lrs)
        th, alive, div_epoch, div_E, last = block(th, alive, E0, lrs_j, epoch + 1, Xj, tj)
        epoch += c
        div_epoch = np.asarray(div_epoch)
        new_div = (div_epoch >= 0) & ~done
        if new_div.any():
            out[new_div] = np.asarray(th)[new_div]
            status[new_div] = "diverged"
            loss[new_div] = np.asarray(div_E)[new_div]
            ran[new_div] = div_epoch[new_div]
            done |= new_div
        if epoch < epochs and epoch % check_every:
            continue  # (only the last block can be short; it is checked below)
        live = ~done
        if not live.any():
            break
        step = np.asarray(last)
        theta_np = np.asarray(th)
        lr_t = float(lrs[-1])
        size = np.abs(step).max(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):  # ε_t = 0: no step, ‖∇E‖ NaN
            gn = np.sqrt(np.einsum("kd,kd->k", step, step)) / lr_t
        conv = (rules.still(size, np.abs(theta_np).max(axis=1)) | rules.small_gradient(gn)) & live
        if rules.no_more_steps(sched, epoch, lr):
            conv[:] = False  # ε = 0 is no convergence: the start runs out its budget
        if conv.any():
            Eg, g = evaluate(th, Xj, tj)
            Eg, g = np.asarray(Eg), np.asarray(g)
            out[conv] = theta_np[conv]
            status[conv] = "converged"
            loss[conv] = Eg[conv]
            gnorm[conv] = np.sqrt(np.einsum("kd,kd->k", g[conv], g[conv]))
            ran[conv] = epoch
            done |= conv
            alive = jnp.asarray(~done)
    rest = ~done
    if rest.any():
        Eg, g = evaluate(th, Xj, tj)
        Eg, g = np.asarray(Eg), np.asarray(g)
        theta_np = np.asarray(th)
        out[rest] = theta_np[rest]
        bad = rules.diverged(Eg, np.asarray(E0))
        status[rest] = np.where(bad[rest], "diverged", "budget")
        loss[rest] = Eg[rest]
        gnorm[rest] = np.sqrt(np.einsum("kd,kd->k", g[rest], g[rest]))
    return out, status, loss, gnorm, ran
