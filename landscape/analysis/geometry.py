"""The geometry of the loss surface: paths between minima and slices around one (seed 1.2–1.3).

Everything here returns plain arrays in dataclasses; figures are drawn elsewhere.

- :func:`interpolate`: E along the straight line θ(α) = (1 − α) θ_a + α θ_b, and its barrier;
  :func:`aligned_path` does the same after permuting θ_b's hidden units to match θ_a's
  (weight matching, Git Re-Basin / Entezari et al. 2021), so a user sees how much of a barrier
  is only the unit-swap symmetry.
- :func:`filter_normalized_direction`, :func:`slice_1d`, :func:`slice_2d`: E around a minimum
  along random directions scaled unit by unit to the minimum's own weights (Li et al. 2018),
  or along the Hessian's top eigenvectors (:func:`hessian_directions`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from landscape import seeds
from landscape.analysis.kind import Inputs, Kind, Outcome, hessian_memory
from landscape.analysis.minima import polish
from landscape.analysis.symmetry import align, flip_layers
from landscape.hessian import hessian
from landscape.model import MLP
from landscape.rules import RuleError, setting
from landscape.threads import one_blas_thread
from landscape.train import train


@dataclass(frozen=True)
class Path:
    """The loss along a straight path.

    Attributes
    ----------
    alpha : ndarray of shape (P,)
        Positions on the path, 0 and 1 included.
    train_loss : ndarray of shape (P,)
    val_loss : ndarray of shape (P,) or None
    barrier : float
        max_α [E(θ(α)) − ((1 − α) E(θ_a) + α E(θ_b))] on the training loss: the rise above the
        straight line between the end losses (Entezari et al. 2021). When both ends have the
        same loss it is the maximum minus the mean of the end losses; for a convex E it is ≤ 0.
    val_barrier : float or None
        The same on the validation loss.
    """

    alpha: np.ndarray
    train_loss: np.ndarray
    val_loss: np.ndarray | None
    barrier: float
    val_barrier: float | None


def _barrier(alpha: np.ndarray, loss: np.ndarray) -> float:
    line = (1.0 - alpha) * loss[0] + alpha * loss[-1]
    return float(np.max(loss - line))


def path_grid(points: int) -> np.ndarray:
    """Return ``points`` positions α from 0 to 1, both ends exact."""
    if points < 2:
        raise ValueError(f"points={points} must be >= 2")
    return np.arange(points) / (points - 1)


@one_blas_thread
def interpolate(
    model: MLP,
    theta_a: np.ndarray,
    theta_b: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    *,
    points: int = 41,
    X_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
) -> Path:
    """Compute the loss along θ(α) = (1 − α) θ_a + α θ_b.

    Parameters
    ----------
    model : MLP
    theta_a, theta_b : ndarray of shape (D,)
    X, y : training data
    points : int
        Grid size, >= 2; α = 0 and α = 1 are on it exactly.
    X_val, y_val : validation data, optional

    Returns
    -------
    Path
        Its end values are E(θ_a) and E(θ_b) to the last bit: every point is evaluated like a
        single θ (the same code path as ``model.loss``), and θ(0) = θ_a, θ(1) = θ_b exactly.
    """
    alpha = path_grid(points)
    thetas = (1.0 - alpha)[:, None] * theta_a + alpha[:, None] * theta_b
    train = np.array([model.loss(th, X, y) for th in thetas])
    val = None
    if X_val is not None and len(X_val):
        val = np.array([model.loss(th, X_val, y_val) for th in thetas])
    return Path(
        alpha, train, val, _barrier(alpha, train), _barrier(alpha, val) if val is not None else None
    )


@dataclass(frozen=True)
class AlignedPaths:
    """The straight path between two minima before and after aligning their hidden units."""

    raw: Path
    aligned: Path
    theta_b_aligned: np.ndarray
    distance_raw: float
    distance_aligned: float


@one_blas_thread
def aligned_path(
    model: MLP,
    theta_a: np.ndarray,
    theta_b: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    **kwargs,
) -> AlignedPaths:
    """Interpolate θ_a → θ_b as they are and after aligning θ_b's units to θ_a's.

    ``kwargs`` go to :func:`interpolate`. The aligned θ_b computes the same function as θ_b
    (it is a symmetric copy), so both paths end at the same losses.
    """
    b_aligned, _ = align(
        model.layout, theta_b, theta_a, flip_layers(model) if model.activation.odd else False
    )
    return AlignedPaths(
        raw=interpolate(model, theta_a, theta_b, X, y, **kwargs),
        aligned=interpolate(model, theta_a, b_aligned, X, y, **kwargs),
        theta_b_aligned=b_aligned,
        distance_raw=float(np.linalg.norm(theta_b - theta_a)),
        distance_aligned=float(np.linalg.norm(b_aligned - theta_a)),
    )


# ----------------------------------------------------------------------- slices
def filter_normalized_direction(
    model: MLP, theta: np.ndarray, rng: np.random.Generator, *, ignore_biases: bool = True
) -> np.ndarray:
    """Draw a random direction scaled unit by unit to θ's own weights (Li et al. 2018).

    For every unit (a column of W_l: the unit's incoming weights, its "filter") the Gaussian
    direction's column is rescaled to the norm of θ's column, so a step of 1 along it changes
    every unit in proportion to its own size; this makes slices of networks with different
    weight scales comparable.

    Parameters
    ----------
    model : MLP
    theta : ndarray of shape (D,)
    rng : numpy.random.Generator
    ignore_biases : bool
        Set the biases' part of the direction to 0 (Li et al.'s choice); else bias b_l[j] is
        treated as one more incoming weight of unit j.

    Returns
    -------
    ndarray of shape (D,)
        Zero at the model's frozen entries (they never move, so no slice moves them).
    """
    d = rng.standard_normal(theta.shape[-1])
    for (W, b), (dW, db) in zip(model.layout.unravel(theta), model.layout.unravel(d), strict=True):
        if ignore_biases:
            db[...] = 0.0
            own = np.linalg.norm(W, axis=0)
            dW *= own / np.linalg.norm(dW, axis=0)
        else:
            own = np.sqrt((W**2).sum(axis=0) + b**2)
            mine = np.sqrt((dW**2).sum(axis=0) + db**2)
            dW *= own / mine
            db *= own / mine
    if model.n_free < model.n_params:
        d[model.frozen_mask] = 0.0
    return d


@one_blas_thread
def hessian_directions(
    model: MLP, theta: np.ndarray, X: np.ndarray, y: np.ndarray, k: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Return the top ``k`` eigenvalues and unit eigenvectors of the exact Hessian at θ.

    Returns
    -------
    eigenvalues : ndarray of shape (k,)
        Largest first.
    directions : ndarray of shape (k, D)
        Zero at frozen entries (the Hessian is over the free parameters).
    """
    lam, V = np.linalg.eigh(hessian(model, theta, X, y))
    order = np.argsort(lam)[::-1][:k]
    return lam[order], model.embed(V[:, order].T.copy())


def slice_grid(radius: float, points: int) -> np.ndarray:
    """Build a symmetric grid on [−radius, radius] with exactly 0 at its centre (``points`` odd)."""
    if points < 3 or points % 2 == 0:
        raise ValueError(f"points={points} must be odd and >= 3, so the centre is on the grid")
    half = points // 2
    return radius * np.arange(-half, half + 1) / half


@dataclass(frozen=True)
class Slice1D:
    """E(θ* + s·d) on a grid of s."""

    s: np.ndarray
    loss: np.ndarray


@dataclass(frozen=True)
class Slice2D:
    """E(θ* + s·d1 + t·d2) on a grid; ``loss[i, j]`` is at (s[i], t[j])."""

    s: np.ndarray
    t: np.ndarray
    loss: np.ndarray


def _losses(model: MLP, thetas: np.ndarray, X, y, chunk: int = 256) -> np.ndarray:
    out = np.empty(len(thetas))
    for lo in range(0, len(thetas), chunk):
        out[lo : lo + chunk] = model.loss(thetas[lo : lo + chunk], X, y)
    return out


def _grid_losses(
    model: MLP, theta: np.ndarray, directions: tuple, X, y, radius: float, points: int
) -> tuple[np.ndarray, np.ndarray]:
    """E(θ + Σ_i s_i d_i) on the product of :func:`slice_grid` over the directions.

    Returns the grid s of shape (points,) and the losses of shape (points,) * len(directions).
    """
    s = slice_grid(radius, points)
    n = len(directions)
    thetas = theta
    for axis, d in enumerate(directions):
        shape = [1] * (n + 1)
        shape[axis] = points
        thetas = thetas + s.reshape(shape) * d
    loss = _losses(model, thetas.reshape(-1, theta.shape[-1]), X, y).reshape((points,) * n)
    loss[(points // 2,) * n] = model.loss(theta, X, y)  # the centre is θ exactly, as one θ
    return s, loss


@one_blas_thread
def slice_1d(
    model: MLP,
    theta: np.ndarray,
    direction: np.ndarray,
    X,
    y,
    *,
    radius: float = 1.0,
    points: int = 41,
) -> Slice1D:
    """Compute the loss along one direction through θ; the grid's centre is θ itself."""
    s, loss = _grid_losses(model, theta, (direction,), X, y, radius, points)
    return Slice1D(s, loss)


@one_blas_thread
def slice_2d(
    model: MLP,
    theta: np.ndarray,
    d1: np.ndarray,
    d2: np.ndarray,
    X,
    y,
    *,
    radius: float = 1.0,
    points: int = 31,
) -> Slice2D:
    """Compute the loss on the plane spanned by two directions through θ (evaluated in chunks)."""
    s, loss = _grid_losses(model, theta, (d1, d2), X, y, radius, points)
    return Slice2D(s, s.copy(), loss)


# ------------------------------------------------------------------ the analysis kind
@dataclass(frozen=True)
class GeometryConfig:
    """The ``[analysis]`` section of ``kind = "geometry"``: paths between two minima, slices.

    Attributes
    ----------
    path_points : int
        Points on each interpolation path.
    slice_radius : float
        Half-width of the slices, in units of the (filter-normalised or unit) direction.
    slice_points : int
        Odd grid size of the 1-D slices; the 2-D slices use ``slice_points // 2 + 1`` per axis,
        kept odd.
    polish_gtol, polish_iter : float, int
        ‖∇E‖ each trained end point is polished to, and the L-BFGS iteration budget.
    """

    kind: str = "geometry"
    path_points: int = setting(41, low=2)
    slice_radius: float = setting(1.0, low=0, open_low=True)
    slice_points: int = setting(41, low=3)
    polish_gtol: float = setting(1e-8, low=0, open_low=True)
    polish_iter: int = setting(3000, low=1)

    def check(self) -> None:
        """The slices' centre is a grid point: an odd ``slice_points``."""
        if self.slice_points % 2 == 0:
            raise RuleError(f"analysis.slice_points={self.slice_points} must be odd and >= 3")


@dataclass(frozen=True)
class GeometryReport:
    """Two minima, the paths between them and slices around the first."""

    losses: tuple[float, float]
    converged: tuple[bool, bool]
    barrier_raw: float
    barrier_aligned: float
    val_barrier_raw: float | None
    val_barrier_aligned: float | None
    distance_raw: float
    distance_aligned: float
    hessian_top: tuple[float, ...]


def run_geometry(inputs: Inputs, config: GeometryConfig) -> Outcome:
    """Train starts 0 and 1, polish both, and measure paths and slices (one trial)."""
    t, d = inputs.trainer, inputs.data
    X, y = d.X_train, d.y_train
    model, theta0 = inputs.starts([0, 1])
    ends = []
    for k, th in enumerate(theta0):
        res = train(
            model,
            th,
            X,
            y,
            rng=inputs.stream(seeds.SHUFFLE, seeds.SHUFFLE_GEOMETRY + k),
            **t.train_kwargs(d.n_train),
        )
        ends.append(
            polish(model, res.theta, X, y, gtol=config.polish_gtol, max_iter=config.polish_iter)
        )
    pa, pb = ends
    paths = aligned_path(
        model, pa.theta, pb.theta, X, y, points=config.path_points, X_val=d.X_val, y_val=d.y_val
    )
    rng = inputs.analysis_rng
    d1 = filter_normalized_direction(model, pa.theta, rng)
    d2 = filter_normalized_direction(model, pa.theta, rng)
    lam, V = hessian_directions(model, pa.theta, X, y, k=2)
    radius, points = config.slice_radius, config.slice_points
    n2 = points // 2 + 1
    n2 += 1 - n2 % 2  # odd, so the minimum is the centre
    s_rand = slice_1d(model, pa.theta, d1, X, y, radius=radius, points=points)
    s_hess = slice_1d(model, pa.theta, V[0], X, y, radius=radius, points=points)
    p_rand = slice_2d(model, pa.theta, d1, d2, X, y, radius=radius, points=n2)
    p_hess = slice_2d(model, pa.theta, V[0], V[1], X, y, radius=radius, points=n2)
    arrays = {
        "theta_a": pa.theta,
        "theta_b": pb.theta,
        "theta_b_aligned": paths.theta_b_aligned,
        "alpha": paths.raw.alpha,
        "path_raw": paths.raw.train_loss,
        "path_aligned": paths.aligned.train_loss,
        "slice_s": s_rand.s,
        "slice_random": s_rand.loss,
        "slice_hessian": s_hess.loss,
        "plane_s": p_rand.s,
        "plane_random": p_rand.loss,
        "plane_hessian": p_hess.loss,
        "hessian_top": lam,
        "direction_random": np.stack([d1, d2]),
        "direction_hessian": V,
    }
    if paths.raw.val_loss is not None:
        arrays["path_raw_val"] = paths.raw.val_loss
        arrays["path_aligned_val"] = paths.aligned.val_loss
    report = GeometryReport(
        losses=(pa.loss, pb.loss),
        converged=(pa.converged, pb.converged),
        barrier_raw=paths.raw.barrier,
        barrier_aligned=paths.aligned.barrier,
        val_barrier_raw=paths.raw.val_barrier,
        val_barrier_aligned=paths.aligned.val_barrier,
        distance_raw=paths.distance_raw,
        distance_aligned=paths.distance_aligned,
        hessian_top=tuple(float(v) for v in lam),
    )
    return Outcome(report, report.barrier_aligned, arrays)


KIND = Kind(
    name="geometry",
    config=GeometryConfig,
    result=GeometryReport,
    value="loss barrier between the aligned minima",
    headline=lambda r: f"loss barrier between the aligned minima = {r.barrier_aligned:.4g}",
    run=run_geometry,
    arrays="geometry.npz",
    memory=hessian_memory,
)
