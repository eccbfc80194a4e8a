"""Where spec names are looked up, and which exist: no parsing, so ``--help`` stays cheap."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any


def spec_dirs() -> list[Path | Any]:
    """Where spec names are looked up: ./studies, then the specs shipped in the package."""
    dirs: list[Path | Any] = [Path.cwd() / "studies"]
    try:
        dirs.append(resources.files("landscape.studies"))
    except ModuleNotFoundError:  # pragma: no cover - a source tree that was never installed
        pass
    return dirs


def known_specs() -> list[str]:
    """Names of the specs that can be run by name."""
    names: set[str] = set()
    for d in spec_dirs():
        try:
            names.update(p.name[:-5] for p in d.iterdir() if p.name.endswith(".toml"))
        except (FileNotFoundError, NotADirectoryError):
            continue
    return sorted(names)
