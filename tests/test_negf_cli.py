"""``hamtrans transport`` on a dataset record (device from block-sparse H, S) and on a CSR folder."""

import json

import numpy as np
import pytest
from ase import Atoms

from hamtrans.cli import main
from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.blocks import BlockSparseMatrix
from hamtrans.data.formats import DatasetWriter, Record
from hamtrans.data.graphs import build_graph
from hamtrans.negf import Device, biased_device, transmission


def hydrogen_wire_record(n_atoms: int = 14, perturb_second_cell: float = 0.0) -> Record:
    """Periodic H chain (GFN1 basis: 2 orbitals per atom) with a barrier in the middle, toy H and S blocks."""
    basis = OrbitalBasis.named("gfn1-xtb")
    atoms = Atoms("H" * n_atoms, positions=[[1.0 * k, 0, 0] for k in range(n_atoms)],
                  cell=[n_atoms * 1.0, 10.0, 10.0], pbc=[True, False, False])
    graph = build_graph(atoms, 1.2)
    onsite_h = np.tile(np.array([[0.0, 0.3], [0.3, 1.5]]), (n_atoms, 1, 1))
    onsite_h[n_atoms // 2] += 0.8 * np.eye(2)  # barrier atom
    onsite_h[1] += perturb_second_cell * np.eye(2)
    hop_h, hop_s = np.array([[-1.0, -0.4], [-0.4, -0.6]]), np.array([[0.1, 0.05], [0.05, 0.08]])
    onsite_s = np.tile(np.eye(2), (n_atoms, 1, 1))
    n_edges = graph.n_edges
    h = BlockSparseMatrix(basis, atoms.numbers, graph, onsite_h.ravel(), np.tile(hop_h, (n_edges, 1, 1)).ravel())
    s = BlockSparseMatrix(basis, atoms.numbers, graph, onsite_s.ravel(), np.tile(hop_s, (n_edges, 1, 1)).ravel())
    return Record(atoms, h, s, fermi_level=0.2, name="h-wire")


def write_dataset(path, record):
    with DatasetWriter(path, record.hamiltonian.basis, {"source": "test"}) as writer:
        writer.append(record)


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
