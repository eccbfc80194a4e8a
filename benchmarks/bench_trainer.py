"""Mini-batch SGD throughput: landscape's trainer vs scikit-learn's MLPClassifier (and PyTorch).

Same work for every contender, side by side in one process: digits (1,437 training samples
after the 80/20 split), a 64-64-10 tanh network with softmax cross-entropy, mini-batches of 32,
20 epochs, the same constant ε, no momentum, no weight decay. Each contender runs ``--repeat``
times; the best time is kept (the least disturbed by other load on a shared machine).

Run:  python benchmarks/bench_trainer.py [--repeat 5] [--epochs 20]
Target: landscape >= 3x scikit-learn's updates per second.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_info

from landscape.data import load_dataset
from landscape.model import MLP
from landscape.train import train

LR = 0.05
BATCH = 32


def run_landscape(ds, epochs, seed, validate, eval_every=1):
    model = MLP(ds.sizes([64]), "tanh", "cross_entropy")
    rng = np.random.default_rng(seed)
    theta0 = model.init(rng)
    val = {"X_val": ds.X_val, "y_val": ds.y_val} if validate else {}
    t0 = time.perf_counter()
    res = train(
        model,
        theta0,
        ds.X_train,
        ds.y_train,
        lr=LR,
        epochs=epochs,
        batch_size=BATCH,
        rng=rng,
        eval_every=eval_every,
        **val,
    )
    seconds = time.perf_counter() - t0
    acc = model.accuracy(res.theta, ds.X_val, ds.y_val)
    return seconds, res.updates, acc


def run_sklearn(ds, epochs, seed):
    clf = MLPClassifier(
        hidden_layer_sizes=(64,),
        activation="tanh",
        solver="sgd",
        momentum=0.0,
        nesterovs_momentum=False,
        learning_rate="constant",
        learning_rate_init=LR,
        alpha=0.0,
        batch_size=BATCH,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=10**9,
        shuffle=True,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        clf.fit(ds.X_train, ds.y_train)
        seconds = time.perf_counter() - t0
    updates = clf.n_iter_ * -(-len(ds.X_train) // BATCH)
    return seconds, updates, clf.score(ds.X_val, ds.y_val)


def run_torch(ds, epochs, seed):
    import torch

    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Tanh(), torch.nn.Linear(64, 10))
    net = net.double()
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    X = torch.from_numpy(ds.X_train)
    y = torch.from_numpy(ds.y_train.astype(np.int64))
    lossf = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    n = len(X)
    updates = 0
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, BATCH):
            idx = perm[i : i + BATCH]
            opt.zero_grad()
            loss = lossf(net(X[idx]), y[idx])
            loss.backward()
            opt.step()
            updates += 1
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        acc = (net(torch.from_numpy(ds.X_val)).argmax(1).numpy() == ds.y_val).mean()
    return seconds, updates, acc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=20)
    args = ap.parse_args()
    ds = load_dataset("digits", rng=np.random.default_rng(0))
    blas = [(i["internal_api"], i["num_threads"]) for i in threadpool_info()]
    print(
        f"digits: N={ds.n_train}, 64-64-10 tanh, B={BATCH}, {args.epochs} epochs, ε={LR}; "
        f"BLAS {blas}"
    )
    contenders = {
        "landscape, full-set history every epoch (default)": lambda s: run_landscape(
            ds, args.epochs, s, validate=False
        ),
        "landscape, + validation loss every epoch": lambda s: run_landscape(
            ds, args.epochs, s, validate=True
        ),
        "landscape, full-set history at the end only": lambda s: run_landscape(
            ds, args.epochs, s, validate=False, eval_every=args.epochs
        ),
        "scikit-learn MLPClassifier(solver='sgd')": lambda s: run_sklearn(ds, args.epochs, s),
    }
    try:
        import torch  # noqa: F401

        contenders["PyTorch CPU eager, float64"] = lambda s: run_torch(ds, args.epochs, s)
    except ImportError:
        print("(PyTorch is not installed: skipped)")
    for fn in contenders.values():
        fn(0)  # warm up caches and lazy imports
    runs = {name: [] for name in contenders}
    for seed in range(args.repeat):  # interleaved, so slow spells of the machine hit all alike
        for name, fn in contenders.items():
            runs[name].append(fn(seed))
    results = {}
    for name, rs in runs.items():
        best = min(rs, key=lambda r: r[0])
        results[name] = (best[0] / best[1], best[1], np.mean([r[2] for r in rs]))
    ref = results["scikit-learn MLPClassifier(solver='sgd')"][0]
    print(
        f"{'contender':58s} {'µs/update':>10s} {'updates':>8s} {'val acc':>8s} "
        f"{'speed vs sklearn':>17s}"
    )
    for name, (per, ups, acc) in results.items():
        print(f"{name:58s} {per * 1e6:10.1f} {ups:8d} {acc:8.3f} {ref / per:16.2f}x")


if __name__ == "__main__":
    main()
