import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import optuna
import pytest
from fast import QUICK
from optuna.trial import TrialState

from landscape.study import main

sys.path.insert(0, os.path.dirname(__file__))
from pg import pg_bin, postgres_cluster  # noqa: E402

LONG = [  # trials of a few seconds each, none ending early
    "--set",
    "data.name=moons",
    "--set",
    "data.options.n_samples=500",
    "--set",
    "model.hidden=[16]",
    "--set",
    "trainer.epochs=20000",
    "--set",
    "trainer.stall_window=100000",
    "--set",
    "study.report_every=500",
    "--set",
    "search.lr.low=0.001",
    "--set",
    "search.lr.high=0.01",
    "--set",
    "pruner.name=none",
    "--set",
    "pruner.options={}",
    "--no-progress",
    "--no-report",
]
CLI = [sys.executable, "-m", "landscape.study"]


def _trials(url, name="lr_search"):
    return optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)


def _wait_for(predicate, timeout=60.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if predicate():
                return
        except (KeyError, optuna.exceptions.StorageInternalError, sqlite3.Error):
            pass
        time.sleep(0.2)
    raise AssertionError("timed out")


def _running(url, n=1, name="lr_search"):
    return sum(t.state == TrialState.RUNNING for t in _trials(url, name)) >= n


MEDIUM = [*LONG, "--set", "trainer.epochs=2000"]  # trials of about 2 s
KILLABLE = [*LONG, "--set", "trainer.epochs=8000"]  # three workers on two cores: about 12 s


@pytest.mark.parametrize(
    ("sig", "code", "name", "jobs"),
    [(signal.SIGTERM, 143, "SIGTERM", 1), (signal.SIGINT, 130, "SIGINT", 2)],
)
def test_signal_fails_the_running_trial_in_one_line_and_the_resume_reruns_it(
    tmp_path, sig, code, name, jobs
):
    url = f"sqlite:///{tmp_path / 's.db'}"
    proc = subprocess.Popen(
        [*CLI, "lr_search", "--storage", url, "--n-trials", "20", "--jobs", str(jobs), *MEDIUM],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    # (a trial interrupted before it suggested anything has nothing to re-run)
    _wait_for(
        lambda: sum(t.state == TrialState.RUNNING and bool(t.params) for t in _trials(url)) >= jobs
    )
    # as a terminal does: Ctrl-C reaches the whole process group, kill(1) only the process
    os.killpg(proc.pid, sig) if sig == signal.SIGINT else proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    (line,) = lines
    trials = _trials(url)
    done = sum(t.state == TrialState.COMPLETE for t in trials)
    # the truth about the plan: a rerun of the same command would plan 20 more
    assert line == (
        f"landscape: interrupted by {name} during the trials: the running trial is marked FAIL "
        f"and queued again; {done} of the 20 configurations planned in study 'lr_search' are "
        "finished; --total 20 finishes the plan (the same command would plan 20 more)"
    )
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert TrialState.RUNNING not in [t.state for t in trials]
    assert len(failed) == jobs
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    assert sorted(t.user_attrs["retried_from"] for t in waiting) == sorted(t.number for t in failed)
    # the resume runs the interrupted parameters first
    resume = subprocess.run(
        [*CLI, "lr_search", "--storage", url, "--n-trials", str(jobs), *MEDIUM, "--timeout", "600"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resume.returncode == 0, resume.stderr
    for dead in failed:
        (copy,) = [t for t in _trials(url) if t.user_attrs.get("retried_from") == dead.number]
        assert copy.state == TrialState.COMPLETE and copy.params == dead.params


def test_invocations_started_together_propose_distinct_parameters(tmp_path):
    url = f"sqlite:///{tmp_path / 'same.db'}"
    assert (
        subprocess.run(
            [*CLI, "lr_search", "--storage", url, "--n-trials", "1", *QUICK],
            cwd=tmp_path,
            capture_output=True,
        ).returncode
        == 0
    )
    # three invocations find the same single stored trial, then add 4 trials each
    procs = [
        subprocess.Popen(
            [*CLI, "lr_search", "--storage", url, "--n-trials", "4", *QUICK],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    for p in procs:
        p.communicate(timeout=300)
        assert p.returncode == 0
    lrs = [t.params["lr"] for t in _trials(url)]
    assert len(lrs) == 13 and len(set(lrs)) == 13


def _children(pid):
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True
    ).stdout
    return [int(p) for p in out.split()]


@pytest.mark.slow  # ~35 s each; benchmarks/bench_workers.py runs the same scenario
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_killed_worker_is_failed_by_heartbeat_and_rerun(tmp_path, backend, request):
    db = tmp_path / "k.db"
    url = f"sqlite:///{db}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    name = f"killed-{backend}"
    beat = ["--heartbeat", "1", "--grace", "2", "--study-name", name]
    proc = subprocess.Popen(
        [*CLI, "lr_search", "--storage", url, "--n-trials", "6", "--jobs", "3", *beat, *KILLABLE],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(lambda: _running(url, 3, name), timeout=120)
    workers = [
        p
        for p in _children(proc.pid)
        if "resource_tracker" not in open(f"/proc/{p}/cmdline").read()
    ]
    running_before = {t.number for t in _trials(url, name) if t.state == TrialState.RUNNING}
    os.kill(workers[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1
    assert "died (signal 9)" in err
    # The killed trial is FAIL already if a surviving worker started a trial after the grace
    # period (Optuna's heartbeat check runs then), else still RUNNING until the next run.
    left = [t for t in _trials(url, name) if t.state in (TrialState.RUNNING, TrialState.FAIL)]
    assert len(left) == 1 and left[0].number in running_before
    time.sleep(3)  # past the grace period
    resume = subprocess.run(
        [*CLI, "lr_search", "--storage", url, "--total", "6", *beat, *KILLABLE],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resume.returncode == 0, resume.stderr
    trials = _trials(url, name)
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 6
    dead = next(t for t in trials if t.number == left[0].number)
    assert dead.state == TrialState.FAIL
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == dead.number]
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE
    assert retried[0].params == dead.params
    if backend == "sqlite":
        con = sqlite3.connect(db)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()


def test_journal_torn_line_and_stale_trials_are_repaired(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    journal = tmp_path / "j.log"
    assert main(["lr_search", "--storage", "j.log", "--n-trials", "2", *QUICK]) == 0
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    study = optuna.load_study(study_name="lr_search", storage=storage)
    stuck = study.ask({"lr": optuna.distributions.FloatDistribution(1e-5, 1e2, log=True)})
    with open(journal, "ab") as fh:
        fh.write(b'{"op_code": 5, "worker_id": "dead", "trial_id"')  # a worker died here
    capsys.readouterr()
    assert main(["lr_search", "--storage", "j.log", "--n-trials", "1", *QUICK]) == 2
    assert "ends with a torn line" in capsys.readouterr().err
    assert main(["repair", "--storage", "j.log"]) == 0
    out = capsys.readouterr().out
    assert "cut a torn last line of 46 bytes" in out
    assert f"trial {stuck.number} was RUNNING: marked FAIL" in out
    assert main(["lr_search", "--storage", "j.log", "--n-trials", "1", *QUICK]) == 0
    trials = optuna.load_study(study_name="lr_search", storage=storage).get_trials()
    by_number = {t.number: t for t in trials}
    assert by_number[stuck.number].state == TrialState.FAIL
    copy = [t for t in trials if t.user_attrs.get("retried_from") == stuck.number]
    assert len(copy) == 1 and copy[0].state.is_finished()


def test_journal_start_fails_trials_older_than_grace(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["lr_search", "--storage", "g.log", "--n-trials", "1", *QUICK]) == 0
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "g.log"))
    )
    study = optuna.load_study(study_name="lr_search", storage=storage)
    stuck = study.ask()
    time.sleep(1.2)
    capsys.readouterr()
    assert main(["lr_search", "--storage", "g.log", "--n-trials", "1", "--grace", "1", *QUICK]) == 0
    assert (
        f"trial {stuck.number} of 'lr_search' ran past the 1 s grace period"
        in capsys.readouterr().err
    )


def test_repair_reports_sqlite_integrity(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["lr_search", "--storage", "r.db", "--n-trials", "1", *QUICK]) == 0
    capsys.readouterr()
    assert main(["repair", "--storage", "r.db"]) == 0
    assert "SQLite integrity_check: ok" in capsys.readouterr().out


@pytest.fixture(scope="module")
def postgres_url():
    if pg_bin() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL's server is missing in CI; .ci/run installs it")
        pytest.skip("PostgreSQL's server binaries are not installed")
    with postgres_cluster() as url:
        yield url


@pytest.mark.slow  # benchmarks/bench_workers.py runs 8 workers on PostgreSQL, counting errors
def test_postgres_four_workers_share_one_study(postgres_url, tmp_path):
    n = 3
    run = subprocess.run(
        [
            *CLI,
            "lr_search",
            "--storage",
            postgres_url,
            "--n-trials",
            str(4 * n),
            "--jobs",
            "4",
            "--study-name",
            "shared",
            *QUICK,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    trials = _trials(postgres_url, "shared")
    assert len(trials) == 4 * n
    assert sorted(t.number for t in trials) == list(range(4 * n))
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert "s3cret" not in run.stdout + run.stderr
    assert "postgres:***@127.0.0.1" in run.stdout


def test_postgres_password_never_stored_or_reported(postgres_url, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert (
        main(
            [
                "lr_search",
                "--storage",
                postgres_url,
                "--n-trials",
                "2",
                "--study-name",
                "secret-check",
                "--set",
                "data.name=moons",
                "--set",
                "trainer.epochs=20",
                "--no-progress",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "s3cret" not in captured.out + captured.err
    page = (tmp_path / "reports" / "secret-check" / "index.html").read_text()
    assert "s3cret" not in page and "postgres:***@" in page
    study = optuna.load_study(study_name="secret-check", storage=postgres_url)
    blob = repr(study.user_attrs) + repr([t.user_attrs for t in study.trials])
    assert "s3cret" not in blob


def test_postgres_long_study_name_is_refused_before_optuna_creates_its_schema(
    postgres_url, tmp_path
):
    import psycopg

    server = postgres_url.rsplit("/", 1)[0]
    plain = server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(f"{plain}/postgres", autocommit=True) as con:
        con.execute("CREATE DATABASE fresh")
    run = subprocess.run(
        [*CLI, "lr_search", "--storage", f"{server}/fresh", "--study-name", "x" * 5000, *QUICK],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2
    assert run.stderr.strip() == (
        "landscape: error: --study-name of 5000 characters is too "
        "long; at most 512 fit Optuna's storages"
    )
    with psycopg.connect(f"{plain}/fresh") as con:
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    assert tables == []


def test_postgres_password_in_the_query_is_masked_everywhere(
    postgres_url, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    url = postgres_url.replace("postgres:s3cret@", "postgres@") + "?password=s3cret"
    assert (
        main(
            [
                "lr_search",
                "--storage",
                url,
                "--n-trials",
                "2",
                "--study-name",
                "query-pw",
                "--json",
                *QUICK[:-1],
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "s3cret" not in captured.out + captured.err
    out = json.loads(captured.out)
    assert out["storage"].endswith("/landscape?password=***")
    page = (tmp_path / out["report"]).read_text()
    assert "s3cret" not in page and "password=***" in page
    study = optuna.load_study(study_name="query-pw", storage=url)
    assert "s3cret" not in repr(study.user_attrs) + repr([t.user_attrs for t in study.trials])
