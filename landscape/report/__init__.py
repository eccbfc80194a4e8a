"""Reports of stored studies, in three layers that import only downwards.

- :mod:`landscape.report.text`: the terminal summaries (plain strings; no matplotlib).
- :mod:`landscape.report.data` and :mod:`landscape.report.figures`: the data of every figure
  read from a stored study, and its drawing (matplotlib, Optuna's visualisation pattern).
- :mod:`landscape.report.write`: the HTML page, its PNGs and the optuna-dashboard note.

This package's ``__init__`` imports nothing, so the command line loads matplotlib only when it
writes a report.
"""
