/* ----------------------------------------------------------------------
   pair_style hamtrans (see pair_hamtrans.h and docs/lammps.md)
------------------------------------------------------------------------- */

#include "pair_hamtrans.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "update.h"

#include <cstring>
#include <exception>

using namespace LAMMPS_NS;
using hamtrans::GilGuard;
using hamtrans::PyRef;

namespace {

constexpr int FORWARD = 0;
constexpr int REVERSE = 1;

// Python entry point of PairHamtrans::exchange; `self` is a capsule holding the pair.
PyObject *py_exchange(PyObject *self, PyObject *args)
{
  int direction, dim;
  if (!PyArg_ParseTuple(args, "ii", &direction, &dim)) return nullptr;
  auto pair = static_cast<PairHamtrans *>(PyCapsule_GetPointer(self, "hamtrans.pair"));
  if (pair == nullptr) return nullptr;
  try {
    pair->exchange(direction, dim);
  } catch (std::exception &e) {    // never unwind C++ exceptions through Python frames
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return nullptr;
  }
  Py_RETURN_NONE;
}

PyMethodDef exchange_method = {"exchange", py_exchange, METH_VARARGS,
                               "exchange(direction, dim): forward (0) or reverse (1) ghost communication"};

}    // namespace

/* ---------------------------------------------------------------------- */

PairHamtrans::PairHamtrans(LAMMPS *lmp) : Pair(lmp)
{
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  no_virial_fdotr_compute = 1;    // the model returns the virial of its own edges
  centroidstressflag = CENTROID_NOTAVAIL;
  const std::string failure = hamtrans::ensure_python();
  if (!failure.empty()) error->all(FLERR, "Pair style hamtrans: {}", failure);
}

PairHamtrans::~PairHamtrans()
{
  if (hamtrans::python_alive()) {
    GilGuard gil;
    bridge.reset();
    exchanger.reset();
  } else {
    bridge.abandon();
    exchanger.abandon();
  }
  memory->destroy(features);
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
  }
}

/* ---------------------------------------------------------------------- */

void PairHamtrans::allocate()
{
  allocated = 1;
  const int n = atom->ntypes + 1;
  memory->create(setflag, n, n, "pair:setflag");
  memory->create(cutsq, n, n, "pair:cutsq");
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) setflag[i][j] = 0;
}

void PairHamtrans::require_metal_units()
{
  if (strcmp(update->unit_style, "metal") != 0)
    error->all(FLERR, "Pair style hamtrans requires 'units metal' (eV, Angstrom, ps), not 'units {}'",
               update->unit_style);
}

void PairHamtrans::settings(int narg, char **)
{
  if (narg != 0) error->all(FLERR, "Pair style hamtrans takes no arguments: pair_style hamtrans");
  require_metal_units();
}

/* ----------------------------------------------------------------------
   pair_coeff * * model El1 El2 ... ElN   (one element per atom type;
   LAMMPS itself enforces "* *" for one_coeff styles)
------------------------------------------------------------------------- */

void PairHamtrans::coeff(int narg, char **arg)
{
  const int ntypes = atom->ntypes;
  if (narg < 3)
    error->all(FLERR, "Pair style hamtrans needs: pair_coeff * * <model> <element of type 1> ... <element of type {}>",
               ntypes);
  if (narg - 3 != ntypes)
    error->all(FLERR, "pair_coeff * * {}: {} element(s) given for {} atom type(s); give one element per atom type",
               arg[2], narg - 3, ntypes);
  if (!allocated) allocate();

  element_names.assign(arg + 3, arg + narg);
  {
    GilGuard gil;
    if (!exchanger) {
      PyRef capsule(PyCapsule_New(this, "hamtrans.pair", nullptr));
      exchanger.reset(capsule ? PyCFunction_New(&exchange_method, capsule.get()) : nullptr);
      if (!exchanger) error->all(FLERR, "pair_coeff: {}", hamtrans::python_error());
    }
    PyRef elements(PyList_New(0));
    for (const auto &name : element_names) {
      PyRef item(PyUnicode_FromString(name.c_str()));
      PyList_Append(elements.get(), item.get());
    }
    PyRef args(Py_BuildValue("(sOO)", arg[2], elements.get(), exchanger.get()));
    bridge.reset(hamtrans::construct("pair_bridge", "PairBridge", args.get()));
    if (!bridge) error->all(FLERR, "pair_coeff * * {}: {}", arg[2], hamtrans::python_error());
    PyRef cut(PyObject_GetAttrString(bridge.get(), "cutoff"));
    PyRef dim(PyObject_GetAttrString(bridge.get(), "feature_dim"));
    if (!cut || !dim) error->all(FLERR, "pair_coeff: {}", hamtrans::python_error());
    cutoff = PyFloat_AsDouble(cut.get());
    max_dim = static_cast<int>(PyLong_AsLong(dim.get()));
  }

  // every exchange moves at most max_dim doubles per atom; Comm sizes its buffers from these
  comm_forward = comm_reverse = max_dim;
  for (int i = 1; i <= ntypes; i++)
    for (int j = i; j <= ntypes; j++) setflag[i][j] = 1;
}

/* ---------------------------------------------------------------------- */

void PairHamtrans::init_style()
{
  require_metal_units();
  if (force->newton_pair == 0)
    error->all(FLERR, "Pair style hamtrans requires 'newton pair on': forces and feature gradients of ghost "
                      "atoms are sent to their owners");
  if (atom->tag_enable == 0) error->all(FLERR, "Pair style hamtrans requires atom IDs");
  neighbor->add_request(this, NeighConst::REQ_FULL);
}

// Ghost atoms are needed within ONE interaction cutoff: features beyond are exchanged.
double PairHamtrans::init_one(int, int)
{
  return cutoff;
}

/* ---------------------------------------------------------------------- */

void PairHamtrans::flatten_neighbour_list()
{
  receivers.clear();
  senders.clear();
  for (int ii = 0; ii < list->inum; ii++) {
    const int i = list->ilist[ii];
    const int *neighbours = list->firstneigh[i];
    for (int jj = 0; jj < list->numneigh[i]; jj++) {
      receivers.push_back(i);
      senders.push_back(neighbours[jj] & NEIGHMASK);
    }
  }
}

void PairHamtrans::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  if (vflag_atom || cvflag_atom)
    error->all(FLERR, "Pair style hamtrans does not compute per-atom virials (compute stress/atom)");

  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;
  // grows with atom->nmax and with the model's feature width (a new pair_coeff)
  if (static_cast<bigint>(atom->nmax) * max_dim > features_size) {
    memory->destroy(features);
    features_size = static_cast<bigint>(atom->nmax) * max_dim;
    memory->create(features, features_size, "pair:features");
  }
  flatten_neighbour_list();

  // every rank calls the bridge, even without local atoms: its exchanges are collective
  double energy = 0.0, w[6] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  {
    GilGuard gil;
    const Py_ssize_t nd = sizeof(double), ni = sizeof(int);
    PyRef x(hamtrans::view(atom->x ? atom->x[0] : nullptr, 3 * nall, nd));
    PyRef type(hamtrans::view(atom->type, nall, ni));
    PyRef f(hamtrans::view(atom->f ? atom->f[0] : nullptr, 3 * nall, nd));
    PyRef eatom_view(eflag_atom ? hamtrans::view(eatom, nlocal, nd) : Py_NewRef(Py_None));
    PyRef rec(hamtrans::view(receivers.data(), receivers.size(), ni));
    PyRef snd(hamtrans::view(senders.data(), senders.size(), ni));
    PyRef buffer(hamtrans::view(features, static_cast<Py_ssize_t>(nall) * max_dim, nd));
    PyRef result(PyObject_CallMethod(bridge.get(), "compute", "OOOOOOOii", x.get(), type.get(), f.get(),
                                     eatom_view.get(), rec.get(), snd.get(), buffer.get(), nlocal, nall));
    if (!result || !PyArg_ParseTuple(result.get(), "d(dddddd)", &energy, &w[0], &w[1], &w[2], &w[3], &w[4], &w[5]))
      error->one(FLERR, "Pair style hamtrans: {}", hamtrans::python_error());
  }

  if (eflag_global) eng_vdwl += energy;
  if (vflag_global)
    for (int k = 0; k < 6; k++) virial[k] += w[k];
}

/* ----------------------------------------------------------------------
   ghost exchange of the feature buffer, comm_dim doubles per atom
------------------------------------------------------------------------- */

void PairHamtrans::exchange(int direction, int dim)
{
  if (dim < 0 || dim > max_dim)
    error->one(FLERR, "Pair style hamtrans: exchange of {} values per atom exceeds {}", dim, max_dim);
  comm_dim = dim;
  if (direction == FORWARD)
    comm->forward_comm(this, dim);
  else
    comm->reverse_comm(this, dim);
}

int PairHamtrans::pack_forward_comm(int n, int *list_send, double *buf, int, int *)
{
  int m = 0;
  for (int i = 0; i < n; i++) {
    const double *row = features + static_cast<bigint>(list_send[i]) * comm_dim;
    for (int k = 0; k < comm_dim; k++) buf[m++] = row[k];
  }
  return m;
}

void PairHamtrans::unpack_forward_comm(int n, int first, double *buf)
{
  memcpy(features + static_cast<bigint>(first) * comm_dim, buf, sizeof(double) * n * comm_dim);
}

int PairHamtrans::pack_reverse_comm(int n, int first, double *buf)
{
  memcpy(buf, features + static_cast<bigint>(first) * comm_dim, sizeof(double) * n * comm_dim);
  return n * comm_dim;
}

void PairHamtrans::unpack_reverse_comm(int n, int *list_recv, double *buf)
{
  int m = 0;
  for (int i = 0; i < n; i++) {
    double *row = features + static_cast<bigint>(list_recv[i]) * comm_dim;
    for (int k = 0; k < comm_dim; k++) row[k] += buf[m++];
  }
}

double PairHamtrans::memory_usage()
{
  return static_cast<double>(features_size) * sizeof(double) +
      static_cast<double>(receivers.capacity() + senders.capacity()) * sizeof(int);
}

/* ---------------------------------------------------------------------- */

extern "C" void *hamtrans_create_pair(void *lmp)
{
  return static_cast<Pair *>(new PairHamtrans(static_cast<LAMMPS *>(lmp)));
}
