"""LAMMPS pair style and transport fix.

Not implemented yet: arrives with issue 6.
"""
