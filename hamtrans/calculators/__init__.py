"""ASE calculators.

``PotentialCalculator``    energy, forces, stress, per-atom energies from the interatomic potential
``HamiltonianCalculator``  H and S from a trained model or the GFN1-xTB reference (one interface)
``TransportCalculator``    T(E) and Landauer current through the NEGF engine
"""

from hamtrans.calculators.hamiltonian import HamiltonianCalculator
from hamtrans.calculators.potential import PotentialCalculator
from hamtrans.calculators.transport import TransportCalculator

__all__ = ["HamiltonianCalculator", "PotentialCalculator", "TransportCalculator"]
