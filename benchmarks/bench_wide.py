"""Deep pair and triplet learners on wide inputs: fit seconds per epoch budget.

Cases (standardised inputs, one thread, ``random_state=0``, fixed epochs with
``n_iter_no_change`` out of reach so every fit runs them all):

- ``crops_triplets``: DeepTripletTriplets on 20000 ``triplets_from_tracklets`` of
  the 1850 pedestrian crops (1536 values);
- ``crops_pairs``: DeepSiamesePairs on 20000 ``pairs_from_tracklets`` of them;
- ``frames_triplets``: DeepTripletTriplets on 20000 ``triplets_from_sequence``
  of the 1737 video frames (3072 values; the four videos as sequences).

Reports the median of ``--repeats`` fits (after one untimed warm-up fit of one
epoch) and the load average. To compare two checkouts, run this script from
each, side by side.

    python -m benchmarks.bench_wide [--epochs 3] [--repeats 3] [--quick]
        [--cases crops_triplets,crops_pairs,frames_triplets]
"""

import argparse
import os
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from benchmarks._data import data_dir
from skmetric.constraints import (
    pairs_from_tracklets,
    triplets_from_sequence,
    triplets_from_tracklets,
)
from skmetric.deep import DeepSiamesePairs, DeepTripletTriplets

CASES = ("crops_triplets", "crops_pairs", "frames_triplets")
N_CONSTRAINTS = 20000


def case_data(name, n_constraints=N_CONSTRAINTS):
    """``(estimator factory, fit arguments)`` of a case."""
    folder = data_dir() / "tracking"
    if name.startswith("crops"):
        data = np.load(folder / "pedestrians.npz")
        X = StandardScaler().fit_transform(data["X"].astype(np.float64))
        if name == "crops_pairs":
            pairs, y = pairs_from_tracklets(data["tracklet"], data["frame"],
                                            n_constraints, random_state=0)
            return (lambda epochs: DeepSiamesePairs(
                preprocessor=X, max_iter=epochs, n_iter_no_change=epochs + 1,
                random_state=0, n_jobs=1)), (pairs, y)
        triplets = triplets_from_tracklets(data["tracklet"], data["frame"],
                                           n_constraints, random_state=0)
    else:
        data = np.load(folder / "video_frames.npz")
        X = StandardScaler().fit_transform(data["X"].astype(np.float64))
        triplets = triplets_from_sequence(data["frame"], n_constraints,
                                          sequences=data["video"], random_state=0)
    return (lambda epochs: DeepTripletTriplets(
        preprocessor=X, max_iter=epochs, n_iter_no_change=epochs + 1,
        random_state=0, n_jobs=1)), (triplets,)


def time_case(name, epochs, repeats, n_constraints=N_CONSTRAINTS):
    make, args = case_data(name, n_constraints)
    seconds, n_warned = [], 0
    with threadpool_limits(1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the untimed warm-up only
            make(1).fit(*args)  # kernels loaded or compiled
        for _ in range(repeats):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                start = time.perf_counter()
                make(epochs).fit(*args)
                seconds.append(time.perf_counter() - start)
            n_warned += any(issubclass(w.category, ConvergenceWarning)
                            for w in caught)
    return float(np.median(seconds)), seconds, n_warned


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--quick", action="store_true",
                        help="2000 constraints, one epoch, one repeat")
    args = parser.parse_args(argv)
    n_constraints = 2000 if args.quick else N_CONSTRAINTS
    epochs, repeats = (1, 1) if args.quick else (args.epochs, args.repeats)
    print("| case | epochs | median fit (s) | all (s) | ConvergenceWarning | "
          "load average |")
    print("|---|---|---|---|---|---|")
    for name in args.cases.split(","):
        median, all_seconds, n_warned = time_case(name, epochs, repeats,
                                                  n_constraints)
        shown = ", ".join(f"{s:.1f}" for s in all_seconds)
        print(f"| {name} | {epochs} | {median:.1f} | {shown} | "
              f"{n_warned} of {len(all_seconds)} fits | "
              f"{os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
