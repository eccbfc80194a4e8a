"""The Python API: landscape.run_study, as a notebook uses it."""

import json
import subprocess
import sys

import optuna
import pytest
from fast import SETTINGS as FAST

import landscape
from landscape.runs.driver import StudyRun, UsageError
from landscape.spec import SpecError, find_spec, parse_spec
from landscape.summary import Summary


def test_runner_run_study_returns_the_study_and_a_typed_summary(workdir, capsys):
    run = landscape.run_study("lr_search", storage="nb.db", overrides=FAST, n_trials=3)
    assert isinstance(run, StudyRun) and isinstance(run.summary, Summary)
    assert run.kind == "search" and (run.trials_added, run.trials_total) == (3, 3)
    assert run.summary.n_trials == 3 and run.summary.best.number in (0, 1, 2)
    assert run.study.best_trial.number == run.summary.best.number
    assert run.report == "reports/lr_search/index.html" and (workdir / run.report).is_file()
    assert json.loads(json.dumps(run.payload))["trials_total"] == 3
    captured = capsys.readouterr()  # a library call prints nothing
    assert captured.out == "" and "Trial 0 finished" not in captured.err
    again = optuna.load_study(study_name="lr_search", storage="sqlite:///nb.db")
    assert len(again.trials) == 3


def test_runner_accepts_a_parsed_spec(workdir):
    spec = parse_spec(*find_spec("lr_search"), FAST)
    run = landscape.run_study(spec, storage="s.db", n_trials=2, report=False)
    assert run.trials_added == 2 and run.report is None
    with pytest.raises(UsageError, match="overrides apply to a spec name or path"):
        landscape.run_study(spec, storage="s.db", overrides=["trainer.epochs=3"])
    with pytest.raises(SpecError, match="study.n_trials=0 must be an integer >= 1"):
        landscape.run_study(spec, storage="s.db", n_trials=0)


def test_runner_analysis_returns_its_own_dataclass(workdir):
    run = landscape.run_study(
        "symmetry",
        storage="a.db",
        report=False,
        overrides=["trainer.epochs=50", "analysis.gd_steps=20"],
    )
    assert run.kind == "symmetry" and run.result.passed()
    assert run.payload["check"]["transpositions_total"] == 240


def test_runner_bad_input_raises_before_anything_is_written(workdir):
    with pytest.raises(SpecError, match="data.name='mnist' is unknown"):
        landscape.run_study("lr_search", storage="x.db", overrides=["data.name=mnist"])
    with pytest.raises(UsageError, match="--jobs=0 must be >= 1"):
        landscape.run_study("lr_search", storage="x.db", jobs=0)
    assert list(workdir.iterdir()) == []


def test_the_command_line_loads_no_plotting_until_it_reports():
    """Layers import downwards: parsing, running and printing need no matplotlib.

    (The CLI imports what a command needs when it runs: ``--help`` loads no report module.)
    """
    code = (
        "import sys, landscape.study, landscape.runs.driver, landscape.report.text; "
        "print(sorted(m for m in sys.modules if m.startswith(('matplotlib', 'landscape.report'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['landscape.report', 'landscape.report.text']"
