import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from fast import FAST, QUICK
from optuna.artifacts import FileSystemArtifactStore

from landscape.analysis import KINDS
from landscape.runs import records
from landscape.runs.storage import ArtifactStore
from landscape.study import main

ROOT = Path(__file__).resolve().parents[1]


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_cli_runs_lr_search_into_default_sqlite(workdir, capsys):
    assert main(["lr_search", "--n-trials", "4", *FAST]) == 0
    out = capsys.readouterr().out
    assert "study 'lr_search' in sqlite:///studies/landscape.db: 4 trials added" in out
    assert "ε regimes of the completed trials, by increasing ε:" in out and "best: trial" in out
    assert "optuna-dashboard sqlite:///studies/landscape.db" in out
    study = optuna.load_study(study_name="lr_search", storage="sqlite:///studies/landscape.db")
    assert len(study.trials) == 4
    assert all("status" in t.user_attrs for t in study.trials)
    # the resolved spec: a readable TOML artifact that runs as a spec file; short user attrs
    from landscape.spec import parse_spec

    attrs = study.user_attrs
    assert set(attrs) >= {"spec_name", "spec_hash"} and "spec" not in attrs
    assert len(json.dumps(attrs)) < 400, attrs
    assert records.spec_of(study)["data"]["name"] == "moons"
    assert records.search_space(study)[0]["name"] == "lr"
    (spec_id,) = records.study_artifacts(study._storage, "lr_search", "application/toml").values()
    with FileSystemArtifactStore("studies/artifacts").open_reader(spec_id) as fh:
        text = fh.read().decode()
    assert "ε" in text and "\\u03b5" not in text
    again = parse_spec("lr_search", text, [])
    assert again.to_dict() == records.spec_of(study)
    assert attrs["spec_hash"] == records.spec_hash(again.to_dict())


def test_cli_json_summary(workdir, capsys):
    # gtol = 10: every trial converges, so λ_max is taken at the best converged solution
    converge = ["--set", "trainer.gtol=10"]
    assert main(["lr_search", "--n-trials", "3", "--json", *FAST, *converge]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["trials_added"] == 3 and out["metric"] == "val_loss"
    s = out["summary"]
    assert s["n_trials"] == 3 and s["best"]["lr"] > 0
    assert s["best_converged"] == s["best"] and s["status_counts"] == {"converged": 3}
    assert s["lambda_max"] > 0 and s["stability_limit"] == pytest.approx(2 / s["lambda_max"])
    assert s["lambda_max_init"] > 0


def test_cli_resume_adds_new_trials(workdir, capsys):
    args = ["lr_search", "--n-trials", "3", "--storage", "r.db", *FAST]
    assert main(args) == 0
    assert main(args) == 0
    study = optuna.load_study(study_name="lr_search", storage="sqlite:///r.db")
    lrs = [t.params["lr"] for t in study.trials]
    assert len(lrs) == 6 and len(set(lrs)) == 6
    assert "3 trials added (6 in all)" in capsys.readouterr().out


def test_cli_same_seed_from_scratch_is_identical(workdir, capsys):
    def run(db):
        assert (
            main(
                [
                    "lr_search",
                    "--n-trials",
                    "5",
                    "--storage",
                    db,
                    "--seed",
                    "3",
                    *FAST,
                    "--set",
                    "trainer.eval_every=1",
                ]
            )
            == 0
        )
        st = optuna.load_study(study_name="lr_search", storage=f"sqlite:///{db}")
        return [(t.params, t.value, t.state, t.user_attrs["status"]) for t in st.trials]

    env = {"OPENBLAS_NUM_THREADS": "1"}
    os.environ.update(env)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        assert run("a.db") == run("b.db")


def test_cli_list(workdir, capsys):
    assert main(["list"]) == 0
    assert "no studies in sqlite:///studies/landscape.db" in capsys.readouterr().out
    assert not (workdir / "studies").exists()
    # a storage named on the command line that does not exist is a mistake, not an empty list
    assert main(["list", "--storage", "studies/landscape.db"]) == 2
    assert not (workdir / "studies").exists()
    main(["lr_search", "--n-trials", "2", *FAST])
    capsys.readouterr()
    assert main(["list"]) == 0
    assert "lr_search" in capsys.readouterr().out
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["studies"]
    assert rows[0]["study"] == "lr_search" and rows[0]["trials"] == 2
    assert rows[0]["kind"] == "search"
    # an analysis lists what it found, not the value of its last unit of work
    main(["symmetry", "--set", "trainer.epochs=20", "--set", "analysis.gd_steps=5", "--no-report"])
    capsys.readouterr()
    assert main(["list"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "symmetry" in x)
    assert "symmetry: largest deviation under the symmetry = " in line


def test_console_script_help_names_itself():
    import shutil

    exe = shutil.which("landscape")
    assert exe, "the landscape console script is installed with the package"
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60).stdout
    assert out.startswith("usage: landscape NAME [options]")


def test_the_package_names_load_lazily_and_train_is_the_function():
    # the submodule landscape.train imported first (as the study runner does) must not shadow
    # the function that `from landscape import train` gives
    probe = (
        "import landscape.train, landscape.data, sys\n"
        "assert 'sklearn' not in sys.modules\n"
        "from landscape import MLP, load_dataset, train, run_study\n"
        "import landscape\n"
        "assert callable(train) and train is landscape.train and train.__name__ == 'train'\n"
        "assert sorted(landscape.__all__) == landscape.__all__ and 'run_study' in dir(landscape)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr[-1000:]


@pytest.mark.parametrize("args", [["--help"], ["lr_search", "--help"], ["list"]])
def test_commands_that_load_no_data_do_not_import_scikit_learn(args, tmp_path):
    # --help and list must start in about the time `import optuna` takes (bench_startup):
    # scikit-learn alone took 11.5 s of an 18.7 s --help on a loaded machine
    probe = (
        "import sys\n"
        "from landscape.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "finally:  # a subcommand's --help exits from argparse\n"
        "    print(sorted(m for m in ('sklearn', 'matplotlib', 'jax') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr[-500:]


def test_module_help_names_python_m(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/somewhere/landscape/study.py"])
    assert main(["--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: python -m landscape.study NAME")


def test_cli_journal_storage(workdir, capsys):
    assert main(["lr_search", "--n-trials", "2", "--storage", "j.log", *FAST]) == 0
    assert (workdir / "j.log").stat().st_size > 0
    assert "journal:j.log" in capsys.readouterr().out


def test_cli_jobs_split_trials_between_processes(workdir, capsys):
    assert main(["lr_search", "--n-trials", "4", "--jobs", "2", "--storage", "w.db", *FAST]) == 0
    study = optuna.load_study(study_name="lr_search", storage="sqlite:///w.db")
    assert len(study.trials) == 4
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]


def _snapshot(folder):
    """Every file's bytes; an SQLite database by its content (a read may checkpoint its WAL
    into the file or touch its -shm index, which changes bytes but not data)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.name.endswith(("-shm", "-wal")):
            continue
        data = p.read_bytes()
        if data.startswith(b"SQLite format 3\x00"):
            con = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
            try:
                out[p] = list(con.iterdump())
            except sqlite3.DatabaseError:
                out[p] = data  # a corrupt file stays compared by its bytes
            finally:
                con.close()
        else:
            out[p] = data
    return out


def _prepare_not_optuna(folder):
    con = sqlite3.connect(folder / "other.db")
    con.execute("CREATE TABLE measurements (x REAL)")
    con.commit()
    con.close()


def _prepare_existing(folder):
    assert main(["lr_search", "--n-trials", "1", "--storage", "s.db", *FAST]) == 0


BAD = [
    (["no_such_spec"], None, "spec 'no_such_spec' is unknown; known: batch_search, escape"),
    (
        ["lr_search", "--set", "data.name=mnist"],
        None,
        "data.name='mnist' is unknown; allowed: moons",
    ),
    (["lr_search", "--set", "search.lr.low=0"], None, "search.lr.low=0.0 must be > 0 on a log"),
    (
        ["lr_search", "--set", "search.lr.low=5", "--set", "search.lr.high=1"],
        None,
        "low=5.0 > high=1.0",
    ),
    (
        ["batch_search", "--set", "search.batch_size.high=100000"],
        None,
        r"batch sizes up to 100000 are outside [1, N=",
    ),
    (["lr_search", "--n-trials", "0"], None, "study.n_trials=0 must be an integer >= 1"),
    (["lr_search", "--n-trials", "x"], None, "argument --n-trials: invalid int value: 'x'"),
    (["lr_search", "--jobs", "0"], None, "--jobs=0 must be >= 1"),
    (["lr_search", "--set", "trainer.epochz=3"], None, "'epochz' is not a field of trainer"),
    (
        ["lr_search", "--set", "trainer.epochs=many"],
        None,
        "trainer.epochs='many' has the wrong type; expected int",
    ),
    (
        ["lr_search", "--storage", "sqlite:///missing/dir/x.db"],
        None,
        "folder 'missing/dir' does not exist",
    ),
    (["lr_search", "--storage", "/sys/landscape.db"], None, "cannot create files in '/sys'"),
    (
        ["lr_search", "--storage", "notes.db"],
        lambda f: (f / "notes.db").write_text("hello"),
        "'notes.db' is not an SQLite database",
    ),
    (
        ["lr_search", "--storage", "corrupt.db"],
        lambda f: (f / "corrupt.db").write_bytes(b"SQLite format 3\x00" + b"\x07" * 4000),
        "'corrupt.db' is corrupt",
    ),
    (
        ["lr_search", "--storage", "other.db"],
        _prepare_not_optuna,
        "'other.db' is an SQLite database but not an Optuna storage",
    ),
    (
        ["lr_search", "--storage", "postgresql://u:pw@127.0.0.1/db"],
        None,
        "storage postgresql://u:***@127.0.0.1/db needs the psycopg2 driver",
    ),
    (
        ["lr_search", "--storage", "s.db", "--set", "study.metric=val_accuracy"],
        _prepare_existing,
        "was made with another setup: study.metric ('val_loss' → 'val_accuracy')",
    ),
    (
        ["lr_search", "--storage", "s.db", "--set", "search.lr.high=10"],
        _prepare_existing,
        "was made with another setup: search.lr.high (100.0 → 10.0)",
    ),
    (["lr_search", "--storage", "nowhere"], None, "storage 'nowhere' is not a URL"),
    (
        ["latin1.toml"],
        lambda f: (f / "latin1.toml").write_bytes(b"description = 'caf\xe9'\n"),
        "spec file 'latin1.toml' is not UTF-8 text (byte 0xe9 at offset 18)",
    ),
    (
        ["batch_search", "--set", "search.batch_size.high=abc"],
        None,
        "search.batch_size.high='abc' must be 'N' or an integer >= low=1",
    ),
    (["lr_search", "--grace", "inf"], None, "--grace=inf must be a finite number > 0"),
    (["lr_search", "--grace", "nan"], None, "--grace=nan must be a finite number > 0"),
    (["lr_search", "--timeout", "inf"], None, "--timeout=inf must be a finite number > 0"),
    (["lr_search", "--set", "study.timeout=inf"], None, "study.timeout=inf must be a finite"),
    (["lr_search", "--set", "search.lr.low=-inf"], None, "search.lr.low=-inf must be a finite"),
    (
        ["lr_search", "--study-name", "x" * 5000],
        None,
        "--study-name of 5000 characters is too long; at most 512",
    ),
    (
        ["lr_search", "--set", "search.lr.target=trainer.epochs"],
        None,
        'search.lr: a float search cannot set trainer.epochs, which holds int; use type = "int"',
    ),
    (
        ["lr_search", "--set", "search.lr.log=false", "--set", "search.lr.step=0"],
        None,
        "search.lr.step=0.0 must be > 0",
    ),
    (
        ["lr_search", "--set", "search.lr.target=model.activation"],
        None,
        "a float search cannot set model.activation, which holds str",
    ),
    (
        ["schedule_search", "--set", 'search."step.gamma".high=3'],
        None,
        "search.step.gamma=3.0 makes a trial invalid: trainer.schedule_params: gamma=3.0",
    ),
    (
        ["lr_search", "--set", "trainer.lr=0.1"],
        None,
        "--set trainer.lr=0.1: trainer.lr is searched (search.lr) and every trial would overwrite "
        "it; narrow the search instead: --set search.lr.low=0.1 --set search.lr.high=0.1",
    ),
    (
        ["batch_search", "--set", "trainer.batch_size=8"],
        None,
        "trainer.batch_size is searched (search.batch_size)",
    ),
    (
        ["schedule_search", "--set", "search.linear.tau.low=5"],
        None,
        'quote a NAME that holds a dot: search."linear.tau".low=100',
    ),
]


@pytest.mark.parametrize(("argv", "prepare", "message"), BAD, ids=[m[:40] for _, _, m in BAD])
def test_cli_bad_input_exits_2_in_one_line_and_writes_nothing(
    workdir, capsys, argv, prepare, message
):
    if prepare is not None:
        prepare(workdir)
        capsys.readouterr()
    before = _snapshot(workdir)
    # the case's own arguments come last, so they win over the fast defaults
    code = main([argv[0], *FAST, "--n-trials", "1", *argv[1:]])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith("landscape: error: ")
    assert message in err, err
    assert _snapshot(workdir) == before
    if prepare is _prepare_not_optuna:
        con = sqlite3.connect(workdir / "other.db")
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
        con.close()
        assert tables == {"measurements"}


def test_cli_dotted_search_name_can_be_set_when_quoted(workdir, capsys):
    assert (
        main(
            [
                "schedule_search",
                *FAST,
                "--n-trials",
                "2",
                "--set",
                "study.metric=train_loss",
                "--set",
                'search."linear.tau".low=7',
                "--set",
                'search."linear.tau".high=9',
                "--no-report",
                "--json",
            ]
        )
        == 0
    )
    study = optuna.load_study(
        study_name="schedule_search", storage="sqlite:///studies/landscape.db"
    )
    space = {p["name"]: p for p in records.search_space(study)}
    assert (space["linear.tau"]["low"], space["linear.tau"]["high"]) == (7, 9)


def test_cli_dashboard_busy_port_is_one_line(workdir, capsys):
    import socket

    assert main(["lr_search", *FAST, "--n-trials", "1", "--no-report"]) == 0
    capsys.readouterr()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["dashboard", "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"landscape: error: --port={port}: 127.0.0.1:{port} cannot be bound "
        "(Address already in use); choose another port"
    )


def test_cli_closed_stdout_pipe_is_quiet(workdir):
    assert main(["lr_search", *FAST, "--n-trials", "1", "--no-report"]) == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "landscape.study", "list", "--json"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # like `| head` that has read enough
    err = proc.stderr.read()
    proc.wait(timeout=60)
    assert err == b"" and proc.returncode == 141


def test_cli_password_never_printed(workdir, capsys):
    code = main(["lr_search", "--storage", "postgresql://alice:s3cret@127.0.0.1:1/db", *FAST])
    captured = capsys.readouterr()
    assert code == 2 and "s3cret" not in captured.err + captured.out


def test_cli_help_everywhere(capsys):
    assert main(["--help"]) == 0
    assert "lr_search" in capsys.readouterr().out
    for argv in (["lr_search", "--help"], ["list", "--help"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
        assert "--storage" in capsys.readouterr().out


def test_cli_real_process_exit_codes(tmp_path):
    bad = subprocess.run(
        [sys.executable, "-m", "landscape.study", "lr_search", "--n-trials", "-1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip() == "landscape: error: study.n_trials=-1 must be an integer >= 1"
    assert list(tmp_path.iterdir()) == []
    ok = subprocess.run(
        [sys.executable, "-m", "landscape.study", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and "lr_search" in ok.stdout


def test_cli_two_processes_create_one_new_sqlite_file_at_once(tmp_path):
    args = [
        sys.executable,
        "-m",
        "landscape.study",
        "lr_search",
        "--storage",
        "both.db",
        "--n-trials",
        "1",
        *FAST,
    ]
    procs = [
        subprocess.Popen(
            [*args, "--study-name", name],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("first", "second")
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    names = sorted(
        s.study_name for s in optuna.get_all_study_summaries(f"sqlite:///{tmp_path / 'both.db'}")
    )
    assert names == ["first", "second"]


MINIMA_FAST = [
    "--set",
    "analysis.n_starts=8",
    "--set",
    "analysis.chunk=4",
    "--set",
    "trainer.epochs=300",
    "--set",
    "data.options.n_samples=80",
    "--set",
    "analysis.polish_iter=500",
    "--set",
    "analysis.continue_steps=40",
    "--no-progress",
]


def test_cli_minima_stores_chunks_as_artifacts_and_reports(workdir, capsys):
    assert main(["minima", *MINIMA_FAST, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["chunks"], out["chunks_complete"]) == (2, 2)
    rep = out["minima"]
    assert rep["n_starts"] == 8 and sum(rep["kind_counts"].values()) == 8
    assert rep["distinct_points"] >= rep["distinct_minima"]
    assert out["group_counts"]["with_signs"] == "384"
    assert out["group_counts"]["continuous"] == "0"
    # every class with its kind and evidence, and its θ in the model's flat layout (D = 17)
    classes = rep["classes"]
    keys = {"kind", "loss", "count", "copies", "dimension", "n_flat", "grad_norm", "representative"}
    assert classes and all(keys <= set(c) for c in classes)
    assert {c["kind"] for c in classes} <= {"minimum", "family", "at_infinity", "saddle"}
    assert sum(c["count"] for c in classes) == 8 - rep["kind_counts"]["unresolved"]
    assert all(len(c["representative"]) == 17 for c in classes)
    assert rep["headline"].startswith(f"{rep['distinct_minima']} isolated minim")
    study = optuna.load_study(study_name="minima", storage="sqlite:///studies/landscape.db")
    # the typed result is a study artifact; the headline an attr (``list``, the dashboard)
    stored = records.result_of(study, KINDS["minima"], ArtifactStore("studies/artifacts"))
    assert stored.n_starts == 8 and stored.headline() == rep["headline"]
    assert study.user_attrs["found"] == rep["headline"]
    arts = [
        p for p in (workdir / "studies" / "artifacts").iterdir() if p.read_bytes()[:2] == b"PK"
    ]  # npz files; the PNGs are the report's
    assert len(arts) == 3  # two chunks and the analysis
    for path in arts:
        with np.load(path, allow_pickle=False) as z:
            assert "theta" in z.files
    # a rerun finds every chunk done: nothing is trained again, the report is the same
    assert main(["minima", *MINIMA_FAST, "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["minima"] == rep
    assert len([t for t in study.trials if "chunk" in t.params]) == 2


def test_cli_minima_refuses_a_changed_setup(workdir, capsys):
    assert main(["minima", *MINIMA_FAST]) == 0
    capsys.readouterr()
    assert main(["minima", *MINIMA_FAST, "--set", "trainer.lr=0.1"]) == 2
    assert "was made with another setup: trainer.lr (0.3 → 0.1)" in capsys.readouterr().err


def test_cli_symmetry(workdir, capsys):
    args = ["symmetry", "--set", "trainer.epochs=50", "--set", "analysis.gd_steps=20", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] is True
    check = out["check"]
    assert check["transpositions_tested"] == check["transpositions_total"] == 240
    assert check["counts"]["transpositions"] == "14400"
    study = optuna.load_study(study_name="symmetry", storage="sqlite:///studies/landscape.db")
    assert study.trials[0].user_attrs["output_deviation"] < 1e-12


ESCAPE_FAST = [
    "--set",
    "analysis.n_starts=6",
    "--set",
    "analysis.batches=[8]",
    "--set",
    "analysis.chains=3",
    "--set",
    "analysis.horizons=[60]",
    "--set",
    "analysis.grid_points=2",
    "--set",
    "analysis.div_updates=60",
    "--set",
    "analysis.div_chains=3",
    "--set",
    "analysis.basin_steps=200",
    "--set",
    "data.options.n_samples=100",
    "--no-progress",
    "--json",
]


def test_cli_escape_same_seed_same_numbers(workdir, capsys):
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        assert main(["escape", *ESCAPE_FAST, "--storage", "a.db"]) == 0
        first = json.loads(capsys.readouterr().out)
        assert main(["escape", *ESCAPE_FAST, "--storage", "b.db"]) == 0
        second = json.loads(capsys.readouterr().out)
    assert first["escape"] == second["escape"]
    rep = first["escape"]
    assert [(c["batch"], c["horizon"], c["starts"]) for c in rep["cells"]] == [(8, 60, 6)] * 2
    assert rep["verdict"] in ("holds", "does not hold", "undecided", "nothing to escape")
    assert rep["samples"][0]["size"] == "relu_teacher [8]"


def test_cli_escape_rejects_bad_batch_sizes(workdir, capsys):
    assert main(["escape", "--set", "analysis.batches=[0]", "--no-progress"]) == 2
    assert "analysis.batches: 0 must be an integer >= 1" in capsys.readouterr().err
    assert main(["escape", "--set", "analysis.batches=[9999]"]) == 2
    assert "analysis.batches: B=9999 is outside [1, N=1000]" in capsys.readouterr().err


def test_cli_geometry(workdir, capsys):
    args = [
        "geometry",
        "--set",
        "trainer.epochs=300",
        "--set",
        "analysis.path_points=11",
        "--set",
        "analysis.slice_points=9",
        "--json",
    ]
    assert main(args) == 0
    rep = json.loads(capsys.readouterr().out)["geometry"]
    assert rep["distance_aligned"] <= rep["distance_raw"] + 1e-12
    assert len(rep["hessian_top"]) == 2
    arts = [
        p for p in (workdir / "studies" / "artifacts").iterdir() if p.read_bytes()[:2] == b"PK"
    ]  # the npz; the others are the report's PNGs
    with np.load(arts[0], allow_pickle=False) as z:
        assert z["path_raw"].shape == (11,) and z["plane_random"].shape == (5, 5)
        assert z["slice_random"][4] == z["path_raw"][0]  # both are E(θ_a) exactly


def test_cli_refuses_a_rerun_with_another_setup_naming_the_fields(workdir, capsys):
    assert main(["lr_search", *FAST, "--n-trials", "1", "--no-report"]) == 0
    url = "sqlite:///studies/landscape.db"

    def stored():
        study = optuna.load_study(study_name="lr_search", storage=url)
        return study.user_attrs, [(t.number, t.state, t.params) for t in study.trials]

    before = stored()
    capsys.readouterr()
    code = main(
        [
            "lr_search",
            *FAST,
            "--n-trials",
            "1",
            "--set",
            "data.name=circles",
            "--set",
            "trainer.epochs=20",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert (
        "study 'lr_search' in sqlite:///studies/landscape.db was made with another setup: "
        "data.name ('moons' → 'circles'); trainer.epochs (30 → 20); give a new study name "
        "(--study-name NEW, or study_name= in Python)" in err
    ), err
    assert stored() == before
    assert main(["lr_search", *FAST, "--n-trials", "1", "--seed", "5"]) == 2
    assert "study.seed (0 → 5)" in capsys.readouterr().err
    # how much to run may change: n_trials and timeout
    assert main(["lr_search", *FAST, "--n-trials", "2", "--timeout", "60", "--no-report"]) == 0
    assert (
        main(
            [
                "lr_search",
                *FAST,
                "--n-trials",
                "1",
                "--set",
                "data.name=circles",
                "--study-name",
                "circles",
                "--no-report",
            ]
        )
        == 0
    )


def test_cli_reports_of_colliding_names_get_their_own_folders(workdir, capsys):
    paths = []
    for name, db in (("a/b", "one.db"), ("a_b", "one.db"), ("a/b", "two.db")):
        assert (
            main(["lr_search", *FAST, "--n-trials", "1", "--study-name", name, "--storage", db])
            == 0
        )
        out = capsys.readouterr().out
        paths.append(
            next(line for line in out.splitlines() if line.startswith("report: ")).split(" ", 1)[1]
        )
    assert paths[0] == "reports/a_b/index.html"
    assert len(set(paths)) == 3 and all(Path(p).is_file() for p in paths)
    # stable: each study's report goes back to its own folder
    for (name, db), path in zip(
        (("a_b", "one.db"), ("a/b", "two.db"), ("a/b", "one.db")),
        (paths[1], paths[2], paths[0]),
        strict=True,
    ):
        assert main(["report", name, "--storage", db]) == 0
        assert capsys.readouterr().out.strip() == path
    assert "a_b" in Path(paths[1]).read_text() and "two.db" in Path(paths[2]).read_text()


def test_cli_report_replaces_its_figures_instead_of_piling_them_up(workdir, capsys):
    from landscape.report.write import report_artifacts

    tracked = ["--set", "study.track_sharpness=10"]
    assert main(["lr_search", *FAST, *tracked, "--n-trials", "3"]) == 0
    assert main(["lr_search", *FAST, *tracked, "--n-trials", "1"]) == 0  # a rerun: tracked again
    study = optuna.load_study(study_name="lr_search", storage="sqlite:///studies/landscape.db")
    storage = study._storage
    first = report_artifacts(storage, study)
    attrs = storage.get_study_system_attrs(study._study_id)
    n_attrs = sum(k.startswith("artifacts:") for k in attrs)
    assert "loss_vs_lr.png" in first and n_attrs == len(first) + 2  # + sharpness.npz, spec.toml
    store_files = sorted((workdir / "studies" / "artifacts").iterdir())
    for _ in range(2):
        assert main(["report", "lr_search"]) == 0
    study = optuna.load_study(study_name="lr_search", storage="sqlite:///studies/landscape.db")
    assert report_artifacts(storage, study) == first
    attrs = study._storage.get_study_system_attrs(study._study_id)
    assert sum(k.startswith("artifacts:") for k in attrs) == n_attrs
    assert sorted((workdir / "studies" / "artifacts").iterdir()) == store_files
    png = (workdir / "studies" / "artifacts" / first["loss_vs_lr.png"]).read_bytes()
    assert png == (workdir / "reports" / "lr_search" / "loss_vs_lr.png").read_bytes()


GRID_SPEC = """
[study]
seed = 0
n_trials = 50
metric = "train_loss"
report_every = 10
bisect = 0
track_sharpness = 0

[data]
name = "moons"
options = { n_samples = 120 }

[model]
hidden = [4]

[trainer]
epochs = 30

[search.lr]
target = "trainer.lr"
type = "categorical"
choices = [0.01, 0.1, 1.0]

[search.epochs]
target = "trainer.epochs"
type = "int"
low = 10
high = 30
step = 10

[sampler]
name = "grid"

[pruner]
name = "none"
"""


def test_cli_grid_sampler_visits_every_point_once_then_stops(workdir, capsys):
    (workdir / "studies").mkdir()
    (workdir / "studies" / "grid_demo.toml").write_text(GRID_SPEC)
    assert main(["grid_demo", "--no-progress", "--no-report"]) == 0
    study = optuna.load_study(study_name="grid_demo", storage="sqlite:///studies/landscape.db")
    points = sorted((t.params["lr"], t.params["epochs"]) for t in study.trials)
    assert points == [(lr, e) for lr in (0.01, 0.1, 1.0) for e in (10, 20, 30)]  # 9, not 50
    capsys.readouterr()
    # a range without finite values is refused in one line, before anything is written
    assert (
        main(
            [
                "lr_search",
                "--set",
                "sampler.name=grid",
                "--set",
                "sampler.options={}",
                "--storage",
                "other.db",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "search.lr is a log float range without a grid" in err[0]
    assert not (workdir / "other.db").exists()
    # list-valued choices cannot be stored by Optuna: refused, not crashed on in the summary
    listed = GRID_SPEC.replace(
        'target = "trainer.epochs"\ntype = "int"\nlow = 10\nhigh = 30\nstep = 10',
        'target = "model.hidden"\ntype = "categorical"\nchoices = [[2], [4]]',
    )
    assert listed != GRID_SPEC
    (workdir / "studies" / "grid_lists.toml").write_text(listed)
    assert main(["grid_lists", "--storage", "other.db", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "choices: [2] is not a number, string, boolean or none" in err[0]
    assert not (workdir / "other.db").exists()


def test_load_trial_and_slice_a_stored_trial(workdir, capsys):
    import landscape
    from landscape.hessian import hessian

    assert main(["lr_search", "--n-trials", "3", *QUICK]) == 0
    study = optuna.load_study(study_name="lr_search", storage="sqlite:///studies/landscape.db")
    run = landscape.load_trial(study, 1)  # the stored θ: nothing is trained
    stored = study.trials[1].user_attrs
    assert run.result is None and run.matches_stored is None
    assert run.loss == pytest.approx(stored["train_loss"], rel=1e-13)
    assert run.status == stored["status"]
    assert run.params == study.trials[1].params and run.spec.trainer.lr == stored["lr"]
    assert run.theta.shape == run.theta0.shape == (run.model.n_params,)
    again = landscape.load_trial("lr_search", 1, retrain=True)  # by name, trained again
    assert again.matches_stored and np.array_equal(again.theta, run.theta)
    assert np.array_equal(again.theta0, run.theta0) and again.result.epochs == stored["epochs"]
    # a study object of a journal file finds its artifacts beside the file too
    assert main(["lr_search", "--n-trials", "2", *QUICK, "--storage", "s.log"]) == 0
    journal = optuna.load_study(
        study_name="lr_search",
        storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend("s.log")),
    )
    assert landscape.load_trial(journal, 1).result is None  # read, not trained again
    # pointed at a folder without its artifacts: trained again from its seed instead
    other = landscape.load_trial(journal, 1, artifacts="studies/artifacts")
    assert other.result is not None and other.matches_stored
    capsys.readouterr()
    assert main(["slice", "lr_search", "--trial", "1", "--json", "--points", "11"]) == 0
    out = json.loads(capsys.readouterr().out)
    lam = np.linalg.eigvalsh(hessian(run.model, run.theta, run.data.X_train, run.data.y_train))
    assert out["lambda_max"] == pytest.approx(lam[-1], rel=1e-10)
    assert out["slice_random_rise"] >= 0 and (workdir / out["figure"]).stat().st_size > 5000
    # both slices step along directions of one length, the filter-normalised one's: the norm
    # of θ's weights (its biases are left out of the direction), so their rises compare
    weights = np.concatenate([W.ravel() for W, _ in run.model.layout.unravel(run.theta)])
    assert out["direction_length"] == pytest.approx(np.linalg.norm(weights), rel=1e-12)
    # bad input: one line, exit 2
    for argv, text in [
        (["slice", "lr_search", "--trial", "7"], "has no finished trial 7; finished: 0–2"),
        (["slice", "lr_search", "--trial", "1", "--points", "4"], "--points 4: must be odd"),
        (["slice", "nosuch", "--trial", "1"], "study 'nosuch' is not in the storage"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and text in err[0], err
    main(["symmetry", "--set", "trainer.epochs=20", "--set", "analysis.gd_steps=5", "--no-report"])
    capsys.readouterr()
    assert main(["slice", "symmetry", "--trial", "0"]) == 2
    assert "is not a landscape search" in capsys.readouterr().err


def test_compare_overlays_two_searches(workdir, capsys):
    from landscape.report import data, figures

    assert main(["lr_search", "--n-trials", "3", *QUICK]) == 0
    assert (
        main(
            [
                "lr_search",
                "--study-name",
                "relu",
                "--n-trials",
                "3",
                *QUICK,
                "--set",
                "model.activation=relu",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["compare", "lr_search", "relu"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("lr_search: 3 finished trials") and lines[1].startswith("relu: 3")
    assert (workdir / lines[-1]).stat().st_size > 5000
    storage = "sqlite:///studies/landscape.db"
    studies = [optuna.load_study(study_name=n, storage=storage) for n in ("lr_search", "relu")]
    store = FileSystemArtifactStore("studies/artifacts")
    fig = figures.compare(
        ["lr_search", "relu"],
        [data.lr_points(s, store) for s in studies],
        [data.best_curve(s, store) for s in studies],
    )
    left, right = fig.axes[:2]
    # one colour per study, every finished trial a point, each best curve a line
    assert sum(len(c.get_offsets()) for c in left.collections) == sum(
        np.isfinite(data.lr_points(s, store).loss).sum() for s in studies
    )
    assert {line.get_color() for line in right.get_lines()} == set(figures.OKABE_ITO[:2])
    for argv, text in [
        (["compare", "lr_search"], "compare needs two or more studies, got 1"),
        (["compare", "lr_search", "nosuch"], "study 'nosuch' is not in"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and text in err[0]


def test_cli_repeats_run_each_configuration_from_its_own_start_and_report_the_spread(
    workdir, capsys
):
    from landscape.report import data, figures

    store = FileSystemArtifactStore("studies/artifacts")
    no_pruning = ["--set", "pruner.name=none", "--set", "pruner.options={}"]  # else a pruned
    # first run would have no repeats
    assert (
        main(["lr_search", "--n-trials", "3", "--repeats", "3", "--json", *FAST, *no_pruning]) == 0
    )
    out = json.loads(capsys.readouterr().out)
    study = optuna.load_study(study_name="lr_search", storage="sqlite:///studies/landscape.db")
    trials = study.trials
    assert len(trials) == 9  # --n-trials counts configurations
    by_config: dict[float, list] = {}
    for t in trials:
        by_config.setdefault(t.params["lr"], []).append(t)
    assert len(by_config) == 3 and all(len(ts) == 3 for ts in by_config.values())
    for ts in by_config.values():
        assert sorted(t.user_attrs["repeat"] for t in ts) == [0, 1, 2]
        starts = [records.trial_theta(t, store)["theta0"] for t in ts]
        # each run its own θ⁽⁰⁾; repeat 0 keeps the study's common θ⁽⁰⁾ (stream [seed, TRAIN])
        assert not np.array_equal(starts[0], starts[1]) and not np.array_equal(starts[1], starts[2])
        assert {tuple(t.user_attrs["init_stream"]) for t in ts} == {
            (0, 1),
            (0, 1, 13, 1),
            (0, 1, 13, 2),
        }
    first = [ts[0] for ts in by_config.values()]
    assert all(np.array_equal(records.trial_theta(t, store)["theta0"], starts[0]) for t in first)
    # the summary names the best configuration by its median
    rep = out["summary"]["repeated"]
    medians = {
        lr: float(np.median([t.value if t.value is not None else np.inf for t in ts]))
        for lr, ts in by_config.items()
    }
    best_lr = min(medians, key=medians.get)
    assert rep["configurations"] == 3 and rep["runs"] == [3, 3]
    assert rep["lr"] == best_lr and rep["median"] == pytest.approx(medians[best_lr], rel=1e-15)
    # a repeat is reproduced from its own stream
    import landscape

    again = landscape.load_trial(study, by_config[best_lr][2].number, retrain=True)
    assert again.matches_stored
    # figure data: one median and interquartile range per configuration
    pts = data.lr_points(study, store)
    spread = pts.spread
    assert sorted(spread.lr.tolist()) == sorted(by_config) and spread.runs.tolist() == [3, 3, 3]
    for lr, med, q25, q75 in zip(spread.lr, spread.median, spread.q25, spread.q75, strict=True):
        values = [t.user_attrs["val_loss"] for t in by_config[lr]]
        assert med == pytest.approx(np.median(values), rel=1e-15)
        assert q25 == pytest.approx(np.quantile(values, 0.25), rel=1e-15) and q25 <= med <= q75
    curves = data.learning_curves(study, store)
    assert len(curves) == 3 and all(c.runs == 3 and c.band is not None for c in curves)
    c = curves[0]
    (lr,) = {t.params["lr"] for t in trials if t.number == c.number}
    histories = [records.history(t, store) for t in by_config[lr]]
    assert c.loss[-1] == pytest.approx(np.median([h["loss"][-1] for h in histories]), rel=1e-12)
    assert np.all(c.band[0] <= c.loss + 1e-15) and np.all(c.loss <= c.band[1] + 1e-15)
    ax = figures.loss_vs_lr(pts).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("median and interquartile range of 3 runs") for t in labels)
    assert any(
        len(poly.get_paths()) for poly in figures.learning_curves(curves).axes[0].collections
    )
    # a grid with repeats: every point once per repeat, then it stops
    (workdir / "studies").mkdir(exist_ok=True)
    (workdir / "studies" / "grid_demo.toml").write_text(GRID_SPEC)
    assert main(["grid_demo", "--repeats", "2", "--no-progress", "--no-report"]) == 0
    grid = optuna.load_study(study_name="grid_demo", storage="sqlite:///studies/landscape.db")
    runs = sorted((t.params["lr"], t.params["epochs"], t.user_attrs["repeat"]) for t in grid.trials)
    assert runs == [(lr, e, r) for lr in (0.01, 0.1, 1.0) for e in (10, 20, 30) for r in (0, 1)]
    capsys.readouterr()
    assert main(["lr_search", "--repeats", "0", "--study-name", "x", *QUICK]) == 2
    assert "study.repeats=0 must be" in capsys.readouterr().err


def _stderr_of(argv, cwd, tty):
    """Run the CLI in a subprocess; its stderr is a terminal (a pty) or a pipe."""
    import fcntl
    import pty
    import select
    import struct
    import termios

    cmd = [sys.executable, "-m", "landscape.study", *argv]
    env = {**os.environ, "COLUMNS": "120"}
    if not tty:
        run = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=300)
        assert run.returncode == 0, run.stderr
        return run.stderr
    master, slave = pty.openpty()
    # a terminal of 24 × 120 characters (a fresh pty has none, and tqdm then draws no bar)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 300)
        if not ready:
            break
        try:
            data = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=300) == 0
    os.close(master)
    return b"".join(chunks).decode(errors="replace")


def test_cli_long_commands_show_progress_on_a_terminal_and_stay_quiet_when_piped(workdir):
    search = ["lr_search", "--n-trials", "3", *FAST[:-1], "--no-report"]  # FAST less --no-progress
    minima = [
        "minima",
        "--set",
        "analysis.n_starts=4",
        "--set",
        "analysis.chunk=2",
        "--set",
        "trainer.epochs=50",
        "--set",
        "analysis.polish_iter=50",
        "--set",
        "analysis.continue_steps=5",
        "--no-report",
    ]
    # an analysis's units (minima: chunks) on a terminal; a search's trials through a pipe:
    # not a character (both kinds share one bar, runner._progress, which tqdm draws on a tty)
    shown = _stderr_of(minima, workdir, tty=True)
    assert "2/2" in shown and "trial" in shown, shown
    assert _stderr_of(search, workdir, tty=False) == ""
