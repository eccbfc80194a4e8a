"""The measured numbers and figures of the README and the site come from benchmarks/readme.py."""

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
    where = readme.located()  # raises for a key in two pages
    assert set(where) == set(readme.COMMANDS)
    assert all(page == readme.README or readme.DOCS in page.parents for page in where.values())


def test_every_figure_shown_is_regenerated_by_a_block():
    shown = set()
    for page in readme.pages():
        shown |= set(
            re.findall(r"\((?:\.\./)*(?:docs/)?figures/([\w.-]+\.png)\)", page.read_text())
        )
    assert shown == set(readme.FIGURES)
    assert {source for source, _ in readme.FIGURES.values()} <= set(readme.COMMANDS)
    assert all((readme.FIGURE_DIR / name).is_file() for name in shown)


def test_a_key_in_two_pages_is_refused(tmp_path, monkeypatch):
    block = "<!-- generated: a -->\nx\n<!-- /generated: a -->\n"
    (tmp_path / "one.md").write_text(block)
    (tmp_path / "two.md").write_text(block)
    monkeypatch.setattr(readme, "pages", lambda: sorted(tmp_path.glob("*.md")))
    with pytest.raises(ValueError, match="block 'a' is in"):
        readme.located()


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
