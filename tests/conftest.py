"""Shared fixtures: small structures and a tblite reference generator."""

import numpy as np
import pytest
from ase import Atoms

#: Non-periodic cluster with H (s, s), N/O (s, p) and Ti/Hf (d, s, p) shells.
CLUSTER_SYMBOLS = "HfO2TiNH"
CLUSTER_POSITIONS = [
    [0.0, 0.0, 0.0], [1.9, 0.3, 0.1], [-0.4, 1.8, -0.6], [0.2, -0.3, 2.6], [2.0, -1.5, 2.2], [-1.2, -1.1, -1.2],
]


@pytest.fixture
def cluster() -> Atoms:
    return Atoms(CLUSTER_SYMBOLS, positions=CLUSTER_POSITIONS)


@pytest.fixture
def rotation() -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_euler("zyx", [0.7, -0.4, 1.1]).as_matrix()
