"""The EM core: arrays in, arrays and fitted models out (no images, tables, files or Click)."""

from .mixture import GaussianMixture
from .persist import load, register_kind, save
from .selection import SelectionResult, select_components
from .stats import Stats

register_kind("GaussianMixture", lambda: GaussianMixture)

__all__ = ["GaussianMixture", "SelectionResult", "Stats", "load", "register_kind", "save", "select_components"]
