"""The curated public API: everything in __all__ exists; model kinds load without imports."""

from __future__ import annotations

import subprocess
import sys

import gmmseg

#: Libraries a start-up (``import gmmseg``, ``gmmseg --help``) must not load: each costs 0.1-0.6 s.
HEAVY = ("sklearn", "pandas", "pyarrow", "matplotlib", "skimage", "PIL", "cv2", "dask", "distributed", "scipy.stats")


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


def _heavy_modules_after(statement: str) -> list[str]:
    code = (
        f"import sys\n{statement}\n"
        f"print(sorted(h for h in {HEAVY!r} if any(m == h or m.startswith(h + '.') for m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return eval(out.stdout.strip().splitlines()[-1])  # the last line: a printed list of str


def test_import_gmmseg_loads_no_heavy_library():
    assert _heavy_modules_after("import gmmseg") == []


def test_the_error_tree_is_listed_once():
    from gmmseg import errors

    assert set(errors.__all__) <= set(gmmseg.__all__)
    assert all(getattr(gmmseg, name) is getattr(errors, name) for name in errors.__all__)


def test_import_gmmseg_cli_loads_no_heavy_library():
    assert _heavy_modules_after("import gmmseg.cli") == []


def test_gmmseg_help_loads_no_heavy_library():
    code = "import gmmseg.cli as c\ntry:\n    c.main(['--help'])\nexcept SystemExit:\n    pass"
    assert _heavy_modules_after(code) == []
