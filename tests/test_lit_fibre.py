"""Lit fibre: Raman noise from classical DWDM channels (qtopo.keyrate.raman) and its effect on key rates."""
import math

import numpy as np
import pytest

from qtopo.errors import InputError
from qtopo.keyrate import PROTOCOLS, get_device, plob_bound_loss, secret_bits_per_pulse, secret_key_rate_bps
from qtopo.keyrate.raman import (
    C_LIGHT,
    H_PLANCK,
    LitFibre,
    lit_bits_per_pulse,
    lit_span_rate_bps,
    noise_photons_per_window,
    raman_power_w,
    span_noise_photons,
)

DV_FAST = ["gys-2005", "apd-bb84", "snspd-bb84", "mdi-snspd", "tf-sns"]


def _numeric_raman(p_in_w, L, alpha, beta, direction, n=200_000):
    """Independent check: integrate the scattering along the fibre (midpoint rule).

    Light scattered at z into the filter band: dP = beta P_in e^{-alpha z} dz, then attenuated on its way to the
    receiver at z = L (forward: e^{-alpha (L - z)}) or to the launch end z = 0 (backward: e^{-alpha z}).
    """
    z = (np.arange(n) + 0.5) * (L / n)
    src = beta * p_in_w * np.exp(-alpha * z)
    to_rx = np.exp(-alpha * (L - z)) if direction == "forward" else np.exp(-alpha * z)
    return float(np.sum(src * to_rx) * (L / n))


@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("L", [0.5, 10.0, 21.7, 50.0, 120.0])
def test_raman_power_matches_numerical_integration(direction, L):
    """Eraerds et al. NJP 12, 063027 (2010) Eqs. (1)-(2) against a direct integration (1e-6 relative)."""
    att = 0.2
    alpha = att * math.log(10) / 10
    beta = 2.4e-9
    got = float(raman_power_w(0.0, L, att * L, beta, direction))
    want = _numeric_raman(1e-3, L, alpha, beta, direction)
    assert got == pytest.approx(want, rel=1e-6)


def test_raman_power_closed_forms():
    """Limits stated with the formulas: forward = backward = P beta L for short fibre; forward peaks at
    L = 1/alpha (21.7 km at 0.2 dB/km); backward saturates at P beta / (2 alpha)."""
    beta, att = 2.4e-9, 0.2
    alpha = att * math.log(10) / 10
    f0 = raman_power_w(0.0, 1e-4, att * 1e-4, beta, "forward")
    b0 = raman_power_w(0.0, 1e-4, att * 1e-4, beta, "backward")
    assert float(f0) == pytest.approx(1e-3 * beta * 1e-4, rel=1e-4)
    assert float(b0) == pytest.approx(1e-3 * beta * 1e-4, rel=1e-4)
    L = np.linspace(1, 100, 9901)
    fwd = raman_power_w(0.0, L, att * L, beta, "forward")
    assert L[np.argmax(fwd)] == pytest.approx(1 / alpha, abs=0.02)
    bwd = raman_power_w(0.0, 1e4, att * 1e4, beta, "backward")
    assert float(bwd) == pytest.approx(1e-3 * beta / (2 * alpha), rel=1e-9)
    assert np.all(raman_power_w(0.0, L, att * L, beta, "backward") >= fwd)  # backward never below forward
    both = raman_power_w(0.0, L, att * L, beta, "both")
    np.testing.assert_allclose(both, fwd + raman_power_w(0.0, L, att * L, beta, "backward"))


def test_photon_count_unit():
    """1 pW at 1550 nm is 7.80e6 photons/s: 7.80e-3 photons in a 1 ns window."""
    n = float(noise_photons_per_window(1e-12, 1e-9, 1550.0))
    assert n == pytest.approx(1e-12 * 1e-9 * 1550e-9 / (H_PLANCK * C_LIGHT), rel=1e-12)
    assert n == pytest.approx(7.803e-3, rel=1e-3)


@pytest.mark.parametrize("name", DV_FAST)
def test_zero_power_is_dark_fibre(name):
    dev = get_device(name)
    L = np.array([0.0, 5.0, 20.0, 60.0, 150.0])
    dark = secret_key_rate_bps(0.2 * L + 1.0, dev)
    for p in (None, -math.inf):
        lit = lit_span_rate_bps(L, 0.2 * L, 0.2 * L + 1.0, dev, LitFibre(p))
        np.testing.assert_array_equal(lit, dark)
    # zero noise through the noise-level path is the dark rate too
    np.testing.assert_array_equal(lit_bits_per_pulse(0.2 * L + 1, dev, np.zeros(5)),
                                  secret_bits_per_pulse(0.2 * L + 1, dev))


@pytest.mark.parametrize("name", DV_FAST)
def test_rate_non_increasing_in_launch_power_and_below_plob(name):
    dev = get_device(name)
    L = np.array([2.0, 10.0, 25.0, 50.0, 80.0, 120.0])
    loss = 0.2 * L + 1.0
    dark = prev = secret_key_rate_bps(loss, dev)
    assert prev[1] > 0
    strictly = False
    for p in (-60, -40, -30, -25, -20, -15, -10, -5, 0, 5, 10):
        r = lit_span_rate_bps(L, 0.2 * L, loss, dev, LitFibre(p))
        assert np.all(r <= dark)                          # exactly: never above the dark-fibre rate
        # between noise levels: up to the lookup tables' interpolation error (qtopo.keyrate.rates: < 1e-4)
        assert np.all(r <= prev * (1 + 1e-4)), (p, r, prev)
        strictly |= bool(np.any(r < prev))
        if PROTOCOLS[dev.protocol].repeaterless:
            assert np.all(r / dev.repetition_rate_hz <= plob_bound_loss(loss) * (1 + 1e-9))
        prev = r
    assert strictly                       # the noise does cost key somewhere
    assert np.all(prev[1:] == 0.0)        # 10 dBm of co-propagating C-band light leaves no key beyond 2 km


def test_lit_rate_non_increasing_in_loss_at_fixed_power():
    dev = get_device("apd-bb84")
    L = np.linspace(0, 150, 301)
    # backward noise grows with length (to saturation), so the rate must fall with distance; (forward noise
    # falls beyond 1/alpha, and a span whose noise drops to a lower rounding level may gain a little)
    r = lit_span_rate_bps(L, 0.2 * L, 0.2 * L + 1, dev, LitFibre(-25.0, direction="backward"))
    assert np.all(np.diff(r) <= 1e-4 * r[:-1])
    assert r[-1] < r[0]


def test_finite_key_device_on_lit_fibre():
    dev = get_device("apd-bb84-finite")
    L = np.array([10.0, 40.0])
    dark = lit_span_rate_bps(L, 0.2 * L, 0.2 * L + 1, dev, LitFibre(None))
    lit = lit_span_rate_bps(L, 0.2 * L, 0.2 * L + 1, dev, LitFibre(-30.0))
    assert np.all(lit <= dark) and np.all(lit > 0) and lit[1] < dark[1]


def test_window_and_filter_scale_noise():
    dev = get_device("apd-bb84")
    n1 = span_noise_photons(25.0, 5.0, dev, LitFibre(0.0))
    n2 = span_noise_photons(25.0, 5.0, dev, LitFibre(0.0, window_ns=0.1, filter_nm=0.4))
    assert float(n2) == pytest.approx(float(n1) * 0.1 * 0.5, rel=1e-12)  # default window: 1 ns at 1 GHz


def test_bad_inputs():
    with pytest.raises(InputError, match="launch_power_dbm"):
        LitFibre(45.0)
    with pytest.raises(InputError, match="direction"):
        LitFibre(0.0, direction="sideways")
    with pytest.raises(InputError, match="window_ns"):
        LitFibre(0.0, window_ns=0.0)
    with pytest.raises(InputError, match="CV-QKD"):
        lit_span_rate_bps(10.0, 2.0, 3.0, get_device("cv-jouguet-2013"), LitFibre(0.0))
    with pytest.raises(InputError, match="noise"):
        lit_bits_per_pulse([1.0], get_device("apd-bb84"), [-1.0])


def _rates_cli(*args):
    import json

    from click.testing import CliRunner

    from qtopo.cli.rates import rates_command

    res = CliRunner().invoke(rates_command, list(args))
    return res, (json.loads(res.output) if res.exit_code == 0 and "--format" in args else None)


def test_rates_cli_lit_fibre():
    _, dark = _rates_cli("--device", "apd-bb84", "--distance-km", "10,50", "--format", "json")
    res, lit = _rates_cli("--device", "apd-bb84", "--distance-km", "10,50", "--format", "json",
                          "--launch-power-dbm", "-20", "--raman-window-ns", "0.5")
    assert res.exit_code == 0, res.output
    c = lit["curves"][0]
    assert c["lit_fibre"]["launch_power_dbm"] == -20 and c["lit_fibre"]["window_ns"] == pytest.approx(0.5)
    assert c["lit_fibre"]["max_distance_km"] < dark["curves"][0]["max_distance_km"]
    d_pts, l_pts = dark["curves"][0]["points"], c["points"]
    assert all(lp["rate_bps"] < dp["rate_bps"] for lp, dp in zip(l_pts, d_pts))
    dev = get_device("apd-bb84")
    want = lit_span_rate_bps(np.array([10.0, 50.0]), np.array([2.0, 10.0]), np.array([2.0, 10.0]), dev,
                             LitFibre(-20.0, window_ns=0.5))
    np.testing.assert_allclose([p["rate_bps"] for p in l_pts], want, rtol=1e-12)
    res, _ = _rates_cli("--device", "cv-jouguet-2013", "--launch-power-dbm", "0")
    assert res.exit_code != 0 and "CV-QKD" in str(res.exception or res.output)
