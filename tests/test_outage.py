"""A PostgreSQL server that goes away while workers run trials, and comes back (or not).

The server is stopped with ``pg_ctl -m immediate`` (open connections cut, as in a crash) while
three workers of one run are inside their trials, then started again on the same port and data.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

sys.path.insert(0, os.path.dirname(__file__))
from pg import PostgresServer, pg_bin, postgres_server  # noqa: E402
from test_workers import CLI, LONG, _children, _trials  # noqa: E402

from landscape.runs import records  # noqa: E402

OUTAGE = [*LONG, "--set", "trainer.epochs=2000", "--set", "study.bisect=0"]  # ~3 s a trial
RETRYING = re.compile(
    r"landscape: storage postgresql\+psycopg://postgres:\*\*\*@127\.0\.0\.1:\d+/landscape "
    r"unreachable \((.+)\); retrying for up to (\d+) s \(--storage-retry\)"
)


@pytest.fixture
def server():
    """A PostgreSQL server of this test alone: stopping it disturbs no other test."""
    if pg_bin() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL's server is missing in CI; .ci/run installs it")
        pytest.skip("PostgreSQL's server binaries are not installed")
    with postgres_server() as handle:
        yield handle


def _start(server: PostgresServer, tmp_path, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [*CLI, "lr_search", "--storage", server.url, "--jobs", "3", *args, *OUTAGE],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    end = time.time() + 120
    while time.time() < end:  # until each worker is inside a trial
        assert proc.poll() is None, proc.communicate()[1]
        try:
            trials = _trials(server.url)
        except (KeyError, optuna.exceptions.StorageInternalError):
            trials = []
        if sum(t.state == TrialState.RUNNING and bool(t.params) for t in trials) >= 3:
            return proc
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("the workers did not start their trials")


def test_workers_wait_out_a_10_s_outage_and_finish_the_plan(server, tmp_path):
    proc = _start(server, tmp_path, "--total", "6")
    server.stop()
    time.sleep(10)
    server.start()
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    # said once, by the run's parent (the workers wait in silence), not once per process/call
    assert 1 <= len(lines) <= 2, err
    for line in lines:
        match = RETRYING.fullmatch(line)
        assert match is not None, line
        assert match.group(2) == "120"
        assert "invalid data" not in match.group(1)  # the driver's words, not Optuna's wrapper
    trials = _trials(server.url)
    assert [t.state for t in trials if t.state == TrialState.RUNNING] == []
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert sum(records.in_plan(t) for t in finished) == 6
    assert len({t.params["lr"] for t in finished}) == 6


def test_an_outage_past_the_retry_budget_ends_the_run_in_one_line(server, tmp_path):
    proc = _start(server, tmp_path, "--total", "6", "--storage-retry", "5")
    workers = _children(proc.pid)
    server.stop()
    stopped = time.monotonic()
    _, err = proc.communicate(timeout=120)
    seconds = time.monotonic() - stopped
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert 1 <= len(lines) <= 2, err  # (the warning that the run waits, if it came first)
    for line in lines[:-1]:
        assert RETRYING.fullmatch(line) is not None, line
    assert re.fullmatch(
        r"landscape: error: storage postgresql\+psycopg://postgres:\*\*\*@127\.0\.0\.1:\d+/"
        r"landscape unreachable for [5-9] s, past the --storage-retry budget of 5 s "
        r"\(\d+ attempts\): connection failed: .*Connection refused",
        lines[-1],
    ), lines[-1]
    assert proc.returncode == 1, err  # an outage, not bad input (2)
    # the budget, then at most 5 s for the workers to stop (they are killed after that)
    assert seconds < 30, seconds
    assert not [pid for pid in workers if os.path.exists(f"/proc/{pid}")]
    # (the trials they left RUNNING are failed by the next run: their processes are gone)
