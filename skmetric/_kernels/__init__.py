"""Numerical kernels, split by topic (``pairwise``, ``mining``, ``lmnn``, ``tracking``, ``softmax``): numba-jitted loops for irregular work, BLAS for dense blocks.

Conventions (see STYLE.md):

- every jitted kernel is ``@kernel()`` (``njit(cache=True, nogil=True)``, without
  numba's C callable wrapper, which no kernel needs) at module level and takes
  float64 C-contiguous data and int64 index arrays, so it compiles once per machine;
- a kernel with a ``prange`` loop is ``@kernel(parallel=True)``: a
  :class:`~._core.ThreadedKernel`, compiled serial and parallel on first use of each,
  running the serial one on one thread or on small arrays (a small fit never
  compiles the parallel one); call it from Python, not from another kernel;
- a first fit with an empty cache compiles every kernel on its path, so kernels
  avoid what is slow to compile and adds nothing to the loops: an array assigned
  to a slice (``out[i] = row``, ``a[:n] = b[:n]``) compiles numba's formatted
  shape-mismatch error, string code of about a second, where an element loop
  does not; ``np.full`` and the builtins ``max``/``min`` each compile a helper
  per type, where ``np.empty`` and a loop, or a comparison, do not (a 1-D
  zeroing loop is cheaper than ``np.zeros``; a nested 2-D one is not);
  ``np.sort`` compiles numba's quicksort and ``np.dot`` its BLAS bindings, each
  about a second or more of a first fit; and an
  integer constant carried in a variable (``best = -1``) and handed to another
  kernel compiles that kernel a second time for the literal, where
  ``np.int64(-1)`` does not (``tests/test_kernels.py`` checks that a fit of
  every estimator leaves each kernel with one signature);
- kernels never validate, draw random numbers or print: callers check and convert
  their input once (``skmetric._validation``) and hand the arrays in;
- distances are squared inside; square roots are taken at the API boundary;
- dense all-pairs distances go through NumPy's matmul, block by block, with the
  expansion ``|a|^2 + |b|^2 - 2 a.b`` clipped at zero.

Every kernel has a vectorised NumPy twin in ``tests/_reference.py`` and a test that
compares the two on random inputs and edge cases.
"""

# Every kernel is re-exported here: callers import from ``skmetric._kernels``.
from ._core import _BLOCK_ELEMENTS, _SUM_FLAGS, kernel  # noqa: F401
from .pairwise import (  # noqa: F401
    pair_sq_dists,
    pair_sq_diffs,
    pair_laplacian_matmul,
    weighted_outer_sum,
    row_sq_norms,
    pairwise_sq_dists,
    block_rows,
    sq_dist_row_blocks,
)
from .mining import (  # noqa: F401
    MINER_ALL,
    MINER_BATCH_HARD,
    MINER_EASY,
    MINER_HARD,
    MINER_SEMIHARD,
    MINER_NOT_EASY,
    sq_dist_weights_grad,
    _delta_matrix,
    _triplet_selected,
    mine_triplets,
    distance_weighted_triplets,
    _log_sphere_density,
    triplet_loss_weights,
    triplet_rows_loss_weights,
    _add_triplet,
    contrastive_pairs,
    contrastive_loss_weights,
    contrastive_rows_loss_weights,
)
from .tracking import (  # noqa: F401
    triplet_constraint_loss_grad,
    contrastive_constraint_loss_grad,
    mine_allowed_triplets,
)
from .lmnn import (  # noqa: F401
    impostor_pairs_from_gram,
    lmnn_push_loss_weights,
    _exact_sq_dist,
    pairs_within_radius,
    grouped_impostor_pairs,
    _group_pairs,
    nearest_from_gram,
    count_within_radius,
)
from .classic import (  # noqa: F401
    itml_projections,
    lfda_affinity,
    scml_triplet_hinge_grad,
)
from .softmax import (  # noqa: F401
    neighbour_softmax,
    nca_weights,
    mlkr_weights,
    neighbour_sq_dists,
    neighbour_weighted_sum,
)
from .recommend import (  # noqa: F401
    add_rows,
    owned_item_sets,
    cml_hinge_terms,
    cml_scatter_grads,
    adagrad_update_rows,
    sgd_update_rows,
)
