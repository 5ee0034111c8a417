"""Lead surfaces kept across devices with the same electrodes; the energy lattice that lets sweeps share them."""

import numpy as np
import pytest

from hamtrans.errors import HamtransError
from hamtrans.negf import Device, SurfaceCache, SweepOptions, current
from hamtrans.negf.grids import energy_lattice
from tests.negf_systems import random_chain_device


def devices():
    """Two chains with the same clean leads and different disorder inside."""
    return [Device.from_matrices(*random_chain_device(n_sites=16, seed=s)) for s in (3, 3)], \
        Device.from_matrices(*random_chain_device(n_sites=16, disorder=0.9, seed=3))


def test_cached_currents_equal_fresh_ones_and_each_lead_energy_is_solved_once():
    (first, _), other = devices()
    cache = SurfaceCache()
    kwargs = dict(temperature=300.0, fermi_level=0.3, grid="lattice", resolution=0.01, eta=1e-6,
                  lead_method="sancho-rubio")
    fresh = [current(d, v, **kwargs).current for d, v in ((first, 0.2), (other, 0.2), (other, -0.4))]
    cached = [current(d, v, lead_cache=cache, **kwargs).current for d, v in ((first, 0.2), (other, 0.2),
                                                                              (other, -0.4))]
    np.testing.assert_allclose(cached, fresh, rtol=1e-10)
    assert all(abs(c) > 0 for c in cached)
    # the second device at the same bias needs no new lead energy; the third reuses the overlap of the windows
    solved_once = cache.misses
    current(other, 0.2, lead_cache=cache, **kwargs)
    assert cache.misses == solved_once and cache.hits > solved_once


def test_leads_that_differ_are_not_merged():
    (first, _), _ = devices()
    h, s, positions = random_chain_device(n_sites=16, seed=3)
    h = h.tolil()
    for k in [*range(8), *range(h.shape[0] - 8, h.shape[0])]:  # the clean lead sites' orbitals
        h[k, k] += 1e-3  # the leads' onsite energy moves by 1 meV: another electrode
    moved = Device.from_matrices(h.tocsr(), s, positions)
    cache = SurfaceCache(tolerance=1e-5)
    options = SweepOptions(eta=1e-6, lead_method="sancho-rubio", lead_cache=cache)
    a = current(first, 0.2, fermi_level=0.3, grid="lattice", resolution=0.02, options=options).current
    b = current(moved, 0.2, fermi_level=0.3, grid="lattice", resolution=0.02, options=options).current
    reference = current(moved, 0.2, fermi_level=0.3, grid="lattice", resolution=0.02, eta=1e-6,
                        lead_method="sancho-rubio").current
    assert b == pytest.approx(reference, rel=1e-10) and a != pytest.approx(b, rel=1e-6)
    assert len(cache._leads) == 2
    with pytest.raises(HamtransError, match="positive memory budget"):
        SurfaceCache(max_bytes=0)


def test_energy_lattice_covers_the_window_on_the_lattice():
    energies = energy_lattice(-9.0, (-9.37, -8.55), 0.025)
    assert energies[0] <= -9.37 < energies[1] and energies[-2] < -8.55 <= energies[-1]
    np.testing.assert_allclose((energies + 9.0) / 0.025, np.round((energies + 9.0) / 0.025), atol=1e-9)
    with pytest.raises(HamtransError, match="positive spacing"):
        energy_lattice(0.0, (-1.0, 1.0), 0.0)
