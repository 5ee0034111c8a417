/* ----------------------------------------------------------------------
   Embedded CPython for the hamtrans styles (see python_runtime.h).
   Build macro HAMTRANS_PYTHON_EXECUTABLE: the venv's python, so that the
   interpreter started inside `lmp` finds the venv's site-packages.
------------------------------------------------------------------------- */

#include "python_runtime.h"

namespace hamtrans {

std::string ensure_python()
{
  if (Py_IsInitialized()) return "";
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  config.install_signal_handlers = 0;    // Ctrl-C and friends stay with LAMMPS / MPI
  config.parse_argv = 0;
  PyStatus status = PyConfig_SetBytesString(&config, &config.executable, HAMTRANS_PYTHON_EXECUTABLE);
  if (!PyStatus_Exception(status))
    status = PyConfig_SetBytesString(&config, &config.program_name, HAMTRANS_PYTHON_EXECUTABLE);
  if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status))
    return std::string("cannot start Python (") + HAMTRANS_PYTHON_EXECUTABLE + "): " +
        (status.err_msg ? status.err_msg : "unknown error");
  // release the GIL taken by initialisation: every entry point takes it with GilGuard
  PyEval_SaveThread();
  return "";
}

bool python_alive()
{
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsInitialized() && !Py_IsFinalizing();
#else
  return Py_IsInitialized() && !_Py_IsFinalizing();
#endif
}

PyObject *view(void *data, Py_ssize_t count, Py_ssize_t size)
{
  static double empty;    // a valid address for zero-length views
  if (data == nullptr || count == 0) return PyMemoryView_FromMemory(reinterpret_cast<char *>(&empty), 0, PyBUF_WRITE);
  return PyMemoryView_FromMemory(static_cast<char *>(data), count * size, PyBUF_WRITE);
}

std::string python_error()
{
  PyObject *type, *value, *traceback;
  PyErr_Fetch(&type, &value, &traceback);
  PyErr_NormalizeException(&type, &value, &traceback);
  std::string text = "unknown Python error";
  if (value) {
    PyRef name(PyObject_GetAttrString(type, "__name__"));
    PyRef message(PyObject_Str(value));
    const char *name_text = name ? PyUnicode_AsUTF8(name.get()) : nullptr;
    const char *message_text = message ? PyUnicode_AsUTF8(message.get()) : nullptr;
    text = std::string(name_text ? name_text : "Error") + ": " + (message_text ? message_text : "");
  }
  PyErr_Clear();
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(traceback);
  return text;
}

PyObject *construct(const char *module, const char *name, PyObject *args)
{
  const std::string full = std::string("hamtrans.lammps_plugin.") + module;
  PyRef imported(PyImport_ImportModule(full.c_str()));
  if (!imported) return nullptr;
  PyRef type(PyObject_GetAttrString(imported.get(), name));
  if (!type) return nullptr;
  return PyObject_CallObject(type.get(), args);
}

}    // namespace hamtrans
