"""Equivariant Hamiltonian models and interatomic potentials.

Not implemented yet: the Hamiltonian model arrives with issue 3, the potential
with issue 5. Nothing here pretends to work.
"""
