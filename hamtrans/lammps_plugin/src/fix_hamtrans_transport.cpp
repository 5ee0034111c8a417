/* ----------------------------------------------------------------------
   fix hamtrans/transport (see fix_hamtrans_transport.h and docs/lammps.md)

   fix ID group hamtrans/transport N model [fermi EF] [axis x|y|z] [bias V]
       [temp K] [tol t] [eta e] [file path] [energies Emin Emax n] [elements El1 ... ElN]
       [basis name] [leads own|periodic] [cell a] [points n] [leadmethod eigenmode|sancho-rubio]
------------------------------------------------------------------------- */

#include "fix_hamtrans_transport.h"

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "error.h"
#include "force.h"
#include "pair_hamtrans.h"
#include "update.h"
#include "utils.h"

#include <cmath>
#include <cstring>

using namespace LAMMPS_NS;
using namespace FixConst;
using hamtrans::GilGuard;
using hamtrans::PyRef;

/* ---------------------------------------------------------------------- */

FixHamtransTransport::FixHamtransTransport(LAMMPS *lmp, int narg, char **arg) : Fix(lmp, narg, arg)
{
  if (narg < 5) utils::missing_cmd_args(FLERR, "fix hamtrans/transport", error);
  if (strcmp(update->unit_style, "metal") != 0)
    error->all(FLERR, "Fix hamtrans/transport requires 'units metal' (eV, Angstrom, ps), not 'units {}'",
               update->unit_style);
  nevery = utils::inumeric(FLERR, arg[3], false, lmp);
  if (nevery <= 0) error->all(FLERR, "Fix hamtrans/transport: N must be a positive number of steps, not {}", nevery);
  const std::string model = arg[4];

  std::string axis = "x", path, basis, leads = "own", lead_method = "eigenmode";
  double bias = 0.0, temperature = 300.0, fermi = NAN, tolerance = 1e-3, eta = 0.0, lead_cell = NAN;
  int points = 0;
  double emin = NAN, emax = NAN;
  int npoints = 0;
  for (int iarg = 5; iarg < narg;) {
    const std::string key = arg[iarg];
    auto need = [&](int count) {
      if (iarg + count >= narg) utils::missing_cmd_args(FLERR, "fix hamtrans/transport " + key, error);
    };
    if (key == "axis") {
      need(1);
      axis = arg[iarg + 1];
      if (axis != "x" && axis != "y" && axis != "z")
        error->all(FLERR, "Fix hamtrans/transport: axis must be x, y or z, not {}", axis);
      iarg += 2;
    } else if (key == "bias") {
      need(1);
      bias = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      iarg += 2;
    } else if (key == "temp") {
      need(1);
      temperature = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      if (temperature < 0.0) error->all(FLERR, "Fix hamtrans/transport: temp must be >= 0 K");
      iarg += 2;
    } else if (key == "tol") {
      need(1);
      tolerance = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      if (tolerance <= 0.0) error->all(FLERR, "Fix hamtrans/transport: tol must be > 0");
      iarg += 2;
    } else if (key == "eta") {
      need(1);
      eta = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      if (eta < 0.0) error->all(FLERR, "Fix hamtrans/transport: eta must be >= 0");
      iarg += 2;
    } else if (key == "fermi") {
      need(1);
      fermi = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      iarg += 2;
    } else if (key == "file") {
      need(1);
      path = arg[iarg + 1];
      iarg += 2;
    } else if (key == "energies") {
      need(3);
      emin = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      emax = utils::numeric(FLERR, arg[iarg + 2], false, lmp);
      npoints = utils::inumeric(FLERR, arg[iarg + 3], false, lmp);
      if (npoints < 1 || emax < emin)
        error->all(FLERR, "Fix hamtrans/transport: energies needs Emin <= Emax and n >= 1");
      iarg += 4;
    } else if (key == "basis") {
      need(1);
      basis = arg[iarg + 1];
      iarg += 2;
    } else if (key == "leads") {
      need(1);
      leads = arg[iarg + 1];
      if (leads != "own" && leads != "periodic")
        error->all(FLERR, "Fix hamtrans/transport: leads must be own or periodic, not {}", leads);
      iarg += 2;
    } else if (key == "cell") {
      need(1);
      lead_cell = utils::numeric(FLERR, arg[iarg + 1], false, lmp);
      if (lead_cell <= 0.0) error->all(FLERR, "Fix hamtrans/transport: cell must be > 0 (Angstrom)");
      iarg += 2;
    } else if (key == "points") {
      need(1);
      points = utils::inumeric(FLERR, arg[iarg + 1], false, lmp);
      if (points < 3) error->all(FLERR, "Fix hamtrans/transport: points must be >= 3 (uniform current grid)");
      iarg += 2;
    } else if (key == "leadmethod") {
      need(1);
      lead_method = arg[iarg + 1];
      if (lead_method != "eigenmode" && lead_method != "sancho-rubio")
        error->all(FLERR, "Fix hamtrans/transport: leadmethod must be eigenmode or sancho-rubio, not {}",
                   lead_method);
      iarg += 2;
    } else if (key == "elements") {
      need(atom->ntypes);
      element_names.assign(arg + iarg + 1, arg + iarg + 1 + atom->ntypes);
      iarg += 1 + atom->ntypes;
    } else {
      error->all(FLERR, "Fix hamtrans/transport: unknown keyword {}", key);
    }
  }
  if (std::isnan(fermi) && leads != "periodic")
    error->all(FLERR, "Fix hamtrans/transport needs 'fermi EF' (eV): a Hamiltonian model predicts no Fermi level "
                      "(or 'leads periodic', whose Fermi level comes from the leads' bands)");
  if (leads == "periodic" && std::isnan(lead_cell))
    error->all(FLERR, "Fix hamtrans/transport: 'leads periodic' needs 'cell a' (electrode lattice period, Angstrom)");

  scalar_flag = 1;
  global_freq = nevery;
  extscalar = 0;

  // every rank holds a bridge: the ranks split the model's prediction and the NEGF energies
  // (world's Fortran handle -> mpi4py); rank 0 alone writes the file
  std::string message = hamtrans::ensure_python();
  if (message.empty()) {
    GilGuard gil;
    PyRef energies(std::isnan(emin) ? Py_NewRef(Py_None) : Py_BuildValue("(ddi)", emin, emax, npoints));
    PyRef options(Py_BuildValue("{s:z,s:s,s:d,s:i,s:s}", "basis", basis.empty() ? nullptr : basis.c_str(),
                                "leads", leads.c_str(), "lead_cell", lead_cell, "points", points,
                                "lead_method", lead_method.c_str()));
    PyRef communicator(comm->nprocs > 1 ? PyLong_FromLong(MPI_Comm_c2f(world)) : Py_NewRef(Py_None));
    PyRef args(Py_BuildValue("(ssdddddOzOO)", model.c_str(), axis.c_str(), bias, temperature, fermi, tolerance, eta,
                             energies.get(), path.empty() ? nullptr : path.c_str(), options.get(),
                             communicator.get()));
    bridge.reset(hamtrans::construct("transport_bridge", "TransportBridge", args.get()));
    if (!bridge) message = hamtrans::python_error();
  }
  const int failed = message.empty() ? 0 : 1;
  int any = failed;
  MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_INT, MPI_MAX, world);
  if (any && bridge) {    // the constructor throws: release the bridge while holding the GIL
    GilGuard gil;
    bridge.reset();
  }
  fail_if_any(failed, model, message);
}

FixHamtransTransport::~FixHamtransTransport()
{
  if (hamtrans::python_alive()) {
    GilGuard gil;
    bridge.reset();
  } else {
    bridge.abandon();
  }
}

int FixHamtransTransport::setmask()
{
  return END_OF_STEP;
}

/* ---------------------------------------------------------------------- */

void FixHamtransTransport::init()
{
  if (!element_names.empty()) return;
  auto pair = dynamic_cast<PairHamtrans *>(force->pair_match("hamtrans", 1));
  if (pair == nullptr || pair->elements().empty())
    error->all(FLERR, "Fix hamtrans/transport needs 'elements El1 ... El{}' (one per atom type) unless "
                      "pair_style hamtrans defines them", atom->ntypes);
  element_names = pair->elements();
}

void FixHamtransTransport::setup(int)
{
  if (update->ntimestep % nevery == 0 && update->ntimestep != last_step) evaluate();
}

void FixHamtransTransport::end_of_step()
{
  if (update->ntimestep != last_step) evaluate();
}

double FixHamtransTransport::compute_scalar()
{
  return current;
}

/* ----------------------------------------------------------------------
   collective: every rank receives the atoms of the group from all ranks and
   calls its bridge (the current is a collective call there); rank 0's current
   is broadcast, and a failure on any rank stops all of them
------------------------------------------------------------------------- */

void FixHamtransTransport::evaluate()
{
  const std::vector<double> structure = gather_structure();
  last_step = update->ntimestep;

  int failed = 0;
  std::string message;
  {
    GilGuard gil;
    const double time = update->atime + (update->ntimestep - update->atimestep) * update->dt;
    PyRef atoms(hamtrans::view(const_cast<double *>(structure.data()), structure.size(), sizeof(double)));
    PyRef elements(PyList_New(0));
    for (const auto &name : element_names) {
      PyRef item(PyUnicode_FromString(name.c_str()));
      PyList_Append(elements.get(), item.get());
    }
    const double *h = domain->h;    // xx yy zz yz xz xy
    PyRef result(PyObject_CallMethod(bridge.get(), "evaluate", "LdOO(dddddd)(ddd)(iii)", (long long) update->ntimestep,
                                     time, atoms.get(), elements.get(), h[0], h[1], h[2], h[3], h[4], h[5],
                                     domain->boxlo[0], domain->boxlo[1], domain->boxlo[2], domain->xperiodic,
                                     domain->yperiodic, domain->zperiodic));
    if (result) {
      current = PyFloat_AsDouble(result.get());
    } else {
      message = hamtrans::python_error();
      failed = 1;
    }
  }
  fail_if_any(failed, "step " + std::to_string(update->ntimestep), message);
  MPI_Bcast(&current, 1, MPI_DOUBLE, 0, world);
}

std::vector<double> FixHamtransTransport::gather_structure()
{
  const int nlocal = atom->nlocal;
  std::vector<double> mine;    // tag, type, x, y, z of each atom in the group
  for (int i = 0; i < nlocal; i++) {
    if (!(atom->mask[i] & groupbit)) continue;
    mine.insert(mine.end(), {static_cast<double>(atom->tag[i]), static_cast<double>(atom->type[i]), atom->x[i][0],
                             atom->x[i][1], atom->x[i][2]});
  }
  const int nsend = static_cast<int>(mine.size());
  std::vector<int> sizes(comm->nprocs), offsets(comm->nprocs, 0);
  MPI_Allgather(&nsend, 1, MPI_INT, sizes.data(), 1, MPI_INT, world);
  int total = 0;
  for (int p = 0; p < comm->nprocs; p++) {
    offsets[p] = total;
    total += sizes[p];
  }
  std::vector<double> all(total);
  MPI_Allgatherv(mine.data(), nsend, MPI_DOUBLE, all.data(), sizes.data(), offsets.data(), MPI_DOUBLE, world);
  return all;
}

void FixHamtransTransport::fail_if_any(int failed, const std::string &what, const std::string &message)
{
  // the lowest failing rank's message goes to all ranks, which then stop together
  int source = failed ? comm->me : comm->nprocs;
  MPI_Allreduce(MPI_IN_PLACE, &source, 1, MPI_INT, MPI_MIN, world);
  if (source == comm->nprocs) return;
  int length = static_cast<int>(message.size());
  MPI_Bcast(&length, 1, MPI_INT, source, world);
  std::string text = comm->me == source ? message : std::string(length, ' ');
  MPI_Bcast(text.data(), length, MPI_CHAR, source, world);
  const std::string where = source == 0 ? "" : " (on rank " + std::to_string(source) + ")";
  error->all(FLERR, "Fix hamtrans/transport ({}): {}{}", what, text, where);
}

/* ---------------------------------------------------------------------- */

extern "C" void *hamtrans_create_fix_transport(void *lmp, int narg, char **arg)
{
  return static_cast<Fix *>(new FixHamtransTransport(static_cast<LAMMPS *>(lmp), narg, arg));
}
