"""Rules of configuration fields, each written once beside its field.

A configuration class (the trainer's, an analysis's) declares each field with :func:`setting`:
its default and the values it allows. The same :class:`Rule` is read by the spec's validation
(a bad value refused in one line before anything is stored) and by the code that uses the value
(the trainer checking its keyword arguments), so the two cannot drift apart. This is
scikit-learn's ``_parameter_constraints`` idea, kept in the dataclass's field metadata.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


class RuleError(ValueError):
    """A value its field does not allow; the message is one line naming both."""


@dataclass(frozen=True)
class Rule:
    """The values one field allows.

    Attributes
    ----------
    low, high : float or None
        Bounds of a number; ``open_low`` / ``open_high`` exclude them.
    choices : tuple or None
        The allowed values of a name.
    optional : bool
        None is allowed too (the field is off or taken from elsewhere).
    finite : bool
        A number must be finite (TOML reads ``inf`` and ``nan`` as numbers).
    each : bool
        The rule applies to every element of a list-valued field.
    why : str
        Why the bound is there, added to the refusal when it is not obvious.
    """

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    choices: tuple | None = None
    optional: bool = False
    finite: bool = True
    each: bool = False
    why: str = ""

    def allowed(self, value: Any = None) -> str:
        """The allowed values, in words (``lie in (0, 1]``, ``be an integer >= 1``, …)."""
        if self.choices is not None:
            text = "be one of " + ", ".join(map(str, self.choices))
        elif self.low is not None and self.high is not None:
            left, right = "(" if self.open_low else "[", ")" if self.open_high else "]"
            text = f"lie in {left}{_num(self.low)}, {_num(self.high)}{right}"
        else:
            what = (
                "an integer"
                if isinstance(value, int) and not isinstance(value, bool)
                else ("a finite number")
            )
            if self.low is not None:
                text = f"be {what} {'>' if self.open_low else '>='} {_num(self.low)}"
            elif self.high is not None:
                text = f"be {what} {'<' if self.open_high else '<='} {_num(self.high)}"
            else:
                text = f"be {what}"
        return text + (" (or unset)" if self.optional else "")

    def ok(self, value: Any) -> bool:
        """Whether ``value`` (one value, not a list) is allowed."""
        if value is None:
            return self.optional
        if self.choices is not None:
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, int | float):
            return self.low is None and self.high is None
        if self.finite and not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.open_low else value < self.low):
            return False
        return not (
            self.high is not None and (value >= self.high if self.open_high else value > self.high)
        )

    def check(self, where: str, value: Any) -> None:
        """Raise :class:`RuleError` naming ``where`` when ``value`` is not allowed.

        A name outside ``choices`` reads "is unknown; allowed: …"; a number out of range
        "must be an integer >= 1", "must lie in [0, 1)", and so on.
        """
        values = value if self.each and isinstance(value, list | tuple) else [value]
        for v in values:
            if self.ok(v):
                continue
            shown = f"{where}={value!r}" if v is value else f"{where}: {v!r}"
            if self.choices is not None and v is not None:
                raise RuleError(f"{shown} is unknown; allowed: {', '.join(map(str, self.choices))}")
            why = f" ({self.why})" if self.why else ""
            raise RuleError(f"{shown} must {self.allowed(v)}{why}")


GRACE = Rule(low=0, open_low=True)
"""``--grace`` of a run and of ``repair``: seconds after which a RUNNING trial is stale."""


def _num(bound: float) -> str:
    """A bound as written: integers in full (1000000, not 1e+06), other numbers by ``g``."""
    if float(bound).is_integer() and abs(bound) < 1e16:
        return str(int(bound))
    return f"{bound:g}"


def setting(default: Any = dataclasses.MISSING, *, factory=None, **rule: Any):
    """A dataclass field with its default and its :class:`Rule`.

    Parameters
    ----------
    default
        The default value (or ``factory`` for a mutable one).
    **rule
        The :class:`Rule`'s arguments (``low=0, open_low=True``, ``choices=(…)``).
    """
    meta = {"rule": Rule(**rule)} if rule else {}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def rules_of(cls: type) -> dict[str, Rule]:
    """Every field of the dataclass ``cls`` that carries a rule, by name."""
    return {f.name: f.metadata["rule"] for f in dataclasses.fields(cls) if "rule" in f.metadata}


def check_fields(obj: Any, prefix: str = "") -> None:
    """Check every ruled field of the dataclass instance ``obj``.

    Raises
    ------
    RuleError
        For the first field whose value its rule refuses, named ``prefix.field``.
    """
    for name, rule in rules_of(type(obj)).items():
        rule.check(f"{prefix}.{name}" if prefix else name, getattr(obj, name))


def check_values(cls: type, values: dict[str, Any], prefix: str = "") -> None:
    """Check keyword values against the rules of ``cls``'s fields of the same names."""
    rules = rules_of(cls)
    for name, value in values.items():
        if name in rules:
            rules[name].check(f"{prefix}.{name}" if prefix else name, value)


def iter_rules(cls: type) -> Iterator[tuple[str, Rule]]:
    """(field name, rule) of every ruled field of ``cls``, in declaration order."""
    yield from rules_of(cls).items()


class UsageError(ValueError):
    """Bad options of a run: reported in one line with exit code 2 by the CLI."""
