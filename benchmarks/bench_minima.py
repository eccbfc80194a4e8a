"""Many starts at once: ``train_many`` against looping the single-start ``train``.

1. XOR, 2-2-1 tanh, MSE, 4 samples: 10,000 starts x 2,000 full-batch GD steps. Per-call
   overhead dominates here (one start costs tens of µs per step). The loop is timed on a
   sample of ``--loop-sample`` of the same starts and scaled to 10,000 (its cost per start does
   not depend on the others). Target: >= 100x.
2. moons, 500 samples (400 for training), 2-16-2 tanh, cross-entropy: 256 starts x 300 GD
   steps, the loop over all 256. Element-wise work and memory traffic dominate. Target: >= 1.5x.
3. Peak memory of train_many (tracemalloc) as K grows past one chunk, less the results that
   must grow with K (final θ, status, loss, ‖∇E‖, epochs): it stays flat.
4. The minima analysis of the shipped ``minima`` spec (teacher 2-4-1 tanh, 3,000 GD epochs):
   ``--pipeline-starts`` starts trained at once, then polished and examined all at once
   (``examine_points``: batched L-BFGS, batched Newton, continued descent, probes) against the
   per-start path (``polish`` then ``examine``, one start at a time) on the first
   ``--pipeline-sample`` of them, scaled. Prints the share of the sample given the same kind
   by both, the time per start of each stage, and what 10,000 starts would take on two worker
   processes. Target: 10,000 starts end to end within 2 minutes on 2 cores.
5. On that sample: every end point the analysis calls a ``minimum`` is continued by 2,000
   more L-BFGS iterations without a gradient stop; the count of those whose loss then falls
   beyond the analysis's tolerance (1e-10 relative plus 1e-12 · E(0)) must be 0.
6. Exact Hessians, forward mode through backpropagation (``hessians``) against the complex
   step (``complex_step_hessians``), side by side: 128 points of the minima spec's 2-4-1
   network (N = 200), and one point of a 64-32-10 network on 1,437 digits; the largest
   relative difference between the two.
7. The compiled engine (``engine="jax"``, :mod:`landscape.engine`) against the NumPy
   ``train_many`` on the same ``--pipeline-starts`` starts of the ``minima`` spec: CPU seconds
   of the training kernel (warm, best of ``--repeat``; one XLA and one BLAS thread) and their
   ratio (target >= 3x), the first call's compile time, the largest relative θ difference and
   the statuses; then end to end: training plus ``examine_points`` on each engine (CPU
   seconds, compile excluded), their ratio (target 12x; about 1.5x is what this pipeline
   reaches on CPU, where SciPy's continuation stays in NumPy) and the kinds each path gives,
   every difference listed with the reasons both sides gave, beside the control that says
   what such a difference means: the NumPy end points perturbed by 1e-14 relative noise,
   examined again on NumPy.
8. Labels against an independent check, on the minima spec, the minima_census spec at widths 2
   and 6, and four small sklearn problems the analysis was not tuned on (moons and iris; tanh
   and sigmoid; MSE and cross-entropy): the kinds of ``--check-starts`` starts, and what
   100,000 further plain GD steps from each start's end of training do (20,000, then 80,000
   more, at the training step size). An ``at_infinity`` is contradicted when that GD
   converges or ‖θ‖ shrinks over the last 80,000 steps; a ``minimum`` when GD from the
   examined point itself, at a step it is stable at (the training step, or 1/λ_max if
   smaller), lowers E beyond the analysis's tolerance or leaves it by more than 1e-6 relative;
   also printed: how many minima are GD-stable at the training step (ε·λ_max < 2).
   Target: 0 contradicted, <= 10% unresolved on the small problems.

Both sides use the same stopping rules (a start that converges stops). Best of ``--repeat``,
interleaved. Run:  python benchmarks/bench_minima.py
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
from scipy.optimize import minimize

from landscape import seeds
from landscape.analysis.minima import examine, examine_points, loss_floor, polish
from landscape.data import load_dataset
from landscape.hessian import complex_step_hessians, hessians
from landscape.model import MLP
from landscape.runs.problem import prepare
from landscape.spec import find_spec, parse_spec
from landscape.threads import blas_threads
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
    ap.add_argument("--pipeline-starts", type=int, default=256)
    ap.add_argument("--pipeline-sample", type=int, default=32)
    ap.add_argument("--check-starts", type=int, default=32)
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

    with blas_threads(1):
        pipeline(args.pipeline_starts, args.pipeline_sample)
        exact_hessians(args.repeat)
        compiled_engine(args.pipeline_starts, args.repeat)
        independent_check(args.check_starts)


def compiled_engine(K: int, repeat: int) -> None:
    from collections import Counter

    spec = parse_spec("minima", find_spec("minima")[1], [])
    problem = prepare(spec)
    X, y = problem.data.X_train, problem.data.y_train
    model, theta0 = problem.inputs.starts(np.arange(K))
    kw = spec.trainer.many_kwargs(len(X))
    t0 = time.process_time()
    jax_res = train_many(model, theta0, X, y, engine="jax", **kw)
    first = time.process_time() - t0
    best = {"numpy": np.inf, "jax": np.inf}
    for _ in range(repeat):
        for engine in best:
            t0 = time.process_time()
            res = train_many(model, theta0, X, y, engine=engine, **kw)
            best[engine] = min(best[engine], time.process_time() - t0)
            if engine == "numpy":
                np_res = res
    rel = np.abs(np_res.theta - jax_res.theta).max(axis=1) / np.abs(np_res.theta).max(axis=1)
    same = np.mean(np_res.status == jax_res.status)
    print(
        f"7. compiled engine, minima spec, {K} starts x {spec.trainer.epochs:,} epochs (CPU s): "
        f"numpy {best['numpy']:.2f}, jax {best['jax']:.2f} -> {best['numpy'] / best['jax']:.1f}x "
        f"(target 3x); first call {first:.2f} s (compile {first - best['jax']:.2f} s); "
        f"max relative θ difference {rel.max():.1e}; same status {same:.0%}"
    )
    ex = spec.analysis.examine()
    found, cost = {}, {}
    for engine, res in (("numpy", np_res), ("jax", jax_res)):
        if engine == "jax":  # compile every shape of this run outside the timing
            examine_points(model, res.theta, X, y, **ex, engine=engine)
        t0 = time.process_time()
        found[engine] = examine_points(model, res.theta, X, y, **ex, engine=engine)
        cost[engine] = time.process_time() - t0
    total = {"numpy": best["numpy"] + cost["numpy"], "jax": best["jax"] + cost["jax"]}
    print(
        f"   end to end (train, polish, examine; CPU s): numpy {total['numpy']:.1f} "
        f"(polish + examine {cost['numpy']:.1f}), jax {total['jax']:.1f} (polish + examine "
        f"{cost['jax']:.1f}) -> {total['numpy'] / total['jax']:.1f}x (target 12x); "
        f"10,000 starts on 2 workers ≈ {total['jax'] / K * 10_000 / 2 / 60:.1f} min"
    )
    kinds = {k: np.asarray(v["kind"]) for k, v in found.items()}
    noise = np.random.default_rng(5).standard_normal(np_res.theta.shape)
    perturbed = np_res.theta * (1 + 1e-14 * noise)
    kinds["1e-14"] = np.asarray(examine_points(model, perturbed, X, y, **ex)["kind"])
    for other, what in (("jax", "the engine's path"), ("1e-14", "perturbed by 1e-14")):
        diff = np.flatnonzero(kinds["numpy"] != kinds[other])
        pairs = zip(kinds["numpy"][diff].tolist(), kinds[other][diff].tolist(), strict=True)
        moves = Counter(pairs)
        listed = ", ".join(f"{a} -> {b} x{n}" for (a, b), n in sorted(moves.items())) or "none"
        print(f"   kinds of {what}: same on {1 - len(diff) / K:.1%} of {K}; differences: {listed}")
    diff = np.flatnonzero(kinds["numpy"] != kinds["jax"])
    why = Counter(
        f"{a}: {ra.split(':')[0].split(' after')[0]} | {b}: {rb.split(':')[0].split(' after')[0]}"
        for a, ra, b, rb in zip(
            kinds["numpy"][diff],
            found["numpy"]["reason"][diff],
            kinds["jax"][diff],
            found["jax"]["reason"][diff],
            strict=True,
        )
    )
    for line, n in why.most_common():
        print(f"     x{n} numpy {line} (engine)")
    both = (kinds["numpy"] == "minimum") & (kinds["jax"] == "minimum")
    a, b = found["numpy"]["theta"][both], found["jax"]["theta"][both]
    rel = np.abs(a - b).max(axis=1) / np.abs(a).max(axis=1)
    print(f"   minima both paths name: {both.sum()}, the same point to {rel.max():.1e} relative")


CHECK_PROBLEMS = [
    ("moons", {"n_samples": 100}, [3], "tanh", "cross_entropy", 0.5),
    ("iris", {}, [3], "tanh", "cross_entropy", 0.5),
    ("moons", {"n_samples": 100}, [3], "sigmoid", "mse", 1.0),
    ("iris", {}, [2], "sigmoid", "cross_entropy", 0.5),
]


def independent_check(K: int) -> None:
    from collections import Counter

    spec = parse_spec("minima", find_spec("minima")[1], [])
    problem = prepare(spec)
    model, theta0 = problem.inputs.starts(np.arange(K))
    problems = [
        (
            "minima spec (teacher 2-4-1 tanh MSE)",
            model,
            problem.data.X_train,
            problem.data.y_train,
            theta0,
            spec.trainer.lr,
            spec.trainer.epochs,
        )
    ]
    # the census spec at its narrowest widths with slopes to infinity and at its widest
    census = parse_spec("minima_census", find_spec("minima_census")[1], [])
    cp = prepare(census)
    for width in (2, 6):
        m, th0 = cp.inputs.starts(np.arange(K), [width])
        problems.append(
            (
                f"minima_census spec, width {width} (teacher 2-6-1 tanh MSE, N = 60)",
                m,
                cp.data.X_train,
                cp.data.y_train,
                th0,
                census.trainer.lr,
                census.trainer.epochs,
            )
        )
    for name, opts, hidden, act, loss, lr in CHECK_PROBLEMS:
        d = load_dataset(name, rng=np.random.default_rng(0), **opts)
        y = d.y_train.astype(float) if loss == "mse" else d.y_train
        sizes = d.sizes(hidden) if loss == "cross_entropy" else [d.X_train.shape[1], *hidden, 1]
        m = MLP(sizes, act, loss)
        label = f"{name} {'-'.join(map(str, sizes))} {act} {loss}"
        problems.append((label, m, d.X_train, y, m.init(np.random.default_rng(1), k=K), lr, 2000))
    print(f"8. labels against 100,000 further GD steps, {K} starts per problem:")
    for label, m, X, y, th0, lr, epochs in problems:
        t0 = time.process_time()
        ends = train_many(m, th0, X, y, lr=lr, epochs=epochs, engine="jax").theta
        found = examine_points(m, ends, X, y, engine="jax")
        cost = time.process_time() - t0
        a = train_many(m, ends, X, y, lr=lr, epochs=20_000, engine="jax")
        b = train_many(m, a.theta, X, y, lr=lr, epochs=80_000, engine="jax")
        n1, n2 = np.linalg.norm(a.theta, axis=1), np.linalg.norm(b.theta, axis=1)
        kinds = found["kind"]
        bad = Counter()
        inf = kinds == "at_infinity"
        bad["at_infinity"] = int(((b.status == "converged") | (n2 < n1))[inf].sum())
        mins = np.flatnonzero(kinds == "minimum")
        stable = 0
        if len(mins):
            floor = loss_floor(m, X, y)
            # GD at a step ε with ε·λ_max ≥ 2 leaves even a strict minimum (it is not a stable
            # fixed point): the check descends at 1/λ_max of the sharpest of them, or ε
            lam = found["lambda_max"][mins]
            step = min(lr, 1.0 / float(lam.max()))
            c = train_many(m, found["theta"][mins], X, y, lr=step, epochs=100_000, engine="jax")
            E = found["loss"][mins]
            lower = c.loss < E - (1e-10 * np.abs(E) + floor)
            moved = np.linalg.norm(c.theta - found["theta"][mins], axis=1) > 1e-6 * np.linalg.norm(
                found["theta"][mins], axis=1
            )
            bad["minimum"] = int((lower | moved).sum())
            stable = int((lr * lam < 2.0).sum())
        names, n = np.unique(kinds, return_counts=True)
        counts = ", ".join(f"{k} {v}" for k, v in zip(names.tolist(), n.tolist(), strict=True))
        print(
            f"   {label}: {counts}; unresolved {np.mean(kinds == 'unresolved'):.0%}; "
            f"contradicted: at_infinity {bad['at_infinity']} of {int(inf.sum())}, minimum "
            f"{bad['minimum']} of {len(mins)} ({stable} GD-stable at ε = {lr:g}); analysis "
            f"{cost:.1f} CPU s"
        )


def exact_hessians(repeat: int) -> None:
    rng = np.random.default_rng(0)
    digits = load_dataset("digits", rng=np.random.default_rng(0))
    cases = [
        (
            "2-4-1 tanh MSE, N=200, 128 points",
            MLP([2, 4, 1], "tanh", "mse"),
            rng.normal(size=(200, 2)),
            rng.normal(size=200),
            128,
            1.0,
        ),
        (
            f"64-32-10 tanh cross-entropy, N={digits.n_train}, 1 point",
            MLP(digits.sizes([32]), "tanh", "cross_entropy"),
            digits.X_train,
            digits.y_train,
            1,
            0.1,
        ),
    ]
    print("6. exact Hessians: forward mode through backpropagation against the complex step")
    for label, model, X, y, k, scale in cases:
        t = model.targets(y, X.shape[0])
        thetas = scale * rng.normal(size=(k, model.n_params))
        best, out = {}, {}
        for _ in range(repeat):
            for f in (hessians, complex_step_hessians):
                t0 = time.perf_counter()
                H = f(model, thetas, X, t)
                best[f] = min(best.get(f, np.inf), time.perf_counter() - t0)
                out[f] = H
        diff = np.abs(out[hessians] - out[complex_step_hessians]).max()
        diff /= np.abs(out[complex_step_hessians]).max()
        print(
            f"   {label} (D={model.n_params}): forward mode {best[hessians]:.3f} s, complex "
            f"step {best[complex_step_hessians]:.3f} s -> "
            f"{best[complex_step_hessians] / best[hessians]:.1f}x; max relative difference "
            f"{diff:.1e}"
        )


def pipeline(K: int, n_sample: int) -> None:
    spec = parse_spec("minima", find_spec("minima")[1], [])
    problem = prepare(spec)
    d = problem.data
    X, y = d.X_train, d.y_train
    model, theta0 = problem.inputs.starts(np.arange(K))
    t0 = time.perf_counter()
    res = train_many(
        model,
        theta0,
        X,
        y,
        rng=seeds.stream(0, seeds.SHUFFLE, 0),
        **spec.trainer.many_kwargs(len(X)),
    )
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    points = examine_points(model, res.theta, X, y)
    t_batched = time.perf_counter() - t0
    sample = res.theta[:n_sample]
    t0 = time.perf_counter()
    single = [examine(model, polish(model, th, X, y).theta, X, y) for th in sample]
    t_single = (time.perf_counter() - t0) * K / n_sample
    kinds = points["kind"]
    agree = np.mean(kinds[:n_sample] == np.array([e.kind for e in single]))
    names, n = np.unique(kinds, return_counts=True)
    counts = ", ".join(f"{k} {v}" for k, v in zip(names.tolist(), n.tolist(), strict=True))
    per = (t_train + t_batched) / K
    print(
        f"4. minima spec (teacher 2-4-1 tanh, N={len(X)}, 3,000 epochs), {K} starts: train "
        f"{t_train:.1f} s; polish + examine batched {t_batched:.1f} s, per start {t_single:.1f} s "
        f"(scaled from {n_sample}) -> {t_single / t_batched:.1f}x; same kind on {agree:.0%} of "
        f"the sample; kinds: {counts}"
    )
    print(
        f"   end to end {per * 1e3:.0f} ms per start on one core: 10,000 starts on 2 workers "
        f"≈ {per * 10_000 / 2 / 60:.1f} min (target 2 min; training alone "
        f"{t_train / K * 10_000 / 2 / 60:.1f} min)"
    )
    # The floor the spec itself sets: every epoch evaluates tanh on N × hidden entries.
    z = np.random.default_rng(0).normal(size=(K, len(X), 4))
    t0 = time.perf_counter()
    for _ in range(20):
        np.tanh(z, out=z)
    ns = (time.perf_counter() - t0) / 20 / z.size * 1e9
    epochs = spec.trainer.epochs
    n_tanh = 10_000 * epochs * len(X) * 4
    print(
        f"   floor: 10,000 starts x {epochs} epochs x N={len(X)} x 4 units = {n_tanh:.1e} "
        f"tanh evaluations at {ns:.1f} ns (numpy, float64, this machine) = "
        f"{n_tanh * ns * 1e-9 / 2 / 60:.1f} min on 2 cores for tanh alone"
    )
    t = model.targets(y, len(X))
    floor = loss_floor(model, X, y)
    mins = [k for k in range(n_sample) if kinds[k] == "minimum"]
    fell = 0
    for k in mins:
        theta = points["theta"][k]
        r = minimize(
            lambda th: (float(model.evaluate(th, X, t)[0]), model.evaluate(th, X, t)[1].copy()),
            theta,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 2000, "gtol": 0.0, "ftol": 0.0},
        )
        fell += int(r.fun < points["loss"][k] - (1e-10 * points["loss"][k] + floor))
    print(
        f"5. {fell} of the {len(mins)} sampled end points called a minimum lose loss under 2,000 "
        "further L-BFGS iterations (target 0)"
    )


if __name__ == "__main__":
    main()
