//===- Common.h - what the tok extension's files share ----------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The C++ exception the bindings throw (turned into the Python exception of
// its kind by the translator TokModule.cpp registers), the driver's
// once-per-process setup, and the MLIR context each compiled object owns.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_PYTHON_COMMON_H
#define TOK_PYTHON_COMMON_H

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <stdexcept>
#include <string>

namespace tokpy {

/// Which Python exception an error becomes (tok.Error's subclasses).
enum class ErrorKind {
  /// tok.Error itself.
  Generic,
  /// tok.CompileError: IR that does not parse or verify, a pipeline that
  /// does not parse or fails, lowering or code generation.
  Compile,
  /// tok.ModelError: a model that cannot be opened.
  Model,
  /// tok.ArgumentError (also a ValueError): arguments that do not fit.
  Argument,
  /// tok.RuntimeCheckError: a run-time check of compiled code failed.
  RuntimeCheck,
};

struct TokException : std::runtime_error {
  TokException(ErrorKind kind, const std::string &message,
               std::string location = "")
      : std::runtime_error(message), kind(kind), location(std::move(location)) {
  }
  ErrorKind kind;
  /// file:line:col of the first error diagnostic, where there is one.
  std::string location;
};

[[noreturn]] inline void fail(ErrorKind kind, const std::string &message) {
  throw TokException(kind, message);
}

/// Throws `error`'s message as `kind`.
[[noreturn]] void fail(ErrorKind kind, llvm::Error error);

/// Returns the value of `expected`, or throws its error as `kind`.
template <typename T> T take(ErrorKind kind, llvm::Expected<T> expected) {
  if (!expected)
    fail(kind, expected.takeError());
  return std::move(*expected);
}

/// A context with every dialect the driver uses, after
/// mlir::tok::initializeDriver(). Single-threaded: each compiled object
/// owns one, and the machine's cores go to the compiled code.
std::unique_ptr<mlir::MLIRContext> makeContext();

} // namespace tokpy

#endif // TOK_PYTHON_COMMON_H
