"""tblite GFN1-xTB with its bundled reference BLAS vs hamtrans' in-process binding.

Each variant runs in a fresh process (the binding must precede tblite's import),
on the same rattled HfO2 supercell; prints wall times, the ratio and the energy
difference (must be ~0).
Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/tblite_blas.py [repeat]
"""

import json
import subprocess
import sys

CHILD = r"""
import json, sys, time
if sys.argv[1] == "bundled":
    import tblite.interface  # imported first: hamtrans leaves tblite on its bundled BLAS
from hamtrans.data.reference import TBLiteReference
from hamtrans.data.structures import bulk_hfo2
atoms = bulk_hfo2((int(sys.argv[2]),) * 3, rattle=0.05, seed=0)
reference = TBLiteReference()
start = time.perf_counter()
result = reference.compute(atoms, blocks=False)
print(json.dumps({"atoms": len(atoms), "seconds": time.perf_counter() - start, "energy": result.energy}))
"""


def run(mode: str, repeat: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(repeat)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    bundled, bound = run("bundled", repeat), run("bind", repeat)
    print(f"HfO2 {bundled['atoms']} atoms: bundled BLAS {bundled['seconds']:.1f} s, bound BLAS {bound['seconds']:.1f} s, "
          f"speed-up {bundled['seconds'] / bound['seconds']:.2f}x, |ΔE| = {abs(bundled['energy'] - bound['energy']):.1e} eV")


if __name__ == "__main__":
    main()
