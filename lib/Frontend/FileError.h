//===- FileError.h - errors and file reading of the model readers -*- C++
//-*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// What every reader of lib/Frontend does the same way: errors read
// "<file>: <problem>", and files are memory-mapped read-only.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_LIB_FRONTEND_FILEERROR_H
#define TOK_LIB_FRONTEND_FILEERROR_H

#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <memory>

namespace mlir {
namespace tok {

/// "<name>: <message>".
inline llvm::Error fileError(const llvm::Twine &name,
                             const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 name + ": " + message);
}

/// Maps `path` (no null terminator, so large files stay mapped); a file
/// that cannot be read is "<path>: cannot read: <reason>".
inline llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>>
mapFile(const llvm::Twine &path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return fileError(path, "cannot read: " + buffer.getError().message());
  return std::move(*buffer);
}

} // namespace tok
} // namespace mlir

#endif // TOK_LIB_FRONTEND_FILEERROR_H
