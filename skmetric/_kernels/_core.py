"""The kernel decorator and the constants the kernel modules share."""

from numba import njit

def kernel(**options):
    """``njit(cache=True, nogil=True, **options)``, caching when it can.

    numba refuses to decorate a cached function when no cache location is writable
    (a read-only installation with no usable ``NUMBA_CACHE_DIR`` or user cache):
    such a kernel is then compiled in every process instead, so that importing
    skmetric never fails for want of a cache.
    """

    def decorate(function):
        try:
            return njit(cache=True, nogil=True, **options)(function)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return njit(cache=False, nogil=True, **options)(function)

    return decorate


# Only the flags that make the sums of squares vectorise; no 'nnan'/'ninf', so a
# non-finite value that slips through still propagates instead of being assumed away.
_SUM_FLAGS = {"reassoc", "contract", "arcp"}

# Rows of distance matrix computed at once in blockwise loops: about 32 MiB a block
# for 2**22 / n_columns rows.
_BLOCK_ELEMENTS = 2**22
