"""Studies stored by an earlier version still load, report and resume.

tests/fixtures/stored holds one small study of every kind, written by the version before the
registry of analysis kinds (tests/fixtures/make_stored.py made it). Each must list, report and
rerun with the same settings without being refused as "another setup".
"""

import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from make_stored import RUNS  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "stored"
CLI = [sys.executable, "-m", "landscape.study"]


@pytest.fixture
def stored(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "s")
    return tmp_path / "s"


def _cli(args, cwd):
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_the_fixture_holds_one_study_of_every_kind(stored):
    # read a copy: opening a missing file would create an empty database in the fixture
    assert (FIXTURE / "stored.db").stat().st_size > 0
    names = {s.study_name for s in optuna.get_all_study_summaries(f"sqlite:///{stored}/stored.db")}
    assert names == set(RUNS)


def test_stored_studies_are_listed(stored):
    run = _cli(["list", "--storage", "stored.db"], stored)
    assert run.returncode == 0, run.stderr
    for name in RUNS:
        assert name in run.stdout


@pytest.mark.parametrize("name", list(RUNS))
def test_a_stored_study_reports_and_resumes(stored, name):
    run = _cli(["report", name, "--storage", "stored.db", "--no-upload"], stored)
    assert run.returncode == 0, run.stderr
    assert (stored / "reports" / name / "index.html").is_file()
    args = [name, "--storage", "stored.db", "--no-progress", "--no-report", *RUNS[name]]
    if name == "lr_search":
        args = [a for a in args if a not in ("--n-trials", "3")] + ["--n-trials", "1"]
    again = _cli(args, stored)
    assert again.returncode == 0, again.stderr
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{stored}/stored.db")
    if name == "lr_search":
        assert len(study.trials) == 4  # one more, in the same study
