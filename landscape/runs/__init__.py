"""Studies as Optuna runs: the problem a spec describes, its trials, workers and storage.

``problem`` (a spec with its data: what trials and analyses get), ``search`` (the objective of
a search trial, samplers, pruners, the bisection of the divergence boundary), ``adapters``
(each analysis kind as Optuna trials: one trial, or a queue of units), ``driver`` (one run of a
study, inline or in worker processes), ``records`` (the only reader and writer of what a study
stores), ``storage`` (opening storages, outages, plans of trials).
"""

DEFAULT_STORAGE = "sqlite:///studies/landscape.db"
"""The storage of every command without ``--storage`` (here, not in ``storage``, so that
``--help`` names it without importing Optuna's database layer)."""
