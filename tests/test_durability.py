"""Nothing breaks in a user's hands: limits checked up front, reports that are never half-written.

Each test here is a case that broke on the code before it: bad input must give one line, exit 2
and no storage; a killed, interrupted or disk-full report must leave the previous report intact;
a planted symlink must never be written through.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest
from fast import FAST, QUICK
from optuna.trial import TrialState

from landscape import files

CLI = [sys.executable, "-m", "landscape.study"]


def _cli(args, cwd, **kw):
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, **kw)


def _one_line(run, code=2):
    assert run.returncode == code, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("landscape: error: ")
    return lines[0]


def _nothing_written(folder: Path, *keep: str) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(keep)


@pytest.fixture
def readonly(tmp_path):
    """A read-only folder that root cannot write either (a read-only tmpfs mount)."""
    path = tmp_path / "ro"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)]).returncode:
        pytest.skip("cannot mount a read-only tmpfs here")
    yield path
    subprocess.run(["umount", str(path)], check=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 6 MiB tmpfs: big enough for a study and its report, filled up by the test."""
    path = tmp_path / "disk"
    path.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(path)]).returncode
    ):
        pytest.skip("cannot mount a tmpfs here")
    yield path
    subprocess.run(["umount", str(path)], check=True)


# ------------------------------------------------------------------ limits checked up front
def test_a_model_too_big_for_memory_is_refused_with_both_numbers(tmp_path):
    run = _cli(["lr_search", *QUICK, "--set", "model.hidden=[10000000]"], tmp_path)
    line = _one_line(run)
    assert "this spec needs about" in line and "GiB is available" in line
    _nothing_written(tmp_path)


def test_memory_estimate_counts_the_widest_choice_and_the_chunk_and_the_hessian():
    from landscape.runs.problem import prepare
    from landscape.spec import find_spec, memory_needed, parse_spec

    spec = parse_spec(*find_spec("minima"), ["model.hidden=[50]", "analysis.chunk=8"])
    d = prepare(spec).data
    parts = memory_needed(spec, d)
    sizes = d.sizes([50])
    D = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    n = d.n_train + d.X_val.shape[0]
    assert parts == {
        "theta": 8 * 6 * 8 * D,
        "activations": 8 * 4 * 8 * n * sum(sizes),
        "hessian": 8 * 3 * D * D,
        "ends": 8 * 4 * spec.analysis.n_starts * D,
    }


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("analysis.n_starts=1000000000", "analysis.n_starts=1000000000 must lie in [1, 1000000]"),
        ("analysis.n_starts=900000", "fewer analysis.n_starts"),  # within the cap, not memory
    ],
)
def test_a_census_too_big_is_refused_before_any_unit_is_queued(tmp_path, override, needle):
    from landscape.spec import available_memory

    if "900000" in override and available_memory() > 40 << 30:  # it needs ~46 GiB
        pytest.skip("this machine has the memory for it")
    args = ["minima", "--set", override, "--set", "model.hidden=[400]", "--no-progress"]
    line = _one_line(_cli(args, tmp_path, timeout=60))
    assert needle in line
    _nothing_written(tmp_path)


@pytest.mark.parametrize("jobs", [1, 2])
def test_timeout_stops_a_running_trial_between_epochs(tmp_path, jobs):
    endless = ["--set", "trainer.epochs=1000000000000", "--set", "trainer.stall_tol=0"]
    endless += ["--set", "trainer.gtol=0", "--set", "study.bisect=4"]
    args = ["lr_search", "--no-progress", "--no-report", "--storage", "s.db", *endless]
    # (workers take a few seconds to start: the timeout leaves them time to begin a trial)
    run = _cli([*args, "--timeout", "3" if jobs == 1 else "8", "--jobs", str(jobs)], tmp_path)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    stopped = [x for x in lines if "by the timeout" in x and "marked FAIL" in x]
    study = optuna.load_study(study_name="lr_search", storage=f"sqlite:///{tmp_path / 's.db'}")
    trials = study.get_trials()
    assert 1 <= len(trials) <= jobs
    assert [t.state for t in trials] == [TrialState.FAIL] * len(trials)
    assert {t.user_attrs["status"] for t in trials} == {"timed out"}
    # one line per stopped trial, and one that the bisection is skipped; nothing else
    assert len(stopped) == len(trials) and len(lines) == len(trials) + 1, run.stderr
    assert "bisection of the divergence boundary is skipped" in lines[-1]


@pytest.mark.parametrize(
    "override",
    [
        "data.options={a=" + "[" * 500 + "1" + "]" * 500 + "}",
        "data.options.a=" + "[" * 40 + "1" + "]" * 40,
    ],
)
def test_deeply_nested_values_are_refused_in_one_line(tmp_path, override):
    line = _one_line(_cli(["lr_search", *QUICK, "--set", override], tmp_path))
    assert "too deep" in line and "16" in line
    _nothing_written(tmp_path)


def test_a_deeply_nested_or_huge_spec_file_is_refused_in_one_line(tmp_path):
    deep = tmp_path / "deep.toml"
    deep.write_text("[data]\noptions = {a = " + "[" * 500 + "1" + "]" * 500 + "}\n")
    assert "too deep" in _one_line(_cli([str(deep), *QUICK], tmp_path))
    big = tmp_path / "big.toml"
    big.write_text('description = "' + "x" * (2 << 20) + '"\n')
    assert "at most 1,048,576" in _one_line(_cli([str(big), *QUICK], tmp_path))
    _nothing_written(tmp_path, "deep.toml", "big.toml")


def test_control_characters_in_a_spec_file_name_are_refused_and_list_escapes_names(tmp_path):
    from landscape.spec import find_spec

    name = "bad\x1b[31mname.toml"
    (tmp_path / name).write_text(find_spec("lr_search")[1])
    line = _one_line(_cli([name, *QUICK, "--storage", "s.db"], tmp_path))
    assert "holds control characters" in line and "--study-name" in line
    _nothing_written(tmp_path, name)
    # a name stored by other means is shown escaped, never as a live escape sequence
    optuna.create_study(study_name="evil\x1b[31mred", storage=f"sqlite:///{tmp_path / 's.db'}")
    out = _cli(["list", "--storage", "s.db"], tmp_path)
    assert out.returncode == 0
    assert "\x1b" not in out.stdout and "evil\\x1b[31mred" in out.stdout


def test_unwritable_output_folders_are_refused_before_the_storage_is_created(tmp_path, readonly):
    line = _one_line(
        _cli(["lr_search", *QUICK, "--storage", "s.db", "--artifacts", "ro"], tmp_path)
    )
    assert line == "landscape: error: --artifacts 'ro' cannot be written: " + (
        "Read-only file system" if os.geteuid() == 0 else "Permission denied"
    )
    (tmp_path / "dangling").symlink_to(tmp_path / "missing")
    line = _one_line(
        _cli(["lr_search", *QUICK, "--storage", "s.db", "--artifacts", "dangling"], tmp_path)
    )
    assert "is a symlink to" in line and "does not exist" in line
    _nothing_written(tmp_path, "ro", "dangling")
    # report --out on a read-only folder: one line, and the stored study untouched
    assert (
        _cli(["lr_search", *QUICK, "--storage", "s.db", "--n-trials", "1"], tmp_path).returncode
        == 0
    )
    line = _one_line(_cli(["report", "lr_search", "--storage", "s.db", "--out", "ro"], tmp_path))
    assert line.startswith("landscape: error: --out 'ro' cannot be written")


@pytest.mark.parametrize(
    "args",
    [
        ["slice", "lr_search", "--trial", "0"],
        ["compare", "lr_search", "other"],
        ["list"],
        ["report", "lr_search"],
    ],
)
def test_reading_commands_never_create_a_storage(tmp_path, args):
    line = _one_line(_cli([*args, "--storage", "nothere.db"], tmp_path))
    assert line == "landscape: error: storage sqlite:///nothere.db does not exist"
    _nothing_written(tmp_path)


# ------------------------------------------------------------ reports never half-written
@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A small finished search with its report, copied per test."""
    folder = tmp_path_factory.mktemp("study")
    run = _cli(
        ["lr_search", *FAST, "--storage", "s.db", "--n-trials", "3"],
        folder,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    return folder


@pytest.fixture
def copy(study, tmp_path):
    import shutil

    shutil.copytree(study, tmp_path / "w")
    return tmp_path / "w"


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink() and not p.name.endswith(".lock")
    }


KILL_IN_REPORT = textwrap.dedent(
    """
    import os, signal, sys
    from landscape.report import figures
    real, count = figures.write_png, [0]
    def write_png(fig, path):
        count[0] += 1
        if count[0] == int(os.environ["KILL_AT"]):
            with open(path, "wb") as f:  # a half-written figure, as a kill mid-write leaves it
                f.write(b"\\x89PNG")
            os.kill(os.getpid(), signal.SIG{sig})
        return real(fig, path)
    figures.write_png = write_png
    from landscape.study import main
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.mark.parametrize("at", [1, 3])
def test_a_kill_mid_report_leaves_the_previous_report_and_artifacts_intact(copy, at):
    before = _snapshot(copy / "reports") | {
        f"artifacts/{k}": v for k, v in _snapshot(copy / "artifacts").items()
    }
    code = KILL_IN_REPORT.format(sig="KILL")
    run = subprocess.run(
        [sys.executable, "-c", code, "report", "lr_search", "--storage", "s.db"],
        cwd=copy,
        capture_output=True,
        text=True,
        env={**os.environ, "KILL_AT": str(at)},
    )
    assert run.returncode == -signal.SIGKILL
    after = _snapshot(copy / "reports") | {
        f"artifacts/{k}": v for k, v in _snapshot(copy / "artifacts").items()
    }
    # a kill -9 cannot remove the temporary file it was writing (hidden, never a report file)
    staged = [k for k in after if Path(k).name.startswith(".") and ".tmp" in k]
    assert len(staged) <= at and all(k.startswith("lr_search/") for k in staged)
    after = {k: v for k, v in after.items() if k not in staged}
    assert after == before  # no 0-byte or half figure, no new artifact
    # and the next report is whole, and sweeps the leftover away
    assert _cli(["report", "lr_search", "--storage", "s.db"], copy).returncode == 0
    assert not [p for p in (copy / "reports" / "lr_search").iterdir() if ".tmp" in p.name]
    index = (copy / "reports" / "lr_search" / "index.html").read_text()
    for png in (copy / "reports" / "lr_search").glob("*.png"):
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and png.stat().st_size > 1000
        assert png.name in index


def test_an_interrupt_mid_report_says_so_and_leaves_no_half_report(copy):
    report = copy / "reports" / "lr_search"
    for p in report.iterdir():
        p.unlink()
    report.rmdir()
    code = KILL_IN_REPORT.format(sig="INT")
    run = subprocess.run(
        [sys.executable, "-c", code, "report", "lr_search", "--storage", "s.db"],
        cwd=copy,
        capture_output=True,
        text=True,
        env={**os.environ, "KILL_AT": "2"},
    )
    assert run.returncode == 130
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("landscape: interrupted by SIGINT")
    assert "running trial" not in line
    left = [p.name for p in report.iterdir()] if report.exists() else []
    assert not [n for n in left if n.endswith((".png", ".html"))]


def test_an_interrupt_in_a_runs_report_prints_its_summary_and_leaves_no_half_report(tmp_path):
    code = KILL_IN_REPORT.format(sig="INT")
    run = subprocess.run(
        [sys.executable, "-c", code, "lr_search", *FAST, "--storage", "s.db", "--n-trials", "2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "KILL_AT": "2"},
    )
    assert run.returncode == 130
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("landscape: interrupted by SIGINT during the report (after the trials)")
    assert "running trial" not in line and "`report lr_search` writes it" in line
    # the trials are stored and the summary of them is printed
    assert run.stdout.startswith("study 'lr_search' in sqlite:///s.db: 2 trials added")
    assert "best: trial" in run.stdout
    report = tmp_path / "reports" / "lr_search"
    assert not [p.name for p in report.iterdir() if p.name.endswith((".png", ".html"))]


def test_symlinks_planted_in_a_report_folder_are_never_written_through(copy, tmp_path):
    report = copy / "reports" / "lr_search"
    outside = {}
    for name in ("index.html", "loss_vs_lr.png", ".landscape-report.lock"):
        target = tmp_path / f"outside-{name}"
        target.write_text("keep me")
        outside[name] = target
        (report / name).unlink(missing_ok=True)
        (report / name).symlink_to(target)
    assert _cli(["report", "lr_search", "--storage", "s.db"], copy).returncode == 0
    for target in outside.values():
        assert target.read_text() == "keep me"
    assert not (report / "index.html").is_symlink()
    assert (report / "loss_vs_lr.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("content", [b"", b'{"study": "lr_sea'])
def test_a_torn_owner_file_is_judged_by_the_page_it_belongs_to(copy, content):
    owner = copy / "reports" / "lr_search" / ".landscape-report.json"
    owner.write_bytes(content)
    run = _cli(["report", "lr_search", "--storage", "s.db"], copy)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().endswith(str(Path("reports") / "lr_search" / "index.html"))
    assert json.loads(owner.read_text())["study"] == "lr_search"
    assert [p.name for p in (copy / "reports").iterdir()] == ["lr_search"]


def test_a_torn_owner_file_beside_a_foreign_page_is_refused(copy):
    folder = copy / "reports" / "lr_search"
    (folder / ".landscape-report.json").write_bytes(b"")
    (folder / "index.html").write_text("<html>someone else's page</html>")
    line = _one_line(_cli(["report", "lr_search", "--storage", "s.db"], copy))
    assert ".landscape-report.json" in line
    assert (folder / "index.html").read_text() == "<html>someone else's page</html>"


def test_two_first_reports_at_once_upload_each_figure_once(copy):
    storage = f"sqlite:///{copy / 's.db'}"
    import shutil
    import sqlite3

    # as before any report: the study has no figure artifacts
    with sqlite3.connect(copy / "s.db") as con:
        con.execute("DELETE FROM study_system_attributes WHERE key LIKE 'artifacts:%'")

    shutil.rmtree(copy / "reports")
    procs = [
        subprocess.Popen(
            [*CLI, "report", "lr_search", "--storage", "s.db", "--out", f"r{i}"],
            cwd=copy,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(3)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    from optuna.artifacts import get_all_artifact_meta

    study = optuna.load_study(study_name="lr_search", storage=storage)
    names = [m.filename for m in get_all_artifact_meta(study) if m.filename.endswith(".png")]
    assert names and len(names) == len(set(names))


def test_a_truncated_artifact_is_named_with_its_remedy_and_the_remedy_works(tmp_path):
    run = _cli(
        [
            "lr_search",
            *FAST,
            "--storage",
            "s.db",
            "--n-trials",
            "2",
            "--set",
            "study.track_sharpness=5",
            "--set",
            "trainer.method=gd",
        ],
        tmp_path,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    from optuna.artifacts import get_all_artifact_meta

    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.load_study(study_name="lr_search", storage=storage)
    (meta,) = [m for m in get_all_artifact_meta(study) if m.filename == "sharpness.npz"]
    (tmp_path / "artifacts" / meta.artifact_id).write_bytes(b"")
    line = _one_line(_cli(["report", "lr_search", "--storage", "s.db"], tmp_path), code=1)
    assert "sharpness.npz" in line and "damaged" in line and "--total" in line
    again = _cli(
        [
            "lr_search",
            *FAST,
            "--storage",
            "s.db",
            "--total",
            "2",
            "--set",
            "study.track_sharpness=5",
            "--set",
            "trainer.method=gd",
        ],
        tmp_path,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    study = optuna.load_study(study_name="lr_search", storage=storage)
    assert len(study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))) == 2
    assert _cli(["report", "lr_search", "--storage", "s.db"], tmp_path).returncode == 0


def test_a_full_disk_is_one_line_and_leaves_the_previous_report_intact(small_disk):
    run = _cli(
        ["lr_search", *FAST, "--storage", "s.db", "--n-trials", "2"], small_disk, timeout=300
    )
    assert run.returncode == 0, run.stderr
    before = _snapshot(small_disk / "reports")
    filler = small_disk / "filler"
    with open(filler, "wb") as f:  # fill the disk to the last block
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    try:
        with open(filler, "ab") as f:
            while True:
                f.write(b"\0")
                f.flush()
    except OSError:
        pass
    run = _cli(["report", "lr_search", "--storage", "s.db", "--no-upload"], small_disk)
    line = _one_line(run, code=1)
    assert "no space left" in line.lower() or "is full" in line.lower()
    assert _snapshot(small_disk / "reports") == before
    assert not [p for p in (small_disk / "reports" / "lr_search").iterdir() if ".tmp" in p.name]
    run = _cli(["lr_search", *QUICK, "--storage", "s.db", "--n-trials", "1"], small_disk)
    line = _one_line(run, code=1)
    assert "no space left" in line.lower() or "is full" in line.lower()
    line = _one_line(_cli(["repair", "--storage", "s.db"], small_disk), code=1)
    filler.unlink()
    assert _cli(["repair", "--storage", "s.db"], small_disk).returncode == 0
    assert _snapshot(small_disk / "reports") == before


def test_staged_writes_leave_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")

    def boom(f):
        f.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        files.replace_file(path, boom)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_a_resumed_census_counts_the_units_it_ran_itself(tmp_path):
    """An interrupted minima run resumed: the header counts the chunks this run ran."""
    import time

    small = ["--set", "analysis.n_starts=16", "--set", "analysis.chunk=4"]
    small += ["--set", "trainer.epochs=600", "--set", "data.options.n_samples=80"]
    small += ["--set", "analysis.polish_iter=300", "--set", "analysis.continue_steps=40"]
    args = [*CLI, "minima", *small, "--storage", "s.db", "--no-progress", "--no-report"]
    url = f"sqlite:///{tmp_path / 's.db'}"

    def complete() -> int:
        try:
            study = optuna.load_study(study_name="minima", storage=url)
        except Exception:  # not created yet
            return 0
        return len(study.get_trials(states=(TrialState.COMPLETE,)))

    proc = subprocess.Popen(args, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    end = time.time() + 120
    while complete() < 1 and time.time() < end and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    before = complete()
    if proc.returncode == 0 or before == 4:
        pytest.skip("the run finished before it could be interrupted")
    assert proc.returncode == 143, err
    run = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert complete() == 4
    assert f": {4 - before} of 4 chunks run here in " in run.stdout.splitlines()[0]
