"""Reference electronic structure: GFN1-xTB via tblite (embedded default) and the
rules for turning Γ-point matrices into real-space blocks."""

from hamtrans.data.reference.images import check_unique_images, periodic_widths
from hamtrans.data.reference.tblite_backend import ReferenceResult, TBLiteReference

__all__ = ["ReferenceResult", "TBLiteReference", "check_unique_images", "periodic_widths"]
