"""Study specs: TOML files parsed into frozen dataclasses and refused before anything runs.

``schema`` (the sections; the ``[analysis]`` section is the named kind's own config),
``load`` (TOML, ``--set`` overrides, names of earlier versions), ``validate`` (the rules across
fields and against the data). Every error is a :class:`SpecError`: one line naming the bad value
and what is allowed.
"""

from landscape.spec.load import (
    MAX_SPEC_BYTES,
    MAX_SPEC_DEPTH,
    REMOVED,
    find_spec,
    known_specs,
    override_key,
    parse_spec,
    spec_dirs,
    spec_from_dict,
)
from landscape.spec.schema import (
    ANALYSES,
    METRICS,
    PARAM_TYPES,
    PRUNERS,
    SAMPLERS,
    Component,
    DataSection,
    ModelSection,
    Param,
    Spec,
    SpecError,
    StudySection,
    TrainerSection,
)
from landscape.spec.validate import (
    apply_params,
    available_memory,
    check_memory,
    inputs_of,
    memory_needed,
    model_of,
    pow2_choices,
    validate_batches,
    validate_search,
    validate_static,
    validate_with_data,
)

__all__ = [
    "ANALYSES",
    "MAX_SPEC_BYTES",
    "MAX_SPEC_DEPTH",
    "METRICS",
    "PARAM_TYPES",
    "PRUNERS",
    "REMOVED",
    "SAMPLERS",
    "Component",
    "DataSection",
    "ModelSection",
    "Param",
    "Spec",
    "SpecError",
    "StudySection",
    "TrainerSection",
    "apply_params",
    "available_memory",
    "check_memory",
    "find_spec",
    "inputs_of",
    "known_specs",
    "memory_needed",
    "model_of",
    "override_key",
    "parse_spec",
    "pow2_choices",
    "spec_dirs",
    "spec_from_dict",
    "validate_batches",
    "validate_search",
    "validate_static",
    "validate_with_data",
]
