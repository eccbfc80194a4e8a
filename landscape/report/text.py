"""Every terminal summary: the text ``python -m landscape.study`` prints after a run.

Plain strings from the typed results of :mod:`landscape.summary` and :mod:`landscape.analysis`
(:func:`describe` dispatches on the result's type); no matplotlib, so the command line imports
this at start.
"""

from __future__ import annotations

import dataclasses
import functools
import math

from landscape.analysis.census import CensusReport
from landscape.analysis.convergence import ConvergenceReport
from landscape.analysis.geometry import GeometryReport
from landscape.analysis.minima import MinimaReport
from landscape.analysis.noise import AxisReport
from landscape.analysis.sharpness import BAND
from landscape.analysis.symmetry import GroupCounts, SymmetryCheck
from landscape.summary import Summary


def format_summary(summary: Summary, metric: str, header: str = "") -> str:
    """Format the summary as text for the terminal."""
    lines = [header] if header else []
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.status_counts.items()))
    lines.append(f"{summary.n_trials} finished trials: {counts or 'none'}")
    if summary.regimes and not summary.groups:
        lines.append("ε regimes of the completed trials, by increasing ε:")
        lines += _regime_rows(summary.regimes)
    if summary.pruned and not summary.groups:
        lines.append("pruned trials, by the regime their curve was in when pruned:")
        lines += _regime_rows(summary.pruned)
    # the one regime whose name needs words, said once below both tables
    unstable = [r for r in (*summary.regimes, *summary.pruned) if r.name == "unstable at θ⁽⁰⁾"]
    if unstable and not summary.groups:
        lines.append(f"  ({unstable[0].name}: {unstable[0].meaning})")
    params = list(dict.fromkeys(g.param for g in summary.groups))
    for param in params:
        rows = [g for g in summary.groups if g.param == param]
        lines.append(f"by {param}:")
        width = max(len(str(g.value)) for g in rows)
        for g in rows:
            counts = ", ".join(f"{k} {v}" for k, v in sorted(g.status_counts.items()))
            best = f"best {metric}={g.best.value:.5g} at ε={g.best.lr:.3g}" if g.best else "no best"
            boundary = (
                f"; diverged from ε={g.smallest_diverged_lr:.3g}"
                if g.smallest_diverged_lr is not None
                else ""
            )
            lines.append(
                f"  {str(g.value):>{width}s}: {g.count:2d} trials ({counts}); {best}{boundary}"
            )
    if summary.best is not None:
        b = summary.best
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in b.params.items())
        lines.append(f"best: trial {b.number}, {metric}={b.value:.6g} at ε={b.lr:.4g} ({params})")
    if summary.repeated is not None:
        rep = summary.repeated
        lo, hi = rep.runs
        runs = f"{lo}" if lo == hi else f"{lo}–{hi}"
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in rep.params.items())
        lines.append(
            f"repeats: {rep.configurations} configurations ran {runs} times each, each run from "
            f"its own θ⁽⁰⁾ and shuffles; best by median: {params}, median {metric} "
            f"{rep.median:.6g} (interquartile range {rep.q25:.4g} – {rep.q75:.4g}; trials "
            f"{', '.join(map(str, rep.numbers))})"
        )
    if summary.smallest_diverged_lr is not None and not summary.groups:
        lo, hi = summary.largest_stable_lr, summary.smallest_diverged_lr
        ratio = f"; ratio {hi / lo:.6g}" if lo is not None and lo < hi else ""
        bisected = (
            f", {summary.bisection_trials} of them bisecting it" if summary.bisection_trials else ""
        )
        lines.append(
            f"observed divergence boundary (completed trials only{bisected}): largest stable ε "
            f"{_fmt(lo)}, smallest diverged ε {hi:.6g}{ratio}"
        )
    if summary.stability_limit is not None:
        b = summary.best_converged
        lines.append(
            f"stability limit of full-batch GD at the best converged solution (trial "
            f"{b.number if b else '?'}): 2/λ_max = {summary.stability_limit:.6g} "
            f"(λ_max = {summary.lambda_max:.6g})"
        )
    elif summary.stability_limit_init is not None and summary.best_converged is None:
        lines.append(
            "no trial converged, so no stability limit at a solution is given (at a point "
            "where a budget stopped a moving run, λ_max still changes)"
        )
    if summary.stability_limit_init is not None:
        lines.append(
            f"stability limit at the common start θ⁽⁰⁾: 2/λ_max = "
            f"{summary.stability_limit_init:.6g} (λ_max = {summary.lambda_max_init:.6g})"
        )
        reading = _limit_reading(summary)
        if reading:
            lines.append(reading)
    if summary.range_test is not None:
        best = summary.best.lr if summary.best is not None else None
        lines.append(format_range_test(summary.range_test, best))
    if summary.sharpness:
        every = summary.sharpness[0]["every"]
        lines.append(
            f"sharpness along representative runs (retrained; λ_max at θ⁽⁰⁾, after updates 1, 2, "
            f"4, … then every {every}; r = λ_max·ε/2, the limit is r = 1):"
        )
        for run in summary.sharpness:
            lines.append(
                f"  trial {run['trial']} ({run['role']}, ε={run['lr']:.4g}, {run['regime']}, "
                f"{run['status']}): {run['kind']}; r {run['ratio_start']:.3g} at the start, "
                f"max {run['ratio_max']:.3g}, {run['ratio_end']:.3g} at the end" + _spike_text(run)
            )
    return "\n".join(lines)


def _spike_text(run: dict) -> str:
    """How far the loss rose before λ_max came down to 2/ε (readings stored before it: none)."""
    spike = run.get("loss_spike")
    if spike is None or run["ratio_start"] <= BAND[1] or run["kind"] == "diverged":
        return ""
    if spike <= 1.0:
        return "; the loss never rose before λ_max came down"
    return f"; the loss rose to {spike:.3g}× its lowest so far before λ_max came down"


def format_range_test(rt: dict, best_lr: float | None = None) -> str:
    """The LR range test in words (``rt``: :func:`landscape.runs.problem.range_test_record`)."""

    def g(key: str) -> str:
        return "—" if rt.get(key) is None else f"{rt[key]:.3g}"

    lines = [
        f"LR range test: {rt['updates']} updates from θ⁽⁰⁾ with ε growing from "
        f"{rt['lr_first']:.3g} to {rt['lr_last']:.3g}; the loss fell 10% by ε ≈ "
        f"{g('lr_start')}, fastest at ε ≈ {g('lr_steepest')}, its moving average least at "
        f"ε ≈ {g('lr_min_loss')}, "
        + (
            f"blew up at ε ≈ {g('lr_blowup')}"
            if rt.get("lr_blowup") is not None
            else "and never blew up (raise lr_max to see divergence)"
        ),
        f"  suggested ε = {g('lr_suggested')} (a tenth of where the moving average was least); "
        "a search range "
        f"holding both failure modes: {g('search_low')} … {g('search_high')}",
    ]
    if best_lr is not None:
        lines.append(
            f"  the search's best ε = {best_lr:.4g}, {best_lr / rt['lr_suggested']:.3g} × the "
            "suggestion"
        )
    return "\n".join(lines)


def _limit_reading(summary: Summary) -> str:
    """Where the observed boundary lies against 2/λ_max(θ⁽⁰⁾), in words."""
    lo, hi = summary.largest_stable_lr, summary.smallest_diverged_lr
    limit = summary.stability_limit_init
    if lo is None or hi is None or lo >= hi:
        return ""
    if lo <= limit < hi:
        return (
            "2/λ_max(θ⁽⁰⁾) lies inside the observed boundary's bracket: divergence starts "
            "where the curvature at θ⁽⁰⁾ says, as on a quadratic"
        )
    if limit < lo:
        return (
            f"gradient descent stayed stable up to {lo / limit:.3g}× 2/λ_max(θ⁽⁰⁾): the runs "
            "left the sharp start behind for flatter regions instead of diverging (the "
            "sharpness tracking tells a catapult, with a loss spike, from a quiet flattening)"
        )
    return (
        f"divergence started at {hi / limit:.3g}× 2/λ_max(θ⁽⁰⁾), below it: the curvature grew "
        "along the runs (progressive sharpening)"
    )


def _regime_rows(regimes: list) -> list[str]:
    rows = []
    for reg in regimes:
        span = (
            f"{reg.lr_low:9.3g}" + " " * 12
            if reg.lr_low == reg.lr_high
            else f"{reg.lr_low:9.3g} … {reg.lr_high:<8.3g}"
        )
        counts = ", ".join(f"{k} {v}" for k, v in sorted(reg.status_counts.items()))
        mixed = "; interleaved with another regime" if reg.interleaved else ""
        rows.append(f"  {reg.name:17s} ε {span} {reg.count:3d} ({counts}){mixed}")
    return rows


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "none" if v is None else str(v)


def format_minima(report: MinimaReport, counts: GroupCounts | None = None, top: int = 10) -> str:
    """Format a :class:`MinimaReport` as text for the terminal."""
    lines = [
        report.headline(),
        f"{report.n_starts} starts; training ended: "
        + ", ".join(f"{k} {v}" for k, v in sorted(report.status_counts.items())),
        "end points (after continued descent and probes of flat directions): "
        + ", ".join(f"{k} {v}" for k, v in report.kind_counts.items()),
        f"isolated minima: {report.distinct_points} as points, {report.distinct_minima} modulo "
        f"the symmetry group; {report.loss_levels} loss levels among minima and families",
    ]
    ch = report.chao1
    lines.append(
        f"estimated isolated minima in all (Chao1): {ch.estimate:.1f} "
        f"({ch.singletons} met once, {ch.doubletons} twice"
        + (
            "; none found)"
            if not ch.observed
            else "; every minimum was met at least twice)"
            if ch.complete
            else "; more starts may find more)"
        )
    )
    if math.isfinite(report.moved):
        lines.append(
            f"polishing moved training's end points by a median {report.moved:.2%} of ‖θ‖ "
            "(minima and families)"
        )
    if counts is not None:
        lines.append(
            f"symmetric copies of each minimum: {counts.transpositions} pair swaps "
            f"(the seed's ∏ C(d_l, 2)); unit-permutation group ∏ d_l! = {counts.permutations}"
            + (f"; with unit flips {counts.with_signs}" if counts.with_signs else "")
            + (
                f"; continuous, dimension {counts.continuous}: {counts.continuous_kinds}"
                if counts.continuous
                else ""
            )
        )
    if report.classes:
        lines.append("classes by kind and loss (share of starts; copies met; Hessian λ range):")
        for c in report.classes[:top]:
            what = {
                "minimum": "minimum    ",
                "family": f"family d={c.dimension:<2d}",
                "at_infinity": "at infinity",
                "saddle": f"saddle i={c.n_negative:<2d}" if c.n_negative else "saddle, flat",
            }[c.kind]
            tail = (
                f"E → {c.asymptote:.6g}"
                if c.kind == "at_infinity" and math.isfinite(c.asymptote)
                else f"λ {c.lambda_min:.3g} … {c.lambda_max:.3g}, {c.n_flat} flat"
            )
            lines.append(
                f"  {what} E={c.loss:.6g}  {c.basin_share:6.1%} ({c.starts}); "
                f"{c.copies_met} copies; {tail}"
            )
        if len(report.classes) > top:
            lines.append(f"  … and {len(report.classes) - top} more")
    return "\n".join(lines)


def format_symmetry(check: SymmetryCheck) -> str:
    """Format a :class:`SymmetryCheck` as text for the terminal."""
    c = check.counts
    swaps = f"{check.transpositions_tested} of {check.transpositions_total} pair swaps " + (
        "(a random sample)" if check.sampled else "(all of them)"
    )
    lines = [
        f"swapping units leaves the network unchanged: {swaps}; largest output change "
        f"{check.output_deviation:.3g}, loss change {check.loss_deviation:.3g}",
    ]
    if check.sign_output_deviation is not None:
        lines.append(
            f"flipping a unit's sign (odd activation): {check.sign_flips_tested} units; "
            f"largest output change {check.sign_output_deviation:.3g}"
        )
    lines += [
        f"the gradient is equivariant, ∇E(πθ) = π∇E(θ): largest deviation "
        f"{check.gradient_deviation:.3g}",
        f"gradient descent is equivariant, GD(πθ⁽⁰⁾) = π GD(θ⁽⁰⁾) after {check.gd_steps} steps: "
        f"largest deviation {check.gd_deviation:.3g}",
        f"copies of every minimum: the seed's ∏ C(d_l, 2) = {c.transpositions}; the true "
        f"unit-permutation group ∏ d_l! = {c.permutations}"
        + (f"; with the sign flips ∏ d_l!·2^d_l = {c.with_signs}" if c.with_signs else ""),
    ]
    return "\n".join(lines)


def format_geometry(r: GeometryReport) -> str:
    """Format a :class:`GeometryReport` as text for the terminal."""
    lines = [
        f"two minima: E = {r.losses[0]:.6g} and {r.losses[1]:.6g} "
        f"(polished: {r.converged[0]}, {r.converged[1]})",
        f"straight path between them: barrier {r.barrier_raw:.4g} (distance {r.distance_raw:.4g})",
        f"after aligning the hidden units: barrier {r.barrier_aligned:.4g} "
        f"(distance {r.distance_aligned:.4g})",
    ]
    if r.val_barrier_raw is not None:
        lines.append(
            f"validation loss barrier: {r.val_barrier_raw:.4g} raw, "
            f"{r.val_barrier_aligned:.4g} aligned"
        )
    lines.append(
        "Hessian's top eigenvalues at the first minimum: "
        + ", ".join(f"{v:.4g}" for v in r.hessian_top)
    )
    lines.append(
        "slices (1-D and 2-D, filter-normalised random and Hessian directions) are in "
        "the trial's artifact geometry.npz"
    )
    return "\n".join(lines)


def format_convergence(r: ConvergenceReport) -> str:
    """Format a :class:`ConvergenceReport` as text for the terminal."""
    lines = [
        f"mini-batch SGD (B = {r.batch_size}) on linear least squares, {r.updates} updates per "
        f"run from one θ⁽⁰⁾ with the same mini-batches; E* = {r.loss_star:.6g} (θ* by least "
        "squares); the gap E − E* at the end of every epoch, its trend over the last decade "
        "of updates:",
    ]
    for run in r.runs:
        trend = (
            f"plateau at E − E* ≈ {run.floor:.3g}"
            if run.kind == "plateau"
            else f"{run.kind} as t^{run.slope:.2f}"
        )
        lines.append(
            f"  {run.label:28s} {trend}; final E − E* {run.final_gap:.3g}, "
            f"‖θ − θ*‖ {run.final_distance:.3g} (final ε {run.final_lr:.3g}, {run.status})"
        )
    if r.floors_grow_with_lr is not None:
        grows = "grow" if r.floors_grow_with_lr else "do not all grow"
        exponent = (
            f" (floor ∝ ε^{r.floor_exponent:.2f}: measured at epoch ends, where random "
            "reshuffling cancels most of the noise of the epoch)"
            if r.floor_exponent is not None
            else ""
        )
        lines.append(f"constant-ε floors {grows} with ε{exponent}")
    if r.robbins_monro_decreases is not None:
        lines.append(
            "seed 1.5's claim "
            + (
                "holds here: the Robbins–Monro (inverse-time) runs keep decreasing, below "
                "every constant-ε floor"
                if r.robbins_monro_decreases
                else "does not hold here: an inverse-time run stopped decreasing or stayed "
                "above a constant-ε floor"
            )
        )
    return "\n".join(lines)


def format_axis(r: AxisReport) -> str:
    """Format seed 1.3 over its noise axis (spurious and escape) for the terminal."""
    cfg = r.config
    lines = [f"verdict: {r.verdict}: {r.sentence}"]
    for key, sentence in r.sentences.items():
        lines.append(f"  {key}: {sentence}")
    lines.append(
        f"GD's reference runs (ε = {cfg['lr']:g}) from the random starts, and the distinct bad "
        "minima they reached (modulo "
        + (r.samples[0].symmetry if r.samples else "the symmetry group")
        + "):"
    )
    for smp in r.samples:
        mins = [m for m in r.minima if m.size == smp.size]
        desc = "; ".join(
            f"#{m.index} E={m.loss:.5g} ({m.count} starts, λ {m.lambda_min:.3g}…{m.lambda_max:.3g})"
            for m in mins
        )
        lines.append(
            f"  {smp.size}: {int(round(smp.bad * smp.starts))} of {smp.starts} in bad basins "
            f"({smp.bad:.1%}, 95% {smp.bad_low:.1%}–{smp.bad_high:.1%}); "
            f"{smp.distinct} distinct bad minim{'um' if smp.distinct == 1 else 'a'}"
            + (f": {desc}" if desc else "")
        )
    lines.append(
        "SGD's divergence step ε_div(B) (half of the chains diverge within "
        f"{cfg['div_updates']} updates: loss above {cfg['ceiling']:g} or not finite), from the "
        "bad minima and from random starts; GD's 2/λ_max at the global minimum:"
    )
    for e in r.edges:
        fm, fs = e.from_minima, e.from_starts
        mins = "—" if not math.isfinite(fm[0]) else f"{fm[0]:.4g} [{fm[1]:.4g}, {fm[2]:.4g}]"
        lines.append(
            f"  {e.size} B={e.batch}: ε_div {e.eps_div:.4g} (from minima {mins}; from starts "
            f"{fs[0]:.4g} [{fs[1]:.4g}, {fs[2]:.4g}]); GD {e.gd_limit:.4g}"
        )
    lines.append(
        "cells: SGD(ε, B) against GD(ε) from the same starts, U updates each (the last "
        f"{cfg['cooldown']:.0%} at {cfg['cool_factor']:g}·ε); bad = not in the global basin "
        "(diverged counts as bad); rescued / harmed = GD's bad starts SGD brought to the global "
        "basin / GD's good starts SGD did not (→ spurious); reduction = GD bad − SGD bad with "
        f"Newcombe's 95% paired interval; Holm-adjusted exact McNemar p; escapes from each "
        "distinct bad minimum: escaped/stayed/moved/diverged of the chains"
    )
    lines.append(
        f"  {'size':8s} {'U':>6s} {'B':>4s} {'ε':>8s} {'ε/B':>8s} {'ε/ε_div':>7s} "
        f"{'SGD bad':>7s} {'GD bad':>6s} {'rescued':>7s} {'harmed':>10s} "
        f"{'reduction [95%]':>22s} {'p_holm':>7s}  {'verdict':17s} escapes"
    )
    for c in r.cells:
        n11, n10, n01, _ = c.table
        esc = " ".join(
            f"#{e.minimum} {e.escaped}/{e.stayed}/{e.moved}/{e.diverged}" for e in c.escapes
        )
        ph = "—" if math.isnan(c.p_holm) else f"{c.p_holm:.2g}"
        lines.append(
            f"  {c.size:8s} {c.horizon:6d} {c.batch:4d} {c.eps:8.4g} {c.eps_over_b:8.3g} "
            f"{c.eps_over_div:7.3f} {n11 + n01:7d} {n11 + n10:6d} {n10:7d} "
            f"{f'{n01} ({c.global_to_spurious})':>10s} "
            f"{f'{c.reduction:+.1%} [{c.low:+.1%}, {c.high:+.1%}]':>22s} {ph:>7s}  "
            f"{c.verdict:17s} {esc}"
        )
    return "\n".join(lines)


@functools.singledispatch
def describe(result: object) -> str:
    """The terminal text of an analysis's result, by the result's type.

    A kind without a formatter of its own is shown field by field (``name: value``).
    """
    lines = []
    for f in dataclasses.fields(result):
        value = getattr(result, f.name)
        lines.append(f"{f.name}: {_fmt(value) if isinstance(value, float) else value}")
    return "\n".join(lines)


def format_census(report: CensusReport) -> str:
    """Format a :class:`CensusReport` as text for the terminal: one row per width."""
    lines = [
        report.headline(),
        f"{'d':>3s} {'starts':>6s} {'minima':>6s} {'Chao1 [95%]':>17s} {'best E':>10s} "
        f"{'families':>8s} {'at ∞':>5s} {'saddle':>6s} {'unres.':>6s} {'last new':>8s} "
        f"{'∏C(d,2)':>8s} {'∏d!·2^d':>9s} {'copies met':>10s} {'GD-stable':>9s}",
    ]
    for w in report.widths:
        k = w.kind_counts
        acc = w.accumulation
        # the last checkpoint at which the count of distinct minima rose
        rises = [n for i, n in enumerate(acc.starts) if i and acc.distinct[i] > acc.distinct[i - 1]]
        last = rises[-1] if rises else (acc.starts[0] if w.distinct_minima else 0)
        chao = f"{w.chao1.estimate:.1f} [{w.chao1_low:.1f}, {w.chao1_high:.1f}]"
        copies = f"{max(w.copies_met)}" if w.copies_met else "-"
        lines.append(
            f"{w.width:>3d} {w.n_starts:>6d} {w.distinct_minima:>6d} {chao:>17s} "
            f"{_fmt(w.best_loss):>10s} {w.families:>8d} {k.get('at_infinity', 0):>5d} "
            f"{k.get('saddle', 0):>6d} {k.get('unresolved', 0):>6d} {last:>8d} "
            f"{w.transpositions:>8d} {w.group_size:>9d} {copies:>10s} "
            f"{f'{sum(w.gd_stable)} of {len(w.gd_stable)}':>9s}"
        )
    lines.append(
        "minima: isolated minima modulo the symmetry group; last new: the starts after which "
        "no new one was met (checkpoints log-spaced); ∏C(d,2): the seed's pair swaps; "
        "∏d!·2^d: the true group of unit permutations and sign flips; copies met: the most "
        "distinct copies of one minimum the starts reached; GD-stable: the minima with "
        "ε·λ_max < 2, where gradient descent at the trainer's step ε can come to rest (the "
        "others were reached by the polish)"
    )
    for w in report.widths:
        if w.losses:
            pairs = zip(w.losses[:6], w.shares[:6], w.gd_stable[:6], strict=True)
            top = ", ".join(
                f"{e:.4g} ({s:.1%}{'' if ok else ', GD-unstable'})" for e, s, ok in pairs
            )
            more = f", … {len(w.losses) - 6} more" if len(w.losses) > 6 else ""
            lines.append(f"d={w.width} minima by loss (basin share): {top}{more}")
    return "\n".join(lines)


describe.register(MinimaReport)(lambda r: format_minima(r, r.counts))
describe.register(CensusReport)(lambda r: format_census(r))
describe.register(SymmetryCheck)(lambda r: format_symmetry(r))
describe.register(GeometryReport)(lambda r: format_geometry(r))
describe.register(ConvergenceReport)(lambda r: format_convergence(r))
describe.register(AxisReport)(lambda r: format_axis(r))
