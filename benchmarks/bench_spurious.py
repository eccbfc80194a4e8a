"""Safran & Shamir's networks: the closed-form population GD step against the sample's step.

The `spurious` sweep runs population GD in closed form (`landscape.analysis.spurious`); the
same problem on a sample is the `relu_teacher` data with the frozen MLP that `escape` and
`minima_relu_teacher` train. Same starts, same K, one BLAS thread, best of ``--repeat``:

1. one GD step for K = 100 starts at k = n = 12 (d = 12): closed form, against the frozen MLP
   on N = 10,000 samples (the sample size at which the sample's loss is within ~1% of the
   population's, printed);
2. what the frozen mask costs the trainer: ``train_many`` on the frozen student against the
   same network unfrozen (same data, same starts, 200 epochs of batch GD);
3. the noise axis's chains (``landscape.analysis.noise.sgd_chains`` on the closed form,
   k = n = 8): chains × updates per second for B = 1, 8, 64 with every chain of one B in one
   step (64 starts × 8 step sizes), against a per-chain loop (the same SGD step, one chain at
   a time, as ``sgd_step`` with K = 1), and the same for the GD controls
   (``gd_chains`` against a per-chain loop of the closed-form gradient).

Run:  python benchmarks/bench_spurious.py [--repeat 3]
Target: the closed form >= 10x the sample's step per start (the sweep's design), the frozen
mask costs the trainer <= 10%, and the vectorised chains >= 10x the per-chain loop.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from bench_threads import best  # the best of --repeat timings, as every benchmark here
from threadpoolctl import threadpool_limits

from landscape.analysis import noise
from landscape.analysis import spurious as ss
from landscape.data import load_dataset
from landscape.model import MLP
from landscape.train import train_many

FROZEN = {"W2": 1.0, "b1": 0.0, "b2": 0.0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    k = n = d = 12
    K, N, steps = 100, 10_000, 20
    rng = np.random.default_rng(0)
    V = ss.teacher(k, d)
    W = ss.init_students(rng, K, n, d)
    data = load_dataset(
        "relu_teacher",
        rng=np.random.default_rng(1),
        val_fraction=0.0,
        n_samples=N,
        n_features=d,
        n_teacher=k,
    )
    model = MLP([d, n, 1], "relu", "mse", FROZEN)
    theta = model.freeze(np.zeros((K, model.n_params)))
    for i in range(K):
        model.layout.unravel(theta[i])[0][0][...] = W[i].T
    X = model.check_inputs(data.X_train)
    t = model.targets(data.y_train, N)
    with threadpool_limits(1):
        pop = best(lambda: [ss.population_grad(W, V) for _ in range(steps)], args.repeat) / steps
        smp = (
            best(
                lambda: [model.evaluate(theta, X, t, value=False) for _ in range(steps)],
                args.repeat,
            )
            / steps
        )
        E_pop = ss.population_loss(W, V)
        E_smp = model.loss(theta, X, data.y_train)
    err = np.abs(E_smp / E_pop - 1)
    print(f"1. one GD step, K = {K} starts, k = n = d = {k}")
    print(f"   closed form (population)     {pop * 1e3:8.2f} ms  ({pop / K * 1e6:7.1f} µs a start)")
    print(
        f"   frozen MLP on N = {N:,} samples {smp * 1e3:8.2f} ms  ({smp / K * 1e6:7.1f} µs a start)"
    )
    print(f"   ratio: the closed form is {smp / pop:.1f}x faster per step")
    print(
        f"   the sample's loss against the population's: median relative error "
        f"{np.median(err):.2%}, max {err.max():.2%} (K = {K} random students)"
    )

    # 2. the frozen mask in the trainer
    d2 = k2 = n2 = 8
    data2 = load_dataset(
        "relu_teacher",
        rng=np.random.default_rng(2),
        val_fraction=0.0,
        n_samples=2000,
        n_features=d2,
        n_teacher=k2,
    )
    frozen = MLP([d2, n2, 1], "relu", "mse", FROZEN)
    free = MLP([d2, n2, 1], "relu", "mse")
    starts = frozen.init(np.random.default_rng(3), k=32, scheme="normal", scale=1 / math.sqrt(d2))
    with threadpool_limits(1):
        times = {}
        for name, m in (("frozen", frozen), ("unfrozen", free)):
            times[name] = best(
                lambda m=m: train_many(m, starts, data2.X_train, data2.y_train, lr=0.5, epochs=200),
                args.repeat,
            )
    print("2. train_many, 32 starts, [8, 8, 1] relu on 2,000 samples, 200 epochs of batch GD")
    print(f"   frozen W2, b1, b2   {times['frozen']:.3f} s")
    print(f"   unfrozen            {times['unfrozen']:.3f} s")
    print(f"   ratio frozen / unfrozen: {times['frozen'] / times['unfrozen']:.2f}")
    chain_throughput(args.repeat)
    return 0


def chain_throughput(repeat: int) -> None:
    """Case 3: the noise axis's vectorised chains against one chain at a time."""
    k = n = 8
    p = ss.PopulationReLU(k, n)
    R, M, U, loop_chains = 64, 8, 200, 16
    starts = ss.init_students(np.random.default_rng(4), R, n, k).reshape(R, -1)
    lrs = np.geomspace(0.002, 0.02, M)
    print(
        f"3. the noise axis's chains, k = n = {k}: {R} starts × {M} step sizes, {U} updates; "
        f"the per-chain loop runs {loop_chains} chains one at a time"
    )
    print(f"   {'':4s} {'vectorised chain-steps/s':>25s} {'per-chain loop':>15s} {'ratio':>6s}")
    with threadpool_limits(1):
        for B in (1, 8, 64):
            vec = best(
                lambda B=B: noise.sgd_chains(
                    p, starts, lrs, B, U, np.random.default_rng(0), cooldown=0.0
                ),
                repeat,
            )

            def loop(B=B):
                rng = np.random.default_rng(0)
                for i in range(loop_chains):
                    W = starts[i].reshape(1, n, k).copy()
                    for _ in range(U):
                        ss.sgd_step(W, p.V, lrs[0], B, rng)

            one = best(loop, repeat)
            fast, slow = R * M * U / vec, loop_chains * U / one
            print(f"   B={B:<2d} {fast:25,.0f} {slow:15,.0f} {fast / slow:6.1f}")
        vec = best(lambda: noise.gd_chains(p, starts, lrs, U, cooldown=0.0), repeat)

        def gd_loop():
            for i in range(loop_chains):
                w = starts[i : i + 1].copy()
                for _ in range(U):
                    w -= lrs[0] * ss.population_grad(w.reshape(1, n, k), p.V).reshape(1, -1)

        one = best(gd_loop, repeat)
        fast, slow = R * M * U / vec, loop_chains * U / one
        print(f"   {'GD':4s} {fast:25,.0f} {slow:15,.0f} {fast / slow:6.1f}")


if __name__ == "__main__":
    raise SystemExit(main())
