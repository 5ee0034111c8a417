/* ----------------------------------------------------------------------
   Embedded CPython for the hamtrans styles: interpreter start-up, the GIL,
   owned references, zero-copy views of LAMMPS arrays, Python errors as text.
------------------------------------------------------------------------- */

#ifndef HAMTRANS_PYTHON_RUNTIME_H
#define HAMTRANS_PYTHON_RUNTIME_H

#include <Python.h>
#include <string>

namespace hamtrans {

// Start the interpreter when LAMMPS runs as a plain executable (no-op when LAMMPS is
// driven from Python). Returns an empty string on success, else what went wrong.
std::string ensure_python();

// Whether Python objects may still be released (false during interpreter shutdown).
bool python_alive();

// Holds the GIL for its lifetime; works with and without a running Python caller.
class GilGuard {
 public:
  GilGuard() : state(PyGILState_Ensure()) {}
  ~GilGuard() { PyGILState_Release(state); }
  GilGuard(const GilGuard &) = delete;
  GilGuard &operator=(const GilGuard &) = delete;

 private:
  PyGILState_STATE state;
};

// An owned reference (Py_XDECREF on destruction); take the GIL before destroying one,
// or abandon() it when the interpreter is shutting down.
class PyRef {
 public:
  explicit PyRef(PyObject *object = nullptr) : object(object) {}
  ~PyRef() { Py_XDECREF(object); }
  PyRef(const PyRef &) = delete;
  PyRef &operator=(const PyRef &) = delete;
  void reset(PyObject *replacement = nullptr)
  {
    Py_XDECREF(object);
    object = replacement;
  }
  void abandon() { object = nullptr; }    // leak: no Python object may be touched any more
  PyObject *get() const { return object; }
  explicit operator bool() const { return object != nullptr; }

 private:
  PyObject *object;
};

// Writable memoryview of `count` elements of `size` bytes at `data` (no copy).
PyObject *view(void *data, Py_ssize_t count, Py_ssize_t size);

// "Type: message" of the pending Python exception, which is cleared.
std::string python_error();

// Instance of hamtrans.lammps_plugin.<module>.<name>(*args); nullptr with a pending error.
PyObject *construct(const char *module, const char *name, PyObject *args);

}    // namespace hamtrans

#endif
