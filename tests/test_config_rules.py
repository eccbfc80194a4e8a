"""Every rule is checked before anything is stored: the five defects of the old layout, and a
sweep that sets every spec field to a bad value through ``--set``.

Each refusal is one line on stderr, exit code 2, and nothing written in the current folder
(no storage, no artifacts, no report).
"""

import dataclasses
import typing

import pytest

from landscape.analysis import KINDS
from landscape.rules import Rule, rules_of
from landscape.spec import find_spec, known_specs
from landscape.spec.schema import DataSection, ModelSection, StudySection
from landscape.study import main
from landscape.train import TrainConfig


def _refused(workdir, capsys, argv: list[str]) -> str:
    """Run ``argv``; assert exit 2, one line, nothing written; return the line."""
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, (argv, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("landscape: error: "), err
    assert sorted(p.name for p in workdir.iterdir()) == [], argv
    return lines[0]


def _names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _spec_of(kind: str) -> str:
    """A shipped spec of analysis ``kind`` (the first by name)."""
    for name in known_specs():
        if f'kind = "{kind}"' in find_spec(name)[1]:
            return name
    raise AssertionError(f"no shipped spec of kind {kind!r}")


# ------------------------------------------------------------------ the five defects


def test_track_sharpness_0_is_refused_before_a_study_is_written(workdir, capsys):
    # It passed every check and then failed inside the trial, leaving a study and a FAIL trial.
    line = _refused(workdir, capsys, ["lr_search", "--set", "trainer.track_sharpness=0"])
    assert line.endswith("trainer.track_sharpness=0 must be an integer >= 1 (or unset)"), line


def test_a_minima_spec_refuses_another_kinds_field_and_names_the_kinds_that_have_it(
    workdir, capsys
):
    line = _refused(workdir, capsys, ["minima", "--set", 'analysis.schedules=["bogus"]'])
    assert line == (
        "landscape: error: analysis.schedules is a field of analysis.kind = 'convergence', not "
        "of 'minima'; its fields: kind, n_starts, chunk, polish_gtol, polish_iter, tol, "
        "loss_tol, flat_tol, continue_steps, decide_steps, grow, engine"
    ), line


def test_a_minima_spec_does_not_judge_the_value_of_a_field_it_never_reads(workdir, capsys):
    # The old minima refused analysis.methods=[] (the empty list was invalid for spurious) and
    # accepted analysis.schedules=["bogus"]: it judged values of fields it never read. Now a
    # field of another kind is refused as such, whatever its value, and one it lacks is absent.
    owners = [
        k for k, v in KINDS.items() if "batches" in {f.name for f in dataclasses.fields(v.config)}
    ]
    assert owners and "minima" not in owners
    for value in ("[]", "[1]"):
        line = _refused(workdir, capsys, ["minima", "--set", f"analysis.batches={value}"])
        assert "analysis.batches is a field of analysis.kind = " in line, line
        assert "not of 'minima'" in line and "must" not in line, line
    # analysis.methods, the list of the old spurious, is gone from every kind and says why
    line = _refused(workdir, capsys, ["minima", "--set", "analysis.methods=[]"])
    assert "analysis.methods was removed" in line, line


def test_rel_tol_is_gone_and_says_why(workdir, capsys):
    line = _refused(workdir, capsys, ["minima", "--set", "analysis.rel_tol=1e-3"])
    assert "analysis.rel_tol was removed: it was read by nothing" in line, line


@pytest.mark.parametrize("value", ["0", "-1", "inf", "nan"])
@pytest.mark.parametrize("command", ["run", "repair"])
def test_grace_has_one_rule_for_the_run_and_for_repair(workdir, capsys, value, command):
    argv = (
        ["lr_search", "--storage", "g.db", "--grace", value]
        if command == "run"
        else ["repair", "--storage", "g.db", "--grace", value]
    )
    line = _refused(workdir, capsys, argv)
    assert line == f"landscape: error: --grace={float(value)!r} must be a finite number > 0", line


# ------------------------------------------------------------------ the sweep


def _bad_type(hint) -> str:
    """A TOML value of the wrong type for ``hint``."""
    text = str(hint)
    if "str" in text and "dict" not in text:
        return "{a = 1}"  # a table where a name is expected
    return '"text"'  # a string where a number, a flag, a list or a table is expected


def _out_of_range(rule: Rule, hint) -> str | None:
    if rule.choices is not None:
        return '"bogus"'
    integer = "int" in str(hint) and "float" not in str(hint)
    if rule.low is not None:
        bad = rule.low if rule.open_low else rule.low - 1
    elif rule.high is not None:
        bad = rule.high if rule.open_high else rule.high + 1
    else:
        return None
    value = str(int(bad)) if integer else repr(float(bad))
    return f"[{value}]" if rule.each else value


def _cases(prefix: str, cls: type, skip: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    hints = typing.get_type_hints(cls)
    rules = rules_of(cls)
    cases = []
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        cases.append((f"{prefix}.{f.name}", _bad_type(hints[f.name])))
        if f.name in rules:
            bad = _out_of_range(rules[f.name], hints[f.name])
            if bad is not None:
                cases.append((f"{prefix}.{f.name}", bad))
    return cases


SECTION_CASES = [
    ("lr_search", key, value)
    for prefix, cls in [
        ("study", StudySection),
        ("data", DataSection),
        ("model", ModelSection),
        ("trainer", TrainConfig),
    ]
    for key, value in _cases(prefix, cls)
] + [
    ("lr_search", "data.options", "{bogus = 1}"),
    ("lr_search", "model.frozen", "{W9 = 1.0}"),
    ("lr_search", "trainer.schedule_params", "{bogus = 1}"),
    ("lr_search", "sampler.name", '"bogus"'),
    ("lr_search", "sampler.options", "{bogus = 1}"),
    ("lr_search", "pruner.name", '"bogus"'),
    ("lr_search", "pruner.options", "{bogus = 1}"),
    ("lr_search", "search.lr.type", '"bogus"'),
    ("lr_search", "search.lr.target", '"trainer.nope"'),
    ("lr_search", "search.lr.low", "-1.0"),
    ("lr_search", "search.lr.high", '"text"'),
    ("lr_search", "search.lr.log", '"text"'),
    ("lr_search", "search.lr.step", "-1.0"),
    ("lr_search", "search.lr.when", '"text"'),
    ("lr_search", "description", "5"),
]

ANALYSIS_CASES = [
    (_spec_of(name), key, value)
    for name, kind in KINDS.items()
    for key, value in _cases("analysis", kind.config, skip=("kind",))
] + [("minima", "analysis.kind", '"bogus"')]


@pytest.mark.parametrize(
    ("spec", "key", "value"),
    SECTION_CASES + ANALYSIS_CASES,
    ids=[f"{s}:{k}={v}" for s, k, v in SECTION_CASES + ANALYSIS_CASES],
)
def test_every_spec_field_set_bad_is_refused_in_one_line_with_nothing_written(
    workdir, capsys, spec, key, value
):
    line = _refused(workdir, capsys, [spec, "--set", f"{key}={value}", "--no-progress"])
    # the line names the field it refuses (search params by their NAME.FIELD)
    field = key.split(".", 1)[1] if key.count(".") else key
    assert field.split(".")[-1] in line or key in line, line
