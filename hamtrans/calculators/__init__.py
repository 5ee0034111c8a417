"""ASE calculators (potential, Hamiltonian, transport).

Not implemented yet: arrives with issue 5.
"""
