"""Start-up: the command line's ``--help`` against ``import optuna``, side by side.

A command that trains nothing should cost about what importing Optuna costs: ``--help``,
and ``list`` load neither scikit-learn nor the trainers. Each command runs as a fresh
process ``--repeat`` times, the two sides interleaved so that load on this shared machine falls
on both alike; the median wall time of each is compared. Also printed: what each command
imports that weighs (scikit-learn, SciPy, matplotlib, JAX), read from ``sys.modules`` at exit.

Run:  python benchmarks/bench_startup.py [--repeat 15]
Target: ``python -m landscape.study --help`` within 1.5x of ``python -c "import optuna"``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
HEAVY = ("sklearn", "scipy", "matplotlib", "jax")
PEER = [PY, "-c", "import optuna"]
HELP = [PY, "-m", "landscape.study", "--help"]


def wall(command: list[str], cwd: str) -> float:
    """Seconds one run of ``command`` takes, as a fresh process."""
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def loaded(args: list[str], cwd: str) -> list[str]:
    """The heavy packages ``python -m landscape.study ARGS`` has imported when it ends."""
    probe = (
        "import sys, atexit\n"
        f"atexit.register(lambda: print('LOADED', *[m for m in {HEAVY!r} if m in sys.modules]))\n"
        "from landscape.cli import main\n"
        f"sys.argv = ['landscape', *{args!r}]\n"
        "code = main()\n"
    )
    out = subprocess.run([PY, "-c", probe], cwd=cwd, capture_output=True, text=True).stdout
    line = [x for x in out.splitlines() if x.startswith("LOADED")]
    return line[-1].split()[1:] if line else ["?"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15, help="runs of each command (default 15)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wall(PEER, tmp), wall(HELP, tmp)  # warm the file cache for both
        peer, ours = [], []
        for _ in range(args.repeat):
            peer.append(wall(PEER, tmp))
            ours.append(wall(HELP, tmp))
        p, o = statistics.median(peer), statistics.median(ours)
        print(f"median of {args.repeat} fresh processes each, interleaved:")
        print(f"  python -c 'import optuna'          {p:6.3f} s")
        print(f"  python -m landscape.study --help   {o:6.3f} s")
        print(f"  ratio --help / import optuna       {o / p:6.2f}x   (target: within 1.5x)")
        db = str(Path(tmp) / "empty.db")
        print("heavy packages each command imports (of " + ", ".join(HEAVY) + "):")
        for cmd in (["--help"], ["list", "--storage", db]):
            print(f"  {' '.join(cmd[:1]):<8} {', '.join(loaded(cmd, tmp)) or 'none'}")
    return 0 if o / p <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
