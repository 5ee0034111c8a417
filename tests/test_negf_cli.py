"""``hamtrans transport`` on a dataset record (device from block-sparse H, S) and on a CSR folder."""

import json

import numpy as np
import pytest

from hamtrans.cli import main
from hamtrans.negf import Device, biased_device, transmission
from tests.negf_systems import hydrogen_wire_record, write_dataset


def test_transport_command_writes_table_plot_and_current(tmp_path, capsys):
    record = hydrogen_wire_record()
    write_dataset(tmp_path / "wire.h5", record)
    out = tmp_path / "out"
    assert main(["transport", str(tmp_path / "wire.h5"), "--bias", "0.3", "--points", "41", "--out", str(out)]) == 0
    table = np.loadtxt(out / "transmission.dat")
    assert table.shape == (41, 3)
    summary = json.loads((out / "current.json").read_text())
    assert summary["current_A"] > 0 and summary["bias_V"] == pytest.approx(0.3)
    assert summary["fermi_level_eV"] == 0.2
    assert (out / "transmission.png").read_bytes()[:4] == b"\x89PNG"
    # the table holds T(E) of the biased device, as the API computes it
    device = Device.from_record(record, axis="x")
    np.testing.assert_allclose(table[:, 2], transmission(biased_device(device, 0.3), table[:, 0]), atol=1e-12)
    assert "I = " in capsys.readouterr().out


def test_transport_command_reports_non_repeating_electrodes(tmp_path, capsys):
    write_dataset(tmp_path / "bad.h5", hydrogen_wire_record(perturb_second_cell=0.05))
    assert main(["transport", str(tmp_path / "bad.h5"), "--out", str(tmp_path / "o")]) == 2
    assert "do not repeat" in capsys.readouterr().err


def test_transport_command_on_a_csr_folder(tmp_path):
    # open chain written as 1-based upper-triangle triplets in eV, like CP2K/ETH exports
    record = hydrogen_wire_record()
    h = record.hamiltonian.to_sparse(axis=0).tocoo()
    s = record.overlap.to_sparse(axis=0).tocoo()
    folder = tmp_path / "csr"
    folder.mkdir()
    record.atoms.write(folder / "structure.xyz", format="extxyz")
    for name, m in (("H.csr", h), ("S.csr", s)):
        upper = m.row <= m.col
        np.savetxt(folder / name, np.column_stack([m.row[upper] + 1, m.col[upper] + 1, m.data[upper]]), fmt="%d %d %.15e")
    assert main(["transport", str(folder), "--basis", "gfn1-xtb", "--energy-unit", "ev", "--fermi", "0.2",
                 "--points", "11", "--out", str(tmp_path / "o")]) == 0
    table = np.loadtxt(tmp_path / "o" / "transmission.dat")
    device = Device.from_record(record)
    np.testing.assert_allclose(table[:, 2], transmission(device, table[:, 0]), atol=1e-12)
