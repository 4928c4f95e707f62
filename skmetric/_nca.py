"""NCA: Neighbourhood Components Analysis (Goldberger et al. 2005)."""

from numbers import Integral, Real

from sklearn.base import BaseEstimator, TransformerMixin

from ._base import MahalanobisMixin
from ._init import INIT_OPTIONS
from ._softmax_solver import fit_softmax_learner
from ._threads import N_JOBS_CONSTRAINT
from ._validation import Interval, StrOptions, check_params, check_X_y_classes

SOFTMAX_CONSTRAINTS = {
    "n_components": [Interval(Integral, 1, None, closed="left"), None],
    "init": [StrOptions(INIT_OPTIONS), "array-like"],
    "n_neighbors": [Interval(Integral, 1, None, closed="left"), None],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "n_jobs": N_JOBS_CONSTRAINT,
}


class NCA(MahalanobisMixin, TransformerMixin, BaseEstimator):
    """Neighbourhood Components Analysis (Goldberger et al. 2005).

    Learns the linear map L that maximises the expected leave-one-out accuracy
    of a stochastic nearest-neighbour classifier: each point picks another as
    its neighbour with probability decreasing with their squared learned
    distance. The probabilities and their gradient are computed block by block
    of rows (memory O(n) per row block, never an n x n matrix), exactly, or,
    with ``n_neighbors``, over each point's nearest candidates only, which runs
    at a hundred thousand points.

    Parameters
    ----------
    n_components : int, default=None
        Dimension of the embedding (rows of L). None keeps ``n_features``.
    init : {'auto', 'pca', 'lda', 'identity', 'random'} or ndarray of shape \
(n_components, n_features), default='auto'
        Starting L. 'auto' picks 'lda' when ``n_components <= min(n_features,
        n_classes - 1)``, 'pca' when ``n_components < min(n_features,
        n_samples)``, 'identity' otherwise (as scikit-learn's
        ``NeighborhoodComponentsAnalysis``).
    n_neighbors : int, default=None
        None: the exact softmax over all other points, O(n^2 (n_components +
        n_features)) a gradient. An int k truncates each point's softmax to its
        k nearest other points in the current metric (O(n k (n_components +
        n_features)) a gradient, plus O(n^2 n_components) each time the
        candidates are recomputed); see Notes.
    max_iter : int, default=200
        Maximum number of L-BFGS iterations (in all, when truncated).
    tol : float, default=1e-5
        Convergence check: the largest entry of the gradient of the loss (minus
        the mean probability of a correct classification, a number in [-1, 0])
        at most ``tol``. Otherwise a ``ConvergenceWarning`` is emitted.
    random_state : int, RandomState instance or None, default=None
        Seeds ``init='random'`` (and PCA's randomized solver for 'pca').
    verbose : int, default=0
        0 prints nothing, 1 a start line and a summary, 2 and more one line per
        iteration (loss, largest gradient entry, elapsed seconds).
    n_jobs : int, default=None
        Threads of the fit (BLAS and skmetric's own parallel loops together).
        None uses every core the surroundings allow: the cores of the machine,
        capped by any limit already in place (a ``threadpoolctl`` limit, the
        one-thread limit of a joblib worker inside ``GridSearchCV(n_jobs=k)``,
        ``OMP_NUM_THREADS``, ``numba.set_num_threads``). -1 means every core,
        -2 all but one, and so on; a positive value is capped the same way.
        The fitted model agrees to rounding (BLAS sums in another order with
        another number of threads; the softmax kernels give the same bits).

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
    MLKR : The same softmax for regression targets.
    LMNN : Large margin nearest neighbour metric learning.

    Notes
    -----
    With :math:`p_{ik} = \\exp(-\\|L x_i - L x_k\\|^2) / \\sum_{l \\neq i}
    \\exp(-\\|L x_i - L x_l\\|^2)` (:math:`p_{ii} = 0`) and :math:`p_i =
    \\sum_{k: y_k = y_i} p_{ik}`, NCA minimises

    .. math::
        f(L) = -\\frac{1}{n} \\sum_i p_i, \\qquad
        \\nabla f = \\frac{2}{n} L \\sum_{i,k} p_{ik} ([y_k = y_i] - p_i)
        (x_i - x_k)(x_i - x_k)^T,

    by L-BFGS (scipy). The sum over pairs is assembled from row blocks of the
    distance matrix through BLAS (``X^T (W X)``), the softmax and the pair
    weights in numba, in blocks of at most 32 MiB that share one buffer
    allocated per fit (the weights written over the distances): about 50 MB of
    working memory at 16 000 points. Each row's softmax is shifted by its
    smallest distance, so it never underflows.

    Truncation (``n_neighbors=k``): each sum over l runs over the k nearest
    other points of i in the current metric instead of all of them; points
    further away carry less than ``exp(-(d_k^2 - d_1^2))`` each. L-BFGS runs
    on fixed candidates; they are then recomputed at its end point and the
    check is made on the objective with the new candidates; the fit goes on
    from there until the check holds or ``max_iter`` is spent. The truncated
    fit works on the rows sorted by class (the same problem, with the rows of
    a point's candidates close together in memory: an evaluation 13% faster
    at 100 000 rows x 50); of two candidates at exactly the same distance,
    the one earlier in that order counts as the nearer.

    The loss is invariant under an orthogonal map of the embedding (``Q L``),
    so L itself is defined up to one.

    References
    ----------
    .. [1] J. Goldberger, S. Roweis, G. Hinton and R. Salakhutdinov.
       "Neighbourhood Components Analysis". NIPS 2005.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skmetric import NCA
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), NCA(random_state=0),
    ...                       KNeighborsClassifier(n_neighbors=3))
    >>> print(round(cross_val_score(model, X, y, cv=5).mean(), 3))
    0.967
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
        """Learn the linear map from class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples.
        y : array-like of shape (n_samples,)
            Class labels: at least two classes, each of at least two samples.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        check_params(self)
        X, y_encoded, _ = check_X_y_classes(self, X, y)
        return fit_softmax_learner(self, X, y_encoded, "nca", y_encoded)
