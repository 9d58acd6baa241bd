"""The curated public API: everything in __all__ exists; model kinds load without imports."""

from __future__ import annotations

import subprocess
import sys

import gmmseg


def test_everything_in_all_is_importable():
    for name in gmmseg.__all__:
        assert getattr(gmmseg, name) is not None, name


def test_every_model_kind_resolves_to_a_loadable_class():
    from gmmseg.core.persist import _KINDS

    for kind in ("GaussianMixture", *gmmseg._MODEL_KINDS):
        cls = _KINDS[kind]()
        assert cls.__name__ == kind and hasattr(cls, "_from_file")


def test_import_gmmseg_does_not_import_the_applications():
    code = (
        "import sys, gmmseg; print(any(m.startswith(('gmmseg.image', 'gmmseg.tables', 'dask')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
