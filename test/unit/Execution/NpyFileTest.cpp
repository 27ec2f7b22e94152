//===- NpyFileTest.cpp - .npy reading and writing -------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Execution/NpyFile.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"

#include "gtest/gtest.h"

#include <cstring>

using namespace mlir::tok;

namespace {

/// A version 1.0 file with `header` (padding added) and `data`.
std::string npyBytes(const std::string &header, const std::string &data) {
  std::string h = header;
  size_t total = 10 + h.size() + 1;
  h.append((64 - total % 64) % 64, ' ');
  h += '\n';
  std::string bytes("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(h.size() & 0xff);
  bytes += static_cast<char>(h.size() >> 8);
  return bytes + h + data;
}

std::string errorOf(llvm::Expected<NpyArray> result) {
  if (result)
    return "";
  return llvm::toString(result.takeError());
}

TEST(NpyFileTest, ParsesFloatMatrix) {
  float values[6] = {1, 2, 3, 4, 5, 6};
  std::string bytes =
      npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
               std::string(reinterpret_cast<char *>(values), sizeof(values)));
  llvm::Expected<NpyArray> array = parseNpy(bytes, "m.npy");
  ASSERT_TRUE(static_cast<bool>(array)) << llvm::toString(array.takeError());
  EXPECT_EQ(array->type, NpyDType::F32);
  EXPECT_EQ(array->shape, (llvm::SmallVector<int64_t>{2, 3}));
  EXPECT_EQ(std::memcmp(array->data(), values, sizeof(values)), 0);
}

TEST(NpyFileTest, ParsesScalarAndEmptyShapes) {
  int64_t value = 42;
  llvm::Expected<NpyArray> scalar = parseNpy(
      npyBytes("{'descr': '<i8', 'fortran_order': False, 'shape': (), }",
               std::string(reinterpret_cast<char *>(&value), 8)),
      "s.npy");
  ASSERT_TRUE(static_cast<bool>(scalar));
  EXPECT_TRUE(scalar->shape.empty());
  EXPECT_EQ(*static_cast<int64_t *>(scalar->data()), 42);

  llvm::Expected<NpyArray> empty = parseNpy(
      npyBytes("{'descr': '<i4', 'fortran_order': False, 'shape': (0, 5), }",
               ""),
      "e.npy");
  ASSERT_TRUE(static_cast<bool>(empty));
  EXPECT_EQ(empty->getNumElements(), 0);
}

TEST(NpyFileTest, RejectsHostileInput) {
  EXPECT_EQ(errorOf(parseNpy("hello", "x.npy")),
            "x.npy: not a .npy file (bad magic)");
  EXPECT_EQ(errorOf(parseNpy(std::string("\x93NUMPY\x01", 7), "x.npy")),
            "x.npy: truncated .npy header");
  EXPECT_EQ(
      errorOf(parseNpy(std::string("\x93NUMPY\x01\x00\xff\xff", 10), "x.npy")),
      "x.npy: header length 65535 runs past the end of the file");
  EXPECT_EQ(
      errorOf(parseNpy(std::string("\x93NUMPY\x07\x00\x00\x00", 10), "x.npy")),
      "x.npy: unsupported .npy version 7");
  EXPECT_EQ(
      errorOf(parseNpy(
          npyBytes("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }",
                   "abcd"),
          "x.npy")),
      "x.npy: unsupported dtype '>f4' (expected little-endian f2, f4, f8, "
      "i4, i8, u1 or u2)");
  // Bytes (a #tok.quant weight's storage) are read as such.
  auto bytes = parseNpy(
      npyBytes("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }",
               "abcdef"),
      "x.npy");
  ASSERT_TRUE(bool(bytes)) << llvm::toString(bytes.takeError());
  EXPECT_EQ(bytes->type, NpyDType::U8);
  EXPECT_EQ(bytes->shape, (llvm::SmallVector<int64_t>{2, 3}));
  EXPECT_EQ(static_cast<const char *>(bytes->data())[5], 'f');
  EXPECT_EQ(
      errorOf(parseNpy(
          npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }",
                   "abcd"),
          "x.npy")),
      "x.npy: Fortran-ordered arrays are not supported");
  EXPECT_EQ(
      errorOf(parseNpy(
          npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }",
                   ""),
          "x.npy")),
      "x.npy: bad dimension '-1' in shape");
  EXPECT_EQ(
      errorOf(parseNpy(
          npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
                   "abcd"),
          "x.npy")),
      "x.npy: expected 12 bytes of data for shape (3,), found 4");
  EXPECT_EQ(errorOf(parseNpy(
                npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': "
                         "(4611686018427387904, 4), }",
                         ""),
                "x.npy")),
            "x.npy: shape is too large");
  EXPECT_EQ(
      errorOf(parseNpy(npyBytes("{'fortran_order': False}", ""), "x.npy")),
      "x.npy: header has no 'descr'");
}

TEST(NpyFileTest, WriteThenReadRoundTrips) {
  llvm::SmallString<128> path;
  ASSERT_FALSE(llvm::sys::fs::createTemporaryFile("tok-npy", "npy", path));
  for (llvm::SmallVector<int64_t> shape :
       {llvm::SmallVector<int64_t>{}, llvm::SmallVector<int64_t>{5},
        llvm::SmallVector<int64_t>{2, 3, 4}}) {
    NpyArray out;
    out.type = NpyDType::I32;
    out.shape = shape;
    out.allocate();
    for (int64_t i = 0; i < out.getNumElements(); ++i)
      static_cast<int32_t *>(out.data())[i] = static_cast<int32_t>(i * 7 - 3);
    ASSERT_FALSE(static_cast<bool>(writeNpyFile(path, out)));
    llvm::Expected<NpyArray> in = readNpyFile(path);
    ASSERT_TRUE(static_cast<bool>(in)) << llvm::toString(in.takeError());
    EXPECT_EQ(in->shape, shape);
    EXPECT_EQ(std::memcmp(in->data(), out.data(), out.getNumBytes()), 0);
  }
  llvm::sys::fs::remove(path);
}

} // namespace
