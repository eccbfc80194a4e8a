"""Sharpness along training against the stability limit 2/ε of full-batch gradient descent.

On a quadratic, GD with a constant ε is stable exactly when λ_max < 2/ε. A neural network's
λ_max(θ_t) changes along the run: it often rises (progressive sharpening) until it reaches 2/ε
and then hovers there while the loss keeps falling non-monotonically (the edge of stability,
Cohen et al. 2021). A run that starts with λ_max(θ⁽⁰⁾) > 2/ε survives only by moving to a
flatter region. It may do so in a catapult (Lewkowycz et al. 2020): the sharp direction's
component grows, the loss spikes, and while it is high λ_max falls below 2/ε, after which the
loss falls again. Or it may flatten quietly: the loss keeps falling while λ_max drifts below
2/ε before the sharp direction's growth shows in the loss. :func:`read_sharpness` names which
of these a measured run did, from the ratio r_t = λ_max(θ_t) · ε / 2 (r = 1 is the limit) and
from the loss along the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BAND = (0.85, 1.15)
"""r_t within this band counts as "at 2/ε": λ_max hovers just around the limit at the edge of
stability, and a measurement every few updates sees both sides of it."""

SPIKE = 1.1
"""A loss spike: E_t above this many times its lowest value so far, min_{s ≤ t} E_s, at some
update before λ_max first came down to 2/ε (r ≤ 1.15). A catapult's loss grows by factors;
the step-to-step wobble of a falling loss stays well under 10%."""

SHARPNESS_KINDS = {
    "below": "λ_max stayed below 2/ε (r < 0.85 throughout): classical stable descent",
    "edge of stability": "λ_max rose to 2/ε and hovered there (r within 0.85…1.15 for half or "
    "more of the measurements from its first arrival, and at the end)",
    "catapult": "λ_max started above 2/ε (r > 1.15) and fell below it (r < 0.85 at the end) "
    "while the loss spiked: E rose above 1.1× its lowest value so far before λ_max came down "
    "to 2/ε, then fell (Lewkowycz et al. 2020)",
    "flattened": "λ_max started above 2/ε (r > 1.15) and fell below it (r < 0.85 at the end) "
    "with no loss spike: E stayed within 1.1× its lowest value so far until λ_max came down "
    "to 2/ε — the run drifted to flatter regions without a catapult",
    "catapult, then edge of stability": "λ_max started above 2/ε, fell to it during a loss "
    "spike (as in a catapult) and hovered there",
    "flattened, then edge of stability": "λ_max started above 2/ε, fell to it with no loss "
    "spike and hovered there",
    "at the limit": "λ_max sat at 2/ε from the start and hovered there (r within 0.85…1.15 at "
    "the start, for half or more of the measurements, and at the end)",
    "fell below": "λ_max started at 2/ε and fell below it",
    "diverged": "the run diverged",
    "unsettled": "none of the above: λ_max neither stayed below 2/ε nor settled at it",
}
"""Every verdict :func:`read_sharpness` gives, with its meaning."""


@dataclass(frozen=True)
class SharpnessReading:
    """How λ_max(θ_t) moved against 2/ε along one run, and whether the loss spiked meanwhile.

    Attributes
    ----------
    kind : str
        One of :data:`SHARPNESS_KINDS`.
    ratio_start, ratio_max, ratio_end : float
        r = λ_max · ε / 2 at the first measurement, its largest value, at the last one.
    share_at_limit : float
        Share of the measurements from the first one in :data:`BAND` on that lie in it (0
        when none does).
    measurements : int
    loss_spike : float
        The largest E_t / min_{s ≤ t} E_s up to the first measurement with r ≤ 1.15 (the
        whole run when there is none): 1 for a loss that never rose; above :data:`SPIKE` is a
        spike.
    """

    kind: str
    ratio_start: float
    ratio_max: float
    ratio_end: float
    share_at_limit: float
    measurements: int
    loss_spike: float = 1.0

    @property
    def meaning(self) -> str:
        """Plain-words reading of the verdict."""
        return SHARPNESS_KINDS[self.kind]


def loss_spike(loss: np.ndarray) -> float:
    """The largest rise of a loss above its lowest value so far, max_t E_t / min_{s ≤ t} E_s.

    Parameters
    ----------
    loss : ndarray of shape (T,)
        E along the run (non-finite entries are ignored).

    Returns
    -------
    float
        1 for a loss that never rose (or fewer than two finite values).
    """
    e = np.asarray(loss, dtype=float)
    e = e[np.isfinite(e)]
    if e.size < 2:
        return 1.0
    low = np.minimum.accumulate(e)
    with np.errstate(divide="ignore", invalid="ignore"):
        rise = np.where(low > 0, e / low, np.where(e > low, np.inf, 1.0))
    return float(rise.max())


def read_sharpness(
    sharpness: np.ndarray, lr: float, status: str, loss: np.ndarray
) -> SharpnessReading:
    """Name what λ_max(θ_t) did against 2/ε along one full-batch constant-ε run.

    Parameters
    ----------
    sharpness : ndarray of shape (M,)
        λ_max at the history's rows, in order; NaN where it was not measured (ignored).
    lr : float
        The run's constant ε.
    status : str
        How training ended (``diverged`` decides the verdict).
    loss : ndarray of shape (M,)
        E at the same rows (every row, measured or not): a run that starts above 2/ε is a
        catapult when E spikes (:data:`SPIKE`) before λ_max comes down to 2/ε.

    Returns
    -------
    SharpnessReading

    Raises
    ------
    ValueError
        When no measurement is finite, or ``loss`` and ``sharpness`` differ in length.
    """
    s_all = np.asarray(sharpness, dtype=float)
    e_all = np.asarray(loss, dtype=float)
    if e_all.shape != s_all.shape:
        raise ValueError(
            f"loss of shape {e_all.shape} and sharpness of shape {s_all.shape}: one entry of "
            "each per history row"
        )
    rows = np.flatnonzero(np.isfinite(s_all))
    if not rows.size:
        raise ValueError("no finite sharpness measurement to read")
    s = s_all[rows]
    r = s * lr / 2.0
    low, high = BAND
    inside = (r >= low) & (r <= high)
    first = int(np.argmax(inside)) if inside.any() else None
    share = float(inside[first:].mean()) if first is not None else 0.0
    hovered = share >= 0.5 and bool(inside[-1])
    # the loss up to the first measurement at or below the top of the band: a rise later is
    # the edge of stability's wobble, not the catapult
    down = np.flatnonzero(r <= high)
    end = rows[down[0]] + 1 if down.size else len(e_all)
    spike = loss_spike(e_all[:end])
    spiked = spike > SPIKE
    if status == "diverged":
        kind = "diverged"
    elif r.max() < low:
        kind = "below"
    elif r[0] > high:
        name = "catapult" if spiked else "flattened"
        if r[-1] < low:
            kind = name
        else:
            kind = f"{name}, then edge of stability" if hovered else "unsettled"
    elif r[0] >= low:
        if hovered:
            kind = "at the limit"
        else:
            kind = "fell below" if r[-1] < low else "unsettled"
    else:
        kind = "edge of stability" if hovered else "unsettled"
    return SharpnessReading(
        kind, float(r[0]), float(r.max()), float(r[-1]), share, int(s.size), spike
    )
