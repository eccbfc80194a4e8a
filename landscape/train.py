"""Gradient-descent trainers with epochs, schedules and named stopping rules.

The update rule is eq (3) (batch) or (8) (mini-batch); epochs split the data into random
mini-batches anew (seed 1.4); learning-rate schedules follow seed 1.5.

The trainer knows nothing of Optuna: a per-epoch ``callback`` may ask it to stop, which is how
the study layer prunes trials.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from landscape import engine as engine_module
from landscape.hessian import top_eigenpair
from landscape.model import MLP
from landscape.rules import check_values, setting
from landscape.schedules import SCHEDULES, Schedule, make_schedule
from landscape.threads import model_flops, sized_blas_threads

STATUSES = ("converged", "diverged", "stalled", "budget", "stopped")
"""Why training ended: θ stopped changing or ‖∇E‖ ≤ gtol; the loss became non-finite or grew
past ``diverge_factor`` times its start; too little progress over ``stall_window`` epochs;
the epoch or update budget was used up; the callback asked to stop."""


@dataclass(frozen=True)
class EpochRecord:
    """What the trainer measured at the end of one epoch (epoch 0 is θ⁽⁰⁾).

    Attributes
    ----------
    epoch : int
    updates : int
        Total number of updates (steps t) so far.
    loss : float
        Exact E(θ) on the whole training set, not a running mean of mini-batch losses.
    grad_norm : float
        ‖∇E(θ)‖ on the whole training set.
    lr : float
        ε of the last update of the epoch (ε_0 for epoch 0).
    accuracy, val_loss, val_accuracy : float
        NaN where not applicable (regression, or no validation data).
    sharpness : float
        λ_max of the full-training-set Hessian at θ (``track_sharpness``), NaN where it was not
        measured.
    """

    epoch: int
    updates: int
    loss: float
    grad_norm: float
    lr: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    sharpness: float = math.nan


HISTORY_FIELDS = tuple(EpochRecord.__dataclass_fields__)


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train`.

    Attributes
    ----------
    theta : ndarray of shape (D,)
        θ at the end (the last iterate, also when diverged).
    status : str
        One of :data:`STATUSES`.
    history : dict of str to ndarray of shape (epochs + 1,)
        Per-epoch columns named as the fields of :class:`EpochRecord`; row 0 is θ⁽⁰⁾.
    epochs : int
        Epochs completed.
    updates : int
        Updates made.
    message : str
        One line saying why training stopped.
    seconds : float
        Wall time of the training loop.
    trajectory : ndarray of shape (epochs + 1, D) or None
        θ at every history row (``train(..., trajectory=True)``), else None.
    """

    theta: np.ndarray
    status: str
    history: dict[str, np.ndarray] = field(repr=False)
    epochs: int
    updates: int
    message: str
    seconds: float
    trajectory: np.ndarray | None = field(default=None, repr=False)

    @property
    def final(self) -> EpochRecord:
        """The last history row."""
        return EpochRecord(**{k: self.history[k][-1].item() for k in HISTORY_FIELDS})


METHODS = ("gd", "minibatch", "online")
"""Batch learning (eq 3), mini-batches of ``batch_size`` (eqs 7–8), online learning (|B| = 1)."""

MANY_UNSUPPORTED = {  # field: its default; train_many keeps no history and no stall rule
    "track_sharpness": None,
    "stall_window": None,
    "stall_tol": 1e-3,
    "drop_last": False,
    "eval_every": 1,
}


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of the trainers: the spec's ``[trainer]`` section is this class.

    The study layer builds one from a spec and hands it to :func:`train` or
    :func:`train_many` through :meth:`train_kwargs` / :meth:`many_kwargs`, so a field reaches
    the trainer in one place or is refused there, never dropped on the way.

    Attributes
    ----------
    method : {"gd", "minibatch", "online"}
        See :data:`METHODS`.
    epochs : int
    batch_size : int or None
        Mini-batch size for ``minibatch``.
    lr : float
        ε, or ε0 of a schedule.
    schedule : str
        A name of :data:`landscape.schedules.SCHEDULES`.
    schedule_params : dict
    max_updates, gtol, atol, rtol, diverge_factor, stall_window, stall_tol, drop_last, eval_every
    track_sharpness : int or None
        Measure λ_max along training every this many updates (see :func:`train`).
    """

    method: str = setting("gd", choices=METHODS)
    epochs: int = setting(100, low=1)
    batch_size: int | None = setting(None, low=1, optional=True)
    lr: float = setting(0.1, low=0.0, open_low=True)
    schedule: str = setting("constant", choices=tuple(SCHEDULES))
    schedule_params: dict = field(default_factory=dict)
    max_updates: int | None = setting(None, low=1, optional=True)
    gtol: float = setting(0.0, low=0.0)
    atol: float = setting(0.0, low=0.0)
    rtol: float = setting(8 * float(np.finfo(np.float64).eps), low=0.0)
    diverge_factor: float = setting(10.0, low=1.0, open_low=True)
    stall_window: int | None = setting(None, low=1, optional=True)
    stall_tol: float = setting(1e-3, low=0.0)
    drop_last: bool = False
    eval_every: int = setting(1, low=1)
    track_sharpness: int | None = setting(None, low=1, optional=True)

    def batch(self, n_train: int) -> int | None:
        """The batch size :func:`train` takes: None (batch learning) for gd or a batch of N."""
        if self.method not in METHODS:
            raise ValueError(f"method={self.method!r} is unknown; allowed: {', '.join(METHODS)}")
        b = {"gd": None, "online": 1, "minibatch": self.batch_size}[self.method]
        if self.method == "minibatch" and b is None:
            raise ValueError("method='minibatch' needs batch_size")
        return None if b is not None and b >= n_train else b

    def train_kwargs(self, n_train: int) -> dict:
        """Keyword arguments of :func:`train` (all but data, θ⁽⁰⁾, rng and callback)."""
        return {
            "lr": self.lr,
            "epochs": self.epochs,
            "batch_size": self.batch(n_train),
            "schedule": self.schedule,
            "schedule_params": dict(self.schedule_params),
            "max_updates": self.max_updates,
            "atol": self.atol,
            "rtol": self.rtol,
            "gtol": self.gtol,
            "diverge_factor": self.diverge_factor,
            "stall_window": self.stall_window,
            "stall_tol": self.stall_tol,
            "drop_last": self.drop_last,
            "eval_every": self.eval_every,
            "track_sharpness": self.track_sharpness,
        }

    def many_kwargs(self, n_train: int) -> dict:
        """Keyword arguments of :func:`train_many`.

        Raises
        ------
        ValueError
            For a field :func:`train_many` cannot honour (it keeps no per-epoch history and
            has no stall rule), naming the field.
        """
        for name, default in MANY_UNSUPPORTED.items():
            if getattr(self, name) != default:
                raise ValueError(
                    f"trainer.{name}={getattr(self, name)!r} is not supported by the multi-start "
                    f"trainer (no per-epoch history, no stall rule); leave it at {default!r}"
                )
        kwargs = self.train_kwargs(n_train)
        for name in MANY_UNSUPPORTED:
            del kwargs[name]
        return kwargs


@dataclass(frozen=True)
class _Rules:
    """The stopping rules of :func:`train` and :func:`train_many`, each written once.

    Every method takes scalars or arrays of shape (K,), one entry per start, and returns
    bool or a bool array of the same shape.
    """

    atol: float
    rtol: float
    gtol: float
    diverge_factor: float

    def __post_init__(self):
        check_values(TrainConfig, {n: getattr(self, n) for n in ("atol", "rtol", "gtol")})
        check_values(TrainConfig, {"diverge_factor": self.diverge_factor})

    def diverged(self, E, E0):
        """E is not finite or has grown past ``diverge_factor`` · E(θ⁽⁰⁾)."""
        return ~np.isfinite(E) | (E > self.diverge_factor * E0)

    def still(self, moved, size):
        """θ no longer changes: max_i |Δθ_i| ≤ atol + rtol · max_i |θ_i| (``moved``, ``size``)."""
        return moved <= self.atol + self.rtol * size

    def small_gradient(self, gnorm):
        """‖∇E(θ)‖ ≤ gtol."""
        return gnorm <= self.gtol

    @staticmethod
    def stalled(E_old: float, E: float, stall_tol: float) -> bool:
        """E fell, by no more than ``stall_tol`` · |E_old|, since ``E_old``.

        A loss that rose is not "barely progressing" (seed 1.1's too-small ε) but moving the
        wrong way, as near the divergence boundary or at the edge of stability: not stalled.
        """
        return 0.0 <= E_old - E <= stall_tol * abs(E_old)

    @staticmethod
    def no_more_steps(sched: Schedule, updates: int, lr: float) -> bool:
        """The next step would be ε = 0 (status ``budget``, not convergence).

        Schedules do not rise again, so θ would stand still because ε does, not because ∇E
        vanished.
        """
        return sched(updates, lr) == 0.0


def _resolve_schedule(schedule: Schedule | str | None, params: dict | None) -> Schedule:
    if schedule is None:
        schedule = "constant"
    if isinstance(schedule, str):
        return make_schedule(schedule, **(params or {}))
    if params:
        raise ValueError("schedule_params goes with a schedule name, not a Schedule object")
    if not isinstance(schedule, Schedule):
        raise ValueError(f"schedule={schedule!r} must be a schedule name or a Schedule")
    return schedule


def _check_count(name: str, value: int | None, *, low: int, high: int | None = None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name}={value!r} must be an integer")
    if value < low or (high is not None and value > high):
        allowed = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name}={value!r} must be {allowed}")


@sized_blas_threads(model_flops)
def train(
    model: MLP,
    theta0: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    *,
    lr: float,
    epochs: int,
    batch_size: int | None = None,
    rng: np.random.Generator | None = None,
    schedule: Schedule | str | None = None,
    schedule_params: dict | None = None,
    X_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    max_updates: int | None = None,
    atol: float = 0.0,
    rtol: float = 8 * float(np.finfo(np.float64).eps),
    gtol: float = 0.0,
    diverge_factor: float = 10.0,
    stall_window: int | None = None,
    stall_tol: float = 1e-3,
    drop_last: bool = False,
    eval_every: int = 1,
    track_sharpness: int | None = None,
    trajectory: bool = False,
    callback: Callable[[EpochRecord], bool | None] | None = None,
) -> TrainResult:
    """Train ``model`` from θ⁽⁰⁾ by batch, mini-batch or online gradient descent.

    Parameters
    ----------
    model : MLP
    theta0 : ndarray of shape (D,)
        θ⁽⁰⁾; not modified.
    X : ndarray of shape (N, d_0)
        Training inputs.
    y : ndarray of shape (N,) or (N, d_L)
        Training targets (see :class:`landscape.model.MLP`).
    lr : float
        ε (ε_0 under a schedule), > 0.
    epochs : int
        Epoch budget, >= 1. One epoch uses every training sample once.
    batch_size : int or None
        None or N: batch learning, eq (3), one update per epoch. 1 < B < N: mini-batch
        learning, eqs (7)–(8). 1: online learning, N updates per epoch.
    rng : numpy.random.Generator or None
        Draws each epoch's random partition; required when batch_size < N.
    schedule : Schedule, str or None
        ε_t as a function of the update count t; None is a constant ε.
    schedule_params : dict, optional
        Parameters of a schedule given by name.
    X_val, y_val : ndarray, optional
        Validation data, evaluated at the end of every epoch.
    max_updates : int, optional
        Update budget; training stops with ``budget`` when it is reached.
    atol, rtol : float
        ``converged`` when, since the previous evaluation (one epoch by default),
        max_i |Δθ_i| ≤ atol + rtol · max_i |θ_i|. The
        defaults (0 and 8 float64 epsilons) mean θ no longer changes within machine precision
        (seed 1.1): at a minimum the rounding error of ∇E keeps θ cycling by an ulp or two of
        its largest entries, so "exactly unchanged" alone would never be reached.
    gtol : float
        ``converged`` also when ‖∇E(θ)‖ ≤ gtol on the whole training set (0: off).
    diverge_factor : float
        ``diverged`` when E(θ) > diverge_factor · E(θ⁽⁰⁾), or E or θ is not finite.
    stall_window : int or None
        ``stalled`` when E fell, but by no more than ``stall_tol`` · E, over the last
        ``stall_window`` epochs (the seed's "too small ε barely progresses"); None: off.
    stall_tol : float
        Relative improvement below which the run counts as stalled.
    drop_last : bool
        When B does not divide N, each epoch's last mini-batch holds the N mod B leftover
        samples. By default it is used, with its loss averaged over its own size (eq 7), so an
        epoch still visits every sample once; True skips it, and its samples wait for the next
        epoch's new partition.
    eval_every : int
        Evaluate the whole training set (a history row, the stopping rules and the callback)
        every ``eval_every`` epochs and after the last one. 1 (the default) records every
        epoch; larger values trade the history's resolution for speed in mini-batch training,
        where the evaluation costs about as much as an epoch's updates.
    track_sharpness : int or None
        Measure the sharpness λ_max(θ_t) of the full-training-set Hessian at θ⁽⁰⁾, after
        updates 1, 2, 4, 8, … and, once that is sparser, every ``track_sharpness`` updates
        (at the first evaluated epoch due; history column ``sharpness``, NaN elsewhere):
        Lanczos on exact Hessian-vector products, each measurement started from the previous
        eigenvector, so it costs a few products. Under
        full-batch GD with a constant ε it shows progressive sharpening and the edge of
        stability, λ_max rising to 2/ε and hovering there (Cohen et al. 2021). None: off.
    trajectory : bool
        Keep θ at every history row (``TrainResult.trajectory``): distances to a known θ*,
        paths of training. Costs one copy of θ per evaluated epoch.
    callback : callable, optional
        ``callback(record)`` after every epoch; returning True stops training with status
        ``stopped`` (unless another rule ended it at the same epoch).

    Returns
    -------
    TrainResult

    Notes
    -----
    The update at step t is θ⁽ᵗ⁺¹⁾ = θ⁽ᵗ⁾ − ε_t ∇E⁽ᵗ⁾(θ⁽ᵗ⁾) (eqs 3 and 8), where E⁽ᵗ⁾ is the mean
    loss over the mini-batch B⁽ᵗ⁾. At the start of every epoch the training set is split anew
    into random mini-batches by one permutation drawn from ``rng`` (seed 1.4). Stopping rules
    are checked at the end of each epoch, in the order diverged, converged, stalled, callback,
    budget; a non-finite mini-batch gradient ends training with ``diverged`` at once. A schedule
    that has decayed to ε = 0 (cosine or linear with a final ratio of 0) ends training with
    ``budget``: θ can no longer change, but that is not convergence.
    """
    run = _Run.prepare(
        model,
        theta0,
        X,
        y,
        X_val,
        y_val,
        lr=lr,
        epochs=epochs,
        batch_size=batch_size,
        rng=rng,
        schedule=schedule,
        schedule_params=schedule_params,
        max_updates=max_updates,
        rules=(atol, rtol, gtol, diverge_factor),
        stall=(stall_window, stall_tol),
        drop_last=drop_last,
        eval_every=eval_every,
        track_sharpness=track_sharpness,
        trajectory=trajectory,
    )
    return run.loop(callback)


class _Run:
    """One run of :func:`train`: its checked inputs, its buffers and its history rows.

    :meth:`prepare` checks the inputs (the phase that refuses), :meth:`loop` makes the updates
    and applies the stopping rules, :meth:`result` turns the rows into a history.
    """

    @classmethod
    def prepare(
        cls, model, theta0, X, y, X_val, y_val, *, lr, epochs, batch_size, rng, schedule,
        schedule_params, max_updates, rules, stall, drop_last, eval_every, track_sharpness,
        trajectory,
    ) -> _Run:  # fmt: skip
        """Check every input (the rules of :class:`TrainConfig`'s fields) and allocate."""
        theta = model.check_theta(theta0)
        if theta.ndim != 1:
            raise ValueError(f"theta0 has shape {theta.shape}; train takes one start of shape (D,)")
        self = cls()
        self.model, self.theta = model, theta.copy()
        self.X = model.check_inputs(X)
        self.t_train = model.targets(y, self.X.shape[0])
        n = self.n = self.X.shape[0]
        if n == 0:
            raise ValueError("X has 0 samples; training needs at least one")
        self.has_val = X_val is not None and np.shape(X_val)[0] > 0
        if self.has_val:
            self.X_val = model.check_inputs(X_val)
            self.t_val = model.targets(y_val, self.X_val.shape[0])
        stall_window, stall_tol = stall
        # the rules of TrainConfig's fields, the same the spec checks
        check_values(
            TrainConfig,
            {
                "lr": lr,
                "epochs": epochs,
                "max_updates": max_updates,
                "stall_window": stall_window,
                "eval_every": eval_every,
                "track_sharpness": track_sharpness,
                "stall_tol": stall_tol,
            },
        )
        self.lr = float(lr)
        _check_count("batch_size", batch_size, low=1, high=n)
        self.rules = _Rules(*rules)
        self.sched = _resolve_schedule(schedule, schedule_params)
        B = self.B = n if batch_size is None else int(batch_size)
        if B < n and rng is None:
            raise ValueError(f"batch_size={B} < N={n} needs rng, a numpy.random.Generator")
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng={rng!r} must be a numpy.random.Generator")
        self.rng, self.epochs, self.max_updates = rng, epochs, max_updates
        self.stall_window, self.stall_tol = stall_window, stall_tol
        self.eval_every, self.track_sharpness = eval_every, track_sharpness
        self.trajectory = trajectory
        self.classify = model.is_classifier
        self.full_batch = B == n
        self.n_batches = n // B if drop_last else -(-n // B)
        self.budget_updates = max_updates if max_updates is not None else math.inf
        self.grad_buf = np.empty_like(self.theta)
        self.theta_prev = np.empty_like(self.theta)
        self.views = (model.layout.unravel(self.theta), model.layout.unravel(self.grad_buf))
        self.rows: list[tuple] = []
        self.thetas: list[np.ndarray] = []
        self.sharp = {"v": None, "at": -math.inf}  # the last eigenvector, and its update
        return self

    def evaluate(self) -> tuple[float, float, float]:
        """Full-training-set E, ‖∇E‖ and accuracy at the current θ (gradient in grad_buf)."""
        E, g, acc = self.model.evaluate(
            self.theta,
            self.X,
            self.t_train,
            out=self.grad_buf,
            accuracy=self.classify,
            views=self.views,
        )
        return float(E), float(np.sqrt(g @ g)), (float(acc) if self.classify else math.nan)

    def sharpness(self, updates: int) -> float:
        """λ_max at θ when a measurement is due (``track_sharpness``), else NaN."""
        if self.track_sharpness is None:
            return math.nan
        sharp = self.sharp
        # at θ⁽⁰⁾, then at updates 1, 2, 4, … (the first steps decide a catapult) until the
        # doubling is sparser than every track_sharpness updates
        due = min(sharp["at"] + self.track_sharpness, max(1, 2 * sharp["at"]))
        if updates < due or not np.isfinite(self.theta).all():
            return math.nan
        # First start: ∇E, which GD's own dynamics align with the sharp directions; no random
        # draw, so tracking leaves the training's random stream untouched.
        v0 = sharp["v"] if sharp["v"] is not None else self.grad_buf.copy()
        if not np.any(v0):
            v0 = np.ones_like(self.theta)
        lam, sharp["v"] = top_eigenpair(self.model, self.theta, self.X, self.t_train, v0, tol=1e-6)
        sharp["at"] = updates
        return lam

    def record(self, epoch: int, updates: int, E: float, gnorm: float, lr_t: float, acc: float):
        """Append a history row (validation loss and sharpness measured here)."""
        if self.has_val:
            Ev, _, accv = self.model.evaluate(
                self.theta,
                self.X_val,
                self.t_val,
                grad=False,
                accuracy=self.classify,
                views=self.views,
            )
            Ev, accv = float(Ev), (float(accv) if self.classify else math.nan)
        else:
            Ev, accv = math.nan, math.nan
        self.rows.append((epoch, updates, E, gnorm, lr_t, acc, Ev, accv, self.sharpness(updates)))
        if self.trajectory:
            self.thetas.append(self.theta.copy())
        return EpochRecord(*self.rows[-1])

    def epoch_updates(self, epoch: int, updates: int, lrs: np.ndarray) -> str | None:
        """One epoch's updates, eq (3) or (8); a message if a mini-batch gradient blew up."""
        model, theta, grad_buf, views = self.model, self.theta, self.grad_buf, self.views
        if self.full_batch:
            if epoch > 1 and (epoch - 1) % self.eval_every:
                model.evaluate(theta, self.X, self.t_train, out=grad_buf, value=False, views=views)
            # else grad_buf already holds ∇E(θ) from the end-of-epoch evaluation.
            grad_buf *= lrs[0]  # in place: no θ-sized temporary
            theta -= grad_buf  # eq (3): θ⁽ᵗ⁺¹⁾ = θ⁽ᵗ⁾ − ε_t ∇E(θ⁽ᵗ⁾)
            return None
        perm = self.rng.permutation(self.n)
        Xp, tp = self.X[perm], self.t_train[perm]
        B = self.B
        for i in range(len(lrs)):
            sl = slice(i * B, (i + 1) * B)
            # The mini-batch loss value is not needed: only ∇E⁽ᵗ⁾ enters eq (8), and a
            # non-finite ‖ε∇E⁽ᵗ⁾‖² flags divergence just as well.
            _, step, _ = model.evaluate(
                theta, Xp[sl], tp[sl], out=grad_buf, value=False, scale=lrs[i], views=views
            )  # step = ε_t ∇E⁽ᵗ⁾(θ)
            if not math.isfinite(step @ step):
                self.blown_at = i
                return f"a mini-batch gradient became non-finite at update {updates + i}"
            theta -= step  # eq (8): θ⁽ᵗ⁺¹⁾ = θ⁽ᵗ⁾ − ε_t ∇E⁽ᵗ⁾(θ⁽ᵗ⁾)
        return None

    def stop(self, epoch: int, updates: int, E: float, E0: float, gnorm: float):
        """The stopping rules at an evaluated epoch: (status, message), or None to go on."""
        rules, theta = self.rules, self.theta
        if rules.diverged(E, E0) or not np.isfinite(theta).all():
            if math.isfinite(E) and E > rules.diverge_factor * E0:
                return "diverged", f"E={E:.6g} exceeds {rules.diverge_factor:g} × E(θ⁽⁰⁾)={E0:.6g}"
            return "diverged", f"E became {E} at epoch {epoch}"
        if rules.no_more_steps(self.sched, updates, self.lr):
            return (
                "budget",
                f"the schedule reached ε = 0 at update {updates}: θ can no longer change",
            )
        self.theta_prev -= theta
        if rules.still(np.abs(self.theta_prev).max(), np.abs(theta).max()):
            return "converged", (
                f"θ stopped changing at epoch {epoch} (atol={rules.atol:g}, rtol={rules.rtol:g})"
            )
        self.theta_prev[...] = theta
        if rules.small_gradient(gnorm):
            return "converged", f"‖∇E‖={gnorm:.3g} <= gtol={rules.gtol:g}"
        window = self.stall_window
        if window is not None and epoch >= window:
            # rows hold epochs 0, k, 2k, … (k = eval_every): the last one at least
            # stall_window epochs back
            E_old = self.rows[(epoch - window) // self.eval_every][2]
            if rules.stalled(E_old, E, self.stall_tol):
                return "stalled", (
                    f"E fell from {E_old:.6g} to {E:.6g} over the last {window} epochs, less "
                    f"than stall_tol={self.stall_tol:g} of it"
                )
        return None

    def loop(self, callback) -> TrainResult:
        """Epochs of updates, an evaluation (and the stopping rules) at every evaluated epoch."""
        start = time.perf_counter()
        epochs, sched, lr = self.epochs, self.sched, self.lr
        status, message = "budget", f"used the budget of {epochs} epochs"
        updates = 0
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            E, gnorm, acc = self.evaluate()
            E0 = E
            self.record(0, 0, E, gnorm, float(sched(0, lr)), acc)
            if not math.isfinite(E0):
                status, message = "diverged", "E(θ⁽⁰⁾) is not finite"
                epochs = 0
            self.theta_prev[...] = self.theta
            for epoch in range(1, epochs + 1):
                n_up = min(self.n_batches, self.budget_updates - updates)
                lrs = np.atleast_1d(sched(np.arange(updates, updates + n_up), lr))
                blown = self.epoch_updates(epoch, updates, lrs)
                updates += n_up if blown is None else self.blown_at
                if blown is None and epoch % self.eval_every and epoch < epochs:
                    if updates < self.budget_updates:
                        continue
                E, gnorm, acc = self.evaluate()
                rec = self.record(epoch, updates, E, gnorm, float(lrs[-1]), acc)
                if blown is not None:
                    status, message = "diverged", blown
                    break
                stop = self.stop(epoch, updates, E, E0, gnorm)
                if stop is not None:
                    status, message = stop
                    break
                if callback is not None and callback(rec):
                    status, message = "stopped", f"the callback stopped training at epoch {epoch}"
                    break
                if updates >= self.budget_updates:
                    status, message = "budget", f"used the budget of {self.max_updates} updates"
                    break
        return self.result(status, message, updates, time.perf_counter() - start)

    def result(self, status: str, message: str, updates: int, seconds: float) -> TrainResult:
        """The run's outcome, its history rows as columns."""
        cols = list(zip(*self.rows, strict=True))
        history = {
            name: np.asarray(col, dtype=np.int64 if name in ("epoch", "updates") else np.float64)
            for name, col in zip(HISTORY_FIELDS, cols, strict=True)
        }
        return TrainResult(
            theta=self.theta,
            status=status,
            history=history,
            epochs=len(self.rows) - 1,
            updates=updates,
            message=message,
            seconds=seconds,
            trajectory=np.array(self.thetas) if self.trajectory else None,
        )


def curve_state(
    history: dict[str, np.ndarray], stall_window: int | None, stall_tol: float = 1e-3
) -> str:
    """Where a learning curve cut short (e.g. by a pruner) was heading.

    Parameters
    ----------
    history : dict of str to ndarray
        A :class:`TrainResult`'s history (``epoch`` and ``loss`` columns are read).
    stall_window, stall_tol : as for :func:`train`
        None: no stall rule, so a curve is never ``stalled``.

    Returns
    -------
    str
        ``rising`` when E is not finite or above E(θ⁽⁰⁾) (the way to divergence); ``stalled``
        when :func:`train`'s stall rule holds at the last row (E fell by no more than
        stall_tol · E over the last stall_window epochs); else ``improving``.
    """
    epoch, loss = np.asarray(history["epoch"]), np.asarray(history["loss"], dtype=float)
    E = float(loss[-1])
    if not math.isfinite(E) or E > loss[0]:
        return "rising"
    if stall_window is not None and epoch[-1] >= stall_window:
        E_old = float(loss[np.searchsorted(epoch, epoch[-1] - stall_window, side="right") - 1])
        if _Rules.stalled(E_old, E, stall_tol):
            return "stalled"
    return "improving"


@dataclass(frozen=True)
class ManyResult:
    """Outcome of :func:`train_many`, one row per start.

    Attributes
    ----------
    theta : ndarray of shape (K, D)
        Final θ of every start.
    status : ndarray of str, shape (K,)
        converged, diverged or budget.
    loss : ndarray of shape (K,)
        E(θ) on the whole training set at the end.
    grad_norm : ndarray of shape (K,)
        ‖∇E(θ)‖ at the end.
    epochs : ndarray of int, shape (K,)
        Epochs each start ran.
    seconds : float
    """

    theta: np.ndarray
    status: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    epochs: np.ndarray
    seconds: float


MANY_CHUNK_BYTES = 1 << 22
"""Default working-set size of one chunk of starts in :func:`train_many` (see its Notes)."""


@sized_blas_threads(model_flops)
def train_many(
    model: MLP,
    theta0: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    *,
    lr: float,
    epochs: int,
    batch_size: int | None = None,
    rng: np.random.Generator | None = None,
    schedule: Schedule | str | None = None,
    schedule_params: dict | None = None,
    atol: float = 0.0,
    rtol: float = 8 * float(np.finfo(np.float64).eps),
    gtol: float = 0.0,
    diverge_factor: float = 10.0,
    check_every: int = 10,
    chunk: int | None = None,
    max_updates: int | None = None,
    engine: str = "numpy",
) -> ManyResult:
    """Train K starts at once, as one vectorised (K, D) computation per chunk of starts.

    Parameters
    ----------
    model : MLP
    theta0 : ndarray of shape (K, D)
        The starts θ⁽⁰⁾; not modified.
    X, y : training data, as for :func:`train`
    lr, epochs, batch_size, schedule, schedule_params, atol, rtol, gtol, diverge_factor
        As for :func:`train`; every start uses the same values.
    rng : numpy.random.Generator or None
        Required for mini-batches: each start gets its own random partition every epoch.
    check_every : int
        Full-batch gradient descent checks convergence every this many steps (divergence is
        checked every step). Mini-batch training checks both at the end of each epoch.
    chunk : int or None
        Starts trained together; None sizes chunks so one activation array stays near
        ``MANY_CHUNK_BYTES``.
    max_updates : int, optional
        Stop after this many updates, within an epoch if need be: methods with different
        batch sizes then make exactly the same number of updates (the last epoch's
        convergence and divergence checks still run).
    engine : {"numpy", "jax", "auto"}
        Where full-batch gradient descent runs: this module's NumPy loop (the reference), or
        the compiled kernel of :mod:`landscape.engine` (JAX, the ``[fast]`` extra), which
        agrees with it to rounding; ``auto`` takes JAX when it is installed and the training
        is full-batch. Mini-batch training runs on NumPy.

    Returns
    -------
    ManyResult

    Notes
    -----
    Starts that converge or diverge leave the active set, so the remaining ones cost less.
    Memory is bounded by the chunk, not by K: the working set of a chunk is a few arrays of
    chunk × N × max(d_l) floats, sized to stay in cache (this machine's memory bandwidth is
    low). The same ``rng`` and chunk size give bit-identical results.
    """
    thetas = model.check_theta(theta0)
    if thetas.ndim != 2:
        raise ValueError(
            f"theta0 has shape {thetas.shape}; train_many takes starts of shape (K, D)"
        )
    X = model.check_inputs(X)
    t_train = model.targets(y, X.shape[0])
    n = X.shape[0]
    check_values(TrainConfig, {"lr": lr, "epochs": epochs, "max_updates": max_updates})
    lr = float(lr)
    _check_count("batch_size", batch_size, low=1, high=n)
    _check_count("check_every", check_every, low=1)
    _check_count("chunk", chunk, low=1)
    rules = _Rules(atol, rtol, gtol, diverge_factor)
    sched = _resolve_schedule(schedule, schedule_params)
    B = n if batch_size is None else int(batch_size)
    if B < n and not isinstance(rng, np.random.Generator):
        raise ValueError(f"batch_size={B} < N={n} needs rng, a numpy.random.Generator")
    K = thetas.shape[0]
    if chunk is None:
        chunk = max(1, MANY_CHUNK_BYTES // (8 * n * max(model.sizes)))
    if max_updates is not None:
        # never more epochs than the updates allow; the mini-batch loop cuts the last one
        epochs = min(epochs, -(-int(max_updates) // -(-n // B)))
    budget = math.inf if max_updates is None else int(max_updates)
    out_theta = thetas.copy()
    out_status = np.full(K, "budget", dtype="<U9")
    out_loss = np.empty(K)
    out_gnorm = np.empty(K)
    out_epochs = np.full(K, epochs, dtype=np.int64)
    start = time.perf_counter()
    if engine_module.resolve(engine, full_batch=B == n) == "jax":
        for lo in range(0, K, chunk):
            ids = np.arange(lo, min(K, lo + chunk))
            # the last chunk padded to the chunk's size: one compiled shape for every chunk
            pad = np.concatenate([ids, np.full(min(chunk, K) - len(ids), ids[-1])])
            got = engine_module.gd_chunk(
                model, thetas[pad], X, t_train, lr, epochs, sched, rules, check_every
            )
            m = len(ids)
            out_theta[ids], out_status[ids], out_loss[ids], out_gnorm[ids], out_epochs[ids] = (
                a[:m] for a in got
            )
        return ManyResult(
            theta=out_theta,
            status=out_status,
            loss=out_loss,
            grad_norm=out_gnorm,
            epochs=out_epochs,
            seconds=time.perf_counter() - start,
        )
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for lo in range(0, K, chunk):
            ids = np.arange(lo, min(K, lo + chunk))
            _train_chunk(
                model,
                out_theta,
                ids,
                X,
                t_train,
                B,
                rng,
                lr,
                epochs,
                sched,
                rules,
                check_every,
                out_status,
                out_loss,
                out_gnorm,
                out_epochs,
                budget,
            )
    return ManyResult(
        theta=out_theta,
        status=out_status,
        loss=out_loss,
        grad_norm=out_gnorm,
        epochs=out_epochs,
        seconds=time.perf_counter() - start,
    )


def _train_chunk(
    model,
    out_theta,
    ids,
    X,
    t,
    B,
    rng,
    lr,
    epochs,
    sched,
    rules,
    check_every,
    out_status,
    out_loss,
    out_gnorm,
    out_epochs,
    budget,
) -> None:
    """Train the starts ``ids`` of ``out_theta`` in place (see :func:`train_many`)."""
    n = X.shape[0]
    theta = out_theta[ids].copy()
    active = ids.copy()
    grad = np.empty_like(theta)
    full_batch = B == n
    n_batches = -(-n // B)
    E0 = None
    updates = 0

    def retire(mask: np.ndarray, status: str, epoch: int, E: np.ndarray, gn: np.ndarray):
        nonlocal theta, active, grad, E0
        done = active[mask]
        out_theta[done] = theta[mask]
        out_status[done] = status
        out_loss[done] = E[mask]
        out_gnorm[done] = gn[mask]
        out_epochs[done] = epoch
        keep = ~mask
        theta, active, E0 = theta[keep], active[keep], E0[keep]
        grad = grad[: len(active)]

    for epoch in range(1, epochs + 1):
        if not len(active):
            return
        if full_batch:
            lr_t = float(sched(updates, lr))
            E, step, _ = model.evaluate(theta, X, t, out=grad, scale=lr_t)
            if E0 is None:
                E0 = E.copy()
            bad = rules.diverged(E, E0)
            if bad.any():
                kept_step = step[~bad]  # the survivors' steps, before the buffer shrinks
                retire(bad, "diverged", epoch - 1, E, np.full(len(E), np.nan))
                if not len(active):
                    return
                grad[...] = kept_step
                step = grad
                E = E[~bad]
            theta -= step  # eq (3) or (8) for every start at once: step = ε_t ∇E(θ)
            updates += 1
            if epoch % check_every and epoch < epochs:
                continue
            size = np.abs(step).max(axis=1)
            gn = np.sqrt(np.einsum("kd,kd->k", step, step)) / lr_t
            done = rules.still(size, np.abs(theta).max(axis=1)) | rules.small_gradient(gn)
            if rules.no_more_steps(sched, updates, lr):
                done[:] = False  # ε = 0 is no convergence: the start runs out its budget
            if done.any():
                Eg, g, _ = model.evaluate(theta[done], X, t)
                gnd = np.sqrt(np.einsum("kd,kd->k", g, g))
                Efull = np.full(len(active), np.nan)
                gfull = np.full(len(active), np.nan)
                Efull[done], gfull[done] = Eg, gnd
                retire(done, "converged", epoch, Efull, gfull)
        else:
            if E0 is None:
                E0, _, _ = model.evaluate(theta, X, t, grad=False)
            m = len(active)
            perms = rng.permuted(np.broadcast_to(np.arange(n), (m, n)), axis=1)
            Xp, tp = X[perms], t[perms]
            steps = int(min(n_batches, budget - updates))
            lrs = np.atleast_1d(sched(np.arange(updates, updates + steps), lr))
            for i in range(steps):
                sl = slice(i * B, (i + 1) * B)
                _, step, _ = model.evaluate(
                    theta, Xp[:, sl], tp[:, sl], out=grad, value=False, scale=float(lrs[i])
                )
                theta -= step
            updates += steps
            # SGD's iterate never stops moving at a fixed ε: only ‖∇E‖ ≤ gtol ends a start
            E, g, _ = model.evaluate(theta, X, t, out=grad)
            gn = np.sqrt(np.einsum("kd,kd->k", g, g))
            bad = rules.diverged(E, E0) | ~np.isfinite(gn)
            if bad.any():
                retire(bad, "diverged", epoch, E, gn)
                E, gn = E[~bad], gn[~bad]
            if len(active):
                done = rules.small_gradient(gn)
                if done.any():
                    retire(done, "converged", epoch, E, gn)
    if len(active):
        E, g, _ = model.evaluate(theta, X, t, out=grad)
        gn = np.sqrt(np.einsum("kd,kd->k", g, g))
        bad = rules.diverged(E, E0)
        out_theta[active] = theta
        out_status[active] = np.where(bad, "diverged", "budget")
        out_loss[active] = E
        out_gnorm[active] = gn
