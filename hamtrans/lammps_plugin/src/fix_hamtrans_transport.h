/* -*- c++ -*- ----------------------------------------------------------
   fix hamtrans/transport: every N steps, gather the structure on rank 0,
   predict H and S with a hamtrans Hamiltonian model, compute the Landauer
   current with the NEGF engine (hamtrans.lammps_plugin.transport_bridge),
   append a line to a file and expose the current (A) as a global scalar.
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
  hamtrans::PyRef bridge;              // rank 0 only: TransportBridge
  std::vector<std::string> element_names;    // element of each type; empty: take pair hamtrans'
  double current = 0.0;                // A, last evaluation, the same on every rank
  bigint last_step = -1;               // step of the last evaluation

  void evaluate();
  std::vector<double> gather_structure();
  void fail_if_any(int failed, const std::string &what, const std::string &message);
};

}    // namespace LAMMPS_NS

#endif
