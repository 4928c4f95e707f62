"""MLKR: Metric Learning for Kernel Regression (Weinberger & Tesauro 2007)."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import validate_data

from ._base import MahalanobisMixin
from ._nca import SOFTMAX_CONSTRAINTS
from ._softmax_solver import fit_softmax_learner
from ._validation import check_params


class MLKR(MahalanobisMixin, TransformerMixin, BaseEstimator):
    """Metric Learning for Kernel Regression (Weinberger & Tesauro 2007).

    Learns the linear map L under which a Gaussian-kernel regression (the
    Nadaraya-Watson estimate) predicts each training target best from the
    other points: the leave-one-out squared error is minimised. Targets are
    real numbers; the learned metric stretches the directions the target
    depends on and shrinks the others. It shares NCA's neighbour-softmax
    machinery: the kernel weights are the softmax of minus the squared learned
    distances, computed block by block of rows, exactly or over each point's
    nearest candidates.

    Parameters
    ----------
    n_components : int, default=None
        Dimension of the embedding (rows of L). None keeps ``n_features``.
    init : {'auto', 'pca', 'identity', 'random'} or ndarray of shape \
(n_components, n_features), default='auto'
        Starting L. 'auto' picks 'pca' when ``n_components < min(n_features,
        n_samples)`` and 'identity' otherwise. 'lda' needs classes and is
        refused.
    n_neighbors : int, default=None
        None: the exact kernel sum over all other points. An int k truncates it
        to the k nearest other points in the current metric, as in :class:`NCA`.
    max_iter : int, default=200
        Maximum number of L-BFGS iterations (in all, when truncated).
    tol : float, default=1e-5
        Convergence check: the largest entry of the gradient of the loss (the
        mean squared leave-one-out error, in squared units of y) at most
        ``tol`` times the variance of y. Otherwise a ``ConvergenceWarning`` is
        emitted.
    random_state : int, RandomState instance or None, default=None
        Seeds ``init='random'`` (and PCA's randomized solver for 'pca').
    verbose : int, default=0
        0 prints nothing, 1 a start line and a summary, 2 and more one line per
        iteration (loss, largest gradient entry, elapsed seconds).
    n_jobs : int, default=None
        Threads of the fit, as in :class:`NCA`; the fitted model agrees to
        rounding.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The learned linear map L.
    n_iter_ : int
        Number of L-BFGS iterations run.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    NCA : The same softmax for class labels.

    Notes
    -----
    With :math:`p_{ik} = \\exp(-\\|L x_i - L x_k\\|^2) / \\sum_{l \\neq i}
    \\exp(-\\|L x_i - L x_l\\|^2)` and :math:`\\hat y_i = \\sum_k p_{ik} y_k`, MLKR
    minimises

    .. math::
        f(L) = \\frac{1}{n} \\sum_i (\\hat y_i - y_i)^2, \\qquad
        \\nabla f = \\frac{2}{n} L \\sum_{i,k} 2 (\\hat y_i - y_i)
        (\\hat y_i - y_k) p_{ik} (x_i - x_k)(x_i - x_k)^T,

    by L-BFGS (scipy), the targets scaled to unit variance inside the fit (so
    ``tol`` does not depend on the units of y; the learned L does not change).
    The paper sums the errors; the mean has the same minimisers. Cost and
    memory as :class:`NCA`.

    References
    ----------
    .. [1] K. Q. Weinberger and G. Tesauro. "Metric Learning for Kernel
       Regression". AISTATS 2007.

    Examples
    --------
    >>> import numpy as np
    >>> from skmetric import MLKR
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 4))
    >>> y = np.sin(2 * X[:, 0])
    >>> mlkr = MLKR(random_state=0).fit(X, y)
    >>> weights = np.linalg.norm(mlkr.components_, axis=0)
    >>> int(np.argmax(weights))
    0
    """

    _parameter_constraints = SOFTMAX_CONSTRAINTS

    def __init__(
        self,
        n_components=None,
        *,
        init="auto",
        n_neighbors=None,
        max_iter=200,
        tol=1e-5,
        random_state=None,
        verbose=0,
        n_jobs=None,
    ):
        self.n_components = n_components
        self.init = init
        self.n_neighbors = n_neighbors
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def fit(self, X, y):
        """Learn the linear map from real-valued targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples.
        y : array-like of shape (n_samples,)
            Real-valued targets.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        check_params(self)
        X, y = validate_data(self, X, y, dtype=np.float64, order="C",
                             ensure_min_samples=2, y_numeric=True)
        if isinstance(self.init, str) and self.init == "lda":
            raise ValueError(
                "init='lda' needs class labels; MLKR learns from real-valued "
                "targets. Use init='auto', 'pca', 'identity' or 'random'."
            )
        y = np.asarray(y, dtype=np.float64)
        spread = y.std()
        if not spread > 0.0:
            raise ValueError(
                f"MLKR needs targets that vary; every value of y is {y[0]!r}, so "
                "every metric predicts them equally well."
            )
        targets = np.ascontiguousarray((y - y.mean()) / spread)
        init_labels = np.zeros(X.shape[0], dtype=np.int64)
        return fit_softmax_learner(self, X, targets, "mlkr", init_labels)
