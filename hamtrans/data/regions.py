"""Region labels of a built device, stored per atom in ``atoms.arrays["region"]``."""

#: Label of each region of :func:`hamtrans.data.structures.build_vcm_device`, left to right along x.
REGIONS = {"left_electrode": 0, "oxide": 1, "ti": 2, "right_electrode": 3}
