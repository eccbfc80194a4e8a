"""Study specs: TOML files parsed into frozen dataclasses and refused before anything runs.

``schema`` (the sections; the ``[analysis]`` section is the named kind's own config),
``load`` (TOML, ``--set`` overrides, names of earlier versions), ``validate`` (the rules across
fields and against the data). Every error is a :class:`SpecError`: one line naming the bad value
and what is allowed.
"""

from __future__ import annotations

import importlib

# Loaded on first use (PEP 562): the schema imports every analysis kind (and SciPy with them),
# which `--help` and `list` do not need.
_LAZY = {
    "ANALYSES": "landscape.spec.schema",
    "Component": "landscape.spec.schema",
    "DataSection": "landscape.spec.schema",
    "MAX_SPEC_BYTES": "landscape.spec.load",
    "MAX_SPEC_DEPTH": "landscape.spec.load",
    "METRICS": "landscape.spec.schema",
    "ModelSection": "landscape.spec.schema",
    "PARAM_TYPES": "landscape.spec.schema",
    "PRUNERS": "landscape.spec.schema",
    "Param": "landscape.spec.schema",
    "REMOVED": "landscape.spec.load",
    "SAMPLERS": "landscape.spec.schema",
    "Spec": "landscape.spec.schema",
    "SpecError": "landscape.spec.schema",
    "StudySection": "landscape.spec.schema",
    "TrainerSection": "landscape.spec.schema",
    "apply_params": "landscape.spec.validate",
    "available_memory": "landscape.spec.validate",
    "check_memory": "landscape.spec.validate",
    "find_spec": "landscape.spec.load",
    "inputs_of": "landscape.spec.validate",
    "known_specs": "landscape.spec.names",
    "memory_needed": "landscape.spec.validate",
    "model_of": "landscape.spec.validate",
    "override_key": "landscape.spec.load",
    "parse_spec": "landscape.spec.load",
    "pow2_choices": "landscape.spec.validate",
    "spec_dirs": "landscape.spec.names",
    "spec_from_dict": "landscape.spec.load",
    "validate_batches": "landscape.spec.validate",
    "validate_search": "landscape.spec.validate",
    "validate_static": "landscape.spec.validate",
    "validate_with_data": "landscape.spec.validate",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'landscape.spec' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
