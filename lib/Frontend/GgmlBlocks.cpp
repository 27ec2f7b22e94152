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

bool mlir::tok::quantizeGgmlRow(GgmlType type, const float *x, int64_t k,
                                char *out) {
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
