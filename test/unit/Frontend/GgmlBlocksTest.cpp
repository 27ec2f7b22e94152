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
// brings every weight back within half a step. The k-quants (q4_k, q6_k)
// fit their scales by a search: they are checked against the block's
// step and against the plain min / max rule written here.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/GgmlBlocks.h"

#include "gtest/gtest.h"

#include <algorithm>
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
  // Float types are not block formats.
  std::vector<char> bytes(512);
  EXPECT_FALSE(quantizeGgmlRow(GgmlType::F16, x.data(), 256, bytes.data()));
}

/// Normal-ish values (sum of 4 uniforms), deterministic.
std::vector<float> gaussianRow(uint32_t seed, int64_t k) {
  std::vector<float> x(k);
  for (float &v : x) {
    float sum = 0.0f;
    for (int i = 0; i < 4; ++i) {
      seed = seed * 1664525u + 1013904223u;
      sum += static_cast<float>(seed >> 8) / 16777216.0f - 0.5f;
    }
    v = sum * 1.7f;
  }
  return x;
}

double squaredError(const std::vector<float> &a, const std::vector<float> &b) {
  double e = 0.0;
  for (size_t i = 0; i < a.size(); ++i)
    e += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return e;
}

/// The plain q4_k rule the search must beat, written here from the block
/// layout: per sub-block of 32, min = -min(x, 0) and scale = (max + min) /
/// 15; d = max scale / 63, dmin = max min / 63 (f16); 6-bit sc = round(scale
/// / d), m = round(min / dmin); codes round((x + dmin m) / (d sc)) in
/// [0, 15]. Returns the dequantized weights.
std::vector<float> plainQ4K(const std::vector<float> &x) {
  std::vector<float> out(x.size());
  for (size_t blk = 0; blk < x.size() / 256; ++blk) {
    const float *v = x.data() + 256 * blk;
    float scales[8], mins[8], maxS = 0, maxM = 0;
    for (int j = 0; j < 8; ++j) {
      float lo = 0, hi = 0;
      for (int l = 0; l < 32; ++l) {
        lo = std::min(lo, v[32 * j + l]);
        hi = std::max(hi, v[32 * j + l]);
      }
      mins[j] = -lo;
      scales[j] = (hi - lo) / 15.0f;
      maxS = std::max(maxS, scales[j]);
      maxM = std::max(maxM, mins[j]);
    }
    float d = halfToFloat(floatToHalf(maxS / 63.0f));
    float dmin = halfToFloat(floatToHalf(maxM / 63.0f));
    for (int j = 0; j < 8; ++j) {
      float s = d * std::min(63.0f, std::round(scales[j] / d));
      float m = dmin * std::min(63.0f, std::round(mins[j] / dmin));
      for (int l = 0; l < 32; ++l) {
        float q = s > 0 ? std::round((v[32 * j + l] + m) / s) : 0.0f;
        out[256 * blk + 32 * j + l] =
            s * std::min(15.0f, std::max(0.0f, q)) - m;
      }
    }
  }
  return out;
}

/// The plain q6_k rule: per sub-block of 16, scale = max|x| / 31 (the sign
/// of nothing: codes in [-31, 31]), d = max scale / 127, int8 sc.
std::vector<float> plainQ6K(const std::vector<float> &x) {
  std::vector<float> out(x.size());
  for (size_t blk = 0; blk < x.size() / 256; ++blk) {
    const float *v = x.data() + 256 * blk;
    float scales[16], maxS = 0;
    for (int i = 0; i < 16; ++i) {
      float a = 0;
      for (int l = 0; l < 16; ++l)
        a = std::max(a, std::fabs(v[16 * i + l]));
      scales[i] = a / 31.0f;
      maxS = std::max(maxS, scales[i]);
    }
    float d = halfToFloat(floatToHalf(maxS / 127.0f));
    for (int i = 0; i < 16; ++i) {
      float s = d * std::min(127.0f, std::round(scales[i] / d));
      for (int l = 0; l < 16; ++l) {
        float q = s > 0 ? std::round(v[16 * i + l] / s) : 0.0f;
        out[256 * blk + 16 * i + l] = s * std::min(31.0f, std::max(-32.0f, q));
      }
    }
  }
  return out;
}

/// q4_k and q6_k (the scale search): a zero row comes back as zeros, every
/// weight is within one step of its sub-block (two for q4_k, whose minimum
/// is rounded to 6 bits too; a row with an outlier keeps the outlier
/// within 2%), and over 64 rows of normal values the
/// squared error is below the plain rule's above (by at least 10% for the
/// 4-bit codes, where the fit matters most) and the relative RMS error
/// within what 4 and 6 bits give (0.1 and 0.025 of the values' RMS).
TEST(GgmlBlocksTest, KQuantsFitTheirBlocks) {
  for (GgmlType type : {GgmlType::Q4_K, GgmlType::Q6_K}) {
    int64_t k = 512, bb = getGgmlBlockBytes(type);
    std::vector<char> bytes(k / 256 * bb);
    std::vector<float> zero(k, 0.0f), back(k);
    ASSERT_TRUE(quantizeGgmlRow(type, zero.data(), k, bytes.data()));
    dequantizeGgmlRow(type, bytes.data(), k, back.data());
    EXPECT_EQ(squaredError(zero, back), 0.0);

    double searched = 0, plain = 0, energy = 0;
    for (uint32_t row = 0; row < 64; ++row) {
      std::vector<float> x = gaussianRow(row + 1, k);
      if (row == 7)
        x[100] = 40.0f; // an outlier sets its sub-block's scale
      ASSERT_TRUE(quantizeGgmlRow(type, x.data(), k, bytes.data()));
      dequantizeGgmlRow(type, bytes.data(), k, back.data());
      searched += squaredError(x, back);
      plain +=
          squaredError(x, type == GgmlType::Q4_K ? plainQ4K(x) : plainQ6K(x));
      for (float v : x)
        energy += double(v) * v;
      if (row == 7) {
        // The outlier's sub-block sets the super-block's scale of scales,
        // so the other sub-blocks' 6-bit / int8 scales are coarse: only
        // the outlier itself is bounded here (the aggregate below counts
        // the row).
        EXPECT_NEAR(back[100], 40.0f, 40.0f * 0.02f);
        continue;
      }
      // One step of the sub-block, per weight.
      int sub = type == GgmlType::Q4_K ? 32 : 16;
      for (int64_t i = 0; i < k; ++i) {
        float lo = 0, hi = 0;
        for (int64_t j = i / sub * sub; j < (i / sub + 1) * sub; ++j) {
          lo = std::min(lo, x[j]);
          hi = std::max(hi, x[j]);
        }
        float step = (hi - lo) / (type == GgmlType::Q4_K ? 15.0f : 62.0f);
        EXPECT_LE(std::fabs(back[i] - x[i]),
                  (type == GgmlType::Q4_K ? 2.0f : 1.0f) * step * 1.05f)
            << "row " << row << " weight " << i;
      }
    }
    double rel = std::sqrt(searched / energy);
    if (type == GgmlType::Q4_K) {
      EXPECT_LT(searched, 0.9 * plain);
      EXPECT_LT(rel, 0.1);
    } else {
      EXPECT_LT(searched, plain);
      EXPECT_LT(rel, 0.025);
    }
  }
}

} // namespace
