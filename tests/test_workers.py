import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import optuna
import pytest
from fast import QUICK
from optuna.trial import TrialState

from landscape.runs import records
from landscape.runs.storage import worker_id
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
    """The worker processes of ``pid`` (its children but multiprocessing's resource tracker)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read()
            cmdline = open(f"/proc/{entry}/cmdline").read()
        except OSError:  # gone meanwhile
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])  # field 4, after the command name
        if parent == pid and "resource_tracker" not in cmdline:
            found.append(int(entry))
    return found


SHORT = [*LONG, "--set", "trainer.epochs=800", "--set", "study.bisect=0"]  # about 1 s a trial
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def _stop_inside_a_trial(storage, pid, name="lr_search", timeout=120.0):
    """SIGSTOP a worker of ``pid`` while it runs a trial that has its parameters.

    Stopped first, then its trial read: a trial seen RUNNING could otherwise end between the
    look and the kill. Returns the worker's pid and the trial.
    """
    end = time.time() + timeout
    while time.time() < end:
        workers = set(_children(pid))
        try:
            trials = _trials(storage, name)
        except (KeyError, optuna.exceptions.StorageInternalError, sqlite3.Error):
            trials = []
        for t in trials:
            owner = records.worker(t)
            worker = int(owner.split(":")[1]) if owner else None
            if t.state == TrialState.RUNNING and t.params and worker in workers:
                os.kill(worker, signal.SIGSTOP)
                (now,) = [u for u in _trials(storage, name) if u.number == t.number]
                if now.state == TrialState.RUNNING:
                    return worker, now
                os.kill(worker, signal.SIGCONT)  # it ended meanwhile: another one
        time.sleep(0.1)
    raise AssertionError("no worker ran a trial")


@pytest.mark.parametrize(
    "backend",
    [
        "sqlite",
        # benchmarks/bench_workers.py kills a worker on PostgreSQL too
        pytest.param("postgresql", marks=pytest.mark.slow),
    ],
)
def test_a_killed_worker_s_share_is_taken_over_in_the_same_run(tmp_path, backend, request):
    db = tmp_path / "k.db"
    url = f"sqlite:///{db}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    name = f"killed-{backend}"
    proc = subprocess.Popen(
        [*CLI, "lr_search", "--storage", url, "--total", "12", "--jobs", "3"]
        + ["--study-name", name, *SHORT],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    worker, dead = _stop_inside_a_trial(url, proc.pid, name)
    os.kill(worker, signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err  # nothing was lost: the run did all it was asked
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    (line,) = lines
    assert re.fullmatch(
        rf"landscape: worker [0-2] died \(signal 9\); its running trial \({dead.number}\) is "
        "marked FAIL and a copy queued; the other workers take over its share",
        line,
    ), line
    trials = _trials(url, name)
    assert TrialState.RUNNING not in [t.state for t in trials]
    assert [t.number for t in trials if t.state == TrialState.FAIL] == [dead.number]
    finished = [t for t in trials if t.state in FINISHED]
    assert len(finished) == 12 and sum(records.in_plan(t) for t in finished) == 12
    (copy,) = [t for t in trials if t.user_attrs.get("retried_from") == dead.number]
    assert copy.state in FINISHED and copy.params == dead.params
    if backend == "sqlite":
        con = sqlite3.connect(db)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()


def _wait_stopped(session: int, timeout: float = 30.0) -> None:
    """Wait until every process of ``session`` is stopped (state T in /proc/PID/stat)."""
    end = time.time() + timeout
    while time.time() < end:
        states = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            if int(fields[3]) == session:  # field 6, the session id
                states.append(fields[0])  # field 3, the state
        if states and all(state in "TtZX" for state in states):
            return
        time.sleep(0.01)
    raise AssertionError(f"the processes of session {session} did not stop")


def test_journal_rerun_inside_the_grace_reruns_the_trials_of_killed_workers(tmp_path):
    journal = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "x.log"))
    )
    proc = subprocess.Popen(
        [*CLI, "lr_search", "--storage", "x.log", "--total", "12", "--jobs", "3", *SHORT],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    # Everything killed at once (an OOM killer, a lost machine): no process says what it ran.
    # Not while one holds the journal's lock file: Optuna would wait 30 s before it breaks it.
    for _ in range(100):
        _stop_inside_a_trial(journal, proc.pid)
        os.killpg(proc.pid, signal.SIGSTOP)
        # SIGSTOP takes effect when a process next returns to user space: a worker inside a
        # write still finishes it. Read the journal only once every process is stopped.
        _wait_stopped(proc.pid)
        if not os.path.lexists(tmp_path / "x.log.lock"):
            break
        os.killpg(proc.pid, signal.SIGCONT)
        time.sleep(0.05)
    running = [t for t in _trials(journal) if t.state == TrialState.RUNNING]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert any(t.params for t in running)
    # at once: well inside the journal's 600 s grace period, which no trial outlived
    rerun = subprocess.run(
        [*CLI, "lr_search", "--storage", "x.log", "--total", "12", "--jobs", "3", *SHORT],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(rerun.stderr.strip().splitlines()) == sorted(
        f"landscape: trial {t.number} of 'lr_search': its process is gone; marked FAIL, "
        "a copy queued"
        for t in running
    )
    trials = _trials(journal)
    by_number = {t.number: t for t in trials}
    assert TrialState.RUNNING not in [t.state for t in trials]
    finished = [t for t in trials if t.state in FINISHED]
    assert len(finished) == 12 and sum(records.in_plan(t) for t in finished) == 12
    for dead in running:
        assert by_number[dead.number].state == TrialState.FAIL
        copies = [t for t in trials if t.user_attrs.get("retried_from") == dead.number]
        if dead.params:  # (one killed before its sampler chose has nothing to re-run)
            (copy,) = copies
            assert copy.state in FINISHED and copy.params == dead.params


def test_stale_heartbeat_fails_another_host_s_trial_not_a_live_process_s(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'h.db'}"
    assert main(["lr_search", "--storage", url, "--n-trials", "1", *QUICK]) == 0
    storage = optuna.storages.RDBStorage(url, heartbeat_interval=1, grace_period=1)
    study = optuna.load_study(study_name="lr_search", storage=storage)
    lr = study.trials[0].distributions["lr"]
    lost, alive = study.ask({"lr": lr}), study.ask({"lr": lr})
    # the worker of `lost` ran on a machine that is gone; `alive` is this very process, whose
    # heartbeat stopped only because its storage was unreachable for longer than the grace
    storage.set_trial_system_attr(lost._trial_id, records.WORKER, "elsewhere:4242:1")
    storage.set_trial_system_attr(alive._trial_id, records.WORKER, worker_id())
    for trial in (lost, alive):
        storage.record_heartbeat(trial._trial_id)
    time.sleep(2.5)
    beat = ["--heartbeat", "1", "--grace", "1"]
    assert main(["lr_search", "--storage", url, "--n-trials", "1", *beat, *QUICK]) == 0
    trials = {t.number: t for t in _trials(url)}
    assert trials[lost.number].state == TrialState.FAIL
    (copy,) = [t for t in trials.values() if t.system_attrs.get("failed_trial") == lost.number]
    assert copy.state in FINISHED and copy.params == lost.params
    assert trials[alive.number].state == TrialState.RUNNING


def test_invocations_started_together_create_exactly_total_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 't.db'}"
    first = subprocess.run(
        [*CLI, "lr_search", "--storage", url, "--n-trials", "1", *QUICK],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert first.returncode == 0, first.stderr
    procs = [
        subprocess.Popen(
            [*CLI, "lr_search", "--storage", url, "--total", "4", *QUICK],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert err == ""
    trials = _trials(url)
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert all(t.state in FINISHED for t in trials)
    assert len({t.params["lr"] for t in trials}) == 4


def test_invocations_started_together_create_exactly_total_on_postgresql(postgres_url, tmp_path):
    name = "total-together"
    procs = [
        subprocess.Popen(
            [*CLI, "lr_search", "--storage", postgres_url, "--total", "10"]
            + ["--study-name", name, *QUICK],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert err == ""
    trials = _trials(postgres_url, name)
    assert sorted(t.number for t in trials) == list(range(10))
    assert all(t.state in FINISHED for t in trials)
    assert len({t.params["lr"] for t in trials}) == 10


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
