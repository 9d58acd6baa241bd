"""Run the examples in the package's docstrings, so the documented calls keep working."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil

import pytest

import gmmseg

MODULES = sorted(m.name for m in pkgutil.walk_packages(gmmseg.__path__, "gmmseg.") if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    if name.startswith("gmmseg.distributed") and importlib.util.find_spec("dask") is None:
        pytest.skip("the dask extra is not installed (pip install '.[dask]')")
    module = importlib.import_module(name)
    flags = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    result = doctest.testmod(module, optionflags=flags, report=False)
    assert result.failed == 0, (
        f"{result.failed} of {result.attempted} docstring examples in {name} failed (run pytest --doctest-modules {name.replace('.', '/')}.py)"
    )
