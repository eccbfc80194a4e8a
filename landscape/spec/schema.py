"""What a study spec is: its sections as frozen dataclasses, each field with its rule.

The ``[trainer]`` section is :class:`landscape.train.TrainConfig` itself, and the
``[analysis]`` section is the config of the analysis kind it names
(:data:`landscape.analysis.KINDS`): one dataclass per kind, so a minima spec has minima's
fields only. Loading is :mod:`landscape.spec.load`; the rules across fields and against the
data are :mod:`landscape.spec.validate`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import tomli_w

from landscape.activations import ACTIVATIONS
from landscape.analysis import KINDS
from landscape.data import DATASETS
from landscape.losses import LOSSES
from landscape.params import INIT_SCHEMES
from landscape.rules import setting
from landscape.train import TrainConfig


class SpecError(ValueError):
    """A spec, or an override of it, is invalid; the message is one line."""


METRICS = {  # metric: natural direction
    "val_loss": "minimize",
    "train_loss": "minimize",
    "val_accuracy": "maximize",
    "accuracy": "maximize",
}
SAMPLERS = ("tpe", "random", "qmc", "grid")
PRUNERS = ("median", "percentile", "successive_halving", "hyperband", "none")
PARAM_TYPES = ("float", "int", "categorical", "pow2")


@dataclass(frozen=True)
class StudySection:
    """How the study runs.

    Attributes
    ----------
    n_trials : int
        Trials one invocation adds, >= 1.
    timeout : float or None
        Seconds after which no new trial starts.
    seed : int
        Root of every random choice (data, θ⁽⁰⁾, shuffles, sampler).
    metric : str
        The value a trial returns: one of :data:`METRICS`.
    direction : str or None
        "minimize" or "maximize"; None takes the metric's natural direction.
    report_every : int
        Epochs between ``trial.report`` / ``should_prune`` (each costs a storage round trip).
    vary_init : bool
        False: every trial starts from the same θ⁽⁰⁾ and shuffles (common random numbers, so
        trials differ only in their parameters). True: θ⁽⁰⁾ and shuffles drawn per trial.
    bisect : int
        Trials run after the search, one at a time, each at the geometric midpoint of the
        largest completed non-diverged ε and the smallest diverged ε, never pruned: each
        halves the bracket of the divergence boundary (in log ε). Needs a search of
        ``trainer.lr`` alone.
    range_test : bool
        Before the search, run the LR range test (:mod:`landscape.analysis.range_test`) from
        trial 0's θ⁽⁰⁾ and search ``trainer.lr`` over the range it suggests instead of the
        spec's bounds. Needs a log-scale float search of ``trainer.lr``.
    track_sharpness : int
        Full-batch constant-ε searches: after the search, a few representative trials (the
        best, those nearest below and above the divergence boundary, a stalled one and one
        unstable at θ⁽⁰⁾) are trained again measuring λ_max this many times along the
        run, and the summary reads each against 2/ε (0: off).
    repeats : int
        Runs of each sampled configuration (searches), >= 1: repeat r > 0 is a trial with the
        same parameters, user attr ``repeat`` = r, and its own θ⁽⁰⁾ and shuffles (stream
        ``[seed, TRAIN, (trial number if vary_init), REPEAT, r]``). ``n_trials`` counts
        configurations; the report shows each configuration's median and interquartile range.
    """

    n_trials: int = setting(40, low=1)
    timeout: float | None = setting(None, low=0, open_low=True, optional=True)
    seed: int = setting(0, low=0)
    metric: str = setting("val_loss", choices=tuple(METRICS))
    direction: str | None = setting(None, choices=("minimize", "maximize"), optional=True)
    report_every: int = setting(1, low=1)
    vary_init: bool = False
    bisect: int = setting(0, low=0)
    range_test: bool = False
    track_sharpness: int = setting(50, low=0)
    repeats: int = setting(1, low=1)


@dataclass(frozen=True)
class DataSection:
    """Dataset by name, with generator options (see :func:`landscape.data.load_dataset`).

    Attributes
    ----------
    name : str
        One of :data:`landscape.data.DATASETS`: scikit-learn's generators and bundled sets,
        ``xor``, ``teacher`` and ``relu_teacher``. Nothing is downloaded.
    val_fraction : float or None
        Share of the samples held out for validation (stratified for classes); unset: the
        dataset's default (0.2; none for the teachers).
    options : dict
        Keyword options of the generator, e.g. ``{n_samples = 1000, noise = 0.3}`` for moons;
        ``random_state`` and the return format are the study's.
    """

    name: str = setting("moons", choices=DATASETS)
    val_fraction: float | None = setting(None, low=0, high=1, open_high=True, optional=True)
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSection:
    """Hidden widths, activation, loss, initialisation and frozen blocks of the MLP.

    Attributes
    ----------
    hidden : tuple of int
        Width of each hidden layer; the input and output sizes come from the data.
    activation : str
        Of every hidden unit: tanh, relu, sigmoid or identity (a linear network).
    loss : str
        ``mse`` (½·mean squared error, eq 5) or ``cross_entropy`` (softmax, eq 6).
    init : str or None
        Initialisation of θ⁽⁰⁾: glorot, he or normal; unset: glorot for tanh, sigmoid and
        identity, he for relu.
    init_scale : float
        Factor on the initial weights' standard deviation.
    frozen : dict
        Parameter blocks (``W1`` … ``WL``, ``b1`` … ``bL``) held at one value, never trained
        (see :class:`landscape.model.MLP`), e.g. ``{W2 = 1.0, b1 = 0.0, b2 = 0.0}``.
    """

    hidden: tuple[int, ...] = setting((16,), low=1, each=True)
    activation: str = setting("tanh", choices=tuple(ACTIVATIONS))
    loss: str = setting("cross_entropy", choices=tuple(LOSSES))
    init: str | None = setting(None, choices=INIT_SCHEMES, optional=True)
    init_scale: float = setting(1.0, low=0, open_low=True)
    frozen: dict = field(default_factory=dict)


TrainerSection = TrainConfig
"""The ``[trainer]`` section is the trainers' own configuration (no second copy of defaults)."""

ANALYSES = tuple(KINDS)
"""The analysis kinds a spec may name (``analysis.kind``)."""


@dataclass(frozen=True)
class Param:
    """One searched parameter.

    Attributes
    ----------
    name : str
        The Optuna parameter name.
    target : str
        Dotted path of the spec field it sets, e.g. ``trainer.lr``.
    type : {"float", "int", "categorical", "pow2"}
        ``pow2``: the powers of two from ``low`` up to ``high`` (default N, the training set
        size), with N itself added when it is not a power of two.
    low, high : float or None
        The range of a float, int or pow2 search (both ends included); ``high = "N"`` is the
        training set size.
    log : bool
        Sample a float or int range uniformly in its logarithm (ε spans decades).
    step : float or None
        A float or int range's step; the ``grid`` sampler needs it for float searches.
    choices : tuple or None
        The values of a categorical search.
    when : dict
        Only suggested when other parameters have these values, e.g. ``{schedule = "step"}``.
    """

    name: str
    target: str
    type: str = "float"
    low: float | None = None
    high: float | str | None = None
    log: bool = False
    step: float | None = None
    choices: tuple | None = None
    when: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Component:
    """A sampler or pruner by name with keyword options.

    Attributes
    ----------
    name : str
        Samplers: ``tpe``, ``random``, ``qmc``, ``grid``. Pruners: ``median``,
        ``percentile``, ``successive_halving``, ``hyperband``, ``none``.
    options : dict
        Keyword arguments of the Optuna class, e.g. ``{n_startup_trials = 10}``.
    """

    name: str
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Spec:
    """A whole study spec."""

    name: str
    description: str = ""
    study: StudySection = field(default_factory=StudySection)
    data: DataSection = field(default_factory=DataSection)
    model: ModelSection = field(default_factory=ModelSection)
    trainer: TrainerSection = field(default_factory=TrainerSection)
    search: tuple[Param, ...] = ()
    sampler: Component = field(default_factory=lambda: Component("tpe"))
    pruner: Component = field(default_factory=lambda: Component("median"))
    analysis: Any = None  # the config of the kind it names (landscape.analysis.KINDS)

    @property
    def direction(self) -> str:
        """The study direction: explicit, or the metric's natural one."""
        return self.study.direction or METRICS[self.study.metric]

    def to_dict(self) -> dict:
        """Return the resolved spec as plain data (JSON-able; tuples become lists)."""
        return _plain(dataclasses.asdict(self))

    def to_toml(self) -> str:
        """Return the resolved spec as a TOML spec file (parses back to an equal spec).

        Fields left at None are omitted (TOML has no null; the parser restores them).
        """
        doc = _without_none(self.to_dict())
        del doc["name"]  # a spec's name is its file's stem
        search = {p.pop("name"): p for p in doc.pop("search")}
        if search:
            doc["search"] = search
        header = f"# resolved spec {self.name!r}: run it as a spec file, or compare with another\n"
        return header + tomli_w.dumps(doc, multiline_strings=True)

    def search_space(self) -> list[dict]:
        """Return the search space as plain data, for comparing a resumed study with its spec."""
        return _plain([dataclasses.asdict(p) for p in self.search])


def _without_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _without_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_without_none(v) for v in obj]
    return obj


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


def _type_ok(value: Any, hint: Any) -> tuple[bool, Any]:
    """Check value against a (simple) type hint; return (ok, value coerced)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(hint):
            ok, v = _type_ok(value, arm)
            if ok:
                return True, v
        return False, value
    if hint is type(None):
        return value is None, value
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return True, float(value)
        return False, value
    if hint is str:
        return isinstance(value, str), value
    if hint is dict or origin is dict:
        return isinstance(value, dict), value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            return False, value
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            out = []
            for v in value:
                ok, cv = _type_ok(v, args[0])
                if not ok:
                    return False, value
                out.append(cv)
            return True, tuple(out)
        return True, tuple(value)
    return True, value


def _describe(hint: Any) -> str:
    text = str(hint).replace("typing.", "").replace("NoneType", "None")
    return text.replace("<class '", "").replace("'>", "")
