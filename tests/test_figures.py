"""Figure data and layout, pinned without judging pixels: legends off the data, log axes,
labels that name what is drawn, limits that hold what matters."""

import matplotlib.pyplot as plt
import numpy as np
import optuna
import pytest
from matplotlib.colors import to_rgb
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from landscape.report import data, figures


@pytest.fixture(autouse=True)
def _close_figures():
    """The figures of one test are freed after it (pyplot keeps every open figure)."""
    yield
    plt.close("all")


def _display(ax, x, y) -> np.ndarray:
    """Data coordinates → display coordinates (pixels) of ``ax``."""
    return ax.transData.transform(np.c_[np.asarray(x, float), np.asarray(y, float)])


def _inside(bbox, xy: np.ndarray) -> np.ndarray:
    return (
        (xy[:, 0] >= bbox.x0)
        & (xy[:, 0] <= bbox.x1)
        & (xy[:, 1] >= bbox.y0)
        & (xy[:, 1] <= bbox.y1)
    )


def _labels(legend) -> list[str]:
    return [t.get_text() for t in legend.get_texts()]


# ---------------------------------------------------------------------------------- sharpness
def _sharpness_runs() -> list[data.SharpnessRun]:
    u = np.array([0, 1, 2, 4, 8, 16, 32, 64, 128])
    return [
        data.SharpnessRun(
            13,
            "best",
            3.51,
            "flattened",
            u,
            np.geomspace(1.2, 0.01, u.size),
            np.geomspace(2.5, 1e-3, u.size),
        ),
        data.SharpnessRun(
            43,
            "largest stable ε",
            49.9,
            "catapult",
            u,
            np.array([1.2, 3.0, 18.0, 2.2, 6.0, 0.2, 0.05, 0.04, 0.03]),
            np.array([2.5, 16.0, 25.0, 8.0, 1.4, 0.2, 0.07, 0.01, 0.004]),
        ),
        data.SharpnessRun(
            45,
            "smallest diverged ε",
            52.0,
            "diverged",
            u[:3],
            np.array([1.2, 4.4, 11.5]),
            np.array([2.5, 17.0, 26.0]),
        ),
    ]


def test_near_groups_joins_limits_within_a_factor():
    limits = [2 / 3.51, 2 / 49.9, 2 / 52.0, 2 / 4.75]
    assert figures.near_groups(limits) == [[2, 1], [3, 0]]  # by increasing value
    assert figures.near_groups([1.0, 10.0, 100.0]) == [[0], [1], [2]]


def test_sharpness_legend_lies_off_every_data_point():
    runs = _sharpness_runs()
    fig = figures.sharpness(runs)
    fig.canvas.draw()
    ax, ax_loss = fig.axes
    assert ax.get_legend() is None and ax_loss.get_legend() is None
    (legend,) = fig.legends  # one legend for both panels, below them
    box = legend.get_window_extent()
    for a, key in ((ax, "sharpness"), (ax_loss, "loss")):
        for r in runs:
            xy = _display(a, r.updates + 1, getattr(r, key))
            assert not _inside(box, xy).any()
        assert box.y1 < a.get_window_extent().y0  # wholly below the panels
    assert _labels(legend) == [
        "trial 13, ε=3.51 (best): flattened",
        "trial 43, ε=49.9 (largest stable ε): catapult",
        "trial 45, ε=52 (smallest diverged ε): diverged",
    ]


def test_sharpness_labels_each_limit_with_its_eps_apart_from_its_near_neighbour():
    fig = figures.sharpness(_sharpness_runs())
    fig.canvas.draw()
    ax = fig.axes[0]
    texts = {t.get_text(): t for t in ax.texts}
    assert set(texts) == {"ε=3.51", "ε=49.9", "ε=52"}
    boxes = {k: t.get_window_extent() for k, t in texts.items()}
    assert not boxes["ε=49.9"].overlaps(boxes["ε=52"])
    assert boxes["ε=49.9"].y0 > boxes["ε=52"].y0  # 2/49.9 is the upper line: its label too
    limits = [ln for ln in ax.get_lines() if len(set(ln.get_ydata())) == 1]
    assert len(limits) == 3
    # the two near lines are dashed out of phase, so both colours show along them
    near = [ln for ln in limits if ln.get_ydata()[0] < 0.05]
    assert {ln.get_color() for ln in near} == {figures.OKABE_ITO[1], figures.OKABE_ITO[2]}
    assert near[0]._dash_pattern[0] != near[1]._dash_pattern[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"


# ------------------------------------------------------------------------------------ history
def _study(rows) -> optuna.Study:
    """An in-memory search: (state, value, status) per trial, ε = 10^-number."""
    study = optuna.create_study(direction="minimize")
    for n, (state, value, status) in enumerate(rows):
        study.add_trial(
            create_trial(
                state=state,
                value=value,
                params={"lr": 10.0**-n},
                distributions={"lr": FloatDistribution(1e-9, 1.0, log=True)},
                user_attrs={"status": status, "lr": 10.0**-n},
                intermediate_values={} if value is None else {10: value},
            )
        )
    return study


HISTORY_ROWS = [
    (TrialState.COMPLETE, 0.5, "budget"),
    (TrialState.PRUNED, 0.1, "pruned"),  # lower, but pruned: not the best
    (TrialState.COMPLETE, 0.3, "converged"),
    (TrialState.PRUNED, None, "diverged"),
    (TrialState.COMPLETE, 0.4, "budget"),
    (TrialState.COMPLETE, 2.5, "stalled"),
]


def test_history_data_is_each_value_and_the_best_complete_one_so_far():
    h = data.history(_study(HISTORY_ROWS))
    assert h.number.tolist() == [0, 1, 2, 3, 4, 5]
    np.testing.assert_array_equal(h.value, [0.5, 0.1, 0.3, np.nan, 0.4, 2.5])
    np.testing.assert_array_equal(h.best, [0.5, 0.5, 0.3, 0.3, 0.3, 0.3])
    assert h.status.tolist() == [r[2] for r in HISTORY_ROWS] and h.minimize


def test_history_is_drawn_in_our_style_wide_with_its_labels_inside_the_figure():
    fig = figures.history(data.history(_study(HISTORY_ROWS)), "final validation loss")
    fig.canvas.draw()
    (ax,) = fig.axes
    assert fig.get_figwidth() >= 8 and ax.get_facecolor()[:3] == (1.0, 1.0, 1.0)
    assert ax.get_xlabel() == "trial number" and ax.get_yscale() == "log"
    assert ax.get_ylabel() == "final validation loss (log scale)"
    # the y label is inside the figure, not run into its edge
    assert ax.yaxis.label.get_window_extent().x0 >= 0
    (best,) = ax.get_lines()
    assert (
        best.get_drawstyle() == "steps-post" and best.get_ydata().tolist() == [0.5] * 2 + [0.3] * 4
    )
    faces = {tuple(c.get_facecolor()[0][:3]) for c in ax.collections if len(c.get_offsets())}
    assert {to_rgb(figures.STATUS_COLOURS[s]) for s in ("budget", "converged", "diverged")} <= faces
    labels = _labels(ax.get_legend())
    assert "diverged (1, no value: at the top edge)" in labels
    assert "pruned (1, value at pruning)" in labels
    box = ax.get_legend().get_window_extent()
    assert box.x0 > ax.get_window_extent().x1  # beside the axes, off the data


# ---------------------------------------------------------------------------- learning curves
def _curve(i, status, loss, per_epoch=1):
    n = len(loss)
    epoch = np.arange(n, dtype=float)
    return data.Curve(
        i, f"#{i}", status, epoch, epoch * per_epoch, np.array(loss, float), np.full(n, np.nan)
    )


def test_curves_against_epochs_are_on_a_log_axis_from_epoch_1():
    curves = [_curve(0, "budget", [2.0, 1.0, 0.5, 0.2]), _curve(1, "diverged", [2, 5, 50, 1e9])]
    ax = figures.learning_curves(curves, "epoch").axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "epoch (log scale, from epoch 1)"
    assert all(ln.get_xdata().min() == 1.0 for ln in ax.get_lines())


def test_full_batch_curves_are_only_drawn_against_updates():
    assert figures.epochs_are_updates([_curve(0, "budget", [2.0, 1.0])])
    assert not figures.epochs_are_updates([_curve(0, "budget", [2.0, 1.0], per_epoch=15)])


# ---------------------------------------------------------------------------------- loss vs ε
def _lr_points(**kw) -> data.LrPoints:
    base = dict(
        lr=np.array([1e-4, 1e-2, 1.0, 3.5, 49.9, 52.0, 82.0]),
        loss=np.array([2.4, 0.8, 0.06, 0.05, 1.6, 1e30, np.nan]),
        status=np.array(
            ["stalled", "budget", "budget", "budget", "converged", "diverged", "diverged"]
        ),
        metric="val_loss",
        smallest_diverged=52.0,
        stability_limit=1.06e3,
        stability_limit_init=1.71,
        loss_label="final validation cross-entropy (nats)",
    )
    return data.LrPoints(**{**base, **kw})


def test_loss_vs_lr_marks_the_ceiling_of_the_diverged_runs():
    fig = figures.loss_vs_lr(_lr_points())
    ax = fig.axes[0]
    labels = _labels(ax.get_legend())
    assert "diverged (2, drawn at the ceiling)" in labels
    ceiling = [t for t in labels if t.startswith("ceiling")]
    assert ceiling == ["ceiling 24 (10× the largest other loss): diverged runs drawn here"]
    diverged = [c for c in ax.collections if c.get_label().startswith("diverged")][0]
    assert diverged.get_offsets()[:, 1].tolist() == [24.0, 24.0]


def test_loss_vs_lr_names_a_far_stability_limit_at_the_edge_without_stretching_the_axis():
    p = _lr_points()
    fig = figures.loss_vs_lr(p)
    fig.canvas.draw()
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    assert hi <= 82.0 * 2.0 and lo >= 1e-4 / 2.0  # the trials' range, a margin each side
    (note,) = [t for t in ax.texts if "best converged" in t.get_text()]
    assert note.get_text() == "2/λ_max at best converged = 1.06e+03 →"
    box = note.get_window_extent()
    assert box.x1 <= ax.get_window_extent().x1 + 1  # at the right edge, inside the axes
    points = np.concatenate([c.get_offsets() for c in ax.collections if len(c.get_offsets())])
    assert not _inside(box, _display(ax, points[:, 0], points[:, 1])).any()
    labels = _labels(ax.get_legend())
    assert "2/λ_max at best converged = 1.06e+03 (off the axis)" in labels
    assert "2/λ_max at θ⁽⁰⁾ = 1.71" in labels  # inside the range: drawn as a line
    assert not any("θ⁽⁰⁾" in t.get_text() for t in ax.texts)


def test_loss_vs_lr_names_a_limit_below_the_trials_at_the_left_edge():
    ax = figures.loss_vs_lr(_lr_points(stability_limit=None, stability_limit_init=1e-7)).axes[0]
    (note,) = ax.texts
    assert (
        note.get_text() == "← 2/λ_max at θ⁽⁰⁾ = 1e-07" and note.get_horizontalalignment() == "left"
    )
    assert ax.get_xlim()[0] >= 1e-4 / 2.0


# -------------------------------------------------------------------------------- range test
def _range_curve():
    lr = np.geomspace(1e-6, 40.0, 200)
    loss = np.r_[np.geomspace(2.5, 0.008, 190), np.geomspace(0.02, 50.0, 10)]
    beta, avg, smoothed = 0.98, 0.0, []
    for i, e in enumerate(loss):
        avg = beta * avg + (1 - beta) * e
        smoothed.append(avg / (1 - beta ** (i + 1)))
    return lr, loss, np.array(smoothed)


def test_range_minima_reads_the_raw_and_the_lagging_smoothed_minimum():
    lr, loss, smoothed = _range_curve()
    m = data.range_minima(lr, loss, smoothed)
    assert m.lr_raw == lr[189] and m.loss_raw == pytest.approx(0.008)
    j = int(np.argmin(smoothed))
    assert j > 189 and m.lr_smoothed == lr[j] and m.loss_smoothed == smoothed[j]


def test_range_test_shows_the_raw_minimum_and_both_least_points():
    lr, loss, smoothed = _range_curve()
    marks = {"suggested": float(lr[int(np.argmin(smoothed))]) / 10, "blow-up": 40.0}
    fig = figures.range_test(lr, loss, smoothed, marks)
    fig.canvas.draw()
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    assert lo < 0.008 < hi and ax.get_yscale() == "log"  # the raw minimum is on the axis
    assert hi >= 2.5  # … and the start
    labels = _labels(ax.get_legend())
    assert any(t.startswith("least loss: E = 0.008 at ε = ") for t in labels)
    assert any(t.startswith("least smoothed loss: E = ") for t in labels)
    assert any(t.endswith("(a tenth of the least smoothed loss's ε)") for t in labels)


# ------------------------------------------------------------------------- setups and compare
def _setup(study="a", **kw) -> data.Setup:
    base = dict(
        study=study,
        dataset="digits",
        hidden=(32,),
        activation="tanh",
        loss="cross_entropy",
        method="minibatch",
        epochs=1000,
        batch_size="searched",
        lr="searched",
    )
    return data.Setup(**{**base, **kw})


@pytest.mark.parametrize(
    ("b", "words"),
    [
        (
            {"epochs": 200, "activation": "relu"},
            ["1000 epochs, mini-batch SGD, tanh", "200 epochs, mini-batch SGD, relu"],
        ),
        (
            {"method": "gd", "batch_size": None},
            [
                "1000 epochs, mini-batch SGD, batch size searched",
                "1000 epochs, full-batch GD, full batch",
            ],
        ),
        ({}, ["1000 epochs, mini-batch SGD"] * 2),
    ],
)
def test_setup_differences_give_the_budget_and_whatever_differs(b, words):
    assert data.setup_differences([_setup("a"), _setup("b", **b)]) == words


def test_compare_names_each_studys_budget_and_what_differs():
    p = _lr_points(stability_limit=None, stability_limit_init=None)
    pts = [p._replace(setup=_setup("tanh")), p._replace(setup=_setup("relu", epochs=200))]
    u = np.arange(5.0)
    best = [
        data.Curve(0, f"{n}: best ε=0.24 (#0)", "budget", u, u, np.geomspace(2, 0.1, 5), u)
        for n in ("tanh", "relu")
    ]
    fig = figures.compare(["tanh", "relu"], pts, best)
    assert fig._suptitle.get_text() == (
        "tanh: 1000 epochs, mini-batch SGD\nrelu: 200 epochs, mini-batch SGD"
    )
    assert _labels(fig.axes[1].get_legend()) == [
        "tanh (1000 epochs, mini-batch SGD): best ε=0.24 (#0)",
        "relu (200 epochs, mini-batch SGD): best ε=0.24 (#0)",
    ]


# -------------------------------------------------------------------------- paths and slices
@pytest.mark.parametrize(
    ("loss", "label"),
    [("mse", "E (½·mean squared error)"), ("cross_entropy", "E (cross-entropy, nats)")],
)
def test_paths_name_the_specs_loss(loss, label):
    a = np.linspace(0, 1, 5)
    arrays = {"alpha": a, "path_raw": a * (1 - a), "path_aligned": 0 * a}
    fig = figures.paths(arrays, _setup("geometry", loss=loss, method="gd", lr=0.3, epochs=3000))
    ax = fig.axes[0]
    assert ax.get_ylabel() == label
    assert ax.get_title().endswith("\ngeometry: full-batch GD, ε = 0.3, 3000 epochs")


def _slice_arrays(random_norm=4.0):
    s = np.linspace(-1, 1, 9)
    p = np.linspace(-1, 1, 5)
    rng = np.random.default_rng(0)
    d = rng.normal(size=(2, 10))
    d *= random_norm / np.linalg.norm(d, axis=1, keepdims=True)
    v = np.linalg.qr(rng.normal(size=(10, 2)))[0].T  # unit norm
    return {
        "slice_s": s,
        "slice_random": 1e-16 + 0.1 * (random_norm * s) ** 2,
        "slice_hessian": 1e-16 + 2.0 * s**2,
        "plane_s": p,
        "plane_random": 1e-16 + 0.1 * np.add.outer(p**2, p**2) + 0.01,
        "plane_hessian": 1e-16 + 2.0 * np.add.outer(p**2, p**2) + 0.01,
        "direction_random": d,
        "direction_hessian": v,
    }


def test_slices_compare_both_directions_at_one_length():
    arrays = _slice_arrays(random_norm=4.0)
    fig = figures.slices(arrays, _setup("geometry", method="gd", lr=0.3, epochs=3000))
    ax = fig.axes[0]
    rand, hess = ax.get_lines()
    # each curve against the distance s·‖d‖: the random one reaches ±4, the eigenvector ±1
    assert rand.get_xdata()[[0, -1]] == pytest.approx([-4.0, 4.0])
    assert hess.get_xdata()[[0, -1]] == pytest.approx([-1.0, 1.0])
    assert "distance" in ax.get_xlabel() and "s·‖d‖" in ax.get_xlabel()
    # at one distance (1) the two rises compare: 0.1 along the random one, 2 along the other
    at_one = np.interp(1.0, rand.get_xdata(), rand.get_ydata())
    assert at_one == pytest.approx(0.1, rel=0.05) and hess.get_ydata()[-1] == pytest.approx(2.0)
    assert _labels(ax.get_legend()) == [
        "filter-normalised random direction (‖d‖ = 4)",
        "top Hessian eigenvector (‖d‖ = 1)",
    ]
    assert fig._suptitle.get_text() == (
        "geometry: slices around minimum a (full-batch GD, ε = 0.3, 3000 epochs)"
    )
    assert fig.axes[1].get_xlim() == pytest.approx((-4.0, 4.0))  # the random plane, too


# --------------------------------------------------------------------------------- minima
def test_minima_overview_keeps_starts_and_classes_on_their_own_axes():
    m = data.MinimaData(
        kinds=["minimum", "at_infinity", "at_infinity"],
        loss=np.array([1e-32, 1e-5, 2e-5]),
        share=np.array([0.5, 0.3, 0.2]),
        copies=np.array([3, 1, 1]),
        dimension=np.array([0, 0, 0]),
        spectra=[np.zeros(0)] * 3,
        n_starts=32,
        kind_counts={"minimum": 16, "at_infinity": 16},
        distinct_minima=1,
        families=0,
        chao1=2.5,
    )
    fig = figures.minima_overview(m)
    starts, classes = fig.axes[2], fig.axes[3]
    assert starts.get_ylabel() == "starts (of 32)"
    assert [b.get_height() for b in starts.patches] == [16, 0, 16, 0, 0]
    assert classes.get_ylabel() == "classes modulo symmetry"
    assert [b.get_height() for b in classes.patches] == [1, 0]
    (chao1,) = [c for c in classes.collections if c.get_label().startswith("Chao1")]
    assert chao1.get_segments()[0][:, 1].tolist() == [2.5, 2.5]
    assert classes.get_ylim()[1] > 2.5  # the estimate is on the axis
