"""Loading study specs: TOML files, ``--set`` overrides, names of earlier versions.

A spec names the data, the model, the trainer, the search space, the sampler and pruner, and
the metric (:mod:`landscape.spec.schema`). ``--set key=value`` overrides any field by its dotted
path (``data.name``, ``trainer.epochs``, ``search.lr.high``). Every error is a
:class:`~landscape.spec.schema.SpecError` whose message is one line naming the bad value and what
is allowed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import typing
from pathlib import Path
from typing import Any

from landscape.analysis import DEFAULT_KIND, KINDS
from landscape.spec.names import known_specs, spec_dirs
from landscape.spec.schema import (
    Component,
    DataSection,
    ModelSection,
    Param,
    Spec,
    SpecError,
    StudySection,
    TrainerSection,
    _describe,
    _type_ok,
)
from landscape.spec.validate import validate_static


# --------------------------------------------------------------------------- discovery
def find_spec(name: str) -> tuple[str, str]:
    """Resolve a spec name or path to (spec name, TOML text).

    Raises
    ------
    SpecError
        If no such spec exists; the message lists the known names.
    """
    path = Path(name)
    if name.endswith(".toml") or path.is_file():
        if not path.is_file():
            raise SpecError(f"spec file {name!r} does not exist")
        return path.stem, _read_text(path, name)
    for d in spec_dirs():
        candidate = d / f"{name}.toml"
        if candidate.is_file():
            return name, _read_text(candidate, name)
    raise SpecError(f"spec {name!r} is unknown; known: {', '.join(known_specs()) or 'none'}")


MAX_SPEC_BYTES = 1 << 20
"""A spec (file, or one ``--set`` value) is at most 1 MiB: it is copied into the storage, an
artifact and every report, and real specs are a few KiB."""

MAX_SPEC_DEPTH = 16
"""Tables and arrays nest at most this deep (the deepest real field, a categorical choice of
hidden widths inside a search table, is 4)."""


def _read_text(path: Any, name: str) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise SpecError(
                f"spec file {name!r} has {size:,} bytes; a spec may have at most "
                f"{MAX_SPEC_BYTES:,} (1 MiB)"
            )
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"spec file {name!r} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at "
            f"offset {exc.start}); TOML files are UTF-8"
        ) from None
    except OSError as exc:
        raise SpecError(f"spec file {name!r} cannot be read ({exc.strerror})") from None


# ------------------------------------------------------------------------ conversion
_SECTIONS = {
    "study": StudySection,
    "data": DataSection,
    "model": ModelSection,
    "trainer": TrainerSection,
    "sampler": Component,
    "pruner": Component,
    "analysis": None,  # the config of the kind it names: see _build_analysis
}


def _check_finite(where: str, value: Any) -> None:
    """TOML reads inf and nan as numbers; no field of a spec means anything by them."""
    values = value if isinstance(value, tuple | list) else (value,)
    for v in values:
        if isinstance(v, float) and not math.isfinite(v):
            raise SpecError(f"{where}={value!r} must be a finite number")


REMOVED = {
    "analysis.methods": "seed 1.3 runs over a noise axis: list batch sizes in analysis.batches "
    "(GD is the paired control of every cell)",
    "analysis.sgd_lr": "the step sizes come from SGD's own divergence step: analysis.grid = "
    "'auto' (or a list)",
    "analysis.tau": "runs use a constant ε then a cool-down: analysis.cooldown and cool_factor",
    "analysis.updates": "updates per run are analysis.horizons (a list)",
    "analysis.escape_starts": "every distinct bad minimum GD finds is started from: "
    "analysis.chains per minimum",
    "analysis.escape_runs": "chains per distinct bad minimum are analysis.chains",
    "analysis.max_move": "a run's basin is decided by descent from its end point (no polish)",
    "analysis.rel_tol": "it was read by nothing (the minima analysis uses analysis.flat_tol)",
}
"""Fields of earlier versions, with what replaced them (the one-line refusal says it)."""


def _build(cls: type, raw: Any, where: str, *, lenient: bool = False) -> Any:
    """Build section ``cls`` from its TOML table: known fields, right types, finite numbers.

    With ``lenient`` (a spec stored by an earlier version) fields that no longer exist are
    dropped instead of refused.
    """
    if not isinstance(raw, dict):
        raise SpecError(f"{where} must be a table, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in raw.items():
        if key not in names:
            if lenient:
                continue
            _refuse_unknown(where, key, names, cls)
        ok, coerced = _type_ok(value, hints[key])
        if not ok:
            raise SpecError(
                f"{where}.{key}={value!r} has the wrong type; expected {_describe(hints[key])}"
            )
        _check_finite(f"{where}.{key}", coerced)
        kwargs[key] = coerced
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise SpecError(f"{where}: {exc}") from None


def _refuse_unknown(where: str, key: str, names: list[str], cls: type) -> None:
    hint = REMOVED.get(f"{where}.{key}")
    if hint is not None:
        raise SpecError(f"{where}.{key} was removed: {hint}")
    if where == "analysis":
        kinds = [k for k, kind in KINDS.items() if key in _field_names(kind.config)]
        if kinds:
            raise SpecError(
                f"analysis.{key} is a field of analysis.kind = {' or '.join(map(repr, kinds))}, "
                f"not of {cls().kind!r}; its fields: {', '.join(names)}"
            )
    raise SpecError(f"{where}.{key} is not a spec field; allowed: {', '.join(names)}")


def _field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _build_analysis(raw: Any, *, lenient: bool = False) -> Any:
    """The ``[analysis]`` section: the config of the kind it names (default: the registry's)."""
    if not isinstance(raw, dict):
        raise SpecError(f"analysis must be a table, got {raw!r}")
    kind = raw.get("kind", DEFAULT_KIND)
    if kind not in KINDS:
        raise SpecError(f"analysis.kind={kind!r} is unknown; allowed: {', '.join(KINDS)}")
    return _build(KINDS[kind].config, {**raw, "kind": kind}, "analysis", lenient=lenient)


def _section(key: str, raw: Any, *, lenient: bool = False) -> Any:
    if key == "analysis":
        return _build_analysis(raw, lenient=lenient)
    return _build(_SECTIONS[key], raw, key, lenient=lenient)


def parse_spec(name: str, text: str, overrides: list[str] | tuple[str, ...] = ()) -> Spec:
    """Parse TOML text into a :class:`Spec`, apply ``key=value`` overrides and validate it.

    Parameters
    ----------
    name : str
        The spec's name (its file stem).
    text : str
        TOML.
    overrides : list of str
        ``dotted.path=value`` strings; the value is read as TOML, or as a bare string.

    Returns
    -------
    Spec
    """
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(
            f"spec {name!r} has {len(text):,} characters; a spec may have at most "
            f"{MAX_SPEC_BYTES:,} (1 MiB)"
        )
    raw = _loads(text, f"spec {name!r}")
    for item in overrides:
        _apply_override(raw, item)
    _check_size(raw, name)
    allowed = ["description", *_SECTIONS, "search"]
    for key in raw:
        if key not in allowed:
            raise SpecError(f"{key!r} is not a spec section; allowed: {', '.join(allowed)}")
    kwargs: dict[str, Any] = {"name": name}
    if "description" in raw:
        if not isinstance(raw["description"], str):
            raise SpecError(f"description={raw['description']!r} must be a string")
        kwargs["description"] = raw["description"]
    for key in _SECTIONS:
        if key in raw:
            kwargs[key] = _section(key, raw[key])
    search = raw.get("search", {})
    if not isinstance(search, dict):
        raise SpecError("search must be a table of parameters, e.g. [search.lr]")
    params = []
    for pname, praw in search.items():
        praw = dict(praw) if isinstance(praw, dict) else praw
        if isinstance(praw, dict):
            praw.setdefault("name", pname)
        params.append(_build(Param, praw, f"search.{pname}"))
    kwargs["search"] = tuple(params)
    spec = Spec(**kwargs)
    validate_static(spec)
    _refuse_fixing_searched(spec, overrides)
    return spec


def _loads(text: str, what: str) -> dict:
    """``tomllib.loads`` with the depth cap (tomllib recurses once per nesting level)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{what} is not valid TOML: {exc}") from None
    except RecursionError:
        raise SpecError(
            f"{what} nests tables or arrays too deep; at most {MAX_SPEC_DEPTH} levels"
        ) from None
    _check_depth(raw, what)
    return raw


def _check_depth(obj: Any, what: str) -> None:
    stack = [(obj, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_SPEC_DEPTH:
            raise SpecError(
                f"{what} nests tables or arrays too deep (more than {MAX_SPEC_DEPTH} levels); "
                f"at most {MAX_SPEC_DEPTH}"
            )
        if isinstance(node, dict):
            stack += [(v, depth + 1) for v in node.values()]
        elif isinstance(node, list):
            stack += [(v, depth + 1) for v in node]


def _check_size(raw: dict, name: str) -> None:
    """The spec with its overrides, as stored, is at most :data:`MAX_SPEC_BYTES`."""
    size = len(json.dumps(raw, default=str))
    if size > MAX_SPEC_BYTES:
        raise SpecError(
            f"spec {name!r} with its --set values has {size:,} characters; a spec may have at "
            f"most {MAX_SPEC_BYTES:,} (1 MiB)"
        )


def spec_from_dict(name: str, resolved: dict) -> Spec:
    """Rebuild a :class:`Spec` from its resolved form (:meth:`Spec.to_dict`, as studies store it).

    Raises
    ------
    SpecError
        When the stored form does not validate (e.g. made by an incompatible version).
    """
    raw = {k: v for k, v in resolved.items() if k != "name" and v is not None}
    if isinstance(raw.get("search"), list):
        raw["search"] = {p["name"]: p for p in raw["search"]}
    kwargs: dict[str, Any] = {"name": name, "description": raw.get("description", "")}
    for key in _SECTIONS:
        if key in raw:
            table = {k: v for k, v in raw[key].items() if v is not None}
            kwargs[key] = _section(key, table, lenient=True)
    kwargs["search"] = tuple(
        _build(Param, {k: v for k, v in p.items() if v is not None}, f"search.{n}")
        for n, p in raw.get("search", {}).items()
    )
    spec = Spec(**kwargs)
    validate_static(spec)
    return spec


def _refuse_fixing_searched(spec: Spec, overrides: list[str] | tuple[str, ...]) -> None:
    """A ``--set`` of a field the search sets would be silently overwritten by every trial."""
    for item in overrides:
        parts, text = override_key(item)
        if parts[0] not in ("trainer", "model", "data"):
            continue
        path = ".".join(parts)
        for p in spec.search:
            if (
                p.target == path
                or p.target.startswith(path + ".")
                or path.startswith(p.target + ".")
            ):
                name = f'"{p.name}"' if "." in p.name else p.name
                fix = (
                    f"--set search.{name}.choices=[{text}]"
                    if p.type == "categorical"
                    else f"--set search.{name}.low={text} --set search.{name}.high={text}"
                )
                raise SpecError(
                    f"--set {path}={text}: {p.target} is searched (search.{p.name}) and every "
                    f"trial would overwrite it; narrow the search instead: {fix}"
                )


def override_key(item: str) -> tuple[list[str], str]:
    """Split ``--set KEY=VALUE`` into KEY's parts and the value text.

    KEY is a TOML dotted key, so a name holding a dot is quoted:
    ``search."linear.tau".low=100`` has the parts ``search``, ``linear.tau``, ``low``.
    """
    key, sep, text = _split_assignment(item)
    if not sep or not key:
        raise SpecError(f"--set {item!r} must look like key=value, e.g. data.name=digits")
    try:
        node = tomllib.loads(f"{key} = 0")
    except tomllib.TOMLDecodeError:
        raise SpecError(
            f"--set {item!r}: {key!r} is not a dotted key; quote a name that holds a dot, e.g. "
            'search."linear.tau".low=100'
        ) from None
    parts = []
    while isinstance(node, dict):
        ((part, node),) = node.items()
        parts.append(part)
    return parts, text


def _split_assignment(item: str) -> tuple[str, str, str]:
    """Partition at the first ``=`` outside double quotes (a quoted name may hold one)."""
    quoted = False
    for i, ch in enumerate(item):
        if ch == '"':
            quoted = not quoted
        elif ch == "=" and not quoted:
            return item[:i].strip(), "=", item[i + 1 :]
    return item.strip(), "", ""


def _apply_override(raw: dict, item: str) -> None:
    parts, text = override_key(item)
    key = ".".join(f'"{p}"' if "." in p else p for p in parts)
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()  # a bare word such as digits
    except RecursionError:
        raise SpecError(
            f"--set {item.partition('=')[0]}: the value nests arrays or tables too deep; at most "
            f"{MAX_SPEC_DEPTH} levels"
        ) from None
    _check_depth(value, f"--set {item.partition('=')[0]}")
    top = parts[0]
    if top not in {"description", *_SECTIONS, "search"}:
        raise SpecError(
            f"--set {key}: {top!r} is not a spec section; allowed: description, "
            f"{', '.join(_SECTIONS)}, search"
        )
    node = raw
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            if top == "search" and i == 1:
                known = ", ".join(raw.get("search", {})) or "none"
                raise SpecError(
                    f"--set {key}: no searched parameter {part!r} (known: {known}); quote a "
                    'NAME that holds a dot: search."linear.tau".low=100'
                )
            child = node[part] = {}
        if not isinstance(child, dict):
            raise SpecError(f"--set {key}: {'.'.join(parts[: i + 1])} is not a table")
        node = child
    leaf = parts[-1]
    _check_override_key(parts, key)
    node[leaf] = value


def _check_override_key(parts: list[str], key: str) -> None:
    """Reject unknown fields early, so a typo is named as such rather than ignored."""
    top = parts[0]
    if top == "description":
        if len(parts) != 1:
            raise SpecError(f"--set {key}: description has no fields")
        return
    if top == "search":
        if len(parts) != 3:
            raise SpecError(
                f"--set {key}: use search.NAME.FIELD, e.g. search.lr.high=10; quote a NAME that "
                'holds a dot: search."linear.tau".low=100'
            )
        cls: type = Param
    else:
        cls = _SECTIONS[top]
        if len(parts) < 2:
            first = "kind" if cls is None else dataclasses.fields(cls)[0].name
            raise SpecError(f"--set {key}: name a field, e.g. {top}.{first}")
    if cls is None:  # analysis: its kind's fields, known once the section is built
        return
    names = [f.name for f in dataclasses.fields(cls)]
    fld = parts[-1] if top == "search" else parts[1]
    if fld not in names:
        hint = REMOVED.get(f"{top}.{fld}")
        if hint is not None:
            raise SpecError(f"--set {key}: {top}.{fld} was removed: {hint}")
        raise SpecError(
            f"--set {key}: {fld!r} is not a field of {top}; allowed: {', '.join(names)}"
        )
    if top != "search" and len(parts) > 2 and fld not in ("options", "schedule_params", "frozen"):
        raise SpecError(f"--set {key}: {top}.{fld} has no sub-fields")
