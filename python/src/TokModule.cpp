//===- TokModule.cpp - the tok._tok extension module ----------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The native half of the `tok` package (python/tok/__init__.py is the
// other): the exception classes, their translation from TokException, the
// driver's setup, and the bindings of Modules.cpp and Models.cpp.
//
//===----------------------------------------------------------------------===//

#include "Common.h"
#include "Models.h"
#include "Modules.h"

#include "tok/Driver/Context.h"

#include "mlir/IR/DialectRegistry.h"

#include <nanobind/nanobind.h>

namespace nb = nanobind;
using namespace tokpy;

void tokpy::fail(ErrorKind kind, llvm::Error error) {
  throw TokException(kind, llvm::toString(std::move(error)));
}

std::unique_ptr<mlir::MLIRContext> tokpy::makeContext() {
  static const mlir::DialectRegistry &registry = []() -> auto & {
    mlir::tok::initializeDriver();
    auto *r = new mlir::DialectRegistry();
    mlir::tok::registerDriverDialects(*r);
    return *r;
  }();
  auto context = std::make_unique<mlir::MLIRContext>(
      registry, mlir::MLIRContext::Threading::DISABLED);
  context->printOpOnDiagnostic(false);
  return context;
}

namespace {

/// The Python exception classes, by ErrorKind.
PyObject *errorClasses[5] = {};

PyObject *newErrorClass(nb::module_ &m, const char *name, const char *doc,
                        PyObject *bases) {
  std::string qualified = std::string("tok.") + name;
  PyObject *cls =
      PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases, nullptr);
  if (!cls)
    throw nb::python_error();
  m.attr(name) = nb::handle(cls);
  return cls;
}

} // namespace

NB_MODULE(_tok, m) {
  m.doc() = "The native half of the tok package: bindings of tok's driver "
            "library (see the tok package for the documented API).";

  PyObject *base = newErrorClass(
      m, "Error",
      "Everything tok raises. `message` is tok's message; `location` is "
      "file:line:col of the first error in IR, where there is one.",
      PyExc_Exception);
  errorClasses[static_cast<int>(ErrorKind::Generic)] = base;
  errorClasses[static_cast<int>(ErrorKind::Compile)] = newErrorClass(
      m, "CompileError",
      "IR that does not parse or verify, a pass pipeline that does not "
      "parse or fails, lowering or code generation.",
      base);
  errorClasses[static_cast<int>(ErrorKind::Model)] =
      newErrorClass(m, "ModelError", "A model that cannot be opened.", base);
  nb::object argumentBases =
      nb::make_tuple(nb::handle(base), nb::handle(PyExc_ValueError));
  errorClasses[static_cast<int>(ErrorKind::Argument)] = newErrorClass(
      m, "ArgumentError",
      "Arguments that do not fit: an array's element type or shape, a token "
      "id outside the vocabulary, a setting out of range.",
      argumentBases.ptr());
  errorClasses[static_cast<int>(ErrorKind::RuntimeCheck)] = newErrorClass(
      m, "RuntimeCheckError",
      "A run-time check of compiled code failed (the compiled code was left "
      "and what it had allocated freed; the process goes on).",
      base);

  nb::register_exception_translator([](const std::exception_ptr &p, void *) {
    try {
      std::rethrow_exception(p);
    } catch (const TokException &e) {
      PyObject *cls = errorClasses[static_cast<int>(e.kind)];
      nb::object error = nb::steal(PyObject_CallFunction(cls, "s", e.what()));
      if (!error.is_valid())
        return; // the call's own error is set
      error.attr("message") = nb::str(e.what());
      error.attr("location") = e.location.empty()
                                   ? nb::none()
                                   : nb::object(nb::str(e.location.c_str()));
      PyErr_SetObject(cls, error.ptr());
    }
  });

  tokpy::bindModules(m);
  tokpy::bindModels(m);
}
