//===- TokenizerVocab.h - tokenizer.json vocabularies -----------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The `model.vocab` and `added_tokens` of a tokenizer.json, shared by the
// BPE, Unigram and WordPiece tokenizers, and the byte trie they look
// strings up in (added tokens in the text, Unigram pieces).
//
//===----------------------------------------------------------------------===//

#ifndef TOK_LIB_FRONTEND_TOKENIZERVOCAB_H
#define TOK_LIB_FRONTEND_TOKENIZERVOCAB_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mlir {
namespace tok {

/// A byte trie over a set of strings, each with an id: from a position of
/// a text, a walk visits only the stored strings' prefixes, so finding
/// every stored string that starts there costs the length of the longest
/// one that does, whatever the set's size. Children are sorted edge lists
/// (binary search), built once from the whole set.
class ByteTrie {
public:
  ByteTrie() = default;
  /// The trie of `entries` (text, id); of equal texts the last one's id is
  /// kept. Empty texts are ignored.
  explicit ByteTrie(std::vector<std::pair<llvm::StringRef, int32_t>> entries);

  bool empty() const { return nodes.size() <= 1; }

  /// Calls `visit(length, id)` for every stored string that is a prefix of
  /// `text`, shortest first.
  template <typename Visit>
  void forEachPrefix(llvm::StringRef text, Visit visit) const {
    uint32_t node = 0;
    for (size_t i = 0; i < text.size() && !nodes.empty(); ++i) {
      std::optional<uint32_t> next = child(node, static_cast<uint8_t>(text[i]));
      if (!next)
        return;
      node = *next;
      if (nodes[node].id >= 0)
        visit(i + 1, nodes[node].id);
    }
  }

  /// The id of `text` if it is stored.
  std::optional<int32_t> lookup(llvm::StringRef text) const;

private:
  struct Node {
    int32_t id = -1;
    uint32_t firstEdge = 0, numEdges = 0;
  };
  std::optional<uint32_t> child(uint32_t node, uint8_t byte) const;

  std::vector<Node> nodes;
  std::vector<uint8_t> edgeBytes;     // sorted within each node's range
  std::vector<uint32_t> edgeChildren; // parallel to edgeBytes
};

/// An added token found in a text: bytes [begin, end) and its id.
struct AddedTokenMatch {
  size_t begin, end;
  int32_t id;
};

/// The leftmost added token of `trie` in `text` at or after `from`, the
/// longest of those that start there (leftmost-longest, as `tokenizers`'
/// Aho-Corasick automaton with MatchKind::LeftmostLongest finds them).
std::optional<AddedTokenMatch>
findAddedToken(const ByteTrie &trie, llvm::StringRef text, size_t from);

/// The trie of added tokens (content, id).
ByteTrie
buildAddedTokenTrie(llvm::ArrayRef<std::pair<std::string, int32_t>> added);

struct TokenizerVocab {
  std::vector<std::string> tokens; // id -> token text
  llvm::StringMap<int32_t> ids;    // token text -> id
  /// Added tokens (content, id) in the file's order; buildAddedTokenTrie
  /// indexes them for matching.
  std::vector<std::pair<std::string, int32_t>> added;
  /// Per id: an added token marked special. Only WordPiece's decode skips
  /// them; the BPE and Unigram decode keeps them, as `tokenizers`' decode
  /// with skip_special_tokens=False does (docs/tokenizers.md).
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
