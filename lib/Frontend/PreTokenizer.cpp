//===- PreTokenizer.cpp - regex splits of byte-level BPE ------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Each scanner tries the pattern's alternatives in order at the current
// position, as a backtracking regex engine does (leftmost-first), and takes
// the first that matches; greedy quantifiers take the longest run their
// backtracking would settle on. The patterns cover every character, so the
// pieces tile the text.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/PreTokenizer.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/ConvertUTF.h"
#include "llvm/Support/ErrorHandling.h"

#include <algorithm>

using namespace mlir::tok;
using llvm::StringRef;

namespace {
struct CodePointRange {
  uint32_t first, last;
};
struct FoldEntry {
  uint32_t cp;
  const char *utf8;
};
#include "UnicodeTables.inc"

template <size_t N>
bool inRanges(const CodePointRange (&ranges)[N], uint32_t cp) {
  const CodePointRange *it = std::upper_bound(
      std::begin(ranges), std::end(ranges), cp,
      [](uint32_t c, const CodePointRange &r) { return c < r.first; });
  return it != std::begin(ranges) && cp <= (it - 1)->last;
}

/// Not a code point: an invalid UTF-8 byte.
constexpr uint32_t kInvalid = 0xFFFFFFFF;

/// The code points of `text` and their byte offsets (plus the end).
struct Decoded {
  std::vector<uint32_t> cps;
  std::vector<size_t> offsets;

  explicit Decoded(StringRef text) {
    size_t i = 0;
    while (i < text.size()) {
      auto b0 = static_cast<unsigned char>(text[i]);
      size_t len = b0 < 0x80           ? 1
                   : (b0 >> 5) == 0x6  ? 2
                   : (b0 >> 4) == 0xe  ? 3
                   : (b0 >> 3) == 0x1e ? 4
                                       : 0;
      uint32_t cp = kInvalid;
      if (len && i + len <= text.size()) {
        cp = len == 1 ? b0 : b0 & (0x7f >> len);
        for (size_t k = 1; k < len; ++k) {
          auto b = static_cast<unsigned char>(text[i + k]);
          if ((b & 0xc0) != 0x80) {
            cp = kInvalid;
            break;
          }
          cp = (cp << 6) | (b & 0x3f);
        }
      }
      if (cp == kInvalid)
        len = 1;
      offsets.push_back(i);
      cps.push_back(cp);
      i += len;
    }
    offsets.push_back(text.size());
  }
};

class Scanner {
public:
  Scanner(const Decoded &d, SplitPattern pattern) : d(d), pattern(pattern) {}

  /// The end (code point index) of the piece that starts at `i`.
  size_t next(size_t i) const {
    if (size_t j = contraction(i))
      return j;
    return pattern == SplitPattern::GPT2 ? nextGPT2(i) : nextLlama3(i);
  }

private:
  size_t size() const { return d.cps.size(); }
  uint32_t at(size_t i) const { return d.cps[i]; }
  bool letter(size_t i) const { return i < size() && isUnicodeLetter(at(i)); }
  bool number(size_t i) const { return i < size() && isUnicodeNumber(at(i)); }
  bool space(size_t i) const {
    return i < size() && isUnicodeWhiteSpace(at(i));
  }
  bool newline(size_t i) const {
    return i < size() && (at(i) == '\r' || at(i) == '\n');
  }
  /// [^\s\p{L}\p{N}]
  bool other(size_t i) const {
    return i < size() && !space(i) && !letter(i) && !number(i);
  }
  template <typename Pred> size_t run(size_t i, Pred pred) const {
    while (pred(i))
      ++i;
    return i;
  }

  /// 's|'t|'re|'ve|'m|'ll|'d (ASCII case-insensitively after GPT-2).
  size_t contraction(size_t i) const {
    if (at(i) != '\'')
      return 0;
    for (StringRef suffix : {"s", "t", "re", "ve", "m", "ll", "d"}) {
      bool match = i + suffix.size() < size();
      for (size_t k = 0; match && k < suffix.size(); ++k) {
        uint32_t c = at(i + 1 + k);
        if (pattern != SplitPattern::GPT2 && c >= 'A' && c <= 'Z')
          c += 'a' - 'A';
        match = c == static_cast<uint32_t>(suffix[k]);
      }
      if (match)
        return i + 1 + suffix.size();
    }
    return 0;
  }

  /// \s+(?!\S)|\s+ at a whitespace character.
  size_t trailingSpace(size_t i) const {
    size_t j = run(i, [&](size_t k) { return space(k); });
    if (j == size() || j - 1 == i)
      return j;
    return j - 1; // leave the last space to the word that follows
  }

  size_t nextGPT2(size_t i) const {
    auto optionalSpaceThen = [&](auto cls) -> size_t {
      if (at(i) == ' ' && cls(i + 1))
        return run(i + 1, cls);
      if (cls(i))
        return run(i, cls);
      return 0;
    };
    if (size_t j = optionalSpaceThen([&](size_t k) { return letter(k); }))
      return j;
    if (size_t j = optionalSpaceThen([&](size_t k) { return number(k); }))
      return j;
    if (size_t j = optionalSpaceThen([&](size_t k) { return other(k); }))
      return j;
    return trailingSpace(i);
  }

  size_t nextLlama3(size_t i) const {
    auto letters = [&](size_t k) { return letter(k); };
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (!newline(i) && !letter(i) && !number(i) && letter(i + 1))
      return run(i + 1, letters);
    if (letter(i))
      return run(i, letters);
    // \p{N}{1,3} (Llama 3) or \p{N} (Qwen2)
    if (number(i)) {
      size_t limit = pattern == SplitPattern::Llama3 ? 3 : 1;
      return std::min(run(i, [&](size_t k) { return number(k); }), i + limit);
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
    auto others = [&](size_t k) { return other(k); };
    size_t j = 0;
    if (at(i) == ' ' && other(i + 1))
      j = run(i + 1, others);
    else if (other(i))
      j = run(i, others);
    if (j)
      return run(j, [&](size_t k) { return newline(k); });
    // \s*[\r\n]+: up to the last line break of the whitespace run.
    size_t end = run(i, [&](size_t k) { return space(k); });
    for (size_t p = end; p > i; --p)
      if (newline(p - 1))
        return p;
    return trailingSpace(i);
  }

  const Decoded &d;
  SplitPattern pattern;
};
} // namespace

bool mlir::tok::isUnicodeLetter(uint32_t cp) {
  if (cp < 0x80)
    return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  return inRanges(kLetterRanges, cp);
}

bool mlir::tok::isUnicodeNumber(uint32_t cp) {
  if (cp < 0x80)
    return cp >= '0' && cp <= '9';
  return inRanges(kNumberRanges, cp);
}

bool mlir::tok::isUnicodeMark(uint32_t cp) {
  return cp >= 0x300 && inRanges(kMarkRanges, cp);
}

bool mlir::tok::isUnicodePunctuation(uint32_t cp) {
  return inRanges(kPunctuationRanges, cp);
}

bool mlir::tok::isUnicodeOther(uint32_t cp) {
  return inRanges(kOtherRanges, cp);
}

bool mlir::tok::isUnicodeNonspacingMark(uint32_t cp) {
  return cp >= 0x300 && inRanges(kNonspacingMarkRanges, cp);
}

std::optional<StringRef> mlir::tok::getLowercaseStripped(uint32_t cp) {
  const FoldEntry *it =
      std::lower_bound(std::begin(kFoldTable), std::end(kFoldTable), cp,
                       [](const FoldEntry &e, uint32_t c) { return e.cp < c; });
  if (it == std::end(kFoldTable) || it->cp != cp)
    return std::nullopt;
  return StringRef(it->utf8);
}

bool mlir::tok::isUnicodeWhiteSpace(uint32_t cp) {
  switch (cp) {
  case 0x09:
  case 0x0A:
  case 0x0B:
  case 0x0C:
  case 0x0D:
  case 0x20:
  case 0x85:
  case 0xA0:
  case 0x1680:
  case 0x2028:
  case 0x2029:
  case 0x202F:
  case 0x205F:
  case 0x3000:
    return true;
  default:
    return cp >= 0x2000 && cp <= 0x200A;
  }
}

std::optional<SplitPattern> mlir::tok::recognizeSplitPattern(StringRef regex) {
  if (regex == "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| "
               "?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+")
    return SplitPattern::GPT2;
  StringRef tail = "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
                   "\\s+(?!\\S)|\\s+";
  StringRef head = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?"
                   "\\p{L}+|";
  if (regex == (llvm::Twine(head) + "\\p{N}{1,3}" + tail).str())
    return SplitPattern::Llama3;
  if (regex == (llvm::Twine(head) + "\\p{N}" + tail).str())
    return SplitPattern::Qwen2;
  return std::nullopt;
}

std::vector<StringRef> mlir::tok::splitPreTokens(StringRef text,
                                                 SplitPattern pattern) {
  Decoded d(text);
  Scanner scanner(d, pattern);
  std::vector<StringRef> pieces;
  for (size_t i = 0; i < d.cps.size();) {
    size_t j = scanner.next(i);
    pieces.push_back(text.slice(d.offsets[i], d.offsets[j]));
    i = j;
  }
  return pieces;
}

std::optional<uint32_t> mlir::tok::findUnicodeMark(StringRef text) {
  Decoded d(text);
  for (uint32_t cp : d.cps)
    if (isUnicodeMark(cp))
      return cp;
  return std::nullopt;
}
