//===- GgmlBlocksTest.cpp - GGML blocks on the host -----------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The host quantizers against the rules they state (llama.cpp's): q8_0
// d = max|x| / 127 and codes round(x / d), halves away from zero; q4_0
// d = -m / 8 for the weight m of largest magnitude (the first of equal
// ones) and codes min(15, trunc(x / d + 8.5)); d stored as f16. The
// expected bytes are computed here from those rules, and dequantization
// brings every weight back within half a step.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/GgmlBlocks.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstring>
#include <vector>

using namespace mlir::tok;

namespace {

float halfAt(const char *p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return halfToFloat(h);
}

TEST(GgmlBlocksTest, Q8_0FollowsItsRule) {
  // One block: x_j = j - 10 (largest magnitude 21), then a block with a
  // tie at .5 and a zero block.
  std::vector<float> x(96, 0.0f);
  for (int j = 0; j < 32; ++j)
    x[j] = static_cast<float>(j - 10);
  x[32] = 127.0f; // d = 1: codes are x rounded
  x[33] = 2.5f;   // -> 3 (away from zero)
  x[34] = -2.5f;  // -> -3
  x[35] = 0.49f;  // -> 0
  std::vector<char> out(3 * 34);
  ASSERT_TRUE(quantizeGgmlRow(GgmlType::Q8_0, x.data(), 96, out.data()));
  float d = 21.0f / 127.0f;
  EXPECT_EQ(halfAt(out.data()), halfToFloat(floatToHalf(d)));
  for (int j = 0; j < 32; ++j)
    EXPECT_EQ(static_cast<int8_t>(out[2 + j]),
              static_cast<int8_t>(std::round((j - 10) * (1.0f / d))))
        << j;
  EXPECT_EQ(halfAt(out.data() + 34), 1.0f);
  EXPECT_EQ(static_cast<int8_t>(out[34 + 2]), 127);
  EXPECT_EQ(static_cast<int8_t>(out[34 + 3]), 3);
  EXPECT_EQ(static_cast<int8_t>(out[34 + 4]), -3);
  EXPECT_EQ(static_cast<int8_t>(out[34 + 5]), 0);
  EXPECT_EQ(halfAt(out.data() + 68), 0.0f);
  for (int j = 0; j < 32; ++j)
    EXPECT_EQ(out[68 + 2 + j], 0);
}

TEST(GgmlBlocksTest, Q4_0FollowsItsRule) {
  // The weight of largest magnitude is -16 (first of -16 and 16): d = 2,
  // code(x) = min(15, trunc(x / 2 + 8.5)); -16 -> 0, 16 -> 15 (clamped).
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j)
    x[j] = static_cast<float>(j % 5) - 2.0f;
  x[3] = -16.0f;
  x[20] = 16.0f;
  std::vector<char> out(18);
  ASSERT_TRUE(quantizeGgmlRow(GgmlType::Q4_0, x.data(), 32, out.data()));
  EXPECT_EQ(halfAt(out.data()), 2.0f);
  auto code = [&](int j) {
    auto byte = static_cast<unsigned char>(out[2 + (j % 16)]);
    return j < 16 ? byte & 15 : byte >> 4;
  };
  for (int j = 0; j < 32; ++j) {
    float want = std::min(15.0f, std::trunc(x[j] / 2.0f + 8.5f));
    EXPECT_EQ(code(j), static_cast<int>(want)) << j;
  }
  EXPECT_EQ(code(3), 0);
  EXPECT_EQ(code(20), 15);
}

TEST(GgmlBlocksTest, ChannelInt8FollowsItsRule) {
  // One scale for the whole row: s = max|x| / 127 = 63.5 / 127 = 0.5;
  // codes round(x / s), halves away from zero; the f32 s after the codes.
  std::vector<float> x(64);
  for (int j = 0; j < 64; ++j)
    x[j] = static_cast<float>(j - 32) * 0.25f;
  x[7] = -63.5f; // -> -127
  x[8] = 0.25f;  // 0.5 -> 1
  x[9] = -0.75f; // -1.5 -> -2
  std::vector<char> out(68);
  quantizeChannelInt8Row(x.data(), 64, out.data());
  float s;
  std::memcpy(&s, out.data() + 64, 4);
  EXPECT_EQ(s, 0.5f);
  EXPECT_EQ(static_cast<int8_t>(out[7]), -127);
  EXPECT_EQ(static_cast<int8_t>(out[8]), 1);
  EXPECT_EQ(static_cast<int8_t>(out[9]), -2);
  for (int j = 10; j < 64; ++j)
    EXPECT_EQ(static_cast<int8_t>(out[j]), (j - 32) / 2 + ((j - 32) % 2)) << j;
  // An all-zero row: zero scale, zero codes.
  std::vector<float> zeros(32, 0.0f);
  std::vector<char> z(36, 1);
  quantizeChannelInt8Row(zeros.data(), 32, z.data());
  for (int j = 0; j < 36; ++j)
    EXPECT_EQ(z[j], 0) << j;
}

TEST(GgmlBlocksTest, RoundTripIsWithinHalfAStep) {
  std::vector<float> x(256);
  uint32_t state = 12345;
  for (float &v : x) {
    state = state * 1664525u + 1013904223u;
    v = (static_cast<float>(state >> 8) / 16777216.0f - 0.5f) * 3.0f;
  }
  for (GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_0}) {
    std::vector<char> bytes(256 / 32 * getGgmlBlockBytes(type));
    ASSERT_TRUE(quantizeGgmlRow(type, x.data(), 256, bytes.data()));
    std::vector<float> back(256);
    dequantizeGgmlRow(type, bytes.data(), 256, back.data());
    for (int b = 0; b < 8; ++b) {
      float d = std::fabs(halfAt(bytes.data() + b * getGgmlBlockBytes(type)));
      for (int j = 0; j < 32; ++j) {
        int i = 32 * b + j;
        // Half a step, plus what rounding d to f16 moves the end codes
        // (up to 8 or 127 steps of 2^-11 relative). q4_0's codes are
        // -8..7 times d = |m| / 8 with the sign that maps m to -8: a weight
        // of the other sign beyond 7.5 d is clamped to 7 d, up to one step
        // away.
        float slack = d * (type == GgmlType::Q8_0 ? 127.0f : 8.0f) / 1024.0f;
        float signedD = halfAt(bytes.data() + b * getGgmlBlockBytes(type));
        bool clamped = type == GgmlType::Q4_0 && x[i] / signedD > 7.5f;
        EXPECT_LE(std::fabs(back[i] - x[i]), (clamped ? d : d / 2) + slack)
            << i;
      }
    }
  }
  // Other types are not quantized here.
  std::vector<char> bytes(144);
  EXPECT_FALSE(quantizeGgmlRow(GgmlType::Q4_K, x.data(), 256, bytes.data()));
}

} // namespace
