"""What every analysis kind is to the rest of the toolkit: its config, how it runs, its result.

An analysis is NumPy code over a study's data and model; it knows nothing of Optuna, storages
or reports. It receives :class:`Inputs` — the data, the trainer's settings, the seed and a way
to build the model and draw θ⁽⁰⁾ — and its config (its ``[analysis]`` section, a dataclass whose
fields carry their rules, see :mod:`landscape.rules`), and returns its typed result. How it is
split into Optuna trials, stored and reported is decided elsewhere from its :class:`Kind`:

- a **one-trial** kind gives ``run(inputs, config) → Outcome``;
- a **queued** kind gives ``units(config)`` (the names or the number of its units of work),
  ``run_unit(inputs, config, i) → arrays`` (one Optuna trial each, any worker) and
  ``finish(inputs, config, parts) → (result, arrays)`` once every unit is stored.

The registry of kinds is :data:`landscape.analysis.KINDS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from landscape import seeds
from landscape.data import Dataset
from landscape.model import MLP
from landscape.train import TrainConfig


@dataclass(frozen=True)
class Inputs:
    """What an analysis gets from its study: data, model, trainer settings and randomness.

    Attributes
    ----------
    data : Dataset
        Training and validation data, already loaded and split.
    trainer : TrainConfig
        The spec's ``[trainer]`` section.
    seed : int
        The study's seed; every random stream derives from it (:mod:`landscape.seeds`).
    new_model : callable
        ``new_model(rng, hidden=None) → (model, θ⁽⁰⁾)``: the spec's model and one start drawn
        from ``rng``; ``hidden`` replaces its hidden widths (a list of ints).
    vary_init : bool
        The spec's ``study.vary_init``: each trial draws its own θ⁽⁰⁾ (:meth:`trial_rng`).
    """

    data: Dataset
    trainer: TrainConfig
    seed: int
    new_model: Callable[..., tuple[MLP, np.ndarray]]
    vary_init: bool = False

    def stream(self, kind: int, *ids: int) -> np.random.Generator:
        """The generator of stream ``kind`` with ``ids`` (see :func:`landscape.seeds.stream`)."""
        return seeds.stream(self.seed, kind, *ids)

    def model(self, hidden: Sequence[int] | None = None) -> MLP:
        """The spec's model, or with hidden widths ``hidden`` (θ⁽⁰⁾ drawn and dropped)."""
        widths = None if hidden is None else [int(h) for h in hidden]
        return self.new_model(np.random.default_rng(0), widths)[0]

    def starts(
        self, ids: Sequence[int] | np.ndarray, hidden: Sequence[int] | None = None
    ) -> tuple[MLP, np.ndarray]:
        """The model and θ⁽⁰⁾ of starts ``ids``, shape (len(ids), D).

        Start i draws from its own stream ``[seed, START, i]``: its θ⁽⁰⁾ does not depend on
        the chunking or on which worker runs it. ``hidden`` replaces the model's hidden
        widths; start i of each width draws from the same stream.
        """
        widths = None if hidden is None else [int(h) for h in hidden]
        model = None
        thetas = []
        for i in ids:
            model, theta = self.new_model(self.stream(seeds.START, int(i)), widths)
            thetas.append(theta)
        if model is None:
            model = self.model(widths)
        return model, np.stack(thetas) if thetas else np.zeros((0, model.n_params))

    def trial_rng(self, number: int = 0) -> np.random.Generator:
        """θ⁽⁰⁾ and the shuffles of trial ``number``: ``[seed, TRAIN, (number)]``."""
        return self.stream(seeds.TRAIN, *([number] if self.vary_init else []))

    @property
    def analysis_rng(self) -> np.random.Generator:
        """Post-study randomness: random directions, symmetry samples, Lanczos starts."""
        return self.stream(seeds.ANALYSIS)


@dataclass(frozen=True)
class Outcome:
    """What a one-trial analysis returns to be stored.

    Attributes
    ----------
    result : object
        The kind's typed result.
    value : float
        The trial's objective value (what :attr:`Kind.value` names).
    arrays : dict of str to ndarray
        Stored as the trial's npz artifact :attr:`Kind.arrays` (may be empty).
    attrs : dict
        Extra trial user attrs (e.g. ``training``: how its training ended).
    """

    result: Any
    value: float
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Kind:
    """One analysis kind: the registry entry (:data:`landscape.analysis.KINDS`).

    Attributes
    ----------
    name : str
        The spec's ``analysis.kind``.
    config : type
        Its ``[analysis]`` section: a frozen dataclass of :func:`landscape.rules.setting`
        fields, with a ``kind`` field and an optional ``check(self)`` for cross-field rules.
    result : type
        The typed result (a frozen dataclass).
    value : str
        What each trial's objective value is (the study's metric name in the dashboard).
    headline : callable
        ``headline(result) → str``: what it found, in one line (``list``).
    run : callable or None
        One-trial kinds: ``run(inputs, config) → Outcome``.
    units, run_unit, finish : callable or None
        Queued kinds: ``units(config)`` → a list of unit names, or the number of numbered
        units; ``run_unit(inputs, config, index) → dict of arrays``; ``finish(inputs,
        config, parts) → (result, arrays)`` with the parts in unit order.
    unit_param : str
        The trial parameter naming a unit (``chunk``, ``sweep``).
    unit_value : callable or None
        ``unit_value(arrays) → float``: a unit trial's objective value.
    unit_attrs : callable or None
        ``unit_attrs(arrays) → dict``: a unit trial's user attrs beside its status.
    arrays : str
        File name of the npz artifact of a one-trial kind's arrays, or of a queued kind's
        study-level arrays (empty: none).
    trainer : callable or None
        ``trainer(trainer_config) → None``, raising ``ValueError`` for a ``[trainer]`` field
        the kind would not use (the spec refuses it in one line); None: every field is used.
    memory : callable or None
        ``memory(config, D, n_samples, widths) → dict of bytes`` the kind holds beyond one
        training run (the spec's memory check adds them).
    payload : callable or None
        ``payload(result) → dict`` for ``--json``; default ``{name: the result as JSON}``.
    check : callable or None
        ``check(inputs, config) → None``, raising ``ValueError`` for what the config cannot do
        with this data and model (e.g. a batch size above N): refused before anything is stored.
    earlier : callable or None
        ``earlier(attrs, read_json) → JSON of the result, or None``: where versions before the
        registry of kinds kept a queued kind's result (``read_json(name)`` reads a study
        artifact).
    earlier_found : callable or None
        ``earlier_found(attrs) → str or None``: what such a study found, in one line.
    """

    name: str
    config: type
    result: type
    value: str
    headline: Callable[[Any], str]
    run: Callable[[Inputs, Any], Outcome] | None = None
    units: Callable[[Any], list[str] | int] | None = None
    run_unit: Callable[[Inputs, Any, int], dict[str, np.ndarray]] | None = None
    finish: Callable[[Inputs, Any, list[dict]], tuple[Any, dict[str, np.ndarray]]] | None = None
    unit_param: str = "unit"
    unit_value: Callable[[dict], float] | None = None
    unit_attrs: Callable[[dict], dict] | None = None
    arrays: str = ""
    trainer: Callable[[TrainConfig], None] | None = None
    memory: Callable[..., dict[str, int]] | None = None
    payload: Callable[[Any], dict] | None = None
    check: Callable[[Inputs, Any], None] | None = None
    earlier: Callable[[Any, Callable[[str], Any]], Any] | None = None
    earlier_found: Callable[[Any], str | None] | None = None

    @property
    def queued(self) -> bool:
        """Whether the kind runs as queued units of work (else one trial)."""
        return self.run_unit is not None

    def unit_names(self, config: Any) -> list[str] | None:
        """The units' names, None where they are numbered (``units`` gives a count)."""
        got = self.units(config) if self.units is not None else 1
        return None if isinstance(got, int) else list(got)

    def n_units(self, config: Any) -> int:
        """How many units of work the analysis has (1 for a one-trial kind)."""
        got = self.units(config) if self.units is not None else 1
        return got if isinstance(got, int) else len(got)


def hessian_memory(config: Any, D: int, n_samples: int, widths: Sequence[int]) -> dict[str, int]:
    """The memory of a kind that forms a dense Hessian over D parameters: D² and two copies."""
    return {"hessian": 8 * 3 * D * D}
