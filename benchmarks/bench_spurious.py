"""Safran & Shamir's networks: the closed-form population GD step against the sample's step.

The `spurious` sweep runs population GD in closed form (`landscape.analysis.spurious`); the
same problem on a sample is the `relu_teacher` data with the frozen MLP that `escape` and
`minima_relu_teacher` train. Same starts, same K, one BLAS thread, best of ``--repeat``:

1. one GD step for K = 100 starts at k = n = 12 (d = 12): closed form, against the frozen MLP
   on N = 10,000 samples (the sample size at which the sample's loss is within ~1% of the
   population's, printed);
2. what the frozen mask costs the trainer: ``train_many`` on the frozen student against the
   same network unfrozen (same data, same starts, 200 epochs of batch GD).

Run:  python benchmarks/bench_spurious.py [--repeat 3]
Target: the closed form >= 10x the sample's step per start (the sweep's design), and the
frozen mask costs the trainer <= 10%.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from bench_threads import best  # the best of --repeat timings, as every benchmark here
from threadpoolctl import threadpool_limits

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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
