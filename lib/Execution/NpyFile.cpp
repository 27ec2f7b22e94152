//===- NpyFile.cpp - NumPy .npy arrays for tok-run ------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Execution/NpyFile.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>
#include <limits>

using namespace mlir::tok;
using llvm::StringRef;

int64_t mlir::tok::getNpyElementSize(NpyDType type) {
  switch (type) {
  case NpyDType::U8:
    return 1;
  case NpyDType::F16:
  case NpyDType::U16:
    return 2;
  case NpyDType::F32:
  case NpyDType::I32:
    return 4;
  case NpyDType::F64:
  case NpyDType::I64:
    return 8;
  }
  llvm_unreachable("unknown dtype");
}

StringRef mlir::tok::getNpyDescriptor(NpyDType type) {
  switch (type) {
  case NpyDType::F16:
    return "<f2";
  case NpyDType::F32:
    return "<f4";
  case NpyDType::F64:
    return "<f8";
  case NpyDType::I32:
    return "<i4";
  case NpyDType::I64:
    return "<i8";
  case NpyDType::U8:
    return "|u1";
  case NpyDType::U16:
    return "<u2";
  }
  llvm_unreachable("unknown dtype");
}

int64_t NpyArray::getNumElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

void NpyArray::allocate() {
  int64_t bytes = getNumBytes();
  storage.assign((bytes + 7) / 8, 0);
}

static llvm::Error npyError(StringRef name, const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 name + ": " + message);
}

/// The text of `key`'s value in the header dictionary, up to the next ',' at
/// nesting level 0 or the closing brace.
static std::optional<StringRef> headerValue(StringRef header, StringRef key) {
  std::string quoted = ("'" + key + "'").str();
  size_t at = header.find(quoted);
  if (at == StringRef::npos)
    return std::nullopt;
  StringRef rest = header.drop_front(at + quoted.size()).ltrim();
  if (!rest.consume_front(":"))
    return std::nullopt;
  rest = rest.ltrim();
  int depth = 0;
  size_t end = 0;
  for (; end < rest.size(); ++end) {
    char c = rest[end];
    if (c == '(')
      ++depth;
    else if (c == ')')
      --depth;
    else if ((c == ',' || c == '}') && depth == 0)
      break;
  }
  return rest.take_front(end).trim();
}

llvm::Expected<NpyArray> mlir::tok::parseNpy(StringRef bytes, StringRef name) {
  static constexpr char magic[] = "\x93NUMPY";
  if (!bytes.starts_with(StringRef(magic, 6)))
    return npyError(name, "not a .npy file (bad magic)");
  if (bytes.size() < 10)
    return npyError(name, "truncated .npy header");
  uint8_t major = bytes[6];
  size_t headerLen, headerStart;
  if (major == 1) {
    headerLen = static_cast<uint8_t>(bytes[8]) |
                (static_cast<size_t>(static_cast<uint8_t>(bytes[9])) << 8);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12)
      return npyError(name, "truncated .npy header");
    headerLen = 0;
    for (int i = 0; i < 4; ++i)
      headerLen |= static_cast<size_t>(static_cast<uint8_t>(bytes[8 + i]))
                   << (8 * i);
    headerStart = 12;
  } else {
    return npyError(name, "unsupported .npy version " +
                              llvm::Twine(static_cast<unsigned>(major)));
  }
  if (headerLen > bytes.size() - headerStart)
    return npyError(name, "header length " + llvm::Twine(headerLen) +
                              " runs past the end of the file");
  StringRef header = bytes.substr(headerStart, headerLen);

  NpyArray array;
  std::optional<StringRef> descr = headerValue(header, "descr");
  if (!descr || descr->size() < 2)
    return npyError(name, "header has no 'descr'");
  StringRef d = descr->trim("'\"");
  bool found = false;
  for (NpyDType t : {NpyDType::F16, NpyDType::F32, NpyDType::F64, NpyDType::I32,
                     NpyDType::I64, NpyDType::U8, NpyDType::U16}) {
    if (d == getNpyDescriptor(t)) {
      array.type = t;
      found = true;
    }
  }
  if (!found)
    return npyError(
        name, "unsupported dtype '" + d +
                  "' (expected little-endian f2, f4, f8, i4, i8, u1 or u2)");

  std::optional<StringRef> order = headerValue(header, "fortran_order");
  if (!order || (*order != "False" && *order != "True"))
    return npyError(name, "header has no valid 'fortran_order'");
  if (*order == "True")
    return npyError(name, "Fortran-ordered arrays are not supported");

  std::optional<StringRef> shapeText = headerValue(header, "shape");
  if (!shapeText || !shapeText->starts_with("(") || !shapeText->ends_with(")"))
    return npyError(name, "header has no valid 'shape'");
  llvm::SmallVector<StringRef> dims;
  shapeText->drop_front().drop_back().split(dims, ',', -1,
                                            /*KeepEmpty=*/false);
  int64_t elements = 1;
  for (StringRef dim : dims) {
    dim = dim.trim();
    if (dim.empty())
      continue;
    int64_t size;
    if (dim.getAsInteger(10, size) || size < 0)
      return npyError(name, "bad dimension '" + dim + "' in shape");
    if (size && elements > std::numeric_limits<int64_t>::max() / 8 / size)
      return npyError(name, "shape is too large");
    elements *= size;
    array.shape.push_back(size);
  }

  StringRef data = bytes.drop_front(headerStart + headerLen);
  int64_t expected = elements * getNpyElementSize(array.type);
  if (static_cast<int64_t>(data.size()) != expected)
    return npyError(name, "expected " + llvm::Twine(expected) +
                              " bytes of data for shape " + *shapeText +
                              ", found " + llvm::Twine(data.size()));
  array.allocate();
  if (expected)
    std::memcpy(array.data(), data.data(), expected);
  return array;
}

llvm::Expected<NpyArray> mlir::tok::readNpyFile(StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return npyError(path, "cannot read: " + buffer.getError().message());
  return parseNpy((*buffer)->getBuffer(), path);
}

llvm::Error mlir::tok::writeNpyFile(StringRef path, const NpyArray &array) {
  // Python tuple syntax: (), (5,), (2, 3).
  std::string shape;
  for (auto [i, d] : llvm::enumerate(array.shape))
    shape += (i ? ", " : "") + std::to_string(d);
  if (array.shape.size() == 1)
    shape += ",";
  std::string header = "{'descr': '" + getNpyDescriptor(array.type).str() +
                       "', 'fortran_order': False, 'shape': (" + shape + "), }";
  // Pad so that the data starts at a multiple of 64 bytes.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';

  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return npyError(path, "cannot write: " + ec.message());
  os << StringRef("\x93NUMPY\x01\x00", 8);
  os << static_cast<char>(header.size() & 0xff)
     << static_cast<char>((header.size() >> 8) & 0xff);
  os << header;
  os.write(static_cast<const char *>(array.data()), array.getNumBytes());
  os.close();
  if (os.has_error()) {
    std::string message = os.error().message();
    os.clear_error();
    return npyError(path, "cannot write: " + message);
  }
  return llvm::Error::success();
}
