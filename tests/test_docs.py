"""The documentation runs and says what the code does.

Every ```python block of README.md runs, in order, in one namespace (as a reader
pasting them one after the other would), and must raise nothing and warn nothing.
The README is read when the tests are collected, so edits to it are tested as they
are. The docstring examples run under pytest's ``--doctest-modules`` with
``ConvergenceWarning`` as an error (see the repository's ``conftest.py``).
"""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import skmetric
from skmetric import LMNN
from skmetric._init import initial_components

README = Path(__file__).resolve().parents[1] / "README.md"

# Blocks that cannot run here, recognised by a fragment of their text.
NOT_RUN = {}
# Blocks known to warn today, recognised by a fragment of their text: strict
# expected failures, so that the fix shows up as an XPASS to remove them.
KNOWN_WARNINGS = {}


def _python_blocks(text):
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def _block_params():
    params = []
    for index, block in enumerate(_python_blocks(README.read_text())):
        marks = [
            pytest.mark.xfail(raises=category, reason=reason, strict=True)
            for fragment, (category, reason) in KNOWN_WARNINGS.items()
            if fragment in block
        ]
        params.append(pytest.param(index, marks=marks, id=f"block{index}"))
    return params


@pytest.fixture(scope="module")
def readme_run():
    """Run the README's python blocks in order; per block: (skip reason,
    exception, warnings)."""
    namespace = {"__name__": "__readme__"}
    outcomes = []
    for index, block in enumerate(_python_blocks(README.read_text())):
        skip = next((reason for fragment, reason in NOT_RUN.items()
                     if fragment in block), None)
        error, caught = None, []
        if skip is None:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    exec(compile(block, f"README.md python block {index}", "exec"),
                         namespace)
                except Exception as exc:  # reported by the block's own test
                    error = exc
        outcomes.append((skip, error, list(caught)))
    return outcomes


def test_readme_has_python_blocks():
    assert len(_python_blocks(README.read_text())) >= 3


@pytest.mark.parametrize("index", _block_params())
def test_readme_block_runs_without_error_or_warning(readme_run, index):
    skip, error, caught = readme_run[index]
    if skip is not None:
        pytest.skip(skip)
    if error is not None:
        raise error
    if caught:
        listed = "\n".join(f"  {w.category.__name__}: {w.message} ({w.filename}:"
                           f"{w.lineno})" for w in caught)
        # Raised as the first warning's category, so an expected failure can
        # name the kind of warning it expects.
        raise caught[0].category(
            f"README python block {index} emitted {len(caught)} warning(s):\n{listed}"
        )


def test_readme_known_cases_still_match_a_block():
    # An entry whose block was rewritten would silently stop applying.
    text = README.read_text()
    for fragment in list(NOT_RUN) + list(KNOWN_WARNINGS):
        assert fragment in text, fragment


# ---------------------------------------------------------------------------------
# Docstrings that state a rule of the code
# ---------------------------------------------------------------------------------


def _parameter_doc(estimator, name):
    """The text of parameter ``name`` in the estimator's numpydoc docstring."""
    doc = type(estimator).__doc__
    match = re.search(rf"^    {name} : .*?(?=^    \w+ : |^    \S.*\n    ---)", doc,
                      flags=re.S | re.M)
    assert match, f"no parameter {name!r} in {type(estimator).__name__}'s docstring"
    return " ".join(match.group(0).split())


def test_lmnn_init_auto_documents_the_n_samples_limit():
    # 'auto' picks 'pca' only for n_components < min(n_features, n_samples): with
    # fewer samples than components it starts from the identity instead.
    text = _parameter_doc(LMNN(), "init")
    assert "min(n_features, n_samples)" in text, text
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(5, 10)), np.array([0, 0, 1, 1, 1])
    L = initial_components("auto", X, y, 8, np.random.RandomState(0))
    assert np.array_equal(L, np.eye(8, 10))
    # With as many samples as needed, the same call picks 'pca' (orthonormal rows).
    X = rng.normal(size=(30, 10))
    L = initial_components("auto", X, np.arange(30) % 2, 8, np.random.RandomState(0))
    assert not np.array_equal(L, np.eye(8, 10))
    np.testing.assert_allclose(L @ L.T, np.eye(8), atol=1e-12)


def test_private_sklearn_imports_only_in_the_validation_module():
    # Private scikit-learn modules (a path component starting with "_") change at
    # any release: skmetric/_validation.py is the one place allowed to import them,
    # and it says so next to the import.
    package = Path(skmetric.__file__).parent
    private = re.compile(r"^\s*(?:(?:from|import)\s+sklearn(?:\.\w+)*\._\w*"
                         r"|from\s+sklearn(?:\.\w+)*\s+import\s+\(?\s*_)", re.M)
    offenders = [
        str(path.relative_to(package)) for path in sorted(package.rglob("*.py"))
        if path.name != "_validation.py" and private.search(path.read_text())
    ]
    assert offenders == []
    validation = (package / "_validation.py").read_text()
    assert private.search(validation)
    assert "tests/test_validation.py::test_private_sklearn_imports_still_exist" in (
        validation)


def test_get_metric_docs_offer_fast_routes_that_give_the_same_neighbours():
    # get_metric() is slow inside KNeighborsClassifier (a Python call per pair):
    # its docstring says so and offers two fast routes, which must agree with it.
    from sklearn.datasets import load_iris
    from sklearn.neighbors import KNeighborsClassifier

    doc = " ".join(LMNN.get_metric.__doc__.split())
    assert "slowly" in doc and 'metric="mahalanobis"' in doc and "transform" in doc
    X, y = load_iris(return_X_y=True)
    X, first = np.unique(X, axis=0, return_index=True)  # duplicate rows would tie
    y = y[first]
    model = LMNN(random_state=0).fit(X, y)
    slow = KNeighborsClassifier(5, metric=model.get_metric()).fit(X, y)
    mahalanobis = KNeighborsClassifier(
        5, metric="mahalanobis", algorithm="brute",
        metric_params={"VI": model.get_mahalanobis_matrix()}).fit(X, y)
    euclidean = KNeighborsClassifier(5).fit(model.transform(X), y)
    expected = slow.kneighbors(X, return_distance=False)
    # Iris lies on a grid: two pairs with the same difference vector are exactly
    # as far apart under any metric, and rounding orders such ties differently
    # from route to route. Each route must return neighbours at the expected
    # distances, and the expected neighbours wherever their distance is not tied.
    M = model.get_mahalanobis_matrix()
    diffs = X[:, None, :] - X[None, :, :]
    D = np.einsum("ijd,de,ije->ij", diffs, M, diffs)
    rows = np.arange(X.shape[0])[:, None]
    tied = (np.abs(D[rows, expected][:, :, None] - D[:, None, :])
            <= 1e-9 * D.max()).sum(axis=2) > 1
    for got in (mahalanobis.kneighbors(X, return_distance=False),
                euclidean.kneighbors(model.transform(X), return_distance=False)):
        np.testing.assert_allclose(D[rows, got], D[rows, expected], rtol=0,
                                   atol=1e-9 * D.max())
        np.testing.assert_array_equal(got[~tied], expected[~tied])


def test_front_page_is_short_names_every_estimator_and_has_a_licence():
    # A newcomer's page: under 250 lines, the set-up commands, every public
    # estimator in the chooser, and the licence pyproject declares.
    import inspect
    import tomllib

    import skmetric.deep

    text = README.read_text()
    assert len(text.splitlines()) < 250
    assert "python -m benchmarks" in text and "python -m pytest" in text
    for module in (skmetric, skmetric.deep):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) and not issubclass(obj, Warning):
                assert f"`{name}" in text or f".{name}`" in text, name
    # Stated gaps and claims that the code no longer bears out stay off the page.
    assert "strict expected failure" not in text
    assert "0.2–2.6 s" not in text
    root = README.parent
    licence = tomllib.loads((root / "pyproject.toml").read_text())["project"]["license"]
    assert licence == {"text": "BSD-3-Clause"}
    notice = (root / "LICENSE").read_text()
    assert notice.startswith("BSD 3-Clause License") and "skmetric developers" in notice
