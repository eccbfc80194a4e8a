"""A spec with its data: what its trials and analyses get (:class:`Problem`, :func:`prepare`).

The model of a trial, its θ⁽⁰⁾ and its random streams; the search's trials themselves are
:mod:`landscape.runs.search`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from landscape import seeds
from landscape.analysis import Inputs
from landscape.data import Dataset, load_dataset
from landscape.model import MLP
from landscape.spec import Spec, SpecError, model_of, validate_with_data


class TimedOut(Exception):
    """A trial ran past the run's deadline (``--timeout``) and was stopped between epochs."""


@dataclass(frozen=True)
class Problem:
    """A spec with its data loaded and validated against them.

    Attributes
    ----------
    spec : Spec
    data : Dataset
    inputs : Inputs
        What an analysis gets (the data, the trainer, the seed, the model).
    """

    spec: Spec
    data: Dataset
    inputs: Inputs

    @property
    def n_train(self) -> int:
        """N, the training set size."""
        return self.data.n_train


def prepare(spec: Spec) -> Problem:
    """Load the spec's data (seeded) and run the checks that need it, before any storage.

    Raises
    ------
    SpecError
        Bad data options, batch sizes outside [1, N], a kind's own refusals or too little
        memory. (Whether Optuna takes the sampler's and pruner's options is asked by
        :func:`landscape.runs.search.check_components`, which the driver calls next.)
    """
    rng = seeds.stream(spec.study.seed, seeds.DATA)
    try:
        data = load_dataset(
            spec.data.name, rng=rng, val_fraction=spec.data.val_fraction, **spec.data.options
        )
    except ValueError as exc:
        raise SpecError(f"data: {exc}") from None
    inputs = validate_with_data(spec, data)
    return Problem(spec=spec, data=data, inputs=inputs)


def trial_rng(spec: Spec, number: int, repeat: int = 0) -> np.random.Generator:
    """Return the generator of θ⁽⁰⁾ and the mini-batch shuffles of trial ``number``.

    ``repeat`` r > 0 (see ``study.repeats``) draws another θ⁽⁰⁾ and other shuffles for the same
    configuration.
    """
    return seeds.stream(spec.study.seed, seeds.TRAIN, *init_ids(spec, number, repeat))


def init_ids(spec: Spec, number: int, repeat: int = 0) -> list[int]:
    """The stream ids after ``[seed, TRAIN]`` of a trial's θ⁽⁰⁾ and shuffles."""
    return ([number] if spec.study.vary_init else []) + ([seeds.REPEAT, repeat] if repeat else [])


def build(problem: Problem, spec: Spec, rng: np.random.Generator) -> tuple[MLP, np.ndarray]:
    """Build the (trial's) model and draw its θ⁽⁰⁾, the first draw from ``rng``."""
    model = make_model(problem, spec)
    return model, model.init(rng, scheme=spec.model.init, scale=spec.model.init_scale)


def make_model(problem: Problem, spec: Spec) -> MLP:
    """The (trial's) network for the problem's data: sizes, activation and loss of the spec."""
    return model_of(spec, problem.data)


def analysis_rng(spec: Spec) -> np.random.Generator:
    """Return the generator for post-study analysis (e.g. the Lanczos start vector)."""
    return seeds.stream(spec.study.seed, seeds.ANALYSIS)
