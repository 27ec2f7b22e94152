//===- Tokenizer.cpp - text <-> token ids ---------------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/Tokenizer.h"
#include "FileError.h"
#include "TokenizerVocab.h"
#include "WordPiece.h"
#include "tok/Frontend/Gguf.h"
#include "tok/Frontend/GgufLlama.h"
#include "tok/Frontend/Normalizer.h"
#include "tok/Frontend/PreTokenizer.h"
#include "tok/Support/Json.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/ConvertUTF.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <tuple>

using namespace mlir::tok;

/// Ids of added tokens (a vocabulary's size at most, as config.json's
/// vocab_size is bounded).
static constexpr int64_t kMaxAddedTokenId = int64_t{1} << 24;
using llvm::StringRef;
using llvm::Twine;

Tokenizer::~Tokenizer() = default;

llvm::Expected<std::vector<int32_t>>
Tokenizer::encodePrompt(StringRef text) const {
  auto ids = encode(text);
  if (!ids)
    return ids.takeError();
  std::vector<int32_t> out(promptPrefix);
  out.insert(out.end(), ids->begin(), ids->end());
  out.insert(out.end(), promptSuffix.begin(), promptSuffix.end());
  return out;
}

llvm::Error Tokenizer::applyTokenizerConfig(StringRef path) {
  auto buffer = mapFile(path);
  if (!buffer)
    return buffer.takeError();
  llvm::Expected<llvm::json::Value> parsed = parseJson((*buffer)->getBuffer());
  if (!parsed)
    return fileError(path,
                     "malformed JSON: " + llvm::toString(parsed.takeError()));
  const llvm::json::Object *root = parsed->getAsObject();
  if (!root)
    return fileError(path, "not a JSON object");
  for (auto [flag, key, fallback, side] :
       {std::tuple<StringRef, StringRef, StringRef, std::vector<int32_t> *>{
            "add_bos_token", "bos_token", "<s>", &promptPrefix},
        {"add_eos_token", "eos_token", "</s>", &promptSuffix}}) {
    const llvm::json::Value *value = root->get(flag);
    if (!value || value->kind() == llvm::json::Value::Null)
      continue;
    std::optional<bool> add = value->getAsBoolean();
    if (!add)
      return fileError(path, "'" + flag + "' is not a boolean");
    side->clear();
    if (!*add)
      continue;
    // The token: a string, or an AddedToken object's content.
    StringRef token = fallback;
    if (const llvm::json::Value *named = root->get(key)) {
      if (std::optional<StringRef> s = named->getAsString())
        token = *s;
      else if (const llvm::json::Object *obj = named->getAsObject();
               obj && obj->getString("content"))
        token = *obj->getString("content");
      else if (named->kind() != llvm::json::Value::Null)
        return fileError(path, "'" + key +
                                   "' is neither a string nor an "
                                   "added token");
    }
    std::optional<int32_t> id = getTokenId(token);
    if (!id)
      return fileError(path, "'" + flag + "' asks for the " + key + " '" +
                                 token +
                                 "', which the tokenizer does not "
                                 "have");
    side->push_back(*id);
  }
  return llvm::Error::success();
}

static llvm::Error idError(int32_t id, int64_t vocab) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "token id " + Twine(id) +
                                     " is outside the vocabulary of " +
                                     Twine(vocab));
}

//===----------------------------------------------------------------------===//
// Byte tokenizer
//===----------------------------------------------------------------------===//

namespace {
class ByteTokenizer : public Tokenizer {
public:
  int64_t getVocabSize() const override { return 256; }
  llvm::Expected<std::vector<int32_t>> encode(StringRef text) const override {
    std::vector<int32_t> ids;
    ids.reserve(text.size());
    for (char c : text)
      ids.push_back(static_cast<uint8_t>(c));
    return ids;
  }
  llvm::Expected<std::string>
  decode(llvm::ArrayRef<int32_t> ids) const override {
    std::string text;
    for (int32_t id : ids) {
      if (id < 0 || id > 255)
        return idError(id, 256);
      text.push_back(static_cast<char>(id));
    }
    return text;
  }
};
} // namespace

std::unique_ptr<Tokenizer> Tokenizer::createByteTokenizer() {
  return std::make_unique<ByteTokenizer>();
}

//===----------------------------------------------------------------------===//
// BPE (tokenizer.json)
//===----------------------------------------------------------------------===//

/// The UTF-8 encoding of code point `cp`.
static std::string utf8(uint32_t cp) {
  char buf[UNI_MAX_UTF8_BYTES_PER_CODE_POINT];
  char *end = buf;
  llvm::ConvertCodePointToUTF8(cp, end);
  return std::string(buf, end);
}

/// GPT-2's byte-level alphabet: printable bytes stand for themselves, the
/// others for the code points 256, 257, ... in byte order.
static std::vector<std::string> byteLevelAlphabet() {
  std::vector<std::string> alphabet(256);
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) ||
                     (b >= 174 && b <= 255);
    alphabet[b] = utf8(printable ? b : next++);
  }
  return alphabet;
}

/// Length of the UTF-8 sequence that starts with `lead` (1 for stray
/// continuation bytes, so that every byte is covered exactly once).
static size_t utf8Length(unsigned char lead) {
  if (lead >= 0xf0 && lead < 0xf8)
    return 4;
  if (lead >= 0xe0)
    return lead < 0xf0 ? 3 : 1;
  if (lead >= 0xc0)
    return 2;
  return 1;
}

//===----------------------------------------------------------------------===//
// Byte trie and added-token matching
//===----------------------------------------------------------------------===//

ByteTrie::ByteTrie(std::vector<std::pair<StringRef, int32_t>> entries) {
  // Sorted bytewise, equal texts in their given order: a node's strings
  // form one range, the node's own text (if stored) first, then one run
  // per next byte in increasing order. Nodes are laid out breadth first,
  // a queue of ranges rather than recursion (a piece may be 20 KB long).
  llvm::stable_sort(
      entries, [](const auto &a, const auto &b) { return a.first < b.first; });
  struct Range {
    uint32_t node;
    size_t begin, end, depth;
  };
  nodes.emplace_back();
  std::deque<Range> queue{{0, 0, entries.size(), 0}};
  while (!queue.empty()) {
    Range r = queue.front();
    queue.pop_front();
    size_t i = r.begin;
    for (; i < r.end && entries[i].first.size() == r.depth; ++i)
      if (r.depth > 0)
        nodes[r.node].id = entries[i].second; // the last of equal texts
    nodes[r.node].firstEdge = static_cast<uint32_t>(edgeBytes.size());
    while (i < r.end) {
      auto byte = static_cast<uint8_t>(entries[i].first[r.depth]);
      size_t j = i + 1;
      while (j < r.end &&
             static_cast<uint8_t>(entries[j].first[r.depth]) == byte)
        ++j;
      auto childNode = static_cast<uint32_t>(nodes.size());
      nodes.emplace_back();
      edgeBytes.push_back(byte);
      edgeChildren.push_back(childNode);
      queue.push_back({childNode, i, j, r.depth + 1});
      i = j;
    }
    nodes[r.node].numEdges =
        static_cast<uint32_t>(edgeBytes.size()) - nodes[r.node].firstEdge;
  }
}

std::optional<uint32_t> ByteTrie::child(uint32_t node, uint8_t byte) const {
  const Node &n = nodes[node];
  const uint8_t *first = edgeBytes.data() + n.firstEdge;
  const uint8_t *last = first + n.numEdges;
  const uint8_t *at = std::lower_bound(first, last, byte);
  if (at == last || *at != byte)
    return std::nullopt;
  return edgeChildren[n.firstEdge + (at - first)];
}

std::optional<int32_t> ByteTrie::lookup(StringRef text) const {
  uint32_t node = 0;
  for (char c : text) {
    if (nodes.empty())
      return std::nullopt;
    std::optional<uint32_t> next = child(node, static_cast<uint8_t>(c));
    if (!next)
      return std::nullopt;
    node = *next;
  }
  if (nodes.empty() || nodes[node].id < 0)
    return std::nullopt;
  return nodes[node].id;
}

std::optional<AddedTokenMatch>
mlir::tok::findAddedToken(const ByteTrie &trie, StringRef text, size_t from) {
  if (trie.empty())
    return std::nullopt;
  for (size_t i = from; i < text.size(); ++i) {
    std::optional<AddedTokenMatch> longest;
    trie.forEachPrefix(text.substr(i), [&](size_t length, int32_t id) {
      longest = AddedTokenMatch{i, i + length, id};
    });
    if (longest)
      return longest;
  }
  return std::nullopt;
}

ByteTrie mlir::tok::buildAddedTokenTrie(
    llvm::ArrayRef<std::pair<std::string, int32_t>> added) {
  std::vector<std::pair<StringRef, int32_t>> entries;
  entries.reserve(added.size());
  for (const auto &[content, id] : added)
    entries.push_back({content, id});
  return ByteTrie(std::move(entries));
}

/// The ids of the byte tokens `<0x00>` .. `<0xFF>` in `vocab` (as
/// `tokenizers` spells them, format!("<{b:#04X}>")), -1 where missing.
static void findByteTokens(const llvm::StringMap<int32_t> &vocab,
                           int32_t (&out)[256]) {
  for (unsigned b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
    auto it = vocab.find(hex);
    out[b] = it == vocab.end() ? -1 : it->second;
  }
}

namespace {
/// One step of a tokenizer.json normalizer (a Sequence is flattened).
struct NormalizerStep {
  enum Kind { Form, Lowercase, Replace, Prepend, Strip, StripAccents };
  Kind kind = Form;
  NormalizationForm form = NormalizationForm::NFC;
  std::string pattern, content;     // Replace: pattern -> content; Prepend
  bool left = false, right = false; // Strip
};

/// One step of a tokenizer.json pre-tokenizer (a Sequence is flattened).
struct PreTokenizerStep {
  enum Kind { ByteLevel, Split, Metaspace };
  enum class Prepend { Always, First, Never };
  PreTokenizerStep(Kind kind = ByteLevel) : kind(kind) {}
  Kind kind;
  bool addPrefixSpace = false;         // ByteLevel
  std::optional<SplitPattern> pattern; // ByteLevel's regex, Split's
  std::string replacement;             // Metaspace
  Prepend prepend = Prepend::Always;   // Metaspace
  bool split = true;                   // Metaspace
};

/// One step of a tokenizer.json decoder (a Sequence is flattened).
struct DecoderStep {
  enum Kind { ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace };
  DecoderStep(Kind kind = ByteLevel) : kind(kind) {}
  Kind kind;
  std::string pattern, content; // Replace; Strip's content; Metaspace's
  unsigned start = 0, stop = 0; // Strip
  bool prependFirst = true;     // Metaspace: a prepend scheme other than never
};

/// A pre-token: its text, and whether it begins the input (offset 0).
struct PreToken {
  std::string text;
  bool atStart;
};

enum class ModelKind { BPE, Unigram };

/// The code point at `i` of `text` (advancing `i`); an invalid byte is
/// returned as itself with bit 31 set.
uint32_t nextCodePoint(StringRef text, size_t &i) {
  size_t n = std::min(utf8Length(text[i]), text.size() - i);
  const auto *p = reinterpret_cast<const llvm::UTF8 *>(text.data() + i);
  llvm::UTF32 cp;
  if (n > 1 && llvm::isLegalUTF8Sequence(p, p + n)) {
    const llvm::UTF8 *src = p;
    llvm::UTF32 *dst = &cp;
    llvm::ConvertUTF8toUTF32(&src, p + n, &dst, dst + 1,
                             llvm::strictConversion);
    i += n;
    return cp;
  }
  ++i;
  return static_cast<uint8_t>(p[0]) | (p[0] < 0x80 ? 0 : 0x80000000u);
}

/// Every occurrence of `pattern` in `text` (left to right, not
/// overlapping) replaced by `content`.
std::string replaceAll(StringRef text, StringRef pattern, StringRef content) {
  std::string out;
  out.reserve(text.size());
  while (true) {
    size_t at = text.find(pattern);
    if (at == StringRef::npos)
      break;
    out += text.take_front(at);
    out += content;
    text = text.drop_front(at + pattern.size());
  }
  out += text;
  return out;
}

/// The start of the run of Unicode White_Space code points that ends at
/// `end`, going back no further than `limit`.
size_t skipWhiteSpaceBackward(StringRef text, size_t end, size_t limit) {
  while (end > limit) {
    size_t at = end - 1;
    while (at > limit && end - at < 4 && (text[at] & 0xc0) == 0x80)
      --at;
    size_t i = at;
    if (!isUnicodeWhiteSpace(nextCodePoint(text, i)) || i != end)
      break;
    end = at;
  }
  return end;
}

/// The end of the run of Unicode White_Space code points that starts at
/// `begin`.
size_t skipWhiteSpaceForward(StringRef text, size_t begin) {
  while (begin < text.size()) {
    size_t i = begin;
    if (!isUnicodeWhiteSpace(nextCodePoint(text, i)))
      break;
    begin = i;
  }
  return begin;
}

/// The text of `tokenizer.json`: normalizer, pre-tokenizer, model (BPE or
/// Unigram) and decoder, each as `tokenizers` runs them.
class HFTokenizer : public Tokenizer {
public:
  ModelKind model = ModelKind::BPE;
  std::vector<NormalizerStep> normalizers;
  std::vector<PreTokenizerStep> preTokenizers;
  std::vector<DecoderStep> decoders;
  /// No decoder at all: `tokenizers` joins the tokens with spaces.
  bool joinWithSpaces = false;
  std::vector<std::string> tokens; // id -> token text
  llvm::StringMap<int32_t> vocab;
  /// Added tokens, matched leftmost-longest in the raw text.
  ByteTrie addedTokens;
  /// Added tokens that take the whitespace before / after them.
  llvm::DenseSet<int32_t> lstrip, rstrip;
  /// BPE: (left, right) -> (rank, merged id).
  llvm::DenseMap<std::pair<int32_t, int32_t>, std::pair<int32_t, int32_t>>
      merges;
  bool byteFallback = false, fuseUnk = false, ignoreMerges = false;
  std::optional<int32_t> unk;
  /// Unigram: the log-probability of each id, and the pieces.
  std::vector<double> scores;
  double minScore = 0;
  ByteTrie pieceTrie;
  int32_t byteTokens[256];           // <0xXX> ids, or -1
  std::vector<std::string> alphabet; // the byte-level alphabet
  llvm::StringMap<uint8_t> alphabetInverse;

  HFTokenizer() {
    for (int32_t &b : byteTokens)
      b = -1;
    alphabet = byteLevelAlphabet();
    for (unsigned b = 0; b < 256; ++b)
      alphabetInverse[alphabet[b]] = static_cast<uint8_t>(b);
  }

  int64_t getVocabSize() const override {
    return static_cast<int64_t>(tokens.size());
  }

  std::optional<int32_t> getTokenId(StringRef token) const override {
    auto it = vocab.find(token);
    if (it == vocab.end())
      return std::nullopt;
    return it->second;
  }

  llvm::Expected<std::vector<int32_t>> encode(StringRef text) const override {
    std::vector<int32_t> ids;
    // Added tokens split the text (leftmost, then longest); the pieces
    // between them are normalized and tokenized on their own. lstrip /
    // rstrip tokens take the Unicode whitespace before / after them.
    size_t start = 0;
    while (true) {
      std::optional<AddedTokenMatch> match =
          findAddedToken(addedTokens, text, start);
      size_t end = match ? match->begin : text.size();
      size_t next = end;
      if (match) {
        next = match->end;
        if (lstrip.contains(match->id))
          end = skipWhiteSpaceBackward(text, end, start);
        if (rstrip.contains(match->id))
          next = skipWhiteSpaceForward(text, next);
      }
      if (end > start)
        if (llvm::Error err =
                encodeSegment(text.slice(start, end), start == 0, ids))
          return std::move(err);
      if (!match)
        break;
      ids.push_back(match->id);
      start = next;
    }
    return ids;
  }

  llvm::Expected<std::string>
  decode(llvm::ArrayRef<int32_t> ids) const override {
    std::vector<std::string> pieces;
    pieces.reserve(ids.size());
    for (int32_t id : ids) {
      if (id < 0 || static_cast<size_t>(id) >= tokens.size())
        return idError(id, getVocabSize());
      pieces.push_back(tokens[id]);
    }
    for (const DecoderStep &step : decoders)
      pieces = applyDecoder(step, std::move(pieces));
    return llvm::join(pieces, joinWithSpaces ? " " : "");
  }

  std::string normalize(StringRef segment) const {
    std::string s = segment.str();
    for (const NormalizerStep &step : normalizers) {
      switch (step.kind) {
      case NormalizerStep::Form:
        s = normalizeUnicode(s, step.form);
        break;
      case NormalizerStep::Lowercase:
        s = lowercaseUnicode(s);
        break;
      case NormalizerStep::Replace:
        s = replaceAll(s, step.pattern, step.content);
        break;
      case NormalizerStep::Prepend:
        if (!s.empty())
          s = step.content + s;
        break;
      case NormalizerStep::Strip: {
        size_t begin = step.left ? skipWhiteSpaceForward(s, 0) : 0;
        size_t end =
            step.right ? skipWhiteSpaceBackward(s, s.size(), begin) : s.size();
        s = s.substr(begin, end - begin);
        break;
      }
      case NormalizerStep::StripAccents: {
        std::string kept;
        for (size_t i = 0; i < s.size();) {
          size_t at = i;
          if (!isUnicodeMark(nextCodePoint(s, i)))
            kept.append(s, at, i - at);
        }
        s = std::move(kept);
        break;
      }
      }
    }
    return s;
  }

private:
  /// Normalizes, pre-tokenizes and tokenizes text between added tokens.
  llvm::Error encodeSegment(StringRef segment, bool atStart,
                            std::vector<int32_t> &ids) const {
    std::vector<PreToken> pieces;
    pieces.push_back({normalize(segment), atStart});
    for (const PreTokenizerStep &step : preTokenizers)
      pieces = applyPreTokenizer(step, std::move(pieces));
    for (const PreToken &p : pieces) {
      if (p.text.empty())
        continue;
      llvm::Error err = model == ModelKind::BPE ? encodeBPE(p.text, ids)
                                                : encodeUnigram(p.text, ids);
      if (err)
        return err;
    }
    return llvm::Error::success();
  }

  std::vector<PreToken> applyPreTokenizer(const PreTokenizerStep &step,
                                          std::vector<PreToken> in) const {
    std::vector<PreToken> out;
    for (PreToken &p : in) {
      if (p.text.empty())
        continue;
      std::string text = std::move(p.text);
      switch (step.kind) {
      case PreTokenizerStep::ByteLevel: {
        if (step.addPrefixSpace && text.front() != ' ')
          text.insert(0, 1, ' ');
        std::vector<StringRef> parts;
        if (step.pattern)
          parts = splitPreTokens(text, *step.pattern);
        else
          parts.push_back(text);
        for (auto [k, part] : llvm::enumerate(parts)) {
          std::string mapped;
          for (char c : part)
            mapped += alphabet[static_cast<uint8_t>(c)];
          out.push_back({std::move(mapped), p.atStart && k == 0});
        }
        break;
      }
      case PreTokenizerStep::Split:
        for (auto [k, part] :
             llvm::enumerate(splitPreTokens(text, *step.pattern)))
          out.push_back({part.str(), p.atStart && k == 0});
        break;
      case PreTokenizerStep::Metaspace: {
        text = replaceAll(text, " ", step.replacement);
        bool prepend =
            step.prepend == PreTokenizerStep::Prepend::Always ||
            (step.prepend == PreTokenizerStep::Prepend::First && p.atStart);
        if (prepend && !StringRef(text).starts_with(step.replacement))
          text.insert(0, step.replacement);
        if (!step.split) {
          out.push_back({std::move(text), p.atStart});
          break;
        }
        // Each replacement character begins a new piece.
        StringRef rest(text);
        bool first = true;
        while (!rest.empty()) {
          size_t at = rest.find(step.replacement, 1);
          out.push_back({rest.take_front(at).str(), p.atStart && first});
          rest = rest.drop_front(std::min(at, rest.size()));
          first = false;
        }
        break;
      }
      }
    }
    return out;
  }

  std::vector<std::string> applyDecoder(const DecoderStep &step,
                                        std::vector<std::string> in) const {
    std::vector<std::string> out;
    switch (step.kind) {
    case DecoderStep::ByteLevel: {
      // A token whose characters are all in the alphabet gives their
      // bytes; any other (an added token) its own text.
      std::string bytes;
      for (const std::string &token : in) {
        std::string mapped;
        bool all = true;
        for (size_t p = 0; p < token.size() && all;) {
          size_t n = std::min(utf8Length(token[p]), token.size() - p);
          auto it = alphabetInverse.find(StringRef(token).substr(p, n));
          if (it == alphabetInverse.end())
            all = false;
          else
            mapped.push_back(static_cast<char>(it->second));
          p += n;
        }
        bytes += all ? mapped : token;
      }
      out.push_back(std::move(bytes));
      return out;
    }
    case DecoderStep::Replace:
      for (std::string &token : in)
        out.push_back(replaceAll(token, step.pattern, step.content));
      return out;
    case DecoderStep::ByteFallback: {
      // Runs of <0xXX> tokens become their bytes.
      bool inBytes = false;
      for (std::string &token : in) {
        StringRef t(token);
        unsigned byte;
        if (t.size() == 6 && t.starts_with("<0x") && t.ends_with(">") &&
            !t.substr(3, 2).getAsInteger(16, byte)) {
          if (!inBytes)
            out.emplace_back();
          out.back().push_back(static_cast<char>(byte));
          inBytes = true;
          continue;
        }
        out.push_back(std::move(token));
        inBytes = false;
      }
      return out;
    }
    case DecoderStep::Fuse: {
      std::string all;
      for (const std::string &token : in)
        all += token;
      out.push_back(std::move(all));
      return out;
    }
    case DecoderStep::Strip:
      for (std::string &token : in) {
        StringRef t(token);
        for (unsigned k = 0; k < step.start && t.starts_with(step.content); ++k)
          t = t.drop_front(step.content.size());
        for (unsigned k = 0; k < step.stop && t.ends_with(step.content); ++k)
          t = t.drop_back(step.content.size());
        out.push_back(t.str());
      }
      return out;
    case DecoderStep::Metaspace:
      for (auto [i, token] : llvm::enumerate(in))
        out.push_back(replaceAll(token, step.pattern,
                                 i == 0 && step.prependFirst ? "" : " "));
      return out;
    }
    return out;
  }

  /// Merges the lowest-ranked adjacent pair of `symbols`, every occurrence
  /// left to right, until no pair merges; appends the result to `ids`.
  void mergeInto(std::vector<int32_t> symbols,
                 std::vector<int32_t> &ids) const {
    while (symbols.size() > 1) {
      int32_t bestRank = std::numeric_limits<int32_t>::max();
      std::pair<int32_t, int32_t> best{-1, -1};
      int32_t merged = -1;
      for (size_t s = 0; s + 1 < symbols.size(); ++s) {
        auto it = merges.find({symbols[s], symbols[s + 1]});
        if (it != merges.end() && it->second.first < bestRank) {
          bestRank = it->second.first;
          best = {symbols[s], symbols[s + 1]};
          merged = it->second.second;
        }
      }
      if (merged < 0)
        break;
      std::vector<int32_t> next;
      next.reserve(symbols.size());
      for (size_t s = 0; s < symbols.size(); ++s) {
        if (s + 1 < symbols.size() && symbols[s] == best.first &&
            symbols[s + 1] == best.second) {
          next.push_back(merged);
          ++s;
        } else {
          next.push_back(symbols[s]);
        }
      }
      symbols = std::move(next);
    }
    ids.insert(ids.end(), symbols.begin(), symbols.end());
  }

  /// The byte tokens of `bytes`, if every byte has one.
  bool byteFallbackInto(StringRef bytes, std::vector<int32_t> &out) const {
    if (!byteFallback || llvm::any_of(bytes, [&](char c) {
          return byteTokens[static_cast<uint8_t>(c)] < 0;
        }))
      return false;
    for (char c : bytes)
      out.push_back(byteTokens[static_cast<uint8_t>(c)]);
    return true;
  }

  /// BPE over one pre-token: one symbol per character, then the merges.
  /// A character outside the vocabulary becomes its byte tokens (byte
  /// fallback), else the unknown token, else nothing: as `tokenizers`'
  /// BPE::merge_word, an unknown character is dropped when there is no
  /// unk_token, and a pending unknown token is emitted only at the next
  /// character in the vocabulary or the end (so it fuses across, and
  /// follows, byte-fallback characters).
  llvm::Error encodeBPE(StringRef word, std::vector<int32_t> &ids) const {
    if (ignoreMerges)
      if (auto it = vocab.find(word); it != vocab.end()) {
        ids.push_back(it->second);
        return llvm::Error::success();
      }
    std::vector<int32_t> symbols;
    bool pendingUnk = false;
    for (size_t p = 0; p < word.size();) {
      size_t n = std::min(utf8Length(word[p]), word.size() - p);
      StringRef ch = word.substr(p, n);
      p += n;
      if (auto it = vocab.find(ch); it != vocab.end()) {
        if (pendingUnk)
          symbols.push_back(*unk);
        pendingUnk = false;
        symbols.push_back(it->second);
        continue;
      }
      if (byteFallbackInto(ch, symbols) || !unk)
        continue;
      if (pendingUnk && !fuseUnk)
        symbols.push_back(*unk);
      pendingUnk = true;
    }
    if (pendingUnk)
      symbols.push_back(*unk);
    mergeInto(std::move(symbols), ids);
    return llvm::Error::success();
  }

  /// Unigram over one pre-token: the segmentation of highest total score
  /// (Viterbi), a character outside the vocabulary scoring as the unknown
  /// token at the lowest score less 10; unknown runs fuse, and with byte
  /// fallback become byte tokens. Each position walks the piece trie, so
  /// it costs the length of the longest piece that starts there.
  llvm::Error encodeUnigram(StringRef word, std::vector<int32_t> &ids) const {
    struct Node {
      double score = 0;
      int64_t start = -1;
      int32_t id = -1;
    };
    const double unkScore = minScore - 10.0;
    std::vector<Node> best(word.size() + 1);
    best[0].start = 0;
    for (size_t start = 0; start < word.size();) {
      size_t charLen = std::min(utf8Length(word[start]), word.size() - start);
      double base = best[start].score;
      bool single = false;
      pieceTrie.forEachPrefix(word.substr(start), [&](size_t len, int32_t id) {
        Node &target = best[start + len];
        double candidate = base + scores[id];
        if (target.start < 0 || candidate > target.score)
          target = {candidate, static_cast<int64_t>(start), id};
        single |= len == charLen;
      });
      if (!single) {
        if (!unk)
          return fileError("tokenizer", "no token for '" +
                                            word.substr(start, charLen) +
                                            "' and no unknown token");
        Node &target = best[start + charLen];
        double candidate = base + unkScore;
        if (target.start < 0 || candidate > target.score)
          target = {candidate, static_cast<int64_t>(start), *unk};
      }
      start += charLen;
    }
    // Back from the end: the pieces, unknown runs fused.
    struct Span {
      size_t start, end;
      int32_t id;
      bool unknown;
    };
    std::vector<Span> spans; // reversed
    for (size_t end = word.size(); end > 0;) {
      const Node &node = best[end];
      size_t start = static_cast<size_t>(node.start);
      bool isUnk = unk && node.id == *unk;
      if (isUnk && !spans.empty() && spans.back().unknown)
        spans.back().start = start;
      else
        spans.push_back({start, end, node.id, isUnk});
      end = start;
    }
    for (const Span &span : llvm::reverse(spans)) {
      if (!span.unknown) {
        ids.push_back(span.id);
        continue;
      }
      StringRef piece = word.slice(span.start, span.end);
      if (std::optional<int32_t> id = pieceTrie.lookup(piece))
        ids.push_back(*id);
      else if (!byteFallbackInto(piece, ids))
        ids.push_back(*unk);
    }
    return llvm::Error::success();
  }
};
} // namespace

llvm::Error mlir::tok::parseTokenizerVocab(const llvm::json::Object &vocab,
                                           const llvm::json::Object &root,
                                           StringRef name,
                                           TokenizerVocab &out) {
  out.tokens.assign(vocab.size(), std::string());
  std::vector<bool> seen(vocab.size(), false);
  for (const auto &[key, value] : vocab) {
    std::optional<int64_t> id = value.getAsInteger();
    if (!id || *id < 0 || *id >= static_cast<int64_t>(vocab.size()))
      return fileError(name, "vocabulary entry '" + StringRef(key) +
                                 "' has id outside [0, " + Twine(vocab.size()) +
                                 ")");
    if (seen[*id])
      return fileError(name, "vocabulary id " + Twine(*id) + " is used twice");
    seen[*id] = true;
    out.tokens[*id] = StringRef(key).str();
    out.ids[StringRef(key)] = static_cast<int32_t>(*id);
  }
  out.special.assign(out.tokens.size(), false);
  return parseAddedTokens(root, name, out);
}

llvm::Error mlir::tok::parseAddedTokens(const llvm::json::Object &root,
                                        StringRef name, TokenizerVocab &out) {
  const llvm::json::Array *added = root.getArray("added_tokens");
  if (!added)
    return llvm::Error::success();
  for (const llvm::json::Value &a : *added) {
    const llvm::json::Object *obj = a.getAsObject();
    std::optional<int64_t> id = obj ? obj->getInteger("id") : std::nullopt;
    std::optional<StringRef> content =
        obj ? obj->getString("content") : std::nullopt;
    if (!id || !content || *id < 0 || content->empty())
      return fileError(name, "an added token needs an id >= 0 and "
                             "non-empty content");
    // The table grows to the id: a lying one must not size it.
    if (*id >= kMaxAddedTokenId)
      return fileError(name, "added token id " + Twine(*id) +
                                 " is beyond tok's vocabulary limit of " +
                                 Twine(kMaxAddedTokenId));
    if (*id >= static_cast<int64_t>(out.tokens.size())) {
      out.tokens.resize(*id + 1);
      out.special.resize(*id + 1);
    }
    out.tokens[*id] = content->str();
    out.ids[*content] = static_cast<int32_t>(*id);
    out.special[*id] = obj->getBoolean("special").value_or(false);
    if (obj->getBoolean("lstrip").value_or(false))
      out.lstrip.insert(static_cast<int32_t>(*id));
    if (obj->getBoolean("rstrip").value_or(false))
      out.rstrip.insert(static_cast<int32_t>(*id));
    out.added.push_back({content->str(), static_cast<int32_t>(*id)});
  }
  return llvm::Error::success();
}

/// The special tokens tokenizer.json's post-processor puts before and
/// after a single text. TemplateProcessing: the `single` template's
/// SpecialToken pieces around its Sequence A (ids from `special_tokens`);
/// BertProcessing / RobertaProcessing: cls before, sep after; ByteLevel
/// adds none; a Sequence applies its processors in turn. Others are
/// refused (they could add tokens tok would not).
static llvm::Error parsePostProcessor(const llvm::json::Value *value,
                                      const TokenizerVocab &vocab,
                                      StringRef name,
                                      std::vector<int32_t> &prefix,
                                      std::vector<int32_t> &suffix) {
  if (!value || value->kind() == llvm::json::Value::Null)
    return llvm::Error::success();
  const llvm::json::Object *obj = value->getAsObject();
  std::optional<StringRef> type = obj ? obj->getString("type") : std::nullopt;
  if (!type)
    return fileError(name, "the post_processor has no type");
  auto checkId = [&](int64_t id, StringRef token) -> llvm::Error {
    if (id < 0 || id >= static_cast<int64_t>(vocab.tokens.size()))
      return fileError(name, "the post_processor's token '" + token +
                                 "' has id " + Twine(id) +
                                 ", outside the vocabulary");
    return llvm::Error::success();
  };
  if (*type == "ByteLevel")
    return llvm::Error::success();
  if (*type == "Sequence") {
    const llvm::json::Array *members = obj->getArray("processors");
    if (!members)
      return fileError(name, "a Sequence post_processor needs 'processors'");
    for (const llvm::json::Value &m : *members)
      if (llvm::Error err = parsePostProcessor(&m, vocab, name, prefix, suffix))
        return err;
    return llvm::Error::success();
  }
  if (*type == "BertProcessing" || *type == "RobertaProcessing") {
    for (auto [key, into] :
         {std::pair<StringRef, std::vector<int32_t> *>{"cls", &prefix},
          {"sep", &suffix}}) {
      const llvm::json::Array *pair = obj->getArray(key);
      std::optional<StringRef> token =
          pair && pair->size() == 2 ? (*pair)[0].getAsString() : std::nullopt;
      std::optional<int64_t> id =
          pair && pair->size() == 2 ? (*pair)[1].getAsInteger() : std::nullopt;
      if (!token || !id)
        return fileError(name, "the " + *type + " post_processor's '" + key +
                                   "' must be [token, id]");
      if (llvm::Error err = checkId(*id, *token))
        return err;
      into->push_back(static_cast<int32_t>(*id));
    }
    return llvm::Error::success();
  }
  if (*type != "TemplateProcessing")
    return fileError(name, "post_processor type '" + *type +
                               "' is not supported (TemplateProcessing, "
                               "BertProcessing, RobertaProcessing, ByteLevel "
                               "and Sequence are)");
  const llvm::json::Array *single = obj->getArray("single");
  if (!single)
    return fileError(name, "the TemplateProcessing post_processor needs a "
                           "'single' template");
  const llvm::json::Object *specials = obj->getObject("special_tokens");
  bool afterText = false;
  for (const llvm::json::Value &piece : *single) {
    const llvm::json::Object *p = piece.getAsObject();
    if (const llvm::json::Object *seq =
            p ? p->getObject("Sequence") : nullptr) {
      if (seq->getString("id") != StringRef("A") || afterText)
        return fileError(name, "the 'single' template must hold sequence A "
                               "once");
      afterText = true;
      continue;
    }
    const llvm::json::Object *special =
        p ? p->getObject("SpecialToken") : nullptr;
    std::optional<StringRef> token =
        special ? special->getString("id") : std::nullopt;
    if (!token)
      return fileError(name, "a 'single' template piece must be a Sequence "
                             "or a SpecialToken");
    // Its ids from special_tokens, else the vocabulary's id of its text.
    std::vector<int64_t> ids;
    const llvm::json::Object *entry =
        specials ? specials->getObject(*token) : nullptr;
    if (const llvm::json::Array *list =
            entry ? entry->getArray("ids") : nullptr) {
      for (const llvm::json::Value &v : *list) {
        std::optional<int64_t> id = v.getAsInteger();
        if (!id)
          return fileError(name, "special token '" + *token +
                                     "' has a non-integer id");
        ids.push_back(*id);
      }
    } else if (auto it = vocab.ids.find(*token); it != vocab.ids.end()) {
      ids.push_back(it->second);
    } else {
      return fileError(name, "the post_processor's special token '" + *token +
                                 "' is not in the vocabulary");
    }
    for (int64_t id : ids) {
      if (llvm::Error err = checkId(id, *token))
        return err;
      (afterText ? suffix : prefix).push_back(static_cast<int32_t>(id));
    }
  }
  if (!afterText)
    return fileError(name, "the 'single' template has no sequence A");
  return llvm::Error::success();
}

/// The JSON type of a normalizer, pre-tokenizer or decoder.
static llvm::Expected<StringRef> componentType(const llvm::json::Object *obj,
                                               StringRef what, StringRef name) {
  std::optional<StringRef> type = obj ? obj->getString("type") : std::nullopt;
  if (!type)
    return fileError(name, "a " + what + " has no type");
  return *type;
}

/// The text of a Replace's String pattern (Regex patterns are refused).
static llvm::Error parseStringPattern(const llvm::json::Object &obj,
                                      StringRef what, StringRef name,
                                      std::string &pattern,
                                      std::string &content) {
  const llvm::json::Object *p = obj.getObject("pattern");
  std::optional<StringRef> s = p ? p->getString("String") : std::nullopt;
  std::optional<StringRef> c = obj.getString("content");
  if (!s || s->empty() || !c)
    return fileError(name, "the Replace " + what +
                               " needs a non-empty String pattern and a "
                               "content (Regex patterns are not supported)");
  pattern = s->str();
  content = c->str();
  return llvm::Error::success();
}

static llvm::Error parseNormalizer(const llvm::json::Value *value,
                                   StringRef name,
                                   std::vector<NormalizerStep> &out) {
  if (!value || value->kind() == llvm::json::Value::Null)
    return llvm::Error::success();
  const llvm::json::Object *obj = value->getAsObject();
  llvm::Expected<StringRef> type = componentType(obj, "normalizer", name);
  if (!type)
    return type.takeError();
  NormalizerStep step;
  if (*type == "Sequence") {
    const llvm::json::Array *members = obj->getArray("normalizers");
    if (!members)
      return fileError(name, "a Sequence normalizer needs 'normalizers'");
    for (const llvm::json::Value &m : *members)
      if (llvm::Error err = parseNormalizer(&m, name, out))
        return err;
    return llvm::Error::success();
  }
  if (*type == "NFC" || *type == "NFD" || *type == "NFKC" || *type == "NFKD") {
    step.kind = NormalizerStep::Form;
    step.form = *type == "NFC"    ? NormalizationForm::NFC
                : *type == "NFD"  ? NormalizationForm::NFD
                : *type == "NFKC" ? NormalizationForm::NFKC
                                  : NormalizationForm::NFKD;
  } else if (*type == "Lowercase") {
    step.kind = NormalizerStep::Lowercase;
  } else if (*type == "Replace") {
    step.kind = NormalizerStep::Replace;
    if (llvm::Error err = parseStringPattern(*obj, "normalizer", name,
                                             step.pattern, step.content))
      return err;
  } else if (*type == "Prepend") {
    step.kind = NormalizerStep::Prepend;
    std::optional<StringRef> prepend = obj->getString("prepend");
    if (!prepend)
      return fileError(name, "the Prepend normalizer needs 'prepend'");
    step.content = prepend->str();
  } else if (*type == "Strip") {
    step.kind = NormalizerStep::Strip;
    step.left = obj->getBoolean("strip_left").value_or(false);
    step.right = obj->getBoolean("strip_right").value_or(false);
  } else if (*type == "StripAccents") {
    step.kind = NormalizerStep::StripAccents;
  } else {
    return fileError(name, "the normalizer '" + *type +
                               "' is not supported (NFC, NFD, NFKC, NFKD, "
                               "Lowercase, Replace with a String pattern, "
                               "Prepend, Strip, StripAccents and Sequence "
                               "are)");
  }
  out.push_back(std::move(step));
  return llvm::Error::success();
}

/// Metaspace's prepend scheme (or the older add_prefix_space flag).
static llvm::Expected<PreTokenizerStep::Prepend>
parsePrependScheme(const llvm::json::Object &obj, StringRef name) {
  if (std::optional<StringRef> scheme = obj.getString("prepend_scheme")) {
    if (*scheme == "always")
      return PreTokenizerStep::Prepend::Always;
    if (*scheme == "first")
      return PreTokenizerStep::Prepend::First;
    if (*scheme == "never")
      return PreTokenizerStep::Prepend::Never;
    return fileError(name, "unknown Metaspace prepend_scheme '" + *scheme +
                               "' (always, first or never)");
  }
  return obj.getBoolean("add_prefix_space").value_or(true)
             ? PreTokenizerStep::Prepend::Always
             : PreTokenizerStep::Prepend::Never;
}

static llvm::Error parsePreTokenizer(const llvm::json::Value *value,
                                     StringRef name,
                                     std::vector<PreTokenizerStep> &out) {
  if (!value || value->kind() == llvm::json::Value::Null)
    return llvm::Error::success();
  const llvm::json::Object *obj = value->getAsObject();
  llvm::Expected<StringRef> type = componentType(obj, "pre-tokenizer", name);
  if (!type)
    return type.takeError();
  PreTokenizerStep step;
  if (*type == "Sequence") {
    const llvm::json::Array *members = obj->getArray("pretokenizers");
    if (!members)
      return fileError(name, "a Sequence pre-tokenizer needs 'pretokenizers'");
    for (const llvm::json::Value &m : *members)
      if (llvm::Error err = parsePreTokenizer(&m, name, out))
        return err;
    return llvm::Error::success();
  }
  if (*type == "ByteLevel") {
    step.kind = PreTokenizerStep::ByteLevel;
    step.addPrefixSpace = obj->getBoolean("add_prefix_space").value_or(false);
    if (obj->getBoolean("use_regex").value_or(true))
      step.pattern = SplitPattern::GPT2;
  } else if (*type == "Split") {
    step.kind = PreTokenizerStep::Split;
    const llvm::json::Object *pattern = obj->getObject("pattern");
    std::optional<StringRef> regex =
        pattern ? pattern->getString("Regex") : std::nullopt;
    step.pattern = regex ? recognizeSplitPattern(*regex) : std::nullopt;
    if (!step.pattern)
      return fileError(name, "the Split pre-tokenizer's pattern is not one "
                             "of the supported ones (GPT-2, Llama 3, "
                             "Qwen2): '" +
                                 (regex ? *regex : StringRef("?")) + "'");
    if (obj->getString("behavior").value_or("Isolated") != "Isolated" ||
        obj->getBoolean("invert").value_or(false))
      return fileError(name, "only Split pre-tokenizers with behavior "
                             "'Isolated' and no 'invert' are supported");
  } else if (*type == "Metaspace") {
    step.kind = PreTokenizerStep::Metaspace;
    step.replacement = obj->getString("replacement").value_or("\u2581").str();
    if (step.replacement.empty())
      return fileError(name, "the Metaspace replacement is empty");
    llvm::Expected<PreTokenizerStep::Prepend> scheme =
        parsePrependScheme(*obj, name);
    if (!scheme)
      return scheme.takeError();
    step.prepend = *scheme;
    step.split = obj->getBoolean("split").value_or(true);
  } else {
    return fileError(name, "the pre-tokenizer '" + *type +
                               "' is not supported (ByteLevel, Split with "
                               "the GPT-2, Llama 3 or Qwen2 pattern, "
                               "Metaspace and Sequence are)");
  }
  out.push_back(std::move(step));
  return llvm::Error::success();
}

static llvm::Error parseDecoder(const llvm::json::Value *value, StringRef name,
                                std::vector<DecoderStep> &out) {
  const llvm::json::Object *obj = value->getAsObject();
  llvm::Expected<StringRef> type = componentType(obj, "decoder", name);
  if (!type)
    return type.takeError();
  DecoderStep step;
  if (*type == "Sequence") {
    const llvm::json::Array *members = obj->getArray("decoders");
    if (!members)
      return fileError(name, "a Sequence decoder needs 'decoders'");
    for (const llvm::json::Value &m : *members)
      if (llvm::Error err = parseDecoder(&m, name, out))
        return err;
    return llvm::Error::success();
  }
  if (*type == "ByteLevel") {
    step.kind = DecoderStep::ByteLevel;
  } else if (*type == "Replace") {
    step.kind = DecoderStep::Replace;
    if (llvm::Error err = parseStringPattern(*obj, "decoder", name,
                                             step.pattern, step.content))
      return err;
  } else if (*type == "ByteFallback") {
    step.kind = DecoderStep::ByteFallback;
  } else if (*type == "Fuse") {
    step.kind = DecoderStep::Fuse;
  } else if (*type == "Strip") {
    step.kind = DecoderStep::Strip;
    std::optional<StringRef> content = obj->getString("content");
    std::optional<int64_t> start = obj->getInteger("start");
    std::optional<int64_t> stop = obj->getInteger("stop");
    if (!content || content->empty() || !start || !stop || *start < 0 ||
        *stop < 0)
      return fileError(name, "the Strip decoder needs a content, a start and "
                             "a stop");
    step.content = content->str();
    step.start = static_cast<unsigned>(*start);
    step.stop = static_cast<unsigned>(*stop);
  } else if (*type == "Metaspace") {
    step.kind = DecoderStep::Metaspace;
    step.pattern = obj->getString("replacement").value_or("\u2581").str();
    if (step.pattern.empty())
      return fileError(name, "the Metaspace replacement is empty");
    llvm::Expected<PreTokenizerStep::Prepend> scheme =
        parsePrependScheme(*obj, name);
    if (!scheme)
      return scheme.takeError();
    step.prependFirst = *scheme != PreTokenizerStep::Prepend::Never;
  } else {
    return fileError(name, "the decoder '" + *type +
                               "' is not supported (ByteLevel, Replace with "
                               "a String pattern, ByteFallback, Fuse, Strip, "
                               "Metaspace and Sequence are)");
  }
  out.push_back(std::move(step));
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// Unigram scores as serde_json reads them
//===----------------------------------------------------------------------===//
//
// `tokenizers` reads tokenizer.json with serde_json (MIT / Apache-2.0),
// whose default number parsing (its "float_roundtrip" feature off, as
// `tokenizers` builds it) is not correctly rounded. What follows is that
// algorithm, written anew from its description rather than ported:
//  - the digits accumulate into a 64-bit decimal significand while it does
//    not overflow; once it would, further integer digits each raise the
//    decimal exponent by one and further fraction digits are dropped; each
//    fraction digit kept lowers the exponent by one, and the explicit
//    exponent is added;
//  - the significand is converted to the nearest double, then multiplied
//    (exponent >= 0) or divided (exponent < 0) once by the double nearest
//    to 10^|exponent| (a table of 10^0 .. 10^308); below 10^-308 it is
//    first divided by 1e308 until the rest fits (or it reaches zero).
// The significand's conversion (above 2^53) and the scaling each round, so
// the result can be an ulp from the nearest double, and Viterbi ties (a sum
// of scores against the same scores summed in another order) follow that
// ulp. UnigramScoresAreReadAsTokenizersReadsThem pins a case.

namespace {
/// A JSON number as serde_json's default parsing splits it.
struct SerdeDecimal {
  bool negative = false;
  uint64_t significand = 0;
  int64_t exponent = 0;
};
} // namespace

/// `text` (a JSON number) split as above; std::nullopt if it is not one.
static std::optional<SerdeDecimal> splitSerdeDecimal(StringRef text) {
  SerdeDecimal d;
  d.negative = text.consume_front("-");
  bool saturated = false;
  size_t digits = 0;
  auto takeDigits = [&](bool fraction) {
    for (; !text.empty() && llvm::isDigit(text.front());
         text = text.drop_front(), ++digits) {
      uint64_t digit = static_cast<uint64_t>(text.front() - '0');
      saturated =
          saturated ||
          d.significand > (std::numeric_limits<uint64_t>::max() - digit) / 10;
      if (!saturated) {
        d.significand = d.significand * 10 + digit;
        d.exponent -= fraction ? 1 : 0;
      } else if (!fraction) {
        ++d.exponent;
      }
    }
  };
  takeDigits(/*fraction=*/false);
  if (digits == 0)
    return std::nullopt;
  if (text.consume_front("."))
    takeDigits(/*fraction=*/true);
  if (text.consume_front("e") || text.consume_front("E")) {
    bool negativeExponent = text.consume_front("-");
    if (!negativeExponent)
      text.consume_front("+");
    int64_t explicitExponent = 0;
    if (text.empty())
      return std::nullopt;
    for (; !text.empty() && llvm::isDigit(text.front());
         text = text.drop_front())
      explicitExponent = std::min<int64_t>(
          explicitExponent * 10 + (text.front() - '0'), int64_t{1} << 40);
    d.exponent += negativeExponent ? -explicitExponent : explicitExponent;
  }
  if (!text.empty())
    return std::nullopt;
  return d;
}

/// The double serde_json's default parsing makes of `d`.
static double serdeDefaultDouble(const SerdeDecimal &d) {
  static const std::array<double, 309> powersOfTen = [] {
    std::array<double, 309> table;
    for (size_t k = 0; k < table.size(); ++k)
      table[k] = std::strtod(("1e" + Twine(k)).str().c_str(), nullptr);
    return table;
  }();
  double value = static_cast<double>(d.significand);
  int64_t exponent = d.exponent;
  while (exponent < -308 && value != 0) {
    value /= 1e308;
    exponent += 308;
  }
  if (value == 0 || exponent < -308)
    value = 0;
  else if (exponent < 0)
    value /= powersOfTen[-exponent];
  else if (exponent <= 308)
    value *= powersOfTen[exponent];
  else
    value = std::numeric_limits<double>::infinity(); // serde_json: an error
  return d.negative ? -value : value;
}

/// A Unigram score as `tokenizers` reads it. llvm::json has already read
/// it correctly rounded; its decimal text is recovered as the shortest
/// that reads back to the same double, which is what tokenizer.json
/// writers (Python's repr, serde_json's ryu) print.
static double asSerdeJsonReadsIt(double value) {
  if (!std::isfinite(value) || value == 0)
    return value;
  char text[48];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(text, sizeof(text), "%.*e", digits - 1, value);
    if (std::strtod(text, nullptr) == value)
      break;
  }
  std::optional<SerdeDecimal> decimal = splitSerdeDecimal(text);
  return decimal ? serdeDefaultDouble(*decimal) : value;
}

/// Adds merge `rank`, `left` + `right`, to `tok`'s BPE; a pair merged
/// before keeps its first rank, or takes this one when `lastWins`.
static llvm::Error addMerge(HFTokenizer &tok, StringRef left, StringRef right,
                            int32_t rank, bool lastWins, StringRef name) {
  auto l = tok.vocab.find(left), r = tok.vocab.find(right);
  auto merged = tok.vocab.find((left + right).str());
  if (left.empty() || right.empty() || l == tok.vocab.end() ||
      r == tok.vocab.end() || merged == tok.vocab.end())
    return fileError(name, "merge #" + Twine(rank) + " ('" + left + "' + '" +
                               right +
                               "') does not join two vocabulary tokens "
                               "into a third");
  std::pair<int32_t, int32_t> key{l->second, r->second};
  std::pair<int32_t, int32_t> value{rank, merged->second};
  if (lastWins)
    tok.merges[key] = value;
  else
    tok.merges.try_emplace(key, value);
  return llvm::Error::success();
}

llvm::Expected<std::unique_ptr<Tokenizer>>
Tokenizer::openHuggingFace(StringRef path) {
  auto buffer = mapFile(path);
  if (!buffer)
    return buffer.takeError();
  return parseHuggingFace((*buffer)->getBuffer(), path);
}

llvm::Expected<std::unique_ptr<Tokenizer>>
Tokenizer::parseHuggingFace(StringRef json, StringRef name) {
  llvm::Expected<llvm::json::Value> parsed = parseJson(json);
  if (!parsed)
    return fileError(name,
                     "malformed JSON: " + llvm::toString(parsed.takeError()));
  const llvm::json::Object *root = parsed->getAsObject();
  const llvm::json::Object *model = root ? root->getObject("model") : nullptr;
  if (!model)
    return fileError(name, "missing the 'model' object");
  std::optional<StringRef> type = model->getString("type");
  if (type && *type == "WordPiece")
    return parseWordPieceTokenizer(*root, name);
  if (!type || (*type != "BPE" && *type != "Unigram"))
    return fileError(name, "model type '" + (type ? *type : StringRef("?")) +
                               "' is not supported (BPE, Unigram and "
                               "WordPiece are)");

  auto tok = std::make_unique<HFTokenizer>();
  tok->model = *type == "BPE" ? ModelKind::BPE : ModelKind::Unigram;
  if (llvm::Error err =
          parseNormalizer(root->get("normalizer"), name, tok->normalizers))
    return std::move(err);
  if (llvm::Error err = parsePreTokenizer(root->get("pre_tokenizer"), name,
                                          tok->preTokenizers))
    return std::move(err);
  if (const llvm::json::Value *decoder = root->get("decoder");
      decoder && decoder->kind() != llvm::json::Value::Null) {
    if (llvm::Error err = parseDecoder(decoder, name, tok->decoders))
      return std::move(err);
  } else {
    // No decoder: `tokenizers` joins the tokens' text with spaces
    // (TokenizerImpl::decode), whatever the model and pre-tokenizer.
    tok->joinWithSpaces = true;
  }

  TokenizerVocab words;
  if (tok->model == ModelKind::BPE) {
    const llvm::json::Object *vocab = model->getObject("vocab");
    if (!vocab)
      return fileError(name, "missing 'model.vocab'");
    if (llvm::Error err = parseTokenizerVocab(*vocab, *root, name, words))
      return std::move(err);
  } else {
    // Unigram: [[piece, log-probability], ...] in id order. Of equal
    // pieces the last one's id is the piece's, as `tokenizers` fills its
    // token-to-id HashMap (insert replaces); the others keep their ids
    // for decoding.
    const llvm::json::Array *vocab = model->getArray("vocab");
    if (!vocab)
      return fileError(name, "missing 'model.vocab'");
    std::vector<std::pair<StringRef, int32_t>> pieces;
    for (const llvm::json::Value &entry : *vocab) {
      const llvm::json::Array *pair = entry.getAsArray();
      std::optional<StringRef> piece =
          pair && pair->size() == 2 ? (*pair)[0].getAsString() : std::nullopt;
      std::optional<double> score =
          pair && pair->size() == 2 ? (*pair)[1].getAsNumber() : std::nullopt;
      if (!piece || !score)
        return fileError(name, "Unigram vocabulary entry #" +
                                   Twine(words.tokens.size()) +
                                   " is not [piece, score]");
      auto id = static_cast<int32_t>(words.tokens.size());
      words.ids[*piece] = id;
      pieces.push_back({*piece, id});
      words.tokens.push_back(piece->str());
      tok->scores.push_back(asSerdeJsonReadsIt(*score));
    }
    tok->pieceTrie = ByteTrie(std::move(pieces));
    tok->minScore = tok->scores.empty() ? 0.0
                                        : *std::min_element(tok->scores.begin(),
                                                            tok->scores.end());
    words.special.assign(words.tokens.size(), false);
    if (llvm::Error err = parseAddedTokens(*root, name, words))
      return std::move(err);
  }
  std::vector<int32_t> prefix, suffix;
  if (llvm::Error err = parsePostProcessor(root->get("post_processor"), words,
                                           name, prefix, suffix))
    return std::move(err);
  tok->setPromptSpecialTokens(std::move(prefix), std::move(suffix));
  tok->tokens = std::move(words.tokens);
  tok->vocab = std::move(words.ids);
  tok->addedTokens = buildAddedTokenTrie(words.added);
  tok->lstrip = std::move(words.lstrip);
  tok->rstrip = std::move(words.rstrip);
  findByteTokens(tok->vocab, tok->byteTokens);
  tok->byteFallback = model->getBoolean("byte_fallback").value_or(false);

  if (tok->model == ModelKind::Unigram) {
    if (std::optional<int64_t> unk = model->getInteger("unk_id")) {
      if (*unk < 0 || *unk >= static_cast<int64_t>(tok->scores.size()))
        return fileError(name, "the Unigram unk_id " + Twine(*unk) +
                                   " is outside the vocabulary");
      tok->unk = static_cast<int32_t>(*unk);
    }
    return std::unique_ptr<Tokenizer>(std::move(tok));
  }

  if (std::optional<StringRef> unk = model->getString("unk_token")) {
    auto it = tok->vocab.find(*unk);
    if (it == tok->vocab.end())
      return fileError(name,
                       "the unk_token '" + *unk + "' is not in the vocabulary");
    tok->unk = it->second;
  }
  tok->fuseUnk = model->getBoolean("fuse_unk").value_or(false);
  tok->ignoreMerges = model->getBoolean("ignore_merges").value_or(false);
  for (StringRef key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (std::optional<StringRef> affix = model->getString(key);
        affix && !affix->empty())
      return fileError(name, "BPE with a " + key +
                                 " is not supported (byte-level and "
                                 "SentencePiece-style BPE are)");

  // Merges: "left right" strings or [left, right] pairs, in rank order. A
  // pair listed twice keeps its last rank, as `tokenizers` collects them
  // into a HashMap.
  if (const llvm::json::Array *merges = model->getArray("merges")) {
    int32_t rank = 0;
    for (const llvm::json::Value &m : *merges) {
      StringRef left, right;
      if (std::optional<StringRef> s = m.getAsString()) {
        std::tie(left, right) = s->split(' ');
      } else if (const llvm::json::Array *pair = m.getAsArray();
                 pair && pair->size() == 2 && (*pair)[0].getAsString() &&
                 (*pair)[1].getAsString()) {
        left = *(*pair)[0].getAsString();
        right = *(*pair)[1].getAsString();
      }
      if (llvm::Error err = addMerge(*tok, left, right, rank++,
                                     /*lastWins=*/true, name))
        return std::move(err);
    }
  }
  return std::unique_ptr<Tokenizer>(std::move(tok));
}

//===----------------------------------------------------------------------===//
// llama2.c tokenizer.bin
//===----------------------------------------------------------------------===//

namespace {
class Llama2cTokenizer : public Tokenizer {
public:
  std::vector<std::string> tokens;
  std::vector<float> scores;
  llvm::StringMap<int32_t> vocab;
  /// The dummy prefix: llama2.c looks up the " " token (if any); a GGUF
  /// SentencePiece vocabulary says whether to add one.
  bool dummyPrefix = true;
  /// Byte fallback ids; -1 means 3 + byte (llama2.c's layout).
  int32_t byteTokens[256];
  /// Tokens are stored with spaces as U+2581 (SentencePiece's own text);
  /// llama2.c's export replaced them by spaces.
  bool spaceMarker = false;

  Llama2cTokenizer() {
    for (int32_t &b : byteTokens)
      b = -1;
  }

  int64_t getVocabSize() const override {
    return static_cast<int64_t>(tokens.size());
  }

  llvm::Expected<std::vector<int32_t>> encode(StringRef text) const override {
    std::vector<int32_t> ids;
    if (text.empty())
      return ids;
    std::string marked;
    if (spaceMarker) {
      // SentencePiece's own text: spaces are U+2581, and the dummy prefix
      // is one more in front.
      const char *meta = "\xe2\x96\x81";
      if (dummyPrefix)
        marked += meta;
      for (char c : text)
        marked += c == ' ' ? std::string(meta) : std::string(1, c);
      text = marked;
    } else if (auto it = vocab.find(" "); dummyPrefix && it != vocab.end()) {
      // The dummy prefix: SentencePiece's add_dummy_prefix.
      ids.push_back(it->second);
    }
    for (size_t p = 0; p < text.size();) {
      size_t n = std::min(utf8Length(text[p]), text.size() - p);
      auto it = vocab.find(text.substr(p, n));
      if (it != vocab.end()) {
        ids.push_back(it->second);
      } else {
        // Byte fallback: the <0xXX> tokens (llama2.c: ids 3 .. 258).
        for (size_t b = p; b < p + n; ++b) {
          uint8_t byte = static_cast<uint8_t>(text[b]);
          int64_t id = byteTokens[byte] >= 0 ? byteTokens[byte] : 3 + byte;
          if (id >= getVocabSize())
            return fileError("tokenizer.bin", "byte fallback for byte " +
                                                  Twine(id - 3) +
                                                  " is outside the vocabulary");
          ids.push_back(static_cast<int32_t>(id));
        }
      }
      p += n;
    }
    // Merge the adjacent pair whose merged token scores highest, one at a
    // time (ties to the leftmost), until none is in the vocabulary.
    while (true) {
      float best = -std::numeric_limits<float>::infinity();
      int64_t bestAt = -1;
      int32_t bestId = -1;
      for (size_t i = 0; i + 1 < ids.size(); ++i) {
        auto it = vocab.find(tokens[ids[i]] + tokens[ids[i + 1]]);
        if (it != vocab.end() && scores[it->second] > best) {
          best = scores[it->second];
          bestAt = static_cast<int64_t>(i);
          bestId = it->second;
        }
      }
      if (bestAt < 0)
        break;
      ids[bestAt] = bestId;
      ids.erase(ids.begin() + bestAt + 1);
    }
    return ids;
  }

  llvm::Expected<std::string>
  decode(llvm::ArrayRef<int32_t> ids) const override {
    std::string text;
    for (size_t i = 0; i < ids.size(); ++i) {
      int32_t id = ids[i];
      if (id < 0 || id >= getVocabSize())
        return idError(id, getVocabSize());
      StringRef piece = tokens[id];
      std::string spaced;
      if (spaceMarker) {
        spaced = piece.str();
        for (size_t at;
             (at = spaced.find("\xe2\x96\x81")) != std::string::npos;)
          spaced.replace(at, 3, " ");
        piece = spaced;
      }
      // The dummy prefix space of the first piece (or of the one after
      // BOS, id 1) is not text.
      if (dummyPrefix && (i == 0 || ids[i - 1] == 1) && piece.starts_with(" "))
        piece = piece.drop_front();
      unsigned byte;
      if (piece.size() == 6 && piece.starts_with("<0x") &&
          piece.ends_with(">") && !piece.substr(3, 2).getAsInteger(16, byte))
        text.push_back(static_cast<char>(byte));
      else
        text += piece;
    }
    return text;
  }
};
} // namespace

llvm::Expected<std::unique_ptr<Tokenizer>>
Tokenizer::openLlama2c(StringRef path, int64_t vocabSize) {
  auto buffer = mapFile(path);
  if (!buffer)
    return buffer.takeError();
  return parseLlama2c((*buffer)->getBuffer(), vocabSize, path);
}

llvm::Expected<std::unique_ptr<Tokenizer>>
Tokenizer::parseLlama2c(StringRef bytes, int64_t vocabSize, StringRef name) {
  if (vocabSize <= 0)
    return fileError(name, "the vocabulary size must be positive, got " +
                               Twine(vocabSize));
  auto tok = std::make_unique<Llama2cTokenizer>();
  size_t offset = 0;
  auto read = [&](void *dst, size_t n, const Twine &what) -> llvm::Error {
    if (bytes.size() - offset < n)
      return fileError(name, "truncated at byte " + Twine(offset) +
                                 " while reading " + what);
    std::memcpy(dst, bytes.data() + offset, n);
    offset += n;
    return llvm::Error::success();
  };
  int32_t maxLength;
  if (llvm::Error err = read(&maxLength, 4, "the maximum token length"))
    return std::move(err);
  if (maxLength <= 0)
    return fileError(name, "maximum token length " + Twine(maxLength) +
                               " is not positive");
  for (int64_t i = 0; i < vocabSize; ++i) {
    float score;
    int32_t length;
    if (llvm::Error err = read(&score, 4, "the score of token " + Twine(i)))
      return std::move(err);
    if (llvm::Error err = read(&length, 4, "the length of token " + Twine(i)))
      return std::move(err);
    if (length < 0 || length > maxLength)
      return fileError(name, "token " + Twine(i) + " has length " +
                                 Twine(length) + ", outside [0, " +
                                 Twine(maxLength) + "]");
    // The bytes must be there before the string is made: a lying length
    // (up to 2^31 - 1) would otherwise allocate that much per token.
    if (bytes.size() - offset < static_cast<size_t>(length))
      return fileError(name, "truncated at byte " + Twine(offset) +
                                 " while reading the text of token " +
                                 Twine(i) + " (" + Twine(length) + " bytes)");
    std::string text(bytes.data() + offset, static_cast<size_t>(length));
    offset += static_cast<size_t>(length);
    // The first of equal pieces keeps its id, as run.c's lookup finds it.
    tok->vocab.try_emplace(text, static_cast<int32_t>(i));
    tok->tokens.push_back(std::move(text));
    tok->scores.push_back(score);
  }
  if (offset != bytes.size())
    return fileError(name, Twine(bytes.size() - offset) +
                               " bytes follow the last of " + Twine(vocabSize) +
                               " tokens (wrong vocabulary size?)");
  // run.c encodes a prompt with BOS (id 1) first.
  if (vocabSize > 1)
    tok->setPromptSpecialTokens({1}, {});
  return std::unique_ptr<Tokenizer>(std::move(tok));
}

llvm::Expected<std::unique_ptr<Tokenizer>>
Tokenizer::createSentencePiece(llvm::ArrayRef<StringRef> tokens,
                               llvm::ArrayRef<double> scores,
                               bool addSpacePrefix, StringRef name) {
  if (tokens.size() != scores.size())
    return fileError(name, Twine(tokens.size()) + " tokens but " +
                               Twine(scores.size()) + " scores");
  auto tok = std::make_unique<Llama2cTokenizer>();
  tok->spaceMarker = true;
  tok->dummyPrefix = addSpacePrefix;
  for (auto [i, t] : llvm::enumerate(tokens)) {
    tok->vocab.try_emplace(t, static_cast<int32_t>(i));
    tok->tokens.push_back(t.str());
    tok->scores.push_back(static_cast<float>(scores[i]));
  }
  findByteTokens(tok->vocab, tok->byteTokens);
  if (llvm::any_of(tok->byteTokens, [](int32_t id) { return id < 0; }))
    return fileError(name, "the SentencePiece vocabulary lacks byte tokens "
                           "(<0x00> .. <0xFF>) for byte fallback");
  return std::unique_ptr<Tokenizer>(std::move(tok));
}

llvm::Expected<std::unique_ptr<Tokenizer>> Tokenizer::createByteLevelBPE(
    llvm::ArrayRef<StringRef> tokens, llvm::ArrayRef<StringRef> merges,
    SplitPattern pattern, llvm::ArrayRef<int32_t> verbatim, StringRef name) {
  auto tok = std::make_unique<HFTokenizer>();
  PreTokenizerStep split{PreTokenizerStep::Split};
  split.pattern = pattern;
  tok->preTokenizers.push_back(split);
  tok->preTokenizers.push_back({PreTokenizerStep::ByteLevel});
  tok->decoders.push_back({DecoderStep::ByteLevel});
  for (auto [i, t] : llvm::enumerate(tokens)) {
    tok->vocab.try_emplace(t, static_cast<int32_t>(i));
    tok->tokens.push_back(t.str());
  }
  std::vector<std::pair<StringRef, int32_t>> added;
  for (int32_t id : verbatim) {
    if (id < 0 || static_cast<size_t>(id) >= tokens.size())
      return fileError(name, "token id " + Twine(id) + " is out of range");
    added.push_back({tok->tokens[id], id});
  }
  tok->addedTokens = ByteTrie(std::move(added));
  // A pair listed twice keeps its first rank, as llama.cpp's bpe_ranks
  // (std::map::emplace) does.
  for (auto [rank, m] : llvm::enumerate(merges)) {
    auto [left, right] = m.split(' ');
    if (llvm::Error err =
            addMerge(*tok, left, right, static_cast<int32_t>(rank),
                     /*lastWins=*/false, name))
      return std::move(err);
  }
  return std::unique_ptr<Tokenizer>(std::move(tok));
}

//===----------------------------------------------------------------------===//
// Opening a tokenizer file of any kind
//===----------------------------------------------------------------------===//

/// The number of entries of a llama2.c tokenizer.bin (the format does not
/// store it): records of (score, length, bytes) after the maximum length.
static llvm::Expected<int64_t> countLlama2cTokens(StringRef path) {
  auto buffer = mapFile(path);
  if (!buffer)
    return buffer.takeError();
  StringRef bytes = (*buffer)->getBuffer();
  size_t offset = 4;
  int64_t count = 0;
  while (offset + 8 <= bytes.size()) {
    int32_t length;
    std::memcpy(&length, bytes.data() + offset + 4, 4);
    if (length < 0 || static_cast<size_t>(length) > bytes.size() - offset - 8)
      break;
    offset += 8 + static_cast<size_t>(length);
    ++count;
  }
  return count;
}

llvm::Expected<std::unique_ptr<Tokenizer>> Tokenizer::open(StringRef path,
                                                           int64_t vocabSize) {
  if (path.ends_with(".json")) {
    auto tok = openHuggingFace(path);
    if (!tok)
      return tok.takeError();
    // tokenizer_config.json's add_bos_token / add_eos_token decide a
    // prompt's BOS / EOS (applyTokenizerConfig).
    llvm::SmallString<256> config = llvm::sys::path::parent_path(path);
    llvm::sys::path::append(config, "tokenizer_config.json");
    if (llvm::sys::fs::exists(config))
      if (llvm::Error err = (*tok)->applyTokenizerConfig(config))
        return std::move(err);
    return tok;
  }
  auto head = llvm::MemoryBuffer::getFileSlice(path, 4, 0);
  if (path.ends_with(".gguf") ||
      (head && GgufFile::hasMagic((*head)->getBuffer()))) {
    auto file = GgufFile::open(path);
    if (!file)
      return file.takeError();
    if (!hasGgufTokenizer(**file))
      return fileError(path, "the GGUF file has no tokenizer");
    return readGgufTokenizer(**file);
  }
  if (vocabSize <= 0) {
    llvm::Expected<int64_t> count = countLlama2cTokens(path);
    if (!count)
      return count.takeError();
    vocabSize = *count;
  }
  return openLlama2c(path, vocabSize);
}
