"""The Python API: run a study, load a stored trial — said and reported as the CLI does.

:func:`run_study` is :func:`landscape.runs.driver.run_study` with the toolkit's own
:class:`~landscape.runs.driver.Presenter`: the terminal summaries of :mod:`landscape.report.text`
and the report of :mod:`landscape.report.write` (matplotlib is imported only when a report is
written).
"""

from __future__ import annotations

from typing import Any

from landscape.report import text
from landscape.runs.driver import Presenter, StudyRun, TrialRun, load_trial
from landscape.runs.driver import run_study as _run_study

__all__ = ["StudyRun", "TrialRun", "load_trial", "presenter", "run_study"]


def _write_report(*args: Any, **kwargs: Any):
    from landscape.report.write import write_report  # matplotlib is loaded only to report

    return write_report(*args, **kwargs)


def presenter() -> Presenter:
    """The toolkit's own way of saying and reporting a run."""
    return Presenter(
        search_text=text.format_summary,
        analysis_text=text.describe,
        write_report=_write_report,
    )


def run_study(name_or_spec, **kwargs: Any) -> StudyRun:
    """Run a study spec into an Optuna storage, summarise and report it.

    The arguments are :func:`landscape.runs.driver.run_study`'s.
    """
    return _run_study(name_or_spec, presenter=presenter(), **kwargs)
