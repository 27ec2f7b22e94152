//===- Gguf.cpp - llama.cpp's GGUF model files ----------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/Gguf.h"

#include "FileError.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <cstring>

using namespace mlir::tok;
using llvm::StringRef;
using llvm::Twine;

StringRef mlir::tok::getGgmlTypeName(GgmlType type) {
  switch (type) {
  case GgmlType::F32:
    return "f32";
  case GgmlType::F16:
    return "f16";
  case GgmlType::BF16:
    return "bf16";
  case GgmlType::Q8_0:
    return "q8_0";
  case GgmlType::Q4_0:
    return "q4_0";
  case GgmlType::Q4_K:
    return "q4_k";
  case GgmlType::Q6_K:
    return "q6_k";
  }
  return "?";
}

std::optional<GgmlType> mlir::tok::parseGgmlTypeName(StringRef name) {
  for (GgmlType t :
       {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0,
        GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K})
    if (getGgmlTypeName(t) == name)
      return t;
  return std::nullopt;
}

int64_t mlir::tok::getGgmlBlockSize(GgmlType type) {
  switch (type) {
  case GgmlType::F32:
  case GgmlType::F16:
  case GgmlType::BF16:
    return 1;
  case GgmlType::Q8_0:
  case GgmlType::Q4_0:
    return 32;
  case GgmlType::Q4_K:
  case GgmlType::Q6_K:
    return 256;
  }
  return 1;
}

int64_t mlir::tok::getGgmlBlockBytes(GgmlType type) {
  switch (type) {
  case GgmlType::F32:
    return 4;
  case GgmlType::F16:
  case GgmlType::BF16:
    return 2;
  case GgmlType::Q8_0:
    return 34;
  case GgmlType::Q4_0:
    return 18;
  case GgmlType::Q4_K:
    return 144;
  case GgmlType::Q6_K:
    return 210;
  }
  return 1;
}

static std::optional<GgmlType> toGgmlType(uint32_t v) {
  switch (v) {
  case 0:
  case 1:
  case 2:
  case 8:
  case 12:
  case 14:
  case 30:
    return static_cast<GgmlType>(v);
  default:
    return std::nullopt;
  }
}

/// GGML's names of the types tok does not read, for error messages.
static StringRef otherGgmlTypeName(uint32_t v) {
  static const char *names[] = {
      "F32",   "F16",   "Q4_0",    "Q4_1",   "Q4_2",    "Q4_3",  "Q5_0",
      "Q5_1",  "Q8_0",  "Q8_1",    "Q2_K",   "Q3_K",    "Q4_K",  "Q5_K",
      "Q6_K",  "Q8_K",  "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL",
      "IQ3_S", "IQ2_S", "IQ4_XS",  "I8",     "I16",     "I32",   "I64",
      "F64",   "IQ1_M", "BF16"};
  return v < std::size(names) ? StringRef(names[v]) : StringRef("unknown");
}

bool GgufValue::isInteger() const {
  switch (type) {
  case GgufValueType::U8:
  case GgufValueType::I8:
  case GgufValueType::U16:
  case GgufValueType::I16:
  case GgufValueType::U32:
  case GgufValueType::I32:
  case GgufValueType::U64:
  case GgufValueType::I64:
  case GgufValueType::Bool:
    return true;
  default:
    return false;
  }
}

int64_t GgufTensor::getNumElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

/// Size in bytes of a scalar value type; 0 for strings and arrays, -1 for
/// an unknown type.
static int64_t scalarBytes(uint32_t type) {
  switch (type) {
  case 0:
  case 1:
  case 7:
    return 1;
  case 2:
  case 3:
    return 2;
  case 4:
  case 5:
  case 6:
    return 4;
  case 10:
  case 11:
  case 12:
    return 8;
  case 8:
  case 9:
    return 0;
  default:
    return -1;
  }
}

static StringRef valueTypeName(GgufValueType type) {
  switch (type) {
  case GgufValueType::U8:
    return "uint8";
  case GgufValueType::I8:
    return "int8";
  case GgufValueType::U16:
    return "uint16";
  case GgufValueType::I16:
    return "int16";
  case GgufValueType::U32:
    return "uint32";
  case GgufValueType::I32:
    return "int32";
  case GgufValueType::F32:
    return "float32";
  case GgufValueType::Bool:
    return "bool";
  case GgufValueType::String:
    return "string";
  case GgufValueType::Array:
    return "array";
  case GgufValueType::U64:
    return "uint64";
  case GgufValueType::I64:
    return "int64";
  case GgufValueType::F64:
    return "float64";
  }
  return "?";
}

namespace {

/// Little-endian reads with bounds checks; every failure names what was
/// being read.
class Cursor {
public:
  Cursor(StringRef bytes, StringRef file) : bytes(bytes), file(file) {}

  uint64_t offset() const { return pos; }
  uint64_t left() const { return bytes.size() - pos; }

  llvm::Error need(uint64_t n, const Twine &what) {
    if (n > left())
      return fileError(file, llvm::formatv("truncated: {0} needs {1} bytes at "
                                           "offset {2}, {3} left",
                                           what.str(), n, pos, left())
                                 .str());
    return llvm::Error::success();
  }

  template <typename T> llvm::Expected<T> read(const Twine &what) {
    if (llvm::Error err = need(sizeof(T), what))
      return std::move(err);
    T v;
    std::memcpy(&v, bytes.data() + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }

  llvm::Expected<StringRef> take(uint64_t n, const Twine &what) {
    if (llvm::Error err = need(n, what))
      return std::move(err);
    StringRef s = bytes.substr(pos, n);
    pos += n;
    return s;
  }

  llvm::Expected<StringRef> string(const Twine &what) {
    llvm::Expected<uint64_t> n = read<uint64_t>(what + " (its length)");
    if (!n)
      return n.takeError();
    return take(*n, what);
  }

  StringRef bytes;
  StringRef file;
  uint64_t pos = 0;
};

} // namespace

static llvm::Expected<int64_t> readScalarInteger(Cursor &c, GgufValueType type,
                                                 const Twine &what) {
  auto get = [&](auto tag) -> llvm::Expected<int64_t> {
    using T = decltype(tag);
    llvm::Expected<T> v = c.read<T>(what);
    if (!v)
      return v.takeError();
    return static_cast<int64_t>(*v);
  };
  switch (type) {
  case GgufValueType::U8:
  case GgufValueType::Bool:
    return get(uint8_t());
  case GgufValueType::I8:
    return get(int8_t());
  case GgufValueType::U16:
    return get(uint16_t());
  case GgufValueType::I16:
    return get(int16_t());
  case GgufValueType::U32:
    return get(uint32_t());
  case GgufValueType::I32:
    return get(int32_t());
  case GgufValueType::I64:
    return get(int64_t());
  case GgufValueType::U64: {
    llvm::Expected<uint64_t> v = c.read<uint64_t>(what);
    if (!v)
      return v.takeError();
    if (*v > static_cast<uint64_t>(INT64_MAX))
      return fileError(c.file,
                       what + " is " + Twine(*v) + ", beyond the int64 range");
    return static_cast<int64_t>(*v);
  }
  default:
    return fileError(c.file, what + " is not an integer");
  }
}

/// Reads one value of `type` (not an array) into `out`.
static llvm::Error readValue(Cursor &c, GgufValueType type, GgufValue &out,
                             const Twine &what) {
  out.type = type;
  if (type == GgufValueType::String) {
    llvm::Expected<StringRef> s = c.string(what);
    if (!s)
      return s.takeError();
    out.string = *s;
    return llvm::Error::success();
  }
  if (type == GgufValueType::F32) {
    llvm::Expected<float> v = c.read<float>(what);
    if (!v)
      return v.takeError();
    out.real = *v;
    return llvm::Error::success();
  }
  if (type == GgufValueType::F64) {
    llvm::Expected<double> v = c.read<double>(what);
    if (!v)
      return v.takeError();
    out.real = *v;
    return llvm::Error::success();
  }
  llvm::Expected<int64_t> v = readScalarInteger(c, type, what);
  if (!v)
    return v.takeError();
  if (type == GgufValueType::Bool && *v > 1)
    return fileError(c.file, what + " is a bool of value " + Twine(*v));
  out.integer = *v;
  return llvm::Error::success();
}

bool GgufFile::hasMagic(StringRef bytes) { return bytes.starts_with("GGUF"); }

llvm::Expected<std::unique_ptr<GgufFile>> GgufFile::open(StringRef path) {
  auto buffer = mapFile(path);
  if (!buffer)
    return buffer.takeError();
  return parse(std::move(*buffer), path);
}

llvm::Expected<std::unique_ptr<GgufFile>>
GgufFile::parse(std::unique_ptr<llvm::MemoryBuffer> buffer, StringRef name) {
  std::unique_ptr<GgufFile> f(new GgufFile);
  f->name = name.str();
  StringRef bytes = buffer->getBuffer();
  f->buffer = std::move(buffer);
  Cursor c(bytes, name);
  auto err = [&](const Twine &message) { return fileError(name, message); };

  llvm::Expected<StringRef> magic = c.take(4, "the magic");
  if (!magic)
    return magic.takeError();
  if (*magic != "GGUF")
    return err("not a GGUF file (the magic is not \"GGUF\")");
  llvm::Expected<uint32_t> version = c.read<uint32_t>("the version");
  if (!version)
    return version.takeError();
  if (*version != 2 && *version != 3)
    return err("GGUF version " + Twine(*version) +
               " is not supported (versions 2 and 3 are)");
  f->version = *version;
  llvm::Expected<uint64_t> tensorCount = c.read<uint64_t>("the tensor count");
  if (!tensorCount)
    return tensorCount.takeError();
  llvm::Expected<uint64_t> kvCount = c.read<uint64_t>("the metadata count");
  if (!kvCount)
    return kvCount.takeError();
  // Each key-value pair takes at least 12 bytes, each tensor info 24: a
  // count the file cannot hold is refused before anything is reserved.
  if (*kvCount > c.left() / 12)
    return err("the metadata count " + Twine(*kvCount) +
               " is more than the file can hold");
  if (*tensorCount > c.left() / 24)
    return err("the tensor count " + Twine(*tensorCount) +
               " is more than the file can hold");

  for (uint64_t i = 0; i < *kvCount; ++i) {
    std::string which = "metadata key #" + std::to_string(i);
    llvm::Expected<StringRef> key = c.string(which);
    if (!key)
      return key.takeError();
    std::string keyName = key->str();
    if (f->values.count(keyName))
      return err("metadata key '" + keyName + "' is repeated");
    llvm::Expected<uint32_t> rawType =
        c.read<uint32_t>("the type of metadata '" + keyName + "'");
    if (!rawType)
      return rawType.takeError();
    if (scalarBytes(*rawType) < 0)
      return err("metadata '" + keyName + "' has unknown value type " +
                 Twine(*rawType));
    auto type = static_cast<GgufValueType>(*rawType);
    GgufValue value;
    std::string what = "metadata '" + keyName + "'";
    if (type != GgufValueType::Array) {
      if (llvm::Error e = readValue(c, type, value, what))
        return std::move(e);
    } else {
      value.type = type;
      llvm::Expected<uint32_t> elemType =
          c.read<uint32_t>("the element type of " + what);
      if (!elemType)
        return elemType.takeError();
      int64_t elemBytes = scalarBytes(*elemType);
      if (elemBytes < 0)
        return err(what + " is an array of unknown value type " +
                   Twine(*elemType));
      if (*elemType == static_cast<uint32_t>(GgufValueType::Array))
        return err(what + " is an array of arrays, which tok does not read");
      llvm::Expected<uint64_t> count =
          c.read<uint64_t>("the length of " + what);
      if (!count)
        return count.takeError();
      value.elementType = static_cast<GgufValueType>(*elemType);
      value.count = *count;
      uint64_t start = c.offset();
      if (elemBytes > 0) {
        if (*count > c.left() / static_cast<uint64_t>(elemBytes))
          return err(what + " has " + Twine(*count) + " elements of " +
                     Twine(elemBytes) + " bytes, more than the file holds");
        (void)c.take(*count * elemBytes, what);
      } else {
        // Strings: each is a length and its bytes; walk them all now so
        // that later reads cannot go out of bounds.
        if (*count > c.left() / 8)
          return err(what + " has " + Twine(*count) +
                     " strings, more than the file can hold");
        for (uint64_t e = 0; e < *count; ++e) {
          llvm::Expected<StringRef> s =
              c.string("string #" + Twine(e) + " of " + what);
          if (!s)
            return s.takeError();
        }
      }
      value.elements = bytes.substr(start, c.offset() - start);
    }
    f->keys.push_back(keyName);
    f->values[keyName] = value;
  }

  // Alignment of the tensor data.
  uint64_t alignment = 32;
  if (const GgufValue *a = f->lookup("general.alignment")) {
    if (a->type != GgufValueType::U32 || a->integer == 0 ||
        !llvm::isPowerOf2_64(a->integer))
      return err("general.alignment must be a uint32 power of two, got " +
                 Twine(a->integer));
    alignment = a->integer;
  }

  struct Info {
    uint64_t offset, size;
  };
  std::vector<Info> infos;
  for (uint64_t i = 0; i < *tensorCount; ++i) {
    llvm::Expected<StringRef> tname =
        c.string("the name of tensor #" + Twine(i));
    if (!tname)
      return tname.takeError();
    GgufTensor t;
    t.name = tname->str();
    if (f->tensorIndex.count(t.name))
      return err("tensor '" + t.name + "' is repeated");
    std::string what = "tensor '" + t.name + "'";
    llvm::Expected<uint32_t> dims = c.read<uint32_t>("the rank of " + what);
    if (!dims)
      return dims.takeError();
    if (*dims == 0 || *dims > 4)
      return err(what + " has " + Twine(*dims) + " dimensions (1 to 4)");
    uint64_t elements = 1;
    for (uint32_t d = 0; d < *dims; ++d) {
      llvm::Expected<uint64_t> n = c.read<uint64_t>("a dimension of " + what);
      if (!n)
        return n.takeError();
      if (*n == 0 || *n > (1ull << 40) || elements > (1ull << 48) / *n)
        return err(what + " has a dimension of size " + Twine(*n) +
                   " (sizes must be positive and the tensor at most 2^48 " +
                   "elements)");
      elements *= *n;
      t.shape.insert(t.shape.begin(), static_cast<int64_t>(*n));
    }
    llvm::Expected<uint32_t> rawType = c.read<uint32_t>("the type of " + what);
    if (!rawType)
      return rawType.takeError();
    std::optional<GgmlType> type = toGgmlType(*rawType);
    if (!type)
      return err(what + " has GGML type " + Twine(*rawType) + " (" +
                 otherGgmlTypeName(*rawType) +
                 "), which tok does not read (it reads F32, F16, BF16, Q8_0, "
                 "Q4_0, Q4_K and Q6_K)");
    t.type = *type;
    int64_t blockSize = getGgmlBlockSize(t.type);
    if (t.shape.back() % blockSize != 0)
      return err(what + " has rows of " + Twine(t.shape.back()) +
                 " elements, not a multiple of the " + getGgmlTypeName(t.type) +
                 " block of " + Twine(blockSize));
    llvm::Expected<uint64_t> offset = c.read<uint64_t>("the offset of " + what);
    if (!offset)
      return offset.takeError();
    if (*offset % alignment != 0)
      return err(what + " is at offset " + Twine(*offset) +
                 ", not a multiple of the alignment " + Twine(alignment));
    infos.push_back(
        {*offset, elements / blockSize *
                      static_cast<uint64_t>(getGgmlBlockBytes(t.type))});
    f->tensorIndex[t.name] = f->tensors.size();
    f->tensors.push_back(std::move(t));
  }

  uint64_t dataStart = llvm::alignTo(c.offset(), alignment);
  if (dataStart > bytes.size() && !f->tensors.empty())
    return err("truncated: the tensor data would start at offset " +
               Twine(dataStart) + ", past the end of the file (" +
               Twine(bytes.size()) + " bytes)");
  uint64_t dataSize = dataStart <= bytes.size() ? bytes.size() - dataStart : 0;
  // Bounds, then overlaps (in offset order).
  std::vector<size_t> order(f->tensors.size());
  for (size_t i = 0; i < order.size(); ++i) {
    order[i] = i;
    const Info &info = infos[i];
    if (info.offset > dataSize || info.size > dataSize - info.offset)
      return err("tensor '" + f->tensors[i].name + "' (" + Twine(info.size) +
                 " bytes at data offset " + Twine(info.offset) +
                 ") goes past the end of the file (" + Twine(dataSize) +
                 " bytes of data)");
    f->tensors[i].bytes = bytes.substr(dataStart + info.offset, info.size);
  }
  llvm::sort(order, [&](size_t a, size_t b) {
    return infos[a].offset < infos[b].offset;
  });
  for (size_t i = 1; i < order.size(); ++i) {
    const Info &prev = infos[order[i - 1]], &cur = infos[order[i]];
    if (prev.offset + prev.size > cur.offset)
      return err("tensors '" + f->tensors[order[i - 1]].name + "' and '" +
                 f->tensors[order[i]].name + "' overlap");
  }
  return f;
}

const GgufValue *GgufFile::lookup(StringRef key) const {
  auto it = values.find(key);
  return it == values.end() ? nullptr : &it->second;
}

const GgufTensor *GgufFile::lookupTensor(StringRef tensorName) const {
  auto it = tensorIndex.find(tensorName);
  return it == tensorIndex.end() ? nullptr : &tensors[it->second];
}

llvm::Expected<int64_t> GgufFile::getInteger(StringRef key) const {
  const GgufValue *v = lookup(key);
  if (!v)
    return fileError(name, "metadata '" + key + "' is missing");
  if (!v->isInteger())
    return fileError(name, "metadata '" + key + "' must be an integer, got " +
                               valueTypeName(v->type));
  return v->integer;
}

llvm::Expected<double> GgufFile::getReal(StringRef key) const {
  const GgufValue *v = lookup(key);
  if (!v)
    return fileError(name, "metadata '" + key + "' is missing");
  if (v->isReal())
    return v->real;
  if (v->isInteger())
    return static_cast<double>(v->integer);
  return fileError(name, "metadata '" + key + "' must be a number, got " +
                             valueTypeName(v->type));
}

llvm::Expected<StringRef> GgufFile::getString(StringRef key) const {
  const GgufValue *v = lookup(key);
  if (!v)
    return fileError(name, "metadata '" + key + "' is missing");
  if (v->type != GgufValueType::String)
    return fileError(name, "metadata '" + key + "' must be a string, got " +
                               valueTypeName(v->type));
  return v->string;
}

/// The array `key` with elements of a type `accept` takes.
static llvm::Expected<const GgufValue *>
getArray(const GgufFile &f, StringRef key, StringRef want,
         llvm::function_ref<bool(GgufValueType)> accept) {
  const GgufValue *v = f.lookup(key);
  if (!v)
    return fileError(f.getName(), "metadata '" + key + "' is missing");
  if (v->type != GgufValueType::Array || !accept(v->elementType))
    return fileError(f.getName(),
                     "metadata '" + key + "' must be an array of " + want);
  return v;
}

llvm::Expected<std::vector<StringRef>>
GgufFile::getStringArray(StringRef key) const {
  auto v = getArray(*this, key, "strings",
                    [](GgufValueType t) { return t == GgufValueType::String; });
  if (!v)
    return v.takeError();
  std::vector<StringRef> out;
  out.reserve((*v)->count);
  Cursor c((*v)->elements, name);
  for (uint64_t i = 0; i < (*v)->count; ++i) {
    llvm::Expected<StringRef> s = c.string(key);
    if (!s)
      return s.takeError();
    out.push_back(*s);
  }
  return out;
}

llvm::Expected<std::vector<double>>
GgufFile::getRealArray(StringRef key) const {
  auto v = getArray(*this, key, "numbers", [](GgufValueType t) {
    return t != GgufValueType::String && t != GgufValueType::Array;
  });
  if (!v)
    return v.takeError();
  std::vector<double> out;
  out.reserve((*v)->count);
  Cursor c((*v)->elements, name);
  for (uint64_t i = 0; i < (*v)->count; ++i) {
    GgufValue e;
    if (llvm::Error err = readValue(c, (*v)->elementType, e, key))
      return std::move(err);
    out.push_back(e.isReal() ? e.real : static_cast<double>(e.integer));
  }
  return out;
}

llvm::Expected<std::vector<int64_t>>
GgufFile::getIntegerArray(StringRef key) const {
  auto v = getArray(*this, key, "integers", [](GgufValueType t) {
    GgufValue probe;
    probe.type = t;
    return probe.isInteger();
  });
  if (!v)
    return v.takeError();
  std::vector<int64_t> out;
  out.reserve((*v)->count);
  Cursor c((*v)->elements, name);
  for (uint64_t i = 0; i < (*v)->count; ++i) {
    llvm::Expected<int64_t> e = readScalarInteger(c, (*v)->elementType, key);
    if (!e)
      return e.takeError();
    out.push_back(*e);
  }
  return out;
}
