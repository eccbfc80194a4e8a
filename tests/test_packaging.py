"""The wheel as a user installs it: every subpackage inside, and a study runs from elsewhere."""

import os
import shutil
import site
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _subpackages():
    found = {"landscape.studies"}
    for init in (ROOT / "landscape").rglob("__init__.py"):
        if "__pycache__" not in init.parts:
            found.add(".".join(init.parent.relative_to(ROOT).parts))
    return found


def test_packaging_lists_every_subpackage():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert set(config["tool"]["setuptools"]["packages"]) == _subpackages()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for folder in ("landscape", "studies"):
        shutil.copytree(
            ROOT / folder,
            src / folder,
            ignore=shutil.ignore_patterns("__pycache__", "*.db*", "*.log", "artifacts"),
        )
    out = tmp / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(src),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("*.whl")
    return path


def test_packaging_wheel_holds_every_module_and_spec(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in _subpackages() - {"landscape.studies"}:
        folder = ROOT / Path(*package.split("."))
        for module in folder.glob("*.py"):
            assert f"{package.replace('.', '/')}/{module.name}" in names
    for spec in (ROOT / "studies").glob("*.toml"):
        assert f"landscape/studies/{spec.name}" in names


def test_packaging_wheel_in_a_fresh_venv_runs_a_study_and_its_report(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    # The dependencies come from this interpreter's site-packages (tests have no network), as a
    # plain path after the venv's own: a path line in a .pth file does not run that folder's
    # .pth hooks, so the checkout's editable install cannot stand in for a missing subpackage.
    site_dir = subprocess.run(
        [str(python), "-c", "import site; print(site.getsitepackages()[0])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site_dir, "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [str(python), "-c", "import landscape; print(landscape.__file__)"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert where.stdout.strip().startswith(str(env_dir))
    cli = str(env_dir / "bin" / "landscape")
    run = subprocess.run(
        [
            cli,
            "lr_search",
            "--n-trials",
            "2",
            "--no-progress",
            "--set",
            "data.name=moons",
            "--set",
            "data.options.n_samples=100",
            "--set",
            "model.hidden=[4]",
            "--set",
            "trainer.epochs=20",
            "--set",
            "study.report_every=10",
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert (elsewhere / "studies" / "landscape.db").is_file()
    report = subprocess.run(
        [cli, "report", "lr_search"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert report.returncode == 0, report.stderr
    index = Path(elsewhere / report.stdout.strip().splitlines()[-1])
    assert index.is_file() and index.name == "index.html"
    assert (index.parent / "loss_vs_lr.png").is_file()
