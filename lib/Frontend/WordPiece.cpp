//===- WordPiece.cpp - BERT WordPiece tokenizers --------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// What Hugging Face's BertNormalizer, BertPreTokenizer, WordPiece model and
// BERT template post-processor do, for tokenizer.json files that use them:
//
//   normalize   drop NUL, U+FFFD and other-category (C*) characters, turn
//               white space into ' ', put spaces around CJK ideographs,
//               and for uncased models NFD + drop non-spacing marks +
//               lowercase (the Unicode tables of scripts/gen_unicode_tables)
//   split       on white space (dropped) and around every punctuation
//               character (ASCII symbols count, as in BERT)
//   wordpiece   per word, greedy longest match first, continuations with
//               the "##" prefix; a word with an unmatched rest, or longer
//               than max_input_chars_per_word, becomes [UNK]
//   template    [CLS] ids [SEP] when a post-processor is declared
//
// Added tokens ([CLS], [MASK], ...) written in the text are matched before
// normalization, as Hugging Face does for tokens with normalized = false.
//
//===----------------------------------------------------------------------===//

#include "WordPiece.h"

#include "FileError.h"
#include "TokenizerVocab.h"
#include "tok/Frontend/PreTokenizer.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/ConvertUTF.h"

using namespace mlir::tok;
using llvm::StringRef;
using llvm::Twine;

namespace {

void appendUtf8(std::string &out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

/// The code points of valid UTF-8 `text`, or an error naming the offset of
/// the first invalid byte.
llvm::Expected<std::vector<uint32_t>> decodeUtf8(StringRef text) {
  std::vector<uint32_t> cps;
  size_t i = 0;
  while (i < text.size()) {
    auto b0 = static_cast<unsigned char>(text[i]);
    size_t len = b0 < 0x80           ? 1
                 : (b0 >> 5) == 0x6  ? 2
                 : (b0 >> 4) == 0xe  ? 3
                 : (b0 >> 3) == 0x1e ? 4
                                     : 0;
    bool ok = len && i + len <= text.size();
    uint32_t cp = len == 1 ? b0 : b0 & (0x7f >> len);
    for (size_t k = 1; ok && k < len; ++k) {
      auto b = static_cast<unsigned char>(text[i + k]);
      ok = (b & 0xc0) == 0x80;
      cp = (cp << 6) | (b & 0x3f);
    }
    if (!ok || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "the text is not valid UTF-8 (byte " +
                                         Twine(i) + ")");
    cps.push_back(cp);
    i += len;
  }
  return cps;
}

bool isBertWhiteSpace(uint32_t cp) {
  return cp == '\t' || cp == '\n' || cp == '\r' || isUnicodeWhiteSpace(cp);
}

bool isBertControl(uint32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r')
    return false;
  return isUnicodeOther(cp);
}

bool isBertPunctuation(uint32_t cp) {
  bool asciiSymbol = (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) ||
                     (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
  return asciiSymbol || isUnicodePunctuation(cp);
}

/// The CJK ideograph blocks BERT isolates (not Hangul, kana or other
/// scripts of the region).
bool isCjkIdeograph(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

class WordPieceTokenizer : public Tokenizer {
public:
  llvm::StringMap<int32_t> vocab;
  std::vector<std::string> tokens;
  /// Added tokens, matched leftmost-longest.
  ByteTrie added;
  std::vector<bool> special;
  std::string prefix = "##";
  int32_t unk = -1;
  size_t maxCharsPerWord = 100;
  /// Uncased: lowercase and strip accents (always both, see the parser).
  bool lowercase = true, stripAccents = true, chineseChars = true,
       cleanText = true;
  /// [CLS] and [SEP] ids when the post-processor adds them.
  std::optional<std::pair<int32_t, int32_t>> template_;

  int64_t getVocabSize() const override { return tokens.size(); }

  llvm::Expected<std::vector<int32_t>> encode(StringRef text) const override {
    std::vector<int32_t> ids;
    if (template_)
      ids.push_back(template_->first);
    size_t start = 0;
    while (true) {
      std::optional<AddedTokenMatch> hit = findAddedToken(added, text, start);
      if (llvm::Error err = encodePlain(
              text.slice(start, hit ? hit->begin : text.size()), ids))
        return std::move(err);
      if (!hit)
        break;
      ids.push_back(hit->id);
      start = hit->end;
    }
    if (template_)
      ids.push_back(template_->second);
    return ids;
  }

  llvm::Expected<std::string>
  decode(llvm::ArrayRef<int32_t> ids) const override {
    std::string out;
    for (int32_t id : ids) {
      if (id < 0 || static_cast<size_t>(id) >= tokens.size())
        return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                       "token id " + Twine(id) +
                                           " is outside the vocabulary of " +
                                           Twine(tokens.size()));
      if (special[id])
        continue;
      StringRef t = tokens[id];
      if (t.starts_with(prefix) && !out.empty()) {
        out += t.drop_front(prefix.size());
        continue;
      }
      if (!out.empty())
        out += ' ';
      out += t;
    }
    // Hugging Face's WordPiece decoder cleanup (English spacing).
    for (auto [from, to] : {std::pair<StringRef, StringRef>{" .", "."},
                            {" ?", "?"},
                            {" !", "!"},
                            {" ,", ","},
                            {" ' ", "'"},
                            {" n't", "n't"},
                            {" 'm", "'m"},
                            {" 's", "'s"},
                            {" 've", "'ve"},
                            {" 're", "'re"}}) {
      size_t at = 0;
      while ((at = out.find(from.str(), at)) != std::string::npos) {
        out.replace(at, from.size(), to.str());
        at += to.size();
      }
    }
    return out;
  }

private:
  /// Normalizes, splits and WordPiece-encodes text without added tokens.
  llvm::Error encodePlain(StringRef text, std::vector<int32_t> &ids) const {
    llvm::Expected<std::vector<uint32_t>> cps = decodeUtf8(text);
    if (!cps)
      return cps.takeError();
    // Normalize into words: a word is a run of non-space, non-punctuation
    // code points; each punctuation character is a word of its own.
    std::vector<std::vector<uint32_t>> words(1);
    auto endWord = [&]() {
      if (!words.back().empty())
        words.emplace_back();
    };
    auto push = [&](uint32_t cp) {
      if (isBertWhiteSpace(cp)) {
        endWord();
      } else if (isBertPunctuation(cp)) {
        endWord();
        words.back().push_back(cp);
        endWord();
      } else {
        words.back().push_back(cp);
      }
    };
    std::string folded;
    for (uint32_t cp : *cps) {
      if (cleanText && (cp == 0 || cp == 0xFFFD || isBertControl(cp)))
        continue;
      if (chineseChars && isCjkIdeograph(cp)) {
        endWord();
        words.back().push_back(cp);
        endWord();
        continue;
      }
      if (!lowercase) {
        push(cp);
        continue;
      }
      if (stripAccents && cp >= 0xAC00 && cp <= 0xD7A3) {
        // Hangul syllable: NFD is the jamo sequence L V [T].
        uint32_t s = cp - 0xAC00;
        push(0x1100 + s / 588);
        push(0x1161 + (s % 588) / 28);
        if (s % 28)
          push(0x11A7 + s % 28);
        continue;
      }
      if (stripAccents && isUnicodeNonspacingMark(cp))
        continue;
      std::optional<StringRef> f = getLowercaseStripped(cp);
      if (!f) {
        push(cp);
        continue;
      }
      llvm::Expected<std::vector<uint32_t>> sub = decodeUtf8(*f);
      if (!sub)
        return sub.takeError();
      for (uint32_t c : *sub)
        push(c);
    }
    for (const std::vector<uint32_t> &word : words)
      if (!word.empty())
        encodeWord(word, ids);
    return llvm::Error::success();
  }

  void encodeWord(llvm::ArrayRef<uint32_t> word,
                  std::vector<int32_t> &ids) const {
    if (word.size() > maxCharsPerWord) {
      ids.push_back(unk);
      return;
    }
    // Byte offset of every code point, to slice the UTF-8 text.
    std::string utf8;
    std::vector<size_t> offsets;
    for (uint32_t cp : word) {
      offsets.push_back(utf8.size());
      appendUtf8(utf8, cp);
    }
    offsets.push_back(utf8.size());
    size_t firstId = ids.size();
    for (size_t start = 0; start < word.size();) {
      size_t end = word.size();
      int32_t found = -1;
      for (; end > start; --end) {
        std::string piece =
            (start ? prefix : std::string()) +
            utf8.substr(offsets[start], offsets[end] - offsets[start]);
        auto it = vocab.find(piece);
        if (it != vocab.end()) {
          found = it->second;
          break;
        }
      }
      if (found < 0) {
        ids.resize(firstId);
        ids.push_back(unk);
        return;
      }
      ids.push_back(found);
      start = end;
    }
  }
};

} // namespace

llvm::Expected<std::unique_ptr<Tokenizer>>
mlir::tok::parseWordPieceTokenizer(const llvm::json::Object &root,
                                   StringRef name) {
  const llvm::json::Object *model = root.getObject("model");
  const llvm::json::Object *vocab = model ? model->getObject("vocab") : nullptr;
  if (!vocab)
    return fileError(name, "missing 'model.vocab'");
  auto tok = std::make_unique<WordPieceTokenizer>();
  TokenizerVocab parsed;
  if (llvm::Error err = parseTokenizerVocab(*vocab, root, name, parsed))
    return std::move(err);
  tok->tokens = std::move(parsed.tokens);
  tok->vocab = std::move(parsed.ids);
  tok->added = buildAddedTokenTrie(parsed.added);
  tok->special = std::move(parsed.special);
  if (std::optional<StringRef> p =
          model->getString("continuing_subword_prefix"))
    tok->prefix = p->str();
  if (std::optional<int64_t> m = model->getInteger("max_input_chars_per_word"))
    tok->maxCharsPerWord = *m > 0 ? *m : 100;
  StringRef unk = model->getString("unk_token").value_or("[UNK]");
  auto unkIt = tok->vocab.find(unk);
  if (unkIt == tok->vocab.end())
    return fileError(name, "the unknown token '" + unk +
                               "' is not in the vocabulary");
  tok->unk = unkIt->second;

  // Normalizer: BertNormalizer (or none: the text is used as is).
  const llvm::json::Object *norm = root.getObject("normalizer");
  if (!norm) {
    tok->lowercase = tok->stripAccents = tok->chineseChars = false;
    tok->cleanText = false;
  } else {
    std::optional<StringRef> type = norm->getString("type");
    if (!type || *type != "BertNormalizer")
      return fileError(name, "WordPiece with normalizer '" +
                                 type.value_or("?") +
                                 "' is not supported (only BertNormalizer)");
    tok->lowercase = norm->getBoolean("lowercase").value_or(true);
    tok->cleanText = norm->getBoolean("clean_text").value_or(true);
    tok->chineseChars = norm->getBoolean("handle_chinese_chars").value_or(true);
    // strip_accents: null follows lowercase.
    tok->stripAccents =
        norm->getBoolean("strip_accents").value_or(tok->lowercase);
    // The Unicode tables fold case and accents together.
    if (tok->stripAccents != tok->lowercase)
      return fileError(name, "BertNormalizer with lowercase and "
                             "strip_accents set differently is not "
                             "supported");
  }
  if (const llvm::json::Object *pre = root.getObject("pre_tokenizer")) {
    std::optional<StringRef> type = pre->getString("type");
    if (!type || *type != "BertPreTokenizer")
      return fileError(name, "WordPiece with pre-tokenizer '" +
                                 type.value_or("?") +
                                 "' is not supported (only BertPreTokenizer)");
  }
  // Post-processor: BertProcessing or a template whose single form is
  // [CLS] $A [SEP] adds the two special tokens.
  if (const llvm::json::Object *post = root.getObject("post_processor")) {
    auto cls = tok->vocab.find("[CLS]"), sep = tok->vocab.find("[SEP]");
    if (cls == tok->vocab.end() || sep == tok->vocab.end())
      return fileError(name, "the post-processor needs [CLS] and [SEP] in "
                             "the vocabulary");
    std::optional<StringRef> type = post->getString("type");
    if (!type || (*type != "BertProcessing" && *type != "TemplateProcessing"))
      return fileError(name, "WordPiece with post-processor '" +
                                 type.value_or("?") + "' is not supported");
    tok->template_ = std::make_pair(cls->second, sep->second);
  }
  return std::unique_ptr<Tokenizer>(std::move(tok));
}
