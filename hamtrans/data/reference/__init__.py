"""Reference electronic structure: GFN1-xTB via tblite (embedded default), DFT via
CP2K (:mod:`~hamtrans.data.reference.cp2k_backend`), and the rules for turning
Γ-point matrices into real-space blocks."""

from hamtrans.data.reference.cp2k_input import Cp2kSettings, load_settings
from hamtrans.data.reference.images import check_unique_images, periodic_widths
from hamtrans.data.reference.tblite_backend import ReferenceResult, TBLiteReference

__all__ = ["Cp2kReference", "Cp2kSettings", "ReferenceResult", "TBLiteReference", "check_unique_images",
           "load_settings", "periodic_widths"]


def __getattr__(name: str):
    # imported on use: cp2k_backend needs hamtrans.data.formats, which imports this package
    if name == "Cp2kReference":
        from hamtrans.data.reference.cp2k_backend import Cp2kReference

        return Cp2kReference
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
