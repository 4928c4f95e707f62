"""Grid search over skmetric pipelines on a dask.distributed cluster.

Runs with the ``dask`` extra (``pip install -e '.[dask]'``); skipped without it. The
cluster is local, but made of worker processes: the estimators, the data and the
fitted pipelines travel between processes as they would to a real cluster.
"""

import logging
import os
import sys

import pytest

distributed = pytest.importorskip("distributed")

import joblib  # noqa: E402
from numpy.testing import assert_array_equal  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skmetric import MahalanobisXing  # noqa: E402


@pytest.fixture(autouse=True)
def _restore_environment():
    """Starting a LocalCluster sets OMP_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1 (and
    more) in this process's os.environ for its workers; put it back, so that
    subprocesses of later tests do not inherit one BLAS thread."""
    saved = os.environ.copy()
    yield
    os.environ.clear()
    os.environ.update(saved)


def _worker_imported_skmetric():
    return "skmetric._xing" in sys.modules


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_grid_search_under_the_dask_backend_matches_local():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MahalanobisXing(random_state=0),
                         KNeighborsClassifier(3))
    grid = {"mahalanobisxing__diagonal": [False, True],
            "kneighborsclassifier__n_neighbors": [1, 5]}
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster, distributed.Client(cluster) as client:
        with joblib.parallel_backend("dask"):
            search = GridSearchCV(pipe, grid, cv=3, n_jobs=-1).fit(X, y)
        ran_there = client.run(_worker_imported_skmetric)
    assert len(ran_there) == 2 and all(ran_there.values()), ran_there
    local = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    assert_array_equal(search.cv_results_["mean_test_score"],
                       local.cv_results_["mean_test_score"])
    assert search.best_params_ == local.best_params_
    assert_array_equal(search.best_estimator_[:-1].transform(X),
                       local.best_estimator_[:-1].transform(X))
