"""Reports of stored studies: PNG figures and one HTML page, and the optuna-dashboard view.

:func:`write_report` reads a study from its storage (and its artifacts) alone — nothing is
retrained — and writes ``reports/NAME/index.html`` with its PNGs. With ``publish`` the PNGs are
also uploaded as study artifacts and a Markdown note with the summary and the figures is saved on
the study (``optuna_dashboard.save_note``), so optuna-dashboard shows the same report.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import optuna
from optuna.artifacts import upload_artifact
from optuna.trial import TrialState

from landscape import files
from landscape.analysis import KINDS
from landscape.analysis.census import CensusReport
from landscape.analysis.convergence import ConvergenceReport
from landscape.analysis.geometry import GeometryReport
from landscape.analysis.minima import MinimaReport
from landscape.analysis.noise import AxisReport
from landscape.analysis.symmetry import SymmetryCheck
from landscape.report import data, figures
from landscape.report.page import (
    FigureEntry,
    ReportError,
    Table,
    markdown_note,
    page_owner,
    render,
)
from landscape.runs import records
from landscape.summary import summarize


def safe_dirname(name: str) -> str:
    """A folder name for a study name: letters, digits, ``._-`` kept, the rest ``_``."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".") or "study"
    return cleaned[:100]


OWNER_FILE = ".landscape-report.json"
"""Written in every report folder: which study of which storage the report is of."""
LOCK_FILE = ".landscape-report.lock"
"""Held while a report is written into its folder: two reports of one folder take turns."""


def _read_owner(path: Path) -> dict | None:
    """The owner a report folder's file names, None when the file is unreadable or torn."""
    try:
        owner = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return None
    return owner if isinstance(owner, dict) else None


def _page_owner(folder: Path) -> dict | None:
    try:
        return page_owner((folder / "index.html").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None


def report_folder(
    out_root: Path | str, study_name: str, storage_id: str, aliases: Sequence[str] = ()
) -> Path:
    """The report folder of a study: its safe name, or that name and a hash when it is taken.

    Study names ``a/b`` and ``a_b``, or one name in two storages, share a safe name. The first
    study to write a report takes the plain folder; another finds the folder's owner file naming
    someone else and takes ``NAME-<8 hex digits of sha256(storage, study)>``. Both stay where
    they are on every later report. An owner file that cannot be read (emptied, torn) is
    judged by the page beside it, which names its study too.

    Parameters
    ----------
    out_root : path
    study_name : str
    storage_id : str
        What identifies the storage: a file's path relative to ``out_root``, or the URL
        without credentials.
    aliases : sequence of str
        Other names of the same storage that an owner file may hold (the absolute path that
        reports written before relative names were used hold).

    Returns
    -------
    Path

    Raises
    ------
    ReportError
        A folder's owner file is unreadable and no page there says whose folder it is.
    """
    root = Path(out_root)
    base = safe_dirname(study_name)
    digest = hashlib.sha256(f"{storage_id}\0{study_name}".encode()).hexdigest()[:8]
    for candidate in (root / base, root / f"{base}-{digest}"):
        marker = candidate / OWNER_FILE
        if not (marker.is_file() or marker.is_symlink()):
            if not candidate.exists() or candidate.is_dir():
                return candidate  # new, or a report written before owner files existed
            continue
        named = _read_owner(marker)
        if named is None:
            named = _page_owner(candidate)
            if named is None:
                raise ReportError(
                    f"report folder {str(candidate)!r}: its owner file {OWNER_FILE} is "
                    "unreadable (empty or torn) and no report page there names its study; "
                    f"remove {str(marker)!r} if the folder is {study_name!r}'s, or write "
                    "elsewhere with --out"
                )
        if named.get("study") == study_name and named.get("storage") in (storage_id, *aliases):
            return candidate
    return root / f"{base}-{digest}"


def _search_report(study, store, add):
    params = {p["name"] for p in records.search_space(study)}
    direction = (
        "minimize" if study.direction == optuna.study.StudyDirection.MINIMIZE else "maximize"
    )
    by = [p["name"] for p in records.search_space(study) if p["type"] in ("categorical", "pow2")]
    s = summarize(
        records.trial_records(study),
        direction,
        lambda_max=records.lambda_max(study),
        lambda_max_init=records.lambda_max_init(study),
        by=by,
        sharpness=records.sharpness(study),
        range_test=records.range_test(study),
    )
    metric = records.metric(study, default="value")
    summary = [("finished trials", s.n_trials)]
    summary += [(f"trials {k}", v) for k, v in sorted(s.status_counts.items())]
    if s.best is not None:
        summary += [
            (f"best {metric}", s.best.value),
            ("best ε", s.best.lr),
            ("best trial", s.best.number),
        ]
        summary += [(f"best {k}", v) for k, v in s.best.params.items() if k != "lr"]
    if s.smallest_diverged_lr is not None:
        summary.append(("smallest diverged ε", s.smallest_diverged_lr))
    if s.largest_stable_lr is not None:
        summary.append(("largest non-diverged ε (completed trials)", s.largest_stable_lr))
    if s.stability_limit is not None and s.best_converged is not None:
        summary.append(
            (
                f"2/λ_max at the best converged solution (trial {s.best_converged.number})",
                s.stability_limit,
            )
        )
    if s.stability_limit_init is not None:
        summary.append(("2/λ_max at θ⁽⁰⁾", s.stability_limit_init))
    tables = []
    for title, regimes in (
        ("ε regimes of the completed trials, by increasing ε", s.regimes),
        ("Pruned trials, by the regime their curve was in when pruned", s.pruned),
    ):
        if regimes and not s.groups:
            tables.append(
                Table(
                    title,
                    ["regime", "from ε", "to ε", "trials", "statuses", "meaning"],
                    [
                        [
                            r.name,
                            r.lr_low,
                            r.lr_high,
                            r.count,
                            ", ".join(f"{k} {v}" for k, v in sorted(r.status_counts.items()))
                            + (" (interleaved with another regime)" if r.interleaved else ""),
                            r.meaning,
                        ]
                        for r in regimes
                    ],
                )
            )
    for param in dict.fromkeys(g.param for g in s.groups):
        rows = [
            [
                g.value,
                g.count,
                ", ".join(f"{k} {v}" for k, v in sorted(g.status_counts.items())),
                g.best.value if g.best else "—",
                g.best.lr if g.best else "—",
                g.smallest_diverged_lr if g.smallest_diverged_lr is not None else "—",
            ]
            for g in s.groups
            if g.param == param
        ]
        tables.append(
            Table(
                f"By {param}",
                [param, "trials", "statuses", f"best {metric}", "at ε", "diverged from ε"],
                rows,
            )
        )
    pts = data.lr_points(study, store)
    if len(pts.lr):
        add(
            "loss_vs_lr.png",
            figures.loss_vs_lr(pts),
            "Final loss against the learning rate",
            "Each point is a trial, coloured by how it ended. The dashed line marks the smallest "
            "ε that diverged; dotted and dash-dotted lines mark the stability limit 2/λ_max of "
            "full-batch gradient descent at the best solution and at the common start θ⁽⁰⁾.",
        )
    rt = records.range_test(study)
    curve = data.artifact_arrays(study, store, records.RANGE_TEST) if rt and store else None
    if curve is not None:
        add(
            "range_test.png",
            figures.range_test(
                curve["lr"],
                curve["loss"],
                curve["smoothed"],
                {
                    "suggested": rt["lr_suggested"],
                    "blow-up": rt.get("lr_blowup"),
                    "best of the search": s.best.lr if s.best is not None else None,
                },
            ),
            "LR range test that seeded the search",
            "One run from θ⁽⁰⁾ with ε growing exponentially per update (Smith 2017): the "
            "search covered the range it suggested. The growing ε leaves each value only a "
            "few steps, so its blow-up point is no stability limit.",
        )
    tracked = data.sharpness_runs(study, store)
    if tracked:
        add(
            "sharpness.png",
            figures.sharpness(tracked),
            "Sharpness along training against 2/ε",
            "Representative trials trained again measuring λ_max of the full-batch Hessian "
            "(Lanczos on exact Hessian-vector products). Gradient descent with a constant ε is "
            "stable near a minimum only while λ_max < 2/ε (dashed, one per run, labelled with "
            "its ε at the right): a sharpness that rises to its line and hovers there is the "
            "edge of stability; one that starts above it and falls is a catapult when the loss "
            "(right) spiked meanwhile, and flattened when the loss only fell.",
        )
    curves = data.learning_curves(study, store)
    if curves and figures.epochs_are_updates(curves):  # full-batch: one figure says it all
        add(
            "curves_updates.png",
            figures.learning_curves(curves, "updates"),
            "Learning curves against updates",
            "The exact training loss after every evaluated update, for trials spread over ε. "
            "In batch learning an epoch is one update, so this is also the curve against "
            "epochs.",
        )
    elif curves:
        add(
            "curves_epochs.png",
            figures.learning_curves(curves, "epoch"),
            "Learning curves against epochs",
            "The exact training loss after every evaluated epoch, for trials spread over ε.",
        )
        add(
            "curves_updates.png",
            figures.learning_curves(curves, "updates"),
            "Learning curves against updates",
            "The same curves against the update count t: an epoch is 1 update in batch "
            "learning and N/|B| updates with mini-batches.",
        )
    if "batch_size" in params:
        add(
            "batch_map.png",
            figures.batch_map(data.batch_map(study, store)),
            "Learning rate × batch size",
            "Left: the final loss of each trial; right: how it ended.",
        )
    if "schedule" in params:
        sc = data.schedule_curves(study, store)
        if sc.kinds:
            add(
                "schedules.png",
                figures.schedules(sc),
                "Schedules and their learning curves",
                "For each schedule kind its best trial: ε_t over the updates (left) and the "
                "training loss it gave (right).",
            )
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if complete:
        add(
            "history.png",
            figures.history(data.history(study), data.loss_label(study)),
            "Optimisation history",
            "Each trial's objective value by how it ended (pruned: the value at pruning; "
            "diverged: no value, marked at the top) and the best of the complete trials so far "
            "(log scale for a positive loss).",
        )
        # Optuna's plots switch matplotlib to its ggplot style for good (plt.style.use):
        # the rc context gives every figure drawn after them our style back
        with warnings.catch_warnings(), figures.own_style():
            warnings.simplefilter("ignore")
            if len(complete) >= 2 and len(params) >= 2:  # one parameter: trivially 1.00
                try:
                    ax = optuna.visualization.matplotlib.plot_param_importances(study)
                    figures.restyle(ax)
                    add(
                        "importances.png",
                        ax.figure,
                        "Parameter importances",
                        "Optuna's own plot (fANOVA on the complete trials).",
                    )
                except (RuntimeError, ValueError):
                    pass
    return summary, tables


# ------------------------------------------------------------------ analyses, by result type
def _analysis_report(study, store, add):
    """The report of an analysis study: its typed result rendered by :func:`page`."""
    kind = KINDS[records.kind(study)]
    result = records.result_of(study, kind, store)
    if result is not None:
        return page(result, study, store, add)
    earlier = records.found(records.fresh_attrs(study), kind)
    if earlier is not None:  # a result no longer readable, a verdict kept in an attr
        return [
            ("status", "made by an earlier version of this analysis, in a form it cannot read"),
            ("what it found then", earlier),
            ("to see it again", "rerun the study under a new --study-name"),
        ], []
    return [("status", "not every unit of work is complete yet")], []


@functools.singledispatch
def page(result: object, study, store, add) -> tuple[list, list]:
    """The summary rows and tables of an analysis's page, by the result's type.

    A kind without a page of its own is shown field by field.
    """
    rows = []
    for f in dataclasses.fields(result):
        value = getattr(result, f.name)
        if isinstance(value, bool | int | float | str) or value is None:
            rows.append((f.name, value))
    return rows, []


@page.register
def _minima_page(rep: MinimaReport, study, store, add):
    summary = [
        ("found", rep.headline()),
        ("starts", rep.n_starts),
        ("isolated minima as points", rep.distinct_points),
        ("isolated minima modulo symmetry", rep.distinct_minima),
        ("families of minima", len(rep.families)),
        ("loss levels (minima and families)", rep.loss_levels),
        ("Chao1 estimate of all isolated minima", rep.chao1.estimate),
        ("median move of polishing (share of ‖θ‖)", rep.moved),
    ]
    summary += [(f"end points: {k}", v) for k, v in rep.kind_counts.items()]
    if rep.counts is not None:
        summary += [(f"group: {k}", str(v)) for k, v in dataclasses.asdict(rep.counts).items()]
    rows = [
        [
            m.kind,
            m.loss,
            f"{m.basin_share:.1%}",
            m.starts,
            m.copies_met,
            m.dimension,
            m.n_negative,
            m.lambda_min,
            m.lambda_max,
            m.n_flat,
            m.asymptote,
        ]
        for m in rep.classes[:40]
    ]
    tables = [
        Table(
            "Classes modulo symmetry, by kind and loss (first 40)",
            [
                "kind",
                "loss",
                "basin share",
                "starts",
                "copies met",
                "dimension",
                "negative λ",
                "λ_min",
                "λ_max",
                "flat",
                "E → (at infinity)",
            ],
            rows,
        )
    ]
    arrays = data.artifact_arrays(study, store, records.MINIMA_POINTS) if store else None
    m = data.minima_data(rep, arrays)
    if len(m.loss):
        add(
            "minima.png",
            figures.minima_overview(m),
            "Where random starts ended",
            "Each end point was polished, descent was continued from it and its flat directions "
            "were probed: an isolated minimum, a family of minima (a connected set at one "
            "loss), a slope to a minimum at infinity, or a saddle (unresolved ones are counted "
            "only). (a) The share of starts in each class (any symmetric copy); (b) each "
            "class's loss; (c) the starts by kind of end point; (d) the classes modulo "
            "symmetry found, with Chao1's estimate of all isolated minima (dashed).",
        )
        add(
            "spectra.png",
            figures.hessian_spectra(m),
            "Hessian spectra",
            "Every eigenvalue of the exact Hessian at each class's representative, coloured by "
            "kind: a family's flat directions sit at 0; a slope to infinity's spectrum is "
            "measured where its continued descent stopped.",
        )
    return summary, tables


@page.register
def _census_page(rep: CensusReport, study, store, add):
    summary = [("found", rep.headline())]
    for w in rep.widths:
        summary.append((f"d = {w.width}", w.headline))
    rows = [
        [
            w.width,
            w.n_starts,
            w.distinct_minima,
            w.chao1.estimate,
            f"{w.chao1_low:.1f} – {w.chao1_high:.1f}",
            w.best_loss,
            w.families,
            w.kind_counts.get("at_infinity", 0),
            w.kind_counts.get("saddle", 0),
            w.kind_counts.get("unresolved", 0),
            w.transpositions,
            w.group_size,
            max(w.copies_met) if w.copies_met else 0,
            f"{sum(w.gd_stable)} of {len(w.gd_stable)}",
            w.moved,
        ]
        for w in rep.widths
    ]
    tables = [
        Table(
            "Isolated minima modulo symmetry, per hidden width",
            [
                "d",
                "starts",
                "minima",
                "Chao1",
                "95% interval",
                "lowest E",
                "families",
                "at infinity",
                "saddles",
                "unresolved",
                "∏ C(d,2)",
                "∏ d!·2^d",
                "most copies met",
                "GD-stable (ε·λ_max < 2)",
                "median move of polishing",
            ],
            rows,
        ),
        Table(
            "Each isolated minimum: width, loss, basin share, copies met",
            ["d", "rank", "loss", "basin share", "copies met", "GD-stable"],
            [
                [w.width, r + 1, e, f"{s:.2%}", c, "yes" if ok else "no"]
                for w in rep.widths
                for r, (e, s, c, ok) in enumerate(
                    zip(w.losses, w.shares, w.copies_met, w.gd_stable, strict=True)
                )
            ][:200],
        ),
    ]
    if rep.widths:
        add(
            "census.png",
            figures.census(rep),
            "Minima against width (seed 1.2 measured)",
            "(a) The distinct isolated minima modulo the symmetry group met by the first n "
            "starts; a curve still rising at the right, or a Chao1 interval (◆) above it, says "
            "more starts would find more. (b) The loss of each minimum (area: its basin "
            "share); the bar marks the lowest minimum or family of the width. (c) The share of "
            "starts by kind of end point. (d) The copies of each minimum: the seed's count of "
            "pair swaps ∏ C(d,2), the true group ∏ d!·2^d of unit permutations and sign flips, "
            "and the most distinct copies of one minimum the starts reached.",
        )
    return summary, tables


def _last_complete(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The latest complete trial of a one-trial analysis (a rerun adds another)."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return trials[-1] if trials else None


@page.register
def _symmetry_page(a: SymmetryCheck, study, store, add):
    tried = f"{a.transpositions_tested} of {a.transpositions_total}" + (
        " (sample)" if a.sampled else " (all)"
    )
    rows = [
        ["pair swaps leave the output unchanged", tried, a.output_deviation],
        ["pair swaps leave the loss unchanged", "", a.loss_deviation],
        ["∇E(πθ) = π∇E(θ)", "random group elements", a.gradient_deviation],
        ["GD(πθ⁽⁰⁾) = π GD(θ⁽⁰⁾)", f"{a.gd_steps} steps", a.gd_deviation],
    ]
    if a.sign_output_deviation is not None:
        rows.append(
            [
                "sign flips leave the output unchanged",
                f"{a.sign_flips_tested} units",
                a.sign_output_deviation,
            ]
        )
    c = a.counts
    counts = [
        ["the seed's count ∏ C(d_l, 2)", str(c.transpositions)],
        ["unit permutations ∏ d_l!", str(c.permutations)],
    ]
    if c.with_signs is not None:
        counts.append(["with sign flips ∏ d_l!·2^d_l", str(c.with_signs)])
    if c.continuous:
        counts.append(
            ["continuous symmetries (dimension)", f"{c.continuous}: {c.continuous_kinds}"]
        )
    worst = max(float(r[2]) for r in rows if r[2] is not None)
    t = _last_complete(study)
    # the summary rows are also the dashboard note: the checks and counts belong there
    summary = [
        ("network", (records.training(t) if t is not None else "") or ""),
        ("every check within 1e-10", "yes" if worst <= 1e-10 else "no"),
        ("largest deviation of any check", worst),
        ("pair swaps tried", tried),
        ("output change under a swap", a.output_deviation),
        ("∇E(πθ) − π∇E(θ)", a.gradient_deviation),
        (f"GD(πθ⁽⁰⁾) − π GD(θ⁽⁰⁾) after {a.gd_steps} steps", a.gd_deviation),
        *((name, value) for name, value in counts),
    ]
    return (
        summary,
        [
            Table("Checks", ["check", "tried", "largest deviation"], rows),
            Table("Copies of every minimum", ["count", "value"], counts),
        ],
    )


@page.register
def _geometry_page(a: GeometryReport, study, store, add):
    summary = [
        ("loss of minimum a", a.losses[0]),
        ("loss of minimum b", a.losses[1]),
        ("barrier, as they are", a.barrier_raw),
        ("barrier, units aligned", a.barrier_aligned),
        ("distance, as they are", a.distance_raw),
        ("distance, units aligned", a.distance_aligned),
        ("top Hessian eigenvalues", ", ".join(f"{v:.4g}" for v in a.hessian_top)),
    ]
    t = _last_complete(study)
    arrays = data.artifact_arrays(study, store, records.GEOMETRY, t) if t else None
    if arrays is not None:
        setup = data.setup(study)
        add(
            "paths.png",
            figures.paths(arrays, setup),
            "Paths between two minima",
            "The loss on the straight line from minimum a to minimum b, as they are and after "
            "permuting b's hidden units to match a's (weight matching).",
        )
        add(
            "slices.png",
            figures.slices(arrays, setup),
            "Slices of the loss around minimum a",
            "1-D and 2-D slices along filter-normalised random directions (Li et al. 2018) and "
            "along the Hessian's top eigenvectors; the grids' centre is the minimum itself. "
            "Every axis is the distance from the minimum, s·‖d‖: a filter-normalised direction "
            "is about as long as θ, an eigenvector has unit length, so the curves compare the "
            "two at equal distances.",
        )
    return summary, []


@page.register
def _convergence_page(rep: ConvergenceReport, study, store, add):
    summary = [
        ("E* (least squares)", rep.loss_star),
        ("batch size", rep.batch_size),
        ("updates per run", rep.updates),
        ("constant-ε floors grow with ε", rep.floors_grow_with_lr),
        ("floor ∝ ε^k, k", rep.floor_exponent),
        ("seed 1.5's claim here", rep.verdict()),
    ]
    table = Table(
        "Runs: the trend of E − E* over the last decade of updates",
        ["run", "trend", "slope", "floor (median gap)", "final gap", "final ‖θ − θ*‖", "final ε"],
        [
            [r.label, r.kind, r.slope, r.floor, r.final_gap, r.final_distance, r.final_lr]
            for r in rep.runs
        ],
    )
    curves = data.convergence_curves(study, store)
    if curves is not None:
        add(
            "convergence.png",
            figures.convergence(curves),
            "Mini-batch SGD against a known θ*",
            "With a constant ε (solid) the distance and the gap fall to a noise floor that "
            "grows with ε; a Robbins–Monro schedule (inverse time) keeps falling; a linear "
            "decay to τ ends at a constant 1% of ε0 and plateaus at that ε's lower floor.",
        )
    return summary, [table]


@page.register
def _axis_page(rep: AxisReport, study, store, add):
    cfg = rep.config
    summary = [("verdict", rep.verdict), ("where", rep.sentence)]
    summary += [(f"regions at {k}", v) for k, v in rep.sentences.items()]
    summary += [
        ("paired random starts per cell", cfg["n_starts"]),
        ("chains per distinct bad minimum per cell", cfg["chains"]),
        ("horizons U (updates of every run)", ", ".join(map(str, cfg["horizons"]))),
        ("cool-down", f"last {cfg['cooldown']:.0%} of the updates at {cfg['cool_factor']:g}·ε"),
        ("diverged", f"loss above {cfg['ceiling']:g} or not finite"),
        ("tests", f"exact McNemar, Holm over every cell tested, α = {cfg['alpha']:g}"),
        ("does not hold when the 95% interval excludes a reduction of", f"{cfg['margin']:.0%}"),
        (
            "… or when the escapes from the bad minima stay below (95% upper bound)",
            f"{cfg['escape_floor']:.0%}",
        ),
    ]
    samples = Table(
        "GD's reference runs and the distinct bad minima they reached",
        ["size", "starts", "in bad basins", "95% Wilson", "distinct bad minima", "modulo"],
        [
            [
                x.size,
                x.starts,
                f"{x.bad:.1%}",
                f"{x.bad_low:.1%} – {x.bad_high:.1%}",
                x.distinct,
                x.symmetry,
            ]
            for x in rep.samples
        ],
    )
    minima = Table(
        "Distinct bad minima (Hessian positive definite)",
        ["size", "minimum", "loss", "GD basin of (starts)", "λ_min", "λ_max"],
        [[m.size, m.index, m.loss, m.count, m.lambda_min, m.lambda_max] for m in rep.minima],
    )

    def triple(t):
        return "—" if math.isnan(t[0]) else f"{t[0]:.4g} [{t[1]:.4g}, {t[2]:.4g}]"

    edges = Table(
        "SGD's divergence step ε_div(B): half of the chains diverge",
        ["size", "B", "ε_div (grid)", "from the bad minima", "from random starts", "GD 2/λ_max"],
        [
            [e.size, e.batch, e.eps_div, triple(e.from_minima), triple(e.from_starts), e.gd_limit]
            for e in rep.edges
        ],
    )
    rows = []
    for c in rep.cells:
        n11, n10, n01, _ = c.table
        rows.append(
            [
                c.size,
                c.horizon,
                c.batch,
                c.eps,
                c.eps_over_b,
                f"{c.eps_over_div:.3f}",
                n11 + n01,
                n11 + n10,
                n10,
                f"{n01} ({c.global_to_spurious})",
                f"{c.reduction:+.1%} [{c.low:+.1%}, {c.high:+.1%}]",
                "—" if math.isnan(c.p_holm) else f"{c.p_holm:.2g}",
                c.verdict,
                " ".join(
                    f"#{e.minimum}: {e.escaped}/{e.stayed}/{e.moved}/{e.diverged} of {e.chains}"
                    for e in c.escapes
                ),
            ]
        )
    cells = Table(
        "Every cell: SGD(ε, B) against GD(ε), same starts, U updates each",
        [
            "size",
            "U",
            "B",
            "ε",
            "ε/B",
            "ε/ε_div",
            "SGD bad",
            "GD bad",
            "rescued",
            "harmed (→ spurious)",
            "reduction [95%]",
            "p (Holm)",
            "verdict",
            "escapes: escaped/stayed/moved/diverged",
        ],
        rows,
    )
    add(
        f"{records.kind(study)}.png",
        figures.noise_axis(data.axis_data(rep)),
        "Seed 1.3 over its noise axis",
        "Per size: the share of chains started at each bad minimum GD found that reached the "
        "global basin (left) and the paired reduction of the share of bad basins from random "
        "starts, GD(ε) minus SGD(ε, B) (middle), against ε over SGD's own divergence step; "
        "right: every cell's verdict over the noise scale ε/B and B.",
    )
    return summary, [samples, minima, edges, cells]


def _report_of(analysis: bool):
    """The page builder of a study: ``(study, store, add) → (summary rows, tables)``.

    ``add(filename, figure, title, caption)`` puts a figure on the page.
    """
    return _analysis_report if analysis else _search_report


def write_report(
    storage,
    study_name: str,
    out_root: Path | str = "reports",
    store=None,
    *,
    storage_display: str = "",
    storage_id: str = "",
    storage_aliases: Sequence[str] = (),
    publish: bool = True,
) -> Path:
    """Write ``out_root/NAME/index.html`` and its PNGs from the stored study.

    NAME is the study's folder from :func:`report_folder`.

    Parameters
    ----------
    storage : str or optuna storage
    study_name : str
    out_root : path
    store : optuna artifact store, optional
        Needed for the analyses' figures (their arrays are artifacts) and for ``publish``.
    storage_display : str
        The storage as shown on the page (passwords hidden).
    storage_id : str
        What identifies the storage, for the report's folder (see :func:`report_folder`);
        default ``storage_display``.
    storage_aliases : sequence of str
        Other identities of the storage an earlier report's owner file may hold.
    publish : bool
        Also upload the PNGs as study artifacts and save the summary as the study's note in
        optuna-dashboard (needs ``store``).

    Returns
    -------
    Path
        The written ``index.html``.
    """
    study = optuna.load_study(study_name=study_name, storage=storage)
    kind = records.kind(study)
    owner = {"study": study_name, "storage": storage_id or storage_display}
    out = report_folder(out_root, study_name, owner["storage"], storage_aliases)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if files.disk_full(exc):
            raise
        raise ReportError(
            f"report folder {str(out)!r} cannot be created ({exc.strerror})"
        ) from None
    # One report of a folder at a time; each builds its files under temporary names and
    # renames them into place together, the page last: a kill, a full disk or an interrupt
    # leaves the previous report whole (or none), never a part of a new one.
    with files.locked(out / LOCK_FILE), files.Batch(out) as batch:
        files.sweep_staged(out)  # what a report killed mid-write left (no writer runs now)
        entries: list[FigureEntry] = []

        def add(filename: str, fig, title: str, caption: str) -> None:
            figures.write_png(fig, batch.path(filename))
            entries.append(FigureEntry(filename, title, caption))

        summary, tables = _report_of(records.is_analysis(study))(study, store, add)
        spec = records.spec_of(study)
        page = render(
            study_name=study_name,
            kind=kind,
            description=spec.get("description", ""),
            storage=storage_display,
            summary=summary,
            tables=tables,
            figures=entries,
            spec=spec,
            owner=owner,
        )
        batch.write_bytes(OWNER_FILE, json.dumps(owner).encode("utf-8"))
        batch.write_bytes("index.html", page.encode("utf-8"))
        batch.commit()
    index = out / "index.html"
    if publish and store is not None:
        publish_note(storage, study, store, summary, [(e.title, out / e.filename) for e in entries])
    return index


def publish_note(storage, study: optuna.Study, store, summary, images) -> None:
    """Upload the report's PNGs as study artifacts and save the dashboard note.

    A figure uploaded by an earlier report of the study is overwritten in place (same artifact
    id, so the note's links stay valid) instead of being uploaded again beside it.
    """
    import optuna_dashboard

    # Reports of one study take turns here, each reading what the other uploaded: two first
    # reports at once would otherwise each upload every figure.
    lock = Path(store._base_path) / f".report-{records.study_id(study)}.lock"
    with files.locked(lock):
        links = _upload_figures(storage, study, store, images)
        optuna_dashboard.save_note(study, markdown_note(study.study_name, summary, links))


def _upload_figures(storage, study: optuna.Study, store, images) -> list[tuple[str, str]]:
    earlier = report_artifacts(storage, study)
    links = []
    for title, path in images:
        artifact_id = earlier.get(Path(path).name)
        if artifact_id is None:
            artifact_id = upload_artifact(
                artifact_store=store,
                file_path=str(path),
                study_or_trial=study,
                mimetype="image/png",
            )
        else:
            with open(path, "rb") as fh:
                store.write(artifact_id, fh)
        links.append((title, f"/artifacts/{records.study_id(study)}/{artifact_id}"))
    return links


def report_artifacts(storage, study: optuna.Study) -> dict[str, str]:
    """The study's PNG artifacts by file name (:func:`landscape.runs.records.study_artifacts`)."""
    return records.study_artifacts(storage, study.study_name, mimetype="image/png")
