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

/// U8: raw bytes (the storage of a #tok.quant weight).
/// U16 carries bf16 values as their bits (NumPy has no bfloat16).
enum class NpyDType { F16, F32, F64, I32, I64, U8, U16 };

/// The size in bytes of one element.
int64_t getNpyElementSize(NpyDType type);
/// The .npy descriptor, e.g. "<f4".
llvm::StringRef getNpyDescriptor(NpyDType type);

struct NpyArray {
  NpyDType type = NpyDType::F32;
  llvm::SmallVector<int64_t> shape;
  /// Row-major element data, 16-byte aligned by the allocator.
  std::vector<uint64_t> storage;
  /// When set, the array is a view of this memory (not owned, not copied;
  /// e.g. a weight in a memory-mapped model file) and `storage` is unused.
  /// A callee must not write into a view of read-only memory.
  void *external = nullptr;

  int64_t getNumElements() const;
  int64_t getNumBytes() const {
    return getNumElements() * getNpyElementSize(type);
  }
  void *data() { return external ? external : storage.data(); }
  const void *data() const { return external ? external : storage.data(); }
  /// A view of `shape` elements of `type` at `data`.
  static NpyArray view(NpyDType type, llvm::ArrayRef<int64_t> shape,
                       const void *data) {
    NpyArray array;
    array.type = type;
    array.shape.assign(shape.begin(), shape.end());
    array.external = const_cast<void *>(data);
    return array;
  }
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
