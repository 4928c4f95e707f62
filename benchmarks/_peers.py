"""Run peer metric-learning libraries in their own virtualenvs.

Several peers do not install beside current NumPy and scikit-learn, so each
runs in a virtualenv under ``benchmarks/.peer-envs/<env>/`` (or
``$SKMETRIC_PEER_ENVS/<env>/``), made by ``python -m benchmarks.setup_peers``.
:func:`run_peer` hands the arrays to ``_peer_worker.py`` in that env's Python
and scores the transformed data here, with the caller's scikit-learn, so every
method is judged by the same kNN. The peers, their envs and their parameters
are registered in :mod:`benchmarks._peer_worker`.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks._data import knn_accuracy
from benchmarks._peer_worker import PEERS

WORKER = Path(__file__).resolve().parent / "_peer_worker.py"
# What a worker runs first: ask Linux to kill it when its caller dies
# (PR_SET_PDEATHSIG = 1, from <linux/prctl.h>; a no-op elsewhere), leave if the
# caller is already gone, then become the worker (execv keeps the request). This
# is done in the child, not through Popen's ``preexec_fn``: that makes Python
# fork() the caller, after which OpenBLAS restarts its thread pool in the
# caller, and the new threads were measured spinning beside the next timed fits
# (twice their CPU time, up to four times the wall time of a millisecond fit).
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "try:\n"
    "    ctypes.CDLL(None).prctl(1, signal.SIGKILL)\n"
    "except (OSError, AttributeError):\n"
    "    pass\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit('the caller has gone')\n"
    "os.execv(sys.executable, [sys.executable] + sys.argv[2:])\n"
)


@dataclass(frozen=True)
class PeerEnv:
    """A peer virtualenv: what to install in it and how to check it works."""

    requirements: tuple
    check: str
    # Installed in a first pip step; with ``no_build_isolation`` the second step
    # builds source-only requirements against them (lightfm needs Cython and
    # setuptools at build time and declares neither).
    build_requirements: tuple = ()
    no_build_isolation: bool = False


# Exact pins that install and import together on CPython 3.11 (checked with pip).
# legacy: PyLMNN imports GPyOpt, which needs GPy < 1.14 and so NumPy < 2 and
# SciPy <= 1.12; GPyOpt's plotting module needs matplotlib; PyLMNN needs six.
# torch: the +cpu local version label refuses any CUDA build.
ENVS = {
    "legacy": PeerEnv(
        requirements=(
            "numpy==1.26.4",
            "scipy==1.10.1",
            "scikit-learn==1.5.2",
            "metric-learn==0.7.0",
            "PyLMNN==1.6.4",
            "GPyOpt==1.2.6",
            "GPy==1.13.2",
            "paramz==0.9.6",
            "matplotlib==3.8.4",
            "six==1.17.0",
        ),
        check=(
            "import metric_learn, GPyOpt; from pylmnn import LargeMarginNearestNeighbor"
        ),
    ),
    "mlpack": PeerEnv(
        requirements=("mlpack==4.8.0", "numpy==2.4.6"),
        check="import mlpack; mlpack.lmnn",
    ),
    "torch": PeerEnv(
        requirements=(
            "torch==2.13.0+cpu",
            "pytorch-metric-learning==2.9.0",
            "numpy==2.4.6",
            "scikit-learn==1.9.1",
        ),
        check=(
            "import torch, pytorch_metric_learning; "
            "assert torch.version.cuda is None, 'CUDA build of torch'"
        ),
    ),
    # recommend: implicit ships wheels; lightfm 1.17 is source only and is
    # compiled (with OpenMP) against the pinned NumPy, without build isolation.
    "recommend": PeerEnv(
        requirements=(
            "numpy==1.26.4",
            "scipy==1.13.1",
            "threadpoolctl==3.6.0",
            "implicit==0.7.3",
            "lightfm==1.17",
        ),
        check="import implicit, lightfm, threadpoolctl; from lightfm import LightFM",
        build_requirements=(
            "numpy==1.26.4",
            "Cython==3.1.2",
            "setuptools==80.9.0",
            "wheel==0.45.1",
        ),
        no_build_isolation=True,
    ),
}


def envs_dir():
    """Return the folder holding the peer virtualenvs."""
    env = os.environ.get("SKMETRIC_PEER_ENVS")
    return Path(env) if env else Path(__file__).resolve().parent / ".peer-envs"


def env_python(env):
    """Return the Python of peer env ``env`` (None: the current interpreter)."""
    if env is None:
        return Path(sys.executable)
    return envs_dir() / env / "bin" / "python"


def list_peers():
    """Return ``{peer name: env name or None}`` for every registered peer."""
    return {name: peer.env for name, peer in PEERS.items()}


def run_peer(
    peer,
    X_train,
    y_train,
    X_test,
    y_test,
    params=None,
    n_neighbors=3,
    timeout=None,
    warmup=False,
):
    """Fit a peer library in its env and score it by kNN on the test part.

    Parameters
    ----------
    peer : str
        A name from :func:`list_peers`, for example ``'pylmnn.LMNN'``.
    X_train : array-like of shape (n_train, n_features)
        Training part, already scaled.
    y_train : array-like of shape (n_train,)
    X_test : array-like of shape (n_test, n_features)
        Test part, scaled like the training part.
    y_test : array-like of shape (n_test,)
    params : dict, default=None
        Keyword arguments of the peer, passed as JSON; the accepted names are in
        each peer's docstring in :mod:`benchmarks._peer_worker`.
    n_neighbors : int, default=3
        ``k`` of the ``KNeighborsClassifier`` that scores the transformed data.
    timeout : float, default=None
        Seconds before the worker is killed.
    warmup : bool, default=False
        Fit once, untimed, before the timed fit. Each call starts a fresh
        process, so without it ``fit_time`` includes first-call costs (lazy
        imports, thread pools, torch's autograd set-up), which dominate on
        small data.

    Returns
    -------
    result : dict
        ``status`` (``'ok'``, ``'missing'``, ``'failed'`` or ``'timeout'``),
        ``reason`` (str, empty when ok), ``accuracy`` (float or None),
        ``fit_time`` (seconds, measured in the worker around the fit alone, or
        None), ``version`` (the peer library's version or None) and ``extra``
        (dict: ``params`` in effect, ``max_rss_mb`` of the worker, ``n_iter``
        and what else the peer reports). It never raises for a missing env,
        a failed import, a crash or a timeout.
    """
    if peer not in PEERS:
        raise ValueError(f"Unknown peer {peer!r}; known: {', '.join(PEERS)}.")
    env = PEERS[peer].env
    python = env_python(env)
    if not python.exists():
        return _result(
            "missing",
            f"peer env {env!r} not found at {python.parent.parent}; run "
            f"`python -m benchmarks.setup_peers --envs {env}`",
        )
    with tempfile.TemporaryDirectory(prefix="skmetric-peer-") as tmp:
        tmp = Path(tmp)
        np.savez(
            tmp / "data.npz",
            X_train=np.ascontiguousarray(X_train, dtype=np.float64),
            y_train=np.asarray(y_train, dtype=np.int64),
            X_test=np.ascontiguousarray(X_test, dtype=np.float64),
        )
        spec = {
            "peer": peer,
            "params": params or {},
            "data": str(tmp / "data.npz"),
            "output": str(tmp / "output.npz"),
            "warmup": warmup,
        }
        (tmp / "spec.json").write_text(json.dumps(spec))
        result = _call_worker(python, tmp / "spec.json", tmp, timeout)
        if result["status"] != "ok":
            return result
        with np.load(tmp / "output.npz", allow_pickle=False) as output:
            Z_train, Z_test = output["train"], output["test"]
    if not (np.isfinite(Z_train).all() and np.isfinite(Z_test).all()):
        return {**result, "status": "failed", "reason": "non-finite transformed data"}
    result["accuracy"] = knn_accuracy(Z_train, y_train, Z_test, y_test, n_neighbors)
    return result


def embed_peer(peer, parts, params=None, timeout=None, warmup=None):
    """Fit a peer on several training parts in one worker; return embeddings.

    One process for all the parts: it makes one untimed warm-up fit first
    when ``warmup`` is given (so that imports and first-call costs are not
    timed, as for skmetric's own estimators), then times each fit alone.

    Parameters
    ----------
    peer : str
        A name from :func:`list_peers`.
    parts : list of (X_train, y_train, X_test)
        Scaled training parts with their labels and the matching test parts.
    params : dict, default=None
        The peer's keyword arguments.
    timeout : float, default=None
        Seconds allowed per part (the worker gets ``len(parts)`` times this,
        plus the same again for the warm-up).
    warmup : (X, y) or None, default=None
        Data of the untimed warm-up fit.

    Returns
    -------
    results : list of dict
        One per part: the keys of :func:`run_peer`'s result without
        ``accuracy``, plus ``Z_train`` and ``Z_test`` (None unless ``ok``).
        When the worker itself fails, is missing or times out, every part
        gets that status.
    """
    if peer not in PEERS:
        raise ValueError(f"Unknown peer {peer!r}; known: {', '.join(PEERS)}.")
    env = PEERS[peer].env
    python = env_python(env)
    if not python.exists():
        result = _result("missing", f"peer env {env!r} not found at "
                         f"{python.parent.parent}; run `python -m "
                         f"benchmarks.setup_peers --envs {env}`")
        return [dict(result, Z_train=None, Z_test=None) for _ in parts]
    with tempfile.TemporaryDirectory(prefix="skmetric-peer-") as tmp:
        tmp = Path(tmp)
        jobs = []
        for i, (X_train, y_train, X_test) in enumerate(parts):
            jobs.append({"data": str(tmp / f"data{i}.npz"),
                         "output": str(tmp / f"output{i}.npz")})
            _save_part(jobs[-1]["data"], X_train, y_train, X_test)
        spec = {"peer": peer, "params": params or {}, "jobs": jobs}
        if warmup is not None:
            spec["warmup_data"] = str(tmp / "warmup.npz")
            _save_part(spec["warmup_data"], warmup[0], warmup[1], warmup[0][:1])
        (tmp / "spec.json").write_text(json.dumps(spec))
        n_fits = len(parts) + (warmup is not None)
        total = None if timeout is None else timeout * n_fits
        outcome = _call_worker(python, tmp / "spec.json", tmp, total)
        if outcome["status"] != "ok" or "results" not in outcome:
            outcome = {k: outcome[k] for k in _result("", "")}
            return [dict(outcome, Z_train=None, Z_test=None) for _ in parts]
        results = []
        for job, result in zip(jobs, outcome["results"]):
            result = {**_result(result["status"], result["reason"]), **result}
            result["Z_train"] = result["Z_test"] = None
            if result["status"] == "ok":
                with np.load(job["output"], allow_pickle=False) as output:
                    Z_train, Z_test = output["train"], output["test"]
                if np.isfinite(Z_train).all() and np.isfinite(Z_test).all():
                    result["Z_train"], result["Z_test"] = Z_train, Z_test
                else:
                    result.update(status="failed",
                                  reason="non-finite transformed data")
            results.append(result)
    return results


def _save_part(path, X_train, y_train, X_test):
    np.savez(
        path,
        X_train=np.ascontiguousarray(X_train, dtype=np.float64),
        y_train=np.asarray(y_train, dtype=np.int64),
        X_test=np.ascontiguousarray(X_test, dtype=np.float64),
    )


def env_problem(env):
    """Return why peer env ``env`` cannot run, or None when its check passes."""
    python = env_python(env)
    if not python.exists():
        return f"not found at {python.parent.parent}"
    check = subprocess.run([str(python), "-c", ENVS[env].check],
                           capture_output=True, text=True)
    if check.returncode != 0:
        tail = (check.stderr.strip().splitlines() or ["?"])[-1]
        return f"import check failed: {tail}"
    return None


def missing_envs(peers):
    """Return ``{env: reason}`` for the envs of ``peers`` that do not work."""
    problems = {env: env_problem(env)
                for env in sorted({PEERS[peer].env for peer in peers} - {None})}
    return {env: reason for env, reason in problems.items() if reason}


def _call_worker(python, spec_path, cwd, timeout, worker=WORKER):
    """Run the worker and return its parsed result (without ``accuracy``)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    process = subprocess.Popen(
        [str(python), "-c", _DIE_WITH_PARENT, str(os.getpid()), str(worker),
         str(spec_path)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(process)
        return _result("timeout", f"no result within {timeout} s")
    except BaseException:  # Ctrl-C and the like: leave no worker behind
        _kill(process)
        raise
    lines = stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = "\n".join(stderr.strip().splitlines()[-5:])
        return _result("failed", f"worker exited with {process.returncode}: {tail}")
    return {**_result(result["status"], result["reason"]), **result}


def _kill(process):
    """Kill the worker and anything it started (its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def _result(status, reason):
    return {
        "status": status,
        "reason": reason,
        "accuracy": None,
        "fit_time": None,
        "version": None,
        "extra": {},
    }
