"""Hypothesis properties of the key-rate models."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qtopo.keyrate import (
    PROTOCOLS,
    get_device,
    list_presets,
    max_reach_db,
    plob_bound_loss,
    secret_bits_per_pulse,
)

FAST_PRESETS = [p["name"] for p in list_presets() if p["protocol"] != "bb84-finite"]
ALL_PRESETS = [p["name"] for p in list_presets()]
REPEATERLESS = [n for n in FAST_PRESETS if PROTOCOLS[get_device(n).protocol].repeaterless]

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)
losses = st.lists(st.floats(0.0, 150.0, allow_nan=False), min_size=1, max_size=40)


@SETTINGS
@given(name=st.sampled_from(ALL_PRESETS), loss=losses)
def test_rate_non_increasing_in_loss(name, loss):
    dev = get_device(name)
    x = np.sort(np.asarray(loss))
    r = secret_bits_per_pulse(x, dev)
    assert np.all(r >= 0.0)
    assert np.all(np.diff(r) <= 0.0)


@pytest.mark.filterwarnings("ignore::qtopo.errors.ValidityWarning")  # random devices may give no key at all
@SETTINGS
@given(
    name=st.sampled_from(REPEATERLESS),
    eff=st.floats(0.01, 1.0),
    log_pd=st.floats(-11.0, -4.0),
    ed=st.floats(0.0, 0.1),
    loss=losses,
)
def test_repeaterless_never_above_plob(name, eff, log_pd, ed, loss):
    """Per channel use (pulse / symbol / pulse pair) at the same end-to-end transmittance."""
    proto = get_device(name).protocol
    over = {"detector_efficiency": eff}
    if proto != "cv-gg02":
        over.update(dark_count_prob=10.0 ** log_pd, misalignment_error=ed, sifting_factor=1.0)
    else:
        over.update(reconciliation_efficiency=1.0, excess_noise=ed / 10.0)
    dev = get_device(name, **over)
    x = np.asarray(loss) + 1e-3
    r = secret_bits_per_pulse(x, dev, exact=True)
    assert np.all(r <= plob_bound_loss(x))


@SETTINGS
@given(name=st.sampled_from(ALL_PRESETS), loss=losses)
def test_vectorised_equals_scalar(name, loss):
    dev = get_device(name)
    x = np.asarray(loss)
    vec = secret_bits_per_pulse(x, dev)
    scal = np.array([secret_bits_per_pulse(float(v), dev) for v in x])
    np.testing.assert_array_equal(vec, scal)
    assert secret_bits_per_pulse(float(x[0]), dev).shape == ()


@SETTINGS
@given(name=st.sampled_from(FAST_PRESETS), loss=losses)
def test_vectorised_equals_scalar_exact_path(name, loss):
    dev = get_device(name)
    x = np.asarray(loss[:8])
    vec = secret_bits_per_pulse(x, dev, exact=True)
    scal = np.array([secret_bits_per_pulse(np.array([v]), dev, exact=True)[0] for v in x])
    np.testing.assert_allclose(vec, scal, rtol=1e-12, atol=0)


@SETTINGS
@given(name=st.sampled_from(ALL_PRESETS), extra=st.floats(1e-9, 500.0), exact=st.booleans())
def test_zero_exactly_beyond_reach(name, extra, exact):
    dev = get_device(name)
    reach = max_reach_db(dev)
    r = secret_bits_per_pulse(np.array([reach + extra, np.inf]), dev, exact=exact)
    assert r[0] == 0.0 and r[1] == 0.0
    assert secret_bits_per_pulse(reach, dev, exact=exact) > 0.0
    assert secret_bits_per_pulse(reach * (1 - 1e-3), dev, exact=exact) > 0.0


@pytest.mark.parametrize("name", ALL_PRESETS)
def test_every_preset_works_and_has_reach(name):
    dev = get_device(name)
    reach = max_reach_db(dev)
    assert 5.0 < reach < 200.0
    assert secret_bits_per_pulse(0.0, dev) > 0.0


@pytest.mark.parametrize("name", [p["name"] for p in list_presets() if p["protocol"] == "bb84-finite"])
def test_finite_key_presets_below_plob(name):
    dev = get_device(name)
    loss = np.linspace(0.5, max_reach_db(dev) + 5.0, 60)
    assert np.all(secret_bits_per_pulse(loss, dev) <= plob_bound_loss(loss))
