"""Comparison of two datasets record by record (a resumed run against an uninterrupted one)."""

from pathlib import Path

import numpy as np
import pytest

from hamtrans.data.formats import Dataset


def assert_same_records(path_a: Path, path_b: Path) -> None:
    """Same names, inputs, positions, graphs; H, S, forces, charges and energy equal to 1e-10."""
    with Dataset(path_a) as a, Dataset(path_b) as b:
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert (x.name, x.input_digest) == (y.name, y.input_digest)
            np.testing.assert_array_equal(x.atoms.positions, y.atoms.positions)
            for name in ("hamiltonian", "overlap"):
                np.testing.assert_array_equal(getattr(x, name).graph.edge_index, getattr(y, name).graph.edge_index)
                np.testing.assert_allclose(getattr(x, name).edges, getattr(y, name).edges, rtol=0, atol=1e-10)
                np.testing.assert_allclose(getattr(x, name).onsite, getattr(y, name).onsite, rtol=0, atol=1e-10)
            np.testing.assert_allclose(x.forces, y.forces, rtol=0, atol=1e-10)
            np.testing.assert_allclose(x.charges, y.charges, rtol=0, atol=1e-10)
            assert x.energy == pytest.approx(y.energy, abs=1e-10)
