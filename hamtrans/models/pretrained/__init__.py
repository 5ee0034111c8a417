"""Pretrained models shipped with hamtrans.

``vcm-gfn1``
    TiN | HfO2 | TiN valence-change-memory cells (elements N, O, Ti, Hf), GFN1-xTB
    reference (tblite), basis ``gfn1-xtb``, blocks within 4.5 Å. Trained with
    ``vcm_gfn1.yaml`` (a copy of ``examples/vcm/train.yaml``) on slabs of two devices
    with random vacancies; its accuracy on unseen formed/broken-filament devices is in
    the README. Load with ``load_model("vcm-gfn1")``.

``vcm-gfn1-8``
    The same elements and reference with blocks within 8 Å: the fourth training stage
    (config ``vcm_gfn1_8.yaml``, a copy of ``examples/vcm/finetune8_filaments_mae.yaml``,
    which continues ``train8.yaml`` → ``finetune8.yaml`` → ``finetune8_filaments.yaml``;
    metadata: test-device errors raw and after the energy zero, the learned energy zeros
    of the training devices). The model for transport: give
    it the ``gfn1-xtb-compact`` sub-basis (its overlap restricted there stays positive
    definite on TiN electrodes, which the whole-basis GFN1 overlap truncated at any
    finite range is not). Its current errors on unseen devices are in the README.

``vcm-pbe-szv``
    The same elements with a DFT reference: CP2K PBE, basis ``szv-molopt-sr-gth``, blocks
    within 8 Å, of laterally periodic films with melt-quenched oxides (config
    ``vcm_pbe_szv.yaml``, a copy of ``examples/vcm/train_pbe_films.yaml``). The whole SZV
    basis is the transport basis (its overlap is positive definite); films need the
    transverse k-sum (docs/cp2k.md has its errors and currents on unseen films).

``vcm-gfn1-potential``
    Interatomic potential for N, O, Ti, Hf trained on GFN1-xTB energies, forces and
    stresses of bulk, strained, rattled, defective and interface cells
    (``examples/potential``; config ``vcm_gfn1_potential.yaml``). Load with
    ``load_potential("vcm-gfn1-potential")`` or ``PotentialCalculator("vcm-gfn1-potential")``.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
PRETRAINED = {"vcm-gfn1": HERE / "vcm_gfn1.pt", "vcm-gfn1-8": HERE / "vcm_gfn1_8.pt",
              "vcm-pbe-szv": HERE / "vcm_pbe_szv.pt", "vcm-gfn1-potential": HERE / "vcm_gfn1_potential.pt"}


def available() -> tuple[str, ...]:
    """Names of the shipped models."""
    return tuple(sorted(PRETRAINED))


def pretrained_path(name: str) -> Path | None:
    """File of a shipped model, or ``None`` if ``name`` is not one."""
    return PRETRAINED.get(name)
