import io
import json
import os
import re
import threading
import urllib.request
from wsgiref.simple_server import WSGIRequestHandler, make_server

import numpy as np
import optuna
import pytest
from browser import dump_dom
from fast import FAST
from optuna.artifacts import FileSystemArtifactStore, get_all_artifact_meta

from landscape.analysis import KINDS as REGISTRY
from landscape.report import data, figures
from landscape.report.page import FigureEntry, Table, markdown_note, render
from landscape.report.write import safe_dirname
from landscape.runs import records
from landscape.study import main

# every test of this module on one worker: the fixture of stored studies is built once
pytestmark = pytest.mark.xdist_group("report")


AXIS_SMALL = [  # the noise axis in miniature: two batch sizes, three step sizes, one horizon
    "--set",
    "analysis.batches=[1, 8]",
    "--set",
    "analysis.n_starts=6",
    "--set",
    "analysis.chains=3",
    "--set",
    "analysis.horizons=[100]",
    "--set",
    "analysis.grid_points=3",
    "--set",
    "analysis.div_updates=100",
    "--set",
    "analysis.div_chains=3",
    "--set",
    "analysis.basin_steps=500",
    "--no-progress",
]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A folder holding one stored study of every kind, each with its report."""
    folder = tmp_path_factory.mktemp("stored")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        runs = [
            ["lr_search", "--n-trials", "6", *FAST, "--set", "study.track_sharpness=10"],
            ["batch_search", "--n-trials", "6", *FAST],
            ["schedule_search", "--n-trials", "8", *FAST],
            [
                "minima",
                "--set",
                "analysis.n_starts=6",
                "--set",
                "analysis.chunk=3",
                "--set",
                "trainer.epochs=300",
                "--set",
                "data.options.n_samples=80",
                "--set",
                "analysis.polish_iter=500",
                "--set",
                "analysis.continue_steps=40",
                "--no-progress",
            ],
            ["symmetry", "--set", "trainer.epochs=30", "--set", "analysis.gd_steps=10"],
            ["geometry", "--set", "trainer.epochs=200", "--set", "analysis.slice_points=9"],
            ["escape", *AXIS_SMALL, "--set", "data.options.n_samples=60"],
            ["schedule_convergence", "--set", "trainer.epochs=40", "--no-progress"],
            ["spurious", *AXIS_SMALL, "--set", 'analysis.sizes=["7:7"]'],
        ]
        for argv in runs:
            assert main(argv) == 0, argv
    finally:
        os.chdir(cwd)
    return folder


STORAGE = "sqlite:///{}/studies/landscape.db"
KINDS = {
    "lr_search": ["loss_vs_lr.png", "curves_updates.png", "history.png", "sharpness.png"],
    "batch_search": ["batch_map.png", "loss_vs_lr.png", "curves_epochs.png", "curves_updates.png"],
    "schedule_search": ["schedules.png"],
    "minima": ["minima.png", "spectra.png"],
    "symmetry": [],
    "geometry": ["paths.png", "slices.png"],
    "escape": ["escape.png"],
    "schedule_convergence": ["convergence.png"],
    "spurious": ["spurious.png"],
}


@pytest.mark.parametrize("name", list(KINDS))
def test_report_written_for_every_kind_with_its_figures(stored, name):
    index = stored / "reports" / name / "index.html"
    page = index.read_text()
    for png in KINDS[name]:
        assert (index.parent / png).stat().st_size > 5000
        assert f'src="{png}"' in page
    for src in re.findall(r'<img src="([^"]+)"', page):
        assert (index.parent / src).is_file()
    assert "http://" not in page and "https://" not in page  # works offline
    assert "<h2>Spec</h2>" in page


def test_full_batch_report_draws_its_curves_against_updates_only(stored):
    # full-batch GD: an epoch is one update, so curves against epochs would repeat them
    folder = stored / "reports" / "lr_search"
    assert not (folder / "curves_epochs.png").exists()
    assert "curves_epochs" not in (folder / "index.html").read_text()


def test_report_command_rewrites_from_storage_alone(stored, capsys, monkeypatch):
    monkeypatch.chdir(stored)
    out = stored / "again"
    assert main(["report", "lr_search", "--out", str(out), "--no-publish"]) == 0
    assert capsys.readouterr().out.strip() == str(out / "lr_search" / "index.html")
    assert (out / "lr_search" / "loss_vs_lr.png").is_file()
    assert main(["report", "nope"]) == 2
    assert (
        "study 'nope' is not in sqlite:///studies/landscape.db; known:" in capsys.readouterr().err
    )


def _store(stored):
    return FileSystemArtifactStore(str(stored / "studies" / "artifacts"))


def test_report_data_matches_the_trials(stored):
    study = optuna.load_study(study_name="lr_search", storage=STORAGE.format(stored))
    pts = data.lr_points(study, _store(stored))
    trials = data.finished(study)
    assert len(pts.lr) == len(trials) == 6
    by_number = {t.number: t for t in trials}
    t0 = trials[0]
    assert pts.lr[0] == t0.user_attrs["lr"] and pts.status[0] == t0.user_attrs["status"]
    if t0.state == optuna.trial.TrialState.COMPLETE:
        assert pts.loss[0] == pytest.approx(t0.value)
    # 30 epochs: no trial converges, so no λ_max at a solution is stored (a budget-ended
    # run's λ_max is an artefact of the budget); λ_max at θ⁽⁰⁾ is
    assert not any(t.user_attrs["status"] == "converged" for t in trials)
    assert "lambda_max" not in study.user_attrs and pts.stability_limit is None
    lam0 = study.user_attrs["lambda_max_init"]
    assert pts.stability_limit_init == pytest.approx(2 / lam0)
    curves = data.learning_curves(study, _store(stored), n=3)
    assert 1 <= len(curves) <= 3
    c = curves[0]
    # the curve is the trial's artifact, not a user attr
    assert "history" not in by_number[c.number].user_attrs
    meta = {
        m.filename: m for m in get_all_artifact_meta(by_number[c.number], storage=study._storage)
    }
    with _store(stored).open_reader(meta["history.json"].artifact_id) as fh:
        h = json.load(fh)
    assert c.epoch.tolist() == h["epoch"] and c.loss[-1] == pytest.approx(h["loss"][-1], rel=0)
    assert meta["history.json"].mimetype == "application/json"


def test_studies_name_their_value_and_figures_name_their_loss(stored):
    expected = {
        "lr_search": "val_loss",
        "minima": "lowest polished loss of the chunk",
        "spurious": "GD's share of runs in spurious basins",
        "symmetry": "largest deviation under the symmetry",
    }
    for name, value in expected.items():
        study = optuna.load_study(study_name=name, storage=STORAGE.format(stored))
        assert study.metric_names == [value]  # the dashboard shows it, not "Objective 0"
    study = optuna.load_study(study_name="lr_search", storage=STORAGE.format(stored))
    assert data.loss_label(study) == "final validation cross-entropy (nats)"
    fig = figures.optuna_history(study, data.loss_label(study))
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_ylabel().startswith("final validation")
    assert ax.get_facecolor()[:3] == (1.0, 1.0, 1.0)  # not ggplot's grey
    # one searched parameter: no importances plot (it would read 1.00 trivially)
    assert not (stored / "reports" / "lr_search" / "importances.png").exists()
    assert (stored / "reports" / "batch_search" / "importances.png").exists()


def test_figures_colour_by_status_and_put_updates_on_a_log_axis():
    def curve(i, status, loss):
        n = len(loss)
        return data.Curve(
            i,
            f"#{i}",
            status,
            np.arange(n, dtype=float),
            np.arange(n, dtype=float),
            np.array(loss),
            np.full(n, np.nan),
        )

    curves = [
        curve(0, "diverged", [1.0, 3.0, 9.0]),
        curve(1, "budget", [1.0, 0.5, 0.2]),
        curve(2, "budget", [1.0, 0.7, 0.6]),
    ]
    ax = figures.learning_curves(curves, x="updates").axes[0]
    lines = ax.get_lines()
    assert ax.get_xscale() == "log" and lines[0].get_xdata()[0] == 1.0  # θ⁽⁰⁾ at t + 1 = 1
    assert lines[0].get_color() == figures.STATUS_COLOURS["diverged"]
    assert lines[1].get_color() == lines[2].get_color() == figures.STATUS_COLOURS["budget"]
    assert lines[1].get_linestyle() != lines[2].get_linestyle()
    assert "#F0E442" not in figures.OKABE_ITO  # the faint yellow is gone
    pts = data.LrPoints(
        np.array([0.1, 1.0]),
        np.array([0.5, 0.3]),
        np.array(["budget", "pruned"]),
        "train_loss",
        None,
        None,
        None,
        "final training loss ½·mean squared error",
    )
    ax = figures.loss_vs_lr(pts).axes[0]
    assert ax.get_title() == "Final loss against ε (no run diverged)"
    assert ax.get_ylabel() == "final training loss ½·mean squared error"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "pruned (1, value at pruning)" in labels


def test_figures_know_each_studys_setup_from_its_spec(stored):
    batch = optuna.load_study(study_name="batch_search", storage=STORAGE.format(stored))
    assert data.lr_points(batch, _store(stored)).setup == data.Setup(
        "batch_search",
        "moons",
        (4,),
        "tanh",
        "cross_entropy",
        "minibatch",
        30,
        "searched",
        "searched",
    )
    geo = optuna.load_study(study_name="geometry", storage=STORAGE.format(stored))
    assert data.setup(geo) == data.Setup(
        "geometry", "teacher", (4,), "tanh", "mse", "gd", 200, None, 0.3
    )


def test_loss_vs_lr_encodes_what_else_the_search_varies(stored):
    batch = optuna.load_study(study_name="batch_search", storage=STORAGE.format(stored))
    pts = data.lr_points(batch, _store(stored))
    trials = data.finished(batch)
    assert pts.group_name == "batch size"
    assert pts.group.tolist() == [float(t.user_attrs["batch_size"]) for t in trials]
    ax = figures.loss_vs_lr(pts).axes[0]
    areas = np.concatenate([c.get_sizes() for c in ax.collections if len(c.get_offsets())])
    expected = 10.0 + 9.0 * np.log2(pts.group[np.isin(pts.status, list(figures.STATUS_MARKERS))])
    assert sorted(areas.tolist()) == pytest.approx(sorted(expected.tolist()))
    assert any(t.get_text().startswith("batch size") for t in ax.get_legend().get_texts())
    sched = optuna.load_study(study_name="schedule_search", storage=STORAGE.format(stored))
    pts = data.lr_points(sched, _store(stored))
    assert pts.group_name == "schedule"
    assert set(pts.group) <= {"constant", "linear", "inverse_time", "step", "exponential", "cosine"}
    labels = [t.get_text() for t in figures.loss_vs_lr(pts).axes[0].get_legend().get_texts()]
    assert {f"schedule {g}" for g in pts.group} <= set(labels)
    lr = optuna.load_study(study_name="lr_search", storage=STORAGE.format(stored))
    assert data.lr_points(lr, _store(stored)).group is None


def test_noise_axis_figures_and_slices_show_what_they_claim(stored):
    store = FileSystemArtifactStore(str(stored / "studies" / "artifacts"))
    for kind in ("escape", "spurious"):
        study = optuna.load_study(study_name=kind, storage=STORAGE.format(stored))
        rep = records.result_of(study, REGISTRY[kind], store)
        d = data.axis_data(rep)
        # one line per batch size (one horizon), three step sizes each, by ε/ε_div
        assert [(line.batch, line.horizon, len(line.x)) for line in d.lines] == [
            (1, 100, 3),
            (8, 100, 3),
        ]
        for line in d.lines:
            assert np.all(np.diff(line.x) > 0) and line.x[-1] == pytest.approx(0.95)
            cells = [c for c in rep.cells if c.batch == line.batch]
            np.testing.assert_allclose(line.reduction, [c.reduction for c in cells])
            assert line.verdict.tolist() == [c.verdict for c in cells]
        # the map holds every cell of the longest horizon at its noise scale ε/B
        assert sorted(d.map_eps_over_b) == sorted(c.eps / c.batch for c in rep.cells)
        fig = figures.noise_axis(d)
        assert len(fig.axes) == 3 * len(d.sizes)
        assert fig.axes[0].get_xscale() == "log" and fig.axes[2].get_xlabel() == "noise scale ε/B"
    geo = optuna.load_study(study_name="geometry", storage=STORAGE.format(stored))
    arrays = data.artifact_arrays(geo, store, "geometry.npz", geo.best_trial)
    ax = figures.slices(arrays).axes[0]
    for line in ax.get_lines():
        y = line.get_ydata()
        assert y[len(y) // 2] == 0.0 and y.min() >= -1e-12  # E − E*: zero at the minimum
    assert ax.get_yscale() == "linear"


def test_report_page_escapes_user_strings():
    evil = '<script>alert("x")</script>'
    page = render(
        study_name=evil,
        kind="search",
        description=evil,
        storage=evil,
        summary=[(evil, evil)],
        tables=[Table(evil, [evil], [[evil]])],
        figures=[FigureEntry('a".png', evil, evil)],
        spec={"data": {"name": evil}},
    )
    assert evil not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert 'src="a&quot;.png"' in page
    assert safe_dirname("../x y/<z>") == "_x_y__z_"


def test_report_markdown_note():
    note = markdown_note("s", [("best ε", 0.123456789), ("a|b", "c")], [("fig", "/artifacts/1/ab")])
    assert "| best ε | 0.123457 |" in note and "| a\\|b | c |" in note
    assert "![fig](/artifacts/1/ab)" in note


@pytest.mark.parametrize("name", ["lr_search", "minima", "geometry"])
def test_report_renders_in_headless_chromium(stored, tmp_path, name):
    index = stored / "reports" / name / "index.html"
    run = dump_dom(index.as_uri(), tmp_path / "profile")
    body = re.search(r"<body([^>]*)>", run.stdout)
    assert body is not None, run.stderr[-2000:]
    images = int(re.search(r'data-images="(\d+)"', body.group(1)).group(1))
    loaded = int(re.search(r'data-images-loaded="(\d+)"', body.group(1)).group(1))
    assert images == loaded >= 2
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def test_dashboard_serves_study_attrs_note_and_artifacts(stored):
    from optuna_dashboard import wsgi

    storage = optuna.storages.RDBStorage(STORAGE.format(stored))
    app = wsgi(
        storage, artifact_store=FileSystemArtifactStore(str(stored / "studies" / "artifacts"))
    )
    server = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:

        def get(path):
            with urllib.request.urlopen(base + path, timeout=30) as r:
                return r.status, r.read()

        _, body = get("/api/studies")
        studies = {s["study_name"]: s["study_id"] for s in json.loads(body)["study_summaries"]}
        assert {"lr_search", "minima", "escape"} <= set(studies)
        _, body = get(f"/api/studies/{studies['lr_search']}")
        detail = json.loads(body)
        trial = detail["trials"][0]
        attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
        assert {"status", "lr", "epochs", "updates", "val_loss", "wall_time", "seed"} <= set(attrs)
        assert any(t["intermediate_values"] for t in detail["trials"])
        assert detail["objective_names"] == ["val_loss"]  # not "Objective 0"
        note = detail["note"]["body"]
        assert "landscape report: lr_search" in note and "Final loss against" in note
        _, body = get(f"/api/studies/{studies['symmetry']}")
        sym = json.loads(body)
        assert sym["objective_names"] == ["largest deviation under the symmetry"]
        # the symmetry note carries the checks and the counts, not only the network
        for text in ("every check within 1e-10 | yes", "pair swaps tried", "unit permutations"):
            assert text in sym["note"]["body"], sym["note"]["body"]
        pngs = [a for a in detail["artifacts"] if a["filename"].endswith(".png")]
        assert pngs, detail["artifacts"]
        url = re.search(r"\((/artifacts/\d+/[0-9a-f-]+)\)", note).group(1)
        status, png = get(url)
        assert status == 200 and png[:8] == b"\x89PNG\r\n\x1a\n"
        # every study: named values, a note, its spec as a readable TOML artifact, short attrs
        for name, study_id in studies.items():
            _, body = get(f"/api/studies/{study_id}")
            d = json.loads(body)
            assert d["objective_names"] and d["objective_names"] != ["Objective 0"], name
            assert d["note"]["body"].startswith(f"## landscape report: {name}"), name
            (spec,) = [a for a in d["artifacts"] if a["filename"] == "spec.toml"]
            _, text = get(f"/artifacts/{study_id}/{spec['artifact_id']}")
            assert text.decode().startswith(f"# resolved spec {name!r}"), name
            assert len(json.dumps(d["user_attrs"])) < 6000, (name, d["user_attrs"])
        # a search trial's learning curve (JSON) and θ (npz) are its artifacts
        trial = detail["trials"][-1]
        arts = {a["filename"]: a["artifact_id"] for a in trial["artifacts"]}
        _, body = get(
            f"/artifacts/{studies['lr_search']}/{trial['trial_id']}/{arts['history.json']}"
        )
        history = json.loads(body)
        assert history["epoch"][0] == 0 and len(history["loss"]) == len(history["epoch"])
        _, body = get(f"/artifacts/{studies['lr_search']}/{trial['trial_id']}/{arts['theta.npz']}")
        with np.load(io.BytesIO(body)) as z:
            assert z["theta"].shape == z["theta0"].shape and z["theta"].ndim == 1
        # escape's and spurious's units are named categories, not indices
        _, body = get(f"/api/studies/{studies['escape']}")
        units = {t["params"][0]["param_internal_value"] for t in json.loads(body)["trials"]}
        names = {t["params"][0]["param_external_value"] for t in json.loads(body)["trials"]}
        assert names == {"B=1", "B=8"} and units == {0, 1}
    finally:
        server.shutdown()
        server.server_close()


def test_figures_keep_a_run_that_diverged_to_1e287_from_crushing_the_axes():
    p = data.LrPoints(
        lr=np.array([0.01, 0.1, 1.0, 10.0]),
        loss=np.array([0.5, 0.1, 6.4e286, np.nan]),
        status=np.array(["budget", "converged", "diverged", "diverged"]),
        metric="val_loss",
        smallest_diverged=1.0,
        stability_limit=None,
        stability_limit_init=None,
    )
    for fig in (figures.loss_vs_lr(p), figures.compare(["a", "b"], [p, p], [None, None])):
        fig.canvas.draw()  # ticks are computed here: a 1e287 limit overflowed them
        ax = fig.axes[0]
        assert ax.get_ylim()[1] < 1e3
        ys = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections if len(c.get_offsets())])
        assert ys.max() == pytest.approx(5.0)  # diverged runs at 10 × the largest other loss
    epoch = np.arange(5.0)
    calm = data.Curve(0, "a", "converged", epoch, epoch, np.geomspace(1, 1e-3, 5), epoch)
    wild = data.Curve(
        1, "b", "diverged", epoch, epoch, np.array([1, 10, 1e50, 1e287, np.nan]), epoch
    )
    fig = figures.learning_curves([calm, wild])
    fig.canvas.draw()
    lo, hi = fig.axes[0].get_ylim()
    assert hi == pytest.approx(100.0) and lo == pytest.approx(5e-4)
