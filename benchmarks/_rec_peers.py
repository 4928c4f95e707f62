"""Run peer recommenders (implicit, LightFM) in their virtualenv.

:func:`fit_rec_peer` writes the training interactions of each part to a
temporary folder, runs ``_rec_worker.py`` in the peer env's Python (one process
for all parts, one untimed warm-up fit first) and returns each part's user and
item factors, whose product ranks the items of each user, with the fit time,
CPU time and threads the worker measured.
"""

import json
import tempfile
from pathlib import Path

import numpy as np

from benchmarks._peers import _call_worker, _result, env_python
from benchmarks._rec_worker import REC_PEERS

REC_WORKER = Path(__file__).resolve().parent / "_rec_worker.py"


def rec_peer_env(peer):
    """The env a peer recommender runs in."""
    return REC_PEERS[peer][0]


def _save(path, X, n_users, n_items, item_features):
    arrays = {"X": np.ascontiguousarray(X, dtype=np.int64),
              "n_users": np.int64(n_users), "n_items": np.int64(n_items)}
    if item_features is not None:
        arrays["item_features"] = np.ascontiguousarray(item_features,
                                                       dtype=np.float64)
    np.savez(path, **arrays)


def fit_rec_peer(peer, parts, *, params=None, n_threads=2, warmup=None,
                 timeout=None):
    """Fit a peer recommender on several training parts in one worker.

    Parameters
    ----------
    peer : str
        A name of :data:`benchmarks._rec_worker.REC_PEERS`.
    parts : list of (X, n_users, n_items, item_features or None)
        Training interactions, ``(n, 2)`` int, each pair once; a fifth entry,
        a dict, gives that part's parameters over ``params``.
    params : dict, default=None
        The peer's parameters over the benchmark's defaults (and the warm-up's).
    n_threads : int, default=2
    warmup : (X, n_users, n_items, item_features) or None
        Data of the one untimed warm-up fit.
    timeout : float, default=None
        Seconds allowed per fit (the warm-up counts as one).

    Returns
    -------
    results : list of dict
        One per part: ``status``, ``reason``, ``fit_time``, ``version``,
        ``extra`` and the arrays ``user_factors`` and ``item_factors`` (None
        unless ``ok`` and finite). Never raises for a missing env, a crash or a
        timeout: every part then gets that status.
    """
    if peer not in REC_PEERS:
        raise ValueError(f"Unknown peer {peer!r}; known: {', '.join(REC_PEERS)}.")
    env = rec_peer_env(peer)
    python = env_python(env)
    empty = {"user_factors": None, "item_factors": None}
    if not python.exists():
        result = _result("missing", f"peer env {env!r} not found at "
                         f"{python.parent.parent}; run `python -m "
                         f"benchmarks.setup_peers --envs {env}`")
        return [dict(result, **empty) for _ in parts]
    with tempfile.TemporaryDirectory(prefix="skmetric-rec-peer-") as tmp:
        tmp = Path(tmp)
        jobs = []
        for i, part in enumerate(parts):
            jobs.append({"data": str(tmp / f"data{i}.npz"),
                         "output": str(tmp / f"output{i}.npz"),
                         "params": part[4] if len(part) > 4 else {}})
            _save(jobs[-1]["data"], *part[:4])
        spec = {"peer": peer, "params": params or {}, "n_threads": n_threads,
                "jobs": jobs, "warmup_data": None}
        if warmup is not None:
            spec["warmup_data"] = str(tmp / "warmup.npz")
            _save(spec["warmup_data"], *warmup)
        (tmp / "spec.json").write_text(json.dumps(spec))
        n_fits = len(parts) + (warmup is not None)
        total = None if timeout is None else timeout * n_fits
        outcome = _call_worker(python, tmp / "spec.json", tmp, total,
                               worker=REC_WORKER)
        if outcome["status"] != "ok" or "results" not in outcome:
            outcome = {k: outcome[k] for k in _result("", "")}
            return [dict(outcome, **empty) for _ in parts]
        results = []
        for job, result in zip(jobs, outcome["results"]):
            result = {**_result(result["status"], result["reason"]), **result,
                      "version": outcome["version"], **empty}
            if result["status"] == "ok":
                with np.load(job["output"], allow_pickle=False) as output:
                    users, items = output["user_factors"], output["item_factors"]
                if np.isfinite(users).all() and np.isfinite(items).all():
                    result.update(user_factors=users, item_factors=items)
                else:
                    result.update(status="failed", reason="non-finite factors")
            results.append(result)
    return results
