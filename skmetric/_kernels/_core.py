"""The kernel decorator and the constants the kernel modules share."""

import functools
import types

import numba
import numpy as np
from numba import njit


def _jit(function, options):
    """``njit(cache=True, nogil=True, no_cfunc_wrapper=True, **options)``, caching
    when it can.

    numba refuses to decorate a cached function when no cache location is writable
    (a read-only installation with no usable ``NUMBA_CACHE_DIR`` or user cache):
    such a kernel is then compiled in every process instead, so that importing
    skmetric never fails for want of a cache.
    """
    options = {**_COMMON, **options}
    try:
        return njit(cache=True, **options)(function)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return njit(cache=False, **options)(function)


# Options of every kernel. Kernels are called from Python and from one another,
# never handed to other jitted code as first-class functions, so numba's C
# callable wrapper of each compilation (code lowered and optimised on every
# first fit with an empty cache) is left out.
_COMMON = {"nogil": True, "no_cfunc_wrapper": True}


def kernel(**options):
    """Decorate a kernel: ``njit(cache=True, nogil=True, **options)``.

    With ``parallel=True`` the kernel becomes a :class:`ThreadedKernel`: a
    parallel and a serial compilation of the same function, each compiled (or
    loaded from the disk cache) on its first call, so that a process that runs it
    on one thread never pays for compiling the parallel one. Such a kernel is
    called from Python, not from another kernel.
    """

    def decorate(function):
        if options.get("parallel"):
            return ThreadedKernel(function, options)
        return _jit(function, options)

    return decorate


class ThreadedKernel:
    """A ``prange`` kernel compiled twice, lazily: parallel, and serial.

    A call runs :attr:`parallel` when numba may use more than one thread (the
    thread policy of :mod:`skmetric._threads` has set it for the fit) and its
    array arguments hold at least ``_PARALLEL_MIN_ELEMENTS`` values together,
    else :attr:`serial`, where ``prange`` is a plain ``range``. Every ``prange``
    iteration of a kernel writes only its own outputs, so the two return the same
    arrays, bit for bit (tests/test_kernels.py), and the choice never changes a
    result. Compiling the parallel variant costs several times the serial one;
    small problems, on which starting threads costs more than it saves, never
    compile it.

    Attributes
    ----------
    parallel, serial : numba dispatchers
        The two compilations; the serial one is cached under the function's
        name with the suffix ``_serial``, so the two never share a cache entry.
    py_func : function
        The Python function, for debugging (``kernel.py_func(...)``).
    """

    def __init__(self, function, options):
        self.py_func = function
        self.parallel = _jit(function, {**options, "parallel": True})
        # A twin of the function under another name: numba's cache files are
        # named after the qualified name, and the index does not tell the
        # parallel compilation from the serial one.
        twin = types.FunctionType(function.__code__, function.__globals__,
                                  function.__name__, function.__defaults__,
                                  function.__closure__)
        twin.__qualname__ = f"{function.__qualname__}_serial"
        twin.__module__ = function.__module__
        twin.__doc__ = function.__doc__
        serial_options = {k: v for k, v in options.items() if k != "parallel"}
        self.serial = _jit(twin, serial_options)
        functools.update_wrapper(self, function)

    def __call__(self, *args):
        if (_n_elements(args) >= _PARALLEL_MIN_ELEMENTS
                and numba.get_num_threads() > 1):
            return self.parallel(*args)
        return self.serial(*args)


# A threaded kernel whose array arguments hold fewer values than this runs its
# serial variant: the work is then tens of microseconds, what starting the threads
# of a parallel region costs, and the parallel variant's compilation (seconds) is
# never paid by a small fit.
_PARALLEL_MIN_ELEMENTS = 2**15


def _n_elements(args):
    """Values held by the array arguments of a call together."""
    return sum(arg.size for arg in args if isinstance(arg, np.ndarray))


# Only the flags that make the sums of squares vectorise; no 'nnan'/'ninf', so a
# non-finite value that slips through still propagates instead of being assumed away.
_SUM_FLAGS = {"reassoc", "contract", "arcp"}

# Rows of distance matrix computed at once in blockwise loops: about 32 MiB a block
# for 2**22 / n_columns rows.
_BLOCK_ELEMENTS = 2**22
