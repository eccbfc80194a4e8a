"""BLAS threads chosen by the size of the work.

OpenBLAS starts one thread per core. On the small matrix products of these networks a second
thread gains little when the machine is quiet and, when anything else is busy, makes every
product wait for a core: measured 3–20× slower runs (``benchmarks/bench_threads.py``). The
trainers, the polisher and the curvature routines therefore run on one BLAS thread unless their
largest product is big enough for threads to pay (:data:`PARALLEL_FLOPS`, measured by the same
benchmark). An explicit limit around a call (e.g. a worker's share of the cores) still applies:
a limit here only ever lowers the thread count.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import scipy.linalg  # noqa: F401  (loads SciPy's own OpenBLAS before the controller looks)
from threadpoolctl import ThreadpoolController

PARALLEL_FLOPS = 2e8
"""Floating-point operations of one matrix product from which a second BLAS thread is allowed.

Measured by ``bench_threads.py`` on 2 cores: from about 1e9 operations a second thread makes a
product 1.8–2× faster on a quiet machine and costs little beside a busy process. Smaller
products gain 1–1.7× quiet but are erratic under load (0.5–3.7× for one product), and whole
runs made of them are 2–4× slower with two threads beside busy processes (the trainer and the
polisher in the same benchmark); these networks' products are far below the threshold."""

_F = TypeVar("_F", bound=Callable[..., Any])


@functools.cache
def _controller() -> ThreadpoolController:
    # Built once: inspecting the loaded libraries costs about a millisecond.
    return ThreadpoolController()


def threads_for(flops: float) -> int | None:
    """BLAS threads for work whose largest matrix product costs ``flops``.

    Returns
    -------
    int or None
        1 below :data:`PARALLEL_FLOPS`; None (leave the limit as it is) above.
    """
    return 1 if flops < PARALLEL_FLOPS else None


@contextmanager
def blas_threads(threads: int | None) -> Iterator[None]:
    """Run the block with at most ``threads`` BLAS threads (None: unchanged).

    A limit never raises the thread count set by an enclosing limit.
    """
    if threads is None:
        yield
        return
    controller = _controller()
    current = [info["num_threads"] for info in controller.info() if info["user_api"] == "blas"]
    if current and max(current) <= threads:
        yield
        return
    with controller.limit(limits=threads, user_api="blas"):
        yield


def gemm_flops(sizes: list[int] | tuple[int, ...], rows: int) -> float:
    """Operations of the largest product ``(rows, d_in) @ (d_in, d_out)`` of a forward pass."""
    return 2.0 * rows * max(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def sized_blas_threads(flops: Callable[..., float]) -> Callable[[_F], _F]:
    """Decorate a routine to run with :func:`threads_for` of ``flops(*args, **kwargs)``."""

    def decorate(func: _F) -> _F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with blas_threads(threads_for(flops(*args, **kwargs))):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def model_flops(model: Any, theta0: Any, X: Any, *args: Any, **kwargs: Any) -> float:
    """Largest product of a ``(model, theta, X, …)`` routine: a forward pass over all of X."""
    return gemm_flops(model.sizes, len(X))


def one_blas_thread(func: _F) -> _F:
    """Decorate a routine made of small products and vector operations (e.g. L-BFGS steps)."""
    return sized_blas_threads(lambda *args, **kwargs: 0.0)(func)
