"""Datasets, train/test splits, scaling and the kNN score every method is judged by.

Datasets come from two places and are never copied into the repository:

- scikit-learn's bundled sets ``iris``, ``wine``, ``breast_cancer`` and ``digits``
  (no download); these names take precedence over files of the same name;
- every ``NAME.npz`` in the shared data folder, given by the environment variable
  ``SKMETRIC_DATA`` or else ``<repo root>/../shared/data`` (its ``README.md``
  describes each file).
"""

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn import datasets as sk_datasets
from sklearn.decomposition import PCA
from sklearn.model_selection import StratifiedShuffleSplit, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

REPO_ROOT = Path(__file__).resolve().parent.parent

_BUNDLED = {
    "breast_cancer": sk_datasets.load_breast_cancer,
    "digits": sk_datasets.load_digits,
    "iris": sk_datasets.load_iris,
    "wine": sk_datasets.load_wine,
}

# Files whose canonical split is given by a `group` array: (train group, test group).
_GROUP_SPLITS = {"isolet": (1, 5)}


@dataclass(frozen=True, eq=False)
class Dataset:
    """A classification dataset ready for benchmarking.

    Attributes
    ----------
    name : str
        Name passed to :func:`load_dataset`.
    X : ndarray of shape (n_samples, n_features)
        Features, float64, C-contiguous, unscaled.
    y : ndarray of shape (n_samples,)
        Labels, int64, encoded as ``0..n_classes-1``.
    predefined : tuple of (ndarray, ndarray) or None
        The source's canonical ``(train_idx, test_idx)`` split, int64, if any.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    predefined: tuple | None = None

    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def n_features(self):
        return self.X.shape[1]

    @property
    def n_classes(self):
        return int(self.y.max()) + 1


def data_dir():
    """Return the shared data folder: ``$SKMETRIC_DATA`` or ``../shared/data``."""
    env = os.environ.get("SKMETRIC_DATA")
    if env:
        return Path(env)
    return REPO_ROOT.parent / "shared" / "data"


def available_datasets():
    """Return the sorted names :func:`load_dataset` accepts on this machine.

    Returns
    -------
    names : list of str
    """
    folder = data_dir()
    files = {path.stem for path in folder.glob("*.npz")} if folder.is_dir() else set()
    return sorted(set(_BUNDLED) | files)


def load_dataset(name):
    """Load a dataset by name.

    Parameters
    ----------
    name : str
        One of :func:`available_datasets`.

    Returns
    -------
    dataset : Dataset
        ``predefined`` is set from ``is_test`` where the file has it, and for
        isolet from ``group`` (train ``group == 1``, test ``group == 5``).
    """
    if name in _BUNDLED:
        X, y = _BUNDLED[name](return_X_y=True)
        return _make_dataset(name, X, y)
    path = data_dir() / f"{name}.npz"
    if not path.is_file():
        raise ValueError(
            f"Unknown dataset {name!r}: not bundled with scikit-learn and no file "
            f"{path}. Available: {', '.join(available_datasets())}."
        )
    with np.load(path, allow_pickle=False) as archive:
        X, y = archive["X"], archive["y"]
        test_mask = None
        if "is_test" in archive:
            test_mask = archive["is_test"].astype(bool)
            train_mask = ~test_mask
        elif name in _GROUP_SPLITS and "group" in archive:
            train_group, test_group = _GROUP_SPLITS[name]
            group = archive["group"]
            train_mask, test_mask = group == train_group, group == test_group
    predefined = None
    if test_mask is not None:
        predefined = (
            np.flatnonzero(train_mask).astype(np.int64),
            np.flatnonzero(test_mask).astype(np.int64),
        )
    return _make_dataset(name, X, y, predefined)


def _make_dataset(name, X, y, predefined=None):
    X = np.ascontiguousarray(X, dtype=np.float64)
    _, y = np.unique(y, return_inverse=True)
    return Dataset(name, X, y.astype(np.int64), predefined)


def make_splits(
    dataset,
    n_splits=5,
    seed=0,
    test_size=0.3,
    *,
    max_train=None,
    use_predefined=True,
):
    """Return the train/test index pairs a benchmark runs on.

    Parameters
    ----------
    dataset : Dataset
        The dataset to split.
    n_splits : int, default=5
        Number of random stratified splits; ignored when the predefined split is
        used, which gives exactly one split.
    seed : int, default=0
        Seed of the splits and of the subsampling.
    test_size : float, default=0.3
        Test fraction of the random splits.
    max_train : int, default=None
        If set, each training part larger than this is subsampled to this many
        rows, stratified and reproducibly (the test part is kept whole).
    use_predefined : bool, default=True
        Use the dataset's predefined split when it has one.

    Returns
    -------
    splits : list of (ndarray, ndarray)
        ``(train_idx, test_idx)`` pairs, int64, sorted.
    """
    y = dataset.y
    if use_predefined and dataset.predefined is not None:
        pairs = [dataset.predefined]
    else:
        splitter = StratifiedShuffleSplit(
            n_splits=n_splits, test_size=test_size, random_state=seed
        )
        pairs = list(splitter.split(np.zeros((len(y), 1)), y))
    splits = []
    for i, (train, test) in enumerate(pairs):
        if max_train is not None and len(train) > max_train:
            random_state = int(np.random.default_rng([seed, i]).integers(2**31))
            train, _ = train_test_split(
                train,
                train_size=max_train,
                stratify=y[train],
                random_state=random_state,
            )
        splits.append((np.sort(train).astype(np.int64), np.sort(test).astype(np.int64)))
    return splits


def scaled(X_train, X_test, max_dim=None):
    """Standardise both parts with a ``StandardScaler`` fit on the training part.

    With ``max_dim``, data with more features are then projected on their first
    ``max_dim`` principal components (PCA fit on the training part), as the LMNN
    paper did for its high-dimensional sets.

    Parameters
    ----------
    X_train : ndarray of shape (n_train, n_features)
    X_test : ndarray of shape (n_test, n_features)
    max_dim : int, default=None

    Returns
    -------
    X_train_scaled : ndarray of shape (n_train, n_features)
    X_test_scaled : ndarray of shape (n_test, n_features)
        Both float64, C-contiguous.
    """
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    if max_dim and X_train.shape[1] > max_dim:
        pca = PCA(max_dim, random_state=0).fit(X_train)
        X_train, X_test = pca.transform(X_train), pca.transform(X_test)
    return (
        np.ascontiguousarray(X_train, dtype=np.float64),
        np.ascontiguousarray(X_test, dtype=np.float64),
    )


def knn_accuracy(Z_train, y_train, Z_test, y_test, n_neighbors=3):
    """Return the test accuracy of ``KNeighborsClassifier(n_neighbors)``.

    Parameters
    ----------
    Z_train : ndarray of shape (n_train, n_components)
        Training part, already transformed.
    y_train : ndarray of shape (n_train,)
    Z_test : ndarray of shape (n_test, n_components)
        Test part, transformed the same way.
    y_test : ndarray of shape (n_test,)
    n_neighbors : int, default=3

    Returns
    -------
    accuracy : float
    """
    knn = KNeighborsClassifier(n_neighbors=n_neighbors).fit(Z_train, y_train)
    return float(knn.score(Z_test, y_test))


def open_set_splits(dataset, n_splits=3, seed=0, *, max_train=None):
    """Class-disjoint splits for unseen-class tasks (retrieval, verification).

    For split ``i`` the classes are permuted with ``default_rng([seed, i])``: the
    first half (rounded down, at least one class) is seen in training, the rest
    is never seen. Every row of a seen class goes to training, every row of an
    unseen class to the test part, so no class is on both sides. Scalers and
    projections must be fit on the training part only (``scaled`` does so).

    Parameters
    ----------
    dataset : Dataset
    n_splits : int, default=3
    seed : int, default=0
    max_train : int, default=None
        If set, a larger training part is subsampled to this many rows,
        stratified and reproducibly (the unseen part is kept whole).

    Returns
    -------
    splits : list of (ndarray, ndarray)
        ``(train_idx, test_idx)`` pairs, int64, sorted.
    """
    y = dataset.y
    classes = np.unique(y)
    if classes.shape[0] < 2:
        raise ValueError(f"{dataset.name}: an open-set split needs at least 2 classes.")
    n_seen = max(1, classes.shape[0] // 2)
    splits = []
    for i in range(n_splits):
        rng = np.random.default_rng([seed, i])
        seen = rng.permutation(classes)[:n_seen]
        in_train = np.isin(y, seen)
        train, test = np.flatnonzero(in_train), np.flatnonzero(~in_train)
        if max_train is not None and len(train) > max_train:
            train, _ = train_test_split(
                train,
                train_size=max_train,
                stratify=y[train],
                random_state=int(rng.integers(2**31)),
            )
        splits.append((np.sort(train).astype(np.int64), np.sort(test).astype(np.int64)))
    return splits
