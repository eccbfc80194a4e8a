"""A toy analysis kind, as a contributor would add one: this module plus one registry line.

``toy`` evaluates the loss at n_starts random θ⁽⁰⁾, a few starts per unit of work (one Optuna
trial each), and reports their mean and smallest value. tests/test_registry.py registers it
(``KINDS["toy"] = KIND``) and runs it through the command line, the report and ``--json``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from landscape.analysis.kind import Inputs, Kind
from landscape.rules import setting


@dataclass(frozen=True)
class ToyConfig:
    """The ``[analysis]`` section of ``kind = "toy"``.

    Attributes
    ----------
    n_starts : int
        Random starts evaluated.
    chunk : int
        Starts per unit of work.
    """

    kind: str = "toy"
    n_starts: int = setting(6, low=1, high=1000)
    chunk: int = setting(4, low=1)


@dataclass(frozen=True)
class ToyResult:
    """The loss at the starts: their count, mean and smallest value, and each (start order)."""

    n_starts: int
    mean_loss: float
    min_loss: float
    losses: tuple[float, ...]


def units(config: ToyConfig) -> int:
    return math.ceil(config.n_starts / config.chunk)


def run_unit(inputs: Inputs, config: ToyConfig, unit: int) -> dict[str, np.ndarray]:
    ids = np.arange(unit * config.chunk, min(config.n_starts, (unit + 1) * config.chunk))
    model, theta0 = inputs.starts(ids)
    d = inputs.data
    return {"start": ids, "loss": np.asarray(model.loss(theta0, d.X_train, d.y_train))}


def finish(inputs: Inputs, config: ToyConfig, parts: list[dict]) -> tuple[ToyResult, dict]:
    loss = np.concatenate([p["loss"] for p in parts])
    result = ToyResult(
        n_starts=len(loss),
        mean_loss=float(loss.mean()),
        min_loss=float(loss.min()),
        losses=tuple(float(v) for v in loss),
    )
    return result, {"loss": loss}


KIND = Kind(
    name="toy",
    config=ToyConfig,
    result=ToyResult,
    value="mean loss at θ⁽⁰⁾",
    headline=lambda r: f"mean loss at θ⁽⁰⁾ = {r.mean_loss:.6g} over {r.n_starts} starts",
    units=units,
    run_unit=run_unit,
    finish=finish,
    unit_param="chunk",
    unit_value=lambda arrays: float(arrays["loss"].mean()),
    arrays="toy.npz",
)
