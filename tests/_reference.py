"""Plain-NumPy twins of the kernels in skmetric._kernels, written from the formulas.

Each function has the name of the kernel it checks and is deliberately vectorised
and simple rather than fast.
"""

import numpy as np


def pair_sq_dists(X, left, right):
    return ((X[left] - X[right]) ** 2).sum(axis=1)


def pair_sq_diffs(X, left, right):
    return (X[left] - X[right]) ** 2


def pair_laplacian_matmul(X, left, right, weights):
    n = X.shape[0]
    laplacian = np.zeros((n, n))
    for i, j, w in zip(left, right, weights):
        e = np.zeros(n)
        e[i] += 1.0
        e[j] -= 1.0
        laplacian += w * np.outer(e, e)
    return laplacian @ X


def weighted_outer_sum(X, left, right, weights):
    diffs = X[left] - X[right]
    return (diffs * weights[:, None]).T @ diffs


def pairwise_sq_dists(A, B):
    return ((A[:, None, :] - B[None, :, :]) ** 2).sum(axis=2)


# ---------------------------------------------------------------------------------
# Deep embeddings: losses and mining
# ---------------------------------------------------------------------------------

def _delta(D2, squared):
    return D2 if squared else np.sqrt(D2)


def sq_dist_weights_grad(E, W):
    diffs = E[:, None, :] - E[None, :, :]
    return 2.0 * np.einsum("ij,ijk->ik", W, diffs) - 2.0 * np.einsum(
        "ij,ijk->jk", W, diffs
    )


def _valid_triplets(labels):
    same = labels[:, None] == labels[None, :]
    b = labels.shape[0]
    valid = same[:, :, None] & ~same[:, None, :] & ~np.eye(b, dtype=bool)[:, :, None]
    return valid


def mine_triplets(D2, labels, margin, squared, miner):
    """Miner codes as in skmetric._kernels: 0 all, 1 easy, 2 semihard, 3 hard,
    4 batch_hard, 5 not easy. Returns (anchors, positives, negatives) in
    lexicographic order."""
    delta = _delta(D2, squared)
    d_ap = delta[:, :, None]
    d_an = delta[:, None, :]
    valid = _valid_triplets(labels)
    if miner == 4:
        same = labels[:, None] == labels[None, :]
        out = []
        for a in range(labels.shape[0]):
            pos = np.flatnonzero(same[a] & (np.arange(labels.shape[0]) != a))
            neg = np.flatnonzero(~same[a])
            if pos.size and neg.size:
                out.append((a, pos[np.argmax(D2[a, pos])], neg[np.argmin(D2[a, neg])]))
        out = np.array(out, dtype=np.int64).reshape(-1, 3)
        return out[:, 0], out[:, 1], out[:, 2]
    keep = {
        0: np.ones_like(valid),
        1: d_an > d_ap + margin,
        2: (d_ap < d_an) & (d_an <= d_ap + margin),
        3: d_an <= d_ap,
        5: d_an <= d_ap + margin,
    }[miner]
    return np.nonzero(valid & keep)


def distance_weighted_probabilities(D2, labels, anchor, positive, margin, squared,
                                    n_dims, min_distance):
    """Probability of each row as the negative of (anchor, positive)."""
    delta = _delta(D2, squared)
    d = np.sqrt(D2[anchor])
    clipped = np.maximum(d, min_distance)

    def log_q(x):
        return (n_dims - 2) * np.log(x) + 0.5 * (n_dims - 3) * np.log(1 - x**2 / 4)

    log_w = np.minimum(-log_q(min_distance), -log_q(clipped))
    allowed = (labels != labels[anchor]) & (delta[anchor] < delta[anchor, positive]
                                            + margin)
    if not allowed.any():
        return np.zeros_like(d)
    log_w = np.where(allowed, log_w, -np.inf)
    w = np.exp(log_w - log_w[allowed].max())
    return w / w.sum()


def _half_inverse(d):
    # d(delta)/d(D2) = 1 / (2 delta), taken as 0 at delta = 0.
    return np.where(d > 0, 0.5 / np.where(d > 0, d, 1.0), 0.0)


def triplet_loss_weights(D2, anchors, positives, negatives, margin, squared):
    delta = _delta(D2, squared)
    h = delta[anchors, positives] - delta[anchors, negatives] + margin
    active = h > 0
    n_active = int(active.sum())
    W = np.zeros_like(D2)
    if n_active == 0:
        return 0.0, 0, W
    if squared:
        cp = np.ones(active.sum())
        cn = -np.ones(active.sum())
    else:
        cp = _half_inverse(delta[anchors, positives][active])
        cn = -_half_inverse(delta[anchors, negatives][active])
    np.add.at(W, (anchors[active], positives[active]), cp)
    np.add.at(W, (anchors[active], negatives[active]), cn)
    return h[active].sum() / n_active, n_active, W / n_active


def mined_triplet_loss_weights(D2, labels, margin, squared, miner, allowed=None):
    """mine_triplets (mine_allowed_triplets with a mask) then
    triplet_loss_weights; returns (loss, n_active, n_selected, W)."""
    if allowed is None:
        anchors, positives, negatives = mine_triplets(D2, labels, margin, squared,
                                                      miner)
    else:
        anchors, positives, negatives = mine_allowed_triplets(
            D2, labels, allowed, margin, squared, miner)
    loss, n_active, W = triplet_loss_weights(D2, np.asarray(anchors),
                                             np.asarray(positives),
                                             np.asarray(negatives), margin, squared)
    return loss, n_active, len(anchors), W


def contrastive_pairs(labels, negative_scores):
    left, right, similar = [], [], []
    b = labels.shape[0]
    for i in range(b):
        pos = [j for j in range(b) if j != i and labels[j] == labels[i]]
        neg = [j for j in range(b) if labels[j] != labels[i]]
        neg = sorted(neg, key=lambda j: (negative_scores[i, j], j))[: len(pos)]
        left += [i] * (len(pos) + len(neg))
        right += pos + neg
        similar += [1] * len(pos) + [0] * len(neg)
    return (np.array(left, dtype=np.int64), np.array(right, dtype=np.int64),
            np.array(similar, dtype=np.int64))


def contrastive_loss_weights(D2, left, right, similar, margin):
    d = np.sqrt(D2[left, right])
    pos = similar == 1
    neg = ~pos & (d < margin)
    loss = 0.0
    W = np.zeros_like(D2)
    if pos.any():
        loss += np.mean(d[pos] ** 2)
        np.add.at(W, (left[pos], right[pos]), 1.0 / pos.sum())
    if neg.any():
        loss += np.mean((margin - d[neg]) ** 2)
        coef = 1.0 - margin * 2.0 * _half_inverse(d[neg])
        coef = np.where(d[neg] > 0, coef, 0.0)
        np.add.at(W, (left[neg], right[neg]), coef / neg.sum())
    return loss, int(pos.sum() + neg.sum()), W


# ---------------------------------------------------------------------------------
# LMNN
# ---------------------------------------------------------------------------------


def impostor_pairs_from_gram(gram, row_sq, col_sq, row_radius, col_radius,
                             row_index, col_index):
    D = np.maximum(row_sq[:, None] + col_sq[None, :] - 2.0 * gram, 0.0)
    n_rows, n_cols = D.shape
    rows = np.broadcast_to(row_index[:, None], (n_rows, n_cols))
    cols = np.broadcast_to(col_index[None, :], (n_rows, n_cols))
    # In scan order: row-major over the block, the row point's pair first.
    anchors = np.stack((rows, cols), axis=2)
    impostors = np.stack((cols, rows), axis=2)
    hits = np.stack((D < row_radius[:, None], D < col_radius[None, :]), axis=2)
    return anchors[hits], impostors[hits]


def lmnn_push_loss_weights(target_dists, target_ptr, impostor_anchor,
                           impostor_dists, squared):
    counts = np.diff(target_ptr)[impostor_anchor]
    pair = np.repeat(np.arange(impostor_anchor.shape[0]), counts)
    starts = np.repeat(target_ptr[impostor_anchor], counts)
    target = starts + np.arange(pair.shape[0]) - np.repeat(np.cumsum(counts) - counts,
                                                           counts)
    margin = 1.0 + target_dists[target] - impostor_dists[pair]
    active = margin > 0.0
    loss = np.where(active, margin ** 2 if squared else margin, 0.0)
    slope = np.where(active, 2.0 * margin if squared else 1.0, 0.0)
    target_weights = np.bincount(target, slope, minlength=target_dists.shape[0])
    impostor_weights = -np.bincount(pair, slope, minlength=impostor_anchor.shape[0])
    return loss.sum(), target_weights, impostor_weights, int(active.sum())


def lmnn_objective(components, X, y, targets, push_weight, squared):
    """LMNN loss and gradient in L over every triplet, from the formula.

    ``targets`` is a list of (i, j) target pairs; every l of another class than i
    is a candidate impostor. Returns ``(loss, grad)`` with grad of shape of L.
    """
    n = X.shape[0]
    loss = 0.0
    outer = np.zeros((X.shape[1], X.shape[1]))
    for i, j in targets:
        v = X[i] - X[j]
        d_ij = np.sum((components @ v) ** 2)
        loss += (1.0 - push_weight) * d_ij
        outer += (1.0 - push_weight) * np.outer(v, v)
        for l in np.flatnonzero(y != y[i]):
            w = X[i] - X[l]
            margin = 1.0 + d_ij - np.sum((components @ w) ** 2)
            if margin > 0.0:
                loss += push_weight * (margin ** 2 if squared else margin)
                slope = push_weight * (2.0 * margin if squared else 1.0)
                outer += slope * (np.outer(v, v) - np.outer(w, w))
    return loss / n, 2.0 * components @ outer / n


def pairs_within_radius(Z, anchor, impostor, radius):
    return ((Z[anchor] - Z[impostor]) ** 2).sum(axis=1) < radius[anchor]


def grouped_impostor_pairs(Z, labels, radius, order, group_ptr, partner):
    """Pairs of each group g with group partner[g] (g <= partner[g]), by group."""
    anchors, impostors = [], []
    for g in range(group_ptr.shape[0] - 1):
        h = partner[g]
        if g > h:
            continue
        rows = order[group_ptr[g]:group_ptr[g + 1]]
        cols = order[group_ptr[h]:group_ptr[h + 1]]
        D = ((Z[rows][:, None, :] - Z[cols][None, :, :]) ** 2).sum(axis=2)
        other = labels[rows][:, None] != labels[cols][None, :]
        if g == h:  # each unordered pair once
            other &= np.arange(rows.size)[:, None] < np.arange(cols.size)[None, :]
        forward = other & (D < radius[rows][:, None])
        backward = other & (D < radius[cols][None, :])
        a, b = np.nonzero(forward)
        anchors.append(rows[a])
        impostors.append(cols[b])
        a, b = np.nonzero(backward)
        anchors.append(cols[b])
        impostors.append(rows[a])
    return np.concatenate(anchors), np.concatenate(impostors)


def nearest_from_gram(gram, row_sq, col_sq, k, first_row):
    D = np.maximum(row_sq[:, None] + col_sq[None, :] - 2.0 * gram, 0.0)
    rows = np.arange(D.shape[0])
    own = first_row + rows
    inside = own < D.shape[1]
    D[rows[inside], own[inside]] = np.inf
    return np.argsort(D, axis=1, kind="stable")[:, :k].astype(np.int64)


def count_within_radius(Z, labels, radius, probes):
    D = ((Z[probes][:, None, :] - Z[None, :, :]) ** 2).sum(axis=2)
    inside = (D < radius[probes][:, None]) & (labels[probes][:, None] != labels)
    return inside.sum(axis=1).astype(np.int64)


# ---------------------------------------------------------------------------------
# Tracking: losses of explicit constraints, mining among allowed negatives
# ---------------------------------------------------------------------------------

def triplet_constraint_loss_grad(E, anchors, positives, negatives, margin, squared):
    """Written from the formula: the loss and an autograd-free gradient through
    the (b, b) weights of the dense reference."""
    D2 = ((E[:, None, :] - E[None, :, :]) ** 2).sum(axis=2)
    loss, n_active, W = triplet_loss_weights(D2, anchors, positives, negatives,
                                             margin, squared)
    return loss, n_active, sq_dist_weights_grad(E, W)


def contrastive_constraint_loss_grad(E, left, right, similar, margin):
    D2 = ((E[:, None, :] - E[None, :, :]) ** 2).sum(axis=2)
    loss, n_active, W = contrastive_loss_weights(D2, left, right, similar, margin)
    return loss, n_active, sq_dist_weights_grad(E, W)


def mine_allowed_triplets(D2, labels, allowed, margin, squared, miner):
    """mine_triplets with the negatives of anchor a restricted to allowed[a]."""
    allowed = allowed.astype(bool)
    b = labels.shape[0]
    if miner == 4:
        same = labels[:, None] == labels[None, :]
        out = []
        for a in range(b):
            pos = np.flatnonzero(same[a] & (np.arange(b) != a))
            neg = np.flatnonzero(~same[a] & allowed[a])
            if pos.size and neg.size:
                out.append((a, pos[np.argmax(D2[a, pos])], neg[np.argmin(D2[a, neg])]))
        out = np.array(out, dtype=np.int64).reshape(-1, 3)
        return out[:, 0], out[:, 1], out[:, 2]
    anchors, positives, negatives = mine_triplets(D2, labels, margin, squared, miner)
    keep = allowed[anchors, negatives]
    return anchors[keep], positives[keep], negatives[keep]
def itml_projections(Z, left, right, sign, lambdas, slacks, metric, gamma):
    # Davis et al. (2007), Algorithm 1, with the exact projection step; the
    # metric update through its inverse (Sherman-Morrison) is checked against
    # the direct rank-one update the kernel makes.
    A = metric.copy()
    lam = lambdas.copy()
    xi = slacks.copy()
    residual = 0.0
    for c in range(len(left)):
        v = Z[left[c]] - Z[right[c]]
        p = float(v @ A @ v)
        if p <= 0.0:
            continue
        delta = sign[c]
        alpha = min(lam[c], delta * gamma / (1.0 + gamma) * (1.0 / p - 1.0 / xi[c]))
        if alpha == 0.0:
            continue
        inverse = np.linalg.inv(A) - delta * alpha * np.outer(v, v)
        A = np.linalg.inv(inverse)
        xi[c] = gamma * xi[c] / (gamma + delta * alpha * xi[c])
        lam[c] -= alpha
        residual = max(residual, abs(alpha) * p)
    return A, lam, xi, residual


def lfda_affinity(gram, k):
    # Distances from the Gram matrix's upper triangle, mirrored; scales from a
    # sort of each row without its diagonal; then exp(-d / (s_i s_j)).
    n = gram.shape[0]
    norms = np.diag(gram)
    d = norms[:, None] + norms[None, :] - 2.0 * gram
    d = np.maximum(np.triu(d, 1), 0.0)
    d = d + d.T
    off = ~np.eye(n, dtype=bool)
    scales = np.sqrt(np.sort(d[off].reshape(n, n - 1), axis=1)[:, k - 1])
    denominator = np.outer(scales, scales)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        A = np.exp(-d / denominator)
    A[(d > 0) & (denominator == 0)] = 0.0
    A[d == 0] = 1.0
    A[np.arange(n), np.arange(n)] = 0.0
    return A, A.sum(axis=1)


def scml_triplet_hinge_grad(P, triplets, weights):
    a, p, n = triplets.T
    z = (P[a] - P[p]) ** 2 - (P[a] - P[n]) ** 2
    margins = 1.0 + z @ weights
    active = margins > 0.0
    return float(margins[active].sum()), z[active].sum(axis=0)


def scml_adagrad_steps(P, triplets, batches, first, weights, average, squares,
                       beta, gamma, delta):
    # Shi et al. (2014): AdaGrad regularised dual averaging, one mini-batch a
    # step, written step by step from the update rules.
    w, avg, sq = weights.copy(), average.copy(), squares.copy()
    for s, batch in enumerate(batches):
        step = first + s + 1
        a, p, n = triplets[batch].T
        z = (P[a] - P[p]) ** 2 - (P[a] - P[n]) ** 2
        g = z[1.0 + z @ w > 0.0].sum(axis=0) / batches.shape[1]
        avg = avg + (g - avg) / step
        sq = sq + g * g
        w = -step / (gamma * (delta + np.sqrt(sq))) * np.minimum(avg + beta, 0.0)
    return w, avg, sq
# ---- neighbour softmax (NCA, MLKR) -----------------------------------------------


def _neighbour_columns(rows, neighbours):
    """(B, m) point index of every column."""
    return np.broadcast_to(neighbours, (rows.shape[0], neighbours.shape[1]))


def neighbour_softmax(sq_dists, rows, neighbours):
    cols = _neighbour_columns(rows, neighbours)
    own = cols == rows[:, None]
    logits = np.where(own, -np.inf, -sq_dists)
    top = logits.max(axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    e = np.exp(logits - top)
    total = e.sum(axis=1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


def nca_weights(sq_dists, rows, neighbours, labels):
    P = neighbour_softmax(sq_dists, rows, neighbours)
    same = labels[_neighbour_columns(rows, neighbours)] == labels[rows][:, None]
    p = (P * same).sum(axis=1)
    return P * (same - p[:, None]), -p


def mlkr_weights(sq_dists, rows, neighbours, targets):
    P = neighbour_softmax(sq_dists, rows, neighbours)
    y_cols = targets[_neighbour_columns(rows, neighbours)]
    estimate = (P * y_cols).sum(axis=1)
    residual = estimate - targets[rows]
    return 2.0 * residual[:, None] * (estimate[:, None] - y_cols) * P, residual**2


def neighbour_sq_dists(Z, rows, neighbours):
    return ((Z[rows][:, None, :] - Z[neighbours]) ** 2).sum(axis=2)


def neighbour_weighted_sum(W, neighbours, X):
    return np.einsum("bj,bjd->bd", W, X[neighbours])


def softmax_objective(components, X, targets, kind, neighbours=None):
    """NCA's or MLKR's mean loss from the formula, with n x n matrices."""
    Z = X @ components.T
    n = X.shape[0]
    D = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(axis=2)
    logits = -D
    np.fill_diagonal(logits, -np.inf)
    if neighbours is not None:
        keep = np.zeros((n, n), dtype=bool)
        keep[np.arange(n)[:, None], neighbours] = True
        logits = np.where(keep, logits, -np.inf)
    logits -= logits.max(axis=1, keepdims=True)
    P = np.exp(logits)
    P /= P.sum(axis=1, keepdims=True)
    if kind == "nca":
        return -(P * (targets[:, None] == targets[None, :])).sum(axis=1).mean()
    return ((P @ targets - targets) ** 2).mean()
# Recommendation: collaborative metric learning
# ---------------------------------------------------------------------------------


def cml_hinge_terms(P, Q, users, positives, negatives, indptr, indices, margin,
                    n_items):
    n = users.shape[0]
    loss, weight = np.zeros(n), np.zeros(n)
    hardest = np.full(n, -1, dtype=np.int64)
    violators = np.zeros(n, dtype=np.int64)
    for b in range(n):
        u = users[b]
        own = set(indices[indptr[u]:indptr[u + 1]].tolist())
        sampled = np.array([j for j in negatives[b] if j not in own], dtype=np.int64)
        if sampled.size == 0:
            continue
        d_pos = ((P[u] - Q[positives[b]]) ** 2).sum()
        d_neg = ((P[u] - Q[sampled]) ** 2).sum(axis=1)
        violators[b] = np.count_nonzero(margin + d_pos - d_neg > 0)
        hardest[b] = sampled[np.argmin(d_neg)]
        hinge = margin + d_pos - d_neg.min()
        if hinge > 0:
            w = np.log1p(np.floor(n_items * violators[b] / sampled.size))
            weight[b], loss[b] = w, w * hinge
    return loss, weight, hardest, violators


def cml_scatter_grads(P, Q, users, positives, hardest, coef, grad_P, grad_Q):
    """Twin of kernels.cml_scatter_grads (without the marks): the gradient added
    in place; returns the distinct users and items in order of first appearance."""
    active = (coef != 0) & (hardest >= 0)
    u, i, j, c = users[active], positives[active], hardest[active], coef[active]
    np.add.at(grad_P, u, 2 * c[:, None] * (Q[j] - Q[i]))
    np.add.at(grad_Q, i, 2 * c[:, None] * (Q[i] - P[u]))
    np.add.at(grad_Q, j, 2 * c[:, None] * (P[u] - Q[j]))
    items = np.column_stack([positives, hardest]).ravel()
    items = items[items >= 0]
    return (np.asarray(list(dict.fromkeys(users.tolist())), dtype=np.int64),
            np.asarray(list(dict.fromkeys(items.tolist())), dtype=np.int64))


def owned_item_sets(indptr, indices):
    """Twin of kernels.owned_item_sets, in plain Python."""
    offsets = [0]
    for u in range(indptr.shape[0] - 1):
        count = int(indptr[u + 1] - indptr[u])
        size = 1
        while size < 2 * count:
            size *= 2
        offsets.append(offsets[-1] + size)
    table = np.full(offsets[-1], -1, dtype=np.int64)
    for u in range(indptr.shape[0] - 1):
        mask = offsets[u + 1] - offsets[u] - 1
        for item in indices[indptr[u]:indptr[u + 1]].tolist():
            slot = ((item * 2654435761) >> 15) & mask
            while table[offsets[u] + slot] >= 0:
                slot = (slot + 1) & mask
            table[offsets[u] + slot] = item
    return np.asarray(offsets, dtype=np.int64), table


def add_rows(target, rows, source, offset):
    """Twin of kernels.add_rows."""
    target[rows] += source[offset:offset + rows.shape[0]]


def _clip_rows(params, rows, max_norm):
    if max_norm > 0:
        norms = np.linalg.norm(params[rows], axis=1)
        scale = np.where(norms > max_norm, max_norm / np.where(norms > 0, norms, 1), 1)
        params[rows] *= scale[:, None]


def adagrad_update_rows(params, grads, accum, rows, learning_rate, max_norm):
    g = grads[rows]
    accum[rows] += g * g
    a = accum[rows]
    params[rows] -= np.where(a > 0, learning_rate * g / np.sqrt(np.where(a > 0, a, 1)),
                             0.0)
    grads[rows] = 0.0
    _clip_rows(params, rows, max_norm)


def sgd_update_rows(params, grads, rows, learning_rate, max_norm):
    params[rows] -= learning_rate * grads[rows]
    grads[rows] = 0.0
    _clip_rows(params, rows, max_norm)


def cml_epoch_steps(P, V, acc_P, acc_V, grad_P, grad_Q, users, items, weights,
                      negatives, indptr, indices, margin, n_items,
                      covariance_weight, learning_rate, adagrad, max_norm,
                      batch_size):
    """Twin of the steps of skmetric.recommend._cml_solver.run_epoch without item
    features, for interactions already in their order with their negatives."""
    total, n_active = 0.0, 0
    for start in range(0, users.shape[0], batch_size):
        b = slice(start, start + batch_size)
        u, i, s = users[b], items[b], weights[b]
        loss, weight, hardest, _ = cml_hinge_terms(P, V, u, i, negatives[b], indptr,
                                                   indices, margin, n_items)
        coef = weight * s
        cml_scatter_grads(P, V, u, i, hardest, coef, grad_P, grad_Q)
        total += float((loss * s).sum())
        n_active += int(np.count_nonzero(coef))
        rows_u = np.unique(u)
        rows_i = np.unique(np.concatenate([i, hardest[hardest >= 0]]))
        if covariance_weight > 0:
            X = np.concatenate([P[rows_u], V[rows_i]])
            Xc = X - X.mean(axis=0)
            C = Xc.T @ Xc / X.shape[0]
            np.fill_diagonal(C, 0.0)
            total += 0.5 * covariance_weight * float((C * C).sum())
            G = (2.0 * covariance_weight / X.shape[0]) * (Xc @ C)
            grad_P[rows_u] += G[: rows_u.size]
            grad_Q[rows_i] += G[rows_u.size:]
        if adagrad:
            adagrad_update_rows(P, grad_P, acc_P, rows_u, learning_rate, max_norm)
            adagrad_update_rows(V, grad_Q, acc_V, rows_i, learning_rate, max_norm)
        else:
            sgd_update_rows(P, grad_P, rows_u, learning_rate, max_norm)
            sgd_update_rows(V, grad_Q, rows_i, learning_rate, max_norm)
    return total, n_active


def contrastive_rows_loss_weights(D2, labels, negative_scores, margin):
    """contrastive_pairs then contrastive_loss_weights, per anchor: the unscaled
    W (1 for a positive, 1 - margin / d for an active negative), the (b, 2)
    sums of the positive and negative loss terms and the (b, 3) counts
    (positives, active negatives, pairs)."""
    b = labels.shape[0]
    left, right, similar = contrastive_pairs(labels, negative_scores)
    d = np.sqrt(D2[left, right])
    positive = similar == 1
    active = ~positive & (d < margin)
    W = np.zeros_like(D2)
    W[left[positive], right[positive]] = 1.0
    weighted = active & (d > 0)
    W[left[weighted], right[weighted]] = 1.0 - margin / d[weighted]
    losses = np.zeros((b, 2))
    np.add.at(losses[:, 0], left[positive], d[positive] ** 2)
    np.add.at(losses[:, 1], left[active], (margin - d[active]) ** 2)
    counts = np.zeros((b, 3), dtype=np.int64)
    np.add.at(counts[:, 0], left[positive], 1)
    np.add.at(counts[:, 1], left[active], 1)
    np.add.at(counts[:, 2], left, 1)
    return W, losses, counts
