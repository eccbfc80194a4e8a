"""The site's reference pages, generated from the code so that they cannot drift from it.

``cli_reference()`` renders every command of :mod:`landscape.cli` from its argparse parser;
``spec_reference()`` renders every field of a study spec from the configuration classes (the
sections of :mod:`landscape.spec.schema`, the trainer's :class:`~landscape.train.TrainConfig`
and each analysis kind's config): its type, the values its rule allows, its default, what it
means (the class's numpydoc ``Attributes``) and, in ``[analysis]``, which kinds read it.
``mkdocs_hooks.py`` adds both pages to the site at build time.

Run:  python tools/reference.py cli|spec      (prints the page)
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import sys
import typing
from typing import Any

from landscape import cli
from landscape.analysis import DEFAULT_KIND, KINDS
from landscape.rules import Rule
from landscape.spec import schema

# (section, its class, one line on who reads it); the [analysis] section is each kind's own
SECTIONS = [
    ("study", schema.StudySection, "How many trials, the seed, the metric; every spec."),
    ("data", schema.DataSection, "The dataset (scikit-learn's, or a teacher); every spec."),
    ("model", schema.ModelSection, "The MLP; every spec."),
    (
        "trainer",
        schema.TrainerSection,
        "The trainer of every trial. An analysis kind refuses, in one line, a field it would "
        "not use.",
    ),
    ("sampler", schema.Component, "Optuna's sampler for searches: tpe, random, qmc, grid."),
    ("pruner", schema.Component, "Optuna's pruner for searches."),
    ("search.NAME", schema.Param, "One searched parameter; a spec with none is an analysis."),
]

# ---------------------------------------------------------------------------------- the CLI

# The parser of each command, in the order the top-level help lists them.
COMMANDS = [
    ("NAME", cli._run_parser),
    ("list", cli._list_parser),
    ("report", cli._report_parser),
    ("dashboard", cli._dashboard_parser),
    ("repair", cli._repair_parser),
    ("lr_range", cli._range_parser),
    ("slice", cli._slice_parser),
    ("compare", cli._compare_parser),
]


def _option_row(action: argparse.Action) -> str:
    flags = ", ".join(f"`{f}`" for f in action.option_strings) or f"`{action.metavar or ''}`"
    if action.option_strings and action.nargs != 0:
        metavar = action.metavar or action.dest.upper()
        flags += f" {metavar}"
    default = action.default
    shown = (
        "—"
        if default in (None, False, [], argparse.SUPPRESS) or action.nargs == 0
        else f"`{default}`"
    )
    text = (action.help or "").replace("|", "\\|").replace("\n", " ")
    if isinstance(action.type, type):
        text = f"({action.type.__name__}) {text}"
    return f"| {flags} | {shown} | {text} |"


def cli_reference() -> str:
    """The command-line reference page, in Markdown, from the parsers themselves."""
    saved = sys.argv[0]
    sys.argv[0] = "landscape"  # the help's prog name: python -m landscape.study is the same
    try:
        out = [
            "# Command line",
            "",
            "Generated from the argument parsers of `landscape.cli` when the site is built. "
            "`python -m landscape.study` and the console script `landscape` are the same "
            "command.",
            "",
            "```text",
            cli._top_help().rstrip(),
            "```",
            "",
            "Exit codes: 0 success; 2 bad input (one line on stderr naming the bad value and "
            "what is allowed; nothing is written); 1 an error the run could not finish "
            "(a storage outage that outlasted `--storage-retry`, a full disk, a damaged "
            "artifact); 128 + N when signal N (SIGINT, SIGTERM) stopped it, after the running "
            "trial was failed and re-enqueued.",
        ]
        for name, make in COMMANDS:
            p = make()
            out += ["", f"## `{name}`", "", p.description or "", "", "```text"]
            out += [p.format_usage().strip(), "```", ""]
            out += ["| option | default | meaning |", "|---|---|---|"]
            out += [_option_row(a) for a in p._actions if not isinstance(a, argparse._HelpAction)]
        return "\n".join(out) + "\n"
    finally:
        sys.argv[0] = saved


# ---------------------------------------------------------------------------- the spec


def attribute_docs(cls: type) -> dict[str, str]:
    """Each field's text in the numpydoc ``Attributes`` sections of ``cls`` and its bases.

    Several names on one line (``a, b, c``) share its text; a field without text maps to "".
    A subclass's text wins over its base's; a base documents the fields it declares.
    """
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        out |= {k: v for k, v in _own_attribute_docs(klass).items() if v or k not in out}
    return out


def _own_attribute_docs(cls: type) -> dict[str, str]:
    return section_docs(cls.__dict__.get("__doc__") or "", "Attributes")


def section_docs(docstring: str, section: str) -> dict[str, str]:
    """Each name's text in the numpydoc ``section`` (Attributes, Parameters) of a docstring."""
    doc = inspect.cleandoc(docstring)
    m = re.search(rf"^{section}\n-+\n(.*?)(?=^\S[^\n]*\n-+\n|\Z)", doc, re.S | re.M)
    if not m:
        return {}
    out: dict[str, str] = {}
    names: list[str] = []
    for line in m[1].splitlines():
        if line and not line[0].isspace():
            names = [n.strip() for n in line.split(":")[0].split(",")]
            for n in names:
                out[n] = ""
        elif line.strip() and names:
            for n in names:
                out[n] = (out[n] + " " + line.strip()).strip()
    return out


def _type_text(hint: Any) -> str:
    if hint is Any:
        return "any"
    origin = typing.get_origin(hint)
    if origin in (typing.Union, __import__("types").UnionType):
        return " or ".join(_type_text(a) for a in typing.get_args(hint))
    if origin is tuple:
        return f"list of {_type_text(typing.get_args(hint)[0])}"
    if hint is type(None):
        return "none"
    return getattr(hint, "__name__", str(hint))


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _shown(value: Any) -> str:
    if value is dataclasses.MISSING:
        return "required"
    if value is None:
        return "unset"
    if isinstance(value, tuple):
        value = list(value)
    return f"`{value!r}`".replace("|", "\\|")


def _allowed(f: dataclasses.Field, hint: Any) -> str:
    rule: Rule | None = f.metadata.get("rule")
    if rule is None:
        return "—"
    # the rule words a bound by its value's type: an unset default of an int field is an int
    example = 1 if int in (hint, *typing.get_args(hint)) else _default(f)
    text = rule.allowed(example).removeprefix("be ").removeprefix("lie in ")
    if rule.each:
        text = "each " + text
    return text.replace("|", "\\|")


def _cell(text: str) -> str:
    # Sphinx roles of the docstrings read as code on the site
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`").replace("|", "\\|")


def field_rows(cls: type, skip: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """One row per field of the dataclass ``cls``: name, type, allowed, default, meaning.

    The ``[trainer]`` fields are :func:`landscape.train.train`'s keyword arguments: a field the
    class leaves undocumented takes the text of that argument.
    """
    hints = typing.get_type_hints(cls)
    docs = attribute_docs(cls)
    if cls is schema.TrainerSection:
        from landscape.train import train

        docs = {
            k: v or docs.get(k, "") for k, v in section_docs(train.__doc__, "Parameters").items()
        } | {k: v for k, v in docs.items() if v}
    rows = []
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        rows.append(
            {
                "name": f.name,
                "type": _type_text(hints.get(f.name, Any)),
                "allowed": _allowed(f, hints.get(f.name, Any)),
                "default": _shown(_default(f)),
                "meaning": _cell(docs.get(f.name, "")),
            }
        )
    return rows


def _table(rows: list[dict[str, str]]) -> list[str]:
    out = ["| field | type | allowed | default | meaning |", "|---|---|---|---|---|"]
    for r in rows:
        out.append(
            f"| `{r['name']}` | {r['type']} | {r['allowed']} | {r['default']} | {r['meaning']} |"
        )
    return out


def analysis_readers() -> dict[str, list[str]]:
    """Each ``[analysis]`` field name → the kinds whose config has it, in registry order."""
    readers: dict[str, list[str]] = {}
    for name, kind in KINDS.items():
        for f in dataclasses.fields(kind.config):
            if f.name != "kind":
                readers.setdefault(f.name, []).append(name)
    return readers


def spec_reference() -> str:
    """The spec reference page, in Markdown, from the configuration classes."""
    out = [
        "# Spec reference",
        "",
        "Generated from the configuration classes when the site is built: every field a study "
        "spec (a TOML file, see `studies/`) may set, its type, the values it allows, its "
        "default and what it means. Any field can also be set from the command line with "
        "`--set section.field=value`. A value outside its range, an unknown field or a value "
        "of the wrong type is refused in one line naming it, before anything is written.",
    ]
    for section, cls, who in SECTIONS:
        out += ["", f"## `[{section}]`", "", who, ""]
        skip = ("name",) if section == "search.NAME" else ()
        out += _table(field_rows(cls, skip))
    out += [
        "",
        "## `[analysis]`",
        "",
        "A spec with an `[analysis]` section runs that analysis instead of a search; "
        f"`kind` names it (default `{DEFAULT_KIND}`). Each kind has its own fields; a field "
        "of another kind is refused. Which kinds read each field:",
        "",
        "| field | kinds that read it |",
        "|---|---|",
    ]
    for field, kinds in sorted(analysis_readers().items()):
        out.append(f"| `analysis.{field}` | {', '.join(kinds)} |")
    for name, kind in KINDS.items():
        doc = inspect.getdoc(kind.config) or ""
        first = _cell(doc.split("\n\n")[0].replace("\n", " "))
        out += ["", f'### `kind = "{name}"`', "", first, ""]
        out += _table(field_rows(kind.config, ("kind",)))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    page = {"cli": cli_reference, "spec": spec_reference}
    if len(sys.argv) != 2 or sys.argv[1] not in page:
        sys.exit("usage: python tools/reference.py cli|spec")
    print(page[sys.argv[1]](), end="")
