"""Exceptions raised for bad input.

Every error names the problem and, where there is one, the fix. All derive from
:class:`HamtransError` (itself a ``ValueError``) so callers can catch one type.
"""


class HamtransError(ValueError):
    """Base class of all input errors raised by hamtrans."""


class UnknownElementError(HamtransError):
    """An element has no entry in the orbital basis or model."""


class StructureError(HamtransError):
    """Atomic structure is unusable: NaN coordinates, overlapping atoms, bad cell."""


class AmbiguousImageError(HamtransError):
    """A Γ-folded matrix cannot be split into real-space blocks unambiguously."""


class FileFormatError(HamtransError):
    """A matrix, structure or dataset file is truncated, corrupt or inconsistent."""


class MatrixError(HamtransError):
    """A Hamiltonian or overlap matrix is unusable: wrong shape, not Hermitian, S not positive definite."""


class LeadError(HamtransError):
    """A semi-infinite lead is unusable: cells that do not repeat, or a surface Green's function that did not converge."""


class PartitionError(HamtransError):
    """A device matrix is not block-tridiagonal with the chosen slabs."""


class TrainingError(HamtransError):
    """Training cannot go on (NaN loss, data that does not fit the model)."""


class Cp2kError(HamtransError):
    """CP2K is missing, failed, or its SCF did not converge with any of the mixings tried."""


class OutputError(HamtransError):
    """An output path cannot be written: its folder is missing or read-only, or it is one of the inputs."""


class RecordIndexError(HamtransError, IndexError):
    """A record or frame index outside the structures of a dataset or structure file."""


class OptionError(HamtransError):
    """A command-line option has an unusable value."""


class ParameterError(HamtransError):
    """An argument of a calculator or bridge has an unusable type or value."""


class ConfigError(HamtransError):
    """A configuration (YAML file or config object) has an unknown key or an unusable value."""
