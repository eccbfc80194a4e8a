"""A griffe extension for the API reference: Sphinx roles in docstrings read as code.

The docstrings cross-reference with Sphinx roles (``:func:`train```, ``:class:`~a.b.C```);
mkdocstrings renders docstrings as Markdown, where a role would show as raw text. Each role
becomes inline code of its target (``~`` keeps the last name only, as in Sphinx).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|obj|exc|ref):`(~?)([^`]+)`")


def plain(text: str) -> str:
    """``text`` with every Sphinx role replaced by inline code of its target."""
    return ROLE.sub(lambda m: f"`{m[2].rsplit('.', 1)[-1] if m[1] else m[2]}`", text)


class SphinxRoles(griffe.Extension):
    """Rewrite the roles of every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:  # noqa: D102
        if obj.docstring is not None:
            obj.docstring.value = plain(obj.docstring.value)
