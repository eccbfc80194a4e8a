"""landscape: gradient descent on small neural networks, studied by experiment."""

from landscape.data import DATASETS, Dataset, load_dataset
from landscape.model import MLP
from landscape.schedules import SCHEDULES, make_schedule
from landscape.train import STATUSES, TrainResult, train

__all__ = [
    "DATASETS",
    "MLP",
    "SCHEDULES",
    "STATUSES",
    "Dataset",
    "TrainResult",
    "load_dataset",
    "make_schedule",
    "train",
]
__version__ = "0.1.0"
