"""Study specs: TOML files parsed into frozen dataclasses and validated before anything runs.

A spec names the data, the model, the trainer, the search space, the sampler and pruner, and
the metric. ``--set key=value`` overrides any field by its dotted path (``data.name``,
``trainer.epochs``, ``search.lr.high``). Every error is a :class:`SpecError` whose message is
one line naming the bad value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w

from landscape.activations import ACTIVATIONS
from landscape.data import DATASETS, dataset_options
from landscape.losses import LOSSES
from landscape.params import INIT_SCHEMES
from landscape.schedules import SCHEDULES, make_schedule
from landscape.train import METHODS, TrainConfig


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
        best, those nearest below and above the divergence boundary, a stalled one and one at
        one unstable at θ⁽⁰⁾) are trained again measuring λ_max this many times along the
        run, and the summary reads each against 2/ε (0: off).
    repeats : int
        Runs of each sampled configuration (searches), >= 1: repeat r > 0 is a trial with the
        same parameters, user attr ``repeat`` = r, and its own θ⁽⁰⁾ and shuffles (stream
        ``[seed, TRAIN, (trial number if vary_init), REPEAT, r]``). ``n_trials`` counts
        configurations; the report shows each configuration's median and interquartile range.
    """

    n_trials: int = 40
    timeout: float | None = None
    seed: int = 0
    metric: str = "val_loss"
    direction: str | None = None
    report_every: int = 1
    vary_init: bool = False
    bisect: int = 0
    range_test: bool = False
    track_sharpness: int = 50
    repeats: int = 1


@dataclass(frozen=True)
class DataSection:
    """Dataset by name, with generator options (see :func:`landscape.data.load_dataset`)."""

    name: str = "moons"
    val_fraction: float | None = None
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSection:
    """Hidden widths, activation, loss, initialisation and frozen blocks of the MLP.

    ``frozen`` maps parameter blocks (``W1`` … ``WL``, ``b1`` … ``bL``) to the value they are
    held at (see :class:`landscape.model.MLP`), e.g. ``{W2 = 1.0, b1 = 0.0, b2 = 0.0}``.
    """

    hidden: tuple[int, ...] = (16,)
    activation: str = "tanh"
    loss: str = "cross_entropy"
    init: str | None = None
    init_scale: float = 1.0
    frozen: dict = field(default_factory=dict)


TrainerSection = TrainConfig
"""The ``[trainer]`` section is the trainers' own configuration (no second copy of defaults)."""


ANALYSES = ("minima", "symmetry", "geometry", "escape", "convergence", "spurious")


@dataclass(frozen=True)
class AnalysisSection:
    """A landscape analysis instead of a search (seed 1.2).

    Attributes
    ----------
    kind : {"minima", "symmetry", "geometry", "escape"}
        ``minima``: train ``n_starts`` random θ⁽⁰⁾ at once, polish the end points, continue
        descent from each and probe its flat directions to tell an isolated minimum from a
        family of minima, a slope to infinity, a saddle or an undecided point, and count the
        distinct ones of each kind modulo the model's symmetries. ``symmetry``: verify the
        unit-swap symmetry on one network. ``geometry``:
        two minima from two starts, the paths between them before and after aligning their
        units, and slices of the loss around the first. ``escape``: seed 1.3 over its noise
        axis on the study's data and model (:mod:`landscape.analysis.escape`); ``spurious``:
        the same on Safran & Shamir's ReLU networks in closed form
        (:mod:`landscape.analysis.spurious`).
    n_starts : int
        Random starts (minima, escape).
    chunk : int
        Starts per trial: the unit of work one worker takes at a time (minima).
    polish_gtol : float
        ‖∇E‖ an end point is polished to (minima, escape).
    polish_iter : int
        L-BFGS iteration budget of the polishing (minima, escape).
    tol, loss_tol : float
        Relative clustering tolerances on θ and E (minima; loss_tol also escape's examination).
    rel_tol : float
        Hessian flatness tolerance relative to its largest eigenvalue (unused since escape
        examines its end points as minima does, with ``flat_tol``; kept so old specs load).
    flat_tol : float
        The same for the minima analysis, which probes every flat direction it finds
        (:func:`landscape.analysis.minima.examine`).
    continue_steps : int
        Newton steps of the descent continued from each polished end point (minima).
    grow : float
        Relative growth of ‖θ‖ under that descent that names a slope to infinity (minima).
    max_pairs : int
        Pair swaps tried before sampling them (symmetry).
    n_random : int
        Random group elements for the gradient check (symmetry).
    gd_steps : int
        Gradient-descent steps of the equivariance check (symmetry).
    trained : bool
        Verify on the network after training (else on θ⁽⁰⁾) (symmetry).
    loss_threshold : float
        A minimum whose training loss exceeds the best minimum found (by any method) by more
        than this is spurious (escape).
    path_points : int
        Points on each interpolation path (geometry).
    slice_radius : float
        Half-width of the slices, in units of the (filter-normalised or unit) direction
        (geometry).
    slice_points : int
        Odd grid size of the 1-D slices; the 2-D slices use ``slice_points // 2 + 1`` per
        axis, kept odd (geometry).
    schedules : tuple of str
        The runs of ``convergence``: ``NAME:ε0`` or ``NAME:ε0:key=value,…`` with a schedule
        of :data:`landscape.schedules.SCHEDULES` and its parameters, e.g. ``constant:0.01``,
        ``inverse_time:0.05:tau=100``.
    sizes : tuple of str
        ``k:n`` teacher and student widths of the ``spurious`` sweep (Safran & Shamir's ReLU
        networks with output weights 1, Gaussian inputs in d = k dimensions, population loss
        in closed form); one trial each. ``[data]`` and ``[model]`` are not used by it;
        ``trainer.lr`` is GD's ε.
    spurious_tol : float
        A converged run with loss above this is at a spurious minimum (the global one is 0)
        (spurious).
    basin_steps : int
        GD steps (spurious: population GD; escape: batch GD epochs on the data) from an end
        point that decide its basin (spurious, escape).
    batches : tuple of int
        The batch sizes B of the noise axis (spurious): one unit of work each per size.
    grid : "auto" or tuple of float
        The step sizes ε of the noise axis (spurious): ``auto`` makes ``grid_points`` of them
        from SGD's own divergence step ε_div(B), from ``grid_low``·ε_div to
        ``grid_high``·ε_div, log-spaced and denser near the top; a list is used for every B.
    grid_points : int
    grid_low, grid_high : float
        Fractions of ε_div(B) the auto grid spans (spurious).
    horizons : tuple of int
        Updates U of every run; each horizon is a set of cells of its own (spurious).
    cooldown, cool_factor : float
        The last ``cooldown`` fraction of a run's updates use ``cool_factor``·ε, so that end
        points settle (spurious).
    chains : int
        Chains started at each distinct bad minimum, per cell (spurious).
    ceiling : float
        A run whose loss exceeds this (or is not finite) has diverged (spurious): an absolute
        bound, never one relative to where the run started.
    div_updates, div_chains : int
        Updates and chains of each probe of SGD's divergence step (spurious).
    margin : float
        The smallest reduction of the share of bad basins worth calling an effect: a cell
        whose 95% paired interval excludes it does not hold (spurious, escape).
    escape_floor : float
        A cell whose chains started at the bad minima escape with a 95% upper bound below this
        share, and whose paired test shows nothing, does not hold: the noise kicks (almost)
        nothing out (spurious, escape).
    alpha : float
        Family-wise error rate of the Holm-corrected McNemar tests (spurious).
    """

    kind: str = "minima"
    n_starts: int = 128
    chunk: int = 32
    polish_gtol: float = 1e-8
    polish_iter: int = 3000
    tol: float = 1e-5
    loss_tol: float = 1e-9
    rel_tol: float = 1e-7
    flat_tol: float = 1e-9
    continue_steps: int = 100
    grow: float = 0.05
    max_pairs: int = 500
    n_random: int = 20
    gd_steps: int = 200
    trained: bool = True
    loss_threshold: float = 1e-3
    path_points: int = 41
    slice_radius: float = 1.0
    slice_points: int = 41
    sizes: tuple[str, ...] = (
        "6:6",
        "7:7",
        "8:8",
        "9:9",
        "10:10",
        "11:11",
        "12:12",
        "8:9",
        "8:10",
        "10:11",
        "10:12",
    )
    spurious_tol: float = 1e-6
    basin_steps: int = 20000
    batches: tuple[int, ...] = (1, 8, 64)
    grid: str | tuple[float, ...] = "auto"
    grid_points: int = 8
    grid_low: float = 1 / 30
    grid_high: float = 0.95
    horizons: tuple[int, ...] = (3000, 30000)
    cooldown: float = 1 / 3
    cool_factor: float = 0.1
    chains: int = 64
    ceiling: float = 100.0
    div_updates: int = 2000
    div_chains: int = 16
    margin: float = 0.05
    escape_floor: float = 0.15
    alpha: float = 0.05
    schedules: tuple[str, ...] = (
        "constant:0.003",
        "constant:0.01",
        "constant:0.03",
        "inverse_time:0.03:tau=200",
        "linear:0.03:tau=20000",
    )


def parse_schedule_run(text: str) -> tuple[str, float, dict]:
    """Split a convergence run ``NAME:ε0[:key=value,…]`` into (name, ε0, parameters).

    Raises
    ------
    SpecError
        For a malformed text, an unknown schedule or parameter, or a value out of range.
    """
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise SpecError(
            f"analysis.schedules entry {text!r} must read NAME:lr or NAME:lr:key=value,…"
        )
    name, lr_text = parts[0], parts[1]
    params: dict[str, float] = {}
    try:
        lr = float(lr_text)
        for item in parts[2].split(",") if len(parts) == 3 else []:
            key, _, value = item.partition("=")
            params[key.strip()] = float(value)
    except ValueError:
        raise SpecError(
            f"analysis.schedules entry {text!r}: lr and parameter values must be numbers"
        ) from None
    if not (math.isfinite(lr) and lr > 0):
        raise SpecError(f"analysis.schedules entry {text!r}: lr={lr_text} must be > 0")
    try:
        make_schedule(name, **params)
    except ValueError as exc:
        raise SpecError(f"analysis.schedules entry {text!r}: {exc}") from None
    return name, lr, params


def validate_axis(a: AnalysisSection) -> None:
    """The noise-axis fields of ``[analysis]`` (spurious).

    Raises
    ------
    SpecError
    """
    if not a.batches:
        raise SpecError("analysis.batches must list at least one batch size B >= 1")
    for b in a.batches:
        if b < 1:
            raise SpecError(f"analysis.batches: B={b} must be >= 1")
    _unique("analysis.batches", a.batches)
    if isinstance(a.grid, str):
        if a.grid != "auto":
            raise SpecError(
                f"analysis.grid={a.grid!r} is unknown; allowed: 'auto' or a list of step sizes"
            )
    else:
        if len(a.grid) < 2:
            raise SpecError("analysis.grid must list at least 2 step sizes (or be 'auto')")
        steps = zip(a.grid[:-1], a.grid[1:], strict=True)
        if any(e <= 0 for e in a.grid) or any(y <= x for x, y in steps):
            raise SpecError(
                f"analysis.grid={list(a.grid)} must be positive and increasing (or 'auto')"
            )
    if a.grid_points < 2:
        raise SpecError(f"analysis.grid_points={a.grid_points} must be >= 2")
    if not 0 < a.grid_low < a.grid_high <= 1:
        raise SpecError(
            f"analysis.grid_low={a.grid_low:g}, grid_high={a.grid_high:g}: need "
            "0 < grid_low < grid_high <= 1 (fractions of the divergence step)"
        )
    if not a.horizons:
        raise SpecError("analysis.horizons must list at least one number of updates")
    for u in a.horizons:
        if u < 1:
            raise SpecError(f"analysis.horizons: U={u} must be >= 1")
    _unique("analysis.horizons", a.horizons)
    if not 0 <= a.cooldown < 1:
        raise SpecError(f"analysis.cooldown={a.cooldown:g} must be in [0, 1)")
    if not 0 < a.cool_factor <= 1:
        raise SpecError(f"analysis.cool_factor={a.cool_factor:g} must be in (0, 1]")
    for name in ("chains", "div_updates"):
        _positive_int(f"analysis.{name}", getattr(a, name))
    if a.div_chains < 2:
        raise SpecError(f"analysis.div_chains={a.div_chains} must be >= 2")
    if not a.ceiling > 0:
        raise SpecError(f"analysis.ceiling={a.ceiling:g} must be > 0")
    for name in ("margin", "alpha", "escape_floor"):
        if not 0 < getattr(a, name) < 1:
            raise SpecError(f"analysis.{name}={getattr(a, name):g} must be in (0, 1)")


def parse_size(text: str) -> tuple[int, int]:
    """Teacher and student widths ``(k, n)`` of a ``k:n`` size of the spurious sweep."""
    k, sep, n = text.partition(":")
    if sep and k.isdigit() and n.isdigit() and int(k) >= 1 and int(n) >= 1:
        return int(k), int(n)
    raise SpecError(
        f"analysis.sizes: {text!r} is not k:n (teacher units k >= 1, student units n >= 1), "
        "e.g. '8:8' or '8:9'"
    )


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
    log : bool
    step : float or None
    choices : tuple or None
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
    """A sampler or pruner by name with keyword options."""

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
    analysis: AnalysisSection | None = None

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


def _unique(name: str, values: tuple[str, ...]) -> None:
    """Units of work are named by these values (a trial parameter): each must appear once."""
    twice = sorted({v for v in values if values.count(v) > 1})
    if twice:
        raise SpecError(f"{name}: {', '.join(map(repr, twice))} listed twice; list each once")


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


# --------------------------------------------------------------------------- discovery
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

MAX_STARTS = 1_000_000
"""Random starts one multi-start analysis may ask for: its chunks are Optuna trials, and a
study of more than ~10⁴ trials is slow to load in every storage."""

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
    "analysis": AnalysisSection,
}


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


def _check_finite(where: str, value: Any) -> None:
    """TOML reads inf and nan as numbers; no field of a spec means anything by them."""
    values = value if isinstance(value, tuple | list) else (value,)
    for v in values:
        if isinstance(v, float) and not math.isfinite(v):
            raise SpecError(f"{where}={value!r} must be a finite number")


def _describe(hint: Any) -> str:
    text = str(hint).replace("typing.", "").replace("NoneType", "None")
    return text.replace("<class '", "").replace("'>", "")


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
}
"""Fields of earlier versions, with what replaced them (the one-line refusal says it)."""


def _build(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise SpecError(f"{where} must be a table, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in raw.items():
        if key not in names:
            hint = REMOVED.get(f"{where}.{key}")
            if hint is not None:
                raise SpecError(f"{where}.{key} was removed: {hint}")
            raise SpecError(f"{where}.{key} is not a spec field; allowed: {', '.join(names)}")
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
    for key, cls in _SECTIONS.items():
        if key in raw:
            kwargs[key] = _build(cls, raw[key], key)
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
    for key, cls in _SECTIONS.items():
        if key in raw:
            kwargs[key] = _build(cls, {k: v for k, v in raw[key].items() if v is not None}, key)
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
            first = dataclasses.fields(cls)[0].name
            raise SpecError(f"--set {key}: name a field, e.g. {top}.{first}")
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


# ------------------------------------------------------------------------ validation
def _one_of(where: str, value: Any, allowed: tuple | list) -> None:
    if value not in allowed:
        raise SpecError(f"{where}={value!r} is unknown; allowed: {', '.join(map(str, allowed))}")


def _positive_int(where: str, value: int | None, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, int) or value < 1:
        raise SpecError(f"{where}={value!r} must be an integer >= 1")


def validate_static(spec: Spec) -> None:
    """Check what needs no data: names, ranges and types (raises :class:`SpecError`)."""
    st = spec.study
    _positive_int("study.n_trials", st.n_trials)
    _positive_int("study.report_every", st.report_every)
    _positive_int("study.repeats", st.repeats)
    for fname in ("bisect", "track_sharpness"):
        v = getattr(st, fname)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise SpecError(f"study.{fname}={v!r} must be an integer >= 0")
    if st.timeout is not None and not st.timeout > 0:
        raise SpecError(f"study.timeout={st.timeout!r} must be > 0 seconds")
    if st.seed < 0:
        raise SpecError(f"study.seed={st.seed!r} must be >= 0")
    _one_of("study.metric", st.metric, tuple(METRICS))
    if st.direction is not None:
        _one_of("study.direction", st.direction, ("minimize", "maximize"))
    _one_of("data.name", spec.data.name, DATASETS)
    allowed_opts = dataset_options(spec.data.name)
    for key in spec.data.options:
        if key not in allowed_opts:
            raise SpecError(
                f"data.options.{key} is not an option of dataset {spec.data.name!r}; allowed: "
                f"{', '.join(allowed_opts) or 'none'}"
            )
    vf = spec.data.val_fraction
    if vf is not None and not 0.0 <= vf < 1.0:
        raise SpecError(f"data.val_fraction={vf!r} must lie in [0, 1)")
    if st.metric.startswith("val_") and (vf == 0.0 or (vf is None and spec.data.name == "xor")):
        raise SpecError(
            f"study.metric={st.metric!r} needs validation data; set data.val_fraction > 0"
        )
    m = spec.model
    for h in m.hidden:
        _positive_int("model.hidden[]", h)
    _one_of("model.activation", m.activation, tuple(ACTIVATIONS))
    _one_of("model.loss", m.loss, tuple(LOSSES))
    if m.init is not None:
        _one_of("model.init", m.init, INIT_SCHEMES)
    if not (math.isfinite(m.init_scale) and m.init_scale > 0):
        raise SpecError(f"model.init_scale={m.init_scale!r} must be a finite number > 0")
    n_layers = len(m.hidden) + 1
    blocks = [f"{p}{layer}" for layer in range(1, n_layers + 1) for p in "Wb"]
    for key, value in m.frozen.items():
        if key not in blocks:
            raise SpecError(
                f"model.frozen.{key} is not a parameter block of this network; allowed: "
                f"{', '.join(blocks)}"
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError(f"model.frozen.{key}={value!r} must be a number")
        if not math.isfinite(value):
            raise SpecError(f"model.frozen.{key}={value!r} must be a finite number")
    if len(m.frozen) == len(blocks):
        raise SpecError("model.frozen freezes every parameter block; nothing would be trained")
    if "accuracy" in st.metric and m.loss != "cross_entropy":
        raise SpecError(f"study.metric={st.metric!r} needs model.loss='cross_entropy'")
    t = spec.trainer
    _one_of("trainer.method", t.method, METHODS)
    _positive_int("trainer.epochs", t.epochs)
    _positive_int("trainer.batch_size", t.batch_size, allow_none=True)
    _positive_int("trainer.max_updates", t.max_updates, allow_none=True)
    _positive_int("trainer.stall_window", t.stall_window, allow_none=True)
    _positive_int("trainer.eval_every", t.eval_every)
    if spec.study.report_every % spec.trainer.eval_every:
        raise SpecError(
            f"study.report_every={spec.study.report_every} must be a multiple of "
            f"trainer.eval_every={spec.trainer.eval_every} (reports need an evaluated epoch)"
        )
    if not (math.isfinite(t.lr) and t.lr > 0):
        raise SpecError(f"trainer.lr={t.lr!r} must be a finite number > 0")
    for fname in ("gtol", "atol", "rtol", "stall_tol"):
        v = getattr(t, fname)
        if not (math.isfinite(v) and v >= 0):
            raise SpecError(f"trainer.{fname}={v!r} must be a finite number >= 0")
    if not t.diverge_factor > 1:
        raise SpecError(f"trainer.diverge_factor={t.diverge_factor!r} must be > 1")
    _one_of("trainer.schedule", t.schedule, tuple(SCHEDULES))
    try:
        make_schedule(t.schedule, **t.schedule_params)
    except ValueError as exc:
        raise SpecError(f"trainer.schedule_params: {exc}") from None
    _one_of("sampler.name", spec.sampler.name, SAMPLERS)
    _one_of("pruner.name", spec.pruner.name, PRUNERS)
    names = [p.name for p in spec.search]
    for p in spec.search:
        _validate_param(spec, p, names)
    if not isinstance(spec.study.range_test, bool):
        raise SpecError(f"study.range_test={spec.study.range_test!r} must be true or false")
    if spec.study.range_test and (spec.search or spec.analysis is not None):
        lr = [p for p in spec.search if p.target == "trainer.lr"]
        if not (len(lr) == 1 and lr[0].type == "float" and lr[0].log and lr[0].step is None):
            raise SpecError(
                "study.range_test seeds the bounds of ε: it needs a search of trainer.lr of "
                "type float with log = true"
            )
    # (a trial's own spec has no search left: only the study's is checked here)
    if (
        spec.study.bisect
        and (spec.search or spec.analysis is not None)
        and not (
            len(spec.search) == 1
            and spec.search[0].target == "trainer.lr"
            and spec.search[0].type == "float"
            and spec.search[0].step is None
        )
    ):
        raise SpecError(
            f"study.bisect={spec.study.bisect} bisects ε alone: it needs a search of "
            "trainer.lr only, of type float without a step"
        )
    a = spec.analysis
    if a is not None:
        _one_of("analysis.kind", a.kind, ANALYSES)
        for fname in (
            "n_starts",
            "chunk",
            "polish_iter",
            "continue_steps",
            "basin_steps",
            "max_pairs",
            "n_random",
            "gd_steps",
            "path_points",
        ):
            _positive_int(f"analysis.{fname}", getattr(a, fname))
        if a.n_starts > MAX_STARTS:
            raise SpecError(
                f"analysis.n_starts={a.n_starts:,} is more than a study holds; at most "
                f"{MAX_STARTS:,} starts (run several studies and compare them for more)"
            )
        if a.path_points < 2:
            raise SpecError(f"analysis.path_points={a.path_points} must be >= 2")
        if a.slice_points < 3 or a.slice_points % 2 == 0:
            raise SpecError(f"analysis.slice_points={a.slice_points} must be odd and >= 3")
        if a.kind == "convergence":
            if not a.schedules:
                raise SpecError("analysis.schedules must list at least one run")
            for text in a.schedules:
                parse_schedule_run(text)
            if list(spec.model.hidden) or spec.model.loss != "mse":
                raise SpecError(
                    "analysis.kind='convergence' needs θ* in closed form: linear least squares, "
                    f"model.hidden=[] and model.loss='mse' (got hidden={list(spec.model.hidden)}, "
                    f"loss={spec.model.loss!r})"
                )
        if a.kind == "spurious":
            if not a.sizes:
                raise SpecError("analysis.sizes must list at least one k:n")
            _unique("analysis.sizes", a.sizes)
            for text in a.sizes:
                parse_size(text)
        if a.kind in ("spurious", "escape"):
            validate_axis(a)
        for fname in (
            "polish_gtol",
            "tol",
            "loss_tol",
            "rel_tol",
            "flat_tol",
            "grow",
            "spurious_tol",
            "loss_threshold",
            "slice_radius",
        ):
            v = getattr(a, fname)
            if not (math.isfinite(v) and v > 0):
                raise SpecError(f"analysis.{fname}={v!r} must be a finite number > 0")
        if spec.search:
            raise SpecError(
                f"an analysis spec ({a.kind}) searches nothing; remove its [search] tables"
            )


_SEARCHABLE = {f"trainer.{f.name}" for f in dataclasses.fields(TrainerSection)} | {
    f"model.{f.name}" for f in dataclasses.fields(ModelSection)
}


def _validate_param(spec: Spec, p: Param, names: list[str]) -> None:
    where = f"search.{p.name}"
    _one_of(f"{where}.type", p.type, PARAM_TYPES)
    target_ok = p.target in _SEARCHABLE or p.target.startswith(
        ("trainer.schedule_params.", "data.options.")
    )
    if not target_ok:
        raise SpecError(
            f"{where}.target={p.target!r} is not searchable; use trainer.FIELD, model.FIELD, "
            "trainer.schedule_params.NAME or data.options.NAME"
        )
    hint = _target_hint(p.target)
    if hint is not None and p.type in ("float", "int", "pow2"):
        sample = 0.5 if p.type == "float" else 1
        if not _type_ok(sample, hint)[0] or (p.type == "float" and _is_int_only(hint)):
            kind = _describe(hint)
            raise SpecError(
                f"{where}: a {p.type} search cannot set {p.target}, which holds {kind}"
                + ('; use type = "int"' if p.type == "float" and "int" in kind else "")
            )
    if hint is not None and p.type == "categorical":
        for c in p.choices or ():
            if not _type_ok(c, hint)[0]:
                raise SpecError(
                    f"{where}.choices: {c!r} cannot be a value of {p.target}, which holds "
                    f"{_describe(hint)}"
                )
    for key in p.when:
        if key not in names or key == p.name:
            raise SpecError(f"{where}.when names {key!r}, which is not another searched parameter")
    if p.type == "categorical":
        if not p.choices:
            raise SpecError(f"{where}.choices must list at least one value")
        for c in p.choices:
            if not (c is None or isinstance(c, bool | int | float | str)):
                # Optuna stores a categorical parameter's choices as scalars only
                raise SpecError(
                    f"{where}.choices: {c!r} is not a number, string, boolean or none; Optuna "
                    "stores only such choices (search a list-valued field through its parts)"
                )
        if p.target == "trainer.schedule":
            for c in p.choices:
                _one_of(f"{where}.choices[]", c, tuple(SCHEDULES))
        return
    if p.type == "pow2":
        low = 1 if p.low is None else p.low
        if int(low) != low or low < 1:
            raise SpecError(f"{where}.low={p.low!r} must be an integer >= 1")
        bad_high = (
            p.high != "N"
            if isinstance(p.high, str)
            else (p.high is not None and (int(p.high) != p.high or p.high < low))
        )
        if bad_high:
            raise SpecError(f"{where}.high={p.high!r} must be 'N' or an integer >= low={low}")
        return
    if p.low is None or p.high is None:
        raise SpecError(f"{where} needs low and high")
    if isinstance(p.high, str):
        raise SpecError(f"{where}.high={p.high!r} must be a number")
    if not (math.isfinite(p.low) and math.isfinite(p.high)):
        raise SpecError(f"{where}: low={p.low!r} and high={p.high!r} must be finite")
    if p.low > p.high:
        raise SpecError(f"{where}: low={p.low!r} > high={p.high!r}; low must be <= high")
    if p.log and p.low <= 0:
        raise SpecError(f"{where}.low={p.low!r} must be > 0 on a log scale")
    if p.type == "int" and (int(p.low) != p.low or int(p.high) != p.high):
        raise SpecError(f"{where}: an int parameter needs integer low and high")
    if p.log and p.step is not None:
        raise SpecError(f"{where}: step cannot be combined with log = true")
    if p.step is not None and not p.step > 0:
        raise SpecError(f"{where}.step={p.step!r} must be > 0")
    if p.type == "int" and p.step is not None and int(p.step) != p.step:
        raise SpecError(f"{where}.step={p.step!r} must be an integer for an int parameter")
    if p.target == "trainer.lr" and p.low <= 0:
        raise SpecError(f"{where}.low={p.low!r}: a learning rate must be > 0")


def _target_hint(target: str) -> Any:
    """The type hint of a searched dataclass field (None for free-form dict entries)."""
    section, _, name = target.partition(".")
    cls = {"trainer": TrainerSection, "model": ModelSection}.get(section)
    if cls is None or "." in name:
        return None
    return typing.get_type_hints(cls).get(name)


def _is_int_only(hint: Any) -> bool:
    arms = typing.get_args(hint) or (hint,)
    return int in arms and float not in arms


def pow2_choices(low: int, high: int) -> list[int]:
    """Powers of two from ``low`` up to ``high``, plus ``high`` itself (the full batch)."""
    out = []
    b = 1
    while b <= high:
        if b >= low:
            out.append(b)
        b *= 2
    if not out or out[-1] != high:
        out.append(high)
    return out


def validate_with_data(spec: Spec, n_train: int) -> None:
    """Check what needs the training set size N: batch sizes must lie in [1, N]."""
    t = spec.trainer
    if spec.analysis is not None and spec.analysis.kind == "escape":
        for b in spec.analysis.batches:
            if b > n_train:
                raise SpecError(f"analysis.batches: B={b} is outside [1, N={n_train}]")
    if t.batch_size is not None and t.batch_size > n_train:
        raise SpecError(f"trainer.batch_size={t.batch_size} is outside [1, N={n_train}]")
    if (
        t.method == "minibatch"
        and t.batch_size is None
        and not any(p.target == "trainer.batch_size" for p in spec.search)
    ):
        raise SpecError("trainer.method='minibatch' needs trainer.batch_size or a search over it")
    for p in spec.search:
        if p.target != "trainer.batch_size":
            continue
        where = f"search.{p.name}"
        if p.type == "pow2":
            high = n_train if p.high in (None, "N") else int(p.high)
            if high > n_train or (p.low or 1) > n_train:
                raise SpecError(f"{where}: batch sizes up to {high} are outside [1, N={n_train}]")
        elif p.type == "categorical":
            for c in p.choices or ():
                if not (isinstance(c, int) and 1 <= c <= n_train):
                    raise SpecError(
                        f"{where}.choices: batch size {c!r} is outside [1, N={n_train}]"
                    )
        elif p.low < 1 or p.high > n_train:
            raise SpecError(
                f"{where}: batch sizes [{p.low:g}, {p.high:g}] are outside [1, N={n_train}]"
            )
        if t.method != "minibatch":
            raise SpecError(f"{where} searches the batch size: set trainer.method='minibatch'")
