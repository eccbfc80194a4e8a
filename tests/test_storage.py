import json
import os
import shutil
import sqlite3
import subprocess
import sys

import optuna
import pytest
from fast import QUICK

from landscape.runs import storage as st
from landscape.study import main

TORN = b'{"op_code": 5, "worker_id": "dead", "trial_id"'


@pytest.fixture
def torn_journal(workdir, capsys):
    assert main(["lr_search", "--storage", "j.log", "--n-trials", "2", *QUICK, "--no-report"]) == 0
    with open(workdir / "j.log", "ab") as fh:
        fh.write(TORN)  # a worker died while appending
    capsys.readouterr()
    return workdir / "j.log"


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "lr_search", "--storage", "j.log"],
        ["lr_search", "--storage", "j.log", "--n-trials", "1", *QUICK],
        ["dashboard", "--storage", "j.log", "--port", "1"],
    ],
    ids=["report", "run", "dashboard"],
)
def test_storage_torn_journal_is_refused_by_every_writing_command(torn_journal, capsys, argv):
    before = torn_journal.read_bytes()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "ends with a torn line" in err and "repair --storage journal:j.log" in err
    assert torn_journal.read_bytes() == before
    # what a refused write would have done: the journal is still readable
    study = optuna.load_study(study_name="lr_search", storage=st.open_storage(st.resolve("j.log")))
    assert len(study.trials) == 2


def test_storage_report_without_upload_reads_a_torn_journal(torn_journal, capsys):
    before = torn_journal.read_bytes()
    assert main(["report", "lr_search", "--storage", "j.log", "--no-upload"]) == 0
    index = capsys.readouterr().out.strip().splitlines()[-1]
    assert index.endswith("index.html") and os.path.isfile(index)
    assert torn_journal.read_bytes() == before


def test_storage_repair_leaves_a_text_file_alone(workdir, capsys):
    text = b"2026-11-27 started\nno newline at the end"
    (workdir / "app.log").write_bytes(text)
    assert main(["repair", "--storage", "app.log"]) == 2
    assert "'app.log' is not an Optuna journal file" in capsys.readouterr().err
    assert (workdir / "app.log").read_bytes() == text


def test_storage_repair_cuts_nothing_when_a_middle_line_is_not_the_journals(torn_journal, capsys):
    lines = torn_journal.read_bytes().split(b"\n")
    lines.insert(2, b"an editor wrote this")
    torn_journal.write_bytes(b"\n".join(lines))
    before = torn_journal.read_bytes()
    assert main(["repair", "--storage", "j.log"]) == 2
    assert "nothing was changed" in capsys.readouterr().err
    assert torn_journal.read_bytes() == before


def test_storage_repair_leaves_a_foreign_sqlite_file_alone(workdir, capsys):
    con = sqlite3.connect(workdir / "other.db")
    con.execute("CREATE TABLE measurements (x REAL)")
    con.commit()
    con.close()
    before = (workdir / "other.db").read_bytes()
    assert main(["repair", "--storage", "other.db"]) == 2
    assert "not an Optuna storage" in capsys.readouterr().err
    assert (workdir / "other.db").read_bytes() == before


def test_storage_probe_file_is_removed_when_the_check_fails(workdir, monkeypatch):
    real_close = os.close

    def failing_close(fd):
        real_close(fd)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(st.os, "close", failing_close)
    with pytest.raises(OSError):
        st.check_storage(st.resolve("fresh.db"))
    assert list(workdir.iterdir()) == []


def test_storage_probe_never_collides_with_the_storage_file(workdir):
    # another worker creating the database at this moment must not make the check fail
    st.check_storage(st.resolve("x.db"))
    (workdir / "x.db").touch()
    st.check_storage(st.resolve("x.db"))
    assert sorted(p.name for p in workdir.iterdir()) == ["x.db"]


def test_storage_read_only_folder_is_named_read_only_not_corrupt(tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("unshare is missing")
    folder = tmp_path / "ro"
    folder.mkdir()
    assert (
        main(
            [
                "lr_search",
                "--storage",
                str(folder / "s.db"),
                "--n-trials",
                "1",
                *QUICK,
                "--no-report",
            ]
        )
        == 0
    )
    # A read-only bind mount in a private mount namespace: root ignores chmod, not this.
    script = (
        f"mount --bind -o ro {folder} {folder} && exec {sys.executable} -m "
        f"landscape.study list --storage {folder / 's.db'}"
    )
    run = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True)
    if "mount:" in run.stderr:
        if os.environ.get("CI"):
            pytest.fail(f"CI cannot make a read-only mount: {run.stderr}")
        pytest.skip("no permission for a read-only bind mount")
    assert run.returncode == 2
    assert "is read-only" in run.stderr and "corrupt" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


REDACT = [
    ("postgresql://u:s3cret@h/db", "postgresql://u:***@h/db"),
    ("postgresql+psycopg://u@h/db?password=s3cret", "postgresql+psycopg://u@h/db?password=***"),
    (
        "postgresql://u@h/db?passwd=s3cret&sslmode=require",
        "postgresql://u@h/db?passwd=***&sslmode=require",
    ),
    ("postgresql://u@h:5432/db?sslpassword=s3cret", "postgresql://u@h:5432/db?sslpassword=***"),
    (
        "mysql+pymysql://u@h/db?api_token=s3cret&charset=utf8",
        "mysql+pymysql://u@h/db?api_token=***&charset=utf8",
    ),
    (
        "postgresql://u:p%40s3cret@h/db?application_name=x",
        "postgresql://u:***@h/db?application_name=x",
    ),
    ("sqlite:///studies/landscape.db", "sqlite:///studies/landscape.db"),
    ("journal:runs/j.log", "journal:runs/j.log"),
]


@pytest.mark.parametrize(("url", "shown"), REDACT)
def test_storage_redact_masks_every_credential(url, shown):
    assert st.redact(url) == shown
    if "s3cret" not in url:
        assert st.secrets(url) == []
        return
    secret = "p@s3cret" if "%40" in url else "s3cret"  # drivers print the decoded password
    assert "s3cret" not in st.mask(f"driver error for {url}: bad password {secret}", url)


def test_storage_query_password_never_printed(workdir, capsys):
    url = "postgresql+psycopg://alice@127.0.0.1:1/db?password=s3cret"
    assert main(["lr_search", "--storage", url, "--json", *QUICK]) == 2
    captured = capsys.readouterr()
    assert "s3cret" not in captured.out + captured.err
    assert "password=***" in captured.err


_POPPER = """
import json, sys
import optuna
from landscape.runs.storage import open_storage, resolve
optuna.logging.set_verbosity(optuna.logging.ERROR)
store = open_storage(resolve(sys.argv[1]), announce=False, first_contact=False)
study = optuna.load_study(study_name="q", storage=store)
popped = []
while (trial_id := study._pop_waiting_trial_id()) is not None:
    popped.append(trial_id)
print(json.dumps(popped))
"""


def test_storage_a_queued_trial_is_popped_by_one_worker_only(tmp_path):
    # Three workers empty a queue of 300 trials of one SQLite file at once (what --jobs and
    # the re-queued copy of a dead worker's trial do). Before the pop was locked, about 10 of
    # 300 trials were run twice, and the second tell failed on a COMPLETE trial.
    url = f"sqlite:///{tmp_path / 'q.db'}"
    study = optuna.create_study(study_name="q", storage=url)
    for i in range(300):
        study.enqueue_trial({"x": i}, skip_if_exists=False)
    procs = [
        subprocess.Popen([sys.executable, "-c", _POPPER, url], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    popped = [tid for out in outs for tid in json.loads(out)]
    assert len(popped) == 300
    assert sorted(popped) == sorted(t._trial_id for t in study.get_trials())


def test_storage_a_killed_worker_not_yet_reaped_is_dead():
    # A worker killed with its parent is a zombie until the init process reaps it: its pid and
    # start time remain in /proc. A rerun must still see it as dead and fail its trial.
    import socket
    import time

    from landscape.runs.storage import _start_ticks, worker_alive, worker_dead

    proc = subprocess.Popen(["sleep", "600"])
    wid = f"{socket.gethostname()}:{proc.pid}:{_start_ticks(proc.pid)}"
    assert not worker_dead(wid) and worker_alive(wid)
    proc.kill()
    for _ in range(500):  # not waited for: it stays a zombie of this process
        if open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.01)
    assert worker_dead(wid) and not worker_alive(wid)
    proc.wait()
    assert worker_dead(wid)


def test_storage_a_heartbeat_left_beating_by_an_interrupted_trial_is_stopped():
    # Optuna's HeartbeatThread started, its `with` block never entered (a SIGTERM handled in
    # Thread.start's wait): the non-daemon thread beats forever and the interpreter would wait
    # for it at exit. Seen as a run that never ended after SIGTERM.
    import threading

    from optuna.storages._heartbeat import HeartbeatThread

    from landscape.runs.storage import stop_heartbeats

    class Beat:
        beats = 0

        def get_heartbeat_interval(self):
            return 3600

        def record_heartbeat(self, trial_id):
            Beat.beats += 1

    hb = HeartbeatThread(7, Beat())
    hb.start()  # and never joined
    leaked = [t for t in threading.enumerate() if t is hb._thread]
    # a daemon (landscape starts Optuna's heartbeats so): it cannot hold the process at exit
    assert leaked and leaked[0].is_alive() and leaked[0].daemon
    assert stop_heartbeats() == 1
    leaked[0].join(timeout=5)
    assert not leaked[0].is_alive() and Beat.beats == 1
    assert stop_heartbeats() == 0
