//===- Gguf.h - llama.cpp's GGUF model files --------------------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Reads GGUF (versions 2 and 3): a header (magic "GGUF", version, tensor
// and metadata counts), typed metadata key-value pairs, tensor infos (name,
// dimensions innermost first, GGML type, offset), then the tensor data from
// the first multiple of `general.alignment` (default 32) after the infos.
// The file is memory-mapped; strings, arrays and tensors are views into it,
// never copied.
//
// Every count and length is checked against the bytes left before anything
// is allocated for it, so a lying header cannot make the reader allocate
// more than the file's size; a repeated key or tensor name, an unknown
// value or tensor type, dimensions that overflow, a misaligned, out of
// bounds or overlapping tensor are errors naming the key or tensor.
// docs/gguf.md describes the format as tok reads it.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_FRONTEND_GGUF_H
#define TOK_FRONTEND_GGUF_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mlir {
namespace tok {

/// Metadata value types, as numbered by the format.
enum class GgufValueType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};

/// The GGML tensor types tok reads, as numbered by GGML.
enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q8_0 = 8,
  Q4_K = 12,
  Q6_K = 14,
  BF16 = 30,
};

/// The name tok uses for a GGML type ("f32", "q4_k", ...): the element
/// types of LlamaModel::getWeightTypes and the #tok.quant schemes.
llvm::StringRef getGgmlTypeName(GgmlType type);
/// The type getGgmlTypeName calls `name`, if any.
std::optional<GgmlType> parseGgmlTypeName(llvm::StringRef name);
/// Weights per block (1 for float types) and bytes per block.
int64_t getGgmlBlockSize(GgmlType type);
int64_t getGgmlBlockBytes(GgmlType type);

/// One metadata value. Scalars are held by value; strings and arrays are
/// views of the file.
struct GgufValue {
  GgufValueType type = GgufValueType::U8;
  /// Integers (U8..I64, Bool) as int64 (U64 above 2^63 is refused).
  int64_t integer = 0;
  /// F32 and F64.
  double real = 0;
  /// String: its bytes.
  llvm::StringRef string;
  /// Array: the element type, count, and the encoded elements.
  GgufValueType elementType = GgufValueType::U8;
  uint64_t count = 0;
  llvm::StringRef elements;

  bool isInteger() const;
  bool isReal() const {
    return type == GgufValueType::F32 || type == GgufValueType::F64;
  }
};

struct GgufTensor {
  std::string name;
  GgmlType type = GgmlType::F32;
  /// Dimensions outermost first (row-major order: [rows, row length]),
  /// the reverse of the file's order.
  llvm::SmallVector<int64_t> shape;
  /// The tensor's bytes, in the mapped file.
  llvm::StringRef bytes;

  int64_t getNumElements() const;
};

class GgufFile {
public:
  /// Maps and validates the file at `path`.
  static llvm::Expected<std::unique_ptr<GgufFile>> open(llvm::StringRef path);
  /// Validates a file already in memory; `name` names it in errors.
  static llvm::Expected<std::unique_ptr<GgufFile>>
  parse(std::unique_ptr<llvm::MemoryBuffer> buffer, llvm::StringRef name);
  /// Whether `bytes` start with GGUF's magic.
  static bool hasMagic(llvm::StringRef bytes);

  uint32_t getVersion() const { return version; }
  llvm::StringRef getName() const { return name; }

  /// The value of `key`, or null.
  const GgufValue *lookup(llvm::StringRef key) const;
  /// Typed access; errors name the key and say what was expected.
  llvm::Expected<int64_t> getInteger(llvm::StringRef key) const;
  llvm::Expected<double> getReal(llvm::StringRef key) const;
  llvm::Expected<llvm::StringRef> getString(llvm::StringRef key) const;
  /// Element `i` of an array of strings / numbers (checked when the
  /// file was opened: every string of an array is in bounds).
  llvm::Expected<std::vector<llvm::StringRef>>
  getStringArray(llvm::StringRef key) const;
  llvm::Expected<std::vector<double>> getRealArray(llvm::StringRef key) const;
  llvm::Expected<std::vector<int64_t>>
  getIntegerArray(llvm::StringRef key) const;
  /// Every metadata key, in file order.
  llvm::ArrayRef<std::string> getKeys() const { return keys; }

  llvm::ArrayRef<GgufTensor> getTensors() const { return tensors; }
  const GgufTensor *lookupTensor(llvm::StringRef name) const;

private:
  GgufFile() = default;

  std::unique_ptr<llvm::MemoryBuffer> buffer;
  std::string name;
  uint32_t version = 0;
  std::vector<std::string> keys;
  llvm::StringMap<GgufValue> values;
  std::vector<GgufTensor> tensors;
  llvm::StringMap<size_t> tensorIndex;
};

} // namespace tok
} // namespace mlir

#endif // TOK_FRONTEND_GGUF_H
