"""The package's layers: data flows one way, from the command line down to ``train()``.

- the core (the maths, ``train`` and its rules) imports no subpackage;
- ``analysis/`` imports the core only;
- ``spec/`` imports the core and ``analysis/``;
- ``runs/`` imports those three;
- ``report/`` imports those and, of ``runs/``, only ``runs.records`` (it reads stored studies);
- ``api`` and ``cli`` sit on top, and nothing imports ``cli`` (``study`` is its entry point);
- Optuna is imported only in ``runs/`` and ``report/``; Optuna's private ``study._storage``
  is reached for only in ``runs.storage`` and ``runs.records``.
"""

import ast
import re
from pathlib import Path

import pytest

import landscape

PACKAGE = Path(landscape.__file__).parent

CORE = {
    "params",
    "activations",
    "losses",
    "schedules",
    "threads",
    "seeds",
    "summary",
    "files",
    "rules",
    "typed",
    "model",
    "hessian",
    "data",
    "train",
    "engine",
}
# Within a layer, modules still import one way; the order below is the one they may use.
LAYERS = [
    # the core: pure NumPy, no Optuna
    {"params", "activations", "losses", "schedules", "threads", "seeds", "summary", "files"},
    {"rules", "typed"},
    {"model"},
    {"hessian", "data"},
    {"engine"},
    {"train"},
    # analyses: configs, pure functions and typed results, on the core only
    {"analysis.kind", "analysis.sharpness", "analysis.range_test"},
    {"analysis.noise", "analysis.symmetry", "analysis.convergence"},
    {"analysis.minima", "analysis.spurious", "analysis.escape"},
    {"analysis.geometry", "analysis.census"},
    {"analysis"},  # the one registry
    # specs: the sections built from the configs, loaded and validated
    {"spec.names", "spec.schema"},
    {"spec.validate"},
    {"spec.load"},
    {"spec"},
    # running studies as Optuna trials and storing them
    {"runs", "runs.records"},
    {"runs.storage", "runs.problem"},
    {"runs.search"},
    {"runs.adapters"},
    {"runs.driver"},
    # reading stored studies: text, figures, pages
    {"report", "report.page", "report.text", "report.data"},
    {"report.figures"},
    {"report.write"},
    {"api"},
    {"cli"},
    {"study"},
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def _modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        if parts:  # the package's own __init__ is the facade over every layer
            names.append(".".join(parts))
    return names


def _path(name: str) -> Path:
    path = PACKAGE.joinpath(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _imports(name: str) -> set[str]:
    """Every landscape module ``name`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(_path(name).read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "landscape":
                found.update(a.name for a in node.names if a.name in LAYER)
            elif node.module.startswith("landscape."):
                mod = node.module.removeprefix("landscape.")
                subs = {f"{mod}.{a.name}" for a in node.names} & set(LAYER)
                found.update(subs)
                if len(subs) < len(node.names):  # names defined by the package itself
                    found.add(mod)
        elif isinstance(node, ast.Import):
            found.update(
                a.name.removeprefix("landscape.")
                for a in node.names
                if a.name.startswith("landscape.")
            )
    found.discard(name)
    return found


def _third_party(name: str) -> set[str]:
    """The top-level names of the other packages ``name`` imports."""
    found = set()
    for node in ast.walk(ast.parse(_path(name).read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
    return found


def _group(name: str) -> str:
    if name in CORE:
        return "core"
    return name.split(".")[0]


# which groups each group may import (besides itself)
ALLOWED = {
    "core": set(),
    "analysis": {"core"},
    "spec": {"core", "analysis"},
    "runs": {"core", "analysis", "spec"},
    "report": {"core", "analysis", "spec", "runs.records"},
    "api": {"core", "analysis", "spec", "runs", "report"},
    "cli": {"core", "analysis", "spec", "runs", "report", "api"},
    "study": {"cli"},
}


def test_every_module_has_a_layer():
    assert set(_modules()) == set(LAYER)


@pytest.mark.parametrize("name", _modules())
def test_imports_go_down_the_layers(name):
    upward = {m: LAYER[m] for m in _imports(name) if LAYER[m] > LAYER[name]}
    assert upward == {}, f"{name} (layer {LAYER[name]}) imports from above: {upward}"


@pytest.mark.parametrize("name", _modules())
def test_each_group_imports_only_the_groups_below_it(name):
    allowed = ALLOWED[_group(name)] | {_group(name)}
    bad = sorted(m for m in _imports(name) if _group(m) not in allowed and m not in allowed)
    assert bad == [], f"{name} ({_group(name)}) may import only {sorted(allowed)}: imports {bad}"


def test_nothing_imports_the_cli():
    importers = sorted(n for n in _modules() if "cli" in _imports(n) and n != "study")
    assert importers == []


@pytest.mark.parametrize("name", _modules())
def test_optuna_only_in_runs_and_report(name):
    if _group(name) in ("runs", "report"):
        return
    # ``dashboard`` starts optuna-dashboard's server: the one import of it the CLI keeps
    allowed = {"optuna_dashboard"} if name == "cli" else set()
    assert _third_party(name) & {"optuna", "optuna_dashboard"} <= allowed, name


@pytest.mark.parametrize("name", _modules())
def test_private_storage_only_in_runs_storage_and_records(name):
    if name in ("runs.storage", "runs.records"):
        return
    text = _path(name).read_text()
    assert not re.search(r"\._storage\b|\._study_id\b", text), name


def test_the_core_imports_neither_matplotlib_nor_optuna_at_the_top():
    # the core is what a worker process imports: it must stay light
    for name in sorted(CORE):
        tree = ast.parse(_path(name).read_text())
        top = set()
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module:
                top.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                top.update(a.name.split(".")[0] for a in node.names)
        assert not top & {"matplotlib", "optuna"}, name
