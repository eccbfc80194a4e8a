"""landscape: gradient descent on small neural networks, studied by experiment."""

__version__ = "0.1.0"

from landscape.data import DATASETS, Dataset, load_dataset  # noqa: E402
from landscape.model import MLP  # noqa: E402
from landscape.schedules import SCHEDULES, make_schedule  # noqa: E402
from landscape.train import STATUSES, TrainConfig, TrainResult, train  # noqa: E402

__all__ = [
    "DATASETS",
    "MLP",
    "SCHEDULES",
    "STATUSES",
    "Dataset",
    "StudyRun",
    "TrainConfig",
    "TrainResult",
    "load_dataset",
    "make_schedule",
    "load_trial",
    "run_study",
    "train",
]


def __getattr__(name: str):
    # The study runner loads Optuna and the analyses: only when a notebook asks for it.
    if name in ("run_study", "StudyRun", "load_trial", "TrialRun"):
        from landscape import api

        return getattr(api, name)
    raise AttributeError(f"module 'landscape' has no attribute {name!r}")
