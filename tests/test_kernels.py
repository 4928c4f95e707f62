import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skmetric import _kernels as kernels

from . import _reference as ref

SHAPES = [(1, 1, 1), (2, 3, 1), (7, 5, 3), (60, 400, 16)]


def _pairs(rng, n, m):
    left, right = rng.integers(0, n, size=(2, m))
    return left.astype(np.int64), right.astype(np.int64)


def _data(rng, n, d, kind):
    if kind == "normal":
        return rng.normal(size=(n, d))
    if kind == "duplicates":
        X = rng.normal(size=(max(1, n // 2), d))
        return np.ascontiguousarray(X[rng.integers(0, X.shape[0], size=n)])
    if kind == "zeros":
        X = rng.normal(size=(n, d))
        X[::2] = 0.0
        return X
    if kind == "large":
        return rng.normal(size=(n, d)) * 1e100
    raise ValueError(kind)


KINDS = ["normal", "duplicates", "zeros", "large"]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n, m, d", SHAPES)
@pytest.mark.parametrize("kind", KINDS)
def test_pair_sq_dists_matches_reference(seed, n, m, d, kind):
    rng = np.random.default_rng(seed)
    X = _data(rng, n, d, kind)
    left, right = _pairs(rng, n, m)
    X_copy = X.copy()
    assert_allclose(
        kernels.pair_sq_dists(X, left, right), ref.pair_sq_dists(X, left, right),
        rtol=1e-10,
    )
    assert_array_equal(X, X_copy)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n, m, d", SHAPES)
@pytest.mark.parametrize("kind", KINDS)
def test_pair_sq_diffs_matches_reference(seed, n, m, d, kind):
    rng = np.random.default_rng(seed)
    X = _data(rng, n, d, kind)
    left, right = _pairs(rng, n, m)
    X_copy = X.copy()
    out = kernels.pair_sq_diffs(X, left, right)
    assert out.flags.c_contiguous and out.shape == (m, d)
    assert_allclose(out, ref.pair_sq_diffs(X, left, right), rtol=1e-12)
    assert_array_equal(X, X_copy)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n, m, d", SHAPES)
@pytest.mark.parametrize("kind", ["normal", "duplicates", "zeros"])
def test_pair_laplacian_matmul_matches_reference(seed, n, m, d, kind):
    rng = np.random.default_rng(seed)
    X = _data(rng, n, d, kind)
    left, right = _pairs(rng, n, m)
    weights = rng.normal(size=m)
    weights[::3] = 0.0
    copies = [a.copy() for a in (X, left, right, weights)]
    expected = ref.pair_laplacian_matmul(X, left, right, weights)
    assert_allclose(
        kernels.pair_laplacian_matmul(X, left, right, weights), expected,
        rtol=1e-10, atol=1e-12,
    )
    for original, copy in zip((X, left, right, weights), copies):
        assert_array_equal(original, copy)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n, m, d", SHAPES)
def test_weighted_outer_sum_matches_reference(seed, n, m, d):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    left, right = _pairs(rng, n, m)
    weights = rng.uniform(-1.0, 2.0, size=m)
    got = kernels.weighted_outer_sum(X, left, right, weights)
    assert_allclose(got, ref.weighted_outer_sum(X, left, right, weights),
                    rtol=1e-9, atol=1e-10)
    assert_allclose(got, got.T)


def test_weighted_outer_sum_with_self_pairs_is_zero():
    X = np.arange(12.0).reshape(4, 3)
    idx = np.arange(4, dtype=np.int64)
    assert_array_equal(kernels.weighted_outer_sum(X, idx, idx, np.ones(4)),
                       np.zeros((3, 3)))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("a, b, d", [(1, 1, 1), (5, 7, 3), (50, 40, 20)])
def test_pairwise_sq_dists_matches_reference(seed, a, b, d):
    rng = np.random.default_rng(seed)
    A, B = rng.normal(size=(a, d)), rng.normal(size=(b, d))
    got = kernels.pairwise_sq_dists(A, B)
    assert got.min() >= 0.0
    assert_allclose(got, ref.pairwise_sq_dists(A, B), rtol=1e-9, atol=1e-9)


def test_pairwise_sq_dists_of_duplicates_is_exactly_zero_not_negative():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(30, 5)) * 1e3
    D = kernels.pairwise_sq_dists(A, A)
    assert D.min() >= 0.0
    assert_allclose(np.diag(D), 0.0, atol=1e-6)


@pytest.mark.parametrize("block_elements", [1, 7, 100, 10**6])
def test_sq_dist_row_blocks_cover_all_rows(block_elements):
    rng = np.random.default_rng(1)
    A, B = rng.normal(size=(23, 4)), rng.normal(size=(9, 4))
    full = np.empty((23, 9))
    seen = []
    for start, stop, block in kernels.sq_dist_row_blocks(A, B, block_elements):
        assert block.size <= max(block_elements, B.shape[0])
        full[start:stop] = block
        seen.extend(range(start, stop))
    assert seen == list(range(23))
    assert_allclose(full, ref.pairwise_sq_dists(A, B), rtol=1e-9, atol=1e-9)
    # Through one reused buffer: every block a view of it, the same distances.
    rows = min(23, kernels.block_rows(9, block_elements))
    buffer = np.full(rows * 9, np.nan)
    again = np.empty((23, 9))
    for start, stop, block in kernels.sq_dist_row_blocks(A, B, block_elements, buffer):
        assert np.shares_memory(block, buffer)
        again[start:stop] = block
    assert_array_equal(again, full)


# ---------------------------------------------------------------------------------
# Deep embeddings: losses and mining
# ---------------------------------------------------------------------------------

def _batch(rng, b, k, n_classes, kind="normal"):
    E = _data(rng, b, k, kind) if kind != "large" else rng.normal(size=(b, k))
    E /= np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-300)
    if kind == "zeros":
        E[::3] = 0.0
    labels = rng.integers(0, n_classes, size=b).astype(np.int64)
    return np.ascontiguousarray(E), labels


BATCHES = [(1, 2, 1), (2, 3, 2), (9, 4, 3), (40, 8, 5)]
DEEP_KINDS = ["normal", "duplicates", "zeros"]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("b, k, n_classes", BATCHES)
def test_sq_dist_weights_grad_matches_reference(seed, b, k, n_classes):
    rng = np.random.default_rng(seed)
    E = rng.normal(size=(b, k))
    W = rng.normal(size=(b, b))
    assert_allclose(kernels.sq_dist_weights_grad(E, W), ref.sq_dist_weights_grad(E, W),
                    rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("b, k, n_classes", BATCHES)
@pytest.mark.parametrize("kind", DEEP_KINDS)
@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("miner", range(6))
def test_mine_triplets_matches_reference(seed, b, k, n_classes, kind, squared, miner):
    rng = np.random.default_rng(seed)
    E, labels = _batch(rng, b, k, n_classes, kind)
    D2 = kernels.pairwise_sq_dists(E, E)
    copies = D2.copy(), labels.copy()
    got = kernels.mine_triplets(D2, labels, 0.3, squared, miner)
    expected = ref.mine_triplets(D2, labels, 0.3, squared, miner)
    for g, e in zip(got, expected):
        assert g.dtype == np.int64
        assert_array_equal(g, e)
    assert_array_equal(D2, copies[0])
    assert_array_equal(labels, copies[1])


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("b, k, n_classes", BATCHES)
@pytest.mark.parametrize("kind", DEEP_KINDS)
@pytest.mark.parametrize("squared", [False, True])
def test_triplet_loss_weights_matches_reference(seed, b, k, n_classes, kind, squared):
    rng = np.random.default_rng(seed)
    E, labels = _batch(rng, b, k, n_classes, kind)
    D2 = kernels.pairwise_sq_dists(E, E)
    a, p, n = (np.ascontiguousarray(x) for x in ref.mine_triplets(D2, labels, 0.0,
                                                                   squared, 0))
    loss, n_active, W = kernels.triplet_loss_weights(D2, a, p, n, 0.4, squared)
    e_loss, e_active, e_W = ref.triplet_loss_weights(D2, a, p, n, 0.4, squared)
    assert n_active == e_active
    assert_allclose(loss, e_loss, rtol=1e-10, atol=1e-15)
    assert_allclose(W, e_W, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("b, k, n_classes", BATCHES)
@pytest.mark.parametrize("hard", [False, True])
def test_contrastive_pairs_matches_reference(seed, b, k, n_classes, hard):
    rng = np.random.default_rng(seed)
    E, labels = _batch(rng, b, k, n_classes)
    scores = kernels.pairwise_sq_dists(E, E) if hard else rng.random((b, b))
    got = kernels.contrastive_pairs(labels, scores)
    for g, e in zip(got, ref.contrastive_pairs(labels, scores)):
        assert g.dtype == np.int64
        assert_array_equal(g, e)
    left, right, similar = got
    # Balanced: every anchor gets as many negatives as positives (if there are).
    for i in range(b):
        mine = left == i
        n_neg_available = int(np.sum(labels != labels[i]))
        assert (similar[mine] == 0).sum() == min((similar[mine] == 1).sum(),
                                                 n_neg_available)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("b, k, n_classes", BATCHES)
@pytest.mark.parametrize("kind", ["normal", "zeros"])
def test_contrastive_loss_weights_matches_reference(seed, b, k, n_classes, kind):
    rng = np.random.default_rng(seed)
    E, labels = _batch(rng, b, k, n_classes, kind)
    D2 = kernels.pairwise_sq_dists(E, E)
    left, right, similar = kernels.contrastive_pairs(labels, rng.random((b, b)))
    got = kernels.contrastive_loss_weights(D2, left, right, similar, 1.2)
    expected = ref.contrastive_loss_weights(D2, left, right, similar, 1.2)
    assert got[1] == expected[1]
    assert_allclose(got[0], expected[0], rtol=1e-10, atol=1e-15)
    assert_allclose(got[2], expected[2], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("b, k, n_classes", BATCHES)
@pytest.mark.parametrize("squared", [False, True])
def test_distance_weighted_triplets_are_valid_and_reproducible(seed, b, k, n_classes,
                                                               squared):
    rng = np.random.default_rng(seed)
    E, labels = _batch(rng, b, k, n_classes)
    D2 = kernels.pairwise_sq_dists(E, E)
    uniforms = rng.random((b, b))
    a, p, n = kernels.distance_weighted_triplets(D2, labels, 0.5, squared, k, 0.5,
                                                 uniforms)
    assert_array_equal((a, p, n), kernels.distance_weighted_triplets(
        D2, labels, 0.5, squared, k, 0.5, uniforms))
    assert np.all(labels[a] == labels[p]) and np.all(a != p)
    assert np.all(labels[n] != labels[a])
    # Every pair with an allowed negative gets exactly one, drawn from its support.
    for anchor in range(b):
        for positive in range(b):
            if anchor == positive or labels[anchor] != labels[positive]:
                continue
            probs = ref.distance_weighted_probabilities(
                D2, labels, anchor, positive, 0.5, squared, k, 0.5)
            mine = (a == anchor) & (p == positive)
            assert mine.sum() == int(probs.sum() > 0)
            if mine.any():
                assert probs[n[mine][0]] > 0


# ---------------------------------------------------------------------------------
# LMNN
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n_rows, n_cols, d", [(1, 1, 1), (3, 7, 2), (40, 90, 5)])
@pytest.mark.parametrize("kind", ["normal", "duplicates", "zeros"])
def test_impostor_pairs_from_gram_matches_reference(seed, n_rows, n_cols, d, kind):
    rng = np.random.default_rng(seed)
    A = _data(rng, n_rows, d, kind)
    B = _data(rng, n_cols, d, kind)
    gram = A @ B.T
    row_sq, col_sq = kernels.row_sq_norms(A), kernels.row_sq_norms(B)
    row_radius = rng.uniform(0.0, 3.0 * d, size=n_rows)
    col_radius = rng.uniform(0.0, 3.0 * d, size=n_cols)
    row_index = rng.permutation(1000)[:n_rows].astype(np.int64)
    col_index = rng.permutation(1000)[:n_cols].astype(np.int64) + 1000
    args = (gram, row_sq, col_sq, row_radius, col_radius, row_index, col_index)
    copies = [a.copy() for a in args]
    anchors, impostors = kernels.impostor_pairs_from_gram(*args)
    expected = ref.impostor_pairs_from_gram(*args)
    assert anchors.dtype == impostors.dtype == np.int64
    assert_array_equal(anchors, expected[0])
    assert_array_equal(impostors, expected[1])
    for original, copy in zip(args, copies):
        assert_array_equal(original, copy)


def test_impostor_pairs_from_gram_grows_its_buffer():
    # Every pair is inside both radii: 2 * 300 * 300 pairs, far beyond the
    # starting capacity.
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(300, 3)), rng.normal(size=(300, 3))
    anchors, impostors = kernels.impostor_pairs_from_gram(
        A @ B.T, kernels.row_sq_norms(A), kernels.row_sq_norms(B),
        np.full(300, 1e9), np.full(300, 1e9), np.arange(300), np.arange(300, 600),
    )
    assert anchors.shape == impostors.shape == (2 * 300 * 300,)
    assert_array_equal(anchors[:4], [0, 300, 0, 301])


def _lmnn_push_inputs(rng, n, k_max, m):
    counts = rng.integers(0, k_max + 1, size=n)
    target_ptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    target_dists = rng.uniform(0.0, 4.0, size=target_ptr[-1])
    anchors = rng.integers(0, n, size=m).astype(np.int64)
    impostor_dists = rng.uniform(0.0, 6.0, size=m)
    return target_dists, target_ptr, anchors, impostor_dists


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n, k_max, m",
                         [(1, 1, 1), (5, 3, 0), (6, 3, 20), (50, 4, 500)])
@pytest.mark.parametrize("squared", [False, True])
def test_lmnn_push_loss_weights_matches_reference(seed, n, k_max, m, squared):
    rng = np.random.default_rng(seed)
    args = _lmnn_push_inputs(rng, n, k_max, m)
    copies = [a.copy() for a in args]
    got = kernels.lmnn_push_loss_weights(*args, squared)
    expected = ref.lmnn_push_loss_weights(*args, squared)
    assert_allclose(got[0], expected[0], rtol=1e-12, atol=1e-12)
    assert_allclose(got[1], expected[1], rtol=1e-12, atol=1e-12)
    assert_allclose(got[2], expected[2], rtol=1e-12, atol=1e-12)
    assert got[3] == expected[3]
    for original, copy in zip(args, copies):
        assert_array_equal(original, copy)


def test_lmnn_push_loss_weights_ignores_margins_at_or_below_zero():
    target_ptr = np.array([0, 1], dtype=np.int64)
    loss, target_w, impostor_w, n_active = kernels.lmnn_push_loss_weights(
        np.array([1.0]), target_ptr, np.zeros(3, dtype=np.int64),
        np.array([2.0, 3.0, 1.5]), False,
    )
    assert (loss, n_active) == (0.5, 1)
    assert_array_equal(target_w, [1.0])
    assert_array_equal(impostor_w, [0.0, 0.0, -1.0])


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n, m, d", [(1, 1, 1), (7, 30, 2), (80, 900, 5)])
@pytest.mark.parametrize("kind", ["normal", "duplicates", "zeros"])
def test_pairs_within_radius_matches_reference(seed, n, m, d, kind):
    rng = np.random.default_rng(seed)
    Z = _data(rng, n, d, kind)
    anchor, impostor = rng.integers(0, n, size=(2, m)).astype(np.int64)
    radius = rng.uniform(0.0, 3.0 * d, size=n)
    args = (Z, anchor, impostor, radius)
    copies = [a.copy() for a in args]
    got = kernels.pairs_within_radius(*args)
    assert got.dtype == np.bool_
    assert_array_equal(got, ref.pairs_within_radius(*args))
    for original, copy in zip(args, copies):
        assert_array_equal(original, copy)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n, n_groups, d", [(1, 1, 1), (9, 2, 2), (120, 8, 3),
                                            (200, 1, 4)])
@pytest.mark.parametrize("kind", ["normal", "duplicates", "zeros"])
def test_grouped_impostor_pairs_matches_reference(seed, n, n_groups, d, kind):
    rng = np.random.default_rng(seed)
    Z = _data(rng, n, d, kind)
    labels = rng.integers(0, 3, size=n).astype(np.int64)
    radius = rng.uniform(0.0, 2.0 * d, size=n)
    group = rng.integers(0, n_groups, size=n)
    order = np.argsort(group, kind="stable").astype(np.int64)
    group_ptr = np.concatenate(([0], np.cumsum(np.bincount(group, minlength=n_groups))
                                )).astype(np.int64)
    partner = ((-np.arange(n_groups)) % n_groups).astype(np.int64)
    args = (Z, labels, radius, order, group_ptr, partner)
    copies = [a.copy() for a in args]
    anchor, impostor = kernels.grouped_impostor_pairs(*args)
    expected = ref.grouped_impostor_pairs(*args)
    assert anchor.dtype == impostor.dtype == np.int64
    got_pairs = sorted(zip(anchor.tolist(), impostor.tolist()))
    assert got_pairs == sorted(zip(expected[0].tolist(), expected[1].tolist()))
    for original, copy in zip(args, copies):
        assert_array_equal(original, copy)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n_rows, n_cols, d, k, first_row",
                         [(1, 2, 1, 1, 0), (5, 9, 2, 3, 4), (40, 90, 5, 4, 30)])
@pytest.mark.parametrize("kind", ["normal", "duplicates", "zeros"])
def test_nearest_from_gram_matches_reference(seed, n_rows, n_cols, d, k, first_row,
                                             kind):
    rng = np.random.default_rng(seed)
    B = _data(rng, n_cols, d, kind)
    A = np.ascontiguousarray(B[first_row:first_row + n_rows])
    args = (A @ B.T, kernels.row_sq_norms(A), kernels.row_sq_norms(B), k, first_row)
    copies = [np.copy(a) for a in args]
    got = kernels.nearest_from_gram(*args)
    expected = ref.nearest_from_gram(*args)
    assert got.dtype == np.int64
    if kind == "normal":
        assert_array_equal(got, expected)
    else:  # ties: both keep the lowest columns among equal distances
        D = np.maximum(args[1][:, None] + args[2][None, :] - 2.0 * args[0], 0.0)
        rows = np.arange(n_rows)[:, None]
        assert_array_equal(D[rows, got], D[rows, expected])
        assert_array_equal(got, expected)
    for original, copy in zip(args, copies):
        assert_array_equal(original, copy)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n, m, d", [(1, 1, 1), (30, 5, 2), (200, 40, 4)])
@pytest.mark.parametrize("kind", ["normal", "duplicates", "zeros"])
def test_count_within_radius_matches_reference(seed, n, m, d, kind):
    rng = np.random.default_rng(seed)
    Z = _data(rng, n, d, kind)
    labels = rng.integers(0, 3, size=n).astype(np.int64)
    radius = rng.uniform(0.0, 2.0 * d, size=n)
    probes = rng.integers(0, n, size=m).astype(np.int64)
    got = kernels.count_within_radius(Z, labels, radius, probes)
    assert_array_equal(got, ref.count_within_radius(Z, labels, radius, probes))


# ---------------------------------------------------------------------------------
# Kernels with a prange loop: a serial and a parallel compilation, the same result
# ---------------------------------------------------------------------------------


def _threaded_cases(rng):
    n, d = 150, 3
    Z = _data(rng, n, d, "duplicates")
    labels = rng.integers(0, 3, size=n).astype(np.int64)
    radius = rng.uniform(0.0, 2.0 * d, size=n)
    anchor, impostor = rng.integers(0, n, size=(2, 700)).astype(np.int64)
    group = rng.integers(0, 6, size=n)
    order = np.argsort(group, kind="stable").astype(np.int64)
    group_ptr = np.concatenate(([0], np.cumsum(np.bincount(group, minlength=6))
                                )).astype(np.int64)
    partner = ((-np.arange(6)) % 6).astype(np.int64)
    A = np.ascontiguousarray(Z[40:90])
    sq = kernels.row_sq_norms(Z)
    return {
        "pairs_within_radius": (Z, anchor, impostor, radius),
        "pair_sq_dists": (_data(rng, n, 40, "duplicates"), anchor, impostor),
        "grouped_impostor_pairs": (Z, labels, radius, order, group_ptr, partner),
        "nearest_from_gram": (A @ Z.T, sq[40:90].copy(), sq, 4, 40),
        "count_within_radius": (Z, labels, radius, anchor[:60].copy()),
    }


def _as_tuple(result):
    return result if isinstance(result, tuple) else (result,)


@pytest.mark.parametrize("seed", range(3))
def test_threaded_kernels_serial_and_parallel_agree_bit_for_bit(seed):
    import numba

    from skmetric._kernels._core import ThreadedKernel

    for name, args in _threaded_cases(np.random.default_rng(seed)).items():
        threaded = getattr(kernels, name)
        assert isinstance(threaded, ThreadedKernel), name
        serial = _as_tuple(threaded.serial(*args))
        for s, p in zip(serial, _as_tuple(threaded.parallel(*args)), strict=True):
            assert_array_equal(s, p, err_msg=name)
        # The dispatch follows numba's thread count (set by the thread policy).
        previous = numba.get_num_threads()
        try:
            numba.set_num_threads(1)
            one = _as_tuple(threaded(*args))
        finally:
            numba.set_num_threads(previous)
        for a, b in zip(one, serial, strict=True):
            assert_array_equal(a, b, err_msg=name)


def test_one_thread_compiles_only_the_serial_variant():
    # A fresh interpreter and an empty cache: a one-thread call of a prange
    # kernel must not compile its parallel variant (the cost of a first fit).
    import subprocess
    import sys
    import tempfile

    probe = (
        "import numba, numpy as np\n"
        "from skmetric import _kernels as k\n"
        "numba.set_num_threads(1)\n"
        "Z = np.random.default_rng(0).normal(size=(20, 3))\n"
        "k.count_within_radius(Z, np.arange(20) % 2, np.ones(20), np.arange(5))\n"
        "f = k.count_within_radius\n"
        "print(len(f.serial.signatures), len(f.parallel.signatures))\n"
    )
    with tempfile.TemporaryDirectory() as cache:
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True,
                             text=True, check=True,
                             env={**__import__("os").environ,
                                  "NUMBA_CACHE_DIR": cache})
    assert out.stdout.split() == ["1", "0"]


def test_small_calls_run_the_serial_variant_on_any_thread_count():
    # A fresh interpreter and an empty cache, numba on every core: a call on
    # small arrays runs (and compiles) only the serial variant; a call on large
    # arrays, with more than one thread, the parallel one.
    import os
    import subprocess
    import sys
    import tempfile

    probe = (
        "import numba, numpy as np\n"
        "from skmetric import _kernels as k\n"
        "from skmetric._kernels._core import _PARALLEL_MIN_ELEMENTS\n"
        "f = k.count_within_radius\n"
        "def call(n):\n"
        "    Z = np.random.default_rng(0).normal(size=(n, 2))\n"
        "    f(Z, np.arange(n) % 2, np.ones(n), np.arange(5))\n"
        "    return [len(f.serial.signatures), len(f.parallel.signatures)]\n"
        "small = call(20)\n"
        "large = call(_PARALLEL_MIN_ELEMENTS // 2)\n"
        "print(numba.get_num_threads(), *small, *large)\n"
    )
    with tempfile.TemporaryDirectory() as cache:
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True,
                             text=True, check=True,
                             env={**os.environ, "NUMBA_CACHE_DIR": cache})
    threads, *counts = map(int, out.stdout.split())
    if threads < 2:
        pytest.skip("numba has one thread here")
    assert counts == [1, 0, 1, 1]


# Every estimator fitted on small data of several input types (float32, Fortran
# order, integers, a read-only view), then every kernel's compiled signatures.
_ONE_SIGNATURE_PROBE = r"""
import json, warnings
import numpy as np
from numba.core.dispatcher import Dispatcher
from skmetric._kernels._core import ThreadedKernel
from tests._estimators import CASES, fit_case, make_blobs_data

warnings.simplefilter("ignore")
X, y = make_blobs_data(n_samples=40, n_features=3)
frozen = X.copy()
frozen.flags.writeable = False
inputs = [X, X.astype(np.float32), np.asfortranarray(X), np.rint(X).astype(int),
          frozen]
for case in CASES:
    for data in inputs:
        fit_case(case, case.make(), data, y)

from skmetric.deep import DeepTripletTracklets
from skmetric.recommend import CollaborativeMetricLearning

rng = np.random.default_rng(0)
tracklets = np.repeat(np.arange(6), 6)
frames = np.arange(36) % 6 + 6 * (tracklets // 3)
features = rng.normal(size=(6, 4))[tracklets] + rng.normal(scale=0.3, size=(36, 4))
for data in (features, features.astype(np.float32)):
    DeepTripletTracklets(2, hidden_layer_sizes=(8,), batch_size=12,
                         n_samples_per_class=3, max_iter=2,
                         random_state=0).fit(data, tracklets, frames=frames)
users = np.repeat(np.arange(12), 4)
items = (users % 2) * 5 + np.tile(np.arange(4), 12)
interactions = np.unique(np.column_stack([users, items]), axis=0)
for data in (interactions, interactions.astype(np.int32)):
    CollaborativeMetricLearning(4, batch_size=16, max_iter=2,
                                random_state=0).fit(data)

import skmetric._kernels as package
import sys
signatures = {}
for name, module in sys.modules.items():
    if not name.startswith("skmetric._kernels"):
        continue
    for attr, value in vars(module).items():
        variants = ({"": value} if isinstance(value, Dispatcher) else
                    {".serial": value.serial, ".parallel": value.parallel}
                    if isinstance(value, ThreadedKernel) else {})
        for suffix, dispatcher in variants.items():
            signatures[f"{name}.{attr}{suffix}"] = [
                str(s) for s in dispatcher.signatures]
print(json.dumps(signatures))
"""


def test_each_kernel_compiles_once_whatever_the_input():
    # Callers convert their input once (float64 C-contiguous data, int64
    # indices), and no kernel hands a literal to another: a kernel compiled
    # twice costs a first fit its compilation again.
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("NUMBA_DISABLE_JIT", None)
    out = subprocess.run([sys.executable, "-c", _ONE_SIGNATURE_PROBE], cwd=root,
                         capture_output=True, text=True, env=env, timeout=1200)
    assert out.returncode == 0, out.stderr[-3000:]
    signatures = json.loads(out.stdout.strip().splitlines()[-1])
    compiled = {name: sigs for name, sigs in signatures.items() if sigs}
    assert len(compiled) >= 20, sorted(compiled)  # the fits ran the kernels
    repeated = {name: sigs for name, sigs in compiled.items() if len(sigs) > 1}
    assert not repeated, repeated
