"""The package's modules import only downwards: from the command line to ``train()``."""

import ast
from pathlib import Path

import pytest

import landscape

PACKAGE = Path(landscape.__file__).parent

LAYERS = [
    # the core: pure NumPy, no Optuna
    {"params", "activations", "losses", "schedules", "threads", "seeds", "summary", "files"},
    {"records"},
    {"model"},
    {"analysis", "analysis.hessian"},  # curvature: the trainer tracks λ_max with it
    {"data", "train"},
    {"analysis.noise"},  # the noise axis's engine: the chain problems build on it
    {
        "analysis.symmetry",
        "analysis.minima",
        "analysis.geometry",
        "analysis.sharpness",
        "analysis.convergence",
        "analysis.range_test",
        "analysis.spurious",
        "analysis.escape",
    },
    # what a study is, and how it is stored and run as Optuna trials
    {"spec"},
    {"storage", "objectives"},
    {"experiments"},
    # reading stored studies: text, figures, pages
    {"report", "report.page", "report.data", "report.figures", "report.text", "report.write"},
    {"runner"},
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


def _imports(name: str) -> set[str]:
    """Every landscape module ``name`` imports, at the top or inside a function."""
    path = PACKAGE.joinpath(*name.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "landscape":
                found.update(a.name for a in node.names if a.name in LAYER)
            elif node.module.startswith("landscape."):
                mod = node.module.removeprefix("landscape.")
                found.add(mod)
                found.update(f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in LAYER)
        elif isinstance(node, ast.Import):
            found.update(
                a.name.removeprefix("landscape.")
                for a in node.names
                if a.name.startswith("landscape.")
            )
    found.discard(name)
    return found


def test_every_module_has_a_layer():
    assert set(_modules()) == set(LAYER)


@pytest.mark.parametrize("name", _modules())
def test_imports_go_down_the_layers(name):
    upward = {m: LAYER[m] for m in _imports(name) if LAYER[m] > LAYER[name]}
    assert upward == {}, f"{name} (layer {LAYER[name]}) imports from above: {upward}"
