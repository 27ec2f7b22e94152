//===- SafetensorsTest.cpp - safetensors reader ---------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/Safetensors.h"
#include "tok/Frontend/Llama2c.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include "gtest/gtest.h"

#include <cstring>
#include <string>

using namespace mlir::tok;

namespace {

/// A safetensors file: the 8-byte length of `header`, `header`, `data`.
std::string file(const std::string &header, const std::string &data) {
  std::string bytes;
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i)
    bytes.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return bytes + header + data;
}

/// `n` bytes valued 0, 1, 2, ...
std::string ramp(size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i)
    s.push_back(static_cast<char>(i));
  return s;
}

llvm::Expected<std::unique_ptr<SafetensorsModel>>
parse(const std::string &bytes) {
  return SafetensorsModel::parse(
      llvm::MemoryBuffer::getMemBufferCopy(bytes, "m.safetensors"),
      "m.safetensors");
}

/// The error parsing `bytes` gives, or "" if it parses.
std::string errorOf(const std::string &bytes) {
  auto result = parse(bytes);
  if (result)
    return "";
  return llvm::toString(result.takeError());
}

#define EXPECT_ERROR(bytes, text)                                              \
  do {                                                                         \
    std::string message = errorOf(bytes);                                      \
    EXPECT_NE(message.find(text), std::string::npos)                           \
        << "error was: '" << message << "'";                                   \
  } while (false)

const char *kTwoTensors =
    R"({"__metadata__": {"format": "pt"},)"
    R"( "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},)"
    R"( "b": {"dtype": "BF16", "shape": [4], "data_offsets": [24, 32]}})";

TEST(SafetensorsTest, ReadsTensorsAsViews) {
  std::string bytes = file(kTwoTensors, ramp(32));
  auto model = parse(bytes);
  ASSERT_TRUE(static_cast<bool>(model)) << llvm::toString(model.takeError());
  ASSERT_EQ((*model)->getTensors().size(), 2u);
  const SafetensorsTensor *w = (*model)->lookup("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->type, SafetensorsDType::F32);
  EXPECT_EQ(w->shape, (llvm::SmallVector<int64_t>{2, 3}));
  EXPECT_EQ(w->getNumElements(), 6);
  EXPECT_EQ(w->bytes, llvm::StringRef(ramp(24)));
  const SafetensorsTensor *b = (*model)->lookup("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->type, SafetensorsDType::BF16);
  EXPECT_EQ(b->bytes.size(), 8u);
  EXPECT_EQ(static_cast<uint8_t>(b->bytes[0]), 24);
  EXPECT_EQ((*model)->lookup("missing"), nullptr);
  EXPECT_EQ((*model)->getMetadata().lookup("format"), "pt");
}

TEST(SafetensorsTest, AcceptsEmptyAndZeroSizedTensors) {
  auto empty = parse(file("{}", ""));
  ASSERT_TRUE(static_cast<bool>(empty)) << llvm::toString(empty.takeError());
  EXPECT_TRUE((*empty)->getTensors().empty());
  // A zero dimension makes an empty tensor, even beside a huge one.
  auto zero =
      parse(file(R"({"z": {"dtype": "F32", "shape": [4611686018427387904, 0], )"
                 R"("data_offsets": [0, 0]}})",
                 ""));
  ASSERT_TRUE(static_cast<bool>(zero)) << llvm::toString(zero.takeError());
  EXPECT_EQ((*zero)->lookup("z")->bytes.size(), 0u);
}

TEST(SafetensorsTest, RejectsMalformedFraming) {
  EXPECT_ERROR(std::string("\x02\x00\x00", 3),
               "m.safetensors: truncated: 3 bytes");
  EXPECT_ERROR(file("{}", "").substr(0, 9),
               "the header claims 2 bytes, but only 1 follow");
  std::string huge(8, '\xff');
  EXPECT_ERROR(huge + "{}", "exceeds the format's limit");
  EXPECT_ERROR(file("{\"w\": ", ""), "malformed JSON header");
  EXPECT_ERROR(file("[1, 2]", ""), "the header is not a JSON object");
}

TEST(SafetensorsTest, RejectsBadEntries) {
  EXPECT_ERROR(file(R"({"w": 3})", ""),
               "tensor 'w': the entry is not a JSON object");
  EXPECT_ERROR(
      file(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", ramp(4)),
      "tensor 'w': missing 'dtype'");
  EXPECT_ERROR(
      file(
          R"({"w": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}})",
          ramp(1)),
      "tensor 'w': unsupported dtype 'F8_E4M3'");
  EXPECT_ERROR(
      file(R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})",
           ramp(4)),
      "shape entries must be non-negative integers");
  EXPECT_ERROR(
      file(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4]}})",
           ramp(4)),
      "'data_offsets' must be a [begin, end] pair");
  EXPECT_ERROR(
      file(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}})",
           ramp(4)),
      "0 <= begin <= end");
  EXPECT_ERROR(
      file(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})",
           ramp(4)),
      "data_offsets [0, 8) run past the 4 bytes of tensor data");
  EXPECT_ERROR(
      file(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}})",
           ramp(4)),
      "tensor 'w': 4 bytes of data, but dtype F32 and its shape need 8");
  // Shapes whose byte size overflows are caught, not wrapped.
  EXPECT_ERROR(file(R"({"w": {"dtype": "F32", "shape": [4611686018427387904, )"
                    R"(4611686018427387904], "data_offsets": [0, 4]}})",
                    ramp(4)),
               "need more than 2^64");
}

TEST(SafetensorsTest, RejectsGapsOverlapsAndTrailingBytes) {
  EXPECT_ERROR(
      file(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},)"
           R"( "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}})",
           ramp(6)),
      "tensor 'b' starts at 2, expected 4 (it overlaps another tensor)");
  EXPECT_ERROR(
      file(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},)"
           R"( "b": {"dtype": "U8", "shape": [2], "data_offsets": [6, 8]}})",
           ramp(8)),
      "tensor 'b' starts at 6, expected 4 (the data has a gap)");
  EXPECT_ERROR(
      file(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}})",
           ramp(7)),
      "3 bytes after the last tensor belong to none");
}

/// Writes `bytes` to `dir`/`name`.
void writeFile(const llvm::SmallString<128> &dir, const char *name,
               const std::string &bytes) {
  llvm::SmallString<128> path(dir);
  llvm::sys::path::append(path, name);
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  ASSERT_FALSE(ec) << ec.message();
  os << bytes;
}

TEST(SafetensorsTest, OpensShardedCheckpoints) {
  llvm::SmallString<128> dir;
  ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("tok-shards", dir));
  writeFile(
      dir, "a.safetensors",
      file(R"({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})",
           ramp(4)));
  writeFile(
      dir, "b.safetensors",
      file(R"({"y": {"dtype": "I32", "shape": [2], "data_offsets": [0, 8]}})",
           ramp(8)));
  writeFile(dir, "index.json",
            R"({"metadata": {}, "weight_map": {"x": "a.safetensors", )"
            R"("y": "b.safetensors"}})");
  llvm::SmallString<128> index(dir);
  llvm::sys::path::append(index, "index.json");
  auto model = SafetensorsModel::openIndex(index);
  ASSERT_TRUE(static_cast<bool>(model)) << llvm::toString(model.takeError());
  ASSERT_NE((*model)->lookup("x"), nullptr);
  ASSERT_NE((*model)->lookup("y"), nullptr);
  EXPECT_EQ((*model)->lookup("y")->bytes, llvm::StringRef(ramp(8)));

  // The map must agree with the shards, name files beside the index, and
  // every shard must exist.
  auto expectIndexError = [&](const std::string &json, const char *text) {
    writeFile(dir, "index.json", json);
    auto bad = SafetensorsModel::openIndex(index);
    ASSERT_FALSE(static_cast<bool>(bad));
    std::string message = llvm::toString(bad.takeError());
    EXPECT_NE(message.find(text), std::string::npos) << message;
  };
  expectIndexError(R"({"weight_map": {"x": "b.safetensors"}})",
                   "weight_map puts 'x' in 'b.safetensors', but that shard "
                   "does not hold it");
  expectIndexError(R"({"weight_map": {"x": "../a.safetensors"}})",
                   "must name a file beside the index");
  expectIndexError(R"({"weight_map": {"x": "c.safetensors"}})",
                   "c.safetensors: cannot read");
  expectIndexError(R"({"metadata": {}})", "missing the 'weight_map' object");
  // The same tensor in two shards is ambiguous.
  writeFile(
      dir, "b.safetensors",
      file(R"({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})",
           ramp(4)));
  expectIndexError(
      R"({"weight_map": {"x": "a.safetensors", "z": "b.safetensors"}})",
      "tensor 'x': appears in more than one shard");
  llvm::sys::fs::remove_directories(dir);
}

/// The shared trained model: its safetensors copy and its llama2.c copy
/// hold the same token embedding (RoPE permutes only q and k).
TEST(SafetensorsTest, ReadsSharedPyllama) {
  llvm::SmallString<256> dir(TOK_SOURCE_DIR);
  for (const char *part : {"..", "shared", "models", "pyllama-4m"})
    llvm::sys::path::append(dir, part);
  llvm::SmallString<256> st(dir), bin(dir);
  llvm::sys::path::append(st, "model.safetensors");
  llvm::sys::path::append(bin, "model.bin");
  if (!llvm::sys::fs::exists(st) || !llvm::sys::fs::exists(bin))
    GTEST_SKIP() << "no " << dir.str().str();
  auto model = SafetensorsModel::open(st);
  ASSERT_TRUE(static_cast<bool>(model)) << llvm::toString(model.takeError());
  const SafetensorsTensor *embed =
      (*model)->lookup("model.embed_tokens.weight");
  ASSERT_NE(embed, nullptr);
  EXPECT_EQ(embed->type, SafetensorsDType::F32);
  EXPECT_EQ(embed->shape, (llvm::SmallVector<int64_t>{256, 256}));
  const SafetensorsTensor *k =
      (*model)->lookup("model.layers.0.self_attn.k_proj.weight");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->shape, (llvm::SmallVector<int64_t>{128, 256}));

  auto ckpt = Llama2cCheckpoint::open(bin);
  ASSERT_TRUE(static_cast<bool>(ckpt)) << llvm::toString(ckpt.takeError());
  const Llama2cWeight *ref = (*ckpt)->lookup("model.embed_tokens.weight");
  ASSERT_NE(ref, nullptr);
  ASSERT_EQ(embed->bytes.size(), ref->data.size() * sizeof(float));
  EXPECT_EQ(
      std::memcmp(embed->bytes.data(), ref->data.data(), embed->bytes.size()),
      0);
}

} // namespace
