"""Data model: orbital bases, neighbour graphs, block-sparse H/S, file formats,
reference generators and structure builders."""

from hamtrans.data.basis import OrbitalBasis
from hamtrans.data.blocks import BlockSparseMatrix
from hamtrans.data.graphs import AtomGraph, build_graph, check_structure

__all__ = ["AtomGraph", "BlockSparseMatrix", "OrbitalBasis", "build_graph", "check_structure"]
