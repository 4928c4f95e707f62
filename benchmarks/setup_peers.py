"""Create the peer virtualenvs under ``benchmarks/.peer-envs/``.

Usage, from the repository root::

    python -m benchmarks.setup_peers [--envs legacy,mlpack,torch] [--force]

Each env is made with ``python -m venv`` from the base interpreter of the
Python running this module, then ``pip install`` of the exact pins in
:data:`benchmarks._peers.ENVS`. An env whose import check already passes is
left alone unless ``--force`` is given. Prints each env's install time and size
and exits non-zero if any env fails.
"""

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._peers import ENVS, env_problem, env_python, envs_dir


def env_works(name):
    """Return whether env ``name`` exists and its import check passes."""
    return env_problem(name) is None


def create_env(name, force=False):
    """Create (or re-create) env ``name``; return ``(status, seconds, size_mb)``."""
    folder = envs_dir() / name
    if not force and env_works(name):
        return "present", 0.0, _size_mb(folder)
    if folder.exists():
        shutil.rmtree(folder)
    start = time.perf_counter()
    base_python = getattr(sys, "_base_executable", sys.executable)
    spec = ENVS[name]
    pip = [str(env_python(name)), "-m", "pip", "install"]
    steps = [[base_python, "-m", "venv", str(folder)]]
    if spec.build_requirements:
        steps.append([*pip, *spec.build_requirements])
    isolation = ["--no-build-isolation"] if spec.no_build_isolation else []
    steps.append([*pip, *isolation, *spec.requirements])
    for step in steps:
        print(f"[setup_peers] {' '.join(step)}", flush=True)
        if subprocess.run(step).returncode != 0:
            return "failed", time.perf_counter() - start, _size_mb(folder)
    elapsed = time.perf_counter() - start
    status = "created" if env_works(name) else "failed (import check)"
    return status, elapsed, _size_mb(folder)


def _size_mb(folder):
    if not folder.exists():
        return 0.0
    size = sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
    return size / 2**20


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--envs",
        default=",".join(ENVS),
        help=f"comma-separated env names (default: {','.join(ENVS)})",
    )
    parser.add_argument("--force", action="store_true", help="re-create the envs")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.envs.split(",") if name.strip()]
    unknown = sorted(set(names) - set(ENVS))
    if unknown:
        parser.error(f"unknown env(s) {', '.join(unknown)}; known: {', '.join(ENVS)}")
    rows = [(name, *create_env(name, force=args.force)) for name in names]
    print("\n| env | status | install time (s) | size (MB) |")
    print("| --- | --- | ---: | ---: |")
    for name, status, seconds, size in rows:
        print(f"| {name} | {status} | {seconds:.1f} | {size:.0f} |")
    return int(any(row[1].startswith("failed") for row in rows))


if __name__ == "__main__":
    sys.exit(main())
