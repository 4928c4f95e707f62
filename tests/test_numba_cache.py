"""The numba disk cache: an unusable cache directory and one shared by parallel
processes must neither crash a fit nor change its result.

Each scenario runs fresh interpreters, since numba reads ``NUMBA_CACHE_DIR`` once
at import. As root, file permissions do not stop writes, so the unusable directory
is a path below a regular file: creating it fails for every user.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import skmetric

# Fit both forms of MahalanobisXing; print the components and, for every kernel
# that ran, how often its machine code came from the disk cache (hits) or had to
# be compiled (misses).
_PROBE = r"""
import json, time, warnings
warnings.simplefilter("ignore")
start = time.perf_counter()
import numpy as np
from numba.core.dispatcher import Dispatcher
from skmetric import MahalanobisXing, _kernels
imported = time.perf_counter()
rng = np.random.default_rng(0)
y = np.arange(60) % 3
X = rng.normal(size=(60, 4)) + y[:, None]
full = MahalanobisXing(random_state=0).fit(X, y).components_
diagonal = MahalanobisXing(diagonal=True, random_state=0).fit(X, y).components_
stats = {
    name: [sum(kernel.stats.cache_hits.values()),
           sum(kernel.stats.cache_misses.values())]
    for name, kernel in vars(_kernels).items()
    if isinstance(kernel, Dispatcher) and kernel.signatures
}
import skmetric
print(json.dumps({
    "package": skmetric.__file__,
    "components": [full.tolist(), diagonal.tolist()],
    "stats": stats,
    "seconds": {"import": imported - start, "fit": time.perf_counter() - imported},
}))
"""


def _start(cache_dir, command=None, cwd=None, **env):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), **env)
    env.pop("NUMBA_DISABLE_JIT", None)
    command = command or [sys.executable, "-c", _PROBE]
    return subprocess.Popen(command, env=env, text=True, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(process):
    try:
        out, err = process.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _reference():
    """The same fits in this process, whatever cache it uses."""
    from skmetric import MahalanobisXing

    rng = np.random.default_rng(0)
    y = np.arange(60) % 3
    X = rng.normal(size=(60, 4)) + y[:, None]
    return [MahalanobisXing(random_state=0).fit(X, y).components_,
            MahalanobisXing(diagonal=True, random_state=0).fit(X, y).components_]


def test_unusable_cache_directory_does_not_break_fitting(tmp_path):
    blocker = tmp_path / "a-regular-file"
    blocker.write_text("not a directory")
    result = _finish(_start(blocker / "numba-cache"))
    assert result["stats"], "no kernel ran"
    for got, expected in zip(result["components"], _reference()):
        assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert blocker.read_text() == "not a directory"


def test_cache_shared_by_concurrent_processes(tmp_path):
    cache_dir = tmp_path / "shared-cache"
    cache_dir.mkdir()
    # Three interpreters start together on the empty cache: they compile and write
    # the same entries at the same time.
    runs = [_finish(p) for p in [_start(cache_dir) for _ in range(3)]]
    for run in runs[1:]:
        assert_array_equal(run["components"][0], runs[0]["components"][0])
        assert_array_equal(run["components"][1], runs[0]["components"][1])
    files = [p for p in cache_dir.rglob("*") if p.is_file()]
    assert files and all(p.suffix in {".nbi", ".nbc"} for p in files), files
    # A later interpreter loads every kernel from that cache and compiles nothing.
    later = _finish(_start(cache_dir))
    assert later["stats"]
    for name, (hits, misses) in later["stats"].items():
        assert hits >= 1 and misses == 0, (name, hits, misses)
    assert_array_equal(later["components"][0], runs[0]["components"][0])
    assert_array_equal(later["components"][1], runs[0]["components"][1])


# ---------------------------------------------------------------------------------
# A read-only installation (a container image run as a user who cannot write to
# site-packages): emulated with a copy of the package bind-mounted read-only in a
# private mount namespace, which needs root and util-linux's unshare.
# ---------------------------------------------------------------------------------


def _read_only_copy(tmp_path):
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        pytest.skip("needs Linux and unshare")
    site = tmp_path / "site"
    shutil.copytree(Path(skmetric.__file__).parent, site / "skmetric",
                    ignore=shutil.ignore_patterns("__pycache__"))
    mount = f"mount --bind {site} {site} && mount -o remount,bind,ro {site}"
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"{mount} && true"],
                           capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot make a private read-only mount here (not root?)")
    command = ["unshare", "-m", "sh", "-c", f'{mount} && exec "$0" -c "$1"',
               sys.executable, _PROBE]
    return site, command


def test_read_only_install_uses_a_writable_numba_cache_dir(tmp_path):
    site, command = _read_only_copy(tmp_path)
    cache_dir = tmp_path / "cache"
    result = _finish(_start(cache_dir, command, cwd=tmp_path, PYTHONPATH=str(site),
                            HOME="/dev/null/home", XDG_CACHE_HOME="/dev/null/cache"))
    assert result["package"].startswith(str(site))
    assert any(cache_dir.rglob("*.nbi"))
    for got, expected in zip(result["components"], _reference()):
        assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_read_only_install_without_any_writable_cache_still_works(tmp_path):
    # With no writable cache location at all, numba refuses cache=True at import;
    # skmetric._kernels.kernel then compiles without a cache instead of failing.
    site, command = _read_only_copy(tmp_path)
    blocker = tmp_path / "a-regular-file"
    blocker.write_text("")
    result = _finish(_start(blocker / "cache", command, cwd=tmp_path,
                            PYTHONPATH=str(site),
                            HOME=str(blocker / "home"),
                            XDG_CACHE_HOME=str(blocker / "xdg")))
    assert result["package"].startswith(str(site))
    for got, expected in zip(result["components"], _reference()):
        assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
