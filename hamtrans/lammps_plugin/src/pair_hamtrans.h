/* -*- c++ -*- ----------------------------------------------------------
   pair_style hamtrans: the hamtrans equivariant potential with
   spatial-decomposition message passing (documentation: docs/lammps.md).

   Each rank evaluates its local atoms in embedded CPython
   (hamtrans.lammps_plugin.pair_bridge). Between interaction layers the node
   features of ghost atoms are refreshed from their owners with
   comm->forward_comm(this); the backward pass sends the gradients that reached
   ghost features home with comm->reverse_comm(this), layer by layer. Forces on
   ghosts go to f[] and reach their owners through LAMMPS' reverse
   communication (newton pair on).
------------------------------------------------------------------------- */

#ifndef HAMTRANS_PAIR_HAMTRANS_H
#define HAMTRANS_PAIR_HAMTRANS_H

#include "pair.h"
#include "python_runtime.h"

#include <string>
#include <vector>

namespace LAMMPS_NS {

class PairHamtrans : public Pair {
 public:
  PairHamtrans(class LAMMPS *);
  ~PairHamtrans() override;

  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;
  double memory_usage() override;

  int pack_forward_comm(int, int *, double *, int, int *) override;
  void unpack_forward_comm(int, int, double *) override;
  int pack_reverse_comm(int, int, double *) override;
  void unpack_reverse_comm(int, int *, double *) override;

  // One ghost exchange of `dim` doubles per atom in the feature buffer
  // (direction 0: forward, 1: reverse); called back from Python.
  void exchange(int direction, int dim);

  // Element of each atom type (index 0 = type 1), set by pair_coeff.
  const std::vector<std::string> &elements() const { return element_names; }

 private:
  hamtrans::PyRef bridge;         // hamtrans.lammps_plugin.pair_bridge.PairBridge
  hamtrans::PyRef exchanger;      // Python callable bound to this pair: exchange(direction, dim)
  std::vector<std::string> element_names;
  double cutoff = 0.0;            // interaction cutoff of the model, Angstrom
  int max_dim = 0;                // largest feature width exchanged (doubles per atom)
  int comm_dim = 0;               // width of the exchange under way
  double *features = nullptr;     // per-atom exchange buffer, at least atom->nmax rows of max_dim
  bigint features_size = 0;       // doubles allocated in features
  std::vector<int> receivers;     // the full neighbour list, flattened: local atom i ...
  std::vector<int> senders;       // ... and its neighbour j (local or ghost)

  void allocate();
  void require_metal_units();
  void flatten_neighbour_list();
};

}    // namespace LAMMPS_NS

#endif
