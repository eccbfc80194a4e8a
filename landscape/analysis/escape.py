"""Does mini-batch noise escape the bad minima batch GD falls into (seed 1.3)? Any data, any model.

Three rules make the comparison a test of the claim rather than of something else:

- **Equal updates.** Every method makes exactly the same number U of updates from the same
  starts (:func:`landscape.train.train_many` with ``max_updates``); at equal epochs online
  learning would make N times more updates than batch GD, and more updates, not noise, would
  explain where it ends. The epochs each method used are reported beside.
- **Where training ended.** Each end point is examined (:func:`landscape.analysis.minima.
  examine_points`: polish, continued descent, probes of flat directions), but the examined point
  may lie at most ``max_move`` · ‖θ‖ (over the free parameters) from the end point; otherwise
  the run is ``not_converged``. A polisher may refine an end point, never replace training.
- **A bad minimum is verified.** ``spurious``: a minimum (positive definite Hessian modulo the
  symmetries, or a family) whose loss lies more than ``loss_threshold`` above the best minimum
  any run reached. On a realisable teacher that best is the global minimum, E = 0.

A noisy run that has not settled is at no minimum, but it has not escaped either: its **basin**
is where batch GD from its end point goes (:func:`basins`; GD never raises E, so once E is
below ``loss_threshold`` it cannot end at a spurious minimum, whose loss lies above). Each
method's share of runs in a spurious basin gets a 95% interval — Wilson's, widened by the runs
whose basin stayed unresolved, which may be either — and is compared with GD's. Then each
stochastic method is started at spurious minima GD found: a run escaped if its basin is the
global minimum's, stayed if a spurious one's (the same minimum or a neighbour: on a finite
sample spurious minima come in clusters of nearby ones at similar losses). The verdict comes
from :func:`landscape.analysis.spurious.judge_claim`, shared with the closed-form study.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from landscape.analysis.minima import examine_points
from landscape.analysis.spurious import against_gd, judge_claim, method_lr, wilson
from landscape.model import MLP
from landscape.threads import one_blas_thread
from landscape.train import train_many

END_KINDS = ("global", "spurious", "saddle", "at_infinity", "not_converged", "diverged")
"""Where a run ended: a minimum within the threshold of the best (global), one above it
(spurious), a saddle, a slope towards a minimum at infinity, no critical point within
``max_move`` of the end point, or a non-finite end point."""

SAME_MINIMUM = 1e-6
"""Relative loss difference under which an escape run's end is the minimum it started in."""


def ended(
    model: MLP,
    theta_end: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    *,
    max_move: float = 0.01,
    **examine: float,
) -> dict[str, np.ndarray]:
    """Classify where K runs ended, refining each end point only locally.

    Parameters
    ----------
    model : MLP
    theta_end : ndarray of shape (K, D)
        End points of training (non-finite rows: diverged).
    X, y : the training data
    max_move : float
        The examined point may lie at most this fraction of ‖θ_end‖ from θ_end (both over the
        free parameters); farther, the run is ``not_converged`` (unless the continued descent
        showed a slope to infinity: that is where the run is heading).
    **examine
        Options of :func:`landscape.analysis.minima.examine_points`.

    Returns
    -------
    dict of str to ndarray of shape (K,)
        ``kind`` ("minimum", "saddle", "at_infinity", "not_converged", "diverged"; minima are
        split into global and spurious by :func:`split_minima`), ``loss`` (at the examined
        point), ``moved`` (distance over ‖θ_end‖), ``theta`` (K, D) examined points.
    """
    theta_end = np.asarray(theta_end, dtype=np.float64)
    K = theta_end.shape[0]
    out = examine_points(model, theta_end, X, y, **examine)
    free = model.free
    finite = np.isfinite(theta_end).all(axis=1) & np.isfinite(out["loss"])
    with np.errstate(invalid="ignore"):
        moved = np.linalg.norm(out["theta"][:, free] - theta_end[:, free], axis=1) / np.maximum(
            np.linalg.norm(theta_end[:, free], axis=1), 1e-300
        )
    raw = out["kind"].astype(str)
    kind = np.full(K, "not_converged", dtype=object)
    kind[np.isin(raw, ["minimum", "family"])] = "minimum"
    kind[raw == "saddle"] = "saddle"
    kind[(moved > max_move) & np.isin(kind, ["minimum", "saddle"])] = "not_converged"
    kind[raw == "at_infinity"] = "at_infinity"
    kind[~finite] = "diverged"
    return {"kind": kind.astype(str), "loss": out["loss"], "moved": moved, "theta": out["theta"]}


@one_blas_thread
def basins(
    model: MLP,
    theta_end: np.ndarray,
    kind: np.ndarray,
    loss: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    *,
    lr: float,
    epochs: int,
    threshold: float,
    rounds: int = 250,
    max_move: float = 0.01,
    **examine: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Where batch GD from each end point goes: the run's basin.

    Runs that ended at a minimum, on a slope to infinity or diverged keep that as their basin.
    The others continue by batch GD (ε = ``lr``) for up to ``epochs`` epochs, in rounds; a run
    whose loss falls to ``threshold`` or below is in the global minimum's basin (GD never
    raises E, and a spurious minimum lies above the threshold: exact for losses ≥ 0, whose
    best minimum is ≥ 0), and the rest are classified where GD ended (:func:`ended`).

    Parameters
    ----------
    theta_end : ndarray of shape (K, D)
    kind, loss : ndarray of shape (K,)
        :func:`ended`'s kinds and losses.
    lr : float
        Batch GD's ε.
    epochs : int
        Epoch budget of the continuation.
    threshold : float
        ``loss_threshold``.

    Returns
    -------
    basin : ndarray of str, shape (K,)
        "minimum" (to be split by :func:`split_minima`), "below_threshold" (global basin),
        "saddle", "at_infinity", "not_converged" (GD ran out of budget above the threshold),
        "diverged".
    basin_loss : ndarray of shape (K,)
    """
    basin = np.asarray(kind).astype(object).copy()
    basin_loss = np.array(loss, dtype=np.float64)
    todo = np.flatnonzero(np.isin(basin, ["not_converged", "saddle"]))
    theta = np.array(theta_end[todo], dtype=np.float64)
    left = epochs
    Xc = model.check_inputs(X)
    t = model.targets(y, Xc.shape[0])
    while len(todo) and left > 0:
        E, _, _ = model.evaluate(theta, Xc, t, grad=False)
        low = np.asarray(E) <= threshold
        basin[todo[low]], basin_loss[todo[low]] = "below_threshold", np.asarray(E)[low]
        todo, theta = todo[~low], theta[~low]
        if not len(todo):
            break
        run = min(rounds, left)
        res = train_many(model, theta, X, y, lr=lr, epochs=run, gtol=examine.get("gtol", 1e-8))
        left -= run
        theta = res.theta
        done = res.status != "budget"
        if done.any() or left <= 0:
            pick = done | (left <= 0)
            out = ended(model, theta[pick], X, y, max_move=max_move, **examine)
            basin[todo[pick]], basin_loss[todo[pick]] = out["kind"], out["loss"]
            todo, theta = todo[~pick], theta[~pick]
    return basin.astype(str), basin_loss


def split_minima(kind: np.ndarray, loss: np.ndarray, best: float, threshold: float) -> np.ndarray:
    """Name each ``minimum`` global (E ≤ best + threshold) or spurious; other kinds stay."""
    kind = np.asarray(kind).astype(object)
    at_min = kind == "minimum"
    kind[at_min & (loss <= best + threshold)] = "global"
    kind[at_min & (loss > best + threshold)] = "spurious"
    kind[kind == "below_threshold"] = "global"
    return kind.astype(str)


@one_blas_thread
def train_method(
    model: MLP,
    theta0: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    *,
    batch: int | None,
    decay: bool,
    lr: float,
    sgd_lr: float,
    tau: float,
    updates: int,
    rng: np.random.Generator,
    **stop: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Train every start for exactly ``updates`` updates by one method.

    Parameters
    ----------
    batch : int or None
        B (None: batch GD on all N samples).
    decay : bool
        ε_t = ε/(1 + t/τ) instead of a constant ε.
    lr, sgd_lr : float
        GD's ε, and the ε of B = 1 (see :func:`landscape.analysis.spurious.method_lr`).
    **stop
        Stopping rules of :func:`landscape.train.train_many` (``gtol``, ``atol``, ``rtol``,
        ``diverge_factor``).

    Returns
    -------
    theta : ndarray of shape (K, D)
    status : ndarray of str, shape (K,)
    epochs : ndarray of int, shape (K,)
    eps : float
        The ε (or ε₀) used.
    """
    n = X.shape[0]
    B = n if batch is None or batch >= n else int(batch)
    eps = method_lr(lr, sgd_lr, None if B == n else B)
    per_epoch = -(-n // B)
    res = train_many(
        model,
        theta0,
        X,
        y,
        lr=eps,
        epochs=-(-updates // per_epoch),
        batch_size=None if B == n else B,
        rng=rng,
        schedule="inverse_time" if decay else "constant",
        schedule_params={"tau": tau} if decay else {},
        max_updates=updates,
        **stop,
    )
    return res.theta, res.status, res.epochs, eps


@dataclass(frozen=True)
class MethodRow:
    """Where one method's runs ended, and in which basins they are.

    Attributes
    ----------
    method : str
    batch : int
        B (N for GD).
    decay : bool
    lr : float
        ε (ε₀ with decay).
    updates : int
        Updates every run made (fewer only where a GD run converged or a run diverged).
    epochs : float
        Median epochs the runs used: equal updates mean very different epochs.
    runs : int
    counts : dict of str to int
        Runs per end kind (:data:`END_KINDS`): where training ended.
    basins : dict of str to int
        Runs per basin (global, spurious, saddle, at_infinity, not_converged, diverged).
    spurious, low, high : float
        Share of runs that ended at a spurious minimum, and its 95% Wilson interval.
    basin_spurious, basin_low, basin_high : float
        Share of runs in a spurious basin, and its 95% interval: Wilson's lower bound with the
        unresolved basins counted as not spurious, Wilson's upper bound with them counted as
        spurious. The comparison with GD and the verdict use this interval.
    median_loss : float
        Median training loss where the runs ended (NaN if none finite).
    """

    method: str
    batch: int
    decay: bool
    lr: float
    updates: int
    epochs: float
    runs: int
    counts: dict[str, int]
    basins: dict[str, int]
    spurious: float
    low: float
    high: float
    basin_spurious: float
    basin_low: float
    basin_high: float
    median_loss: float


@dataclass(frozen=True)
class EscapeRow:
    """Runs of one method started at spurious minima GD found.

    Attributes
    ----------
    method : str
    runs : int
    left : int
        In the global minimum's basin after the run: escaped.
    stayed : int
        In a spurious basin: the minimum they started at (``same``) or a neighbour.
    same : int
        Of those, at the very minimum they started at (loss within :data:`SAME_MINIMUM`).
    unresolved : int
        Basin unresolved (saddle, not converged, slope to infinity, diverged).
    share, low, high : float
        left / runs and its 95% Wilson interval.
    ends : dict of str to int
        Runs per basin.
    """

    method: str
    runs: int
    left: int
    stayed: int
    same: int
    unresolved: int
    share: float
    low: float
    high: float
    ends: dict[str, int]


@dataclass(frozen=True)
class EscapeReport:
    """The escape experiment on one problem.

    Attributes
    ----------
    n_starts, updates : int
    max_move, loss_threshold, best_loss : float
    methods : list of MethodRow
    escapes : list of EscapeRow
    comparisons : list of dict
        ``method`` and ``against_gd`` in {"lower", "higher", "overlap"} (basin intervals).
    verdict : {"holds", "does not hold", "undecided"}
    sentence : str
    """

    n_starts: int
    updates: int
    max_move: float
    loss_threshold: float
    best_loss: float
    methods: list[MethodRow]
    escapes: list[EscapeRow]
    comparisons: list[dict]
    verdict: str
    sentence: str


UNRESOLVED = ("saddle", "at_infinity", "not_converged", "diverged")
"""Basins that say neither global nor spurious."""


def summarise(
    parts: list[dict[str, np.ndarray]],
    escapes: list[dict[str, np.ndarray]],
    *,
    n_starts: int,
    updates: int,
    max_move: float,
    loss_threshold: float,
    best_loss: float,
) -> EscapeReport:
    """Shares with their intervals, the escapes, and the verdict.

    Parameters
    ----------
    parts : list of dict
        One per method run: ``label``, ``batch``, ``decay``, ``lr`` (scalars), ``kind`` and
        ``basin`` (split by :func:`split_minima`), ``train_loss``, ``epochs``.
    escapes : list of dict
        One per stochastic method run: ``label``, ``basin``, ``basin_loss``, ``start_loss``.
    """
    rows = []
    for p in parts:
        kind = p["kind"].astype(str)
        basin = p["basin"].astype(str)
        n = len(kind)
        s = int((kind == "spurious").sum())
        sb = int((basin == "spurious").sum())
        unresolved = int(np.isin(basin, UNRESOLVED).sum())
        lo, hi = wilson(s, n)
        finite = p["train_loss"][np.isfinite(p["train_loss"])]
        rows.append(
            MethodRow(
                method=str(p["label"]),
                batch=int(p["batch"]),
                decay=bool(p["decay"]),
                lr=float(p["lr"]),
                updates=updates,
                epochs=float(np.median(p["epochs"])),
                runs=n,
                counts={e: int((kind == e).sum()) for e in END_KINDS},
                basins={e: int((basin == e).sum()) for e in END_KINDS},
                spurious=s / max(n, 1),
                low=lo,
                high=hi,
                basin_spurious=sb / max(n, 1),
                basin_low=wilson(sb, n)[0],
                basin_high=wilson(sb + unresolved, n)[1],
                median_loss=float(np.median(finite)) if finite.size else float("nan"),
            )
        )
    gd = next((r for r in rows if r.method == "gd"), None)
    comparisons = []
    if gd is not None:
        comparisons = [
            {
                "method": r.method,
                "against_gd": against_gd(r.basin_low, r.basin_high, gd.basin_low, gd.basin_high),
            }
            for r in rows
            if r.method != "gd"
        ]
    esc_rows = []
    for e in escapes:
        basin = e["basin"].astype(str)
        left = int((basin == "global").sum())
        stayed = basin == "spurious"
        same = stayed & (
            np.abs(e["basin_loss"] - e["start_loss"]) <= SAME_MINIMUM * e["start_loss"]
        )
        lo, hi = wilson(left, len(basin))
        esc_rows.append(
            EscapeRow(
                method=str(e["label"]),
                runs=len(basin),
                left=left,
                stayed=int(stayed.sum()),
                same=int(same.sum()),
                unresolved=int(np.isin(basin, UNRESOLVED).sum()),
                share=left / max(len(basin), 1),
                low=lo,
                high=hi,
                ends={k: int((basin == k).sum()) for k in END_KINDS if (basin == k).any()},
            )
        )
    verdict, sentence = judge_claim(
        [c["method"] for c in comparisons if c["against_gd"] == "lower"],
        [c["method"] for c in comparisons if c["against_gd"] == "higher"],
        sum(r.left for r in esc_rows),
        sum(r.runs for r in esc_rows),
        gd is not None and gd.basin_low > 0,
        where="in spurious basins",
    )
    if gd is None or not any(r.basins["spurious"] for r in rows):
        verdict, sentence = (
            "undecided",
            "the claim needs gd among the methods and at least one run in a spurious basin; "
            "on this problem none was",
        )
    return EscapeReport(
        n_starts=n_starts,
        updates=updates,
        max_move=max_move,
        loss_threshold=loss_threshold,
        best_loss=best_loss,
        methods=rows,
        escapes=esc_rows,
        comparisons=comparisons,
        verdict=verdict,
        sentence=sentence,
    )
