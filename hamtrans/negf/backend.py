"""Array-module switch: the same NEGF code runs on numpy (CPU) and cupy (GPU).

The sweep kernels only use the subset of the numpy API that cupy mirrors
(``asarray``, ``matmul``, ``linalg.solve``/``inv``/``eigh`` on stacks, ``einsum``,
reductions), so a backend is just the module plus two transfer functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from hamtrans.errors import HamtransError

BACKENDS = ("numpy", "cupy")


@dataclass(frozen=True)
class Backend:
    """An array module and its host transfers.

    Attributes
    ----------
    name
        ``"numpy"`` or ``"cupy"``.
    xp
        The array module used by the kernels.
    """

    name: str
    xp: ModuleType

    def asarray(self, array: Any, dtype=None):
        """Host or device array -> array of this backend."""
        return self.xp.asarray(array, dtype=dtype)

    def to_host(self, array: Any) -> np.ndarray:
        """Array of this backend -> numpy array."""
        if self.name == "cupy":
            return self.xp.asnumpy(array)
        return np.asarray(array)


def cupy_available() -> bool:
    """True when cupy imports and sees at least one CUDA device."""
    try:
        import cupy
    except ImportError:
        return False
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no driver, no device: cupy raises its own runtime errors
        return False


def get_backend(name: str | Backend = "numpy") -> Backend:
    """Return the backend called ``name`` (``"numpy"``, ``"cupy"``, or ``"auto"`` = cupy if usable).

    Raises
    ------
    HamtransError
        Unknown name, or cupy requested but not installed / no GPU visible.
    """
    if isinstance(name, Backend):
        return name
    if name == "auto":
        name = "cupy" if cupy_available() else "numpy"
    if name == "numpy":
        return Backend("numpy", np)
    if name == "cupy":
        if not cupy_available():
            raise HamtransError(
                "backend 'cupy' requested but cupy is not installed or sees no GPU: "
                "pip install 'hamtrans[gpu]' on a CUDA machine, or use backend='numpy'"
            )
        import cupy

        return Backend("cupy", cupy)
    raise HamtransError(f"unknown array backend {name!r}; choose one of {BACKENDS + ('auto',)}")
