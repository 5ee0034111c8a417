"""ASE calculators.

``HamiltonianCalculator``  H and S from a trained model or the GFN1-xTB reference (one interface)
``TransportCalculator``    T(E) and Landauer current through the NEGF engine

The interatomic-potential calculator arrives with the potential (issue 5).
"""

from hamtrans.calculators.hamiltonian import HamiltonianCalculator
from hamtrans.calculators.transport import TransportCalculator

__all__ = ["HamiltonianCalculator", "TransportCalculator"]
