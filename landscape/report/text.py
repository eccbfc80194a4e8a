"""Every terminal summary: the text ``python -m landscape.study`` prints after a run.

Plain strings from the typed results of :mod:`landscape.summary`, :mod:`landscape.analysis` and
:mod:`landscape.experiments`; no matplotlib, so the command line imports this at start.
"""

from __future__ import annotations

import math

import numpy as np

from landscape.analysis.escape import EscapeReport
from landscape.analysis.minima import MinimaReport
from landscape.analysis.spurious import SpuriousReport
from landscape.analysis.symmetry import GroupCounts, SymmetryCheck, model_group_counts
from landscape.experiments import ConvergenceReport, GeometryReport
from landscape.objectives import Problem, build
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
                f"max {run['ratio_max']:.3g}, {run['ratio_end']:.3g} at the end"
            )
    return "\n".join(lines)


def format_range_test(rt: dict, best_lr: float | None = None) -> str:
    """The LR range test in words (``rt``: :func:`landscape.objectives.range_test_record`)."""

    def g(key: str) -> str:
        return "—" if rt.get(key) is None else f"{rt[key]:.3g}"

    lines = [
        f"LR range test: {rt['updates']} updates from θ⁽⁰⁾ with ε growing from "
        f"{rt['lr_first']:.3g} to {rt['lr_last']:.3g}; the loss fell 10% by ε ≈ "
        f"{g('lr_start')}, fastest at ε ≈ {g('lr_steepest')}, least at ε ≈ {g('lr_min_loss')}, "
        + (
            f"blew up at ε ≈ {g('lr_blowup')}"
            if rt.get("lr_blowup") is not None
            else "and never blew up (raise lr_max to see divergence)"
        ),
        f"  suggested ε = {g('lr_suggested')} (a tenth of the least-loss ε); a search range "
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
            "left the sharp start behind for flatter regions (catapult) instead of diverging"
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
    rows += [f"  ({r.name}: {r.meaning})" for r in regimes if r.name == "unstable at θ⁽⁰⁾"]
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


def listed(counts: dict[str, int]) -> str:
    """``"global 117, spurious 11"``: the non-zero counts, in their order."""
    return ", ".join(f"{k} {v}" for k, v in counts.items() if v)


def format_escape(r: EscapeReport) -> str:
    """Format the escape experiment (:class:`landscape.analysis.escape.EscapeReport`)."""
    lines = [
        f"verdict: {r.verdict}: {r.sentence}",
        f"{r.n_starts} starts; every method made {r.updates} updates from them (epochs beside). "
        f"Ended: where the examined end point is (a run whose examined point lies more than "
        f"{r.max_move:.0%} of ‖θ‖ away is not_converged); basin: where batch GD from the end "
        f"point goes. Spurious: a minimum more than {r.loss_threshold:g} above the best one "
        f"reached (E = {r.best_loss:.4g}). The basin interval counts unresolved basins as "
        "either.",
        f"  {'method':12s} {'B':>5s} {'ε':>7s} {'epochs':>6s} {'final E':>9s} "
        f"{'ended spurious':>14s} {'in spurious basin (95%)':>24s}  ended | basins",
    ]
    for m in r.methods:
        ended, basins = listed(m.counts), listed(m.basins)
        lines.append(
            f"  {m.method:12s} {m.batch:5d} {m.lr:7.3g} {m.epochs:6.4g} {m.median_loss:9.3g} "
            f"{m.spurious:14.1%} {m.basin_spurious:7.1%} [{m.basin_low:5.1%}, "
            f"{m.basin_high:5.1%}]  {ended} | {basins}"
        )
    if r.escapes:
        lines.append(
            "runs started at spurious minima GD found (left: in the global basin after the run; "
            "stayed: in a spurious basin, the same minimum or a neighbour):"
        )
        for e in r.escapes:
            lines.append(
                f"  {e.method:12s} left {e.left} of {e.runs} ({e.share:.0%}, 95% "
                f"{e.low:.0%}–{e.high:.0%}); stayed {e.stayed} ({e.same} at the same minimum); "
                f"unresolved {e.unresolved}"
            )
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


def describe(kind: str, problem: Problem, result: object) -> str:
    """The terminal text of an analysis of ``kind`` (a name of ``spec.ANALYSES``)."""
    if kind == "minima":
        model, _ = build(problem, problem.spec, np.random.default_rng(0))
        return format_minima(result, model_group_counts(model))
    return TEXTS[kind](result)


def format_spurious(r: SpuriousReport) -> str:
    """Format the spurious-minima sweep for the terminal."""
    lines = [
        f"verdict: {r.verdict}: {r.sentence}",
        f"every method made {r.updates} updates from the same starts; 'basin' is where population "
        "GD from the end point converges (a noisy run that has not settled has not escaped); "
        "GD that falls below E = 1e-5 is in the global basin (the lowest spurious minimum any "
        f"run reached has E = {r.lowest_spurious:.4g}); the interval counts unresolved basins "
        "as either",
        f"  {'k':>3s} {'n':>3s}  {'method':12s} {'in spurious basin (95%)':>26s}  "
        "where it ended | basins",
    ]
    for s in r.shares:
        ended, basins = listed(s.counts), listed(s.basins)
        lines.append(
            f"  {s.k:3d} {s.n:3d}  {s.method:12s} {s.basin_spurious:7.1%} "
            f"[{s.basin_low:5.1%}, {s.basin_high:5.1%}]  {ended} | {basins}"
        )
    if r.escapes:
        lines.append("runs started at spurious minima GD found (left: ended in another basin):")
        for e in r.escapes:
            lines.append(
                f"  {e.k:3d} {e.n:3d}  {e.method:12s} left {e.left} of {e.runs} "
                f"({e.share:.0%}, 95% {e.low:.0%}–{e.high:.0%}); stayed {e.stayed}; "
                f"unresolved {e.unresolved}"
            )
    return "\n".join(lines)


TEXTS = {
    "minima": format_minima,
    "spurious": format_spurious,
    "symmetry": format_symmetry,
    "geometry": format_geometry,
    "escape": format_escape,
    "convergence": format_convergence,
}
"""The formatter of each analysis kind's result (``spec.ANALYSES`` names the same)."""
