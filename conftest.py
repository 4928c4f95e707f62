"""Repository-wide pytest hooks.

The docstring examples (collected by ``--doctest-modules``) run with
``ConvergenceWarning`` as an error: an example must not show a fit that stopped
before converging. Known exceptions run as strict expected failures, so that a
fix shows up as a failing XPASS until its entry is removed.
"""

import pytest

DOCTEST_FILTER = "error::sklearn.exceptions.ConvergenceWarning"

KNOWN_DOCTEST_FAILURES = {}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if type(item).__name__ != "DoctestItem":
            continue
        item.add_marker(pytest.mark.filterwarnings(DOCTEST_FILTER))
        reason = KNOWN_DOCTEST_FAILURES.get(item.name)
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
