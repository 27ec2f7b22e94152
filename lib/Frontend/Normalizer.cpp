//===- Normalizer.cpp - Unicode normalization and lowercasing -------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/Normalizer.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/ConvertUTF.h"
#include "llvm/Support/ErrorHandling.h"

#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <vector>

using namespace mlir::tok;
using llvm::StringRef;

/// The length of the valid UTF-8 sequence at the start of `text`, or 0.
static size_t validUtf8Length(StringRef text) {
  auto lead = static_cast<unsigned char>(text.front());
  unsigned n = llvm::getNumBytesForUTF8(lead);
  if (n == 0 || n > text.size())
    return 0;
  auto *p = reinterpret_cast<const llvm::UTF8 *>(text.data());
  return llvm::isLegalUTF8Sequence(p, p + n) ? n : 0;
}

/// Applies `convert` to each run of valid UTF-8 in `text` (as UTF-16),
/// keeping invalid bytes as they are.
template <typename Convert>
static std::string mapValidRuns(StringRef text, Convert convert) {
  std::string out;
  out.reserve(text.size());
  std::vector<UChar> units;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    while (j < text.size())
      if (size_t n = validUtf8Length(text.substr(j)))
        j += n;
      else
        break;
    if (j > i) {
      StringRef run = text.slice(i, j);
      // UTF-16 takes at most as many units as UTF-8 takes bytes.
      units.resize(run.size());
      int32_t length = 0;
      UErrorCode status = U_ZERO_ERROR;
      u_strFromUTF8(units.data(), static_cast<int32_t>(units.size()), &length,
                    run.data(), static_cast<int32_t>(run.size()), &status);
      if (U_FAILURE(status)) {
        out += run; // cannot happen for valid UTF-8
      } else {
        units.resize(length);
        std::vector<UChar> converted = convert(units);
        int32_t bytes = 0;
        status = U_ZERO_ERROR;
        u_strToUTF8(nullptr, 0, &bytes, converted.data(),
                    static_cast<int32_t>(converted.size()), &status);
        size_t at = out.size();
        out.resize(at + bytes);
        status = U_ZERO_ERROR;
        u_strToUTF8(out.data() + at, bytes, nullptr, converted.data(),
                    static_cast<int32_t>(converted.size()), &status);
      }
    }
    if (j < text.size())
      out.push_back(text[j++]); // an invalid byte
    i = j;
  }
  return out;
}

std::string mlir::tok::normalizeUnicode(StringRef text,
                                        NormalizationForm form) {
  // ASCII is invariant under every form.
  if (llvm::all_of(text, [](char c) { return (c & 0x80) == 0; }))
    return text.str();
  UErrorCode status = U_ZERO_ERROR;
  const UNormalizer2 *normalizer = nullptr;
  switch (form) {
  case NormalizationForm::NFC:
    normalizer = unorm2_getNFCInstance(&status);
    break;
  case NormalizationForm::NFD:
    normalizer = unorm2_getNFDInstance(&status);
    break;
  case NormalizationForm::NFKC:
    normalizer = unorm2_getNFKCInstance(&status);
    break;
  case NormalizationForm::NFKD:
    normalizer = unorm2_getNFKDInstance(&status);
    break;
  }
  if (U_FAILURE(status) || !normalizer)
    llvm::report_fatal_error("ICU: no Unicode normalizer (" +
                             llvm::Twine(u_errorName(status)) + ")");
  return mapValidRuns(text, [&](const std::vector<UChar> &src) {
    // NFKD grows text the most, up to 18 units per unit (U+FDFA).
    std::vector<UChar> dst(src.size() * 3 + 16);
    while (true) {
      UErrorCode st = U_ZERO_ERROR;
      int32_t n = unorm2_normalize(normalizer, src.data(),
                                   static_cast<int32_t>(src.size()), dst.data(),
                                   static_cast<int32_t>(dst.size()), &st);
      if (st == U_BUFFER_OVERFLOW_ERROR) {
        dst.resize(n);
        continue;
      }
      if (U_FAILURE(st))
        llvm::report_fatal_error("ICU: normalization failed (" +
                                 llvm::Twine(u_errorName(st)) + ")");
      dst.resize(n);
      return dst;
    }
  });
}

std::string mlir::tok::lowercaseUnicode(StringRef text) {
  return mapValidRuns(text, [](const std::vector<UChar> &src) {
    std::vector<UChar> dst;
    dst.reserve(src.size());
    for (size_t i = 0; i < src.size();) {
      // One code point (a surrogate pair is two units), lowercased alone
      // in the root locale: no context, as Rust's char::to_lowercase.
      size_t n =
          U16_IS_LEAD(src[i]) && i + 1 < src.size() && U16_IS_TRAIL(src[i + 1])
              ? 2
              : 1;
      UChar out[8];
      UErrorCode st = U_ZERO_ERROR;
      int32_t m = u_strToLower(out, 8, src.data() + i, static_cast<int32_t>(n),
                               "", &st);
      if (U_FAILURE(st))
        dst.insert(dst.end(), src.begin() + i, src.begin() + i + n);
      else
        dst.insert(dst.end(), out, out + m);
      i += n;
    }
    return dst;
  });
}
