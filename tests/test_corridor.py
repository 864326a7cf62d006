"""A hand-solvable corridor: its optimal plan is derived here from first principles and asserted exactly."""
from __future__ import annotations

import math

import numpy as np
import pytest

import qtopo
from qtopo.keyrate import get_device, secret_key_rate_bps


def _optimal_cost_by_dp(n_seg, seg_km, target, device, pair_cost, hut_cost, site_cost, fibre_eur_per_km,
                        conn_db, att, max_pairs):
    """Independent dynamic programme over hut positions 0..n_seg: cheapest chain of trusted nodes."""
    dev = get_device(device)
    best = [math.inf] * (n_seg + 1)
    nodes = [0] * (n_seg + 1)
    best[0] = 2 * site_cost
    for j in range(1, n_seg + 1):
        for i in range(j):
            L = (j - i) * seg_km
            r = float(secret_key_rate_bps(np.array([att * L + conn_db]), dev)[0])
            if r <= 0:
                continue
            pairs = math.ceil(target / r - 1e-12)
            if pairs > max_pairs:
                continue
            c = best[i] + pairs * (pair_cost + fibre_eur_per_km * L) + (hut_cost if j < n_seg else 0.0)
            if c < best[j] - 1e-9:
                best[j] = c
                nodes[j] = nodes[i] + (1 if j < n_seg else 0)
    return best[n_seg], nodes[n_seg]


@pytest.mark.parametrize("target", [1.0, 2000.0, 20000.0])
def test_corridor_optimum_matches_first_principles(corridor_factory, target):
    kw = dict(length_km=300.0, hut_spacing_km=50.0, target_bps=target, device="apd-bb84", pair_cost=100000.0,
              hut_cost=300000.0, site_cost=50000.0, fibre_eur_per_km=100.0, connector_loss_db=1.0,
              attenuation=0.2, max_pairs=8)
    path = corridor_factory(**kw)
    cost, n_huts = _optimal_cost_by_dp(6, 50.0, target, kw["device"], kw["pair_cost"], kw["hut_cost"],
                                       kw["site_cost"], kw["fibre_eur_per_km"], kw["connector_loss_db"],
                                       kw["attenuation"], kw["max_pairs"])
    plan = qtopo.plan(path)
    assert plan.status == "optimal"
    assert plan.cost_eur == pytest.approx(cost, rel=1e-9)
    assert sum(1 for n in plan.nodes if n.kind == "trusted") == n_huts
    assert plan.verification.ok
    d = plan.demands[0]
    assert d.delivered_bps >= target * (1 - 1e-9)
    assert len(d.intermediate_trusted_nodes) == n_huts
