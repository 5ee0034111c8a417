"""Small test structures: the mixed-shell cluster, an HfO2 cell with all four species, an HfO2 molecule."""

from ase import Atoms

from hamtrans.data.structures import bulk_hfo2

#: Non-periodic cluster with H (s, s), N/O (s, p) and Ti/Hf (d, s, p) shells.
CLUSTER_SYMBOLS = "HfO2TiNH"
CLUSTER_POSITIONS = [
    [0.0, 0.0, 0.0], [1.9, 0.3, 0.1], [-0.4, 1.8, -0.6], [0.2, -0.3, 2.6], [2.0, -1.5, 2.2], [-1.2, -1.1, -1.2],
]


def mixed_cell(seed: int = 0) -> Atoms:
    """Rattled, sheared HfO2 with one O swapped for N and one Hf for Ti (all four species)."""
    atoms = bulk_hfo2((1, 1, 1), rattle=0.12, seed=seed)
    atoms.numbers[0], atoms.numbers[4] = 22, 7
    atoms.set_cell(atoms.cell.array + [[0, 0.3, 0], [0, 0, 0.2], [0.1, 0, 0]], scale_atoms=True)
    return atoms


def molecule(shift: float = 0.0) -> Atoms:
    """A bent HfO2 molecule; ``shift`` (Å) moves the first O along y."""
    return Atoms("HfO2", positions=[[0, 0, 0], [1.9, 0.2 + shift, 0], [-0.3, 1.9, 0.4]])
