//===- Safetensors.cpp - Hugging Face safetensors files -------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/Safetensors.h"
#include "FileError.h"
#include "tok/Support/Json.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <cstring>

using namespace mlir::tok;
using llvm::ArrayRef;
using llvm::StringRef;
using llvm::Twine;

std::optional<SafetensorsDType>
mlir::tok::parseSafetensorsDType(StringRef name) {
  return llvm::StringSwitch<std::optional<SafetensorsDType>>(name)
      .Case("F32", SafetensorsDType::F32)
      .Case("F16", SafetensorsDType::F16)
      .Case("BF16", SafetensorsDType::BF16)
      .Case("F64", SafetensorsDType::F64)
      .Case("I64", SafetensorsDType::I64)
      .Case("I32", SafetensorsDType::I32)
      .Case("I16", SafetensorsDType::I16)
      .Case("I8", SafetensorsDType::I8)
      .Case("U8", SafetensorsDType::U8)
      .Case("BOOL", SafetensorsDType::Bool)
      .Default(std::nullopt);
}

StringRef mlir::tok::stringifySafetensorsDType(SafetensorsDType type) {
  switch (type) {
  case SafetensorsDType::F32:
    return "F32";
  case SafetensorsDType::F16:
    return "F16";
  case SafetensorsDType::BF16:
    return "BF16";
  case SafetensorsDType::F64:
    return "F64";
  case SafetensorsDType::I64:
    return "I64";
  case SafetensorsDType::I32:
    return "I32";
  case SafetensorsDType::I16:
    return "I16";
  case SafetensorsDType::I8:
    return "I8";
  case SafetensorsDType::U8:
    return "U8";
  case SafetensorsDType::Bool:
    return "BOOL";
  }
  llvm_unreachable("unknown dtype");
}

int64_t mlir::tok::getSafetensorsElementSize(SafetensorsDType type) {
  switch (type) {
  case SafetensorsDType::F64:
  case SafetensorsDType::I64:
    return 8;
  case SafetensorsDType::F32:
  case SafetensorsDType::I32:
    return 4;
  case SafetensorsDType::F16:
  case SafetensorsDType::BF16:
  case SafetensorsDType::I16:
    return 2;
  case SafetensorsDType::I8:
  case SafetensorsDType::U8:
  case SafetensorsDType::Bool:
    return 1;
  }
  llvm_unreachable("unknown dtype");
}

int64_t SafetensorsTensor::getNumElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

/// The header may not be larger than this (the format's own limit).
static constexpr uint64_t kMaxHeaderBytes = 100 * 1024 * 1024;

llvm::Expected<std::unique_ptr<SafetensorsModel>>
SafetensorsModel::open(StringRef path) {
  auto buffer = mapFile(path);
  if (!buffer)
    return buffer.takeError();
  return parse(std::move(*buffer), path);
}

llvm::Expected<std::unique_ptr<SafetensorsModel>>
SafetensorsModel::parse(std::unique_ptr<llvm::MemoryBuffer> buffer,
                        StringRef name) {
  auto model = std::make_unique<SafetensorsModel>();
  if (llvm::Error err = model->addFile(std::move(buffer), name))
    return std::move(err);
  return model;
}

llvm::Error SafetensorsModel::addFile(std::unique_ptr<llvm::MemoryBuffer> buf,
                                      StringRef name) {
  StringRef bytes = buf->getBuffer();
  if (bytes.size() < 8)
    return fileError(name, "truncated: " + Twine(bytes.size()) +
                               " bytes, too short for the 8-byte header "
                               "length");
  uint64_t headerBytes = 0;
  for (int i = 7; i >= 0; --i)
    headerBytes = (headerBytes << 8) | static_cast<uint8_t>(bytes[i]);
  if (headerBytes > kMaxHeaderBytes)
    return fileError(name, "header length " + Twine(headerBytes) +
                               " exceeds the format's limit of " +
                               Twine(kMaxHeaderBytes) + " bytes");
  if (headerBytes > bytes.size() - 8)
    return fileError(name, "truncated: the header claims " +
                               Twine(headerBytes) + " bytes, but only " +
                               Twine(bytes.size() - 8) + " follow");
  StringRef headerText = bytes.substr(8, headerBytes);
  StringRef data = bytes.substr(8 + headerBytes);

  llvm::Expected<llvm::json::Value> header = parseJson(headerText);
  if (!header)
    return fileError(name, "malformed JSON header: " +
                               llvm::toString(header.takeError()));
  const llvm::json::Object *entries = header->getAsObject();
  if (!entries)
    return fileError(name, "the header is not a JSON object");

  bool firstFile = buffers.empty();
  // (begin, end, tensor index) of every tensor of this file.
  llvm::SmallVector<std::tuple<uint64_t, uint64_t, size_t>> ranges;
  for (const auto &[keyRef, value] : *entries) {
    StringRef key = keyRef;
    if (key == "__metadata__") {
      const llvm::json::Object *meta = value.getAsObject();
      if (!meta)
        return fileError(name, "'__metadata__' is not a JSON object");
      for (const auto &[mk, mv] : *meta) {
        std::optional<StringRef> text = mv.getAsString();
        if (!text)
          return fileError(name, "'__metadata__' value of '" + StringRef(mk) +
                                     "' is not a string");
        if (firstFile)
          metadata[StringRef(mk)] = text->str();
      }
      continue;
    }
    auto tensorError = [&](const Twine &message) {
      return fileError(name, "tensor '" + key + "': " + message);
    };
    const llvm::json::Object *entry = value.getAsObject();
    if (!entry)
      return tensorError("the entry is not a JSON object");
    std::optional<StringRef> dtypeName = entry->getString("dtype");
    if (!dtypeName)
      return tensorError("missing 'dtype'");
    std::optional<SafetensorsDType> dtype = parseSafetensorsDType(*dtypeName);
    if (!dtype)
      return tensorError("unsupported dtype '" + *dtypeName + "'");
    const llvm::json::Array *shape = entry->getArray("shape");
    if (!shape)
      return tensorError("missing 'shape'");
    const llvm::json::Array *offsets = entry->getArray("data_offsets");
    if (!offsets || offsets->size() != 2)
      return tensorError("'data_offsets' must be a [begin, end] pair");

    SafetensorsTensor tensor;
    tensor.name = key.str();
    tensor.type = *dtype;
    tensor.file = name.str();
    for (const llvm::json::Value &dim : *shape) {
      std::optional<int64_t> d = dim.getAsInteger();
      if (!d || *d < 0)
        return tensorError("shape entries must be non-negative integers");
      tensor.shape.push_back(*d);
    }
    // The size in bytes; a product that overflows is too big for any file
    // (a zero dimension still makes it 0).
    uint64_t size = static_cast<uint64_t>(getSafetensorsElementSize(*dtype));
    bool overflow = false;
    for (int64_t d : tensor.shape)
      overflow |= __builtin_mul_overflow(size, static_cast<uint64_t>(d), &size);
    if (llvm::is_contained(tensor.shape, 0))
      size = 0, overflow = false;
    std::optional<int64_t> begin = (*offsets)[0].getAsInteger();
    std::optional<int64_t> end = (*offsets)[1].getAsInteger();
    if (!begin || !end || *begin < 0 || *end < *begin)
      return tensorError("'data_offsets' must be integers with 0 <= begin "
                         "<= end");
    if (static_cast<uint64_t>(*end) > data.size())
      return tensorError("data_offsets [" + Twine(*begin) + ", " + Twine(*end) +
                         ") run past the " + Twine(data.size()) +
                         " bytes of tensor data");
    uint64_t range = static_cast<uint64_t>(*end - *begin);
    if (overflow || range != size) {
      std::string need =
          overflow ? std::string("more than 2^64") : std::to_string(size);
      return tensorError(Twine(range) + " bytes of data, but dtype " +
                         *dtypeName + " and its shape need " + need);
    }
    tensor.bytes = data.substr(*begin, range);
    if (index.count(key))
      return tensorError("appears in more than one shard");
    ranges.push_back({static_cast<uint64_t>(*begin),
                      static_cast<uint64_t>(*end), tensors.size()});
    index[key] = tensors.size();
    tensors.push_back(std::move(tensor));
  }

  // The tensors tile the data: sorted by offset, each starts where the
  // previous one ended, and the last ends at the end of the file.
  llvm::sort(ranges);
  uint64_t expected = 0;
  for (auto [begin, end, i] : ranges) {
    if (begin != expected)
      return fileError(name,
                       "tensor '" + tensors[i].name + "' starts at " +
                           Twine(begin) + ", expected " + Twine(expected) +
                           (begin < expected ? " (it overlaps another tensor)"
                                             : " (the data has a gap)"));
    expected = end;
  }
  if (expected != data.size())
    return fileError(name, Twine(data.size() - expected) +
                               " bytes after the last tensor belong to none");
  buffers.push_back(std::move(buf));
  return llvm::Error::success();
}

llvm::Expected<std::unique_ptr<SafetensorsModel>>
SafetensorsModel::openIndex(StringRef indexPath) {
  auto text = mapFile(indexPath);
  if (!text)
    return text.takeError();
  llvm::Expected<llvm::json::Value> json = parseJson((*text)->getBuffer());
  if (!json)
    return fileError(indexPath,
                     "malformed JSON: " + llvm::toString(json.takeError()));
  const llvm::json::Object *root = json->getAsObject();
  const llvm::json::Object *weightMap =
      root ? root->getObject("weight_map") : nullptr;
  if (!weightMap)
    return fileError(indexPath, "missing the 'weight_map' object");

  // Shards in first-mention order; every tensor named in the map must be
  // in the shard the map names.
  llvm::SmallVector<std::string> shards;
  llvm::StringSet<> seen;
  for (const auto &[tensor, file] : *weightMap) {
    std::optional<StringRef> shard = file.getAsString();
    if (!shard)
      return fileError(indexPath, "weight_map entry '" + StringRef(tensor) +
                                      "' is not a file name");
    if (llvm::sys::path::has_parent_path(*shard) || *shard == ".." ||
        *shard == ".")
      return fileError(indexPath, "shard '" + *shard +
                                      "' must name a file beside the index");
    if (seen.insert(*shard).second)
      shards.push_back(shard->str());
  }
  llvm::sort(shards);

  auto model = std::make_unique<SafetensorsModel>();
  StringRef dir = llvm::sys::path::parent_path(indexPath);
  for (const std::string &shard : shards) {
    llvm::SmallString<256> path(dir);
    llvm::sys::path::append(path, shard);
    auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                              /*RequiresNullTerminator=*/false);
    if (!buffer)
      return fileError(path, "cannot read (named by " + indexPath +
                                 "): " + buffer.getError().message());
    if (llvm::Error err = model->addFile(std::move(*buffer), path))
      return std::move(err);
  }
  for (const auto &[tensor, file] : *weightMap) {
    const SafetensorsTensor *found = model->lookup(StringRef(tensor));
    if (!found || llvm::sys::path::filename(found->file) != *file.getAsString())
      return fileError(indexPath, "weight_map puts '" + StringRef(tensor) +
                                      "' in '" + *file.getAsString() +
                                      "', but that shard does not hold it");
  }
  return model;
}

const SafetensorsTensor *SafetensorsModel::lookup(StringRef name) const {
  auto it = index.find(name);
  return it == index.end() ? nullptr : &tensors[it->second];
}

llvm::Error mlir::tok::writeSafetensors(StringRef path,
                                        ArrayRef<SafetensorsOutput> tensors) {
  if (llvm::sys::fs::exists(path))
    return fileError(path, "exists; not overwritten");
  llvm::json::Object header;
  uint64_t offset = 0;
  for (const SafetensorsOutput &t : tensors) {
    uint64_t bytes = sizeof(float);
    for (int64_t d : t.shape)
      bytes *= static_cast<uint64_t>(d);
    llvm::json::Array shape;
    for (int64_t d : t.shape)
      shape.push_back(d);
    header[t.name] = llvm::json::Object{
        {"dtype", "F32"},
        {"shape", std::move(shape)},
        {"data_offsets", llvm::json::Array{offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  llvm::raw_string_ostream(text) << llvm::json::Value(std::move(header));
  // Pad with spaces so that the data (and every f32 in it) is 8-aligned.
  text.append((8 - text.size() % 8) % 8, ' ');

  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec)
    return fileError(path, "cannot write: " + ec.message());
  uint64_t length = text.size();
  for (int i = 0; i < 8; ++i)
    os << static_cast<char>((length >> (8 * i)) & 0xff);
  os << text;
  for (const SafetensorsOutput &t : tensors) {
    int64_t n = 1;
    for (int64_t d : t.shape)
      n *= d;
    os.write(reinterpret_cast<const char *>(t.data), n * sizeof(float));
  }
  os.close();
  if (os.has_error())
    return fileError(path, "cannot write: " + os.error().message());
  return llvm::Error::success();
}

llvm::Expected<std::unique_ptr<SafetensorsModel>>
SafetensorsModel::openDirectory(StringRef dir) {
  llvm::SmallString<256> single(dir), index(dir);
  llvm::sys::path::append(single, "model.safetensors");
  llvm::sys::path::append(index, "model.safetensors.index.json");
  if (llvm::sys::fs::exists(index))
    return openIndex(index);
  if (llvm::sys::fs::exists(single))
    return open(single);
  return fileError(dir, "no model.safetensors or model.safetensors.index.json");
}
