"""skmetric's one thread policy: ``n_jobs`` for BLAS and numba together.

Every estimator takes ``n_jobs`` in scikit-learn's sense and runs its fit inside
:func:`thread_limits`, which

- turns ``n_jobs`` into a number of threads: a positive value is taken as given,
  ``-1`` means every core, ``-2`` every core but one, and so on; ``None`` means
  every core the surroundings allow (like scikit-learn's OpenMP estimators, and
  unlike its joblib ones, where None means one);
- never exceeds the cores this process may run on, nor a limit already in place:
  a ``threadpoolctl.threadpool_limits`` context of the caller, the limits a joblib
  (loky) worker sets for itself (``OMP_NUM_THREADS`` and the BLAS limits, one
  thread per worker when the workers fill the machine), or
  ``numba.set_num_threads``;
- sets BLAS and OpenMP to that number, or to fewer BLAS threads where an
  estimator shares its work out itself (LMNN runs BLAS on one thread and splits
  its products and searches into pieces of fixed size over its own threads, so
  that its results do not depend on the number of threads), and numba's parallel
  kernels to that number, restoring everything on exit;

and :func:`map_on_threads` shares a loop out over a pool of Python threads, for
work that releases the GIL (nogil numba kernels, NumPy's products).
"""

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from numbers import Integral

import numba
from threadpoolctl import ThreadpoolController

from ._validation import Interval

__all__ = [
    "N_JOBS_CONSTRAINT", "N_JOBS_DOC", "available_threads", "effective_n_threads",
    "map_on_threads", "thread_limits",
]

# The constraint table entry of ``n_jobs`` (any non-zero integer, or None).
N_JOBS_CONSTRAINT = [
    Interval(Integral, None, -1, closed="right"),
    Interval(Integral, 1, None, closed="left"),
    None,
]

# Docstring entry of ``n_jobs``, shared by every estimator.
N_JOBS_DOC = """\
    n_jobs : int, default=None
        Threads of the fit (BLAS and skmetric's own parallel loops together).
        None uses every core the surroundings allow: the cores of the machine,
        capped by any limit already in place (a ``threadpoolctl`` limit, the
        one-thread limit of a joblib worker inside ``GridSearchCV(n_jobs=k)``,
        ``OMP_NUM_THREADS``, ``numba.set_num_threads``). -1 means every core,
        -2 all but one, and so on; a positive value is capped the same way.
        The fitted model does not depend on it (see the estimator's Notes)."""

# Environment variables through which a parent (joblib's loky workers among
# them) caps the threads of native libraries.
_LIMIT_VARIABLES = (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS", "NUMBA_NUM_THREADS",
)


@functools.lru_cache(maxsize=1)
def _controller():
    """The native thread pools loaded in this process (looked up once: it takes ms).

    skmetric imports NumPy and SciPy (and so their BLAS) before any fit, so the
    libraries found at the first fit are the ones that matter.
    """
    return ThreadpoolController()


def cpu_count():
    """Cores this process may run on (its CPU affinity, else the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def available_threads():
    """Most threads a fit may use here: cores, capped by every limit in place.

    The limits read are the environment variables of ``_LIMIT_VARIABLES``, the
    current thread counts of the BLAS and OpenMP libraries (lowered by a
    ``threadpool_limits`` context or a joblib worker) and numba's
    ``get_num_threads()``.
    """
    limit = cpu_count()
    for name in _LIMIT_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            limit = min(limit, int(value))
    for lib in _controller().lib_controllers:
        if lib.user_api in ("blas", "openmp") and lib.num_threads:
            limit = min(limit, int(lib.num_threads))
    limit = min(limit, numba.get_num_threads())
    return max(1, limit)


def effective_n_threads(n_jobs):
    """Threads for ``n_jobs`` (None, or a non-zero int), within the limits in place.

    Parameters
    ----------
    n_jobs : int or None
        None uses every available thread; ``n_jobs < 0`` uses
        ``cpu_count() + 1 + n_jobs`` (-1: all cores); ``n_jobs > 0`` that many.

    Returns
    -------
    n_threads : int
        At least 1, at most :func:`available_threads`.
    """
    if n_jobs == 1 and type(n_jobs) is int:
        return 1  # at least 1 and at most 1, whatever the limits in place
    available = available_threads()
    if n_jobs is None:
        return available
    if not isinstance(n_jobs, Integral) or isinstance(n_jobs, bool) or n_jobs == 0:
        raise ValueError(f"n_jobs must be None or a non-zero integer, got {n_jobs!r}.")
    wanted = n_jobs if n_jobs > 0 else cpu_count() + 1 + n_jobs
    return max(1, min(int(wanted), available))


@contextmanager
def thread_limits(n_jobs, *, blas_threads=None, numba_threads=True):
    """Context manager: BLAS, OpenMP and numba set for ``n_jobs``; yields the count.

    Parameters
    ----------
    n_jobs : int or None
        See :func:`effective_n_threads`.
    blas_threads : int or None, default=None
        BLAS threads inside the context, at most the yielded count; None gives
        BLAS the yielded count.
    numba_threads : bool, default=True
        Set numba's and OpenMP's thread counts too. A fit that runs no parallel
        numba kernel and no OpenMP code, only BLAS (the closed-form learners),
        passes False and saves their set and restore (tens of microseconds, a
        sizeable part of a small fit).

    Yields
    ------
    n_threads : int
        The threads the caller may use for its own work (numba's parallel
        kernels get as many).
    """
    n_threads = effective_n_threads(n_jobs)
    n_blas = n_threads if blas_threads is None else max(1, min(blas_threads, n_threads))
    # Each pool is set (and restored on exit) only when its count differs: a
    # pool already at the wanted count costs one query, not threadpoolctl's
    # whole limit-and-restore round (about a millisecond per fit).
    wanted = {"blas": n_blas, "openmp": n_threads} if numba_threads else {"blas": n_blas}
    changed = []
    try:
        for lib in _controller().lib_controllers:
            count = wanted.get(lib.user_api)
            if count is None:
                continue
            current = lib.num_threads
            if current != count:
                lib.set_num_threads(count)
                changed.append((lib, current))
        previous = numba.get_num_threads() if numba_threads else n_threads
        if previous != n_threads:
            numba.set_num_threads(n_threads)
        try:
            yield n_threads
        finally:
            if previous != n_threads:
                numba.set_num_threads(previous)
    finally:
        for lib, current in reversed(changed):
            lib.set_num_threads(current)


# Below this many samples a fit's products and loops are small: one thread is
# faster than several, whose start-up and sync cost more than they save
# (measured on 2 cores, the more so on a loaded machine).
SMALL_FIT_SAMPLES = 2048


def fit_n_jobs(n_jobs, n_samples):
    """``n_jobs`` for a fit on ``n_samples``: 1 below SMALL_FIT_SAMPLES."""
    return 1 if n_samples < SMALL_FIT_SAMPLES else n_jobs


@functools.lru_cache(maxsize=None)
def _thread_pool(n_threads):
    """A pool of ``n_threads`` threads, made once per size and kept (idle threads
    wait on a lock: they cost no CPU, unlike an OpenMP team spinning between
    parallel regions on a loaded machine)."""
    return ThreadPoolExecutor(n_threads, thread_name_prefix="skmetric")


def map_on_threads(work, n_items, n_threads):
    """Call ``work(start, stop)`` over ``n_threads`` ranges that cover
    ``range(n_items)``, on as many threads, and wait for all: the last range
    runs in the calling thread, the others on a pool kept between calls (one
    range: no pool). ``work`` must release the GIL (a nogil numba kernel,
    NumPy's products) for the threads to run at once, and write only what
    belongs to its range."""
    n_parts = max(1, min(n_threads, n_items))
    if n_parts == 1:
        work(0, n_items)
        return
    bounds = [n_items * part // n_parts for part in range(n_parts + 1)]
    pool = _thread_pool(n_parts - 1)
    futures = [pool.submit(work, start, stop)
               for start, stop in zip(bounds[:-2], bounds[1:-1])]
    try:
        work(bounds[-2], n_items)
    finally:
        for future in futures:
            future.result()
