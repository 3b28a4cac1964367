"""LOS geometry against the EGMS values of Sentinel-1 tracks and basic vector identities."""

from __future__ import annotations

import numpy as np
from numpy.testing import assert_allclose

from slidemap.insar.geometry import los_unit_vector, project_on_los


def test_sentinel1_ascending_and_descending_match_egms_signs():
    # EGMS ascending tracks carry los_east ~ -0.6, los_north ~ -0.1, los_up ~ 0.78 at 39 deg.
    e, n, u = los_unit_vector(-12.0, 39.0)
    assert_allclose([e, n, u], [-0.6153, -0.1308, 0.7771], atol=1e-3)
    e, n, u = los_unit_vector(192.0, 39.0)
    assert_allclose([e, n, u], [0.6153, -0.1308, 0.7771], atol=1e-3)


def test_unit_length_and_left_looking_mirror():
    h = np.linspace(-180, 180, 37)
    inc = np.linspace(20, 45, 37)
    e, n, u = los_unit_vector(h, inc)
    assert_allclose(e**2 + n**2 + u**2, 1.0)
    el, nl, ul = los_unit_vector(h, inc, look="left")
    assert_allclose([el, nl, ul], [-e, -n, u])


def test_east_facing_slide_moves_away_from_ascending_satellite():
    # downslope motion of an east-facing slope: east and down
    v = (10.0, 0.0, -5.0)
    asc = project_on_los(*v, los_unit_vector(-12.0, 39.0))
    dsc = project_on_los(*v, los_unit_vector(192.0, 39.0))
    assert asc < 0 < dsc
