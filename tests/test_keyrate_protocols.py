"""Reference values and limits of each protocol model, with their sources."""
import math

import numpy as np
import pytest

from qtopo.errors import InputError
from qtopo.keyrate import (
    chain_fidelity,
    get_device,
    link_rate_hz,
    max_reach_db,
    plob_bound,
    plob_bound_loss,
    repeater_chain_limits,
    secret_bits_per_pulse,
    tgw_bound,
)
from qtopo.keyrate.cvqkd import gg02_rate
from qtopo.keyrate.mdi import mdi_rate


# ------------------------------------------------------------------ bounds
def test_plob_high_loss_slope():
    """Pirandola, Laurenza, Ottaviani, Banchi, Nat. Commun. 8, 15043 (2017): the repeaterless bound
    -log2(1-eta) is ~1.44 eta bits per channel use at high loss (abstract: "~1.44 eta")."""
    eta = np.array([1e-3, 1e-5, 1e-8])
    np.testing.assert_allclose(plob_bound(eta) / eta, 1.0 / math.log(2.0), rtol=1e-3)
    assert abs(1.0 / math.log(2.0) - 1.44) < 0.005
    assert plob_bound(0.5) == pytest.approx(1.0)
    assert plob_bound(0.0) == 0.0


def test_tgw_bound_is_twice_plob_at_high_loss_and_above_it():
    """Takeoka, Guha, Wilde, Nat. Commun. 5, 5235 (2014): log2((1+eta)/(1-eta)) ~ 2.88 eta at high loss."""
    eta = np.logspace(-8, -0.01, 50)
    assert np.all(tgw_bound(eta) >= plob_bound(eta))
    np.testing.assert_allclose(tgw_bound(1e-6) / 1e-6, 2.0 / math.log(2.0), rtol=1e-5)


# ------------------------------------------------------------------ twin field
def test_twin_field_square_root_scaling():
    """Lucamarini, Yuan, Dynes, Shields, Nature 557, 400 (2018) / Wang, Yu, Hu PRA 98, 062323 (2018): the
    TF rate scales as sqrt(eta). Doubling the loss in dB squares eta, so R(2L)/R(L) ~ sqrt(eta(L)) =
    10^(-L/20) (BB84 instead gives ~eta(L))."""
    tf = get_device("tf-sns")
    r30, r60 = secret_bits_per_pulse([30.0, 60.0], tf, exact=True)
    assert r60 / r30 == pytest.approx(10 ** (-30 / 20), rel=0.1)
    bb = get_device("snspd-bb84")
    b30, b60 = secret_bits_per_pulse([30.0, 60.0], bb, exact=True)
    assert b60 / b30 == pytest.approx(10 ** (-30 / 10), rel=0.1)


def test_twin_field_beats_plob_at_high_loss():
    """The defining property of TF-QKD (Lucamarini et al. 2018): above the repeaterless bound at high loss
    (per pulse pair vs per channel use), below it at low loss."""
    tf = get_device("tf-sns")
    loss = np.array([10.0, 60.0, 80.0])
    r = secret_bits_per_pulse(loss, tf)
    p = plob_bound_loss(loss)
    assert r[0] < p[0]
    assert np.all(r[1:] > p[1:])


# ------------------------------------------------------------------ MDI
def test_mdi_ideal_limit():
    """Lo, Curty, Qi 2012 key rate with ideal devices (no dark counts, no misalignment, f = 1): only
    single-photon pairs count, Y11 = eta_a eta_b / 2, e11 = 0, so R = mu^2 e^{-2mu} eta_a eta_b / 2; the
    optimum mu = 1 gives eta_a eta_b / (2 e^2)."""
    ea = eb = np.array([0.1, 1e-3])
    r = mdi_rate(ea, eb, 1.0, 1.0, 0.0, 0.0, 1.0)
    np.testing.assert_allclose(r, ea * eb / (2 * math.e ** 2), rtol=1e-12)


def test_mdi_relay_in_middle_scales_with_eta():
    """MDI needs both photons (rate ~ eta_a eta_b = eta); doubling the loss in dB roughly squares the rate
    ratio relative to TF (Lo-Curty-Qi 2012 vs. TF)."""
    mdi = get_device("mdi-snspd")
    r20, r40 = secret_bits_per_pulse([20.0, 40.0], mdi, exact=True)
    assert r40 / r20 == pytest.approx(1e-2, rel=0.15)
    assert 200 < max_reach_db(get_device("mdi-lcq-2012")) / 0.2 < 260


# ------------------------------------------------------------------ CV-QKD
@pytest.mark.parametrize("va", [1.0, 10.0, 100.0])
def test_cv_noiseless_unit_transmittance_is_shannon_capacity(va):
    """GG02 (Grosshans et al., Nature 421, 238 (2003)) with T = 1, no noise, ideal detector, beta = 1:
    Eve gets nothing and the key equals Alice-Bob information, 1/2 log2(1 + V_A) for homodyne and
    log2(1 + V_A/2) for heterodyne (both quadratures, each with half the signal)."""
    assert gg02_rate(1.0, va, 0.0, 1.0, 0.0, 1.0, "homodyne") == pytest.approx(0.5 * math.log2(1 + va), rel=1e-9)
    assert gg02_rate(1.0, va, 0.0, 1.0, 0.0, 1.0, "heterodyne") == pytest.approx(math.log2(1 + va / 2), rel=1e-9)


def test_cv_homodyne_large_modulation_is_half_plob():
    """Pure-loss channel, ideal homodyne, beta = 1, V_A -> infinity: the reverse-reconciliation rate tends to
    1/2 log2(1/(1-T)), half the PLOB bound (Pirandola et al., Adv. Opt. Photon. 12, 1012 (2020), CV-QKD
    section). Checked here numerically for V_A = 1e6."""
    T = np.array([0.5, 0.1, 1e-2, 1e-4])
    k = gg02_rate(T, 1e6, 0.0, 1.0, 0.0, 1.0, "homodyne")
    np.testing.assert_allclose(k / plob_bound(T), 0.5, rtol=1e-3)


def test_cv_excess_noise_reduces_rate_and_entanglement_breaking_refused():
    T = np.array([0.5, 0.1, 0.02])
    k = [gg02_rate(T, 5.0, xi, 0.606, 0.041, 0.95) for xi in (0.0, 0.01, 0.05, 0.1)]
    for a, b in zip(k, k[1:]):
        assert np.all(b < a)
    with pytest.raises(InputError) as e:
        get_device("cv-jouguet-2013", excess_noise=2.0)
    assert "excess_noise" in str(e.value)


def test_cv_preset_capped_at_demonstrated_range():
    """Jouguet et al., Nat. Photon. 7, 378 (2013): 80 km demonstrated; the preset stops at 16 dB."""
    dev = get_device("cv-jouguet-2013")
    assert max_reach_db(dev) == 16.0
    r = secret_bits_per_pulse([15.9, 16.0, 16.01], dev)
    assert r[0] > 0 and r[1] > 0 and r[2] == 0.0
    # Without a validity range the asymptotic GG02 rate would end only at a numerical floor: refused.
    with pytest.raises(InputError) as e:
        get_device("cv-jouguet-2013", max_loss_db=None)
    assert "max_loss_db" in str(e.value) and "numerical floor" in str(e.value)


def test_cv_heterodyne_works():
    dev = get_device("cv-jouguet-2013", detection="heterodyne")
    r = secret_bits_per_pulse([0.0, 5.0, 10.0], dev)
    assert np.all(r > 0) and np.all(np.diff(r) < 0)
    with pytest.raises(InputError) as e:
        get_device("cv-jouguet-2013", detection="balanced")
    assert "detection" in str(e.value)


# ------------------------------------------------------------------ finite key
def test_finite_key_grows_with_block_size_towards_asymptote():
    """Lim et al., PRA 89, 022307 (2014), Fig. 1: the key rate and the reach increase with the block size
    n_X and approach the asymptotic (infinite-decoy) rate from below."""
    loss = np.array([0.0, 10.0, 20.0, 30.0])
    base = get_device("lim-2014-finite", max_block_time_s=None, max_loss_db=None)
    rates = [secret_bits_per_pulse(loss, base.with_(block_size=n), exact=True) for n in (1e6, 1e7, 1e9)]
    assert np.all(rates[0] < rates[1]) and np.all(rates[1] < rates[2])
    assert max_reach_db(base.with_(block_size=1e6)) < max_reach_db(base)
    asym = get_device("gys-2005", detector_efficiency=0.1, dark_count_prob=6e-7, misalignment_error=0.005,
                      ec_efficiency=1.16, sifting_factor=1.0)
    assert np.all(rates[2] < secret_bits_per_pulse(loss, asym))


def test_finite_key_block_too_small_refused():
    with pytest.raises(InputError) as e:
        get_device("lim-2014-finite", block_size=100)
    assert "block_size" in str(e.value)


# ------------------------------------------------------------------ repeater chain
def test_repeater_chain_limits_model():
    L_max, N_max = repeater_chain_limits(100.0, 0.9, link_fidelity=0.99, attempt_rate_hz=1e6, link_efficiency=0.1)
    kw = dict(attempt_rate_hz=1e6, link_efficiency=0.1)
    assert link_rate_hz(L_max, **kw) == pytest.approx(100.0, rel=1e-9)
    # w = (4F-1)/3: (N+1) ln(0.98667) >= ln(0.86667) -> N + 1 <= 10.66 -> N_max = 9
    assert N_max == 9
    assert chain_fidelity(N_max, link_fidelity=0.99) >= 0.9 > chain_fidelity(N_max + 1, link_fidelity=0.99)
    # Link rate ~ eta: 10 dB more loss costs a factor 10 once the attempt rate is light-speed limited.
    r = link_rate_hz(np.array([100.0, 150.0]), **kw)
    assert r[1] / r[0] == pytest.approx(10 ** (-1.0) * 100 / 150, rel=1e-9)
    Ls, Ns = repeater_chain_limits(np.array([1.0, 10.0, 100.0]), 0.9)
    assert np.all(np.diff(Ls) < 0) and np.all(Ns == Ns[0])


def test_repeater_chain_unreachable_targets_name_field():
    with pytest.raises(InputError) as e:
        repeater_chain_limits(10.0, 0.995, link_fidelity=0.99)
    assert "fidelity_target" in str(e.value)
    with pytest.raises(InputError) as e:
        repeater_chain_limits(1e9, 0.9)
    assert "rate_target_bps" in str(e.value)
    with pytest.raises(InputError) as e:
        repeater_chain_limits(10.0, 0.9, link_efficiency=1.5)
    assert "link_efficiency" in str(e.value)
