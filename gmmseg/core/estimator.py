"""The scikit-learn estimator protocol without importing scikit-learn.

:class:`EstimatorBase` gives ``get_params``/``set_params``/``__repr__`` and the
scikit-learn tags, so that gmmseg's estimators work with ``sklearn.base.clone``, in a
``Pipeline`` and pass scikit-learn's estimator checks, while ``import gmmseg`` does not
load scikit-learn (about 0.5 s). scikit-learn is imported only when it asks for the tags.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EstimatorBase"]


class EstimatorBase:
    """Parameters as scikit-learn's ``BaseEstimator`` handles them: the ``__init__`` arguments.

    Subclasses store every ``__init__`` argument unchanged under its own name and set
    ``_estimator_type`` (``"density_estimator"`` for a mixture).
    """

    _estimator_type: str | None = None

    @classmethod
    def _parameter_names(cls) -> list[str]:
        import inspect  # ~20 ms: only when parameters are asked for, not at ``import gmmseg``

        signature = inspect.signature(cls.__init__)
        return sorted(
            name
            for name, p in signature.parameters.items()
            if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        )

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The estimator's parameters by name (with ``deep``, also those of nested estimators).

        Parameters
        ----------
        deep : bool, default=True

        Returns
        -------
        dict
        """
        out: dict[str, Any] = {}
        for name in self._parameter_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{key}", v) for key, v in value.get_params().items())
            out[name] = value
        return out

    def set_params(self, **params):
        """Set parameters by name (``name__sub`` sets a parameter of a nested estimator).

        Parameters
        ----------
        **params
            New parameter values.

        Returns
        -------
        self
        """
        valid = self.get_params(deep=True)
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in valid:
                raise ValueError(
                    f"invalid parameter {name!r} for estimator {type(self).__name__}; "
                    f"valid parameters are {sorted(self._parameter_names())}"
                )
            if sub:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
                valid[name] = value
        for name, sub_params in nested.items():
            valid[name].set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        import inspect

        defaults = {
            name: p.default
            for name, p in inspect.signature(type(self).__init__).parameters.items()
            if p.default is not inspect.Parameter.empty
        }
        changed = []
        for name in self._parameter_names():
            value = getattr(self, name)
            default = defaults.get(name, inspect.Parameter.empty)
            if default is inspect.Parameter.empty or not _same(value, default):
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self):
        from sklearn.utils import Tags, TargetTags

        tags = Tags(
            estimator_type=self._estimator_type,
            target_tags=TargetTags(required=False),
            transformer_tags=None,
            regressor_tags=None,
            classifier_tags=None,
        )
        tags.input_tags.allow_nan = False
        return tags


def _same(value, default) -> bool:
    """True when ``value`` is the default (arrays and other objects compare by identity)."""
    if value is default:
        return True
    if isinstance(value, (str, int, float, bool)) and isinstance(default, (str, int, float, bool)):
        return type(value) is type(default) and value == default
    return False
