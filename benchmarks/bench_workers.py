"""Many workers on one study: trials per minute with 1 and 2 worker processes on these 2 cores.

The same study (an lr search on moons, 2-16-2 tanh, full-batch GD, 1,500 epochs, no pruning, so
every trial does the same work) runs with ``--jobs 1`` and ``--jobs 2`` on SQLite and on a
throwaway PostgreSQL cluster started here; then 8 workers on PostgreSQL, counting storage
errors (FAIL trials, worker exit codes, error lines). Throughput is measured over the span from
the first trial's start to the last trial's end, from the stored timestamps.

Then, on each storage, a worker killed by SIGKILL in the middle of its trial (3 workers, a plan
of 6 trials): the run sees the death, fails the dead trial, queues a copy with the same
parameters and the surviving workers finish the plan in the same run, which says so in one line
and exits 0; reported are the trials finished, whether the copy completed with the same
parameters, the seconds from the kill to the run's end, and SQLite's integrity check.
(tests/test_workers.py has the same scenario; the PostgreSQL case is a slow test, run by CI with
``pytest -m slow -n 0``.)

Run:  python benchmarks/bench_workers.py [--trials 24]
Targets: 2 workers >= 1.7x one worker; 8 workers on PostgreSQL: zero storage errors; a killed
worker: 6 of 6 trials finished in the same run, its trial re-run with the same parameters,
nothing else lost.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from pg import postgres_cluster  # noqa: E402

WORK = [
    "--set",
    "data.name=moons",
    "--set",
    "data.options.n_samples=500",
    "--set",
    "model.hidden=[16]",
    "--set",
    "trainer.epochs=1500",
    "--set",
    "trainer.stall_window=100000",
    "--set",
    "study.report_every=100",
    "--set",
    "search.lr.low=0.001",
    "--set",
    "search.lr.high=0.5",
    "--set",
    "pruner.name=none",
    "--set",
    "pruner.options={}",
    "--no-progress",
    "--no-report",
]


def run(url: str, name: str, trials: int, jobs: int, cwd: Path) -> tuple[float, int, str]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "landscape.study",
            "lr_search",
            "--storage",
            url,
            "--study-name",
            name,
            "--n-trials",
            str(trials),
            "--jobs",
            str(jobs),
            *WORK,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    study = optuna.load_study(study_name=name, storage=url)
    ts = study.get_trials(deepcopy=False)
    done = [t for t in ts if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    span = (
        max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)
    ).total_seconds()
    errors = sum(t.state == TrialState.FAIL for t in ts) + (proc.returncode != 0)
    errors += sum("error" in line.lower() for line in proc.stderr.splitlines())
    return len(done) / span * 60.0, errors, proc.stderr


KILLABLE = [*WORK, "--set", "trainer.epochs=8000"]  # three workers on two cores: ~12 s a trial


def _trials(url: str, name: str) -> list:
    try:
        return optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)
    except KeyError:  # not created yet
        return []


def _workers_of(pid: int) -> list[int]:
    """The worker processes of a run: its children, multiprocessing's resource tracker aside."""
    out = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        if "resource_tracker" not in Path(f"/proc/{child}/cmdline").read_text():
            out.append(int(child))
    return out


def killed(url: str, name: str, cwd: Path) -> str:
    """Kill one of three workers mid-trial and say what the run did about it."""
    cli = [sys.executable, "-m", "landscape.study", "lr_search", "--storage", url]
    proc = subprocess.Popen(
        [*cli, "--total", "6", "--jobs", "3", "--study-name", name, *KILLABLE],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while sum(t.state == TrialState.RUNNING for t in _trials(url, name)) < 3:
        time.sleep(0.2)
    os.kill(_workers_of(proc.pid)[0], signal.SIGKILL)
    t_kill = time.perf_counter()
    _, err = proc.communicate()
    seconds = time.perf_counter() - t_kill
    named = "died (signal 9)" in err
    trials = _trials(url, name)
    finished = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    dead = [t for t in trials if t.state == TrialState.FAIL]
    copies = [t for t in trials if dead and t.user_attrs.get("retried_from") == dead[0].number]
    same = (
        len(dead) == 1
        and len(copies) == 1
        and copies[0].params == dead[0].params
        and copies[0].state == TrialState.COMPLETE
    )
    line = (
        f"exit code {proc.returncode}; dead worker named: {named}; {finished} of 6 trials "
        f"finished in the same run; {len(dead)} FAIL, re-run with the same parameters: {same}; "
        f"kill to the run's end {seconds:.1f} s"
    )
    if url.startswith("sqlite:///"):
        con = sqlite3.connect(url.removeprefix("sqlite:///"))
        line += f"; integrity_check {con.execute('PRAGMA integrity_check').fetchone()[0]}"
        con.close()
    return line


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=24)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, postgres_cluster() as pg:
        cwd = Path(tmp)
        for label, url in (("SQLite", f"sqlite:///{cwd / 'w.db'}"), ("PostgreSQL", pg)):
            one, e1, _ = run(url, "one", args.trials, 1, cwd)
            two, e2, _ = run(url, "two", args.trials, 2, cwd)
            print(
                f"{label:10s}: 1 worker {one:6.1f} trials/min, 2 workers {two:6.1f} "
                f"trials/min -> {two / one:.2f}x (errors: {e1}, {e2})"
            )
        eight, e8, err = run(pg, "eight", 4 * args.trials, 8, cwd)
        print(f"PostgreSQL, 8 workers: {eight:6.1f} trials/min, storage errors: {e8}")
        if e8:
            print(err[-2000:])
        for label, url in (("SQLite", f"sqlite:///{cwd / 'k.db'}"), ("PostgreSQL", pg)):
            print(f"{label:10s}, a worker killed: {killed(url, 'killed', cwd)}")


if __name__ == "__main__":
    main()
