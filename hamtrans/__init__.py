"""hamtrans: equivariant ML Hamiltonians, potentials and NEGF transport for atomistic devices.

Subpackages
-----------
data
    Orbital bases, neighbour graphs, block-sparse H/S, file formats, reference
    data (GFN1-xTB via tblite, CP2K readers) and device builders.
models, negf, calculators, lammps_plugin
    Hamiltonian/potential models, the NEGF transport engine, ASE calculators and
    the LAMMPS plugin (see docs/architecture.md for their status).
"""

__version__ = "0.1.0"
