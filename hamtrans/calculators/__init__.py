"""ASE calculators.

``PotentialCalculator``    energy, forces, stress, per-atom energies from the interatomic potential
``HamiltonianCalculator``  H and S from a trained model or the GFN1-xTB reference (one interface)
``TransportCalculator``    T(E) and Landauer current through the NEGF engine (ASE adapter)
``TransportSettings``      the one set of transport settings (leads, Fermi level, grid, NEGF numerics)
``structure_current``      current / ``structure_transmission`` T(E) of a structure with its Hamiltonian
"""

from hamtrans.calculators.hamiltonian import HamiltonianCalculator
from hamtrans.calculators.potential import PotentialCalculator
from hamtrans.calculators.structure_transport import (
    TransportSetup,
    bulk_electrode,
    structure_current,
    structure_transmission,
    transport_setup,
)
from hamtrans.calculators.transport import TransportCalculator
from hamtrans.calculators.transport_settings import TransportSettings

__all__ = ["HamiltonianCalculator", "PotentialCalculator", "TransportCalculator", "TransportSettings", "TransportSetup",
           "bulk_electrode", "structure_current", "structure_transmission", "transport_setup"]
