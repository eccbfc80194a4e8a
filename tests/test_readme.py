"""The README's measured numbers and figures all come from benchmarks/readme.py."""

import importlib.util
import re
from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("readme", ROOT / "benchmarks" / "readme.py")
readme = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readme)


def test_every_generated_block_has_a_command_and_every_command_a_block():
    keys = readme.blocks(readme.README.read_text())
    assert len(keys) == len(set(keys))
    assert set(keys) == set(readme.COMMANDS)


def test_every_readme_figure_is_regenerated_by_a_block():
    text = readme.README.read_text()
    shown = set(re.findall(r"\(docs/([\w.-]+\.png)\)", text))
    assert shown == set(readme.FIGURES)
    assert {source for source, _ in readme.FIGURES.values()} <= set(readme.COMMANDS)
    assert all((ROOT / "docs" / name).is_file() for name in shown)


def test_substitute_replaces_the_named_blocks_only():
    text = (
        "intro\n<!-- generated: a -->\nold a\n<!-- /generated: a -->\nmid\n"
        "<!-- generated: b -->\nold b\n<!-- /generated: b -->\nend\n"
    )
    out = readme.substitute(text, {"a": "new a\n"})
    assert out == text.replace("old a", "new a")
    assert readme.substitute(out, {"a": "new a\n"}) == out


def test_unbalanced_markers_are_refused():
    with pytest.raises(ValueError, match="unbalanced"):
        readme.blocks("<!-- generated: a -->\nbody\n")
    with pytest.raises(ValueError, match="unbalanced"):
        readme.blocks("<!-- generated: a -->\nx\n<!-- /generated: b -->\n")


def test_a_block_shows_its_command_without_local_paths():
    body = readme.render("bench_trainer", "ratio 1.5x\n", date(2026, 11, 28))
    assert body == (
        "```text\n$ python benchmarks/bench_trainer.py    # 2026-11-28\nratio 1.5x\n```\n"
    )
