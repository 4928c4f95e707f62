"""The kernel decorator, and the constants and the exponential the kernel modules share."""

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


# exp(x) rounds to exactly 0.0 in float64 for every x below this (the smallest
# subnormal, 2^-1074, is exp(-744.44); exp(x) < 2^-1075 once x < -745.1332).
EXP_UNDERFLOW = -745.2

# Below this exp(x) is no longer a normal float64 (2^-1022 is exp(-708.396)).
_EXP_NORMAL = -708.0
# Cody and Waite's split of ln 2: _LN2_HIGH has few enough significant bits that
# k * _LN2_HIGH is exact for every |k| < 2^11, so x - k ln 2 keeps its accuracy.
_LN2_HIGH = 6.93145751953125e-1
_LN2_LOW = 1.42860682030941723212e-6
_LOG2_E = 1.4426950408889634
# 1.5 * 2^52: adding it to a float64 of magnitude below 2^51 rounds it to the
# nearest integer, which the low bits of the sum's mantissa then hold.
_ROUNDER = 6755399441055744.0
_ROUNDER_BITS = np.int64(np.array([_ROUNDER]).view(np.int64)[0])


@kernel()
def exp_nonpositive(x, out, scratch):
    """``out[j] = exp(x[j])`` for ``x[j] <= 0``, in loops the compiler vectorises.

    libm's ``exp`` is a call per value, which keeps a loop scalar. Here, for
    ``x >= -708``: ``k = round(x / ln 2)``, ``r = x - k ln 2`` in two parts
    (Cody and Waite), so ``|r| <= ln(2) / 2``; ``exp(r)`` from its Taylor
    polynomial of degree 13 (truncation error below 1e-17 relative) in
    Horner's form; times ``2^k``, whose bits are written as an integer. The
    result is within one unit in the last place of libm's (tests/test_kernels.py).
    The rare ``x < -708``, whose exp is subnormal or zero, take libm's ``exp``
    (0.0 below :data:`EXP_UNDERFLOW` without the call), so ``-inf`` gives 0.0.

    x, out (m,) float64 C-contiguous, distinct arrays, ``x <= 0`` (a positive
    value gives a wrong result, NaN gives NaN or 0); scratch (m,) int64
    C-contiguous, overwritten. Returns ``out``.
    """
    m = x.shape[0]
    scale = scratch.view(np.float64)
    for j in range(m):
        v = x[j]
        v = v if v > _EXP_NORMAL else _EXP_NORMAL
        rounded = v * _LOG2_E + _ROUNDER
        k = rounded - _ROUNDER
        r = (v - k * _LN2_HIGH) - k * _LN2_LOW
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        out[j] = p * r + 1.0
        scale[j] = rounded
    for j in range(m):  # 2^k: k, biased, into the exponent bits
        scratch[j] = (scratch[j] - _ROUNDER_BITS + 1023) << 52
    n_low = 0
    for j in range(m):
        out[j] = out[j] * scale[j]
        n_low += x[j] < _EXP_NORMAL
    if n_low:
        for j in range(m):
            if x[j] < _EXP_NORMAL:
                out[j] = np.exp(x[j]) if x[j] >= EXP_UNDERFLOW else 0.0
    return out
