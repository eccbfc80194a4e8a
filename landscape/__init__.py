"""landscape: gradient descent on small neural networks, studied by experiment."""

from __future__ import annotations

import importlib
import sys
import types

__version__ = "0.1.0"

# Every public name is loaded on first use (PEP 562): `python -m landscape.study --help` and
# `list` import this package too, and should not pay for scikit-learn, SciPy or the trainers.
_LAZY = {
    "DATASETS": "landscape.data",
    "Dataset": "landscape.data",
    "load_dataset": "landscape.data",
    "MLP": "landscape.model",
    "SCHEDULES": "landscape.schedules",
    "make_schedule": "landscape.schedules",
    "STATUSES": "landscape.train",
    "TrainConfig": "landscape.train",
    "TrainResult": "landscape.train",
    "train": "landscape.train",
    "run_study": "landscape.api",
    "StudyRun": "landscape.api",
    "load_trial": "landscape.api",
    "TrialRun": "landscape.api",
}

__all__ = sorted(n for n in _LAZY if n != "TrialRun")


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'landscape' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


class _Package(types.ModuleType):
    """The package module: a name that is also a submodule's stays the function's.

    ``landscape.train`` is the function :func:`landscape.train.train` (the submodule is
    ``sys.modules["landscape.train"]``). Importing the submodule binds it on the package;
    without this, that would shadow the lazily loaded function.
    """

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, types.ModuleType) and name in _LAZY and _LAZY[name].endswith(name):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
