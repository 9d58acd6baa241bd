"""Fixtures of the image tests: the synthetic painted-regions image with known truth."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("synthetic", Path(__file__).with_name("synthetic.py"))
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)


@pytest.fixture
def painted_regions():
    """:func:`synthetic.painted_regions`: four painted regions plus Gaussian RGB noise, and their truth."""
    return synthetic.painted_regions
