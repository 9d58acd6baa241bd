"""CustomerSegmentModel: the file round trip and the refusal of other model kinds."""

from __future__ import annotations

import numpy as np
import pytest

import gmmseg
from gmmseg.core.mixture import GaussianMixture
from gmmseg.errors import ModelFileError
from gmmseg.tables.prepare import FeaturePrep
from gmmseg.tables.segment_model import CustomerSegmentModel, load_customer_model

from .conftest import make_customers


@pytest.fixture(scope="module")
def model():
    frame = make_customers()
    prep = FeaturePrep(id_column="customer_id", random_state=0)
    mixture = GaussianMixture(3, random_state=0).fit(prep.fit_transform(frame))
    return CustomerSegmentModel(prep, mixture, [2, 0, 1], ["a", "b", "c"], "customer_id")


def test_segments_are_the_mixture_components_in_the_given_order(model):
    frame = make_customers()
    expected = model.mixture.predict_proba(model.prep.transform(frame))[:, [2, 0, 1]]
    np.testing.assert_array_equal(model.predict_proba(frame), expected)
    np.testing.assert_array_equal(model.predict(frame), expected.argmax(axis=1))


def test_file_round_trip_keeps_everything(model, tmp_path):
    path = model.save(tmp_path / "m.gmmseg")
    for loaded in (load_customer_model(path), gmmseg.load(path)):
        assert isinstance(loaded, CustomerSegmentModel)
        assert loaded.names == ["a", "b", "c"] and loaded.id_column == "customer_id"
        np.testing.assert_array_equal(loaded.order, [2, 0, 1])
        frame = make_customers()
        np.testing.assert_array_equal(loaded.predict_proba(frame), model.predict_proba(frame))


def test_another_kind_of_model_file_is_refused_with_the_fix(model, tmp_path):
    path = tmp_path / "gmm.gmmseg"
    model.mixture.save(path)
    with pytest.raises(ModelFileError, match="not a customer segmentation model; pass a file written by gmmseg"):
        load_customer_model(path)
