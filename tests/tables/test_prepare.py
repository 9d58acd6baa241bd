"""FeaturePrep: roles, imputation, transforms chosen by measurement, exact inverse, saved state."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gmmseg.errors import ParameterError
from gmmseg.tables.prepare import FeaturePrep, _log_gain, _mixture_log_gain, _mixture_log_likelihood

from .conftest import make_customers


def test_roles_inferred_and_overridable():
    frame = make_customers()
    frame["note"] = [f"customer said something about item {i} today" for i in range(frame.shape[0])]
    prep = FeaturePrep().fit(frame)
    assert prep.roles_ == {
        "customer_id": "id",
        "spend": "numeric",
        "visits": "numeric",
        "plan": "categorical",
        "signup": "date",
        "note": "text",
    }
    assert any(e["column"] == "note" and "excluded" in e["note"] for e in prep.summary())
    prep2 = FeaturePrep({"visits": "categorical", "signup": "ignore"}).fit(frame)
    assert prep2.roles_["visits"] == "categorical" and "signup" not in prep2.columns_


def test_imputation_counts_and_fill_values():
    frame = make_customers()
    frame.loc[[0, 5, 7], "spend"] = np.nan
    frame.loc[[1, 2], "plan"] = None
    prep = FeaturePrep(id_column="customer_id").fit(frame)
    report = {e["column"]: e for e in prep.summary()}
    assert report["spend"]["imputed"] == 3 and report["plan"]["imputed"] == 2
    assert prep.numeric_["spend"]["fill"] == pytest.approx(np.nanmedian(frame["spend"]))
    assert prep.categories_["plan"]["fill"] == frame["plan"].mode()[0]
    assert np.isfinite(prep.transform(frame)).all()


def test_log1p_chosen_only_where_it_raises_the_likelihood():
    rng = np.random.default_rng(1)
    n = 4000
    frame = pd.DataFrame({"skewed": rng.lognormal(2, 1, n), "left": 500 - rng.lognormal(3, 0.8, n).clip(0, 499)})
    prep = FeaturePrep().fit(frame)
    assert prep.numeric_["skewed"]["transform"] == "log1p"
    assert prep.numeric_["left"]["transform"] == "identity"
    # independent check of the measured gain: Gaussian log-likelihood with and without the log
    x = frame["skewed"].to_numpy()
    ll_id = stats.norm(x.mean(), x.std()).logpdf(x).mean()
    y = np.log1p(x)
    ll_log = (stats.norm(y.mean(), y.std()).logpdf(y) - np.log1p(x)).mean()
    assert _log_gain(x, 0.0, 1.0) == pytest.approx(ll_log - ll_id, rel=1e-9)


def test_mixture_skew_transform_leaves_a_second_mode_unlogged():
    # "mixture" logs a lognormal amount, as "auto" does, but not a column whose right skew is a
    # second mode (a 1-D mixture fits it as it is; the log would pull the mode's rows in)
    rng = np.random.default_rng(2)
    n = 3000
    modes = np.where(rng.random(n) < 0.7, rng.normal(2.0, 0.6, n), rng.normal(8.0, 1.0, n)).clip(0.0, None)
    frame = pd.DataFrame({"amount": rng.lognormal(3, 1, n), "modes": modes, "left": 50 - rng.lognormal(2, 0.5, n)})
    auto = FeaturePrep().fit(frame)
    mixture = FeaturePrep(skew_transform="mixture").fit(frame)
    assert [auto.numeric_[c]["transform"] for c in frame] == ["log1p", "log1p", "identity"]
    assert [mixture.numeric_[c]["transform"] for c in frame] == ["log1p", "identity", "identity"]
    # the summary gives the gain that decided: the mixture's where it was asked, else None
    described = {e["column"]: e for e in mixture.report_}
    assert described["amount"]["mixture_log1p_gain_nats_per_row"] > 0.05
    assert described["modes"]["log1p_gain_nats_per_row"] > 0.05
    assert described["modes"]["mixture_log1p_gain_nats_per_row"] <= 0.05
    assert "mixture_log1p_gain_nats_per_row" not in described["left"]  # left-skewed: never asked
    assert not any("mixture_log1p_gain_nats_per_row" in e for e in auto.report_)
    with pytest.raises(ParameterError, match="skew_transform must be one of auto, mixture, none, log1p"):
        FeaturePrep(skew_transform="mix").fit(frame)


def test_mixture_log_gain_is_the_log_jacobian_corrected_difference_and_step_free():
    # log1p((x - shift) / step) is a density of x only with the Jacobian -log1p(u) - log(step):
    # the gain must equal the explicit difference, and a column in other units (x / s with step
    # 1 against x with step s) must give the same gain
    rng = np.random.default_rng(4)
    x = rng.lognormal(2.0, 1.2, 2000)
    explicit = _mixture_log_likelihood(np.log1p(x)) - np.mean(np.log1p(x)) - _mixture_log_likelihood(x)
    assert _mixture_log_gain(x, 0.0, 1.0, 0.0) == pytest.approx(explicit, rel=1e-10)
    assert _mixture_log_gain(x * 7.0, 0.0, 7.0, 0.0) == pytest.approx(_mixture_log_gain(x, 0.0, 1.0, 0.0), rel=1e-6)


def test_mixture_log_likelihood_is_the_chosen_mixtures_density_in_the_columns_units():
    # against an explicit loop over the components with scipy.stats.norm, in the original units
    from gmmseg.core.selection import select_components

    rng = np.random.default_rng(3)
    v = np.concatenate([rng.normal(10.0, 2.0, 600), rng.normal(30.0, 4.0, 400)])
    z = ((v - v.mean()) / v.std())[:, None]
    model = select_components(z, range(1, 4), "full", random_state=0, reg_covar=1e-3, restarts=0).best_model
    assert model.n_components == 2
    density = np.zeros_like(v)
    for k in range(model.n_components):
        mean = v.mean() + v.std() * model.means_[k, 0]
        sd = v.std() * np.sqrt(model.covariances_[k, 0, 0])
        density += model.weights_[k] * stats.norm(mean, sd).pdf(v)
    assert _mixture_log_likelihood(v) == pytest.approx(np.mean(np.log(density)), rel=1e-10)


@pytest.mark.parametrize("scaling", ["standard", "robust"])
def test_inverse_transform_round_trip(scaling):
    frame = make_customers()
    prep = FeaturePrep(id_column="customer_id", scaling=scaling).fit(frame)
    back = prep.inverse_transform(prep.transform(frame))
    np.testing.assert_allclose(back["spend"], frame["spend"], rtol=1e-10)
    np.testing.assert_allclose(back["visits"], frame["visits"], rtol=1e-10)
    assert (back["plan"] == frame["plan"]).all()
    days = (pd.Timestamp(prep.numeric_["signup"]["reference_date"]) - pd.to_datetime(frame["signup"])).dt.days
    np.testing.assert_allclose(back["signup"], days)


def test_dequantization_only_when_fitting_and_within_one_step():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"count": rng.poisson(1, 2000).astype(float) + 1})
    prep = FeaturePrep(skew_transform="none", scaling="standard")
    noisy = prep.fit_transform(frame)
    exact = prep.transform(frame)
    state = prep.numeric_["count"]
    assert state["dequantize"] and state["resolution"] == 1.0
    shift = (noisy - exact)[:, 0] * state["scale"]
    assert np.abs(shift).max() <= 0.5 and shift.std() > 0.2
    np.testing.assert_array_equal(prep.transform(frame), exact)  # deterministic


def test_rare_levels_pooled_and_unseen_levels():
    frame = pd.DataFrame({"x": np.arange(200.0), "c": ["a"] * 120 + ["b"] * 78 + ["r1", "r2"]})
    prep = FeaturePrep(rare_share=0.05).fit(frame)
    assert prep.categories_["c"]["levels"] == ["a", "b", "(other)"]
    Z = prep.transform(pd.DataFrame({"x": [1.0], "c": ["never seen"]}))
    assert Z[0, -1] == 1.0 and Z[0, -3:-1].sum() == 0


def test_state_is_json_and_reproduces_transform():
    frame = make_customers()
    prep = FeaturePrep(id_column="customer_id").fit(frame)
    state = json.loads(json.dumps(prep.to_state()))
    again = FeaturePrep.from_state(state)
    np.testing.assert_array_equal(again.transform(frame), prep.transform(frame))


def test_decimal_comma_text_is_numeric():
    frame = pd.DataFrame({"amount": ["12,50", "3,25", "100,00", "7,75"], "n": [1, 2, 3, 4]})
    prep = FeaturePrep(skew_transform="none").fit(frame)
    assert prep.roles_["amount"] == "numeric"
    back = prep.inverse_transform(prep.transform(frame))
    np.testing.assert_allclose(back["amount"], [12.5, 3.25, 100.0, 7.75])


def test_warning_when_a_numeric_looking_column_is_dropped():
    values = [f"{v:.2f}" for v in np.linspace(1, 50, 60)]
    values[::4] = [f"n/a {i}" for i in range(15)]  # a quarter unreadable: free text, dropped
    frame = pd.DataFrame({"amount": values, "n": np.arange(60.0)})
    with pytest.warns(UserWarning, match="amount looks numeric but is left out"):
        prep = FeaturePrep().fit(frame)
    assert prep.roles_["amount"] in ("id", "text")


def test_wide_table_prepared_quickly():
    import time

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(300, 3000)).round(3), columns=[f"c{j}" for j in range(3000)])
    start = time.process_time()
    prep = FeaturePrep()
    Z = prep.fit_transform(frame)
    assert time.process_time() - start < 15  # was about 100 s (a per-column set rebuild, pandas calls)
    assert Z.shape == (300, 3000)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=0.1)
    np.testing.assert_allclose(prep.inverse_transform(prep.transform(frame)).to_numpy(), frame.to_numpy(), atol=1e-12)


def test_two_valued_number_columns_are_binary():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "partner": rng.integers(0, 2, 200).astype(float),
            "plan_code": np.where(rng.random(200) < 0.3, 5, 9),  # any two values: coded 0 (5) / 1 (9)
            "spend": rng.lognormal(3, 1, 200),
        }
    )
    frame.loc[3, "partner"] = np.nan
    prep = FeaturePrep()
    Z = prep.fit_transform(frame)  # the fitting matrix: binaries get no noise
    assert prep.roles_["partner"] == prep.roles_["plan_code"] == "binary"
    assert prep.roles_["spend"] == "numeric"
    assert set(np.unique(Z[:, :2])) <= {0.0, 1.0}
    np.testing.assert_array_equal(Z[:, 1], (frame["plan_code"] == 9).astype(float))
    report = {e["column"]: e for e in prep.summary()}
    assert report["plan_code"]["transform"] == "0/1" and report["plan_code"]["values"] == [5.0, 9.0]
    assert report["plan_code"]["share_high"] == pytest.approx((frame["plan_code"] == 9).mean(), abs=1e-4)
    assert report["partner"]["imputed"] == 1
    back = prep.inverse_transform(prep.transform(frame))
    np.testing.assert_array_equal(back["plan_code"], frame["plan_code"])
    again = FeaturePrep.from_state(json.loads(json.dumps(prep.to_state())))
    np.testing.assert_array_equal(again.transform(frame), prep.transform(frame))


def test_yyyymmdd_integer_dates_are_transformed_as_the_days_they_were_fitted_on():
    # the fit turned them into days before the last date; transform used the raw integers
    days = pd.date_range("2020-01-01", periods=50).strftime("%Y%m%d").astype(int)
    frame = pd.DataFrame({"signup_date": days, "x": np.random.default_rng(0).normal(size=50)})
    prep = FeaturePrep().fit(frame)
    assert prep.roles_["signup_date"] == "date"
    Z = prep.transform(frame)[:, 0]
    state = prep.numeric_["signup_date"]
    np.testing.assert_allclose(Z, (np.arange(50, 0, -1) - state["center"]) / state["scale"])
    assert np.abs(Z).max() < 3
