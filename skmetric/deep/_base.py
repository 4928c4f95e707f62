"""Machinery shared by the deep embedding estimators: parameters, training loop,
early stopping, progress lines, transform.

A subclass defines the loss of a batch, from class labels (pairs or triplets mined
inside the batch) or from explicit constraints (pairs or triplets of row indices),
and how held-out constraints are scored; everything else lives here.
"""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._base import VerbosePrinter, warn_not_converged
from .._threads import (
    N_JOBS_CONSTRAINT,
    N_JOBS_DOC,
    map_on_threads,
    thread_limits,
)
from .._validation import (
    Interval,
    StrOptions,
    check_params,
    check_X,
    check_X_y_classes,
    class_members,
)
from ._batches import class_batches, constraint_batches
from ._docs import SHARED_DOCS, fill_docstring  # noqa: F401 (used by subclasses)
from ._network import (
    ACTIVATIONS,
    forward,
    init_parameters,
    init_skip,
    network_loss_grad,
)
from ._optim import make_optimizer
from ._selection import (
    _HeldOutSplitMixin,
    _ModelSelection,
    fallback_parameters,
    held_out_scores,
)
from ._wide import expand_parameters, principal_basis

# Spread of the embedding (RMS distance to its mean) below this fraction of its RMS
# norm counts as a collapse.
_COLLAPSE_RATIO = 1e-2
# Rows embedded for the collapse check.
_COLLAPSE_ROWS = 1000
# Ratio of the largest to the median feature standard deviation that gets a warning,
# and the same ratio between the median standard deviation and 1.
_SCALE_RATIO = 1e3
# Rows embedded at once by transform.
_EMBED_ROWS = 4096
# Rows embedded at once by the validation score (at most _EMBED_ROWS): training
# runs BLAS on one thread and shares these pieces out over the fit's threads.
_VALIDATION_EMBED_ROWS = 256
# BLAS threads during training. The products of a batch are small (a few hundred
# rows), where OpenBLAS's threads cost more than they give: one usps epoch (batch
# 128, a 256-128-32 network) took 0.10 s with one thread and 0.80 s with two on the
# 2-core machine while other jobs ran. ``transform`` keeps the default threads.
_TRAINING_BLAS_THREADS = 1


class EmbeddingCollapseWarning(UserWarning):
    """The learned embedding maps (nearly) every point to the same place."""


SHARED_PARAMETER_CONSTRAINTS = {
    "n_components": [Interval(Integral, 1, None, closed="left")],
    "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    "activation": [StrOptions(set(ACTIVATIONS))],
    "normalize": ["boolean"],
    "solver": [StrOptions({"adam", "sgd"})],
    "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
    "momentum": [Interval(Real, 0, 1, closed="both")],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "batch_size": [Interval(Integral, 2, None, closed="left")],
    "n_samples_per_class": [Interval(Integral, 2, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "early_stopping": [StrOptions({"auto"}), "boolean"],
    "validation": [StrOptions({"auto", "classes", "samples", "both"})],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "skip": [StrOptions({"pca", "whitened_pca"}), None],
    "warm_start": ["boolean"],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "n_jobs": N_JOBS_CONSTRAINT,
}


class _TrainingData:
    """What one fit trains on: rows of X and either labels or constraints."""

    def __init__(self, X, labels=None, constraints=None, extra=None):
        self.X = X
        self.labels = labels
        self.constraints = constraints
        self.extra = extra

    def subset(self, rows):
        """The same kind of data restricted to some labelled rows or constraints."""
        if self.labels is not None:
            return _TrainingData(self.X[rows], labels=self.labels[rows])
        extra = None if self.extra is None else self.extra[rows]
        # Keep only the points of these constraints (renumbered in the same order),
        # so that nothing fitted on the training part (the PCA start) sees a point
        # that appears in held-out constraints only.
        used, local = np.unique(self.constraints[rows], return_inverse=True)
        constraints = local.reshape(-1, self.constraints.shape[1]).astype(np.int64)
        return _TrainingData(self.X[used], constraints=constraints, extra=extra)


class DeepEmbeddingBase(_HeldOutSplitMixin, ClassNamePrefixFeaturesOutMixin,
                        TransformerMixin, BaseEstimator):
    """Shared fit/transform of :class:`DeepSiamese` and :class:`DeepTriplet`."""

    # What explicit constraints are called in messages ("pairs" or "triplets"),
    # set by each subclass.
    _constraint_name = None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.non_deterministic = False
        return tags

    @property
    def _n_features_out(self):
        return self.coefs_[-1].shape[1]

    # ---- subclass hooks ---------------------------------------------------------

    def _check_own_params(self):
        """Checks that involve two parameters at once."""

    def _check_constraints(self, constraints, n_samples):
        """Validate explicit constraints: ``(index array, extra or None)``."""
        raise NotImplementedError

    def _labelled_loss(self, labels, rng):
        """``loss(E) -> (value, grad_E, n_active, n_terms)`` of a labelled batch."""
        raise NotImplementedError

    def _constraint_loss(self, constraints, extra):
        """The same for a batch of constraints indexing the rows of E."""
        raise NotImplementedError

    def _constraint_score(self, embedding, constraints, extra):
        """Score (higher is better) of held-out constraints on their rows."""
        raise NotImplementedError

    # ---- public API -------------------------------------------------------------

    def transform(self, X):
        """Embed X with the learned network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples, scaled as for ``fit``.

        Returns
        -------
        X_embedded : ndarray of shape (n_samples, n_components)
            The embedding; rows have unit norm when ``normalize=True``.
        """
        check_is_fitted(self)
        X = check_X(self, X, reset=False)
        return self._embed(X)

    def _fit(self, X, y, constraints, partial):
        check_params(self)
        self._check_layer_sizes()
        fitted = hasattr(self, "coefs_")
        data = self._validate_training_data(X, y, constraints, reset=not (partial
                                                                         and fitted))
        continuing = fitted and (partial or self.warm_start) and (
            self._same_architecture(data.X.shape[1], partial)
        )
        self._check_own_params()
        self._check_batching(data)
        _warn_if_badly_scaled(self, data.X)
        if partial and continuing:
            rng = self._rng
        else:
            rng = check_random_state(self.random_state)
        train, validation = self._split(data, rng, use=self.early_stopping is not
                                        False and not partial)

        printer = self._printer(validation is not None)
        printer.start(self._start_message(data, train, validation))
        max_iter = 1 if partial else self.max_iter
        # Wide inputs train in the leading principal subspace of their rows
        # (see _wide.py); the first layer and skip path are mapped back after.
        with thread_limits(self.n_jobs, blas_threads=_TRAINING_BLAS_THREADS) as (
                n_threads):
            self._n_threads = n_threads  # of the batch kernels that take threads
            basis = None if continuing else principal_basis(train.X)
            fit_train, fit_validation = (train, validation) if basis is None else (
                _projected(train, basis), _projected(validation, basis))
            params = self._initial_parameters(fit_train.X, rng, continuing)
            history = self._run_epochs(params, fit_train, fit_validation, max_iter,
                                       rng, printer)
        if basis is not None:
            params = expand_parameters(params, basis, len(self._layer_sizes(1)) - 1,
                                       self.skip is not None)
            self._optimizer_key = None  # its moments live in the subspace

        self.coefs_, self.intercepts_, self.skip_ = self._unpack(params)
        previous = self.loss_curve_ if continuing else []
        self.loss_curve_ = previous + history["losses"]
        self.n_iter_ = (self.n_iter_ if continuing else 0) + history["n_epochs"]
        self.validation_scores_ = history["scores"] if validation is not None else None
        self.best_validation_score_ = (
            history["best_score"] if validation is not None else None
        )
        self._rng = rng
        fell_back = (" and kept the fall-back with the input space's geometry (no "
                     "network was as good on the held-out data)"
                     if history["fell_back"] else "")
        printer.summary(
            f"{'Converged' if history['converged'] else 'Stopped'} after "
            f"{history['n_epochs']} epochs, loss {self.loss_curve_[-1]:.6f}"
            f"{fell_back},"
        )
        if not history["fell_back"]:  # the fall-back fills a small cap of the sphere
            self._warn_if_collapsed(train)
        if not partial and not history["converged"]:
            criterion = ("validation score" if validation is not None
                         else "training loss")
            warn_not_converged(
                self, self.max_iter,
                f"(epochs): the {criterion} still improved by more than "
                f"tol={self.tol} within the last n_iter_no_change="
                f"{self.n_iter_no_change} epochs.",
            )
        return self

    # ---- fit, step by step ------------------------------------------------------

    def _check_layer_sizes(self):
        sizes = np.atleast_1d(np.asarray(self.hidden_layer_sizes))
        if sizes.size and (sizes.ndim != 1 or not np.issubdtype(sizes.dtype, np.integer)
                           or np.any(sizes < 1)):
            raise ValueError(
                "hidden_layer_sizes must hold positive integers; got "
                f"{self.hidden_layer_sizes!r}."
            )

    def _layer_sizes(self, n_features):
        hidden = np.atleast_1d(np.asarray(self.hidden_layer_sizes, dtype=np.int64))
        return [n_features, *hidden.tolist(), self.n_components]

    def _same_architecture(self, n_features, partial):
        """Whether the fitted network has the layers and skip path asked for.

        ``partial_fit`` cannot change the architecture (ValueError); a warm-started
        ``fit`` starts a new network with a warning.
        """
        fitted = [c.shape[0] for c in self.coefs_] + [self.coefs_[-1].shape[1]]
        fitted_skip = getattr(self, "skip_", None) is not None
        wanted = self._layer_sizes(n_features)
        if fitted == wanted and fitted_skip == (self.skip is not None):
            return True
        described = (
            f"the fitted network is {'-'.join(map(str, fitted))}"
            f"{' with' if fitted_skip else ' without'} a skip path, the parameters "
            f"ask for {'-'.join(map(str, wanted))}"
            f"{' with' if self.skip is not None else ' without'} one"
        )
        if partial:
            raise ValueError(
                f"partial_fit cannot change the architecture: {described}. Call fit "
                "to train a new network."
            )
        if n_features == fitted[0]:
            warnings.warn(
                f"{type(self).__name__}: warm_start=True but {described}; "
                "training a new network.",
                UserWarning,
                stacklevel=4,
            )
        return False

    def _unpack(self, params):
        """``(coefs, intercepts, skip or None)`` of the flat parameter list."""
        n_layers = (len(params) - (self.skip is not None)) // 2
        skip = params[2 * n_layers] if len(params) > 2 * n_layers else None
        return params[:n_layers], params[n_layers:2 * n_layers], skip

    def _validate_training_data(self, X, y, constraints, reset):
        given = constraints is not None and constraints[0] is not None
        if not given:
            X, labels, _ = check_X_y_classes(self, X, y, reset=reset)
            return _TrainingData(X, labels=labels)
        X = check_X(self, X, reset=reset)
        indices, extra = self._check_constraints(constraints, X.shape[0])
        return _TrainingData(X, constraints=indices, extra=extra)

    def _check_batching(self, data):
        if data.labels is not None and self.batch_size < 2 * self.n_samples_per_class:
            raise ValueError(
                f"batch_size={self.batch_size} is smaller than two classes' worth of "
                f"points (2 * n_samples_per_class = {2 * self.n_samples_per_class}); "
                "mining needs positives and negatives in every batch."
            )

    def _initial_parameters(self, X, rng, continuing):
        if continuing:
            params = [p.copy() for p in self.coefs_ + self.intercepts_]
            if self.skip_ is not None:
                params.append(self.skip_.copy())
            if getattr(self, "_optimizer_key", None) == self._optimizer_spec():
                return params
        else:
            coefs, intercepts = init_parameters(self._layer_sizes(X.shape[1]), rng)
            params = coefs + intercepts
            if self.skip is not None:
                # Start as the PCA projection of the training rows: the MLP's
                # output layer starts at zero and learns what the projection misses.
                skip, bias = init_skip(X, self.n_components,
                                       whiten=self.skip == "whitened_pca")
                coefs[-1][:] = 0.0
                intercepts[-1][:] = bias
                params.append(skip)
        self._optimizer = make_optimizer(self.solver, params, self.learning_rate_init,
                                         self.momentum)
        self._optimizer_key = self._optimizer_spec()
        return params

    def _optimizer_spec(self):
        return (self.solver, self.learning_rate_init, self.momentum)

    def _printer(self, with_validation):
        columns = [("Epoch", "d"), ("Loss", ".6f"), ("Active", ".3f")]
        if with_validation:
            columns.append(("Validation", ".4f"))
        columns.append(("Time(s)", ".2f"))
        return VerbosePrinter(self, columns)

    def _start_message(self, data, train, validation):
        n_samples, n_features = data.X.shape
        what = (f"{n_samples} samples" if data.labels is not None else
                f"{data.constraints.shape[0]} {self._constraint_name} over "
                f"{n_samples} samples")
        sizes = "-".join(str(s) for s in self._layer_sizes(n_features))
        held = ""
        if validation is not None:
            n_held = (validation.X.shape[0] if validation.labels is not None
                      else validation.constraints.shape[0])
            held = f", {n_held} held out"
        return f"Training a {sizes} {self.activation} network on {what}{held}."

    # ---- the training loop ------------------------------------------------------

    def _run_epochs(self, params, train, validation, max_iter, rng, printer):
        losses, scores = [], []
        best_loss = np.inf
        select = None
        if validation is not None:
            # The candidates are the starting network (with skip='pca', the PCA
            # projection) and the network after every epoch, against a fall-back
            # that keeps the input space's Euclidean geometry (see
            # _ModelSelection); training stops when no network improved the
            # held-out score for n_iter_no_change epochs.
            fallback = None
            if self.skip is not None:
                coefs, intercepts, _ = self._unpack(params)
                fallback = fallback_parameters(coefs, intercepts, train,
                                               self.n_components, self.normalize)
            select = _ModelSelection(fallback,
                                     lambda p: self._validation_score(p, train,
                                                                      validation))
            scores.append(select.offer(params))
        n_stale = 0
        converged = False
        n_epochs = 0
        members = None
        if train.labels is not None:  # held-out classes leave empty members
            members = [m for m in class_members(train.labels) if m.shape[0]]
        for epoch in range(max_iter):
            loss, n_active, n_terms = self._run_epoch(params, train, members, rng)
            n_epochs += 1
            losses.append(loss)
            row = [epoch + 1, loss, n_active / max(n_terms, 1)]
            if select is not None:
                previous = select.best_trained
                score = select.offer(params)
                scores.append(score)
                row.append(score)
                improved = score > previous + self.tol
            else:
                improved = loss < best_loss - self.tol
                best_loss = min(best_loss, loss)
            n_stale = 0 if improved else n_stale + 1
            printer.row(*row, printer.elapsed)
            if n_stale >= self.n_iter_no_change:
                converged = True
                break
        best_score = -np.inf
        fell_back = False
        if select is not None:
            params[:] = select.chosen
            best_score = select.chosen_score
            fell_back = select.fell_back
        return {"losses": losses, "scores": scores, "best_score": best_score,
                "n_epochs": n_epochs, "converged": converged,
                "fell_back": fell_back}

    def _run_epoch(self, params, train, members, rng):
        if train.labels is not None:
            batches = self._class_batches(members, rng)
        else:
            batches = constraint_batches(train.constraints.shape[0], self.batch_size,
                                         rng)
        total_loss = 0.0
        total_active = total_terms = 0
        for batch in batches:
            if train.labels is not None:
                X_batch = train.X[batch]
                embedding_loss = self._labelled_loss(train.labels[batch], rng)
            else:
                rows, local = np.unique(train.constraints[batch], return_inverse=True)
                X_batch = train.X[rows]
                extra = None if train.extra is None else train.extra[batch]
                local = local.reshape(-1, train.constraints.shape[1])
                embedding_loss = self._constraint_loss(local.astype(np.int64), extra)
            coefs, intercepts, skip = self._unpack(params)
            loss, coef_grads, intercept_grads, skip_grad, n_active, n_terms = (
                network_loss_grad(X_batch, coefs, intercepts, embedding_loss,
                                  self.activation, self.normalize, self.alpha, skip,
                                  self._n_threads)
            )
            grads = coef_grads + intercept_grads
            if skip_grad is not None:
                grads.append(skip_grad)
            self._optimizer.update(params, grads)
            total_loss += loss
            total_active += n_active
            total_terms += n_terms
        return total_loss / len(batches), total_active, total_terms

    def _class_batches(self, members, rng):
        """One epoch of batches of labelled rows (a hook for subclasses)."""
        return class_batches(members, self.batch_size, self.n_samples_per_class, rng)

    def _validation_score(self, params, train, validation):
        """Held-out scores of a network, ``(merit, guard)``: see
        :func:`held_out_scores`. Rows are embedded block by block."""
        def embed(X):
            return _embed_blocks(X, *self._unpack(params), self.activation,
                                 self.normalize, _VALIDATION_EMBED_ROWS,
                                 self._n_threads)

        return held_out_scores(embed, train, validation, self._constraint_score,
                               self._n_threads)

    def _warn_if_collapsed(self, train):
        if train.labels is not None:
            X = train.X
        else:
            X = train.X[np.unique(train.constraints)]
        step = max(1, X.shape[0] // _COLLAPSE_ROWS)
        embedding = self._embed(X[::step])
        if embedding_collapsed(embedding):
            warnings.warn(
                f"{type(self).__name__}: the embedding has collapsed (every point maps "
                "to nearly the same place), as too-hard mining, a too-high "
                "learning rate or unstandardised input can cause; try "
                "miner='semihard', a smaller learning_rate_init, or standardise X.",
                EmbeddingCollapseWarning,
                stacklevel=3,
            )

    def _embed(self, X):
        """Embed already validated float64 rows (no checks), block by block.

        Blocks of ``_EMBED_ROWS`` rows bound the memory of the hidden activations,
        whatever the number of rows.
        """
        return _embed_blocks(X, self.coefs_, self.intercepts_, self.skip_,
                             self.activation, self.normalize)


def _projected(data, basis):
    """The same training data with its rows projected on ``basis`` (or None)."""
    if data is None:
        return None
    return _TrainingData(data.X @ basis, labels=data.labels,
                         constraints=data.constraints, extra=data.extra)
def _embed_blocks(X, coefs, intercepts, skip, activation, normalize,
                  piece_rows=None, n_threads=1):
    """The network's embedding of X, in pieces of ``_EMBED_ROWS`` rows (or of
    ``piece_rows`` if fewer) shared out over ``n_threads`` threads."""
    step = _EMBED_ROWS if piece_rows is None else min(piece_rows, _EMBED_ROWS)
    starts = range(0, X.shape[0], step)
    if len(starts) == 1:
        return forward(X, coefs, intercepts, activation, normalize, skip)[0]
    embedding = np.empty((X.shape[0], coefs[-1].shape[1]))

    def embed_pieces(first, stop):
        for piece in range(first, stop):
            rows = slice(starts[piece], starts[piece] + step)
            embedding[rows] = forward(X[rows], coefs, intercepts, activation,
                                      normalize, skip)[0]

    map_on_threads(embed_pieces, len(starts), n_threads)
    return embedding


def embedding_collapsed(embedding):
    """True when the spread of the rows is below ``_COLLAPSE_RATIO`` of their size.

    Spread is the RMS distance to the mean row, size the RMS norm of the rows.
    """
    size = np.sqrt(np.mean(np.einsum("ij,ij->i", embedding, embedding)))
    centred = embedding - embedding.mean(axis=0)
    spread = np.sqrt(np.mean(np.einsum("ij,ij->i", centred, centred)))
    return bool(size == 0.0 or spread < _COLLAPSE_RATIO * size)


def _warn_if_badly_scaled(estimator, X):
    std = X.std(axis=0)
    nonzero = std[std > 0.0]
    if nonzero.size and nonzero.max() > _SCALE_RATIO * np.median(nonzero):
        warnings.warn(
            f"{type(estimator).__name__}: feature standard deviations range from "
            f"{nonzero.min():.3g} to {nonzero.max():.3g}; standardise X (for example "
            "with StandardScaler) so that every feature counts.",
            UserWarning,
            stacklevel=4,
        )
    elif nonzero.size and not (
        1.0 / _SCALE_RATIO <= np.median(nonzero) <= _SCALE_RATIO
    ):
        warnings.warn(
            f"{type(estimator).__name__}: the features' median standard deviation "
            f"is {np.median(nonzero):.3g}, far from 1; the network starts at unit "
            "scale, so standardise X (for example with StandardScaler).",
            UserWarning,
            stacklevel=4,
        )
