"""Presets against their sources: published curves and system results, detector limits, finite-key time.

Sources are cited per test; the calibration data live in :mod:`qtopo.keyrate.calibration` and its table in
docs/physics.md.
"""
import pathlib

import numpy as np
import pytest

from qtopo.errors import InputError
from qtopo.keyrate import (
    PRESETS,
    PROTOCOLS,
    get_device,
    make_device,
    max_reach_db,
    plob_bound_loss,
    secret_bits_per_pulse,
    secret_key_rate_bps,
)
from qtopo.keyrate import calibration as C
from qtopo.keyrate.rates import finite_block_size, finite_block_time_s, limit_factor

ROOT = pathlib.Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ Lim et al. 2014 (simulation paper, 5%)
@pytest.fixture(scope="module")
def lim_paper():
    """The paper's Fig. 1 setting: no accumulation-time limit, no validity cut."""
    return get_device("lim-2014-finite", max_block_time_s=None, max_loss_db=None)


def test_lim_2014_smallest_block_reach_135_km(lim_paper):
    """Lim et al., PRA 89, 022307 (2014), Sec. IV: 'even if we use a block size of 10^4, cryptographic keys
    can still be distributed over a fiber length of 135 km' (0.2 dB/km). Within 5%."""
    km = max_reach_db(lim_paper.with_(block_size=1e4)) / 0.2
    assert km == pytest.approx(135.0, rel=0.05), km


def test_lim_2014_block_ratio_at_100_km(lim_paper):
    """Lim et al. 2014, Sec. IV: 'at a fiber length of 100 km, the secret key rate obtained with n_X = 10^9
    is about 1.75 times the one based on n_X = 10^7'. Within 5%."""
    r9, r7 = (float(secret_bits_per_pulse(20.0, lim_paper.with_(block_size=n), exact=True)) for n in (1e9, 1e7))
    assert r9 / r7 == pytest.approx(1.75, rel=0.05), r9 / r7


def test_lim_2014_no_key_at_200_km(lim_paper):
    """Lim et al. 2014, Fig. 1: every curve (n_X up to 10^9) ends before the 200 km edge of the plot; the
    largest block still gives a key at 160 km (its curve reaches well beyond the 135 km of n_X = 10^4)."""
    r = secret_bits_per_pulse(np.array([32.0, 40.0]), lim_paper, exact=True)
    assert r[0] > 0 and r[1] == 0.0


# ------------------------------------------------------------------ GYS fibre
def test_gys_reach_on_its_own_fibre():
    """Lo, Ma, Chen 2005 (Table I, 0.21 dB/km): ~142 km; the preset names that fibre and `qtopo rates` uses
    it by default (not 0.2 dB/km, which would give ~149 km)."""
    from qtopo.cli.rates import compute

    dev = get_device("gys-2005")
    assert dev.fibre_type == "gys-2004"
    data = compute(np.array([0.0]), [dev], None)
    assert data["curves"][0]["max_distance_km"] == pytest.approx(142.0, abs=2.0)


# ------------------------------------------------------------------ system calibration (issue 13)
@pytest.mark.parametrize("preset,key", sorted(C.CALIBRATED.items()))
def test_calibrated_preset_reproduces_its_point(preset, key):
    """The one calibrated parameter of each commercial-class preset reproduces the reported system rate at
    the reported loss within 10% (points and sources in qtopo.keyrate.calibration)."""
    p = C.point(key)
    model = float(C.model_rate_bps(preset, [p.loss_db])[0])
    assert model == pytest.approx(p.rate_bps, rel=C.CALIBRATION_TOLERANCE), (model, p)


@pytest.mark.parametrize("preset", sorted(C.COMMERCIAL_CLASS))
def test_commercial_presets_within_30_percent_of_best_published(preset):
    """Issue 13: apd-*/snspd-* presets never exceed the best published result of their class at the same loss
    by more than 30%, anywhere from 0 to 30 dB."""
    ratio, at = C.envelope_excess(preset)
    assert ratio <= 1.0 + C.ENVELOPE_MARGIN, (preset, ratio, at)


def test_every_commercial_preset_is_checked():
    names = {n for n in PRESETS if n.startswith(("apd-", "snspd-"))}
    assert names == set(C.COMMERCIAL_CLASS)


def test_envelope_shape():
    e = C.envelope_bps(np.array([0.0, 2.0, 14.5, 24.5]), "apd")
    assert e[0] == e[1] == pytest.approx(13.72e6)
    assert e[2] == pytest.approx(304e3)
    assert e[3] == pytest.approx(30.4e3)          # one decade per 10 dB beyond the last point


def test_docs_calibration_table_is_current():
    text = (ROOT / "docs" / "physics.md").read_text(encoding="utf-8")
    assert C.render_into(text) == text, "run: python -m qtopo.keyrate.calibration docs/physics.md"


# ------------------------------------------------------------------ detector and system limits
def _capped():
    return get_device("snspd-bb84")


def test_post_processing_cap_flat_and_never_exceeded():
    """snspd-bb84 is capped at 64 Mbit/s (Grunenfelder et al. 2023): flat at low loss, never above."""
    dev = _capped()
    loss = np.linspace(0.0, 30.0, 301)
    r = secret_key_rate_bps(loss, dev)
    assert np.all(r <= dev.max_secret_rate_bps * (1 + 1e-12))
    low = r[loss <= 1.0]
    assert np.all(low == pytest.approx(dev.max_secret_rate_bps, rel=1e-9))
    assert np.all(np.diff(r) <= 1e-6 * r[:-1])


def test_dead_time_non_paralysable_factor():
    """Non-paralysable dead time (Rogers et al., NJP 9, 319 (2007)): registered rate c/(1 + c tau); the key
    scales with the registered fraction, so rate vs loss flattens at low loss."""
    from qtopo.keyrate.rates import detector_click_rate_hz

    base = get_device("apd-bb84")
    dev = base.with_(dead_time_s=1e-7)
    loss = np.array([0.0, 5.0, 20.0])
    c = detector_click_rate_hz(loss, dev)
    np.testing.assert_allclose(limit_factor(loss, dev), 1.0 / (1.0 + c * 1e-7))
    r0 = secret_key_rate_bps(loss, base, exact=True)
    r1 = secret_key_rate_bps(loss, dev, exact=True)
    np.testing.assert_allclose(r1, r0 / (1.0 + c * 1e-7), rtol=1e-9)
    # registered clicks per detector never exceed 1/tau, and saturation flattens the low-loss end
    assert np.all(c / (1.0 + c * 1e-7) < 1e7)
    assert r1[0] / r1[1] < r0[0] / r0[1]


def test_max_count_rate_caps_registered_clicks():
    from qtopo.keyrate.rates import detector_click_rate_hz

    dev = get_device("apd-bb84", max_count_rate_hz=1e6)
    loss = np.array([0.0, 10.0, 25.0])
    c = detector_click_rate_hz(loss, dev)
    assert np.all(c * limit_factor(loss, dev) <= 1e6 * (1 + 1e-12))
    r = secret_key_rate_bps(loss, dev, exact=True)
    assert r[0] == pytest.approx(r[1], rel=0.05)   # both limited to ~1e6 registered clicks per detector


@pytest.mark.parametrize("field,value", [("dead_time_s", -1.0), ("max_count_rate_hz", 0.0),
                                         ("max_secret_rate_bps", float("nan")), ("max_block_time_s", 0.0),
                                         ("afterpulse_prob", 1.0), ("fibre_type", "copper")])
def test_limit_fields_validated(field, value):
    with pytest.raises(InputError) as e:
        get_device("apd-bb84" if field != "max_block_time_s" else "lim-2014-finite", **{field: value})
    assert field in str(e.value)


def test_cv_rejects_dead_time():
    with pytest.raises(InputError) as e:
        get_device("cv-jouguet-2013", dead_time_s=1e-8)
    assert "dead_time_s" in str(e.value)


# ------------------------------------------------------------------ finite-key time
def test_block_time_monotone_and_within_limit():
    """The block used is the largest that fills within max_block_time_s: block time grows with loss until
    it reaches the limit, the block shrinks from n_X = 1e9 once the limit binds."""
    dev = get_device("lim-2014-finite")
    loss = np.array([0.0, 10.0, 20.0, 25.0, 30.0, 35.0])
    t = finite_block_time_s(loss, dev)
    n = finite_block_size(loss, dev)
    assert np.all(t > 0)
    assert np.all(np.diff(t) >= -1e-3 * t[:-1])
    assert np.all(t <= dev.max_block_time_s * (1 + 1e-9))
    assert n[0] == pytest.approx(1e9) and n[-1] < 1e9
    assert t[-1] == pytest.approx(dev.max_block_time_s, rel=1e-6)


def test_block_that_cannot_fill_has_no_rate():
    """With one second per block, 35 dB cannot fill even the smallest block (1e4): no rate."""
    dev = get_device("lim-2014-finite", max_block_time_s=1.0)
    r = secret_bits_per_pulse(np.array([5.0, 35.0]), dev, exact=True)
    assert r[0] > 0 and r[1] == 0.0
    assert finite_block_time_s(35.0, dev) == 0.0


def test_asymptotic_protocols_have_no_block_time():
    assert np.isnan(finite_block_time_s(10.0, get_device("apd-bb84")))


# ------------------------------------------------------------------ PLOB and validity ranges
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_never_above_plob(name):
    """Pirandola et al., Nat. Commun. 8, 15043 (2017): no repeaterless protocol beats -log2(1-eta)."""
    dev = get_device(name)
    if not PROTOCOLS[dev.protocol].repeaterless:
        pytest.skip("twin-field is not bound by PLOB")
    loss = np.linspace(0.0, 60.0, 121)
    assert np.all(secret_bits_per_pulse(loss, dev) <= plob_bound_loss(loss))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_has_a_validity_range_or_a_physical_reach(name):
    dev = get_device(name)
    reach = max_reach_db(dev)
    assert np.isfinite(reach)
    if dev.max_loss_db is not None:
        assert reach <= dev.max_loss_db
        assert secret_bits_per_pulse(dev.max_loss_db + 0.01, dev) == 0.0


def test_no_unchecked_preset_in_catalog():
    for dev in PRESETS.values():
        low = dev.source.lower()
        assert "check against" not in low and "in the style of" not in low, dev.name


def test_cv_without_range_refused():
    with pytest.raises(InputError):
        make_device(name="cv", protocol="cv-gg02", repetition_rate_hz=1e6, detector_efficiency=0.6,
                    dark_count_prob=0.0, misalignment_error=0.0, ec_efficiency=1.0, source="test",
                    excess_noise=0.01, reconciliation_efficiency=0.95)


def test_planner_diagnosis_names_block_time_limit():
    """A span beyond a finite-key device's reach because its blocks cannot fill in time is diagnosed as such."""
    from types import SimpleNamespace

    from qtopo.candidates import _block_time_detail

    dev = get_device("lim-2014-finite", max_block_time_s=1.0)
    reach = max_reach_db(dev)
    inputs = SimpleNamespace(devices={"lim": dev, "apd": get_device("apd-bb84")},
                             params={"reach_db": {"lim": reach, "apd": max_reach_db(get_device("apd-bb84"))}})
    msg = _block_time_detail(inputs, reach + 3.0)
    assert "'lim'" in msg and "max_block_time_s = 1 s" in msg and "'apd'" not in msg
    assert _block_time_detail(inputs, reach - 1.0) == ""


# ------------------------------------------------------------------ MDI-QKD, Lo-Curty-Qi 2012 (issue 13)
def test_mdi_lcq_2012_tolerates_over_40_db():
    """Lo, Curty, Qi, PRL 108, 130503 (2012), text on Fig. 2 (relay in the middle, 0.2 dB/km, e_d 1.5%,
    eta_d 14.5%, Y0 6.02e-6, f 1.16): MDI-QKD with WCPs and decoy states tolerates a total channel loss
    of more than 40 dB (about 200 km). The preset must still give a key at 40 dB."""
    dev = get_device("mdi-lcq-2012")
    assert float(secret_bits_per_pulse(40.0, dev, exact=True)) > 0.0
    assert max_reach_db(dev) > 40.0


# ------------------------------------------------------------------ CV-QKD GG02 (issue 13)
def test_gg02_reproduces_lodewyck_2007_25_km():
    """Lodewyck et al., PRA 76, 042305 (2007), 25 km point: T = 0.302, V_A = 18.5 SNU, xi = 0.005 SNU
    (channel input), eta = 0.606, v_el = 0.041 SNU, beta = 0.898, 350 kHz: Holevo-bound secret rate
    12.3 kb/s (their printed Delta I^eff_Holevo). The detector numbers are those of 'cv-jouguet-2013';
    the model at the paper's parameters must give the paper's rate within 1% (same quantity, asymptotic)."""
    dev = get_device("cv-jouguet-2013", repetition_rate_hz=350e3, modulation_variance=18.5, excess_noise=0.005,
                     reconciliation_efficiency=0.898, max_loss_db=20.0)
    loss = -10.0 * np.log10(0.302)
    assert float(secret_key_rate_bps(loss, dev, exact=True)) == pytest.approx(12.3e3, rel=0.01)


# ------------------------------------------------------------------ apd-bb84-finite against its sources
def test_apd_finite_approaches_apd_asymptotic_as_block_grows():
    """apd-bb84-finite is the apd-bb84 hardware under Lim et al. (2014)'s finite-key bound: below the
    asymptotic rate at every block size, and closer to it the larger the block (the finite-size terms of
    Lim et al. Eq. (1)-(2) vanish as n_X grows)."""
    loss = np.array([5.0, 15.0, 25.0])
    asym = secret_bits_per_pulse(loss, get_device("apd-bb84"), exact=True)
    ratios = []
    for n in (1e6, 1e8, 1e10, 1e12):
        dev = get_device("apd-bb84-finite", block_size=n, max_block_time_s=None)
        ratios.append(secret_bits_per_pulse(loss, dev, exact=True) / asym)
    ratios = np.array(ratios)
    assert np.all(ratios < 1.0) and np.all(ratios > 0.0)
    assert np.all(np.diff(ratios, axis=0) > 0.0)
    assert np.all(ratios[-1] > 0.7)


def test_apd_finite_model_on_lim_parameters_reaches_135_km():
    """The finite-key model of apd-bb84-finite, given Lim et al. 2014 Sec. IV hardware (eta_Bob 10%,
    p_dc 6e-7, e_mis 0.5%, p_ap 4%) and n_X = 10^4, reproduces their 135 km (0.2 dB/km) within 5%."""
    dev = get_device("apd-bb84-finite", detector_efficiency=0.10, dark_count_prob=6e-7, misalignment_error=0.005,
                     afterpulse_prob=0.04, block_size=1e4, max_block_time_s=None, max_loss_db=None)
    assert max_reach_db(dev) / 0.2 == pytest.approx(135.0, rel=0.05)
