"""The one registry of analysis kinds: every entry is complete, and a new kind is one module.

tests/toykind.py is a kind written as a contributor would write it; registering it is the one
line ``KINDS["toy"] = KIND``. It then runs through the command line (spec file, ``--set``,
``--json``), is stored, resumed, listed and reported, with no other change to the toolkit.
"""

import dataclasses
import json
import sys
import typing
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from landscape.analysis import DEFAULT_KIND, KINDS, Kind
from landscape.report.text import describe
from landscape.rules import rules_of
from landscape.spec import find_spec, parse_spec
from landscape.study import main

sys.path.insert(0, str(Path(__file__).parent))
import toykind  # noqa: E402

PACKAGE = Path(__file__).parents[1] / "landscape"


@pytest.mark.parametrize("name", list(KINDS))
def test_every_registry_entry_is_complete(name):
    kind = KINDS[name]
    assert isinstance(kind, Kind) and kind.name == name
    # its adapter: one trial, or queued units with a way to finish them
    if kind.run is None:
        assert None not in (kind.units, kind.run_unit, kind.finish), name
    else:
        assert (kind.units, kind.run_unit, kind.finish) == (None, None, None), name
    # its config: a frozen dataclass whose kind field defaults to the name, with ruled fields
    assert dataclasses.is_dataclass(kind.config) and kind.config.__dataclass_params__.frozen
    assert kind.config().kind == name
    hints = typing.get_type_hints(kind.config)
    numeric = {f.name for f in dataclasses.fields(kind.config) if hints[f.name] in (int, float)}
    assert numeric <= set(rules_of(kind.config)), f"{name}: numbers without a rule"
    # its typed result has its own terminal text and its own page section
    from landscape.report.write import page

    assert dataclasses.is_dataclass(kind.result)
    assert describe.dispatch(kind.result) is not describe.dispatch(object), name
    assert page.dispatch(kind.result) is not page.dispatch(object), name
    # and a shipped spec that runs it (its figure is checked on a stored study: test_stored)
    specs = [
        p
        for p in (PACKAGE.parent / "studies").glob("*.toml")
        if f'kind = "{name}"' in p.read_text()
    ]
    assert specs, f"no shipped spec runs kind {name!r}"


def test_the_default_kind_is_registered():
    assert DEFAULT_KIND in KINDS


def test_no_module_outside_the_registry_compares_a_kinds_name():
    names = "|".join(KINDS)
    import re

    pattern = re.compile(rf"""(==|!=|\bin)\s*\(?\s*["']({names})["']|["']({names})["']\s*(==|!=)""")
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "analysis":
            continue  # the kinds themselves and their registry
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{i}: {line.strip()}")
    assert offenders == []


TOY_SPEC = """description = "The loss at random starts (a toy kind)."

[study]
seed = 3
metric = "train_loss"

[analysis]
kind = "toy"
n_starts = 6
chunk = 4

[data]
name = "moons"
options = { n_samples = 80 }

[model]
hidden = [5]
activation = "tanh"
loss = "cross_entropy"

[trainer]
method = "gd"
lr = 0.1
epochs = 10
"""


@pytest.fixture
def toy(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(KINDS, "toy", toykind.KIND)  # the registry line
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "toy.toml").write_text(TOY_SPEC)
    return tmp_path


def _expected_losses(overrides=()):
    """The loss at each start, computed apart from the kind: θ⁽⁰⁾ of start i from its stream."""
    from landscape.runs.problem import prepare

    problem = prepare(parse_spec("toy", find_spec("toy")[1], list(overrides)))
    model, thetas = problem.inputs.starts(range(problem.spec.analysis.n_starts))
    d = problem.data
    return np.array([model.loss(t, d.X_train, d.y_train) for t in thetas])


def test_a_toy_kind_runs_end_to_end_through_the_cli_report_and_json(toy, capsys):
    with threadpool_limits(1):
        expected = _expected_losses()
        args = ["toy", "--storage", "toy.db", "--no-progress"]
        assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "toy"
    assert (out["chunks"], out["chunks_complete"]) == (2, 2)
    res = out["toy"]
    assert res["n_starts"] == 6
    np.testing.assert_allclose(res["losses"], expected, rtol=1e-13)
    assert res["mean_loss"] == pytest.approx(expected.mean(), rel=1e-13)
    assert res["min_loss"] == pytest.approx(expected.min(), rel=1e-13)
    # the report: the generic page shows the result's fields
    page = (toy / "reports" / "toy" / "index.html").read_text()
    assert "mean_loss" in page and f"{res['mean_loss']:.6g}"[:6] in page
    # the terminal text without --json: the generic describe, field by field
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "mean_loss: " in text and "n_starts: 6" in text
    # resumed: every unit found done, nothing trained again, the same result
    import optuna

    study = optuna.load_study(study_name="toy", storage="sqlite:///toy.db")
    assert len(study.trials) == 2
    assert study.user_attrs["found"] == toykind.KIND.headline(toykind.ToyResult(**{
        **{k: res[k] for k in ("n_starts", "mean_loss", "min_loss")}, "losses": tuple(expected)
    }))  # fmt: skip
    # listed with its headline; reported again from the storage alone
    assert main(["list", "--storage", "toy.db", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["studies"]
    assert (row["kind"], row["found"]) == ("toy", study.user_attrs["found"])
    assert main(["report", "toy", "--storage", "toy.db"]) == 0
    capsys.readouterr()


def test_a_toy_kind_with_its_own_text_page_and_figure(toy, capsys):
    """A kind that wants more than the defaults registers a text, a page and a figure."""
    from matplotlib.figure import Figure

    from landscape.report.text import describe
    from landscape.report.write import page

    @dataclasses.dataclass(frozen=True)
    class Result(toykind.ToyResult):
        pass

    def finish(inputs, config, parts):
        r, arrays = toykind.finish(inputs, config, parts)
        return Result(**dataclasses.asdict(r)), arrays

    @describe.register
    def _(r: Result) -> str:
        return f"toy: {r.n_starts} starts, mean loss {r.mean_loss:.4f}"

    @page.register
    def _(r: Result, study, store, add):
        fig = Figure()
        ax = fig.subplots()
        ax.hist(r.losses, bins=5)
        ax.set_xlabel("loss at θ⁽⁰⁾")
        add("toy.png", fig, "Loss at the starts", "One bar per bin of starts.")
        return [("starts", r.n_starts), ("mean loss", r.mean_loss)], []

    kind = dataclasses.replace(toykind.KIND, result=Result, finish=finish)
    KINDS["toy"] = kind  # (the fixture restores the registry)
    with threadpool_limits(1):
        assert main(["toy", "--storage", "toy.db", "--no-progress"]) == 0
    assert "toy: 6 starts, mean loss" in capsys.readouterr().out
    folder = toy / "reports" / "toy"
    assert (folder / "toy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (folder / "index.html").read_text()
    assert "Loss at the starts" in html and "mean loss" in html


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("analysis.n_starts=0", "analysis.n_starts=0 must lie in [1, 1000]"),
        ("analysis.chunk=-1", "analysis.chunk=-1 must be"),
        ("analysis.n_start=3", "analysis.n_start is not a spec field; allowed: kind, n_starts"),
        ("analysis.polish_iter=3", "analysis.polish_iter is a field of analysis.kind = 'minima'"),
    ],
)
def test_a_toy_kinds_rules_refuse_bad_values_before_anything_is_written(
    toy, capsys, override, message
):
    assert main(["toy", "--storage", "toy.db", "--set", override]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (toy / "toy.db").exists() and not (toy / "reports").exists()
