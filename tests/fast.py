"""A study small enough for tests: moons, 120 samples, one hidden layer of 4, 30 epochs."""

SETTINGS = [
    "data.name=moons",
    "data.options.n_samples=120",
    "model.hidden=[4]",
    "trainer.epochs=30",
    "study.report_every=10",
    "study.bisect=0",  # the shipped lr_search bisects its boundary; tests count their trials
    "study.track_sharpness=0",  # on where a test needs it (test_sharpness, test_report)
]
"""The spec overrides (``--set`` values, or ``overrides=`` of run_study)."""

FAST = [arg for setting in SETTINGS for arg in ("--set", setting)] + ["--no-progress"]
"""The command-line options of that study."""

QUICK = [*FAST, "--no-report"]
"""The same, without writing a report."""
