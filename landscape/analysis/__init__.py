"""The analyses of the loss landscape: NumPy and SciPy only, no Optuna, nothing printed.

Each kind of analysis is one module — its config (the spec's ``[analysis]`` section, with the
rules of its fields), its NumPy functions and its typed result — and one line of the registry
below (:class:`landscape.analysis.kind.Kind`). ``symmetry`` (the hidden-unit symmetry group on
θ), ``minima`` (polishing, classifying and counting critical points), ``census`` (minima against
width), ``geometry`` (paths
between minima and slices of the loss), ``convergence`` (SGD against a known θ*), ``noise``
(seed 1.3 over its noise axis, the engine of ``spurious`` and ``escape``).
"""

from __future__ import annotations

from landscape.analysis import census, convergence, escape, geometry, minima, spurious, symmetry
from landscape.analysis.kind import Inputs, Kind, Outcome

KINDS: dict[str, Kind] = {
    "minima": minima.KIND,
    "minima_census": census.KIND,
    "symmetry": symmetry.KIND,
    "geometry": geometry.KIND,
    "escape": escape.KIND,
    "convergence": convergence.KIND,
    "spurious": spurious.KIND,
}
"""Every analysis kind by its spec name: a new kind is one module and one line here."""

DEFAULT_KIND = "minima"
"""The kind of an ``[analysis]`` section that names none."""

__all__ = ["DEFAULT_KIND", "KINDS", "Inputs", "Kind", "Outcome"]
