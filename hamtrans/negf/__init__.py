"""NEGF quantum transport (recursive Green's function, open boundaries).

Not implemented yet: arrives with issue 4. Input will be the open matrices of
:meth:`hamtrans.data.BlockSparseMatrix.to_sparse` (``axis=``, ``shift=0/1``).
"""
