//===- Tokenizer.cpp - text <-> token ids ---------------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/Tokenizer.h"
#include "FileError.h"
#include "TokenizerVocab.h"
#include "WordPiece.h"
#include "tok/Frontend/PreTokenizer.h"
#include "tok/Support/Json.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/ConvertUTF.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdio>
#include <cstring>
#include <limits>

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

namespace {
enum class BPEMode { ByteLevel, SentencePiece };

class BPETokenizer : public Tokenizer {
public:
  BPEMode mode = BPEMode::ByteLevel;
  bool prefixSpace = false;
  /// Byte-level only: the regex split applied before BPE, if any.
  std::optional<SplitPattern> split;
  /// Byte-level only: an NFC normalizer is declared. It is not implemented:
  /// text with combining marks (which NFC may compose) is refused.
  bool nfc = false;
  std::vector<std::string> tokens; // id -> token text
  llvm::StringMap<int32_t> vocab;
  /// (left, right) -> (rank, merged id).
  llvm::DenseMap<std::pair<int32_t, int32_t>, std::pair<int32_t, int32_t>>
      merges;
  std::vector<std::pair<std::string, int32_t>> added; // longest first
  int32_t byteTokens[256];                            // <0xXX> ids, or -1
  std::vector<std::string> alphabet;                  // byte-level only
  llvm::StringMap<uint8_t> alphabetInverse;

  int64_t getVocabSize() const override {
    return static_cast<int64_t>(tokens.size());
  }

  llvm::Expected<std::vector<int32_t>> encode(StringRef text) const override {
    std::vector<int32_t> ids;
    // Added tokens split the text; the pieces between them go through BPE.
    size_t start = 0, i = 0;
    bool first = true;
    while (i <= text.size()) {
      const std::pair<std::string, int32_t> *match = nullptr;
      if (i < text.size())
        for (const auto &a : added)
          if (text.substr(i).starts_with(a.first)) {
            match = &a;
            break;
          }
      if (!match && i < text.size()) {
        ++i;
        continue;
      }
      if (i > start) {
        if (llvm::Error err = encodePiece(text.slice(start, i), first, ids))
          return std::move(err);
        first = false;
      }
      if (!match)
        break;
      ids.push_back(match->second);
      i += match->first.size();
      start = i;
    }
    return ids;
  }

  llvm::Expected<std::string>
  decode(llvm::ArrayRef<int32_t> ids) const override {
    std::string text;
    for (int32_t id : ids) {
      if (id < 0 || static_cast<size_t>(id) >= tokens.size())
        return idError(id, getVocabSize());
      StringRef token = tokens[id];
      if (mode == BPEMode::SentencePiece) {
        unsigned byte;
        if (token.size() == 6 && token.starts_with("<0x") &&
            token.ends_with(">") && !token.substr(3, 2).getAsInteger(16, byte))
          text.push_back(static_cast<char>(byte));
        else
          text += token;
        continue;
      }
      if (isAdded(id)) {
        text += token;
        continue;
      }
      for (size_t p = 0; p < token.size();) {
        size_t n = std::min(utf8Length(token[p]), token.size() - p);
        auto it = alphabetInverse.find(token.substr(p, n));
        if (it == alphabetInverse.end())
          text += token.substr(p, n); // not from the alphabet: keep as is
        else
          text.push_back(static_cast<char>(it->second));
        p += n;
      }
    }
    if (mode == BPEMode::SentencePiece) {
      std::string spaced;
      StringRef rest(text);
      const StringRef meta = "\xe2\x96\x81"; // U+2581
      while (!rest.empty()) {
        if (rest.starts_with(meta)) {
          spaced.push_back(' ');
          rest = rest.drop_front(meta.size());
        } else {
          spaced.push_back(rest.front());
          rest = rest.drop_front();
        }
      }
      if (prefixSpace && !spaced.empty() && spaced.front() == ' ')
        spaced.erase(0, 1);
      return spaced;
    }
    return text;
  }

private:
  bool isAdded(int32_t id) const {
    for (const auto &a : added)
      if (a.second == id)
        return true;
    return false;
  }

  /// Merges the lowest-ranked adjacent pair of `symbols`, every occurrence
  /// left to right, until no pair merges; appends the result to `ids`.
  /// Symbols <= -2 are byte tokens (-2 - id), which never merge.
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
    for (int32_t s : symbols)
      ids.push_back(s <= -2 ? -2 - s : s);
  }

  /// BPE over one piece of text (no added tokens inside).
  llvm::Error encodePiece(StringRef piece, bool first,
                          std::vector<int32_t> &ids) const {
    // Initial symbols: one per byte (byte-level) or per code point
    // (SentencePiece, falling back to byte tokens).
    std::vector<int32_t> symbols;
    if (mode == BPEMode::ByteLevel) {
      std::string text = (prefixSpace && first ? " " : "") + piece.str();
      if (std::optional<uint32_t> mark =
              nfc ? findUnicodeMark(text) : std::nullopt)
        return fileError("tokenizer",
                         "the text contains a combining mark (U+" +
                             llvm::utohexstr(*mark) +
                             "); this tokenizer normalizes to NFC, which "
                             "is not implemented, so its tokens could be "
                             "wrong");
      std::vector<StringRef> pieces;
      if (split)
        pieces = splitPreTokens(text, *split);
      else
        pieces.push_back(text);
      for (StringRef p : pieces) {
        symbols.clear();
        for (char c : p) {
          auto it = vocab.find(alphabet[static_cast<uint8_t>(c)]);
          if (it == vocab.end())
            return fileError(
                "tokenizer",
                "byte " + Twine(static_cast<int>(static_cast<uint8_t>(c))) +
                    " has no token in the vocabulary");
          symbols.push_back(it->second);
        }
        mergeInto(std::move(symbols), ids);
      }
      return llvm::Error::success();
    } else {
      std::string text;
      if (prefixSpace && first)
        text += "\xe2\x96\x81";
      for (char c : piece)
        text += c == ' ' ? std::string("\xe2\x96\x81") : std::string(1, c);
      for (size_t p = 0; p < text.size();) {
        size_t n = std::min(utf8Length(text[p]), text.size() - p);
        auto it = vocab.find(StringRef(text).substr(p, n));
        if (it != vocab.end()) {
          symbols.push_back(it->second);
        } else {
          for (size_t b = p; b < p + n; ++b) {
            int32_t id = byteTokens[static_cast<uint8_t>(text[b])];
            if (id < 0)
              return fileError(
                  "tokenizer",
                  "no token for byte " +
                      Twine(static_cast<int>(static_cast<uint8_t>(text[b]))) +
                      " and no byte fallback");
            // Byte tokens never merge: mark them so.
            symbols.push_back(-2 - id);
          }
        }
        p += n;
      }
    }

    mergeInto(std::move(symbols), ids);
    return llvm::Error::success();
  }
};
} // namespace

/// Whether `value` (a normalizer, pre-tokenizer or decoder) or one of its
/// `Sequence` members has type `type`; returns that member.
static const llvm::json::Object *findComponent(const llvm::json::Value *value,
                                               StringRef type) {
  const llvm::json::Object *obj = value ? value->getAsObject() : nullptr;
  if (!obj)
    return nullptr;
  std::optional<StringRef> t = obj->getString("type");
  if (t && *t == type)
    return obj;
  for (StringRef key : {"normalizers", "pretokenizers", "decoders"})
    if (const llvm::json::Array *members = obj->getArray(key))
      for (const llvm::json::Value &m : *members)
        if (const llvm::json::Object *found = findComponent(&m, type))
          return found;
  return nullptr;
}

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
    out.added.push_back({content->str(), static_cast<int32_t>(*id)});
  }
  llvm::sort(out.added, [](const auto &a, const auto &b) {
    if (a.first.size() != b.first.size())
      return a.first.size() > b.first.size();
    return a.first < b.first;
  });
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
  if (!type || *type != "BPE")
    return fileError(name, "model type '" + (type ? *type : StringRef("?")) +
                               "' is not supported (BPE and WordPiece are)");
  const llvm::json::Object *vocab = model->getObject("vocab");
  if (!vocab)
    return fileError(name, "missing 'model.vocab'");

  auto tok = std::make_unique<BPETokenizer>();
  // Mode: a ByteLevel pre-tokenizer or decoder means byte-level BPE;
  // otherwise spaces become U+2581 (SentencePiece style).
  const llvm::json::Object *byteLevel =
      findComponent(root->get("pre_tokenizer"), "ByteLevel");
  if (!byteLevel)
    byteLevel = findComponent(root->get("decoder"), "ByteLevel");
  if (byteLevel) {
    tok->mode = BPEMode::ByteLevel;
    if (byteLevel->getBoolean("use_regex").value_or(true) &&
        findComponent(root->get("pre_tokenizer"), "ByteLevel"))
      tok->split = SplitPattern::GPT2;
    if (const llvm::json::Object *splitter =
            findComponent(root->get("pre_tokenizer"), "Split")) {
      const llvm::json::Object *pattern = splitter->getObject("pattern");
      std::optional<StringRef> regex =
          pattern ? pattern->getString("Regex") : std::nullopt;
      std::optional<SplitPattern> known =
          regex ? recognizeSplitPattern(*regex) : std::nullopt;
      if (!known)
        return fileError(name, "the Split pre-tokenizer's pattern is not one "
                               "of the supported ones (GPT-2, Llama 3, "
                               "Qwen2): '" +
                                   (regex ? *regex : StringRef("?")) + "'");
      if (splitter->getString("behavior").value_or("Isolated") != "Isolated" ||
          splitter->getBoolean("invert").value_or(false))
        return fileError(name, "only Split pre-tokenizers with behavior "
                               "'Isolated' and no 'invert' are supported");
      if (tok->split)
        return fileError(name, "both a Split pre-tokenizer and the ByteLevel "
                               "regex split are declared");
      tok->split = known;
    }
    if (const llvm::json::Value *norm = root->get("normalizer");
        norm && norm->kind() != llvm::json::Value::Null) {
      const llvm::json::Object *obj = norm->getAsObject();
      std::optional<StringRef> kind =
          obj ? obj->getString("type") : std::nullopt;
      if (!kind || *kind != "NFC")
        return fileError(name, "the byte-level normalizer '" +
                                   (kind ? *kind : StringRef("?")) +
                                   "' is not supported (only NFC is)");
      tok->nfc = true;
    }
    tok->prefixSpace =
        byteLevel->getBoolean("add_prefix_space").value_or(false);
    tok->alphabet = byteLevelAlphabet();
    for (unsigned b = 0; b < 256; ++b)
      tok->alphabetInverse[tok->alphabet[b]] = static_cast<uint8_t>(b);
  } else {
    tok->mode = BPEMode::SentencePiece;
    const llvm::json::Object *metaspace =
        findComponent(root->get("pre_tokenizer"), "Metaspace");
    if (metaspace) {
      std::optional<StringRef> scheme = metaspace->getString("prepend_scheme");
      tok->prefixSpace =
          scheme ? *scheme != "never"
                 : metaspace->getBoolean("add_prefix_space").value_or(true);
    } else {
      tok->prefixSpace =
          findComponent(root->get("normalizer"), "Prepend") != nullptr;
    }
  }

  TokenizerVocab words;
  if (llvm::Error err = parseTokenizerVocab(*vocab, *root, name, words))
    return std::move(err);
  std::vector<int32_t> prefix, suffix;
  if (llvm::Error err = parsePostProcessor(root->get("post_processor"), words,
                                           name, prefix, suffix))
    return std::move(err);
  tok->setPromptSpecialTokens(std::move(prefix), std::move(suffix));
  tok->tokens = std::move(words.tokens);
  tok->vocab = std::move(words.ids);
  tok->added = std::move(words.added);

  for (int &b : tok->byteTokens)
    b = -1;
  if (tok->mode == BPEMode::SentencePiece)
    for (unsigned b = 0; b < 256; ++b) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
      auto it = tok->vocab.find(hex);
      if (it != tok->vocab.end())
        tok->byteTokens[b] = it->second;
    }

  // Merges: "left right" strings or [left, right] pairs, in rank order.
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
      auto l = tok->vocab.find(left), r = tok->vocab.find(right);
      auto merged = tok->vocab.find((left + right).str());
      if (left.empty() || right.empty() || l == tok->vocab.end() ||
          r == tok->vocab.end() || merged == tok->vocab.end())
        return fileError(name, "merge #" + Twine(rank) + " ('" + left +
                                   "' + '" + right +
                                   "') does not join two vocabulary tokens "
                                   "into a third");
      tok->merges.try_emplace({l->second, r->second},
                              std::make_pair(rank, merged->second));
      ++rank;
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
  for (unsigned b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
    auto it = tok->vocab.find(hex);
    tok->byteTokens[b] = it == tok->vocab.end() ? -1 : it->second;
  }
  if (llvm::any_of(tok->byteTokens, [](int32_t id) { return id < 0; }))
    return fileError(name, "the SentencePiece vocabulary lacks byte tokens "
                           "(<0x00> .. <0xFF>) for byte fallback");
  return std::unique_ptr<Tokenizer>(std::move(tok));
}

llvm::Expected<std::unique_ptr<Tokenizer>> Tokenizer::createByteLevelBPE(
    llvm::ArrayRef<StringRef> tokens, llvm::ArrayRef<StringRef> merges,
    SplitPattern pattern, llvm::ArrayRef<int32_t> verbatim, StringRef name) {
  auto tok = std::make_unique<BPETokenizer>();
  tok->mode = BPEMode::ByteLevel;
  tok->split = pattern;
  tok->alphabet = byteLevelAlphabet();
  for (unsigned b = 0; b < 256; ++b)
    tok->alphabetInverse[tok->alphabet[b]] = static_cast<uint8_t>(b);
  for (int &b : tok->byteTokens)
    b = -1;
  for (auto [i, t] : llvm::enumerate(tokens)) {
    tok->vocab.try_emplace(t, static_cast<int32_t>(i));
    tok->tokens.push_back(t.str());
  }
  for (int32_t id : verbatim) {
    if (id < 0 || static_cast<size_t>(id) >= tokens.size())
      return fileError(name, "token id " + Twine(id) + " is out of range");
    tok->added.push_back({tok->tokens[id], id});
  }
  llvm::sort(tok->added, [](const auto &a, const auto &b) {
    return a.first.size() > b.first.size();
  });
  for (auto [rank, m] : llvm::enumerate(merges)) {
    auto [left, right] = m.split(' ');
    auto l = tok->vocab.find(left), r = tok->vocab.find(right);
    auto merged = tok->vocab.find((left + right).str());
    if (left.empty() || right.empty() || l == tok->vocab.end() ||
        r == tok->vocab.end() || merged == tok->vocab.end())
      return fileError(name, "merge #" + Twine(rank) + " ('" + m +
                                 "') does not join two vocabulary tokens "
                                 "into a third");
    tok->merges.try_emplace(
        {l->second, r->second},
        std::make_pair(static_cast<int32_t>(rank), merged->second));
  }
  return std::unique_ptr<Tokenizer>(std::move(tok));
}
