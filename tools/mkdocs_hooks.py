"""MkDocs hooks: the reference pages are generated from the code at every build.

``reference/cli.md`` from the argument parsers and ``reference/spec.md`` from the configuration
classes (see ``tools/reference.py``); nothing generated is committed, so nothing can go stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mkdocs.structure.files import File, Files

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference  # noqa: E402

GENERATED = {
    "reference/cli.md": reference.cli_reference,
    "reference/spec.md": reference.spec_reference,
}


def on_files(files: Files, config) -> Files:
    """Add the generated reference pages to the site's files."""
    for uri, make in GENERATED.items():
        files.append(File.generated(config, uri, content=make()))
    return files
