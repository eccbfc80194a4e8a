"""Seed 1.3 on any data and model: the noise axis of :mod:`landscape.analysis.noise` on a sample.

:mod:`landscape.analysis.spurious` measures the claim on the population loss of Safran &
Shamir's ReLU networks, in closed form. Here the same experiment runs on an MLP trained on a
finite data set, where mini-batch noise is what the lecture means by it: eq (7)'s average over a
random subset B⁽ᵗ⁾ of the N training samples. The shipped spec is the same student on a sample
of that teacher (the ``relu_teacher`` data, output weights frozen at 1), so the two can be read
side by side.

:class:`SampleNet` is the chain problem: E is the training loss (eq 4), ∇E by
backpropagation over all N samples (batch GD's gradient), and the noisy gradient of batch size B
averages B samples drawn uniformly (with replacement: each step's mini-batch is an unbiased
draw, independent of the last). Each chain draws its own samples; the chains of one start at
different ε share them. A bad minimum is verified by a positive definite Hessian over the free
parameters, and minima are counted modulo the model's discrete symmetries (unit permutations,
and sign flips where the activation is odd and the frozen entries allow).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from landscape import seeds
from landscape.analysis.kind import Kind
from landscape.analysis.noise import (
    AxisReport,
    AxisSettings,
    ChainProblem,
    axis_trainer,
    earlier,
    earlier_found,
    run_axis,
    summarise_axis,
    unit_attrs,
    unit_value,
)
from landscape.analysis.symmetry import align_model
from landscape.hessian import hessian
from landscape.model import MLP
from landscape.rules import RuleError, setting
from landscape.threads import one_blas_thread


class SampleNet(ChainProblem):
    """An MLP's training loss as a :class:`~landscape.analysis.noise.ChainProblem`.

    θ is the model's whole flat vector (frozen entries included: their gradient is zero, so
    they keep their value); D = ``model.n_params``.

    Parameters
    ----------
    model : MLP
    X, y : ndarray
        The training data.
    lr : float
        The step of the descent that decides a basin (batch GD's ε).
    global_below : float
        A loss below which descent is in the global minimum's basin: below every bad minimum.
        On a realisable teacher the global minimum is E = 0 and the bad ones lie far above.
    gtol : float
        ‖∇E‖ at which descent has converged.
    """

    def __init__(
        self,
        model: MLP,
        X: np.ndarray,
        y: np.ndarray,
        *,
        lr: float,
        global_below: float,
        gtol: float = 1e-8,
    ) -> None:
        self.model = model
        self.X = model.check_inputs(X)
        self.y = np.asarray(y)
        self.t = model.targets(self.y, self.X.shape[0])
        self.dim = model.n_params
        self.basin_lr = float(lr)
        self.global_below = float(global_below)
        self.gtol = float(gtol)
        if model.activation.name == "relu":
            # A ReLU net's loss on a sample is smooth only piecewise: descent may stall on a
            # kink with ‖∇E‖ bounded away from 0, and a little noise then slides it along the
            # kink to a point 1% of ‖θ‖ away at a loss 1e-4 lower. The bad minima of the
            # sample also come in clusters of neighbours a few % apart. "The same minimum" is
            # therefore the same neighbourhood: 5% of ‖θ‖ (about a third of the distance to
            # the nearest other cluster measured) and 1% in loss.
            self.stall_tol = 1e-13
            self.stay_tol = 0.05
            self.loss_rtol = 0.01
            # where descent stalls, the Hessian of one piece cannot tell a minimum on a kink
            # from a kink with a way down: kicks can (kicked_back)
            self.kicks = 8

    def loss(self, theta: np.ndarray) -> np.ndarray:  # noqa: D102
        with np.errstate(all="ignore"):
            E, _, _ = self.model.evaluate(theta, self.X, self.t, grad=False)
        return np.asarray(E)

    def grad(self, theta: np.ndarray) -> np.ndarray:  # noqa: D102
        with np.errstate(all="ignore"):
            _, g, _ = self.model.evaluate(theta, self.X, self.t, value=False)
        return g

    def noisy_grad(  # noqa: D102
        self, theta: np.ndarray, batch: int, rng: np.random.Generator
    ) -> np.ndarray:
        R, M, D = theta.shape
        idx = rng.integers(0, self.X.shape[0], size=(R, batch))
        # each chain's samples, seen by all of its step sizes: (R·M, B, d)
        Xb = np.repeat(self.X[idx], M, axis=0)
        tb = np.repeat(self.t[idx], M, axis=0)
        with np.errstate(all="ignore"):
            _, g, _ = self.model.evaluate(theta.reshape(R * M, D), Xb, tb, value=False)
        return g.reshape(R, M, D)

    def hessian(self, theta: np.ndarray) -> np.ndarray:  # noqa: D102
        return hessian(self.model, theta, self.X, self.y)

    def same_minimum(self, a: np.ndarray, b: np.ndarray) -> bool:
        """Whether ``b``, aligned to ``a`` by the model's discrete symmetries, is ``a``.

        Within ``stay_tol``·‖a‖, over the free parameters.
        """
        aligned = align_model(self.model, b, a)
        free = self.model.free
        gap = np.linalg.norm(aligned[free] - a[free])
        return bool(gap <= self.stay_tol * max(np.linalg.norm(a[free]), 1e-12))

    def symmetry(self) -> str:  # noqa: D102
        return "the model's unit permutations (and sign flips where odd and not frozen)"


# ------------------------------------------------------------------ the analysis kind
@dataclass(frozen=True)
class EscapeConfig(AxisSettings):
    """The ``[analysis]`` section of ``kind = "escape"``: the noise axis on the study's data.

    The noise-axis fields are :class:`AxisSettings`'; ``trainer.lr`` is batch GD's reference
    ε and the step of the descent that decides a basin.

    Attributes
    ----------
    loss_threshold : float
        Descent below this loss is in the global minimum's basin (below every bad minimum).
    polish_gtol : float
        ‖∇E‖ at which descent has converged.
    """

    kind: str = "escape"
    loss_threshold: float = setting(1e-3, low=0, open_low=True)
    polish_gtol: float = setting(1e-8, low=0, open_low=True)


def sample_chains(inputs, config: EscapeConfig) -> SampleNet:
    """The chain problem of the study's model on its training data."""
    return SampleNet(
        inputs.model(),
        inputs.data.X_train,
        inputs.data.y_train,
        lr=inputs.trainer.lr,
        global_below=config.loss_threshold,
        gtol=config.polish_gtol,
    )


@one_blas_thread
def run_escape_unit(inputs, config: EscapeConfig, index: int) -> dict[str, np.ndarray]:
    """One batch size of the noise axis on the study's data.

    The starts are the study's θ⁽⁰⁾ of starts 0 … n_starts − 1 (stream START, as minima's):
    every batch size and GD meet the same ones.
    """
    _, starts = inputs.starts(np.arange(config.n_starts))
    return run_axis(
        sample_chains(inputs, config),
        starts,
        config.batches[index],
        config.axis(inputs.trainer.lr),
        lambda j: inputs.stream(seeds.SHUFFLE, seeds.SHUFFLE_ESCAPE + index, j),
    )


def finish_escape(inputs, config: EscapeConfig, parts: list[dict]):
    """Judge the axis on the sample from every batch size's arrays."""
    model = inputs.model()
    label = f"{inputs.data.name} {list(model.sizes[1:-1])}"
    chains = sample_chains(inputs, config)
    return summarise_axis(
        [(label, p) for p in parts], config.axis(inputs.trainer.lr), chains.symmetry()
    ), {}


def _batches_fit(inputs, config: EscapeConfig) -> None:
    """A mini-batch of B samples needs B ≤ N."""
    for b in config.batches:
        if b > inputs.data.n_train:
            raise RuleError(f"analysis.batches: B={b} is outside [1, N={inputs.data.n_train}]")


KIND = Kind(
    name="escape",
    config=EscapeConfig,
    result=AxisReport,
    value="GD's share of runs in spurious basins",
    headline=lambda r: f"seed 1.3 {r.verdict}",
    units=lambda config: [f"B={b}" for b in config.batches],
    run_unit=run_escape_unit,
    finish=finish_escape,
    unit_param="sweep",
    unit_value=unit_value,
    unit_attrs=unit_attrs,
    trainer=axis_trainer("escape"),
    earlier=earlier("escape"),
    earlier_found=earlier_found("escape"),
    check=_batches_fit,
)
