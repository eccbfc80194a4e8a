"""Regenerate the measured numbers and figures of the README and the site, so they never go stale.

Every block of README.md and of the site's pages (docs/**/*.md) between
``<!-- generated: KEY -->`` and ``<!-- /generated: KEY -->`` is replaced by what its command
prints when run now: a benchmark of this folder, or a shipped study run from scratch with its
default spec in a temporary folder. Each key appears once, in one page. The studies' report
figures named in ``FIGURES`` are copied to docs/figures/. Prose around the blocks carries no
measured number.

Run:  python benchmarks/readme.py [KEY ...]     (no KEY: every block; --list: key and page)
A block whose command fails is left as it was, and the script exits 1 naming it.
"""

from __future__ import annotations

import argparse
import datetime
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
FIGURE_DIR = DOCS / "figures"


def pages() -> list[Path]:
    """The README and every page of the site, in a fixed order."""
    return [README, *sorted(DOCS.rglob("*.md"))]


PY = sys.executable


def _study(name: str) -> list[str]:
    return [PY, "-m", "landscape.study", name, "--storage", "runs.db", "--no-progress"]


COMMANDS: dict[str, list[str]] = {
    "study-lr_search": _study("lr_search"),
    "study-lr_search_linear": _study("lr_search_linear"),
    "lr_range-lr_search": [
        PY,
        "-m",
        "landscape.study",
        "lr_range",
        "lr_search",
        "--storage",
        "runs.db",
    ],
    "study-batch_search": _study("batch_search"),
    "study-batch_repeats": [
        *_study("batch_search"),
        "--study-name",
        "batch_repeats",
        "--repeats",
        "4",
        "--n-trials",
        "12",
        "--set",
        "pruner.name=none",
        "--set",
        "pruner.options={}",
    ],
    "slice-batch_repeats": [
        PY,
        "-m",
        "landscape.study",
        "slice",
        "batch_repeats",
        "--trial",
        "0",
        "--retrain",
        "--storage",
        "runs.db",
    ],
    "compare-batch_search": [
        PY,
        "-m",
        "landscape.study",
        "compare",
        "batch_search",
        "batch_relu",
        "--storage",
        "runs.db",
    ],
    "study-schedule_search": _study("schedule_search"),
    "study-minima": _study("minima"),
    "study-minima_10000": [
        *_study("minima"),
        "--set",
        "analysis.n_starts=10000",
        "--set",
        "analysis.engine=jax",
        "--jobs",
        "2",
        "--no-report",
    ],
    "study-minima_student": _study("minima_student"),
    "study-minima_census": [*_study("minima_census"), "--jobs", "2"],
    "study-minima_relu_teacher": [*_study("minima_relu_teacher"), "--jobs", "2"],
    "study-symmetry": _study("symmetry"),
    "study-geometry": _study("geometry"),
    "study-escape": _study("escape"),
    "study-spurious": [*_study("spurious"), "--jobs", "2"],
    "study-schedule_convergence": _study("schedule_convergence"),
    "bench_trainer": [PY, str(ROOT / "benchmarks" / "bench_trainer.py")],
    "bench_study": [PY, str(ROOT / "benchmarks" / "bench_study.py")],
    "bench_minima": [PY, str(ROOT / "benchmarks" / "bench_minima.py")],
    "bench_spurious": [PY, str(ROOT / "benchmarks" / "bench_spurious.py")],
    "bench_workers": [PY, str(ROOT / "benchmarks" / "bench_workers.py")],
    "bench_threads": [PY, str(ROOT / "benchmarks" / "bench_threads.py")],
    "bench_startup": [PY, str(ROOT / "benchmarks" / "bench_startup.py")],
}
"""The command of every README block; studies run in a fresh temporary folder."""

SETUP: dict[str, list[list[str]]] = {
    "lr_range-lr_search": [[*_study("lr_search"), "--no-report"]],
    "slice-batch_repeats": [
        [*_study("batch_search"), "--study-name", "batch_repeats", "--n-trials", "2", "--no-report"]
    ],
    "compare-batch_search": [
        [*_study("batch_search"), "--no-report"],
        [
            *_study("batch_search"),
            "--study-name",
            "batch_relu",
            "--set",
            "model.activation=relu",
            "--no-report",
        ],
    ],
}
"""Commands run first, output discarded, in the same folder (the search lr_range compares to)."""

FIGURES: dict[str, tuple[str, str]] = {
    "loss_vs_lr.png": ("study-lr_search", "lr_search/loss_vs_lr.png"),
    "curves_updates.png": ("study-lr_search", "lr_search/curves_updates.png"),
    "batch_map.png": ("study-batch_search", "batch_search/batch_map.png"),
    "schedules.png": ("study-schedule_search", "schedule_search/schedules.png"),
    "minima.png": ("study-minima", "minima/minima.png"),
    "minima_student.png": ("study-minima_student", "minima_student/minima.png"),
    "minima_census.png": ("study-minima_census", "minima_census/census.png"),
    "paths.png": ("study-geometry", "geometry/paths.png"),
    "slices.png": ("study-geometry", "geometry/slices.png"),
    "escape.png": ("study-escape", "escape/escape.png"),
    "spurious.png": ("study-spurious", "spurious/spurious.png"),
    "sharpness.png": ("study-lr_search", "lr_search/sharpness.png"),
    "convergence.png": ("study-schedule_convergence", "schedule_convergence/convergence.png"),
    "loss_vs_lr_repeats.png": ("study-batch_repeats", "batch_repeats/loss_vs_lr.png"),
    "compare.png": ("compare-batch_search", "compare-batch_search-batch_relu.png"),
}
"""docs/figures/ file → (the block whose run draws it, its path under that run's reports/)."""

_BLOCK = re.compile(
    r"(?P<open><!-- generated: (?P<key>[\w-]+) -->\n)(?P<body>.*?)"
    r"(?P<close><!-- /generated: (?P=key) -->)",
    re.S,
)


def blocks(text: str) -> list[str]:
    """The keys of the generated blocks in ``text``, in order.

    Raises
    ------
    ValueError
        For an opening or closing marker without its partner.
    """
    keys = [m["key"] for m in _BLOCK.finditer(text)]
    opened = re.findall(r"<!-- generated: ([\w-]+) -->", text)
    closed = re.findall(r"<!-- /generated: ([\w-]+) -->", text)
    if sorted(opened) != sorted(keys) or sorted(closed) != sorted(keys):
        raise ValueError(f"unbalanced generated markers: opened {opened}, closed {closed}")
    return keys


def render(key: str, output: str, day: datetime.date) -> str:
    """The body of block ``key``: its command and what it printed, as a text code block."""
    shown = " ".join(
        Path(a).relative_to(ROOT).as_posix() if a.startswith(str(ROOT)) else a
        for a in COMMANDS[key]
    ).replace(PY, "python", 1)
    return f"```text\n$ {shown}    # {day.isoformat()}\n{output.rstrip()}\n```\n"


def substitute(text: str, bodies: dict[str, str]) -> str:
    """``text`` with the body of every block named in ``bodies`` replaced; others kept."""
    blocks(text)

    def one(m: re.Match) -> str:
        body = bodies.get(m["key"], m["body"])
        return m["open"] + body + m["close"]

    return _BLOCK.sub(one, text)


def located() -> dict[str, Path]:
    """Every generated block's key → the page that holds it.

    Raises
    ------
    ValueError
        For unbalanced markers, or a key in two places.
    """
    where: dict[str, Path] = {}
    for page in pages():
        for key in blocks(page.read_text()):
            if key in where:
                raise ValueError(f"block {key!r} is in {where[key]} and in {page}")
            where[key] = page
    return where


def run(key: str, folder: Path) -> str:
    """Run block ``key``'s command in ``folder`` and return its standard output."""
    for command in SETUP.get(key, []):
        subprocess.run(command, cwd=folder, capture_output=True, check=True)
    proc = subprocess.run(COMMANDS[key], cwd=folder, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{key} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    # Where this run's temporary report went is of no use in the README.
    lines = [
        line
        for line in proc.stdout.splitlines()
        if not line.startswith(("report: ", "look at it: "))
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("keys", nargs="*", help="blocks to regenerate (default: every one)")
    ap.add_argument("--list", action="store_true", help="print the keys and stop")
    args = ap.parse_args(argv)
    where = located()
    if args.list:
        print("\n".join(f"{k}  {p.relative_to(ROOT)}" for k, p in where.items()))
        return 0
    unknown = [k for k in args.keys if k not in COMMANDS or k not in where]
    if unknown:
        print(f"unknown block(s) {unknown}; known: {', '.join(where)}", file=sys.stderr)
        return 2
    todo = args.keys or list(where)
    day = datetime.date.today()
    failed = []
    for key in todo:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"running {key} …", file=sys.stderr, flush=True)
            try:
                output = run(key, Path(tmp))
            except RuntimeError as exc:
                print(exc, file=sys.stderr)
                failed.append(key)
                continue
            for doc, (source, path) in FIGURES.items():
                if source == key:
                    shutil.copyfile(Path(tmp) / "reports" / path, FIGURE_DIR / doc)
        page = where[key]
        # after every block, so that an interrupted run keeps what it did
        page.write_text(substitute(page.read_text(), {key: render(key, output, day)}))
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
