//===- TokenizerVocab.h - tokenizer.json vocabularies -----------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The `model.vocab` and `added_tokens` of a tokenizer.json, shared by the
// BPE and WordPiece tokenizers.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_LIB_FRONTEND_TOKENIZERVOCAB_H
#define TOK_LIB_FRONTEND_TOKENIZERVOCAB_H

#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <string>
#include <vector>

namespace mlir {
namespace tok {

struct TokenizerVocab {
  std::vector<std::string> tokens; // id -> token text
  llvm::StringMap<int32_t> ids;    // token text -> id
  /// Added tokens, longest content first (so that one never hides a longer
  /// one when the text is scanned for them).
  std::vector<std::pair<std::string, int32_t>> added;
  /// Per id: an added token marked special (skipped when decoding).
  std::vector<bool> special;
  /// Added tokens that take the whitespace before (lstrip) or after
  /// (rstrip) them.
  llvm::DenseSet<int32_t> lstrip, rstrip;
};

/// Reads `vocab` (ids dense, 0 .. n-1) and the root's `added_tokens` (ids
/// may extend the vocabulary); `name` names the file in errors.
llvm::Error parseTokenizerVocab(const llvm::json::Object &vocab,
                                const llvm::json::Object &root,
                                llvm::StringRef name, TokenizerVocab &out);

/// Reads the root's `added_tokens` into `out`, whose vocabulary is read.
llvm::Error parseAddedTokens(const llvm::json::Object &root,
                             llvm::StringRef name, TokenizerVocab &out);

} // namespace tok
} // namespace mlir

#endif // TOK_LIB_FRONTEND_TOKENIZERVOCAB_H
