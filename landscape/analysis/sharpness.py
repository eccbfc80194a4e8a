"""Sharpness along training against the stability limit 2/ε of full-batch gradient descent.

On a quadratic, GD with a constant ε is stable exactly when λ_max < 2/ε. A neural network's
λ_max(θ_t) changes along the run: it often rises (progressive sharpening) until it reaches 2/ε
and then hovers there while the loss keeps falling non-monotonically (the edge of stability,
Cohen et al. 2021); a run that starts with λ_max(θ⁽⁰⁾) > 2/ε survives only by moving to a
flatter region (the catapult, Lewkowycz et al. 2020). :func:`read_sharpness` names which of
these a measured run did, from the ratio r_t = λ_max(θ_t) · ε / 2 (r = 1 is the limit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BAND = (0.85, 1.15)
"""r_t within this band counts as "at 2/ε": λ_max hovers just around the limit at the edge of
stability, and a measurement every few updates sees both sides of it."""

SHARPNESS_KINDS = {
    "below": "λ_max stayed below 2/ε (r < 0.85 throughout): classical stable descent",
    "edge of stability": "λ_max rose to 2/ε and hovered there (r within 0.85…1.15 for half or "
    "more of the measurements from its first arrival, and at the end)",
    "catapult": "λ_max started above 2/ε (r > 1.15) and fell below it without divergence",
    "catapult, then edge of stability": "λ_max started above 2/ε, fell to it and hovered there",
    "at the limit": "λ_max sat at 2/ε from the start and hovered there (r within 0.85…1.15 at "
    "the start, for half or more of the measurements, and at the end)",
    "fell below": "λ_max started at 2/ε and fell below it",
    "diverged": "the run diverged",
    "unsettled": "none of the above: λ_max neither stayed below 2/ε nor settled at it",
}
"""Every verdict :func:`read_sharpness` gives, with its meaning."""


@dataclass(frozen=True)
class SharpnessReading:
    """How λ_max(θ_t) moved against 2/ε along one run.

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
    """

    kind: str
    ratio_start: float
    ratio_max: float
    ratio_end: float
    share_at_limit: float
    measurements: int

    @property
    def meaning(self) -> str:
        """Plain-words reading of the verdict."""
        return SHARPNESS_KINDS[self.kind]


def read_sharpness(sharpness: np.ndarray, lr: float, status: str) -> SharpnessReading:
    """Name what λ_max(θ_t) did against 2/ε along one full-batch constant-ε run.

    Parameters
    ----------
    sharpness : ndarray of shape (M,)
        λ_max at the measured points, in order (NaN entries are ignored).
    lr : float
        The run's constant ε.
    status : str
        How training ended (``diverged`` decides the verdict).

    Returns
    -------
    SharpnessReading

    Raises
    ------
    ValueError
        When no measurement is finite.
    """
    s = np.asarray(sharpness, dtype=float)
    s = s[np.isfinite(s)]
    if not s.size:
        raise ValueError("no finite sharpness measurement to read")
    r = s * lr / 2.0
    low, high = BAND
    inside = (r >= low) & (r <= high)
    first = int(np.argmax(inside)) if inside.any() else None
    share = float(inside[first:].mean()) if first is not None else 0.0
    hovered = share >= 0.5 and bool(inside[-1])
    if status == "diverged":
        kind = "diverged"
    elif r.max() < low:
        kind = "below"
    elif r[0] > high:
        if r[-1] < low:
            kind = "catapult"
        else:
            kind = "catapult, then edge of stability" if hovered else "unsettled"
    elif r[0] >= low:
        if hovered:
            kind = "at the limit"
        else:
            kind = "fell below" if r[-1] < low else "unsettled"
    else:
        kind = "edge of stability" if hovered else "unsettled"
    return SharpnessReading(kind, float(r[0]), float(r.max()), float(r[-1]), share, int(s.size))
