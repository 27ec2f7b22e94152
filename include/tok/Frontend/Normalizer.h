//===- Normalizer.h - Unicode normalization and lowercasing -----*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The Unicode text transforms that tokenizer.json normalizers ask for:
// normalization forms (NFC, NFD, NFKC, NFKD) and full lowercasing. Both come
// from ICU (libicuuc, linked privately into TokFrontend; no tok header
// includes ICU): its composition and decomposition data are the Unicode
// Character Database's, kept current by the distribution, where tables of
// our own would be a few hundred kilobytes to generate, test and keep in
// step (docs/tokenizers.md, "Why ICU for normalization").
//
//===----------------------------------------------------------------------===//

#ifndef TOK_FRONTEND_NORMALIZER_H
#define TOK_FRONTEND_NORMALIZER_H

#include "llvm/ADT/StringRef.h"

#include <string>

namespace mlir {
namespace tok {

/// The Unicode normalization forms.
enum class NormalizationForm { NFC, NFD, NFKC, NFKD };

/// `text` in normalization form `form` (ICU). Bytes that are not valid
/// UTF-8 are kept as they are; the valid runs between them are normalized.
std::string normalizeUnicode(llvm::StringRef text, NormalizationForm form);

/// `text` with every code point replaced by its full lowercase mapping,
/// one code point at a time without context (Rust's char::to_lowercase,
/// what `tokenizers`' Lowercase normalizer applies: a final capital sigma
/// becomes U+03C3, U+0130 becomes "i\u0307"). Invalid UTF-8 bytes are kept.
std::string lowercaseUnicode(llvm::StringRef text);

} // namespace tok
} // namespace mlir

#endif // TOK_FRONTEND_NORMALIZER_H
