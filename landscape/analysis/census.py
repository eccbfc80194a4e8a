"""The census of minima over widths: seed 1.2 as a measurement (kind ``minima_census``).

Seed 1.2 claims a non-convex loss has many local minima, each multiplied by the symmetry of
swapping hidden units. The census measures both halves on one problem: for each hidden width
d in ``widths`` it runs the minima analysis (:mod:`landscape.analysis.minima`: many random
starts trained, polished, examined and clustered modulo the symmetry group) and reports

- how many distinct isolated minima modulo symmetry the starts reached, and how that number
  grew with the starts (the accumulation curve) — with Chao1's estimate of the minima not yet
  met and its confidence interval (:func:`~landscape.analysis.minima.chao1_interval`): a curve
  still rising, or an interval far above the count, says the census is incomplete;
- their losses and basin shares (the fraction of starts that ended in each);
- the copies of each minimum: the seed's count ∏ C(d, 2) of unit swaps beside the true group
  size ∏ d!·2^d (unit permutations with the sign flips of an odd activation).

Width d's census is exactly the minima analysis of the same spec with ``model.hidden = [d]``:
start i draws θ⁽⁰⁾ from the same stream ``[seed, START, i]`` at every width, and chunk c of
every width from the same shuffle stream.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from landscape.analysis import minima
from landscape.analysis.kind import Inputs, Kind
from landscape.analysis.minima import (
    MAX_STARTS,
    Chao1,
    MinimaConfig,
    MinimaReport,
    chao1,
    chao1_interval,
)
from landscape.rules import RuleError, setting

MAX_WIDTH = 64
"""The widest hidden layer a census may ask for: a width-d minimum has d!·2^d copies, and the
examination forms dense Hessians of every end point."""


@dataclass(frozen=True)
class CensusConfig(MinimaConfig):
    """The ``[analysis]`` section of ``kind = "minima_census"``: minima against width.

    The spec's model (one hidden layer: activation, loss, init, frozen blocks) is built at
    each of ``widths`` in place of its own width; every other field is the minima analysis's
    (:class:`~landscape.analysis.minima.MinimaConfig`, whose fields and rules it inherits),
    applied at every width.

    Attributes
    ----------
    n_starts : int
        Random starts per width.
    chunk : int
        Starts per trial (one width each): the unit of work one worker takes.
    polish_gtol, polish_iter, tol, loss_tol, flat_tol, continue_steps, decide_steps, grow,
    engine
        As in :class:`~landscape.analysis.minima.MinimaConfig`.
    widths : tuple of int
        Hidden widths to census, each once.
    """

    kind: str = "minima_census"
    n_starts: int = setting(
        4000,
        low=1,
        high=MAX_STARTS,
        why="a study of more is slow to load; run several studies and compare them",
    )
    chunk: int = setting(250, low=1)
    widths: tuple[int, ...] = setting(
        (1, 2, 3, 4, 5, 6),
        low=1,
        high=MAX_WIDTH,
        each=True,
        why="hidden units; every end point of a census gets a dense Hessian",
    )

    def check(self) -> None:
        """At least one width, each listed once."""
        if not self.widths:
            raise RuleError("analysis.widths must list at least one hidden width")
        twice = sorted({w for w in self.widths if list(self.widths).count(w) > 1})
        if twice:
            raise RuleError(
                f"analysis.widths: {', '.join(map(str, twice))} listed twice; list each once"
            )

    def minima(self) -> MinimaConfig:
        """The minima analysis each width runs."""
        shared = {f.name for f in dataclasses.fields(MinimaConfig)} - {"kind"}
        return MinimaConfig(**{name: getattr(self, name) for name in shared})

    @property
    def chunks(self) -> int:
        """Units of work per width."""
        return -(-self.n_starts // self.chunk)

    def unit(self, index: int) -> tuple[int, int]:
        """Unit ``index`` as (width, chunk of that width): widths in order, chunks within."""
        w, c = divmod(int(index), self.chunks)
        return int(self.widths[w]), c


@dataclass(frozen=True)
class Accumulation:
    """Distinct isolated minima modulo symmetry met by the first n starts, n growing.

    Attributes
    ----------
    starts : tuple of int
        The checkpoints n (about 60, log-spaced, ending at every start).
    distinct : tuple of int
        Classes of isolated minima met by starts 0 … n − 1.
    chao1, low, high : tuple of float
        Chao1's estimate from those starts and its 95% interval.
    """

    starts: tuple[int, ...]
    distinct: tuple[int, ...]
    chao1: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]


@dataclass(frozen=True)
class WidthCensus:
    """What the starts of one width reached.

    Attributes
    ----------
    width : int
    n_starts : int
    kind_counts : dict of str to int
        Starts per kind of end point (:data:`~landscape.analysis.minima.POINT_KINDS`).
    distinct_minima : int
        Isolated minima modulo symmetry.
    distinct_points : int
        Isolated minima as points (symmetric copies counted apart).
    families : int
        Connected families of minima modulo symmetry.
    chao1 : Chao1
    chao1_low, chao1_high : float
        Its 95% interval.
    losses, shares : tuple of float
        Each isolated minimum's loss and basin share (fraction of all starts), by loss.
    copies_met : tuple of int
        Distinct symmetric copies of each that the starts reached.
    gd_stable : tuple of bool
        Whether each is a stable fixed point of the trainer's gradient descent: ε·λ_max < 2
        (eq. 3 linearised at the minimum). One that is not cannot be where GD at step ε comes
        to rest; the polish found it by descending further.
    lr : float
        That ε, the trainer's learning rate.
    best_loss : float
        The lowest loss of an isolated minimum or a family (NaN if none).
    transpositions : int
        The seed's count of copies, C(d, 2) unit swaps.
    group_size : int
        The true number of copies: d! permutations, times 2^d sign flips for an odd
        activation.
    moved : float
        Median ‖θ_examined − θ_end‖/‖θ_end‖ of the minima and families: how far polishing
        carried training's end points.
    accumulation : Accumulation
    headline : str
        The minima analysis's one line for this width.
    """

    width: int
    n_starts: int
    kind_counts: dict[str, int]
    distinct_minima: int
    distinct_points: int
    families: int
    chao1: Chao1
    chao1_low: float
    chao1_high: float
    losses: tuple[float, ...]
    shares: tuple[float, ...]
    copies_met: tuple[int, ...]
    gd_stable: tuple[bool, ...]
    lr: float
    best_loss: float
    transpositions: int
    group_size: int
    moved: float
    accumulation: Accumulation
    headline: str = ""


@dataclass(frozen=True)
class CensusReport:
    """The census of every width.

    Attributes
    ----------
    widths : list of WidthCensus
        In the spec's order.
    """

    widths: list[WidthCensus] = field(default_factory=list)

    def headline(self) -> str:
        """One line: the isolated minima modulo symmetry per width, with Chao1's intervals."""
        parts = [
            f"d={w.width}: {w.distinct_minima} "
            f"[Chao1 {w.chao1.estimate:.1f}, 95% {w.chao1_low:.1f}–{w.chao1_high:.1f}]"
            for w in self.widths
        ]
        return "isolated minima modulo symmetry by width: " + "; ".join(parts)


def accumulation(point_class: np.ndarray, n_minima: int, points: int = 60) -> Accumulation:
    """The accumulation curve of isolated minima over the starts, in start order.

    Parameters
    ----------
    point_class : ndarray of int, shape (M,)
        Each start's class (:attr:`MinimaReport.point_class`): 0 … n_minima − 1 are the
        isolated minima, other values other kinds (−1 unresolved).
    n_minima : int
    points : int
        Checkpoints, log-spaced from 1 to M (duplicates merged).
    """
    M = len(point_class)
    if M == 0:
        return Accumulation((), (), (), (), ())
    marks = np.unique(np.round(np.geomspace(1, M, points)).astype(np.int64))
    is_min = (point_class >= 0) & (point_class < n_minima)
    distinct, est, low, high = [], [], [], []
    for n in marks:
        seen = point_class[:n][is_min[:n]]
        sizes = np.bincount(seen, minlength=n_minima) if len(seen) else np.zeros(0, int)
        c = chao1(sizes)
        lo, hi = chao1_interval(sizes)
        distinct.append(c.observed)
        est.append(c.estimate)
        low.append(lo)
        high.append(hi)
    return Accumulation(
        tuple(int(n) for n in marks),
        tuple(distinct),
        tuple(est),
        tuple(low),
        tuple(high),
    )


def width_census(width: int, report: MinimaReport, lr: float) -> WidthCensus:
    """Summarise one width's minima report (its ``counts`` set) as a :class:`WidthCensus`.

    ``lr`` is the trainer's step ε: a minimum with ε·λ_max ≥ 2 is not GD-stable.
    """
    counts = report.counts
    group = counts.with_signs if counts and counts.with_signs else counts.permutations
    finite = [c.loss for c in (*report.minima, *report.families)]
    lo, hi = chao1_interval([m.starts for m in report.minima])
    return WidthCensus(
        width=width,
        n_starts=report.n_starts,
        kind_counts=dict(report.kind_counts),
        distinct_minima=report.distinct_minima,
        distinct_points=report.distinct_points,
        families=len(report.families),
        chao1=report.chao1,
        chao1_low=lo,
        chao1_high=hi,
        losses=tuple(m.loss for m in report.minima),
        shares=tuple(m.basin_share for m in report.minima),
        copies_met=tuple(m.copies_met for m in report.minima),
        gd_stable=tuple(bool(lr * m.lambda_max < 2.0) for m in report.minima),
        lr=float(lr),
        best_loss=float(min(finite)) if finite else float("nan"),
        transpositions=int(counts.transpositions),
        group_size=int(group),
        moved=report.moved,
        accumulation=accumulation(report.point_class, len(report.minima)),
        headline=report.headline(),
    )


# ------------------------------------------------------------------ the analysis kind
def _units(config: CensusConfig) -> int:
    return len(config.widths) * config.chunks


def run_unit(inputs: Inputs, config: CensusConfig, index: int) -> dict[str, np.ndarray]:
    """Unit ``index``: one chunk of one width's starts (:func:`minima.run_chunk`)."""
    width, chunk = config.unit(index)
    out = minima.run_chunk(inputs, config.minima(), chunk, hidden=[width])
    return {**out, "width": np.full(len(out["start"]), width)}


def finish(
    inputs: Inputs, config: CensusConfig, parts: list[dict]
) -> tuple[CensusReport, dict[str, np.ndarray]]:
    """Cluster each width's end points (:func:`minima.finish_census`) and summarise them.

    Returns the report and the points of every width, keys prefixed ``w{d}_``.
    """
    per, arrays = [], {}
    n = config.chunks
    for k, width in enumerate(config.widths):
        own = parts[k * n : (k + 1) * n]
        report, points = minima.finish_census(inputs, config.minima(), own, hidden=[width])
        per.append(width_census(width, report, inputs.trainer.lr))
        arrays.update({f"w{width}_{name}": v for name, v in points.items()})
    return CensusReport(per), arrays


def _unit_attrs(arrays: dict) -> dict:
    return {"width": int(arrays["width"][0]), **minima._chunk_attrs(arrays)}


def _check(inputs: Inputs, config: CensusConfig) -> None:
    """One hidden layer to vary, and the engine asked for."""
    hidden = inputs.model().layout.sizes[1:-1]
    if len(hidden) != 1:
        raise ValueError(
            f"minima_census: model.hidden={list(hidden)} has {len(hidden)} hidden layers; the "
            "census varies the width of one hidden layer (give model.hidden one width)"
        )
    minima._check_engine(inputs, config.minima())


def _memory(config: CensusConfig, D: int, n: int, sizes) -> dict[str, int]:
    """The minima analysis's needs at the widest width (its D from the layer sizes)."""
    wide = max(config.widths)
    wide_sizes = [sizes[0], wide, sizes[-1]]
    D = sum((a + 1) * b for a, b in zip(wide_sizes[:-1], wide_sizes[1:], strict=True))
    return minima._memory(config, D, n, wide_sizes)


KIND = Kind(
    name="minima_census",
    config=CensusConfig,
    result=CensusReport,
    value="lowest polished loss of the chunk",
    headline=CensusReport.headline,
    units=_units,
    run_unit=run_unit,
    finish=finish,
    unit_param="unit",
    unit_value=minima._chunk_value,
    unit_attrs=_unit_attrs,
    arrays="census.npz",
    trainer=minima._many_trainer,
    memory=_memory,
    check=_check,
)
