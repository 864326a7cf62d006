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
        # between noise levels: up to the dark lookup table's interpolation error (< 1e-4) and optimiser noise
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


# ----------------------------------------------------------------------------------------------------------
# planner: dark or lit fibre per hop (hand-derived instance)
# ----------------------------------------------------------------------------------------------------------
PAIR_EUR, LEASE_AB, LEASE_BC, LAUNCH = 10_000.0, 5_000.0, 20_000.0, -15.0


def _line_scenario(folder, *, fibre_columns=True, dark_bc=True):
    """A - B 10 km, B - C 80 km (surveyed), demands A-B 1 Mbit/s and B-C 0.5 Mbit/s, device apd-bb84."""
    import geopandas as gpd
    import pandas as pd
    import shapely

    from conftest import write_scenario

    sites = gpd.GeoDataFrame({"id": ["A", "B", "C"], "kind": ["datacenter"] * 3},
                             geometry=[shapely.Point(5.0, 52.0), shapely.Point(5.1, 52.0), shapely.Point(5.9, 52.0)],
                             crs="EPSG:4326")
    cols = {"id": ["ab", "bc"], "length_km": [10.0, 80.0]}
    if fibre_columns:
        cols |= {"dark_fibre": [True, dark_bc], "dark_lease_eur": [LEASE_AB, LEASE_BC],
                 "lit_launch_dbm": [LAUNCH, LAUNCH]}
    routes = gpd.GeoDataFrame(cols, geometry=[shapely.LineString([(5.0, 52.0), (5.1, 52.0)]),
                                              shapely.LineString([(5.1, 52.0), (5.9, 52.0)])], crs="EPSG:4326")
    demands = pd.DataFrame({"source": ["A", "B"], "target": ["B", "C"], "target_bps": [1e6, 5e5]})
    dev = f'[devices.apd]\npreset = "apd-bb84"\npair_cost_eur = {PAIR_EUR}\nmax_pairs_per_link = 8\n'
    return write_scenario(
        folder, sites, routes, demands, dev,
        network={"route_factor": 1.0, "node_tolerance_m": 100.0, "snap_tolerance_m": 1000.0},
        fibre={"attenuation_db_per_km": 0.2, "connector_loss_db": 1.0, "splice_loss_db_per_km": 0.0},
        costs={"trusted_node_eur": 1000.0, "fibre_eur_per_km": 0.0},
        solver={"time_limit_s": 60.0, "mip_gap": 1e-9, "threads": 1},
    )


def _hand_lit_rate(length_km: float) -> float:
    """The lit rate per pair derived by hand from docs/lit_fibre.md (not through qtopo.keyrate.raman):
    forward Raman power P_in 10^(-A/10) rho dlambda L, photons in a 1 ns gate, clicks per detector
    1 - exp(-eta n / 2) rounded up to 20 levels per decade, added to the dark counts."""
    dev = get_device("apd-bb84")
    a = 0.2 * length_km
    p_w = 1e-3 * 10 ** (LAUNCH / 10) * 10 ** (-a / 10) * 3e-9 * 0.8 * length_km
    n = p_w * 1e-9 * 1550e-9 / (6.62607015e-34 * 299792458.0)
    p_r = 1 - math.exp(-dev.detector_efficiency * n / 2)
    p_r = 10 ** (math.ceil(math.log10(p_r) * 20 - 1e-9) / 20)
    pd_ = 1 - (1 - dev.dark_count_prob) * (1 - p_r)
    lit = float(secret_key_rate_bps(np.array([a + 1.0]), dev.with_(dark_count_prob=pd_), exact=True)[0])
    return min(lit, float(secret_key_rate_bps(np.array([a + 1.0]), dev)[0]))


def test_lit_wins_short_dark_wins_long(tmp_path):
    """Hand derivation (rates from _hand_lit_rate and the dark-fibre model, at -15 dBm):
    A-B (10 km): dark 25.9 Mbit/s, lit 22.3 Mbit/s; one pair carries 1 Mbit/s either way, so lit (10,000 EUR)
    beats dark (10,000 + 5,000 lease). B-C (80 km): dark 1.01 Mbit/s, lit 99.5 kbit/s; 0.5 Mbit/s needs one dark
    pair (10,000 + 20,000 lease = 30,000) or six lit pairs (60,000): dark wins. Plan cost = 3 sites x 1,000 +
    10,000 + 30,000 = 43,000 EUR."""
    import qtopo
    from qtopo.contract import Plan
    from qtopo.verify import verify

    dev = get_device("apd-bb84")
    r_ab, r_bc = _hand_lit_rate(10.0), _hand_lit_rate(80.0)
    assert 1e6 <= r_ab < float(secret_key_rate_bps(np.array([3.0]), dev)[0])
    assert math.ceil(5e5 / r_bc) == 6 and float(secret_key_rate_bps(np.array([17.0]), dev)[0]) >= 5e5
    path = _line_scenario(tmp_path / "lit")
    plan = qtopo.plan(path)
    assert plan.status == "optimal"
    by_end = {tuple(sorted((L.from_node, L.to_node))): L for L in plan.links}
    nodes = {d.source: d.source_node for d in plan.demands} | {d.target: d.target_node for d in plan.demands}
    ab = by_end[tuple(sorted((nodes["A"], nodes["B"])))]
    bc = by_end[tuple(sorted((nodes["B"], nodes["C"])))]
    assert len(plan.links) == 2
    assert (ab.fibre, ab.device_pairs, ab.id.endswith("@lit")) == ("lit", 1, True)
    assert (bc.fibre, bc.device_pairs) == ("dark", 1)
    assert ab.rate_bps_per_pair == pytest.approx(r_ab, rel=1e-9)
    assert ab.cost_eur == pytest.approx(PAIR_EUR) and bc.cost_eur == pytest.approx(PAIR_EUR + LEASE_BC)
    assert plan.cost_eur == pytest.approx(3 * 1000.0 + PAIR_EUR + PAIR_EUR + LEASE_BC)
    scen = qtopo.load_scenario(path)
    rep = verify(plan, scen)
    assert rep.ok, rep.violations
    # the plan survives its JSON form (old plans without 'fibre' load as dark)
    d = plan.to_dict()
    assert Plan.from_dict(d).links[0].fibre in ("dark", "lit")
    old = {**d, "links": [{k: v for k, v in L.items() if k != "fibre"} for L in d["links"]]}
    assert {L.fibre for L in Plan.from_dict(old).links} == {"dark"}
    # verify catches a link whose fibre kind was changed: the dark rate / lease no longer match
    bad = Plan.from_dict(d)
    for L in bad.links:
        L.fibre = "dark" if L.fibre == "lit" else "lit"
    rep = verify(bad, scen)
    assert not rep.ok and any("rate per pair" in v or "cost" in v for v in rep.violations)
    # report says which
    from qtopo.report import build_report, render_markdown

    md = render_markdown("t", build_report(plan))
    assert "| Fibre |" in md and "(1 on lit fibre, 1 on dark fibre)" in md
    assert "Lit fibre: Raman cross-section" in md


def test_no_dark_fibre_forces_lit(tmp_path):
    """B-C without dark fibre: lit only (the A-C hop runs over B-C too), seven lit pairs in all (one A-B, six for
    B-C's 0.5 Mbit/s at 99.5 kbit/s each; a 6th pair on the 90 km A-C hop, routing B-A-C, costs the same)."""
    import qtopo
    from qtopo.verify import verify

    path = _line_scenario(tmp_path / "nodark", dark_bc=False)
    plan = qtopo.plan(path)
    assert {L.fibre for L in plan.links} == {"lit"}
    assert sum(L.device_pairs for L in plan.links) == 7
    assert plan.cost_eur == pytest.approx(3 * 1000.0 + 7 * PAIR_EUR)
    assert verify(plan, qtopo.load_scenario(path)).ok


def test_without_fibre_columns_plans_as_before(tmp_path):
    """No lit / dark columns: every link dark, no lease, as the planner did before lit fibre existed."""
    import qtopo

    path = _line_scenario(tmp_path / "plain", fibre_columns=False)
    plan = qtopo.plan(path)
    assert sorted((L.fibre, L.device_pairs) for L in plan.links) == [("dark", 1), ("dark", 1)]
    assert plan.cost_eur == pytest.approx(3 * 1000.0 + 2 * PAIR_EUR)
    assert all(not L.id.endswith("@lit") for L in plan.links)


def test_bad_fibre_columns_named(tmp_path):
    import geopandas as gpd
    import shapely

    from qtopo.io import read_routes

    g = gpd.GeoDataFrame({"id": ["a", "b", "c"], "dark_fibre": ["maybe", "yes", ""],
                          "dark_lease_eur": [-5.0, 100.0, None], "lit_launch_dbm": [0.0, 45.0, None]},
                         geometry=[shapely.LineString([(5.0, 52.0 + k), (5.1, 52.0 + k)]) for k in (0, 0.1, 0.2)],
                         crs="EPSG:4326")
    p = tmp_path / "routes.geojson"
    g.to_file(p, driver="GeoJSON")
    with pytest.raises(InputError) as e:
        read_routes(p)
    msg = str(e.value)
    assert "dark_fibre 'maybe'" in msg and "dark_lease_eur -5" in msg and "lit_launch_dbm 45" in msg
    g = g.assign(dark_fibre=["no", "1", ""], dark_lease_eur=[5.0, 100.0, None], lit_launch_dbm=[0.0, 3.0, None])
    g.to_file(p, driver="GeoJSON")
    r = read_routes(p)
    assert r["dark_fibre"].tolist() == [False, True, True]
    assert r["lit_launch_dbm"].iloc[2] != r["lit_launch_dbm"].iloc[2]  # NaN: no lit fibre
