"""Shared fixtures: small structures and a tblite reference generator."""

import numpy as np
import pytest
from ase import Atoms

from tests.structures import CLUSTER_POSITIONS, CLUSTER_SYMBOLS


@pytest.fixture
def cluster() -> Atoms:
    return Atoms(CLUSTER_SYMBOLS, positions=CLUSTER_POSITIONS)


@pytest.fixture
def rotation() -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_euler("zyx", [0.7, -0.4, 1.1]).as_matrix()
