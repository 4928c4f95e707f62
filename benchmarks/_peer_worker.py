"""Fit one peer library's metric learner in its own virtualenv.

Run by :func:`benchmarks._peers.run_peer` as ``<env python> _peer_worker.py
spec.json``; it must stay importable by every peer env, so it needs only the
standard library and NumPy at import time and imports each peer library inside
that peer's function.

Protocol
--------
``spec.json`` holds ``{"peer": NAME, "params": {...}, "data": PATH, "output":
PATH, "warmup": BOOL}``. ``data`` is an ``.npz`` with ``X_train`` (float64),
``y_train`` (int64) and ``X_test`` (float64), already scaled. The worker fits
the peer on the training part, timing the fit alone with ``time.perf_counter``
(after one untimed fit when ``warmup`` is true, so that lazy imports and
first-call set-up are not counted), and writes
the transformed ``train`` and ``test`` arrays to ``output`` (``.npz``). It then
prints one JSON line on stdout: ``status`` (``'ok'``, ``'missing'`` when the
peer library cannot be imported, ``'failed'`` when fitting or transforming
raises), ``reason``, ``fit_time`` (s), ``version`` and ``extra`` (a dict; it
always holds ``params``, the parameters in effect, ``cpu_time``, the process
CPU seconds of the fit, all threads together, and ``max_rss_mb``, the worker's
peak resident memory). Anything the libraries print goes to stderr.
The caller scores the transformed data, so every method is judged by the same
kNN.

Adding a peer
-------------
Write a function ``build(params) -> (fit, version)`` decorated with
:func:`register`: it imports the library (an ``ImportError`` here reports the
peer as missing) and returns ``fit(X, y) -> (transform, extra)``, where
``transform(X)`` maps any rows to the learned space and ``extra`` is a dict of
JSON-serialisable facts (``n_iter`` and the like). Give the env it runs in and
the defaults merged under the caller's ``params``, and list the accepted
parameter names in the docstring.
"""

import json
import os
import resource
import sys
import time
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from itertools import pairwise

import numpy as np


@dataclass(frozen=True)
class Peer:
    """A registered peer: its name, env, builder and default parameters.

    ``env`` is the name of a peer virtualenv made by ``benchmarks.setup_peers``,
    or None to run in the interpreter that calls ``run_peer``.
    """

    name: str
    env: str | None
    build: object
    defaults: dict = field(default_factory=dict)


PEERS = {}


def register(name, env, defaults=None):
    """Decorator adding a ``build(params)`` function to :data:`PEERS`."""

    def decorator(build):
        PEERS[name] = Peer(name, env, build, dict(defaults or {}))
        return build

    return decorator


def _fit_transformer(estimator):
    """Return ``fit(X, y)`` for a scikit-learn style transformer.

    ``extra`` holds ``n_iter`` and, for a learner exposing
    ``get_mahalanobis_matrix`` on at most 100 features, the learned matrix as
    nested lists (``metric``).
    """

    def fit(X, y):
        estimator.fit(X, y)
        extra = {"n_iter": getattr(estimator, "n_iter_", None)}
        if hasattr(estimator, "get_mahalanobis_matrix") and X.shape[1] <= 100:
            extra["metric"] = estimator.get_mahalanobis_matrix().tolist()
        return estimator.transform, extra

    return fit


@register("metric_learn.MMC_Supervised", env="legacy", defaults={"random_state": 0})
def _metric_learn_mmc(params):
    """metric-learn's ``MMC_Supervised`` (Xing et al. 2002), full or diagonal.

    Accepts its constructor arguments: ``max_iter``, ``max_proj``, ``tol``,
    ``n_constraints`` (None: ``20 * n_classes**2``), ``init``, ``diagonal``,
    ``diagonal_c``, ``verbose``, ``random_state``.
    """
    import metric_learn

    estimator = metric_learn.MMC_Supervised(**params)
    return _fit_transformer(estimator), metadata.version("metric-learn")


@register("metric_learn.MMC_pairs", env="legacy", defaults={"random_state": 0})
def _metric_learn_mmc_pairs(params):
    """metric-learn's ``MMC`` (Xing et al. 2002) on every pair of a labelled subset.

    Side information as in Xing's clustering experiments: rows with ``y >= 0``
    form the subset; every pair inside it is a constraint, similar when both
    labels agree; rows with ``y = -1`` are unlabelled and only transformed.
    Accepts its constructor arguments: ``max_iter``, ``max_proj``, ``tol``,
    ``init``, ``diagonal``, ``diagonal_c``, ``verbose``, ``random_state``.
    """
    import metric_learn

    def fit(X, y):
        labelled = np.flatnonzero(y >= 0)
        left, right = np.triu_indices(labelled.shape[0], k=1)
        pairs = np.column_stack((labelled[left], labelled[right]))
        same = np.where(y[pairs[:, 0]] == y[pairs[:, 1]], 1, -1)
        estimator = metric_learn.MMC(**params)
        estimator.fit(X[pairs], same)
        extra = {"n_iter": getattr(estimator, "n_iter_", None)}
        if X.shape[1] <= 100:
            extra["metric"] = estimator.get_mahalanobis_matrix().tolist()
        return estimator.transform, extra

    return fit, metadata.version("metric-learn")


@register("metric_learn.LMNN", env="legacy", defaults={"random_state": 0})
def _metric_learn_lmnn(params):
    """metric-learn's ``LMNN`` (gradient descent with an adaptive step).

    Accepts its constructor arguments: ``n_neighbors`` (0.7 renamed ``k`` to
    this), ``init``, ``min_iter``, ``max_iter``, ``learn_rate``,
    ``regularization``, ``convergence_tol``, ``n_components``, ``verbose``,
    ``random_state``.
    """
    import metric_learn

    estimator = metric_learn.LMNN(**params)
    return _fit_transformer(estimator), metadata.version("metric-learn")


@register("metric_learn.NCA", env="legacy", defaults={"random_state": 0})
def _metric_learn_nca(params):
    """metric-learn's ``NCA``.

    Accepts its constructor arguments: ``init``, ``n_components``,
    ``max_iter``, ``tol``, ``verbose``, ``random_state``.
    """
    import metric_learn

    estimator = metric_learn.NCA(**params)
    return _fit_transformer(estimator), metadata.version("metric-learn")


@register("pylmnn.LMNN", env="legacy", defaults={"random_state": 0})
def _pylmnn_lmnn(params):
    """PyLMNN's ``LargeMarginNearestNeighbor`` (L-BFGS on the LMNN loss).

    Accepts its constructor arguments: ``n_neighbors``, ``n_components``,
    ``init``, ``max_impostors``, ``neighbors_params``, ``weight_push_loss``,
    ``impostor_store``, ``max_iter``, ``tol``, ``verbose``, ``random_state``,
    ``n_jobs``.
    """
    from pylmnn import LargeMarginNearestNeighbor

    estimator = LargeMarginNearestNeighbor(**params)
    return _fit_transformer(estimator), metadata.version("PyLMNN")


@register("sklearn.NCA", env=None, defaults={"random_state": 0})
def _sklearn_nca(params):
    """scikit-learn's ``NeighborhoodComponentsAnalysis``, in the caller's interpreter.

    Accepts its constructor arguments: ``n_components``, ``init``,
    ``max_iter``, ``tol``, ``verbose``, ``random_state``.
    """
    from sklearn.neighbors import NeighborhoodComponentsAnalysis

    estimator = NeighborhoodComponentsAnalysis(**params)
    return _fit_transformer(estimator), metadata.version("scikit-learn")


@register("mlpack.lmnn", env="mlpack", defaults={"seed": 1})
def _mlpack_lmnn(params):
    """mlpack's ``lmnn`` binding (AMSGrad by default).

    Accepts the binding's keyword arguments: ``k``, ``regularization``,
    ``optimizer`` (``'amsgrad'``, ``'bbsgd'``, ``'sgd'``, ``'lbfgs'``),
    ``passes``, ``max_iterations``, ``step_size``, ``batch_size``,
    ``tolerance``, ``update_interval``, ``rank``, ``normalize``, ``center``,
    ``linear_scan``, ``seed`` (0 means seeded from the clock, so the default
    is 1), ``verbose``. The binding returns ``output`` of shape
    ``(n_features, rank)``, the transpose of the components: the learned
    space is ``X @ output`` (equal to its ``transformed_data``), after
    subtracting the training mean when ``center`` is set.
    """
    import mlpack

    def fit(X, y):
        result = mlpack.lmnn(input_=X, labels=y, **params)
        components = np.ascontiguousarray(result["output"].T)
        mean = X.mean(axis=0) if params.get("center") else np.zeros(X.shape[1])

        def transform(X_new):
            return (X_new - mean) @ components.T

        return transform, {"n_components": components.shape[0]}

    return fit, metadata.version("mlpack")


TRIPLET_DEFAULTS = {
    "hidden_layer_sizes": [128],
    "n_components": 32,
    "max_epochs": 50,
    "batch_size": 128,
    "learning_rate": 1e-3,
    "margin": 0.2,
    "miner": "semihard",
    "normalize": True,
    "random_state": 0,
    "n_threads": None,
}


@register("torch_pml.triplet", env="torch", defaults=TRIPLET_DEFAULTS)
def _torch_pml_triplet(params):
    """A ReLU MLP trained with pytorch-metric-learning's ``TripletMarginLoss``.

    Accepts ``hidden_layer_sizes`` (list of int), ``n_components`` (embedding
    size), ``max_epochs``, ``batch_size``, ``learning_rate`` (Adam),
    ``margin``, ``miner`` (``'semihard'``, ``'hard'``, ``'easy'``, ``'all'``
    for ``TripletMarginMiner``, or None for all triplets in the batch),
    ``normalize`` (L2-normalise the embeddings, as the loss's distance does),
    ``random_state``, ``n_threads`` (``torch.set_num_threads``; None keeps
    torch's default). ``extra`` holds ``time_per_epoch`` (s) and
    ``loss_curve`` (mean loss per epoch).
    """
    unknown = sorted(set(params) - set(TRIPLET_DEFAULTS))
    if unknown:
        raise TypeError(f"torch_pml.triplet got unexpected parameters {unknown}")
    import torch
    from pytorch_metric_learning import losses, miners

    if params["n_threads"] is not None:
        torch.set_num_threads(params["n_threads"])

    def fit(X, y):
        torch.manual_seed(params["random_state"])
        sizes = [X.shape[1], *params["hidden_layer_sizes"]]
        layers = []
        for n_in, n_out in pairwise(sizes):
            layers += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
        layers.append(torch.nn.Linear(sizes[-1], params["n_components"]))
        model = torch.nn.Sequential(*layers)
        loss_func = losses.TripletMarginLoss(margin=params["margin"])
        miner = None
        if params["miner"] is not None:
            miner = miners.TripletMarginMiner(
                margin=params["margin"], type_of_triplets=params["miner"]
            )
        optimizer = torch.optim.Adam(model.parameters(), lr=params["learning_rate"])
        X_t = torch.as_tensor(X, dtype=torch.float32)
        y_t = torch.as_tensor(y, dtype=torch.int64)
        generator = torch.Generator().manual_seed(params["random_state"])
        epoch_times, loss_curve = [], []
        for _ in range(params["max_epochs"]):
            start = time.perf_counter()
            order = torch.randperm(len(X_t), generator=generator)
            total = 0.0
            for batch in order.split(params["batch_size"]):
                embeddings = model(X_t[batch])
                triplets = None if miner is None else miner(embeddings, y_t[batch])
                loss = loss_func(embeddings, y_t[batch], triplets)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(loss) * len(batch)
            loss_curve.append(total / len(X_t))
            epoch_times.append(time.perf_counter() - start)
        model.eval()

        def transform(X_new):
            with torch.no_grad():
                Z = model(torch.as_tensor(X_new, dtype=torch.float32))
                if params["normalize"]:
                    Z = torch.nn.functional.normalize(Z, dim=1)
            return Z.numpy().astype(np.float64)

        extra = {
            "n_iter": len(epoch_times),
            "time_per_epoch": float(np.mean(epoch_times)),
            "loss_curve": loss_curve,
            "torch_threads": torch.get_num_threads(),
        }
        return transform, extra

    version = metadata.version("pytorch-metric-learning")
    return fit, f"{version} (torch {torch.__version__})"


def run(spec):
    """Fit and transform as ``spec`` says; return the result dict (no arrays)."""
    peer = PEERS.get(spec["peer"])
    if peer is None:
        return _result("failed", f"unknown peer {spec['peer']!r} in the worker")
    params = {**peer.defaults, **spec.get("params", {})}
    try:
        fit, version = peer.build(params)
    except ImportError as exc:
        return _result("missing", f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # bad parameters and the like
        return _result("failed", _last_lines(exc))
    extra = {"params": params}
    try:
        with np.load(spec["data"], allow_pickle=False) as data:
            X_train, y_train = data["X_train"], data["y_train"]
            X_test = data["X_test"]
        if spec.get("warmup"):
            fit(X_train, y_train)
        start, start_cpu = time.perf_counter(), time.process_time()
        transform, fit_extra = fit(X_train, y_train)
        fit_time = time.perf_counter() - start
        extra["cpu_time"] = time.process_time() - start_cpu
        train, test = transform(X_train), transform(X_test)
        np.savez(spec["output"], train=train, test=test)
    except Exception as exc:  # report the peer's own failure, whatever it is
        return _result("failed", _last_lines(exc), version=version)
    extra.update(fit_extra)
    extra["max_rss_mb"] = _peak_rss_mb()
    return _result("ok", "", fit_time=fit_time, version=version, extra=extra)


def _peak_rss_mb():
    """Peak resident memory of this process since its exec, in MiB.

    ``ru_maxrss`` is not used: Linux carries it over from the parent at fork.
    """
    try:
        with open("/proc/self/status") as file:
            for line in file:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _last_lines(exc, n_lines=3):
    lines = "".join(traceback.format_exception(exc)).strip().splitlines()
    return "\n".join(lines[-n_lines:])


def _result(status, reason, fit_time=None, version=None, extra=None):
    return {
        "status": status,
        "reason": reason,
        "fit_time": fit_time,
        "version": version,
        "extra": extra or {},
    }


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return repr(value)


def main(argv):
    with open(argv[1]) as file:
        spec = json.load(file)
    # Send whatever the libraries print, even from C, to stderr: stdout carries
    # exactly one JSON line.
    sys.stdout.flush()
    saved_stdout = os.dup(1)
    os.dup2(2, 1)
    try:
        result = run(spec)
    finally:
        sys.stdout.flush()
        os.dup2(saved_stdout, 1)
        os.close(saved_stdout)
    print(json.dumps(result, default=_json_default), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
