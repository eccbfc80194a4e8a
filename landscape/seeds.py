"""Every random stream of a study, from its one seed: the table of stream ids.

A stream is ``np.random.default_rng([seed, STREAM, *ids])``: independent of every other stream
and of how work is split between trials, chunks and workers. The ids are part of what makes a
stored study reproducible; changing one changes every result drawn from it.
"""

from __future__ import annotations

import numpy as np

DATA = 0
"""The dataset's generation and its train/validation split."""
TRAIN = 1
"""θ⁽⁰⁾ and the mini-batch shuffles of a search trial (ids: the trial number with vary_init)."""
SAMPLER = 2
"""The sampler's draws for trial n (id: n; none for a study-wide sequence such as QMC)."""
ANALYSIS = 3
"""Post-study analysis: Lanczos start vectors, random directions, symmetry samples."""
START = 10
"""θ⁽⁰⁾ of start i of a multi-start analysis (id: i, whatever chunk or worker runs it)."""
SHUFFLE = 11
"""Mini-batch shuffles of a multi-start analysis (ids below)."""
SHUFFLE_ESCAPE = 1000
"""Escape method m shuffles with id ``SHUFFLE_ESCAPE + m``; minima chunk c with id c."""
SHUFFLE_ESCAPE_FROM = 4000
"""Escape's runs started at GD's spurious minima, method run m: id ``SHUFFLE_ESCAPE_FROM + m``."""
SHUFFLE_GEOMETRY = 2000
"""Geometry's start k shuffles with id ``SHUFFLE_GEOMETRY + k``."""
SPURIOUS = 12
"""Starts and fresh inputs of size i of the spurious sweep (id: i)."""
REPEAT = 13
"""An id marking repeat r > 0 of a search configuration: its θ⁽⁰⁾ and shuffles come from
``[seed, TRAIN, (trial number), REPEAT, r]`` (see ``study.repeats``)."""
SHUFFLE_CONVERGENCE = 3000
"""Every run of the convergence analysis shuffles with this one id: the runs see the same
mini-batches and differ only in their ε_t (common random numbers)."""


def stream(seed: int, kind: int, *ids: int) -> np.random.Generator:
    """The generator of stream ``kind`` (a constant of this module) with ``ids``."""
    return np.random.default_rng([seed, kind, *ids])


def seed_of(seed: int, kind: int, *ids: int) -> int:
    """A 32-bit integer seed of the same stream, for libraries that take an int (Optuna)."""
    return int(np.random.SeedSequence([seed, kind, *ids]).generate_state(1)[0])
