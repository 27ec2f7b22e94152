//===- GgmlBlocks.cpp - GGML block formats on the host --------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/GgmlBlocks.h"

#include "llvm/ADT/APFloat.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>
#include <utility>

using namespace mlir::tok;

float mlir::tok::halfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp == 0) {
    float f = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -f : f;
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

float mlir::tok::bf16ToFloat(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

static float halfAt(const unsigned char *p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return halfToFloat(h);
}

/// q4_k's 6-bit scale and minimum of sub-block j from its 12 bytes.
static void scaleMinK4(const unsigned char *s, int j, int &sc, int &m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

void mlir::tok::dequantizeGgmlRow(GgmlType type, const char *rowBytes,
                                  int64_t k, float *out) {
  const auto *row = reinterpret_cast<const unsigned char *>(rowBytes);
  int64_t bs = getGgmlBlockSize(type), bb = getGgmlBlockBytes(type);
  for (int64_t blk = 0; blk < k / bs; ++blk) {
    const unsigned char *b = row + blk * bb;
    float *y = out + blk * bs;
    switch (type) {
    case GgmlType::F32:
      std::memcpy(y, b, 4);
      break;
    case GgmlType::F16:
      y[0] = halfAt(b);
      break;
    case GgmlType::BF16: {
      uint16_t h;
      std::memcpy(&h, b, 2);
      y[0] = bf16ToFloat(h);
      break;
    }
    case GgmlType::Q8_0: {
      float d = halfAt(b);
      for (int j = 0; j < 32; ++j)
        y[j] = d * static_cast<float>(static_cast<int8_t>(b[2 + j]));
      break;
    }
    case GgmlType::Q4_0: {
      float d = halfAt(b);
      for (int j = 0; j < 16; ++j) {
        y[j] = d * static_cast<float>((b[2 + j] & 15) - 8);
        y[j + 16] = d * static_cast<float>((b[2 + j] >> 4) - 8);
      }
      break;
    }
    case GgmlType::Q4_K: {
      float d = halfAt(b), dmin = halfAt(b + 2);
      const unsigned char *scales = b + 4, *qs = b + 16;
      for (int j = 0; j < 8; ++j) {
        int sc, m;
        scaleMinK4(scales, j, sc, m);
        const unsigned char *q = qs + 32 * (j / 2);
        for (int l = 0; l < 32; ++l) {
          int code = j % 2 ? q[l] >> 4 : q[l] & 15;
          y[32 * j + l] =
              d * static_cast<float>(sc) * static_cast<float>(code) -
              dmin * static_cast<float>(m);
        }
      }
      break;
    }
    case GgmlType::Q6_K: {
      const unsigned char *ql = b, *qh = b + 128;
      const auto *sc = reinterpret_cast<const int8_t *>(b + 192);
      float d = halfAt(b + 208);
      for (int h = 0; h < 2; ++h) {
        for (int l = 0; l < 32; ++l) {
          int lowA = ql[64 * h + l], lowB = ql[64 * h + l + 32],
              high = qh[32 * h + l];
          int q[4] = {(lowA & 15) | ((high & 3) << 4),
                      (lowB & 15) | (((high >> 2) & 3) << 4),
                      (lowA >> 4) | (((high >> 4) & 3) << 4),
                      (lowB >> 4) | (((high >> 6) & 3) << 4)};
          for (int i = 0; i < 4; ++i)
            y[128 * h + 32 * i + l] =
                d * static_cast<float>(sc[8 * h + l / 16 + 2 * i]) *
                static_cast<float>(q[i] - 32);
        }
      }
      break;
    }
    }
  }
}

uint16_t mlir::tok::floatToHalf(float f) {
  llvm::APFloat v(f);
  bool lost;
  v.convert(llvm::APFloat::IEEEhalf(), llvm::APFloat::rmNearestTiesToEven,
            &lost);
  return static_cast<uint16_t>(v.bitcastToAPInt().getZExtValue());
}

//===----------------------------------------------------------------------===//
// k-quant scale search (q4_k, q6_k)
//===----------------------------------------------------------------------===//
//
// A sub-block's codes are fitted, not just scaled from its extremes: for a
// few candidate scales around the extremes' (the largest magnitude mapped
// to each of 21 nearby code ranges), the codes are rounded, then scale
// (and for q4_k the minimum) are refitted by weighted least squares to
// those codes; the candidate with the smallest weighted squared error
// wins. The weights |x| + mean |x| favour the large values, which carry
// most of a dot product, without ignoring the small ones. (llama.cpp also
// searches; this search is tok's own, docs/quantization.md.)

namespace {

float weightOf(float v, float meanAbs) { return std::fabs(v) + meanAbs; }

float meanAbsOf(const float *v, int n) {
  float sum = 0.0f;
  for (int i = 0; i < n; ++i)
    sum += std::fabs(v[i]);
  return sum / static_cast<float>(n);
}

/// v ~ scale * q - min, q in [0, 15], min >= 0: returns (scale, min).
std::pair<float, float> fitScaleMin(const float *v, int n) {
  float lo = 0.0f, hi = v[0];
  for (int i = 0; i < n; ++i) {
    lo = std::min(lo, v[i]);
    hi = std::max(hi, v[i]);
  }
  if (hi <= lo)
    return {0.0f, -lo};
  float meanAbs = meanAbsOf(v, n);
  float bestErr = std::numeric_limits<float>::infinity();
  std::pair<float, float> best{(hi - lo) / 15.0f, -lo};
  for (int t = -10; t <= 10; ++t) {
    float iscale = (15.0f + 0.1f * static_cast<float>(t)) / (hi - lo);
    // Codes, then the weighted least-squares line v = s q + b.
    float sw = 0, sq = 0, sv = 0, sqq = 0, sqv = 0;
    int q[32];
    for (int i = 0; i < n; ++i) {
      q[i] = static_cast<int>(std::lround(iscale * (v[i] - lo)));
      q[i] = std::min(15, std::max(0, q[i]));
      float w = weightOf(v[i], meanAbs);
      sw += w;
      sq += w * q[i];
      sv += w * v[i];
      sqq += w * q[i] * q[i];
      sqv += w * q[i] * v[i];
    }
    float det = sw * sqq - sq * sq;
    if (det <= 0.0f)
      continue;
    float scale = (sw * sqv - sq * sv) / det;
    float b = (sqq * sv - sq * sqv) / det;
    if (b > 0.0f) { // the minimum must not be negative: refit with b = 0
      b = 0.0f;
      scale = sqq > 0.0f ? sqv / sqq : 0.0f;
    }
    if (scale <= 0.0f)
      continue;
    float err = 0.0f;
    for (int i = 0; i < n; ++i) {
      float d = scale * q[i] + b - v[i];
      err += weightOf(v[i], meanAbs) * d * d;
    }
    if (err < bestErr) {
      bestErr = err;
      best = {scale, -b};
    }
  }
  return best;
}

/// v ~ scale * q, q in [-32, 31] (either sign of scale, so that the
/// largest magnitude may take the extra negative level): returns scale.
float fitScaleSymmetric(const float *v, int n) {
  float amax = 0.0f, max = 0.0f;
  for (int i = 0; i < n; ++i)
    if (std::fabs(v[i]) > amax) {
      amax = std::fabs(v[i]);
      max = v[i];
    }
  if (amax == 0.0f)
    return 0.0f;
  float meanAbs = meanAbsOf(v, n);
  float bestErr = std::numeric_limits<float>::infinity(), best = max / 31.0f;
  for (int sign : {1, -1}) {
    for (int t = -9; t <= 9; ++t) {
      // sign 1: max -> +31-ish; sign -1: max -> -32-ish.
      float levels = sign > 0 ? 31.0f + 0.1f * t : -(32.0f + 0.1f * t);
      float iscale = levels / max;
      float sqq = 0, sqv = 0;
      int q[16];
      for (int i = 0; i < n; ++i) {
        q[i] = static_cast<int>(std::lround(iscale * v[i]));
        q[i] = std::min(31, std::max(-32, q[i]));
        float w = weightOf(v[i], meanAbs);
        sqq += w * q[i] * q[i];
        sqv += w * q[i] * v[i];
      }
      if (sqq <= 0.0f)
        continue;
      float scale = sqv / sqq, err = 0.0f;
      for (int i = 0; i < n; ++i) {
        float d = scale * q[i] - v[i];
        err += weightOf(v[i], meanAbs) * d * d;
      }
      if (err < bestErr) {
        bestErr = err;
        best = scale;
      }
    }
  }
  return best;
}

void storeHalf(unsigned char *p, float v) {
  uint16_t h = floatToHalf(v);
  std::memcpy(p, &h, 2);
}

/// One q4_k super-block of 256 weights: d, dmin (f16), 8 x (6-bit scale,
/// 6-bit minimum) in 12 bytes, 128 bytes of 4-bit codes.
void quantizeQ4K(const float *v, unsigned char *b) {
  float scales[8], mins[8], maxScale = 0.0f, maxMin = 0.0f;
  for (int j = 0; j < 8; ++j) {
    std::tie(scales[j], mins[j]) = fitScaleMin(v + 32 * j, 32);
    maxScale = std::max(maxScale, scales[j]);
    maxMin = std::max(maxMin, mins[j]);
  }
  storeHalf(b, maxScale / 63.0f);
  storeHalf(b + 2, maxMin / 63.0f);
  float d = halfAt(b), dmin = halfAt(b + 2);
  int sc[8], m[8];
  for (int j = 0; j < 8; ++j) {
    sc[j] = d > 0.0f ? static_cast<int>(std::lround(scales[j] / d)) : 0;
    m[j] = dmin > 0.0f ? static_cast<int>(std::lround(mins[j] / dmin)) : 0;
    sc[j] = std::min(63, std::max(0, sc[j]));
    m[j] = std::min(63, std::max(0, m[j]));
  }
  unsigned char *s = b + 4;
  for (int j = 0; j < 4; ++j) {
    s[j] = static_cast<unsigned char>(sc[j] | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = static_cast<unsigned char>(m[j] | ((m[j + 4] >> 4) << 6));
    s[j + 8] =
        static_cast<unsigned char>((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
  }
  // The codes against the stored (rounded) scales and minimums.
  unsigned char *qs = b + 16;
  for (int j = 0; j < 8; ++j) {
    float scale = d * static_cast<float>(sc[j]);
    float min = dmin * static_cast<float>(m[j]);
    for (int l = 0; l < 32; ++l) {
      int q = scale > 0.0f
                  ? static_cast<int>(std::lround((v[32 * j + l] + min) / scale))
                  : 0;
      q = std::min(15, std::max(0, q));
      unsigned char &byte = qs[32 * (j / 2) + l];
      byte = j % 2 ? static_cast<unsigned char>((byte & 15) | (q << 4))
                   : static_cast<unsigned char>(q);
    }
  }
}

/// One q6_k super-block of 256 weights: 128 bytes of low 4 bits, 64 of
/// high 2 bits, 16 int8 scales, d (f16).
void quantizeQ6K(const float *v, unsigned char *b) {
  float scales[16], amax = 0.0f;
  for (int i = 0; i < 16; ++i) {
    scales[i] = fitScaleSymmetric(v + 16 * i, 16);
    amax = std::max(amax, std::fabs(scales[i]));
  }
  storeHalf(b + 208, amax / 127.0f);
  float d = halfAt(b + 208);
  auto *sc = reinterpret_cast<int8_t *>(b + 192);
  int codes[256];
  for (int i = 0; i < 16; ++i) {
    int s = d > 0.0f ? static_cast<int>(std::lround(scales[i] / d)) : 0;
    sc[i] = static_cast<int8_t>(std::min(127, std::max(-128, s)));
    float scale = d * static_cast<float>(sc[i]);
    for (int l = 0; l < 16; ++l) {
      int q = scale != 0.0f
                  ? static_cast<int>(std::lround(v[16 * i + l] / scale))
                  : 0;
      codes[16 * i + l] = std::min(31, std::max(-32, q)) + 32;
    }
  }
  unsigned char *ql = b, *qh = b + 128;
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const int *q = codes + 128 * h + l;
      ql[64 * h + l] =
          static_cast<unsigned char>((q[0] & 15) | ((q[64] & 15) << 4));
      ql[64 * h + l + 32] =
          static_cast<unsigned char>((q[32] & 15) | ((q[96] & 15) << 4));
      qh[32 * h + l] =
          static_cast<unsigned char>((q[0] >> 4) | ((q[32] >> 4) << 2) |
                                     ((q[64] >> 4) << 4) | ((q[96] >> 4) << 6));
    }
}

} // namespace

bool mlir::tok::quantizeGgmlRow(GgmlType type, const float *x, int64_t k,
                                char *out) {
  if (type == GgmlType::Q4_K || type == GgmlType::Q6_K) {
    int64_t bb = getGgmlBlockBytes(type);
    for (int64_t blk = 0; blk < k / 256; ++blk) {
      auto *b = reinterpret_cast<unsigned char *>(out + blk * bb);
      if (type == GgmlType::Q4_K)
        quantizeQ4K(x + blk * 256, b);
      else
        quantizeQ6K(x + blk * 256, b);
    }
    return true;
  }
  if (type != GgmlType::Q8_0 && type != GgmlType::Q4_0)
    return false;
  int64_t bb = getGgmlBlockBytes(type);
  for (int64_t blk = 0; blk < k / 32; ++blk) {
    const float *v = x + blk * 32;
    auto *b = reinterpret_cast<unsigned char *>(out + blk * bb);
    float d;
    if (type == GgmlType::Q8_0) {
      float amax = 0.0f;
      for (int j = 0; j < 32; ++j)
        amax = std::max(amax, std::fabs(v[j]));
      d = amax / 127.0f;
      float id = d != 0.0f ? 1.0f / d : 0.0f;
      for (int j = 0; j < 32; ++j)
        b[2 + j] = static_cast<unsigned char>(
            static_cast<int8_t>(std::round(v[j] * id)));
    } else {
      float amax = 0.0f, m = 0.0f;
      for (int j = 0; j < 32; ++j)
        if (std::fabs(v[j]) > amax) {
          amax = std::fabs(v[j]);
          m = v[j];
        }
      d = m / -8.0f;
      float id = d != 0.0f ? 1.0f / d : 0.0f;
      for (int j = 0; j < 16; ++j) {
        auto code = [&](float w) {
          float q = std::trunc(w * id + 8.5f);
          return static_cast<unsigned char>(std::min(15.0f, std::max(0.0f, q)));
        };
        b[2 + j] =
            static_cast<unsigned char>(code(v[j]) | (code(v[j + 16]) << 4));
      }
    }
    uint16_t h = floatToHalf(d);
    std::memcpy(b, &h, 2);
  }
  return true;
}

void mlir::tok::quantizeChannelInt8Row(const float *x, int64_t k, char *out) {
  float amax = 0.0f;
  for (int64_t j = 0; j < k; ++j)
    amax = std::max(amax, std::fabs(x[j]));
  float s = amax / 127.0f;
  float is = s != 0.0f ? 1.0f / s : 0.0f;
  for (int64_t j = 0; j < k; ++j)
    out[j] = static_cast<char>(static_cast<int8_t>(std::round(x[j] * is)));
  std::memcpy(out + k, &s, 4);
}
