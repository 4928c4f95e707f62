"""The declared dependency range is the tested one.

pyproject.toml's floors are pinned in .ci/oldest-constraints.txt, which .ci/run
uses to run this suite a second time with the oldest declared versions (there
``SKMETRIC_OLDEST_VERSIONS=1``, and the installed versions must be the pins).
"""

import os
import re
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / ".ci" / "oldest-constraints.txt"


def _release(text):
    """'1.24' -> (1, 24); '0.57.0' -> (0, 57); pre/post/local parts dropped."""
    parts = [int(p) for p in re.match(r"\d+(?:\.\d+)*", text).group(0).split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _floors(requirements):
    """{name: floor} of requirements written 'name>=floor' (extras dropped)."""
    floors = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?\s*(?:>=\s*([\w.]+))?",
                             requirement.strip())
        assert match, f"unexpected requirement {requirement!r}"
        if match.group(2) is not None:
            floors[match.group(1).lower()] = match.group(2)
    return floors


def _project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _pins():
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, pinned = line.partition("==")
            assert pinned, f"{CONSTRAINTS.name}: {line!r} is not a pin"
            pins[name.strip().lower()] = pinned.strip()
    return pins


RUNTIME = _floors(_project()["dependencies"])
TEST_EXTRA = _floors(_project()["optional-dependencies"]["test"])


def test_every_runtime_dependency_has_a_floor():
    names = [re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower()
             for r in _project()["dependencies"]]
    assert sorted(names) == sorted(RUNTIME)
    assert {"numpy", "scipy", "scikit-learn", "numba", "threadpoolctl"} <= set(RUNTIME)


@pytest.mark.parametrize("name", sorted({**RUNTIME, **TEST_EXTRA}))
def test_each_floor_is_pinned_in_the_oldest_constraints(name):
    floor = {**RUNTIME, **TEST_EXTRA}[name]
    pins = _pins()
    assert name in pins, f"{name}>={floor} is not pinned in {CONSTRAINTS.name}"
    assert _release(pins[name]) == _release(floor), (name, pins[name], floor)


def test_ci_runs_the_suite_with_the_oldest_constraints():
    run = (ROOT / ".ci" / "run").read_text()
    assert "-c .ci/oldest-constraints.txt" in run
    assert "SKMETRIC_OLDEST_VERSIONS=1" in run


def test_python_is_within_the_declared_range():
    floor = _release(re.fullmatch(r">=\s*([\d.]+)", _project()["requires-python"])
                     .group(1))
    assert sys.version_info[:len(floor)] >= floor


@pytest.mark.parametrize("name", sorted(RUNTIME))
def test_installed_versions_are_within_the_declared_range(name):
    assert _release(version(name)) >= _release(RUNTIME[name])
    if os.environ.get("SKMETRIC_OLDEST_VERSIONS") == "1":
        # The oldest-versions run of .ci/run: exactly the floors.
        assert _release(version(name)) == _release(RUNTIME[name]), version(name)
