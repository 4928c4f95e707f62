"""Docstring prose shared by the deep embedding estimators."""

from .._threads import N_JOBS_DOC

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
        set for this case.
    skip : {'pca', 'whitened_pca'} or None, default='pca'
        A linear skip path from the input to the output layer, ``f(x) = mlp(x) +
        x @ skip_``, trained with the rest. 'pca' starts it at the projection on
        the ``n_components`` leading principal components of the training rows
        (scaled to an RMS norm of 1), with the MLP's output layer at zero, so that
        the untrained network is the PCA projection (with ``normalize``, its
        cosine geometry). With early stopping it also gives the fall-back: the
        principal directions with one output coordinate held at a large
        constant, whose normalised embedding ranks distances as the input space
        does (on ``min(n_features, n_components - 1)`` directions), kept when no
        trained network (nor the start) is as good on the held-out data.
        'whitened_pca' divides each component by its standard deviation in the
        start. None: the plain MLP, every layer drawn at random, and no
        fall-back.""",
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
        Improvement of the validation score (or of the training loss without
        early stopping) below which an epoch counts as no progress.
    n_iter_no_change : int, default=10
        Training stops after this many epochs in a row without progress, and
        counts as converged; a fit that reaches ``max_iter`` while still
        progressing emits a ``ConvergenceWarning``.
    early_stopping : 'auto' or bool, default='auto'
        Hold out part of the training data (see ``validation``), score it before
        training and after every epoch, stop when the mean held-out score has
        not improved by ``tol`` for ``n_iter_no_change`` epochs, and return the
        best network that is no worse than the input space on held-out data
        (see Notes of the estimator: the starting network and every epoch are
        candidates, and a network with the input's Euclidean geometry is the
        fall-back). 'auto' does so unless the data are too small to hold
        anything out (then training stops on the training loss); True raises a
        ValueError then.
    validation : {'auto', 'classes', 'samples', 'both'}, default='auto'
        What early stopping holds out of labelled data. 'samples':
        ``validation_fraction`` of the rows of every class (each keeps at least
        two training rows), retrieved among the training rows: the closed-set
        use (a ``KNeighborsClassifier`` on the same classes), scored by their
        MAP@R, with their 3-NN accuracy as the guard against the fall-back.
        'classes': whole classes (``round(validation_fraction * n_classes)``, at
        least 2, leaving at least 2 to train on), scored by the MAP@R of their
        rows, leave-one-out, in a gallery of all the rows (classes never seen in
        training, kept apart from each other and from the seen ones): the
        unseen-class use. 'both': whole classes first, then
        ``validation_fraction`` of the rows of the others; the mean of the two
        MAP@R picks the network, which must match the fall-back on the 3-NN
        accuracy and on the unseen classes' MAP@R. 'auto': 'classes' when y has
        at least 4 classes, else 'samples'. 'both' trains longer (about 2-3
        times the epochs on digits) and, measured on the main job's sets, raised
        closed-set kNN accuracy on some sets (vehicle, digits, optdigits) but
        lowered unseen-class MAP@R on others (usps, digits, pendigits), so it
        is not the default. Explicit constraints hold out constraints (see
        ``fit``).
    validation_fraction : float, default=0.1
        Fraction held out for early stopping: of the classes, of the rows of each
        class, or of the constraints.
    warm_start : bool, default=False
        Start ``fit`` from the previous network and the optimiser's state,
        instead of a new network. If the architecture asked for (input width,
        ``hidden_layer_sizes``, ``n_components``, ``skip``) differs from the
        fitted one, ``fit`` trains a new network (with a UserWarning unless only
        the input width changed) and ``partial_fit`` raises a ValueError.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the batches, the validation split and the random
        choices of the miners.
    verbose : int, default=0
        0 prints nothing, 1 a start line and a summary, 2 and more one line per
        epoch: mean batch loss, fraction of active pairs or triplets (non-zero
        loss among those selected), validation score, elapsed seconds.
""" + N_JOBS_DOC + """
        What runs on these threads, in pieces of fixed size: the network's
        forward and backward passes of every batch (64 rows a piece; BLAS
        keeps one thread per piece, as a batch's products are too small for
        BLAS's own threads to pay off), the batch's distances and their
        gradient, the mining and loss of :class:`DeepTriplet` and
        :class:`DeepTripletTracklets` (split by anchor; every miner but
        'distance_weighted') and :class:`DeepSiamese`'s pair selection and
        loss (split by anchor), and the early stopping's embedding and ranking
        of the held-out rows of unseen classes. The pieces do not depend on ``n_jobs`` and their gradients are summed in
        one order, so the model is bit-identical for every ``n_jobs``
        (tested).""",
    "attributes": """\
    coefs_ : list of ndarray of shape (n_layer_inputs, n_layer_outputs)
        Weight matrix of every layer, input layer first.
    intercepts_ : list of ndarray of shape (n_layer_outputs,)
        Bias vector of every layer.
    loss_curve_ : list of float
        Mean batch loss (penalty included) of every epoch.
    skip_ : ndarray of shape (n_features_in_, n_components) or None
        The linear skip path, or None with ``skip=None``.
    validation_scores_ : list of float or None
        Validation score of the starting network, then of every epoch, when data
        were held out (``n_iter_ + 1`` values for a fit), else None.
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
