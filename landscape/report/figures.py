"""Drawing: each function takes the data of :mod:`landscape.report.data` and returns a Figure.

matplotlib's Agg backend, 150 dpi, labelled axes with units, and the Okabe–Ito palette, which
stays distinguishable for the common colour-vision deficiencies.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from landscape import files  # noqa: E402
from landscape.analysis.census import CensusReport  # noqa: E402
from landscape.report.data import (  # noqa: E402
    SETUP_WORDS,
    STATUS_ORDER,
    AxisData,
    BatchMap,
    ConvergenceCurves,
    Curve,
    History,
    LrPoints,
    MinimaData,
    ScheduleCurves,
    Setup,
    SharpnessRun,
    Spread,
    loss_name,
    range_minima,
    setup_differences,
)
from landscape.report.data import history as history_data  # noqa: E402

DPI = 150
# Okabe–Ito without its yellow (#F0E442), which is too faint on white
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#000000", "#999999"]
STATUS_COLOURS = {
    "converged": "#009E73",
    "budget": "#0072B2",
    "stalled": "#E69F00",
    "pruned": "#999999",
    "diverged": "#D55E00",
}
STATUS_MARKERS = {"converged": "o", "budget": "s", "stalled": "v", "pruned": "x", "diverged": "^"}


def _new(width: float = 6.4, height: float = 4.0, ncols: int = 1) -> tuple[Figure, np.ndarray]:
    fig, axes = plt.subplots(1, ncols, figsize=(width, height), dpi=DPI, squeeze=False)
    return fig, axes[0]


def loss_vs_lr(p: LrPoints) -> Figure:
    """Final loss against ε, coloured by status, with the divergence boundary and 2/λ_max."""
    fig, (ax,) = _new(8.4, 4.0)
    ceiling = _ceiling([p])
    # a diverged run has no final loss (its last finite one can be ~1e300): a placeholder
    diverged = p.status == "diverged"
    shown = np.where(diverged, ceiling, p.loss)
    shown = np.where(np.isfinite(shown), shown, np.nan)
    # a third quantity the search varies: batch size as marker area, schedule as edge colour
    sizes = np.full(len(p.lr), 28.0)
    edges: np.ndarray | None = None
    if p.group is not None and p.group_name == "batch size":
        sizes = 10.0 + 9.0 * np.log2(np.maximum(p.group.astype(float), 1.0))
    elif p.group is not None:
        names = list(dict.fromkeys(p.group.tolist()))
        # edge colours apart from the status colours of the faces
        rim = ["#000000", "#CC79A7", "#56B4E9", "#7B3294", "#8C510A", "#01665E"]
        palette = {n: rim[i % len(rim)] for i, n in enumerate(names)}
        edges = np.array([palette[g] for g in p.group])
    for status in STATUS_ORDER:
        sel = p.status == status
        if sel.any():
            y = shown[sel]
            ax.scatter(
                p.lr[sel],
                np.where(np.isfinite(y), y, np.nanmax(shown) if np.isfinite(shown).any() else 1.0),
                s=sizes[sel],
                edgecolors=None if edges is None or status == "pruned" else edges[sel],
                linewidths=None if edges is None else 1.6,
                c=STATUS_COLOURS[status],
                marker=STATUS_MARKERS[status],
                label=f"{status} ({sel.sum()}"
                + {"pruned": ", value at pruning)", "diverged": ", drawn at the ceiling)"}.get(
                    status, ")"
                ),
            )
    if p.group is not None and p.group_name == "batch size":
        values = np.unique(p.group.astype(int))  # smallest, middle and largest batch size
        for b in sorted({int(values[0]), int(values[len(values) // 2]), int(values[-1])}):
            ax.scatter(
                [], [], s=10.0 + 9.0 * np.log2(max(b, 1)), c="#bbbbbb", label=f"batch size {b}"
            )
    elif edges is not None:
        for name, colour in palette.items():
            ax.scatter(
                [],
                [],
                s=28,
                facecolors="none",
                edgecolors=colour,
                linewidths=1.6,
                label=f"schedule {name}",
            )
    ax.set_xscale("log")
    if np.nanmin(shown) > 0:
        ax.set_yscale("log")
    if diverged.any():
        ax.axhline(
            ceiling,
            color=STATUS_COLOURS["diverged"],
            ls=(0, (1, 2)),
            lw=1.0,
            label=f"ceiling {ceiling:.3g} (10× the largest other loss): diverged runs drawn here",
        )
    ymin, ymax = ax.get_ylim()
    xlim = _lr_range(p.lr)
    if p.spread is not None:
        runs = p.spread.runs
        n = f"{runs.min()}" if runs.min() == runs.max() else f"{runs.min()}–{runs.max()}"
        label = f"median and interquartile range of {n} runs" + (
            " (diverged as +∞)" if (p.status == "diverged").any() else ""
        )
        _spread_bars(ax, p.spread, "#000000", ymax, label)
    if p.smallest_diverged is not None:
        ax.axvline(
            p.smallest_diverged,
            color="#D55E00",
            ls="--",
            lw=1,
            label=f"smallest diverged ε = {p.smallest_diverged:.3g}",
        )
    ax.set_xlim(*xlim)
    ax.set_ylim(ymin, ymax)
    taken: list[float] = []
    for value, colour, ls, name in (
        (p.stability_limit, "#000000", ":", "2/λ_max at best converged"),
        (p.stability_limit_init, "#CC79A7", "-.", "2/λ_max at θ⁽⁰⁾"),
    ):
        if value is None:
            continue
        if xlim[0] <= value <= xlim[1]:
            ax.axvline(value, color=colour, ls=ls, lw=1.2, label=f"{name} = {value:.3g}")
            continue
        # beyond the trials' ε: named at the edge it lies past, the axis not stretched to it
        right = value > xlim[1]
        height = free_height(ax, "right" if right else "left", taken)
        taken.append(height)
        ax.annotate(
            f"{name} = {value:.3g} →" if right else f"← {name} = {value:.3g}",
            xy=(1.0 if right else 0.0, height),
            xycoords="axes fraction",
            xytext=(-4 if right else 4, 0),
            textcoords="offset points",
            ha="right" if right else "left",
            va="center",
            fontsize=7,
            color=colour,
            bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 1.0},
        )
        ax.plot([], [], color=colour, ls=ls, lw=1.2, label=f"{name} = {value:.3g} (off the axis)")
    ax.set_xlabel("learning rate ε (log scale)")
    ax.set_ylabel(p.loss_label)
    ax.set_title(
        "Too large an ε diverges, too small an ε barely moves"
        if (p.status == "diverged").any()
        else "Final loss against ε (no run diverged)"
    )
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # off the data
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def free_height(ax, side: str, taken: list[float] = (), width: float = 0.45) -> float:
    """A height (axes fraction) for a note at one side of ``ax``, as far from its points as can be.

    The points are the offsets of the axes' scatter collections; the note spans ``width`` of the
    axes from that side. Of the heights 0.05, 0.1, … 0.9 (none within 0.07 of one ``taken``) the
    one whose band holds the fewest points, then the farthest from the nearest, is chosen.
    """
    to_axes = ax.transData + ax.transAxes.inverted()
    pts = [c.get_offsets() for c in ax.collections if len(c.get_offsets())]
    xy = to_axes.transform(np.concatenate(pts)) if pts else np.zeros((0, 2))
    xy = xy[np.isfinite(xy).all(axis=1)]
    near = xy[(xy[:, 0] > 1 - width) if side == "right" else (xy[:, 0] < width)]
    best, score = 0.05, None
    for h in np.arange(0.05, 0.91, 0.05):
        if any(abs(h - t) < 0.07 for t in taken):
            continue
        gap = np.abs(near[:, 1] - h)
        key = (int((gap < 0.05).sum()), -float(gap.min()) if gap.size else 0.0, h)
        if score is None or key < score:
            best, score = float(h), key
    return best


def _lr_range(lr: np.ndarray, margin: float = 0.05) -> tuple[float, float]:
    """The ε axis of the trials: their range and ``margin`` of its decades on either side."""
    ok = lr[np.isfinite(lr) & (lr > 0)]
    if not ok.size:
        return (0.1, 10.0)
    lo, hi = float(ok.min()), float(ok.max())
    pad = max((hi / lo) ** margin, 1.5)
    return (lo / pad, hi * pad)


def _ceiling(points: list[LrPoints]) -> float:
    """Where diverged runs are drawn: ten times the largest loss of a run that did not diverge.

    A diverged run's last finite loss can be ~1e300, which no log axis can show usefully.
    """
    kept = [p.loss[np.isfinite(p.loss) & (p.status != "diverged")] for p in points]
    kept = np.concatenate(kept) if kept else np.array([])
    return 10.0 * float(kept.max()) if kept.size and kept.max() > 0 else 1e6


def _spread_bars(ax, s: Spread, colour: str, top: float, label: str) -> None:
    """Median (bar) and interquartile range (line) of configurations run several times.

    A quartile at +∞ (enough runs diverged) is drawn up to ``top`` with an arrow.
    """
    finite = np.isfinite(s.median)
    q75 = np.where(np.isfinite(s.q75), s.q75, top)
    ax.vlines(s.lr, np.minimum(s.q25, top), q75, color=colour, lw=1.6, zorder=4)
    ax.scatter(
        s.lr[finite],
        s.median[finite],
        marker="_",
        s=220,
        linewidths=2.2,
        color=colour,
        zorder=5,
        label=label,
    )
    up = ~np.isfinite(s.q75)
    if up.any():
        ax.scatter(s.lr[up], np.full(up.sum(), top), marker="^", s=30, color=colour, zorder=5)


def _band(ax, x: np.ndarray, c: Curve, colour: str) -> None:
    """A median curve's interquartile band, where both quartiles are finite and positive."""
    if c.band is None:
        return
    lo, hi = c.band
    ok = np.isfinite(lo) & np.isfinite(hi) & (lo > 0) & (x > 0)
    ax.fill_between(x[ok], lo[ok], hi[ok], color=colour, alpha=0.18, lw=0)


def learning_curves(curves: list[Curve], x: str = "epoch") -> Figure:
    """Training loss of a selection of trials against epochs or updates.

    Colour follows the status (as in every figure); runs of one status differ by line style.
    Both axes are logarithmic, so that an early spike and a divergence are not squeezed into a
    sliver: against updates θ⁽⁰⁾ sits at 1 and update t at t + 1; against epochs the curves
    start at epoch 1. A configuration run several times is its median curve with a shaded
    interquartile band.
    """
    fig, (ax,) = _new(8.4, 4.0)
    styles = ["-", "--", ":", "-."]
    seen: dict[str, int] = {}
    for c in curves:
        xs = c.epoch if x == "epoch" else c.updates + 1.0
        ok = np.isfinite(c.loss) & (c.loss > 0) & (xs >= 1)
        n = seen.get(c.status, 0)
        seen[c.status] = n + 1
        colour = STATUS_COLOURS.get(c.status, "#000000")
        ax.plot(
            xs[ok],
            c.loss[ok],
            color=colour,
            ls=styles[n % len(styles)],
            lw=1.3,
            label=c.label if c.runs > 1 else f"{c.label}: {c.status}",
        )
        _band(ax, xs, c, colour)
    ax.set_yscale("log")
    calm = [c.loss[np.isfinite(c.loss) & (c.loss > 0)] for c in curves if c.status != "diverged"]
    calm = np.concatenate(calm) if calm else np.array([])
    if calm.size:  # a diverging curve may climb to ~1e300: keep the others readable
        low = min(
            float(c.loss[np.isfinite(c.loss) & (c.loss > 0)].min(initial=np.inf)) for c in curves
        )
        ax.set_ylim(low / 2.0, min(ax.get_ylim()[1], 100.0 * calm.max()))
    ax.set_xscale("log")
    ax.set_xlabel(
        "epoch (log scale, from epoch 1)"
        if x == "epoch"
        else "update count t + 1 (log scale; θ⁽⁰⁾ at 1)"
    )
    ax.set_ylabel("training loss E(θ) (log scale)")
    ax.set_title(f"Learning curves against {'epochs' if x == 'epoch' else 'updates'}")
    ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def near_groups(values: list[float], close: float = 1.5) -> list[list[int]]:
    """Indices of ``values`` grouped where neighbours (sorted) lie within a factor ``close``.

    Horizontal lines this near on a log axis lie on each other: their labels are stacked and
    their dashes interleaved.
    """
    order = sorted(range(len(values)), key=lambda i: values[i])
    groups: list[list[int]] = []
    for i in order:
        if groups and values[i] <= close * values[groups[-1][-1]]:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def epochs_are_updates(curves: list[Curve]) -> bool:
    """Whether every curve takes one update per epoch (full-batch GD).

    Then the figure against epochs would repeat the one against updates.
    """
    return all(np.array_equal(c.epoch, c.updates) for c in curves)


def sharpness(runs: list[SharpnessRun]) -> Figure:
    """λ_max(θ_t) against updates, each run with its 2/ε (Cohen et al.'s figure), and E(θ_t).

    Each 2/ε line is labelled with its ε at the right edge; lines within a factor 1.5 of one
    another have their labels stacked and their dashes interleaved, so both stay visible. The
    legend (one entry per run, for both panels) sits below the panels, off the data.
    """
    fig, (ax, ax_loss) = _new(11.0, 5.2, ncols=2)
    # a stalled run's 2/ε sits decades above every measured λ_max: keep the axis on the data
    # and the limits near it, so the curves are not squeezed into a corner
    values = np.concatenate([r.sharpness[r.sharpness > 0] for r in runs] or [np.ones(1)])
    shown = [2.0 / r.lr < 100 * values.max() for r in runs]
    handles = []
    for i, r in enumerate(runs):
        colour = OKABE_ITO[i % len(OKABE_ITO)]
        label = f"trial {r.trial}, ε={r.lr:.3g} ({r.role}): {r.kind}"
        if not shown[i]:
            label += f"; 2/ε = {2.0 / r.lr:.3g}, above the axis"
        x = r.updates + 1  # θ⁽⁰⁾ (update 0) at 1 on the log axis, update t at t + 1
        (line,) = ax.plot(x, r.sharpness, color=colour, lw=1.4, marker=".", ms=4, label=label)
        handles.append(line)
        ok = np.isfinite(r.loss) & (r.loss > 0)
        ax_loss.plot(x[ok], r.loss[ok], color=colour, lw=1.4, marker=".", ms=3)
    drawn = [i for i in range(len(runs)) if shown[i]]
    limits = [2.0 / runs[i].lr for i in drawn]
    for group in near_groups(limits):
        k = len(group)
        centre = float(np.exp(np.mean(np.log([limits[g] for g in group]))))
        for j, g in enumerate(group):  # by increasing 2/ε: the first label lowest
            i = drawn[g]
            colour = OKABE_ITO[i % len(OKABE_ITO)]
            # near lines: dashes of one length, shifted so the colours alternate along them
            dashes = (0, (5, 3)) if k == 1 else (5 * j, (5, 5 * (k - 1)))
            ax.axhline(limits[g], color=colour, ls=dashes, lw=1.2)
            ax.annotate(
                f"ε={runs[i].lr:.3g}",
                xy=(1.0, centre),
                xycoords=ax.get_yaxis_transform(),
                xytext=(4, 9 * (j - (k - 1) / 2)),  # stacked about the group's middle
                textcoords="offset points",
                va="center",
                ha="left",
                fontsize=7,
                color=colour,
                annotation_clip=False,
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    top = max([values.max(), *limits])
    ax.set_ylim(values.min() / 3, top * 3)
    ax.set_xlabel("1 + update t (log scale; θ⁽⁰⁾ at 1)")
    ax.set_ylabel("sharpness λ_max(θ_t) (log scale)")
    ax.set_title("Sharpness; dashed: each run's 2/ε (its ε at the right)")
    ax_loss.set_xscale("log")
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("1 + update t (log scale; θ⁽⁰⁾ at 1)")
    ax_loss.set_ylabel("training loss E(θ_t) (log scale)")
    ax_loss.set_title("Loss of the same runs at the same updates")
    for a in (ax, ax_loss):
        a.grid(alpha=0.3, which="major")
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=2 if len(runs) > 1 else 1,
        fontsize=7,
        title="runs (colours as in both panels): trial, ε (role): what λ_max did",
        title_fontsize=7,
        frameon=False,
    )
    rows = (len(runs) + 1) // 2 if len(runs) > 1 else 1
    fig.tight_layout(rect=(0, 0.02 + 0.03 * (rows + 1), 1, 1))
    return fig


def convergence(c: ConvergenceCurves) -> Figure:
    """‖θ_t − θ*‖ and E(θ_t) − E* against updates, log–log, one line per schedule."""
    fig, (ax_d, ax_g) = _new(11.0, 4.2, ncols=2)
    for i, label in enumerate(c.labels):
        colour = OKABE_ITO[i % len(OKABE_ITO)]
        keep = c.updates[i] >= 1  # θ⁽⁰⁾ (t = 0) has no place on a log axis
        style = "-" if label.startswith("constant") else "--"
        ax_d.plot(
            c.updates[i][keep],
            c.distance[i][keep],
            style,
            color=colour,
            lw=1.3,
            label=f"{label} ({c.kinds[i]})",
        )
        ax_g.plot(
            c.updates[i][keep], np.maximum(c.gap[i][keep], 1e-300), style, color=colour, lw=1.3
        )
    for ax, name in ((ax_d, "distance ‖θ_t − θ*‖"), (ax_g, "gap E(θ_t) − E*")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("update t (log scale)")
        ax.set_ylabel(f"{name} (log scale)")
    ax_d.set_title("Distance to the least-squares θ*")
    ax_g.set_title("Loss above E*, at the end of each epoch")
    ax_d.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def range_test(lr: np.ndarray, loss: np.ndarray, smoothed: np.ndarray, marks: dict) -> Figure:
    """The LR range test: the loss against the growing ε, with the suggested points marked.

    ``marks`` maps a label (``suggested``, ``blow-up``, ``best of the search`` …) to its ε.
    The least raw loss and the least smoothed loss (whose tenth is the suggestion) are both
    marked; the y axis holds the raw loss up to the stop, its minimum included.
    """
    fig, (ax,) = _new(9.0, 4.2)
    m = range_minima(lr, loss, smoothed)
    ax.plot(lr, loss, color="#999999", lw=0.8, label="loss before each update")
    ax.plot(lr, smoothed, color="#0072B2", lw=1.6, label="smoothed (moving average; it lags)")
    ax.plot(
        [m.lr_raw],
        [m.loss_raw],
        "o",
        color="#555555",
        ms=6,
        label=f"least loss: E = {m.loss_raw:.3g} at ε = {m.lr_raw:.3g}",
    )
    ax.plot(
        [m.lr_smoothed],
        [m.loss_smoothed],
        "D",
        color="#0072B2",
        ms=6,
        label=f"least smoothed loss: E = {m.loss_smoothed:.3g} at ε = {m.lr_smoothed:.3g}",
    )
    styles = ["--", ":", "-.", (0, (5, 1))]
    for i, (label, value) in enumerate(m for m in marks.items() if m[1] is not None):
        ax.axvline(
            value,
            color=OKABE_ITO[(i + 1) % len(OKABE_ITO)],
            ls=styles[i % 4],
            lw=1.2,
            label=f"{label}: ε = {value:.3g}"
            + (" (a tenth of the least smoothed loss's ε)" if label == "suggested" else ""),
        )
    ax.set_xscale("log")
    raw = loss[np.isfinite(loss)]
    if raw.size and raw.min() > 0:
        ax.set_yscale("log")
        # the raw loss up to the stop; a blow-up far above the start leaves by the top
        top = min(raw.max(), 100.0 * max(raw[0], float(np.nanmax(smoothed))))
        ax.set_ylim(raw.min() / 2, top * 2)
    ax.set_xlabel("learning rate ε of the update (log scale)")
    ax.set_ylabel("training loss E (log scale)")
    ax.set_title("LR range test: one run, ε growing exponentially")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # off the data
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def batch_map(b: BatchMap) -> Figure:
    """ε × batch size: final loss as colour (left) and status (right)."""
    fig, (ax1, ax2) = _new(11.0, 4.2, 2)
    finite = np.isfinite(b.loss)
    sc = ax1.scatter(
        b.lr[finite], b.batch_size[finite], c=np.log10(b.loss[finite]), cmap="cividis", s=40
    )
    repeated = b.runs is not None and b.runs.max() > 1
    ax1.scatter(
        b.lr[~finite],
        b.batch_size[~finite],
        marker="x",
        c="#D55E00",
        s=30,
        label="diverged (median +∞)" if repeated else "diverged",
    )
    what = f"median of {b.runs.min()}–{b.runs.max()} runs: " if repeated else ""
    fig.colorbar(sc, ax=ax1, label=f"{what}log10 of the {b.loss_label}")
    for status in STATUS_ORDER:
        sel = b.status == status
        if sel.any():
            ax2.scatter(
                b.lr[sel],
                b.batch_size[sel],
                c=STATUS_COLOURS[status],
                marker=STATUS_MARKERS[status],
                label=f"{status} ({sel.sum()})",
                s=34,
            )
    titles = (
        ("final loss (median)", "how most runs ended")
        if repeated
        else ("final loss", "how each trial ended")
    )
    for ax, title in zip((ax1, ax2), titles, strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log", base=2)
        ax.set_xlabel("learning rate ε (log scale)")
        ax.set_ylabel(f"batch size |B| (log2; 1 = online, {b.n_train} = batch)")
        ax.set_title(title)
        ax.grid(alpha=0.3, which="both")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig


def schedules(s: ScheduleCurves) -> Figure:
    """Each schedule kind's best ε_t (left) beside the learning curve it gave (right)."""
    fig, (ax1, ax2) = _new(11.0, 4.2, 2)
    for i, kind in enumerate(s.kinds):
        colour = OKABE_ITO[i % len(OKABE_ITO)]
        ax1.plot(s.updates[i], s.lr[i], color=colour, label=kind, lw=1.4)
        c = s.curves[i]
        ok = np.isfinite(c.loss) & (c.loss > 0)
        ax2.plot(c.updates[ok], c.loss[ok], color=colour, label=c.label, lw=1.4)
        _band(ax2, c.updates, c, colour)
    ax1.set_yscale("log")
    ax1.set_xlabel("update count t")
    ax1.set_ylabel("learning rate ε_t (log scale)")
    ax1.set_title("Schedules (the best trial of each kind)")
    ax2.set_yscale("log")
    ax2.set_xlabel("update count t")
    ax2.set_ylabel("training loss E(θ) (log scale)")
    ax2.set_title("Learning curves they gave")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


POINT_STYLE = {
    "minimum": ("#0072B2", "o", "isolated minimum"),
    "family": ("#009E73", "s", "family of minima"),
    "at_infinity": ("#D55E00", "^", "slope to infinity"),
    "saddle": ("#CC79A7", "v", "saddle"),
}
"""One colour, marker and name per kind of end point, in every minima figure."""


def _by_kind(ax, x: np.ndarray, y: np.ndarray, kinds: list[str], bar: bool) -> None:
    for kind, (color, marker, label) in POINT_STYLE.items():
        sel = np.array([k == kind for k in kinds], dtype=bool)
        if not sel.any():
            continue
        if bar:
            ax.bar(x[sel], y[sel], color=color, label=label)
        else:
            ax.plot(x[sel], y[sel], marker, color=color, label=label, ls="none")


def minima_overview(m: MinimaData, top: int = 40) -> Figure:
    """Basin share and loss per class, coloured by kind; the starts per kind; the classes.

    Starts and classes are counts of different things, so each has its own panel: (c) where
    the starts ended, by kind of end point; (d) the classes modulo symmetry found, with
    Chao1's estimate of all isolated minima as a line over the isolated minima's bar.
    """
    fig, (ax1, ax2, ax3, ax4) = _new(17.0, 4.4, 4)
    k = min(top, len(m.loss))
    idx = np.arange(k)
    kinds = m.kinds[:k]
    _by_kind(ax1, idx, m.share[:k] * 100, kinds, bar=True)
    ax1.set_xlabel(f"class: minima, families, slopes to infinity, saddles (first {k})")
    ax1.set_ylabel("basin share (% of starts)")
    ax1.set_title("(a) Where the starts ended, by class")
    ax1.legend(fontsize=7)
    _by_kind(ax2, idx, np.maximum(m.loss[:k], 1e-300), kinds, bar=False)
    ax2.set_yscale("log")
    ax2.set_xlabel("class (as left)")
    ax2.set_ylabel("training loss E (log scale)")
    ax2.set_title("(b) Loss of each class")
    names = [*POINT_STYLE, "unresolved"]
    starts = [m.kind_counts.get(n, 0) for n in names]
    bars = ax3.bar(
        range(len(names)),
        starts,
        color=[POINT_STYLE[n][0] if n in POINT_STYLE else "#999999" for n in names],
    )
    ax3.bar_label(bars, fontsize=7)  # a zero has no bar: its count says so
    ax3.set_xticks(
        range(len(names)),
        [POINT_STYLE[n][2] if n in POINT_STYLE else n for n in names],
        rotation=25,
        ha="right",
        fontsize=7,
    )
    ax3.set_ylabel(f"starts (of {m.n_starts})")
    ax3.set_ylim(0, max(max(starts), 1) * 1.12)
    ax3.set_title(f"(c) End points of the {m.n_starts} starts, by kind")
    bars = ax4.bar(
        [0, 1],
        [m.distinct_minima, m.families],
        color=[POINT_STYLE["minimum"][0], POINT_STYLE["family"][0]],
    )
    ax4.bar_label(bars, fontsize=7)
    ax4.hlines(
        m.chao1, -0.4, 0.4, color="#000000", ls="--", lw=1.4, label="Chao1 estimate (isolated)"
    )
    ax4.annotate(
        f"Chao1: {m.chao1:.3g}",
        xy=(0.4, m.chao1),
        xytext=(4, 0),
        textcoords="offset points",
        va="center",
        fontsize=7,
    )
    ax4.set_xticks([0, 1], ["isolated minima", "families of minima"], fontsize=7)
    ax4.set_xlim(-0.6, 1.6)
    ax4.set_ylim(0, max(m.distinct_minima, m.families, m.chao1, 1) * 1.2)
    ax4.set_ylabel("classes modulo symmetry")
    ax4.set_title("(d) Classes found; dashed: Chao1's estimate")
    for ax in (ax1, ax2, ax3, ax4):
        ax.grid(alpha=0.3, axis="y")
    for ax in (ax3, ax4):
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (ax1, ax2):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


def census(rep: CensusReport) -> Figure:
    """The census of minima against width, in four panels.

    (a) distinct isolated minima modulo symmetry against the starts, one curve per width, with
    Chao1's estimate and 95% interval at the end; (b) each minimum's loss against width, its
    area its basin share; (c) where the starts ended, by kind, per width; (d) copies of each
    minimum: the seed's ∏ C(d,2), the true group ∏ d!·2^d and the most copies met.
    """
    fig, axes = plt.subplots(2, 2, figsize=(12.0, 8.4), dpi=DPI)
    (ax1, ax2), (ax3, ax4) = axes
    widths = [w.width for w in rep.widths]
    for i, w in enumerate(rep.widths):
        colour = OKABE_ITO[i % len(OKABE_ITO)]
        acc = w.accumulation
        if not acc.starts:
            continue
        ax1.step(acc.starts, acc.distinct, where="post", color=colour, label=f"d = {w.width}")
        n = acc.starts[-1] * (1.08 + 0.04 * i)
        est, lo, hi = w.chao1.estimate, w.chao1_low, w.chao1_high
        ax1.errorbar(
            [n], [est], yerr=[[est - lo], [hi - est]], fmt="D", color=colour, ms=4, capsize=3
        )
    ax1.set_xscale("log")
    ax1.set_xlabel("starts")
    ax1.set_ylabel("distinct isolated minima modulo symmetry")
    ax1.set_title("(a) Accumulation; ◆ Chao1 with 95% interval")
    ax1.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax1.legend(fontsize=7, ncol=2)
    # A zero-loss minimum sits at E ~ 1e-32 (rounding): drawn at the floor so the axis keeps
    # the spurious minima's decades readable.
    floor = 1e-12
    for w in rep.widths:
        if w.losses:
            share = np.asarray(w.shares)
            ax2.scatter(
                np.full(len(share), w.width),
                np.maximum(np.asarray(w.losses), floor),
                s=8 + 400 * share,
                color=POINT_STYLE["minimum"][0],
                alpha=0.6,
                edgecolors="none",
            )
        if np.isfinite(w.best_loss):
            ax2.plot([w.width - 0.3, w.width + 0.3], [max(w.best_loss, floor)] * 2, "k-", lw=1)
    ax2.set_yscale("log")
    ax2.axhline(floor, color="#999999", lw=0.8, ls=":")
    ax2.text(
        0.01,
        floor,
        f" E ≤ {floor:g} (zero to rounding) drawn here",
        transform=ax2.get_yaxis_transform(),
        fontsize=7,
        color="#555555",
        va="bottom",
    )
    ax2.set_xticks(widths)
    ax2.set_xlabel("hidden width d")
    ax2.set_ylabel("training loss E of each minimum (log)")
    ax2.set_title("(b) Losses; area ∝ basin share, bar: lowest minimum or family")
    bottom = np.zeros(len(widths))
    kinds = [*POINT_STYLE, "unresolved"]
    for kind in kinds:
        colour, _, label = POINT_STYLE.get(kind, ("#999999", "", "unresolved"))
        share = np.array([w.kind_counts.get(kind, 0) / max(w.n_starts, 1) for w in rep.widths])
        if share.any():
            ax3.bar(widths, 100 * share, bottom=100 * bottom, color=colour, label=label)
            bottom += share
    ax3.set_xticks(widths)
    ax3.set_xlabel("hidden width d")
    ax3.set_ylabel("% of starts")
    ax3.set_title("(c) Where the starts ended")
    ax3.legend(fontsize=7)
    x = np.arange(len(widths))
    met = [max(w.copies_met) if w.copies_met else 0 for w in rep.widths]
    for off, values, colour, label in (
        (
            -0.27,
            [w.transpositions for w in rep.widths],
            OKABE_ITO[1],
            "∏ C(d,2) (the seed's swaps)",
        ),
        (0.0, [w.group_size for w in rep.widths], OKABE_ITO[0], r"∏ d!·$2^d$ (the group)"),
        (0.27, met, OKABE_ITO[2], "most copies met"),
    ):
        values = np.asarray(values, dtype=float)
        # a zero (one unit has no pair to swap; no minimum met) has no bar on a log axis
        ax4.bar(
            x + off, np.where(values > 0, values, np.nan), width=0.26, color=colour, label=label
        )
        for xi in np.flatnonzero(values == 0):
            ax4.text(x[xi] + off, 1.0, "0", ha="center", va="bottom", fontsize=7, color=colour)
    ax4.set_yscale("log")
    ax4.set_xticks(x, [str(w) for w in widths])
    ax4.set_xlabel("hidden width d")
    ax4.set_ylabel("copies of each minimum (log)")
    ax4.set_title("(d) Symmetric copies")
    ax4.legend(fontsize=7)
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def hessian_spectra(m: MinimaData, top: int = 40) -> Figure:
    """Hessian eigenvalues of each class's representative (symlog scale), coloured by kind."""
    fig, (ax,) = _new(8.0, 4.0)
    for i, lam in enumerate(m.spectra[:top]):
        if lam.size:
            color = POINT_STYLE.get(m.kinds[i], ("#999999",))[0]
            ax.plot(np.full(lam.size, i), lam, "_", color=color, ms=10, mew=1.5)
    ax.set_yscale("symlog", linthresh=1e-8)
    ax.axhline(0.0, color="#000000", lw=0.8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("class (minima, families, slopes to infinity, saddles; by loss)")
    ax.set_ylabel("Hessian eigenvalue λ (symlog, linear below 1e-8)")
    ax.set_title("Hessian spectra: flat directions sit at 0")
    handles = [
        Line2D([], [], color=c, marker="_", ls="none", ms=10, mew=1.5, label=lab)
        for kind, (c, _, lab) in POINT_STYLE.items()
        if kind in m.kinds[:top]
    ]
    if handles:
        ax.legend(handles=handles, fontsize=7)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def paths(arrays: dict[str, np.ndarray], setup: Setup | None = None) -> Figure:
    """The loss along the straight path between two minima, before and after alignment.

    ``setup`` (the study's) names the loss on the y axis and the study in the title.
    """
    fig, (ax,) = _new(7.2, 4.2)
    a = arrays["alpha"]
    ax.plot(a, arrays["path_raw"], color="#D55E00", label="train, as they are")
    ax.plot(a, arrays["path_aligned"], color="#0072B2", label="train, units aligned")
    if "path_raw_val" in arrays:
        ax.plot(a, arrays["path_raw_val"], color="#D55E00", ls="--", label="validation, raw")
        ax.plot(
            a, arrays["path_aligned_val"], color="#0072B2", ls="--", label="validation, aligned"
        )
    ax.set_xlabel("position on the path α (θ = (1 − α)·θ_a + α·θ_b)")
    ax.set_ylabel(loss_name(setup.loss) if setup is not None else "loss E")
    ax.set_title(
        "How much of the barrier is only the unit-swap symmetry"
        + (f"\n{setup.study}: {_setup_words(setup)}" if setup is not None else ""),
        fontsize=10,
    )
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _setup_words(s: Setup) -> str:
    """A study's training in a few words: ``full-batch GD, ε = 0.3, 3000 epochs``."""
    keys = ("method", "lr", "epochs") + (("batch_size",) if s.method == "minibatch" else ())
    return ", ".join(SETUP_WORDS[k](getattr(s, k)) for k in keys if getattr(s, k) is not None)


def slices(arrays: dict[str, np.ndarray], setup: Setup | None = None) -> Figure:
    """1-D slices (left) and 2-D contours along random and Hessian directions.

    Every axis is the distance from the minimum, s·‖d‖: the filter-normalised random direction
    is about ‖θ‖ long and the eigenvector has unit norm, so along a step axis their curves
    would compare different lengths. ``setup`` (the study's) puts the study and ε in the title.
    """
    fig, (ax1, ax2, ax3) = _new(14.0, 4.4, 3)
    s = arrays["slice_s"]
    centre = len(s) // 2
    d_rand, d_hess = _direction_norms(arrays)
    for key, colour, label, norm in (
        ("slice_random", "#0072B2", "filter-normalised random direction", d_rand[0]),
        ("slice_hessian", "#D55E00", "top Hessian eigenvector", d_hess[0]),
    ):
        # E − E*: a log axis of E would show a spike to the minimum's 1e-16 at s = 0 and hide
        # the curvature; a linear axis of the rise above E* shows the parabola
        ax1.plot(
            s * norm,
            arrays[key] - arrays[key][centre],
            color=colour,
            label=f"{label} (‖d‖ = {norm:.3g})",
        )
    ax1.set_xlabel("distance from the minimum along d, s·‖d‖ (same length for both)")
    ax1.set_ylabel("loss above the minimum, E(θ* + s·d) − E(θ*)")
    ax1.set_title("1-D slices through the minimum")
    ax1.legend(fontsize=7)
    ax1.grid(alpha=0.3)
    p = arrays["plane_s"]
    for ax, key, title, (n1, n2) in (
        (ax2, "plane_random", "random directions", d_rand),
        (ax3, "plane_hessian", "top two Hessian eigenvectors", d_hess),
    ):
        z = np.log10(np.maximum(arrays[key], 1e-300))
        # The centre of a zero-loss minimum (1e-16) would swamp the colour scale: take the
        # levels from the rest of the grid and let the centre fall below them.
        c = len(p) // 2
        rest = np.delete(z.ravel(), c * len(p) + c)
        low, high = np.floor(rest.min() * 2) / 2, np.ceil(rest.max() * 2) / 2  # round to ½
        levels = np.linspace(low, high, int(round((high - low) / 0.25)) + 1)
        cs = ax.contourf(p * n1, p * n2, z.T, levels=levels, cmap="cividis", extend="min")
        fig.colorbar(cs, ax=ax, label="log10 loss", format="%.1f", ticks=levels[::2])
        ax.plot(0, 0, "+", color="#ffffff", ms=10)
        ax.set_xlabel(f"distance along d1, s·‖d1‖ (‖d1‖ = {n1:.3g})")
        ax.set_ylabel(f"distance along d2, t·‖d2‖ (‖d2‖ = {n2:.3g})")
        ax.set_title(f"2-D slice: {title}")
    if setup is not None:
        fig.suptitle(f"{setup.study}: slices around minimum a ({_setup_words(setup)})")
    fig.tight_layout()
    return fig


def _direction_norms(arrays: dict[str, np.ndarray]) -> tuple[tuple, tuple]:
    """‖d1‖, ‖d2‖ of the random and of the Hessian directions (1 when they are not stored)."""

    def norms(key: str) -> tuple[float, float]:
        if key not in arrays:
            return (1.0, 1.0)
        n = np.linalg.norm(np.atleast_2d(arrays[key]), axis=1)
        return (float(n[0]), float(n[1] if n.size > 1 else n[0]))

    return norms("direction_random"), norms("direction_hessian")


def compare(names: list[str], points: list[LrPoints], best: list[Curve | None]) -> Figure:
    """Two or more searches side by side: final loss against ε, and each best learning curve.

    Each study has one colour; the marker says how a trial ended (as in every figure). The
    title and the curves' legend give each study's budget and method and every other setting
    in which the studies differ (from their specs, :attr:`LrPoints.setup`).
    """
    fig, (ax1, ax2) = _new(12.0, 4.6, 2)
    ceiling = _ceiling(points)
    setups = [p.setup for p in points]
    what = setup_differences(setups) if all(x is not None for x in setups) else []
    for i, (name, p) in enumerate(zip(names, points, strict=True)):
        colour = OKABE_ITO[i % len(OKABE_ITO)]
        finite = np.isfinite(p.loss)
        shown = np.minimum(np.where(p.status == "diverged", np.inf, p.loss), ceiling)
        for status in STATUS_ORDER:
            sel = (finite | (p.status == "diverged")) & np.isfinite(shown) & (p.status == status)
            if sel.any():
                ax1.scatter(
                    p.lr[sel],
                    shown[sel],
                    color=colour,
                    marker=STATUS_MARKERS[status],
                    s=26,
                    label=f"{name}: {status} ({sel.sum()})",
                )
        if p.smallest_diverged is not None:
            ax1.axvline(p.smallest_diverged, color=colour, ls="--", lw=1)
        c = best[i]
        if c is not None:
            ok = np.isfinite(c.loss) & (c.loss > 0)
            label = c.label.replace(f"{name}:", f"{name} ({what[i]}):", 1) if what else c.label
            ax2.plot(c.updates[ok] + 1.0, c.loss[ok], color=colour, lw=1.4, label=label)
            _band(ax2, c.updates + 1.0, c, colour)
    for i, p in enumerate(points):
        if p.spread is not None:
            top = ax1.get_ylim()[1]
            _spread_bars(
                ax1, p.spread, OKABE_ITO[i % len(OKABE_ITO)], top, f"{names[i]}: median, IQR"
            )
    ax1.set_xscale("log")
    if all((p.loss[np.isfinite(p.loss)] > 0).all() for p in points):
        ax1.set_yscale("log")
    ax1.set_xlabel(
        "learning rate ε (log scale; dashed: smallest diverged ε"
        + ("; diverged runs at the top)" if np.isfinite(ceiling) else ")")
    )
    ax1.set_ylabel(points[0].loss_label if points else "final loss")
    ax1.set_title("Final loss against ε")
    ax1.legend(fontsize=6.5)
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("update count t + 1 (log scale; θ⁽⁰⁾ at 1)")
    ax2.set_ylabel("training loss E(θ) (log scale)")
    ax2.set_title("The best trial of each study")
    if ax2.get_lines():
        ax2.legend(fontsize=7)
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3, which="both")
    if what:
        fig.suptitle(
            "\n".join(f"{name}: {w}" for name, w in zip(names, what, strict=True)), fontsize=9
        )
    fig.tight_layout()
    return fig


def slices_1d(s: np.ndarray, curves: dict[str, np.ndarray], title: str) -> Figure:
    """Loss above the centre, E(θ + s·d) − E(θ), along each direction, on a linear axis."""
    fig, (ax,) = _new(6.4, 4.0)
    centre = len(s) // 2
    for i, (label, loss) in enumerate(curves.items()):
        ax.plot(s, loss - loss[centre], color=OKABE_ITO[i % len(OKABE_ITO)], label=label)
    ax.set_xlabel("step s along the direction")
    ax.set_ylabel("loss above the centre, E(θ + s·d) − E(θ)")
    ax.set_title(title)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


VERDICT_STYLE = {
    "holds": ("o", "#009E73"),
    "does not hold": ("X", "#D55E00"),
    "undecided": ("o", "#999999"),
    "diverges": ("^", "#000000"),
    "nothing to escape": ("s", "#56B4E9"),
}
"""Marker and colour of each cell verdict (:data:`landscape.analysis.noise.VERDICTS`)."""


def noise_axis(d: AxisData) -> Figure:
    """Seed 1.3 over its noise axis: one row per size, three panels.

    Left: the share of chains started at bad minima that reached the global basin, against
    ε/ε_div(B), one colour per B (95% Wilson); middle: GD's bad share minus SGD's from the same
    random starts (Newcombe's 95% paired interval), markers by the cell's verdict; both with
    SGD's divergence step (ε/ε_div = 1) drawn, solid lines for the longest horizon and dashed
    for shorter ones. Right: the verdict of every cell of the longest horizon over (ε/B, B).
    """
    n = max(1, len(d.sizes))
    fig, axes = plt.subplots(n, 3, figsize=(14.0, 3.6 * n), dpi=DPI, squeeze=False)
    batches = sorted({line.batch for line in d.lines})
    colour = {b: OKABE_ITO[i % len(OKABE_ITO)] for i, b in enumerate(batches)}
    for row, size in enumerate(d.sizes):
        ax1, ax2, ax3 = axes[row]
        for line in (x for x in d.lines if x.size == size):
            style = "-" if line.horizon == d.horizon else "--"
            c = colour[line.batch]
            label = f"B={line.batch}, U={line.horizon}"
            ok = np.isfinite(line.escaped)
            if ok.any():
                ax1.errorbar(
                    line.x[ok],
                    100 * line.escaped[ok],
                    yerr=100
                    * np.array(
                        [
                            line.escaped[ok] - line.escaped_low[ok],
                            line.escaped_high[ok] - line.escaped[ok],
                        ]
                    ),
                    color=c,
                    ls=style,
                    marker="o",
                    ms=3,
                    capsize=2,
                    lw=1.2,
                    label=label,
                )
            ax2.errorbar(
                line.x,
                100 * line.reduction,
                yerr=100 * np.array([line.reduction - line.low, line.high - line.reduction]),
                color=c,
                ls=style,
                lw=1.0,
                capsize=2,
                label=label,
            )
            for verdict, (marker, vc) in VERDICT_STYLE.items():
                sel = line.verdict == verdict
                if sel.any():
                    ax2.scatter(
                        line.x[sel],
                        100 * line.reduction[sel],
                        marker=marker,
                        s=30,
                        color=vc,
                        zorder=3,
                    )
        for ax in (ax1, ax2):
            ax.set_xscale("log")
            ax.axvline(1.0, color="#D55E00", lw=1.0, ls=":")
            ax.text(
                1.0,
                1.0,
                " ε_div(B)",
                transform=ax.get_xaxis_transform(),
                fontsize=7,
                color="#D55E00",
                va="top",
            )
            ax.set_xlabel("ε / ε_div(B)  (SGD's own divergence step)")
            ax.grid(alpha=0.3)
        ax1.set_ylim(-3, 103)
        ax1.set_ylabel("started at a bad minimum:\nreached the global basin (%)")
        ax1.set_title(f"{size}: escapes (95% Wilson)", fontsize=10)
        ax2.axhline(0.0, color="#000000", lw=0.8)
        ax2.set_ylabel("GD bad − SGD bad, paired (% of starts)")
        ax2.set_title(f"{size}: the claim from random starts (95% Newcombe)", fontsize=10)
        if ax1.get_legend_handles_labels()[0]:
            ax1.legend(fontsize=6, loc="upper left")
        sel = d.map_size == size
        for verdict, (marker, vc) in VERDICT_STYLE.items():
            pick = sel & (d.map_verdict == verdict)
            if pick.any():
                ax3.scatter(
                    d.map_eps_over_b[pick],
                    d.map_batch[pick],
                    marker=marker,
                    color=vc,
                    s=40,
                    label=verdict,
                )
        ax3.set_xscale("log")
        ax3.set_yscale("log", base=2)
        ax3.set_yticks(batches, [str(b) for b in batches])
        ax3.set_xlabel("noise scale ε/B")
        ax3.set_ylabel("batch size B")
        ax3.set_title(f"{size}: verdict per cell (U = {d.horizon})", fontsize=10)
        ax3.grid(alpha=0.3)
        if ax3.get_legend_handles_labels()[0]:
            ax3.legend(fontsize=6, loc="best")
    fig.tight_layout()
    return fig


def history(h: History, label: str) -> Figure:
    """The optimisation history: each trial's value by status, and the best so far.

    Log y when the value is a positive loss: one outlier (a run at E = 2.5) would flatten the
    best-so-far line on a linear axis. Diverged trials have no value: they are marked along
    the top edge.
    """
    fig, (ax,) = _new(8.4, 4.0)
    finite = np.isfinite(h.value)
    for status in STATUS_ORDER:
        sel = (h.status == status) & finite
        if sel.any():
            ax.scatter(
                h.number[sel],
                h.value[sel],
                s=22,
                c=STATUS_COLOURS[status],
                marker=STATUS_MARKERS[status],
                label=f"{status} ({sel.sum()}"
                + (", value at pruning)" if status == "pruned" else ")"),
                zorder=3,
            )
    ok = np.isfinite(h.best)
    if ok.any():
        ax.step(
            h.number[ok],
            h.best[ok],
            where="post",
            color="#000000",
            lw=1.4,
            label="best so far (complete trials)",
            zorder=2,
        )
    if label.startswith("final") and finite.any() and (h.value[finite] > 0).all():
        ax.set_yscale("log")
    lost = ~finite & (h.status == "diverged")
    if lost.any():
        lo, hi = ax.get_ylim()  # room at the top for the diverged marks
        ax.set_ylim(lo, hi * 2.0 if ax.get_yscale() == "log" else hi + 0.1 * (hi - lo))
        ax.scatter(
            h.number[lost],
            np.full(lost.sum(), 1.0),
            transform=ax.get_xaxis_transform(),
            s=26,
            c=STATUS_COLOURS["diverged"],
            marker=STATUS_MARKERS["diverged"],
            clip_on=False,
            label=f"diverged ({lost.sum()}, no value: at the top edge)",
            zorder=3,
        )
    ax.set_xlabel("trial number")
    ax.set_ylabel(label + (" (log scale)" if ax.get_yscale() == "log" else ""))
    ax.set_title("Optimisation history: each trial and the best so far")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # off the data
    fig.tight_layout()
    return fig


def optuna_history(study, label: str) -> Figure:
    """:func:`history` of a stored study (:func:`landscape.report.data.history`)."""
    return history(history_data(study), label)


def own_style():
    """A context that restores matplotlib's settings on exit (Optuna's plots change them)."""
    return matplotlib.rc_context()


def restyle(ax) -> None:
    """Give one of Optuna's matplotlib plots (drawn in ggplot style) the look of ours."""
    ax.set_facecolor("white")
    ax.figure.set_facecolor("white")
    ax.grid(True, color="#dddddd", alpha=0.8)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(True)
        ax.spines[side].set_color("#333333")
    ax.tick_params(colors="#333333")


def write_png(fig: Figure, path) -> None:
    """Write ``fig`` as PNG at the report's resolution into ``path`` as it stands, and free it."""
    try:
        fig.savefig(path, format="png", dpi=DPI, bbox_inches="tight")  # no clipped labels
    finally:
        plt.close(fig)


def save(fig: Figure, path) -> None:
    """Write ``fig`` as the PNG file ``path``, whole or not at all, and free it."""
    with files.staged(path) as tmp:
        write_png(fig, tmp)
