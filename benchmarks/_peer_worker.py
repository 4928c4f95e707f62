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
peak resident memory, ``converged`` (True, False or None when the peer
reports nothing: see :func:`_converged`), ``warnings`` (what the fit warned)
and ``threads`` (threads per library or BLAS/OpenMP API in the worker)).
A spec may instead hold ``jobs``, a list of ``{"data", "output"}``, and
``warmup_data``: the worker then makes one untimed warm-up fit on
``warmup_data`` and fits every job in this one process, and prints
``{"status", "reason", "version", "results": [...]}`` (see :func:`run`).
Anything the libraries print goes to stderr.
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
import sys
import time
import traceback
import warnings
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
        extra = {"n_iter": getattr(estimator, "n_iter_", None),
                 "max_iter": estimator.get_params().get("max_iter")}
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


def _register_metric_learn(name, defaults):
    """Register metric-learn's supervised learner ``name`` as ``metric_learn.NAME``.

    Each accepts its metric-learn 0.7 constructor arguments (see metric-learn's
    documentation); ``extra`` holds ``n_iter`` where the learner reports one.
    MLKR is fitted on the class labels as real-valued targets, as metric-learn's
    own examples do.
    """

    def build(params):
        import metric_learn

        estimator = getattr(metric_learn, name)(**params)
        return _fit_transformer(estimator), metadata.version("metric-learn")

    build.__doc__ = f"metric-learn's ``{name}`` with its own defaults but {defaults}."
    register(f"metric_learn.{name}", env="legacy", defaults=defaults)(build)


# The classic learners of metric-learn 0.7 (bench_classic.py): its defaults,
# seeded where it draws random numbers.
for _name, _defaults in (
    ("MLKR", {"random_state": 0}),
    ("LFDA", {}),
    ("Covariance", {}),
    ("RCA_Supervised", {"random_state": 0}),
    ("ITML_Supervised", {"random_state": 0}),
    ("SDML_Supervised", {"random_state": 0}),
    ("LSML_Supervised", {"random_state": 0}),
    ("SCML_Supervised", {"random_state": 0}),
):
    _register_metric_learn(_name, _defaults)


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
    "m_per_class": 8,
    "learning_rate": 1e-3,
    "weight_decay": 0.0,
    "margin": 0.2,
    "miner": "semihard",
    "normalize": True,
    "skip": "pca",
    "random_state": 0,
    "n_threads": 1,
}


def _pca_skip(X, n_components):
    """Skip-path weights and output bias that project X on its principal axes.

    As skmetric's deep estimators start (``skip='pca'``): the centred rows are
    projected on the ``n_components`` leading principal directions (zero columns
    past the rank), scaled so that the projected rows have an RMS norm of 1.
    Returns ``(weight of shape (n_components, n_features), bias)``.
    """
    mean = X.mean(axis=0)
    centred = X - mean
    values, vectors = np.linalg.eigh(centred.T @ centred / X.shape[0])
    order = np.argsort(values)[::-1][:n_components]
    values, vectors = np.maximum(values[order], 0.0), vectors[:, order]
    skip = np.zeros((X.shape[1], n_components))
    if values.sum() > 0.0:
        skip[:, : vectors.shape[1]] = vectors / np.sqrt(values.sum())
    return skip.T, -(mean @ skip)


@register("torch_pml.triplet", env="torch", defaults=TRIPLET_DEFAULTS)
def _torch_pml_triplet(params):
    """A ReLU MLP trained with pytorch-metric-learning's ``TripletMarginLoss``.

    Accepts ``hidden_layer_sizes`` (list of int), ``n_components`` (embedding
    size), ``max_epochs``, ``batch_size`` and ``m_per_class`` (batches drawn by
    its ``MPerClassSampler``: ``m_per_class`` rows of each class, as skmetric's
    PK batches with ``n_samples_per_class``; one epoch is as many rows as the
    training set, at least one batch, cut to whole batches), ``learning_rate`` and ``weight_decay`` (Adam; torch's
    ``weight_decay`` adds ``weight_decay * w`` to every gradient, biases
    included), ``margin``, ``miner`` (``'semihard'``, ``'hard'``, ``'easy'``,
    ``'all'`` for ``TripletMarginMiner``, or None for all triplets in the batch),
    ``normalize`` (L2-normalise the embeddings, as the loss's distance does),
    ``skip`` (``'pca'``: a linear skip path from the input to the output
    started at the PCA projection with the last layer at zero, as skmetric's
    ``skip='pca'``; None: the plain MLP), ``random_state``, ``n_threads``
    (``torch.set_num_threads``; None keeps torch's default). ``extra`` holds
    ``time_per_epoch`` (s), ``loss_curve`` (mean loss per epoch) and
    ``torch_threads``.
    """
    unknown = sorted(set(params) - set(TRIPLET_DEFAULTS))
    if unknown:
        raise TypeError(f"torch_pml.triplet got unexpected parameters {unknown}")
    import torch
    from pytorch_metric_learning import losses, miners, samplers

    if params["n_threads"] is not None:
        torch.set_num_threads(params["n_threads"])

    class SkipNet(torch.nn.Module):
        """``mlp(x) + x @ skip``: the MLP with a linear skip path."""

        def __init__(self, mlp, skip):
            super().__init__()
            self.mlp, self.skip = mlp, skip

        def forward(self, x):
            return self.mlp(x) + self.skip(x)

    def build_model(X):
        sizes = [X.shape[1], *params["hidden_layer_sizes"]]
        layers = []
        for n_in, n_out in pairwise(sizes):
            layers += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
        last = torch.nn.Linear(sizes[-1], params["n_components"])
        layers.append(last)
        model = torch.nn.Sequential(*layers)
        if params["skip"] != "pca":
            return model
        weight, bias = _pca_skip(X, params["n_components"])
        skip = torch.nn.Linear(X.shape[1], params["n_components"], bias=False)
        with torch.no_grad():
            skip.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
            last.weight.zero_()
            last.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
        return SkipNet(model, skip)

    def fit(X, y):
        torch.manual_seed(params["random_state"])
        model = build_model(X)
        loss_func = losses.TripletMarginLoss(margin=params["margin"])
        miner = None
        if params["miner"] is not None:
            miner = miners.TripletMarginMiner(
                margin=params["margin"], type_of_triplets=params["miner"]
            )
        optimizer = torch.optim.Adam(
            model.parameters(),
            lr=params["learning_rate"],
            weight_decay=params["weight_decay"],
        )
        X_t = torch.as_tensor(X, dtype=torch.float32)
        y_t = torch.as_tensor(y, dtype=torch.int64)
        sampler = samplers.MPerClassSampler(
            y, params["m_per_class"], batch_size=params["batch_size"],
            length_before_new_iter=max(len(X), params["batch_size"]),
        )
        epoch_times, loss_curve = [], []
        for _ in range(params["max_epochs"]):
            start = time.perf_counter()
            order = torch.as_tensor(list(iter(sampler)), dtype=torch.int64)
            total = 0.0
            for batch in order.split(params["batch_size"]):
                embeddings = model(X_t[batch])
                triplets = None if miner is None else miner(embeddings, y_t[batch])
                loss = loss_func(embeddings, y_t[batch], triplets)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(loss) * len(batch)
            loss_curve.append(total / len(order))
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
    """Fit and transform as ``spec`` says; return the result dict (no arrays).

    A spec with ``jobs`` (a list of ``{"data", "output"}``) fits each job in
    turn in this one process, after one untimed warm-up fit on
    ``warmup_data`` when given, and returns ``{"status", "reason",
    "version", "results": [one result per job]}``. A spec with ``data`` and
    ``output`` at the top level is a single job, and its result is returned
    flat.
    """
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
    jobs = spec.get("jobs")
    single = jobs is None
    if single:
        jobs = [{"data": spec["data"], "output": spec["output"]}]
    warmup = spec.get("warmup_data") or (jobs[0]["data"] if spec.get("warmup")
                                         else None)
    if warmup:
        try:
            with np.load(warmup, allow_pickle=False) as data:
                fit(data["X_train"], data["y_train"])
        except Exception as exc:  # the timed fits would fail the same way
            return _result("failed", _last_lines(exc), version=version)
    results = [_run_job(fit, job, params, version) for job in jobs]
    if single:
        return results[0]
    return {**_result("ok", "", version=version), "results": results}


def _run_job(fit, job, params, version):
    """Fit on one job's training part, time it, save both embeddings."""
    extra = {"params": params}
    try:
        with np.load(job["data"], allow_pickle=False) as data:
            X_train, y_train = data["X_train"], data["y_train"]
            X_test = data["X_test"]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start, start_cpu = time.perf_counter(), time.process_time()
            transform, fit_extra = fit(X_train, y_train)
            fit_time = time.perf_counter() - start
            extra["cpu_time"] = time.process_time() - start_cpu
        train, test = transform(X_train), transform(X_test)
        np.savez(job["output"], train=train, test=test)
    except Exception as exc:  # report the peer's own failure, whatever it is
        return _result("failed", _last_lines(exc), version=version)
    extra.update(fit_extra)
    extra["converged"] = _converged(caught, params, extra)
    extra["warnings"] = sorted({f"{w.category.__name__}: {w.message}"
                                for w in caught})[:5]
    extra["threads"] = _thread_summary()
    extra["max_rss_mb"] = _peak_rss_mb()
    return _result("ok", "", fit_time=fit_time, version=version, extra=extra)


def _converged(caught, params, extra):
    """Whether the fit met its own stopping rule: False on a warning that says
    it did not converge or when it used all of ``max_iter``; None when the
    peer reports neither (a fixed budget, or no convergence report)."""
    for w in caught:
        text = f"{w.category.__name__} {w.message}".lower()
        if "convergencewarning" in text or "converge" in text:
            return False
    if "converged" in extra:
        return extra.pop("converged")
    max_iter = extra.get("max_iter", params.get("max_iter"))
    n_iter = extra.get("n_iter")
    if max_iter is not None and n_iter is not None:
        return bool(n_iter < max_iter)
    return None


def _thread_summary():
    """``{library or API: threads}`` in use in this process, as far as known."""
    threads = {}
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            threads[pool["user_api"]] = max(threads.get(pool["user_api"], 0),
                                            pool["num_threads"])
    except ImportError:
        threads["default"] = os.environ.get("OMP_NUM_THREADS") or os.cpu_count()
    torch = sys.modules.get("torch")
    if torch is not None:
        threads["torch"] = torch.get_num_threads()
    return threads


def _peak_rss_mb():
    """Peak resident memory of this process since its exec, in MiB (VmHWM).

    ``ru_maxrss`` is not used: Linux carries it over from the parent at fork.
    None where ``/proc`` is unavailable.
    """
    try:
        with open("/proc/self/status") as file:
            for line in file:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


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
