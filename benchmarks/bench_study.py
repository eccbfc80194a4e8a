"""The study layer, measured on the default ``lr_search`` (digits, full-batch GD, 40 trials).

Prints, in one run:
1. wall time of the default study (target: under 2 minutes on 2 cores);
2. Optuna + storage overhead: whole wall time vs the time spent inside the objective
   (target: <= 15%);
3. pruning: training epochs with the median pruner vs the same study without pruning, and
   the best values (target: >= 40% of the epochs saved, best value within 5%);
4. divergence steering: the share of proposals after trial 20 that fall in the diverging region
   (ε at or above the smallest ε that diverged), over several seeds (target: well under 10%).

Run:  python benchmarks/bench_study.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna


def run_study(folder: Path, name: str, seed: int, extra: list[str]) -> tuple[float, dict]:
    db = folder / f"{name}.db"
    cmd = [
        sys.executable,
        "-m",
        "landscape.study",
        "lr_search",
        "--storage",
        str(db),
        "--study-name",
        name,
        "--seed",
        str(seed),
        "--json",
        "--no-progress",
        *extra,
    ]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - t0, json.loads(out)


def trials(folder: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    """The search's trials, without the bisection trials after it.

    Those are never pruned and placed at the boundary on purpose: they would blur the
    pruner's savings and TPE's steering.
    """
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{folder / name}.db")
    return [t for t in study.get_trials(deepcopy=False) if "bisection" not in t.user_attrs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5, help="seeds for the divergence measurement")
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        wall, out = run_study(folder, "pruned", 0, [])
        ts = trials(folder, "pruned")
        inside = sum(t.user_attrs.get("wall_time", 0.0) for t in ts)
        train = sum(t.user_attrs.get("train_seconds", 0.0) for t in ts)
        span = max(t.datetime_complete for t in ts) - min(t.datetime_start for t in ts)
        span_s = span.total_seconds()
        print(
            f"1. default lr_search: {len(ts)} search trials in {wall:.1f} s end to end "
            f"(process start, data, trials, {out['summary']['bisection_trials']} bisection "
            f"trials, λ_max, sharpness of {len(out['summary']['sharpness'])} retrained runs, "
            f"report); search loop {span_s:.1f} s"
        )
        print(
            f"2. overhead: {span_s - train:.2f} s of {span_s:.2f} s outside training = "
            f"{(span_s - train) / span_s:.1%} (outside the objective: "
            f"{(span_s - inside) / span_s:.1%}; reports and attrs inside it: "
            f"{(inside - train) / span_s:.1%})"
        )

        wall_np, out_np = run_study(
            folder, "unpruned", 0, ["--set", "pruner.name=none", "--set", "pruner.options={}"]
        )
        ts_np = trials(folder, "unpruned")
        ep = sum(t.user_attrs.get("epochs", 0) for t in ts)
        ep_np = sum(t.user_attrs.get("epochs", 0) for t in ts_np)
        best, best_np = out["summary"]["best"]["value"], out_np["summary"]["best"]["value"]
        print(
            f"3. pruning: {ep} epochs with the median pruner vs {ep_np} without "
            f"({1 - ep / ep_np:.1%} saved); best val_loss {best:.5f} vs {best_np:.5f} "
            f"({best / best_np - 1:+.1%}); wall {wall:.1f} s vs {wall_np:.1f} s"
        )

        fractions = []
        for seed in range(args.seeds):
            name = f"seed{seed}"
            if seed == 0:
                name, s_out = "pruned", out
            else:
                _, s_out = run_study(folder, name, seed, [])
            boundary = s_out["summary"]["smallest_diverged_lr"]
            late = [t for t in trials(folder, name) if t.number >= 20]
            bad = [t for t in late if boundary is not None and t.params["lr"] >= boundary]
            fractions.append(len(bad) / len(late))
            print(
                f"4. seed {seed}: smallest diverged ε {boundary if boundary else 'none'}, "
                f"best ε {s_out['summary']['best']['lr']:.3g}; proposals after trial 20 in "
                f"the diverging region: {len(bad)}/{len(late)}"
            )
        print(f"   mean share over {args.seeds} seeds: {sum(fractions) / len(fractions):.1%}")


if __name__ == "__main__":
    main()
