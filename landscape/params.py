"""The layout of θ: one flat float64 vector holding every weight and bias of an MLP.

Layout (contract): for layers l = 1 … L in order, W_l as a (d_{l-1}, d_l) row-major block
followed by b_l of length d_l. A start population of K parameter vectors is an array of shape
(K, D). Per-layer arrays returned here are views into θ, never copies, so an in-place update of θ
updates every layer at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

INIT_SCHEMES = ("glorot", "he", "normal")


@dataclass(frozen=True)
class Layout:
    """Offsets and shapes of every W_l and b_l inside θ.

    Parameters
    ----------
    sizes : tuple of int
        Layer widths (d_0, d_1, …, d_L): inputs, hidden layers, outputs.
    """

    sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        sizes = tuple(int(s) for s in self.sizes)
        if len(sizes) < 2:
            raise ValueError(
                f"sizes={list(self.sizes)} must list at least the input and output widths"
            )
        if any(s < 1 for s in sizes):
            raise ValueError(f"sizes={list(self.sizes)}: every layer width must be >= 1")
        object.__setattr__(self, "sizes", sizes)
        # (start of W, start of b, end of b, d_in, d_out) per layer, computed once: unravel is
        # called on every update, so it must not recompute offsets.
        blocks = []
        pos = 0
        for d_in, d_out in zip(sizes[:-1], sizes[1:], strict=True):
            blocks.append((pos, pos + d_in * d_out, pos + d_in * d_out + d_out, d_in, d_out))
            pos = blocks[-1][2]
        object.__setattr__(self, "_blocks", tuple(blocks))

    @property
    def n_layers(self) -> int:
        """Number of weight layers L."""
        return len(self.sizes) - 1

    @property
    def offsets(self) -> tuple[tuple[int, int, int], ...]:
        """Per layer (start of W_l, start of b_l, end of b_l) in θ."""
        return tuple(blk[:3] for blk in self._blocks)

    @property
    def n_params(self) -> int:
        """Number D of parameters (the seed's θ_1 … θ_D)."""
        return self._blocks[-1][2]

    def block(self, name: str) -> slice:
        """The entries of θ that block ``name`` occupies: ``W1`` … ``WL``, ``b1`` … ``bL``.

        Layers count from 1 as in the seed (W_1 maps the inputs to the first hidden layer).

        Raises
        ------
        ValueError
            For a name that is not a block of this layout (the message lists the valid ones).
        """
        names = self.block_names
        if name not in names:
            raise ValueError(
                f"parameter block {name!r} is unknown; this network has {', '.join(names)}"
            )
        layer = int(name[1:]) - 1
        w0, b0, b1, _, _ = self._blocks[layer]
        return slice(w0, b0) if name[0] == "W" else slice(b0, b1)

    @property
    def block_names(self) -> tuple[str, ...]:
        """``("W1", "b1", …, "WL", "bL")``, in θ's order."""
        return tuple(f"{p}{layer}" for layer in range(1, self.n_layers + 1) for p in "Wb")

    def unravel(self, theta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Return views (W_l, b_l) into θ for every layer.

        Parameters
        ----------
        theta : ndarray of shape (D,) or (K, D)

        Returns
        -------
        list of (W, b)
            W of shape (d_{l-1}, d_l) or (K, d_{l-1}, d_l), b of shape (d_l,) or (K, d_l);
            all views sharing memory with ``theta``.
        """
        if theta.ndim == 1:
            return [
                (theta[w0:b0].reshape(d_in, d_out), theta[b0:b1])
                for w0, b0, b1, d_in, d_out in self._blocks
            ]
        lead = theta.shape[:-1]
        return [
            (theta[..., w0:b0].reshape(*lead, d_in, d_out), theta[..., b0:b1])
            for w0, b0, b1, d_in, d_out in self._blocks
        ]

    def ravel(self, layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Inverse of :meth:`unravel`: pack (W_l, b_l) pairs into a new flat θ.

        Parameters
        ----------
        layers : sequence of (W, b)
            W of shape (d_{l-1}, d_l) or (K, d_{l-1}, d_l); b of shape (d_l,) or (K, d_l).

        Returns
        -------
        ndarray of shape (D,) or (K, D)
        """
        if len(layers) != self.n_layers:
            raise ValueError(f"got {len(layers)} layers, the layout has {self.n_layers}")
        lead = np.shape(layers[0][0])[:-2]
        theta = np.empty((*lead, self.n_params))
        for (W, b), (Wv, bv) in zip(layers, self.unravel(theta), strict=True):
            if np.shape(W) != Wv.shape or np.shape(b) != bv.shape:
                raise ValueError(
                    f"layer shapes {np.shape(W)}, {np.shape(b)} do not match the layout's "
                    f"{Wv.shape}, {bv.shape}"
                )
            Wv[...] = W
            bv[...] = b
        return theta

    def init(
        self,
        rng: np.random.Generator,
        k: int | None = None,
        scheme: str = "glorot",
        scale: float = 1.0,
    ) -> np.ndarray:
        """Draw a random θ⁽⁰⁾.

        Parameters
        ----------
        rng : numpy.random.Generator
            The only source of randomness.
        k : int or None
            None for one θ of shape (D,), else k independent starts of shape (k, D).
        scheme : {"glorot", "he", "normal"}
            ``glorot``: W uniform on ±scale·sqrt(6 / (d_in + d_out)) (Glorot & Bengio 2010);
            ``he``: W normal with std scale·sqrt(2 / d_in) (He et al. 2015, for relu);
            ``normal``: W normal with std ``scale``. Biases start at zero for glorot and he,
            and are normal with std ``scale`` for ``normal``.
        scale : float
            Multiplier of the scheme's spread; must be > 0.

        Returns
        -------
        ndarray of shape (D,) or (k, D)
        """
        if scheme not in INIT_SCHEMES:
            raise ValueError(f"init scheme {scheme!r} is unknown; known: {', '.join(INIT_SCHEMES)}")
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"init scale={scale!r} must be a finite number > 0")
        if k is not None and (int(k) != k or k < 1):
            raise ValueError(f"k={k!r} must be None or an integer >= 1")
        shape_lead = () if k is None else (int(k),)
        theta = np.zeros((*shape_lead, self.n_params))
        for W, b in self.unravel(theta):
            d_in, d_out = W.shape[-2:]
            if scheme == "glorot":
                bound = scale * np.sqrt(6.0 / (d_in + d_out))
                W[...] = rng.uniform(-bound, bound, size=W.shape)
            elif scheme == "he":
                W[...] = rng.normal(0.0, scale * np.sqrt(2.0 / d_in), size=W.shape)
            else:
                W[...] = rng.normal(0.0, scale, size=W.shape)
                b[...] = rng.normal(0.0, scale, size=b.shape)
        return theta
