"""A multilayer perceptron whose parameters are one flat vector θ (DESIGN.md, contract).

Layer l computes h_l = f(h_{l-1} @ W_l + b_l); the last layer has no f: its output z goes to
the loss, which maps it to y(x; θ) (identity for MSE, softmax for cross-entropy). Every method
takes θ of shape (D,) or a population of K starts of shape (K, D); the latter is evaluated in
one vectorised computation and yields K losses and (K, D) gradients.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from landscape.activations import get_activation
from landscape.losses import get_loss
from landscape.params import Layout

BLOCK_BYTES = 1 << 18
"""Target size of one block's widest activation array (see :meth:`MLP.evaluate`)."""


class MLP:
    """A fully connected network on a flat parameter vector.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths (d_0, …, d_L): inputs, hidden layers, outputs. ``[2, 2, 1]`` is the
        2-2-1 XOR network.
    activation : {"tanh", "relu", "sigmoid", "identity"}
        Activation f of every hidden layer.
    loss : {"cross_entropy", "mse"}
        ``cross_entropy``: softmax outputs and eq (6), targets are integer labels in
        [0, d_L). ``mse``: identity outputs and eq (5) with its ½; targets are real arrays of
        shape (N,) when d_L = 1 or (N, d_L), or integer labels that are one-hot coded.
    frozen : mapping of str to float, optional
        Parameter blocks held fixed, each at one value: ``{"W2": 1.0, "b1": 0.0, "b2": 0.0}``
        is Safran & Shamir's student (output weights 1, no biases). Names are those of
        :meth:`Layout.block` (``W1`` … ``WL``, ``b1`` … ``bL``). :meth:`init` puts the values
        there; the gradient is zero there, so no trainer or polisher moves them, and the
        analyses work in the F free coordinates (:attr:`free`): Hessians are F × F, and only
        symmetries that keep every frozen entry count (:mod:`landscape.analysis.symmetry`).

    Attributes
    ----------
    layout : Layout
        Where each W_l and b_l sits in θ.
    n_params : int
        D, the length of θ.
    frozen : dict of str to float
        The frozen blocks ({} when none).
    free : ndarray of int, shape (F,)
        Indices of the free entries of θ (all D when nothing is frozen).
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "tanh",
        loss: str = "cross_entropy",
        frozen: Mapping[str, float] | None = None,
    ) -> None:
        self.layout = Layout(tuple(sizes))
        self.activation = get_activation(activation)
        self.loss_fn = get_loss(loss)
        if loss == "cross_entropy" and self.layout.sizes[-1] < 2:
            raise ValueError(
                f"sizes={list(sizes)}: cross_entropy needs >= 2 outputs (one per class)"
            )
        self.frozen: dict[str, float] = {}
        mask = np.zeros(self.layout.n_params, dtype=bool)
        values = np.zeros(self.layout.n_params)
        for name, value in dict(frozen or {}).items():
            block = self.layout.block(name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"frozen {name}={value!r} must be a number")
            if not np.isfinite(value):
                raise ValueError(f"frozen {name}={value!r} must be finite")
            self.frozen[name] = float(value)
            mask[block] = True
            values[block] = value
        if mask.all():
            raise ValueError(f"frozen={self.frozen}: every parameter is frozen, nothing to train")
        self.free = np.flatnonzero(~mask)
        # None when nothing is frozen: the hot path then skips the masking altogether
        self._frozen_idx = np.flatnonzero(mask) if mask.any() else None
        self._frozen_values = values[mask]

    def __repr__(self) -> str:
        frozen = f", frozen={self.frozen}" if self.frozen else ""
        return (
            f"MLP(sizes={list(self.sizes)}, activation={self.activation.name!r}, "
            f"loss={self.loss_fn.name!r}{frozen})"
        )

    @property
    def n_free(self) -> int:
        """F, the number of free (trainable) parameters: D minus the frozen ones."""
        return int(self.free.size)

    @property
    def frozen_mask(self) -> np.ndarray:
        """Boolean mask of shape (D,): True at frozen entries."""
        mask = np.zeros(self.n_params, dtype=bool)
        if self._frozen_idx is not None:
            mask[self._frozen_idx] = True
        return mask

    def embed(self, v: np.ndarray) -> np.ndarray:
        """Place free-coordinate vectors in θ's layout, zero at the frozen entries.

        Parameters
        ----------
        v : ndarray of shape (..., F)

        Returns
        -------
        ndarray of shape (..., D)
        """
        v = np.asarray(v)
        if self._frozen_idx is None:
            return v
        out = np.zeros((*v.shape[:-1], self.n_params), dtype=v.dtype)
        out[..., self.free] = v
        return out

    def freeze(self, theta: np.ndarray) -> np.ndarray:
        """Set the frozen entries of θ (D,) or (K, D) to their values, in place; return θ."""
        if self._frozen_idx is not None:
            theta[..., self._frozen_idx] = self._frozen_values
        return theta

    @property
    def sizes(self) -> tuple[int, ...]:
        """Layer widths (d_0, …, d_L)."""
        return self.layout.sizes

    @property
    def n_params(self) -> int:
        """D, the number of parameters."""
        return self.layout.n_params

    @property
    def is_classifier(self) -> bool:
        """True for the cross-entropy loss."""
        return self.loss_fn.name == "cross_entropy"

    # ------------------------------------------------------------------ setup
    def init(
        self,
        rng: np.random.Generator,
        k: int | None = None,
        scheme: str | None = None,
        scale: float = 1.0,
    ) -> np.ndarray:
        """Draw θ⁽⁰⁾; see :meth:`landscape.params.Layout.init`.

        Parameters
        ----------
        rng : numpy.random.Generator
        k : int or None
            None for shape (D,), else (k, D).
        scheme : {"glorot", "he", "normal"} or None
            None picks ``he`` for relu and ``glorot`` otherwise.
        scale : float

        Returns
        -------
        ndarray of shape (D,) or (k, D)
        """
        if scheme is None:
            scheme = "he" if self.activation.name == "relu" else "glorot"
        return self.freeze(self.layout.init(rng, k=k, scheme=scheme, scale=scale))

    def check_theta(self, theta: np.ndarray) -> np.ndarray:
        """Validate θ: float array of shape (D,) or (K, D).

        Returns
        -------
        ndarray of shape (D,) or (K, D), dtype float64
        """
        theta = np.asarray(theta)
        if theta.ndim not in (1, 2) or theta.shape[-1] != self.n_params:
            raise ValueError(
                f"theta has shape {theta.shape}; this model needs ({self.n_params},) "
                f"or (K, {self.n_params})"
            )
        if theta.dtype != np.float64:
            theta = theta.astype(np.float64)
        return theta

    def check_inputs(self, X: np.ndarray) -> np.ndarray:
        """Validate inputs: finite floats of shape (N, d_0).

        Returns
        -------
        ndarray of shape (N, d_0), dtype float64
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.sizes[0]:
            raise ValueError(f"X has shape {X.shape}; this model needs (N, {self.sizes[0]})")
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or inf; data must be finite")
        return X

    def targets(self, y: np.ndarray, n: int) -> np.ndarray:
        """Validate targets and put them in the form the loss uses.

        Parameters
        ----------
        y : array-like
            Integer labels of shape (N,) for cross-entropy; for MSE real targets of shape
            (N,) (d_L = 1) or (N, d_L), or integer labels (one-hot coded).
        n : int
            N, the number of samples in X.

        Returns
        -------
        ndarray
            Labels of shape (N,) (cross-entropy) or real targets of shape (N, d_L) (MSE).
        """
        y = np.asarray(y)
        d_out = self.sizes[-1]
        if y.shape[:1] != (n,):
            raise ValueError(f"y has shape {y.shape}; X has {n} samples, so y needs {n} rows")
        if y.dtype.kind not in "biuf":
            raise ValueError(f"y has dtype {y.dtype}; targets must be numbers")
        if not np.isfinite(y).all():
            raise ValueError("y contains NaN or inf; data must be finite")
        if self.is_classifier:
            labels = y.astype(np.intp)
            if y.ndim != 1 or not np.array_equal(labels, y):
                raise ValueError(
                    f"y has shape {y.shape} and dtype {y.dtype}; cross_entropy needs "
                    "integer class labels of shape (N,)"
                )
            if n and (labels.min() < 0 or labels.max() >= d_out):
                raise ValueError(
                    f"labels range over [{labels.min()}, {labels.max()}]; this model has "
                    f"{d_out} outputs, so labels must lie in [0, {d_out - 1}]"
                )
            return labels
        if y.ndim == 1 and y.dtype.kind in "biu" and d_out > 1:
            if n and (y.min() < 0 or y.max() >= d_out):
                raise ValueError(
                    f"labels range over [{y.min()}, {y.max()}]; one-hot coding for {d_out} "
                    f"outputs needs labels in [0, {d_out - 1}]"
                )
            return np.eye(d_out)[y]
        t = y.astype(np.float64)
        if t.ndim == 1:
            t = t[:, None]
        if t.ndim != 2 or t.shape[1] != d_out:
            raise ValueError(f"y has shape {y.shape}; mse with {d_out} outputs needs (N, {d_out})")
        return t

    # -------------------------------------------------------------- compute
    def _hidden(
        self, theta: np.ndarray, X: np.ndarray, layers: list | None = None
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """Forward pass; returns the inputs of every layer and the output pre-activation z."""
        if layers is None:
            layers = self.layout.unravel(theta)
        f = self.activation.forward
        hs = [X]
        h = X
        stacked = theta.ndim == 2
        for W, b in layers[:-1]:
            h = h @ W
            h += b[:, None, :] if stacked else b
            f(h)
            hs.append(h)
        W, b = layers[-1]
        z = h @ W
        z += b[:, None, :] if stacked else b
        return hs, z

    def evaluate(
        self,
        theta: np.ndarray,
        X: np.ndarray,
        t: np.ndarray,
        *,
        grad: bool = True,
        out: np.ndarray | None = None,
        accuracy: bool = False,
        value: bool = True,
        scale: float = 1.0,
        views: tuple[list, list] | None = None,
    ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """E, ∇E and accuracy on inputs already validated: the one evaluation everything uses.

        The trainers' hot path, the polisher's objective and the analyses call this with
        inputs checked once by :meth:`check_theta`, :meth:`check_inputs` and :meth:`targets`;
        :meth:`loss` and :meth:`loss_and_grad` are the checked conveniences around it.

        Parameters
        ----------
        theta : ndarray of shape (D,) or (K, D)
        X : ndarray of shape (N, d_0), or (K, N, d_0): a different batch per start
        t : ndarray
            Targets from :meth:`targets` (with a leading K axis when X has one).
        grad : bool
            Compute ∇E by backpropagation.
        out : ndarray of theta's shape, optional
            Buffer that receives the gradient (no new θ-sized allocation).
        accuracy : bool
            Also return the fraction of correctly classified samples (cross-entropy only).
        value : bool
            Compute E; with ``value=False`` only the gradient is computed and E is None.
        scale : float
            Return scale · ∇E (the trainers pass ε: the step of eq (3) at no extra cost).
        views : (list, list), optional
            ``(layout.unravel(theta), layout.unravel(out))`` computed once by a caller that
            evaluates the same buffers many times.

        Returns
        -------
        E : ndarray of shape () or (K,), or None
        grad : ndarray of theta's shape, or None
            scale · ∇E; zero at frozen entries (the gradient over the free parameters).
        accuracy : ndarray of shape () or (K,), or None

        Notes
        -----
        Large N is evaluated in row blocks whose widest activation array holds about
        ``BLOCK_BYTES``: the temporaries then stay in the CPU's L2 cache, which on a machine
        with low memory bandwidth is ~1.5x faster than one pass over all rows.
        """
        n = X.shape[-2]
        width = max(self.sizes) * (theta.shape[0] if theta.ndim == 2 else 1)
        block = max(16, BLOCK_BYTES // (8 * width))
        if X.ndim == 2 and n > block + block // 2:
            return self._evaluate_blocks(
                theta,
                X,
                t,
                block,
                grad=grad,
                out=out,
                accuracy=accuracy,
                value=value,
                scale=scale,
                views=views,
            )
        layers, dlayers = views if views is not None else (self.layout.unravel(theta), None)
        hs, z = self._hidden(theta, X, layers)
        acc = (z.argmax(axis=-1) == t).mean(axis=-1) if accuracy else None
        E, delta = self.loss_fn.value_and_delta(z, t, grad, value, scale)
        if not grad:
            return E, None, acc
        g = np.empty_like(theta) if out is None else out
        if dlayers is None:
            dlayers = self.layout.unravel(g)
        back = self.activation.backward
        ones = np.ones(n)
        for layer in range(self.layout.n_layers - 1, -1, -1):
            h_prev = hs[layer]
            gW, gb = dlayers[layer]
            np.matmul(h_prev.swapaxes(-1, -2), delta, out=gW)
            np.matmul(ones, delta, out=gb)  # Σ_n δ_n via BLAS, cheaper than delta.sum(-2)
            if layer:
                delta = delta @ layers[layer][0].swapaxes(-1, -2)
                back(h_prev, delta)
        if self._frozen_idx is not None:
            g[..., self._frozen_idx] = 0.0  # the gradient in the free coordinates only
        return E, g, acc

    def _evaluate_blocks(
        self,
        theta: np.ndarray,
        X: np.ndarray,
        t: np.ndarray,
        block: int,
        *,
        grad: bool,
        out: np.ndarray | None,
        accuracy: bool,
        value: bool,
        scale: float,
        views: tuple[list, list] | None,
    ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """:meth:`evaluate` as a weighted sum over row blocks of about ``block`` rows."""
        n = X.shape[0]
        n_blocks = -(-n // block)
        bounds = np.linspace(0, n, n_blocks + 1).round().astype(int)
        layers = views[0] if views is not None else self.layout.unravel(theta)
        g = None
        if grad:
            g = np.zeros_like(theta) if out is None else out
            g[...] = 0.0
            part = np.empty_like(theta)
            part_views = (layers, self.layout.unravel(part))
        E_sum = acc_sum = None
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            w = (hi - lo) / n  # E and ∇E are means: each block counts by its share of rows
            E, gb, acc = self.evaluate(
                theta,
                X[lo:hi],
                t[lo:hi],
                grad=grad,
                out=part if grad else None,
                accuracy=accuracy,
                value=value,
                scale=scale * w,
                views=part_views if grad else (layers, None),
            )
            if grad:
                g += gb
            if value:
                E_sum = E * w if E_sum is None else E_sum + E * w
            if accuracy:
                acc_sum = acc * w if acc_sum is None else acc_sum + acc * w
        return E_sum, g, acc_sum

    def forward(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Compute the network's output y(x; θ).

        Parameters
        ----------
        theta : ndarray of shape (D,) or (K, D)
        X : ndarray of shape (N, d_0)

        Returns
        -------
        ndarray of shape (N, d_L) or (K, N, d_L)
            Softmax probabilities for cross-entropy, raw outputs for MSE.
        """
        theta = self.check_theta(theta)
        X = self.check_inputs(X)
        with np.errstate(over="ignore", invalid="ignore"):
            _, z = self._hidden(theta, X)
            return self.loss_fn.output(z)

    def predict(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Class labels (argmax of y) for cross-entropy, y itself for MSE.

        Returns
        -------
        ndarray of shape (N,) / (K, N) of int, or (N, d_L) / (K, N, d_L) of float
        """
        y = self.forward(theta, X)
        return y.argmax(axis=-1) if self.is_classifier else y

    def loss(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> float | np.ndarray:
        """E(θ) = (1/N) Σ_n E_n(θ), eq (4).

        Parameters
        ----------
        theta : ndarray of shape (D,) or (K, D)
        X : ndarray of shape (N, d_0)
        y : ndarray of shape (N,) or (N, d_L)

        Returns
        -------
        float, or ndarray of shape (K,)
        """
        theta = self.check_theta(theta)
        X = self.check_inputs(X)
        t = self.targets(y, X.shape[0])
        with np.errstate(over="ignore", invalid="ignore"):
            E, _, _ = self.evaluate(theta, X, t, grad=False)
        return float(E) if theta.ndim == 1 else E

    def loss_and_grad(
        self, theta: np.ndarray, X: np.ndarray, y: np.ndarray
    ) -> tuple[float | np.ndarray, np.ndarray]:
        """E(θ) and its gradient ∇E(θ) (eq 2) by backpropagation.

        Parameters
        ----------
        theta : ndarray of shape (D,) or (K, D)
        X : ndarray of shape (N, d_0)
        y : ndarray of shape (N,) or (N, d_L)

        Returns
        -------
        E : float, or ndarray of shape (K,)
        grad : ndarray of shape (D,) or (K, D)
            Laid out like θ.
        """
        theta = self.check_theta(theta)
        X = self.check_inputs(X)
        t = self.targets(y, X.shape[0])
        with np.errstate(over="ignore", invalid="ignore"):
            E, grad, _ = self.evaluate(theta, X, t)
        return (float(E) if theta.ndim == 1 else E), grad

    def accuracy(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> float | np.ndarray:
        """Fraction of samples whose argmax output is the label (classification only).

        Returns
        -------
        float, or ndarray of shape (K,)
        """
        if not self.is_classifier:
            raise ValueError("accuracy is defined for the cross_entropy loss only")
        pred = self.predict(theta, X)
        t = self.targets(y, np.shape(X)[0])
        acc = (pred == t).mean(axis=-1)
        return float(acc) if np.ndim(acc) == 0 else acc
