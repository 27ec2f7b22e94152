//===- Safetensors.h - Hugging Face safetensors files -----------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Reads safetensors files: an 8-byte little-endian header length, a JSON
// header mapping tensor names to {dtype, shape, data_offsets}, then the
// tensor bytes. The file is memory-mapped and tensors are views into it,
// never copied. The header is validated as the format requires before any
// tensor is exposed: known dtypes, non-negative shapes, offsets in bounds
// whose size matches dtype x shape, and tensors tiling the data without
// gaps or overlaps. Sharded checkpoints (`model.safetensors.index.json`)
// open every shard named by the index's weight map.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_FRONTEND_SAFETENSORS_H
#define TOK_FRONTEND_SAFETENSORS_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mlir {
namespace tok {

/// The element types a model weight may have.
enum class SafetensorsDType {
  F32,
  F16,
  BF16,
  F64,
  I64,
  I32,
  I16,
  I8,
  U8,
  Bool
};

/// The dtype called `name` in a header ("F32", "BF16", ...), if known.
std::optional<SafetensorsDType> parseSafetensorsDType(llvm::StringRef name);
llvm::StringRef stringifySafetensorsDType(SafetensorsDType type);
int64_t getSafetensorsElementSize(SafetensorsDType type);

/// One tensor: a view of its bytes in the mapped file. The bytes are only
/// as aligned as the file makes them (the format promises no alignment).
struct SafetensorsTensor {
  std::string name;
  SafetensorsDType type = SafetensorsDType::F32;
  llvm::SmallVector<int64_t> shape;
  llvm::StringRef bytes;
  /// The file it lives in (for error messages).
  std::string file;

  int64_t getNumElements() const;
};

/// The tensors of one file, or of every shard of a sharded checkpoint.
class SafetensorsModel {
public:
  /// Opens one `.safetensors` file.
  static llvm::Expected<std::unique_ptr<SafetensorsModel>>
  open(llvm::StringRef path);
  /// Validates one file already in memory; `name` names it in errors.
  static llvm::Expected<std::unique_ptr<SafetensorsModel>>
  parse(std::unique_ptr<llvm::MemoryBuffer> buffer, llvm::StringRef name);
  /// Opens a sharded checkpoint from its index JSON; shard names are
  /// relative to the index's directory.
  static llvm::Expected<std::unique_ptr<SafetensorsModel>>
  openIndex(llvm::StringRef indexPath);
  /// Opens the checkpoint of a Hugging Face directory: its
  /// model.safetensors.index.json if present, else model.safetensors.
  static llvm::Expected<std::unique_ptr<SafetensorsModel>>
  openDirectory(llvm::StringRef dir);

  /// Tensors in header order (shard by shard).
  llvm::ArrayRef<SafetensorsTensor> getTensors() const { return tensors; }
  /// The tensor called `name`, or null.
  const SafetensorsTensor *lookup(llvm::StringRef name) const;
  /// The header's `__metadata__` string map (of the first shard).
  const llvm::StringMap<std::string> &getMetadata() const { return metadata; }

private:
  llvm::Error addFile(std::unique_ptr<llvm::MemoryBuffer> buffer,
                      llvm::StringRef name);

  std::vector<std::unique_ptr<llvm::MemoryBuffer>> buffers;
  std::vector<SafetensorsTensor> tensors;
  llvm::StringMap<size_t> index;
  llvm::StringMap<std::string> metadata;
};

/// A float32 tensor to write.
struct SafetensorsOutput {
  std::string name;
  llvm::SmallVector<int64_t> shape;
  const float *data = nullptr;
};

/// Writes `tensors` as one float32 `.safetensors` file (header padded to 8
/// bytes, tensors in order). An existing file is not overwritten.
llvm::Error writeSafetensors(llvm::StringRef path,
                             llvm::ArrayRef<SafetensorsOutput> tensors);

} // namespace tok
} // namespace mlir

#endif // TOK_FRONTEND_SAFETENSORS_H
