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
from .._threads import N_JOBS_CONSTRAINT, N_JOBS_DOC, thread_limits
from .._validation import (
    Interval,
    StrOptions,
    check_params,
    check_X,
    check_X_y_classes,
    class_members,
)
from ..metrics import map_at_r
from ._batches import (
    class_batches,
    constraint_batches,
    split_classes,
    split_constraints,
)
from ._network import ACTIVATIONS, forward, init_parameters, network_loss_grad
from ._optim import make_optimizer

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
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
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
        return _TrainingData(self.X, constraints=self.constraints[rows], extra=extra)


class DeepEmbeddingBase(ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                        BaseEstimator):
    """Shared fit/transform of :class:`DeepSiamese` and :class:`DeepTriplet`."""

    # Name of the keyword that passes explicit constraints to fit ("pairs" or
    # "triplets"), set by each subclass.
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
            self.coefs_[0].shape[0] == data.X.shape[1]
        )
        self._check_own_params()
        self._check_batching(data)
        _warn_if_badly_scaled(self, data.X)
        if partial and continuing:
            rng = self._rng
        else:
            rng = check_random_state(self.random_state)
        train, validation = self._split(data, rng, use=self.early_stopping and
                                        not partial)

        params = self._initial_parameters(data.X.shape[1], rng, continuing)
        printer = self._printer(validation is not None)
        printer.start(self._start_message(data, train, validation))
        max_iter = 1 if partial else self.max_iter
        with thread_limits(self.n_jobs, blas_threads=_TRAINING_BLAS_THREADS):
            history = self._run_epochs(params, train, validation, max_iter, rng,
                                       printer)

        n_coefs = len(params) // 2
        self.coefs_, self.intercepts_ = params[:n_coefs], params[n_coefs:]
        previous = self.loss_curve_ if continuing else []
        self.loss_curve_ = previous + history["losses"]
        self.n_iter_ = (self.n_iter_ if continuing else 0) + history["n_epochs"]
        self.validation_scores_ = history["scores"] if validation is not None else None
        self.best_validation_score_ = (
            history["best_score"] if validation is not None else None
        )
        self._rng = rng
        printer.summary(
            f"{'Converged' if history['converged'] else 'Stopped'} after "
            f"{history['n_epochs']} epochs, loss {self.loss_curve_[-1]:.6f},"
        )
        self._warn_if_collapsed(train)
        if not partial and not history["converged"]:
            warn_not_converged(self, self.max_iter, "(epochs)")
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

    def _split(self, data, rng, use):
        if not use:
            return data, None
        if data.labels is not None:
            train, validation = split_classes(data.labels, self.validation_fraction,
                                              rng)
        else:
            train, validation = split_constraints(
                data.constraints.shape[0], self.validation_fraction, rng, data.extra
            )
        if validation.shape[0] == 0:
            what = ("no point (every class keeps at least 2 training points)"
                    if data.labels is not None else f"none of the "
                    f"{data.constraints.shape[0]} {self._constraint_name}")
            raise ValueError(
                f"validation_fraction={self.validation_fraction} holds out {what}; "
                "raise it or set early_stopping=False."
            )
        return data.subset(train), data.subset(validation)

    def _initial_parameters(self, n_features, rng, continuing):
        if continuing:
            params = [p.copy() for p in self.coefs_ + self.intercepts_]
            if getattr(self, "_optimizer_key", None) == self._optimizer_spec():
                return params
        else:
            coefs, intercepts = init_parameters(self._layer_sizes(n_features), rng)
            params = coefs + intercepts
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
        n_coefs = len(params) // 2
        losses, scores = [], []
        best_loss, best_score, best_params = np.inf, -np.inf, None
        n_stale = 0
        converged = False
        n_epochs = 0
        members = class_members(train.labels) if train.labels is not None else None
        for epoch in range(max_iter):
            loss, n_active, n_terms = self._run_epoch(params, n_coefs, train, members,
                                                      rng)
            n_epochs += 1
            losses.append(loss)
            row = [epoch + 1, loss, n_active / max(n_terms, 1)]
            if validation is not None:
                score = self._validation_score(params, n_coefs, train, validation)
                scores.append(score)
                row.append(score)
                improved = score > best_score + self.tol
                if score > best_score:
                    best_score = score
                    best_params = [p.copy() for p in params]
            else:
                improved = loss < best_loss - self.tol
                best_loss = min(best_loss, loss)
            n_stale = 0 if improved else n_stale + 1
            printer.row(*row, printer.elapsed)
            if n_stale >= self.n_iter_no_change:
                converged = True
                break
        if best_params is not None:
            params[:] = best_params
        return {"losses": losses, "scores": scores, "best_score": best_score,
                "n_epochs": n_epochs, "converged": converged}

    def _run_epoch(self, params, n_coefs, train, members, rng):
        if train.labels is not None:
            batches = class_batches(members, self.batch_size, self.n_samples_per_class,
                                    rng)
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
            loss, coef_grads, intercept_grads, n_active, n_terms = network_loss_grad(
                X_batch, params[:n_coefs], params[n_coefs:], embedding_loss,
                self.activation, self.normalize, self.alpha,
            )
            self._optimizer.update(params, coef_grads + intercept_grads)
            total_loss += loss
            total_active += n_active
            total_terms += n_terms
        return total_loss / len(batches), total_active, total_terms

    def _validation_score(self, params, n_coefs, train, validation):
        def embed(X):
            return forward(X, params[:n_coefs], params[n_coefs:], self.activation,
                           self.normalize)[0]

        if validation.labels is not None:
            return map_at_r(embed(validation.X), validation.labels,
                            X_ref=embed(train.X), y_ref=train.labels)
        rows, local = np.unique(validation.constraints, return_inverse=True)
        local = local.reshape(validation.constraints.shape).astype(np.int64)
        return self._constraint_score(embed(validation.X[rows]), local,
                                      validation.extra)

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
        blocks = [
            forward(X[start:start + _EMBED_ROWS], self.coefs_, self.intercepts_,
                    self.activation, self.normalize)[0]
            for start in range(0, X.shape[0], _EMBED_ROWS)
        ]
        return blocks[0] if len(blocks) == 1 else np.vstack(blocks)


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


# Docstring prose shared by both estimators, spliced in where a class docstring
# says %(network_parameters)s, %(training_parameters)s or %(attributes)s.
SHARED_DOCS = {
    "network_parameters": """\
    hidden_layer_sizes : array-like of int, default=(256,)
        Widths of the hidden layers; ``()`` gives a linear embedding (followed by
        the normalisation if ``normalize``).
    activation : {'relu', 'tanh', 'leaky_relu', 'identity'}, default='relu'
        Activation of the hidden layers; the output layer is linear.
    normalize : bool, default=True
        Divide every embedding by its Euclidean norm, so that the embeddings lie
        on the unit sphere and distances are in [0, 2]. The default margins are
        set for this case.""",
    "training_parameters": """\
    solver : {'adam', 'sgd'}, default='adam'
        Adam, or stochastic gradient descent with Nesterov momentum.
    learning_rate_init : float, default=1e-3
        Step size of the optimiser.
    momentum : float, default=0.9
        Momentum of 'sgd'; unused by 'adam'.
    alpha : float, default=1e-2
        Strength of the L2 penalty ``alpha/2 * sum |W|^2`` on the weights (not on
        the biases), added to the mean loss of each batch.
    batch_size : int, default=256
        Rows per batch with class labels (made of groups of
        ``n_samples_per_class`` rows of one class); constraints per batch with
        explicit constraints.
    n_samples_per_class : int, default=8
        Rows of one class drawn together into a batch, so that every batch holds
        positives and negatives for mining. ``batch_size`` must be at least twice
        this. A class with fewer rows contributes all of them.
    max_iter : int, default=100
        Maximum number of epochs (passes over the training rows or constraints).
    tol : float, default=1e-4
        Improvement of the training loss (or of the validation score with
        ``early_stopping``) below which an epoch counts as no progress.
    n_iter_no_change : int, default=10
        Training stops after this many epochs in a row without progress.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, score it after
        every epoch and keep the network of the best epoch. With class labels the
        score is the MAP@R of the held-out rows retrieved among the training rows
        (:func:`skmetric.metrics.map_at_r`); with explicit constraints, see
        ``fit``.
    validation_fraction : float, default=0.1
        Fraction held out for early stopping, per class (every class keeps at
        least two training rows), or of the constraints.
    warm_start : bool, default=False
        Start ``fit`` from the previous network (if the width of X is the same)
        and the optimiser's state, instead of a new random network.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the batches, the validation split and the random
        choices of the miners.
    verbose : int, default=0
        0 prints nothing, 1 a start line and a summary, 2 and more one line per
        epoch: mean batch loss, fraction of active pairs or triplets (non-zero
        loss among those selected), validation score, elapsed seconds.
""" + N_JOBS_DOC,
    "attributes": """\
    coefs_ : list of ndarray of shape (n_layer_inputs, n_layer_outputs)
        Weight matrix of every layer, input layer first.
    intercepts_ : list of ndarray of shape (n_layer_outputs,)
        Bias vector of every layer.
    loss_curve_ : list of float
        Mean batch loss (penalty included) of every epoch.
    validation_scores_ : list of float or None
        Validation score of every epoch with ``early_stopping``, else None.
    best_validation_score_ : float or None
        Best validation score (its network is kept), else None.
    n_iter_ : int
        Number of epochs run.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.""",
}


def fill_docstring(cls):
    """Splice the shared prose into a class docstring (a class decorator)."""
    doc = cls.__doc__
    for key, text in SHARED_DOCS.items():
        doc = doc.replace(f"    %({key})s", text)
    cls.__doc__ = doc
    return cls
