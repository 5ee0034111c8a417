/* -*- c++ -*- ----------------------------------------------------------
   fix hamtrans/transport: every N steps, gather the structure on every rank,
   predict H and S with a hamtrans Hamiltonian model (the ranks split it into
   slabs), compute the Landauer current with the NEGF engine (the ranks split
   the energies; hamtrans.lammps_plugin.transport_bridge), append a line to a
   file (rank 0) and expose the current (A) as a global scalar.
   Documentation: docs/lammps.md.
------------------------------------------------------------------------- */

#ifndef HAMTRANS_FIX_HAMTRANS_TRANSPORT_H
#define HAMTRANS_FIX_HAMTRANS_TRANSPORT_H

#include "fix.h"
#include "python_runtime.h"

#include <string>
#include <vector>

namespace LAMMPS_NS {

class FixHamtransTransport : public Fix {
 public:
  FixHamtransTransport(class LAMMPS *, int, char **);
  ~FixHamtransTransport() override;

  int setmask() override;
  void init() override;
  void setup(int) override;
  void end_of_step() override;
  double compute_scalar() override;

 private:
  hamtrans::PyRef bridge;              // TransportBridge (every rank; rank 0 writes its file)
  std::vector<std::string> element_names;    // element of each type; empty: take pair hamtrans'
  double current = 0.0;                // A, last evaluation, the same on every rank
  bigint last_step = -1;               // step of the last evaluation

  void evaluate();
  std::vector<double> gather_structure();
  void fail_if_any(int failed, const std::string &what, const std::string &message);
};

}    // namespace LAMMPS_NS

#endif
