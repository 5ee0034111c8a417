"""File formats: the hamtrans HDF5 dataset, CP2K matrices, the ETH three-file layout, structures with results."""

from hamtrans.data.formats.cp2k import read_cp2k, read_image_table, wrap_like_cp2k
from hamtrans.data.formats.csr import read_triplet_matrix
from hamtrans.data.formats.dataset import Dataset, DatasetWriter, Record
from hamtrans.data.formats.eth import read_eth_directory
from hamtrans.data.formats.results_io import read_matrices, write_results
from hamtrans.data.formats.structure_io import read_structure

__all__ = [
    "Dataset", "DatasetWriter", "Record", "read_cp2k", "read_eth_directory", "read_image_table",
    "read_matrices", "read_structure", "read_triplet_matrix", "wrap_like_cp2k", "write_results",
]
