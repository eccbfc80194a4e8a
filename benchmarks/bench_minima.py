"""Many starts at once: ``train_many`` against looping the single-start ``train``.

1. XOR, 2-2-1 tanh, MSE, 4 samples: 10,000 starts x 2,000 full-batch GD steps. Per-call
   overhead dominates here (one start costs tens of µs per step). The loop is timed on a
   sample of ``--loop-sample`` of the same starts and scaled to 10,000 (its cost per start does
   not depend on the others). Target: >= 100x.
2. moons, 500 samples (400 for training), 2-16-2 tanh, cross-entropy: 256 starts x 300 GD
   steps, the loop over all 256. Element-wise work and memory traffic dominate. Target: >= 1.5x.
3. Peak memory of train_many (tracemalloc) as K grows past one chunk, less the results that
   must grow with K (final θ, status, loss, ‖∇E‖, epochs): it stays flat.

Both sides use the same stopping rules (a start that converges stops). Best of ``--repeat``,
interleaved. Run:  python benchmarks/bench_minima.py
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from landscape.data import load_dataset
from landscape.model import MLP
from landscape.train import train, train_many

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0.0, 1.0, 1.0, 0.0])


def time_many(model, starts, X, y, steps, lr):
    t0 = time.perf_counter()
    res = train_many(model, starts, X, y, lr=lr, epochs=steps)
    return time.perf_counter() - t0, res


def time_loop(model, starts, X, y, steps, lr):
    t0 = time.perf_counter()
    statuses = [train(model, th, X, y, lr=lr, epochs=steps).status for th in starts]
    return time.perf_counter() - t0, statuses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--loop-sample", type=int, default=200)
    args = ap.parse_args()

    xor = MLP([2, 2, 1], "tanh", "mse")
    starts = xor.init(np.random.default_rng(0), k=10_000, scheme="normal")
    sample = starts[: args.loop_sample]
    best_many = best_loop = np.inf
    for _ in range(args.repeat):
        t_many, res = time_many(xor, starts, XOR_X, XOR_Y, 2000, 0.5)
        t_loop, statuses = time_loop(xor, sample, XOR_X, XOR_Y, 2000, 0.5)
        best_many = min(best_many, t_many)
        best_loop = min(best_loop, t_loop * len(starts) / len(sample))
    agree = np.mean(res.status[: len(sample)] == np.array(statuses))
    names, n = np.unique(res.status, return_counts=True)
    counts = ", ".join(f"{k} {v}" for k, v in zip(names.tolist(), n.tolist(), strict=True))
    print(
        f"1. XOR 2-2-1, 10,000 starts x 2,000 steps: train_many {best_many:.2f} s; loop "
        f"{best_loop:.1f} s (scaled from {len(sample)} starts) -> {best_loop / best_many:.0f}x"
        f"; statuses: {counts}; agree with the loop on {agree:.0%} of the sampled starts"
    )

    ds = load_dataset("moons", rng=np.random.default_rng(0), n_samples=500)
    moons = MLP(ds.sizes([16]), "tanh", "cross_entropy")
    starts = moons.init(np.random.default_rng(1), k=256)
    best_many = best_loop = np.inf
    for _ in range(args.repeat):
        best_many = min(best_many, time_many(moons, starts, ds.X_train, ds.y_train, 300, 0.5)[0])
        best_loop = min(best_loop, time_loop(moons, starts, ds.X_train, ds.y_train, 300, 0.5)[0])
    print(
        f"2. moons 2-16-2, N={ds.n_train}, 256 starts x 300 steps: train_many "
        f"{best_many:.2f} s; loop {best_loop:.2f} s -> {best_loop / best_many:.2f}x"
    )

    peaks = []
    for k in (256, 1024, 4096, 16384):
        th = xor.init(np.random.default_rng(0), k=k)
        tracemalloc.start()
        res = train_many(xor, th, XOR_X, XOR_Y, lr=0.5, epochs=50, chunk=256)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        results = sum(
            a.nbytes for a in (res.theta, res.status, res.loss, res.grad_norm, res.epochs)
        )
        peaks.append((k, peak, peak - results))
    print("3. peak memory of train_many (chunk = 256 starts), less its K-sized results:")
    for k, peak, working in peaks:
        print(f"   K={k:6d}: peak {peak / 1024:8.0f} KiB, working {working / 1024:6.0f} KiB")


if __name__ == "__main__":
    main()
