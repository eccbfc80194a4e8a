"""The wheel as a user installs it: every subpackage inside, a study runs from elsewhere, and
the dependencies it declares are all it needs."""

import email.parser
import importlib.metadata
import json
import os
import shutil
import site
import subprocess
import sys
import tomllib
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# One worker builds the wheel and the venv once, for every test of the module.
pytestmark = pytest.mark.xdist_group("packaging")

ROOT = Path(__file__).resolve().parents[1]

# A study small enough for seconds that still ends as a real run does: a report, and the note
# uploaded for optuna-dashboard (where a missing optuna-dashboard once failed installed wheels).
STUDY = [
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
]


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


def _declared(wheel):
    """The ``Requires-Dist`` lines of the built wheel: what pip would install with it."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = email.parser.Parser().parsestr(archive.read(name).decode("utf-8"))
    return metadata.get_all("Requires-Dist") or []


def _runtime(lines):
    """The requirements among ``lines`` that pip installs here when no extra is asked for."""
    # Evaluated with no extra chosen, an `extra == "..."` marker is false, and so is any other
    # marker (python_version, sys_platform) that does not hold for this interpreter.
    requirements = [Requirement(line) for line in lines or ()]
    return [r for r in requirements if r.marker is None or r.marker.evaluate({"extra": ""})]


def _closure(lines):
    """The installed distributions that ``lines`` need, and what those need in turn, by name."""
    found = {}
    todo = _runtime(lines)
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)  # PEP 503: python_dateutil is python-dateutil
        if name not in found:
            try:
                found[name] = importlib.metadata.distribution(name)
            except importlib.metadata.PackageNotFoundError:
                pytest.fail(f"{requirement} is required but not installed in the test environment")
            todo.extend(_runtime(found[name].requires))
        # A version outside the declared range would make the venv a lie about what pip installs.
        version = found[name].version
        assert requirement.specifier.contains(version, prereleases=True), (requirement, version)
    return found


def _owns(distribution, top, recorded):
    """Whether every file on disk under the top-level folder is in the distribution's RECORD."""
    # Then the folder is the distribution's alone, and one link to it shows nothing else. A
    # namespace package that other distributions also install into fails this.
    site_dir = Path(distribution.locate_file(""))
    for dirpath, dirnames, filenames in os.walk(site_dir / top):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]  # caches: never imported alone
        for name in filenames:
            if Path(dirpath, name).relative_to(site_dir).as_posix() not in recorded:
                return False
    return True


def _expose(distributions, folder):
    """Symlink what the distributions installed into site-packages (RECORD) into folder."""
    # A folder a distribution owns is linked whole (tens of links instead of ten thousand: links
    # are slow on a busy disk); any other folder is made here and its recorded files linked one
    # by one, so that it shows only the exposed distributions' files. The .pyc files come along
    # and stay valid (stat follows the link), so nothing is compiled again.
    folder.mkdir(parents=True)
    for distribution in distributions:
        files = distribution.files
        assert files is not None, f"{distribution.name} has no RECORD: its files are unknown"
        # console scripts and data installed outside site-packages stay out
        recorded = {f.as_posix() for f in files if f.parts[0] != ".."}
        for top in sorted({path.split("/")[0] for path in recorded}):
            source = Path(distribution.locate_file(top))
            # site-packages/__pycache__ holds the .pyc of every single-module distribution
            if top != "__pycache__" and source.is_dir() and _owns(distribution, top, recorded):
                (folder / top).symlink_to(source, target_is_directory=True)
                continue
            for path in sorted(p for p in recorded if p == top or p.startswith(f"{top}/")):
                source = Path(distribution.locate_file(path))
                if source.exists():  # RECORD may list a .pyc that was never written
                    (folder / path).parent.mkdir(parents=True, exist_ok=True)
                    (folder / path).symlink_to(source)


@dataclass(frozen=True)
class Installed:
    """A fresh venv with the wheel installed and a private folder of its dependencies."""

    root: Path
    deps: Path
    exposed: frozenset  # canonical names of the distributions in deps

    @property
    def python(self):
        return self.root / "venv" / "bin" / "python"

    @property
    def cli(self):
        return self.root / "venv" / "bin" / "landscape"


def _install(root, wheel, requirements):
    """A venv under root holding the wheel and, besides it, only what ``requirements`` need."""
    venv.create(root / "venv", with_pip=False)
    distributions = _closure(requirements)
    deps = root / "deps"
    _expose(distributions.values(), deps)
    installed = Installed(root, deps, frozenset(distributions))
    site_dir = subprocess.run(
        [str(installed.python), "-c", "import site; print(site.getsitepackages()[0])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # No system site-packages, no pytest, no editable checkout: the venv sees deps and its own
    # site-packages only. addsitedir rather than a path line, so that a dependency's own .pth
    # hooks (if one has any) run as they would after pip install.
    Path(site_dir, "deps.pth").write_text(f"import site; site.addsitedir({str(deps)!r})\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(installed.python),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    return installed


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """The wheel as pip installs it: with exactly its declared runtime dependencies."""
    return _install(tmp_path_factory.mktemp("installed"), wheel, _declared(wheel))


def _run(command, cwd, timeout=300):
    # Without PYTHONPATH (or PYTHONHOME) the test environment cannot leak into the venv.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def _elsewhere(tmp_path):
    # Away from the checkout, so that neither its landscape/ nor its studies/ is found.
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def test_packaging_wheel_in_a_fresh_venv_runs_a_study_and_its_report(installed, tmp_path):
    elsewhere = _elsewhere(tmp_path)
    where = _run([installed.python, "-c", "import landscape; print(landscape.__file__)"], elsewhere)
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip().startswith(str(installed.root / "venv"))
    run = _run([installed.cli, *STUDY], elsewhere)
    assert run.returncode == 0, run.stderr
    assert (elsewhere / "studies" / "landscape.db").is_file()
    report = _run([installed.cli, "report", "lr_search"], elsewhere)
    assert report.returncode == 0, report.stderr
    index = Path(elsewhere / report.stdout.strip().splitlines()[-1])
    assert index.is_file() and index.name == "index.html"
    assert (index.parent / "loss_vs_lr.png").is_file()


_PROBE = """
import importlib, importlib.metadata, json, sys
modules = {}
for name in ("landscape", "optuna_dashboard", "pytest", "psycopg"):
    try:
        modules[name] = importlib.import_module(name).__file__
    except ModuleNotFoundError:
        modules[name] = None
names = [d.metadata["Name"] for d in importlib.metadata.distributions()]
print(json.dumps({"modules": modules, "distributions": names, "path": sys.path}))
"""


def test_packaging_venv_sees_only_the_declared_dependencies(installed, tmp_path):
    probe = _run([installed.python, "-c", _PROBE], _elsewhere(tmp_path))
    assert probe.returncode == 0, probe.stderr
    seen = json.loads(probe.stdout)
    # Every distribution the venv knows is the wheel or one it declares (directly or not) ...
    assert {canonicalize_name(n) for n in seen["distributions"]} == installed.exposed | {
        "landscape"
    }
    # ... optuna-dashboard among them, from the private folder ...
    assert "optuna-dashboard" in installed.exposed
    assert seen["modules"]["optuna_dashboard"].startswith(str(installed.deps))
    assert seen["modules"]["landscape"].startswith(str(installed.root / "venv"))
    # ... and what only the tests have stays out: pytest (which runs this very test), psycopg
    # (the [postgres] extra), this interpreter's site-packages and the checkout.
    assert seen["modules"]["pytest"] is None
    assert seen["modules"]["psycopg"] is None
    assert not set(seen["path"]) & {*site.getsitepackages(), str(ROOT)}


def test_packaging_an_undeclared_dependency_fails_the_study(wheel, tmp_path):
    # The wheel as if pyproject.toml had forgotten optuna-dashboard: the venv then lacks it
    # (and bottle, which only it needs), and the run must fail where it is imported. Were the
    # venv fed from the whole test environment, this run would pass and the test above could not
    # catch a forgotten dependency.
    declared = _declared(wheel)
    kept = [
        line for line in declared if canonicalize_name(Requirement(line).name) != "optuna-dashboard"
    ]
    assert len(kept) == len(declared) - 1
    installed = _install(tmp_path, wheel, kept)
    assert "optuna-dashboard" not in installed.exposed and "optuna" in installed.exposed
    run = _run([installed.cli, *STUDY], _elsewhere(tmp_path))
    assert run.returncode != 0
    assert "No module named 'optuna_dashboard'" in run.stderr, run.stderr
