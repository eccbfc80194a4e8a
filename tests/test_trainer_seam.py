"""Every [trainer] field, set on every kind of spec, reaches the trainer or is refused."""

import optuna
import pytest

from landscape.analysis import convergence, escape, geometry, minima, symmetry
from landscape.runs import search
from landscape.runs.problem import prepare
from landscape.runs.search import make_objective
from landscape.spec import SpecError, find_spec, parse_spec
from landscape.train import TrainConfig

FIELDS = {  # field: (--set overrides, the trainer keyword and the value it must receive)
    "method": (["trainer.method=online"], "batch_size", 1),
    "epochs": (["trainer.epochs=7"], "epochs", 7),
    "batch_size": (["trainer.method=minibatch", "trainer.batch_size=8"], "batch_size", 8),
    "lr": (["trainer.lr=0.123"], "lr", 0.123),
    "schedule": (
        ["trainer.schedule=inverse_time", "trainer.schedule_params={tau=50}"],
        "schedule",
        "inverse_time",
    ),
    "schedule_params": (
        ["trainer.schedule=inverse_time", "trainer.schedule_params={tau=50}"],
        "schedule_params",
        {"tau": 50},
    ),
    "max_updates": (["trainer.max_updates=5"], "max_updates", 5),
    "gtol": (["trainer.gtol=0.001"], "gtol", 0.001),
    "atol": (["trainer.atol=1e-9"], "atol", 1e-9),
    "rtol": (["trainer.rtol=1e-9"], "rtol", 1e-9),
    "diverge_factor": (["trainer.diverge_factor=5.0"], "diverge_factor", 5.0),
    "stall_window": (["trainer.stall_window=3"], "stall_window", 3),
    "stall_tol": (["trainer.stall_tol=0.05"], "stall_tol", 0.05),
    "drop_last": (["trainer.drop_last=true"], "drop_last", True),
    "eval_every": (["trainer.eval_every=2", "study.report_every=2"], "eval_every", 2),
    "track_sharpness": (["trainer.track_sharpness=4"], "track_sharpness", 4),
}
MANY = ("stall_window", "stall_tol", "drop_last", "eval_every", "track_sharpness")
REFUSED = {  # (spec, field): what the refusal says
    ("lr_search", "lr"): "trainer.lr is searched (search.lr)",
    **{("minima", f): f"trainer.{f}=" for f in MANY},
    # escape runs the noise axis: its runs take ε, B and U from [analysis]; trainer.lr alone
    # is its own (GD's reference runs and the descent that decides basins)
    **{("escape", f): f"escape: trainer.{f}=" for f in FIELDS if f != "lr"},
    # (these overrides set trainer.method / trainer.schedule too, which are named first)
    ("escape", "batch_size"): "escape: trainer.method=",
    ("escape", "schedule_params"): "escape: trainer.schedule=",
    # (its schedule_params override sets the schedule too, which is named first)
    **{
        ("schedule_convergence", f): f"convergence: trainer.{f.removesuffix('_params')}="
        for f in ("lr", "schedule", "schedule_params")
    },
}
SMALL = {
    "lr_search": ["data.name=moons", "data.options.n_samples=60"],
    "minima": ["analysis.n_starts=2", "analysis.chunk=2", "data.options.n_samples=40"],
    "escape": ["analysis.n_starts=2", "data.options.n_samples=100", "analysis.horizons=[20]"],
    "symmetry": ["data.options.n_samples=40"],
    "geometry": ["data.options.n_samples=40"],
    "schedule_convergence": ["data.options.n_samples=60"],
}


class Captured(Exception):
    def __init__(self, kwargs):
        super().__init__("captured")
        self.kwargs = kwargs


def _spy(*args, **kwargs):
    raise Captured(kwargs)


def _run_to_the_trainer(spec):
    problem = prepare(spec)
    kind = spec.analysis.kind if spec.analysis else "search"
    study = optuna.create_study()
    with pytest.raises(Captured) as info:
        if kind == "search":
            study.enqueue_trial({"lr": 0.01})  # the searched ε, fixed for the comparison
            make_objective(problem)(study.ask())
        elif kind == "minima":
            minima.run_chunk(problem.inputs, spec.analysis, 0)
        elif kind == "symmetry":
            symmetry.run_symmetry(problem.inputs, spec.analysis)
        elif kind == "convergence":
            convergence.run_convergence(problem.inputs, spec.analysis)
        else:
            geometry.run_geometry(problem.inputs, spec.analysis)
    return info.value.kwargs


@pytest.mark.parametrize("field", list(FIELDS))
@pytest.mark.parametrize("name", list(SMALL))
def test_trainer_field_reaches_the_trainer_or_is_refused(monkeypatch, name, field):
    for module in (search, symmetry, geometry, convergence):
        monkeypatch.setattr(module, "train", _spy, raising=False)
    monkeypatch.setattr(minima, "train_many", _spy)
    overrides, keyword, value = FIELDS[field]
    refusal = REFUSED.get((name, field))
    if refusal is not None:
        with pytest.raises(SpecError, match=refusal.replace("(", r"\(").replace(")", r"\)")):
            prepare(parse_spec(*find_spec(name), [*SMALL[name], *overrides]))
        return
    spec = parse_spec(*find_spec(name), [*SMALL[name], *overrides])
    if name == "escape":  # lr: GD's reference ε and the basin descent's
        problem = prepare(spec)
        assert escape.sample_chains(problem.inputs, spec.analysis).basin_lr == value
        assert spec.analysis.axis(spec.trainer.lr).lr == value
        return
    kwargs = _run_to_the_trainer(spec)
    assert kwargs[keyword] == value
    # and nothing else of the section was lost: every other field at the spec's value
    baseline = _run_to_the_trainer(parse_spec(*find_spec(name), SMALL[name]))
    settings = set(TrainConfig().train_kwargs(10)) & set(kwargs)
    changed = {k for k in settings if kwargs[k] != baseline[k]}
    assert changed <= {keyword, "schedule", "schedule_params", "batch_size"}
