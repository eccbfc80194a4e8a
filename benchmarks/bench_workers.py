"""Many workers on one study: trials per minute with 1 and 2 worker processes on these 2 cores.

The same study (an lr search on moons, 2-16-2 tanh, full-batch GD, 1,500 epochs, no pruning, so
every trial does the same work) runs with ``--jobs 1`` and ``--jobs 2`` on SQLite and on a
throwaway PostgreSQL cluster started here; then 8 workers on PostgreSQL, counting storage
errors (FAIL trials, worker exit codes, error lines). Throughput is measured over the span from
the first trial's start to the last trial's end, from the stored timestamps.

Run:  python benchmarks/bench_workers.py [--trials 24]
Targets: 2 workers >= 1.7x one worker; 8 workers on PostgreSQL: zero storage errors.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
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


if __name__ == "__main__":
    main()
