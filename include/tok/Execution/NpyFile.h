//===- NpyFile.h - NumPy .npy arrays for tok-run ----------------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Reading and writing the NumPy array format (.npy, versions 1-3), the
// exchange format of tok-run's inputs and outputs. Only C-ordered,
// little-endian arrays of the element types tok computes with are accepted;
// everything else is an error that names the file and the problem.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_EXECUTION_NPYFILE_H
#define TOK_EXECUTION_NPYFILE_H

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <vector>

namespace mlir {
namespace tok {

enum class NpyDType { F16, F32, F64, I32, I64 };

/// The size in bytes of one element.
int64_t getNpyElementSize(NpyDType type);
/// The .npy descriptor, e.g. "<f4".
llvm::StringRef getNpyDescriptor(NpyDType type);

struct NpyArray {
  NpyDType type = NpyDType::F32;
  llvm::SmallVector<int64_t> shape;
  /// Row-major element data, 16-byte aligned by the allocator.
  std::vector<uint64_t> storage;

  int64_t getNumElements() const;
  int64_t getNumBytes() const {
    return getNumElements() * getNpyElementSize(type);
  }
  void *data() { return storage.data(); }
  const void *data() const { return storage.data(); }
  /// Allocates zeroed storage for `shape`.
  void allocate();
};

/// Parses the bytes of a .npy file; `name` names it in error messages.
llvm::Expected<NpyArray> parseNpy(llvm::StringRef bytes, llvm::StringRef name);
/// Reads a .npy file.
llvm::Expected<NpyArray> readNpyFile(llvm::StringRef path);
/// Writes `array` as a version 1.0 .npy file.
llvm::Error writeNpyFile(llvm::StringRef path, const NpyArray &array);

} // namespace tok
} // namespace mlir

#endif // TOK_EXECUTION_NPYFILE_H
