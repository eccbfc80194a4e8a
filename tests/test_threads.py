from threadpoolctl import threadpool_info, threadpool_limits

import landscape.threads as threads
from landscape.analysis.minima import polish
from landscape.model import MLP
from landscape.train import train


def _blas_threads():
    return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


def _problem(rng):
    X = rng.standard_normal((40, 3))
    y = (X[:, 0] > 0).astype(int)
    model = MLP([3, 5, 2], "tanh", "cross_entropy")
    return model, model.init(rng), X, y


def test_threads_trainer_runs_small_work_on_one_blas_thread(rng):
    model, theta0, X, y = _problem(rng)
    seen = []
    with threadpool_limits(2, user_api="blas"):
        train(
            model, theta0, X, y, lr=0.1, epochs=3, callback=lambda rec: seen.append(_blas_threads())
        )
        after = _blas_threads()
    assert seen == [1, 1, 1] and after == 2  # restored for the caller


def test_threads_large_work_keeps_the_callers_threads(rng, monkeypatch):
    model, theta0, X, y = _problem(rng)
    monkeypatch.setattr(threads, "PARALLEL_FLOPS", 0.0)
    seen = []
    with threadpool_limits(2, user_api="blas"):
        train(
            model, theta0, X, y, lr=0.1, epochs=2, callback=lambda rec: seen.append(_blas_threads())
        )
    assert seen == [2, 2]


def test_threads_limit_never_raises_an_enclosing_limit():
    with threadpool_limits(1, user_api="blas"), threads.blas_threads(2):
        assert _blas_threads() == 1


def test_threads_polish_runs_on_one_blas_thread(rng, monkeypatch):
    model, theta0, X, y = _problem(rng)
    seen = []
    real = model.evaluate

    def spy(*args, **kwargs):
        seen.append(_blas_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(model, "evaluate", spy)
    with threadpool_limits(2, user_api="blas"):
        polish(model, theta0, X, y, max_iter=5, newton_steps=0)
    assert seen and set(seen) == {1}


def test_threads_gemm_flops_counts_the_largest_product():
    assert threads.gemm_flops([64, 32, 10], 1437) == 2.0 * 1437 * 64 * 32
    assert threads.threads_for(1e6) == 1 and threads.threads_for(1e12) is None
