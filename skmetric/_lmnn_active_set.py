"""LMNN's active set of impostor pairs and the bounds that certify it complete."""

from typing import NamedTuple

import numpy as np

from ._lmnn_neighbors import find_impostors


class _ActiveSet(NamedTuple):
    """Impostor pairs of an exact search at ``reference`` and what certifies them."""

    anchor: np.ndarray  # (m,) int64, sorted
    index: np.ndarray  # (m,) int64
    fraction: float  # sampled fraction of all pairs
    halvings: int  # its level, fraction = 2**-halvings
    reference: np.ndarray  # (q, p) the L of the search
    radius: np.ndarray  # (n,) squared search radius of every anchor
    embedded: np.ndarray  # (n, q) the embedding at reference
    X: np.ndarray  # (n, p) the training rows
    # What certifies needs of reference (its pseudo-inverse, and |N x_i|, N the
    # projector off its row space), computed by the first certifies call: many
    # sets are replaced before any certificate is tried on them, and the SVD
    # costs O(q p min(q, p)).
    certificate: dict

    @classmethod
    def searched(cls, problem, components, embedded, farthest, max_impostors, seed,
                 halvings, n_threads, slack):
        radius = (1.0 + slack) * (farthest + 1.0)
        anchor, index, fraction, _ = find_impostors(
            embedded, problem.labels, radius, max_impostors, seed,
            halvings=halvings, n_threads=n_threads,
        )
        return cls(anchor, index, fraction, int(round(-np.log2(fraction))),
                   components.copy(), radius, embedded, problem.X, {})

    def _certificate_terms(self):
        """``(pinv, null_norms, null_max)`` of the reference, computed once."""
        if not self.certificate:
            left, singular, right = np.linalg.svd(self.reference, full_matrices=False)
            rank = int(np.sum(singular > singular.max(initial=0.0) * 1e-12))
            pinv = (right[:rank].T / singular[:rank]) @ left[:, :rank].T
            if rank < self.X.shape[1]:
                rows = right[:rank]
                off = self.X - (self.X @ rows.T) @ rows
                null_norms = np.sqrt(np.einsum("ij,ij->i", off, off))
            else:
                null_norms = np.zeros(self.X.shape[0])
            self.certificate.update(pinv=pinv, null_norms=null_norms,
                                    null_max=float(null_norms.max(initial=0.0)))
        terms = self.certificate
        return terms["pinv"], terms["null_norms"], terms["null_max"]

    def certifies_by_movement(self, embedded, farthest):
        """Whether no point moved enough for a left-out pair to become active.

        With ``a_j = |z_j - z0_j|`` the displacement of point j since the
        reference, a pair (i, l) left out (``|z0_i - z0_l|^2 >= r_i``) has
        ``|z_i - z_l| >= sqrt(r_i) - a_i - a_l``; at least ``sqrt(f_i + 1)`` for
        every i means every triplet of every left-out pair has a margin <= 0.
        """
        moved = embedded - self.embedded
        shift = np.sqrt(np.einsum("ij,ij->i", moved, moved))
        reach = np.sqrt(self.radius * (1.0 - 1e-9)) - shift - shift.max(initial=0.0)
        return bool(np.all((reach > 0.0) & (reach * reach >= farthest + 1.0)))

    def certifies(self, components, farthest):
        """Whether the set holds every active triplet at ``components``.

        A pair (i, l) left out has ``|R0 d| >= sqrt(r_i)`` at the reference R0
        (``d = x_i - x_l``). Splitting d on the row space of R0 (where ``(R -
        R0) d = (R - R0) R0^+ R0 d``) and off it (projector N), ``|R d| >= (1 -
        rho) |R0 d| - eta (|N x_i| + max_l |N x_l|)`` with ``rho = |(R - R0)
        R0^+|_2`` and ``eta = |R - R0|_F``. When that bound squared is at least
        ``f_i + 1`` (f_i the farthest target neighbour's squared distance at R),
        every triplet of the pair has a margin <= 0: the objective over the set
        is the exact one. rho is bounded by the Frobenius norm first, then by
        ``sqrt(|A|_1 |A|_inf)``, and computed exactly only when neither is
        enough.
        """
        step = components - self.reference
        eta = float(np.linalg.norm(step))
        if eta == 0.0:
            return True
        need = np.sqrt((farthest + 1.0) / (self.radius * (1.0 - 1e-9)))
        pinv, null_norms, null_max = self._certificate_terms()
        relative = step @ pinv
        # Upper bounds of the spectral norm, cheapest first, then the norm itself
        # (an SVD): a bound that certifies spares the rest.
        bounds = (lambda: np.linalg.norm(relative),
                  lambda: np.sqrt(np.linalg.norm(relative, 1)
                                  * np.linalg.norm(relative, np.inf)),
                  lambda: np.linalg.norm(relative, 2))
        for bound in bounds:
            rho = bound()
            if rho >= 1.0:
                continue
            reach = (1.0 - rho) - eta * (null_norms + null_max) / np.sqrt(
                self.radius)
            if np.all(reach >= need):
                return True
        return False
