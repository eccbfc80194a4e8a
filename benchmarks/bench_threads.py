"""BLAS threads by the size of the work: where a second thread pays, and what load does.

Three measurements, side by side in one run, each the best of ``--repeat``:

1. The crossover: one ``(n, d) @ (d, d)`` float64 product with 1 and with 2 BLAS threads on a
   quiet machine, over sizes from the products these networks make to far larger ones. The
   ratio t(1 thread) / t(2 threads) says where a second thread gains; landscape allows one from
   ``landscape.threads.PARALLEL_FLOPS`` on.
2. The trainer under load: digits 64-64-10 tanh, mini-batches of 32, 20 epochs (the work of
   bench_trainer.py), with two busy background processes on this 2-core machine: OpenBLAS's
   default threads, one thread, and landscape's own choice (no limit set by the caller).
3. The polisher under load: L-BFGS-B polishing of 8 trained starts of the default minima
   problem (teacher 2-4-1 tanh), with one busy background process, default threads against
   landscape's choice.

Run:  python benchmarks/bench_threads.py [--repeat 3]
Target: under load, landscape's trainer within 1.3x of its one-thread time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from contextlib import contextmanager

import numpy as np
from threadpoolctl import threadpool_limits

import landscape.threads as threads
from landscape.analysis.minima import polish
from landscape.data import load_dataset
from landscape.model import MLP
from landscape.train import train, train_many


@contextmanager
def busy(n: int):
    """``n`` background processes spinning on a core each (none for 0)."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    time.sleep(0.5)
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


@contextmanager
def policy_off():
    """Emulate a library without the size rule: OpenBLAS's default threads everywhere."""
    saved = threads.threads_for
    threads.threads_for = lambda flops: None
    try:
        yield
    finally:
        threads.threads_for = saved


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def crossover(repeat: int) -> None:
    print("1. one (n, d) @ (d, d) product: 1 vs 2 BLAS threads, quiet and beside one busy process")
    print(
        f"{'n':>7} {'d':>5} {'MFLOP':>9} {'quiet t1 µs':>12} {'t1/t2':>6} "
        f"{'loaded t1 µs':>13} {'t1/t2':>6}  landscape"
    )
    rng = np.random.default_rng(0)
    rows = []
    for d in (16, 64, 256, 512):
        for n in (32, 1437, 8192, 32768):
            A = rng.standard_normal((n, d))
            W = rng.standard_normal((d, d))
            reps = max(1, int(1e8 / (2 * n * d * d)))
            out = np.empty((n, d))

            def product(A=A, W=W, out=out, reps=reps):
                for _ in range(reps):
                    np.matmul(A, W, out=out)

            rows.append((n, d, reps, product))
    timing = {}
    for load in (0, 1):
        with busy(load):
            for n, d, reps, product in rows:
                for k in (1, 2):
                    with threadpool_limits(k, user_api="blas"):
                        product()
                        timing[n, d, load, k] = best(product, repeat) / reps * 1e6
    for n, d, _, _ in rows:
        flops = 2.0 * n * d * d
        choice = "1 thread" if threads.threads_for(flops) == 1 else "default"
        q1, q2, l1, l2 = (timing[n, d, load, k] for load in (0, 1) for k in (1, 2))
        print(
            f"{n:7d} {d:5d} {flops / 1e6:9.2f} {q1:12.1f} {q1 / q2:6.2f} {l1:13.1f} "
            f"{l1 / l2:6.2f}  {choice}"
        )


def digits_trainer(epochs: int = 20):
    ds = load_dataset("digits", rng=np.random.default_rng(0))
    model = MLP(ds.sizes([64]), "tanh", "cross_entropy")

    def run():
        rng = np.random.default_rng(1)
        train(
            model,
            model.init(rng),
            ds.X_train,
            ds.y_train,
            lr=0.05,
            epochs=epochs,
            batch_size=32,
            rng=rng,
        )

    return run


def trainer_under_load(repeat: int) -> None:
    run = digits_trainer()
    with threadpool_limits(1, user_api="blas"):
        quiet_one = best(run, repeat)
    with busy(2):
        with policy_off():
            default = best(run, repeat)
        with threadpool_limits(1, user_api="blas"):
            one = best(run, repeat)
        ours = best(run, repeat)
    print("\n2. trainer, digits 64-64-10, B = 32, 20 epochs; two busy background processes")
    print(f"   quiet, 1 thread                 {quiet_one:7.2f} s")
    print(
        f"   loaded, OpenBLAS default threads {default:7.2f} s   {default / one:5.2f}x one thread"
    )
    print(f"   loaded, 1 thread                {one:7.2f} s   1.00x")
    print(
        f"   loaded, landscape's choice      {ours:7.2f} s   {ours / one:5.2f}x one thread "
        f"(target <= 1.3x)"
    )


def polisher_under_load(repeat: int) -> None:
    ds = load_dataset(
        "teacher",
        rng=np.random.default_rng(0),
        val_fraction=0.2,
        n_samples=250,
        n_features=2,
        hidden=[4],
        activation="tanh",
    )
    model = MLP(ds.sizes([4]), "tanh", "mse")
    rng = np.random.default_rng(2)
    ends = train_many(
        model, model.init(rng, k=8), ds.X_train, ds.y_train, lr=0.3, epochs=3000
    ).theta

    def run():
        for theta in ends:
            polish(model, theta, ds.X_train, ds.y_train)

    with policy_off():
        quiet_default = best(run, repeat)
    quiet = best(run, repeat)
    with busy(1):
        with policy_off():
            default = best(run, repeat)
        ours = best(run, repeat)
    print("\n3. polishing 8 end points (teacher 2-4-1 tanh, L-BFGS-B then Newton)")
    print(
        f"   quiet,  OpenBLAS default threads {quiet_default:7.2f} s   "
        f"{quiet_default / quiet:5.2f}x landscape"
    )
    print(f"   quiet,  landscape's choice       {quiet:7.2f} s")
    print(
        f"   loaded, OpenBLAS default threads {default:7.2f} s   {default / ours:5.2f}x landscape"
        " (one busy process)"
    )
    print(f"   loaded, landscape's choice       {ours:7.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"landscape.threads.PARALLEL_FLOPS = {threads.PARALLEL_FLOPS:.3g}\n")
    crossover(args.repeat)
    trainer_under_load(args.repeat)
    polisher_under_load(args.repeat)


if __name__ == "__main__":
    main()
