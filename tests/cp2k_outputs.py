"""The real CP2K 2023.1 output in tests/fixtures/cp2k (see its README) and a reader of its TiN images."""

from pathlib import Path

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.formats import Record, read_cp2k

FIX = Path(__file__).parent / "fixtures" / "cp2k"
SZV = OrbitalBasis.named("szv-molopt-sr-gth")


def read_tin(**kwargs) -> Record:
    """TiN from CP2K per-image KS and S files (SZV); ``cutoff`` (Å, default 3.1) of the block graph."""
    folder = FIX / "tin_images"
    return read_cp2k(
        folder / "TiN_shift.extxyz", sorted(folder.glob("*KS_SPIN_1_R_*")), sorted(folder.glob("*-S_SPIN_1_R_*")),
        SZV, cutoff=kwargs.pop("cutoff", 3.1), out_file=folder / "TiN_kp_shift.out",
    )
