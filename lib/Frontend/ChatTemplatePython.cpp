//===- ChatTemplatePython.cpp - Python's rules for chat templates ---------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The text and number rules of Python that Jinja's values follow, for the
// chat-template evaluator: UTF-8 code points, str.isspace / isprintable /
// splitlines, repr() of floats and strings, json.dumps of strings, the str
// methods, int() / float() of strings, round(), substring search in linear
// time, and json.loads with its dicts in order.
//
//===----------------------------------------------------------------------===//

#include "ChatTemplateDetail.h"

#include "llvm/ADT/Twine.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include <unicode/uchar.h>

namespace mlir::tok::chat_template_detail {

size_t utf8Length(unsigned char c) {
  return c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
}

/// Byte offsets of the code points of `s`, then s.size().
std::vector<size_t> charStarts(StringRef s) {
  std::vector<size_t> starts;
  for (size_t i = 0, n = s.size(); i < n;) {
    starts.push_back(i);
    i += std::min(utf8Length(s[i]), n - i);
  }
  starts.push_back(s.size());
  return starts;
}

size_t countChars(StringRef s) {
  size_t n = 0;
  for (char c : s)
    n += (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  return n;
}

/// The byte length of the whitespace code point (Python's str.isspace) at
/// byte `i` of `s`, or 0.
size_t spaceAt(StringRef s, size_t i) {
  if (i >= s.size())
    return 0;
  auto b = [&](size_t k) {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0;
  };
  unsigned char c = b(0);
  if (c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f))
    return 1;
  if (c == 0xc2 && (b(1) == 0x85 || b(1) == 0xa0))
    return 2;
  if (c == 0xe1 && b(1) == 0x9a && b(2) == 0x80)
    return 3;
  if (c == 0xe2 && b(1) == 0x80 &&
      (b(2) <= 0x8a || b(2) == 0xa8 || b(2) == 0xa9 || b(2) == 0xaf))
    return b(2) >= 0x80 ? 3 : 0;
  if (c == 0xe2 && b(1) == 0x81 && b(2) == 0x9f)
    return 3;
  if (c == 0xe3 && b(1) == 0x80 && b(2) == 0x80)
    return 3;
  return 0;
}

/// The byte length of the whitespace code point that ends at byte `end`.
size_t spaceBefore(StringRef s, size_t end) {
  for (size_t len = 1; len <= 3 && len <= end; ++len)
    if (spaceAt(s, end - len) == len)
      return len;
  return 0;
}

StringRef lstripSpace(StringRef s) {
  size_t i = 0;
  while (size_t n = spaceAt(s, i))
    i += n;
  return s.drop_front(i);
}

StringRef rstripSpace(StringRef s) {
  size_t end = s.size();
  while (size_t n = spaceBefore(s, end))
    end -= n;
  return s.take_front(end);
}

bool isAllSpace(StringRef s) { return lstripSpace(s).empty(); }

bool isAsciiAlpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isNameChar(char c) { return isAsciiAlpha(c) || isDigit(c) || c == '_'; }
char toUpper(char c) { return c >= 'a' && c <= 'z' ? c - 32 : c; }
char toLower(char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

std::string upper(StringRef s) {
  std::string r(s);
  for (char &c : r)
    c = toUpper(c);
  return r;
}
std::string lower(StringRef s) {
  std::string r(s);
  for (char &c : r)
    c = toLower(c);
  return r;
}

/// Python's repr(float): the shortest text that reads back as `v`, fixed
/// notation for exponents in [-4, 16), scientific otherwise.
std::string formatFloat(double v) {
  if (std::isnan(v))
    return "nan";
  if (std::isinf(v))
    return v < 0 ? "-inf" : "inf";
  if (v == 0)
    return std::signbit(v) ? "-0.0" : "0.0";
  char buf[64];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*e", prec - 1, v);
    if (std::strtod(buf, nullptr) == v)
      break;
  }
  StringRef s(buf);
  bool negative = s.consume_front("-");
  size_t e = s.find('e');
  int exp = std::atoi(s.data() + e + 1);
  std::string digits;
  for (char c : s.take_front(e))
    if (isDigit(c))
      digits += c;
  while (digits.size() > 1 && digits.back() == '0')
    digits.pop_back();
  std::string out = negative ? "-" : "";
  if (exp >= -4 && exp < 16) {
    if (exp >= 0) {
      size_t intLen = exp + 1;
      if (digits.size() <= intLen)
        out += digits + std::string(intLen - digits.size(), '0') + ".0";
      else
        out += digits.substr(0, intLen) + "." + digits.substr(intLen);
    } else {
      out += "0." + std::string(-exp - 1, '0') + digits;
    }
  } else {
    out += digits[0];
    if (digits.size() > 1)
      out += "." + digits.substr(1);
    char expText[16];
    std::snprintf(expText, sizeof expText, "e%c%02d", exp < 0 ? '-' : '+',
                  std::abs(exp));
    out += expText;
  }
  return out;
}

/// json.dumps of a string with ensure_ascii=False.
void jsonString(StringRef s, std::string &out) {
  out += '"';
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    default:
      if (c < 0x20) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "\\u%04x", c);
        out += hex;
      } else {
        out += ch;
      }
    }
  }
  out += '"';
}

StringRef typeName(const Value &v) {
  switch (v.kind) {
  case Kind::Undefined:
    return "Undefined";
  case Kind::None:
    return "NoneType";
  case Kind::Bool:
    return "bool";
  case Kind::Int:
    return "int";
  case Kind::Float:
    return "float";
  case Kind::String:
    return "str";
  case Kind::List:
    return v.tuple ? "tuple" : "list";
  case Kind::Dict:
    return "dict";
  case Kind::Namespace:
    return "Namespace";
  case Kind::Function:
    return "builtin_function_or_method";
  case Kind::Macro:
    return "Macro";
  case Kind::Loop:
    return "LoopContext";
  }
  return "object";
}
size_t charOffset(StringRef s, size_t k) {
  size_t i = 0;
  for (; k > 0 && i < s.size(); --k)
    i += std::min(utf8Length(s[i]), s.size() - i);
  return k == 0 ? i : StringRef::npos;
}

void appendCodePoint(uint32_t cp, std::string &out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

/// Python's str.title(): a letter after a non-letter is upper-cased, other
/// letters lower-cased (ASCII).
std::string pyTitle(StringRef s) {
  std::string r;
  bool prevLetter = false;
  for (char c : s) {
    bool letter = isAsciiAlpha(c);
    r += letter ? (prevLetter ? toLower(c) : toUpper(c)) : c;
    prevLetter = letter || (static_cast<unsigned char>(c) >= 0x80);
  }
  return r;
}

std::string pyCapitalize(StringRef s) {
  std::string r = lower(s);
  if (!r.empty())
    r[0] = toUpper(r[0]);
  return r;
}

/// The code point at byte `i` of `s` (which is valid there), its length in
/// `len`; an invalid byte is returned as itself with length 1 (and
/// `valid` false).
static uint32_t decodeAt(StringRef s, size_t i, size_t &len, bool &valid) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = b(0);
  len = 1;
  valid = true;
  if (c < 0x80)
    return c;
  size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
  if (n == 0 || c > 0xf4 || i + n > s.size()) {
    valid = false;
    return c;
  }
  uint32_t cp = c & (0x7f >> n);
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xc0) != 0x80) {
      valid = false;
      return c;
    }
    cp = cp << 6 | (b(k) & 0x3f);
  }
  static const uint32_t minimum[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < minimum[n] || cp > 0x10ffff) {
    valid = false;
    return c;
  }
  len = n;
  return cp;
}

/// Python's str.isprintable() of one code point: not in the categories
/// Cc, Cf, Cs, Co, Cn, Zl, Zp, Zs (but ' ' is printable). ICU's Unicode
/// version may differ from Python's for code points assigned lately.
static bool isPrintable(uint32_t cp) {
  if (cp == ' ')
    return true;
  switch (u_charType(static_cast<UChar32>(cp))) {
  case U_CONTROL_CHAR:
  case U_FORMAT_CHAR:
  case U_SURROGATE:
  case U_PRIVATE_USE_CHAR:
  case U_GENERAL_OTHER_TYPES: // unassigned
  case U_LINE_SEPARATOR:
  case U_PARAGRAPH_SEPARATOR:
  case U_SPACE_SEPARATOR:
    return false;
  default:
    return true;
  }
}

void reprString(StringRef s, std::string &out) {
  char quote = s.contains('\'') && !s.contains('"') ? '"' : '\'';
  out += quote;
  for (size_t i = 0; i < s.size();) {
    size_t len;
    bool valid;
    uint32_t cp = decodeAt(s, i, len, valid);
    char hex[16];
    if (!valid) {
      // Not UTF-8 (Python's strings cannot hold it): as surrogateescape
      // would show it.
      std::snprintf(hex, sizeof hex, "\\udc%02x", cp);
      out += hex;
    } else if (cp == '\\' || cp == static_cast<unsigned char>(quote)) {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (isPrintable(cp)) {
      out.append(s.data() + i, len);
    } else {
      if (cp < 0x100)
        std::snprintf(hex, sizeof hex, "\\x%02x", cp);
      else if (cp < 0x10000)
        std::snprintf(hex, sizeof hex, "\\u%04x", cp);
      else
        std::snprintf(hex, sizeof hex, "\\U%08x", cp);
      out += hex;
    }
    i += len;
  }
  out += quote;
}

size_t lineBreakAt(StringRef s, size_t i) {
  if (i >= s.size())
    return 0;
  auto b = [&](size_t k) {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0;
  };
  unsigned char c = b(0);
  if (c == '\r')
    return b(1) == '\n' ? 2 : 1;
  if (c == '\n' || c == 0x0b || c == 0x0c || (c >= 0x1c && c <= 0x1e))
    return 1;
  if (c == 0xc2 && b(1) == 0x85)
    return 2;
  if (c == 0xe2 && b(1) == 0x80 && (b(2) == 0xa8 || b(2) == 0xa9))
    return 3;
  return 0;
}

std::vector<StringRef> pySplitLines(StringRef s) {
  std::vector<StringRef> lines;
  size_t start = 0;
  for (size_t i = 0; i < s.size();) {
    if (size_t n = lineBreakAt(s, i)) {
      lines.push_back(s.slice(start, i));
      i += n;
      start = i;
    } else {
      ++i;
    }
  }
  if (start < s.size())
    lines.push_back(s.drop_front(start));
  return lines;
}

//===--- Substring search -------------------------------------------------===//

Searcher::Searcher(StringRef needle) : needle(needle) {
  if (needle.size() <= kShortNeedle)
    return;
  // Knuth-Morris-Pratt: linear time whatever the text.
  border.assign(needle.size() + 1, 0);
  size_t k = 0;
  for (size_t i = 1; i < needle.size(); ++i) {
    while (k && needle[i] != needle[k])
      k = border[k];
    if (needle[i] == needle[k])
      ++k;
    border[i + 1] = k;
  }
}

size_t Searcher::find(StringRef text, size_t from) const {
  if (needle.size() <= kShortNeedle)
    return text.find(needle, from);
  size_t k = 0;
  for (size_t i = from; i < text.size(); ++i) {
    while (k && text[i] != needle[k])
      k = border[k];
    if (text[i] == needle[k])
      ++k;
    if (k == needle.size())
      return i + 1 - k;
  }
  return StringRef::npos;
}

size_t Searcher::rfind(StringRef text) const {
  if (needle.size() <= kShortNeedle)
    return text.rfind(needle);
  size_t last = StringRef::npos;
  for (size_t i = find(text, 0); i != StringRef::npos; i = find(text, i + 1))
    last = i;
  return last;
}

//===--- str methods ------------------------------------------------------===//

std::vector<std::string> pySplit(StringRef s, const std::string *sep,
                                 int64_t maxSplit) {
  std::vector<std::string> parts;
  if (!sep) {
    size_t i = 0;
    while (true) {
      while (size_t n = spaceAt(s, i))
        i += n;
      if (i >= s.size())
        break;
      if (maxSplit >= 0 && static_cast<int64_t>(parts.size()) == maxSplit) {
        parts.push_back(rstripSpace(s.drop_front(i)).str());
        break;
      }
      size_t j = i;
      while (j < s.size() && !spaceAt(s, j))
        j += utf8Length(s[j]);
      parts.push_back(s.slice(i, j).str());
      i = j;
      if (parts.size() > kMaxItems)
        break;
    }
    return parts;
  }
  Searcher searcher(*sep);
  size_t i = 0;
  while (maxSplit < 0 || static_cast<int64_t>(parts.size()) < maxSplit) {
    size_t j = searcher.find(s, i);
    if (j == StringRef::npos || parts.size() > kMaxItems)
      break;
    parts.push_back(s.slice(i, j).str());
    i = j + sep->size();
  }
  parts.push_back(s.drop_front(i).str());
  return parts;
}

StringRef pyStrip(StringRef s, const std::string *chars, bool left,
                  bool right) {
  if (!chars) {
    if (left)
      s = lstripSpace(s);
    if (right)
      s = rstripSpace(s);
    return s;
  }
  // The set as a bitmap of code points (and of bytes that are not UTF-8):
  // linear in the length of `chars`.
  std::vector<bool> set(0x110000 + 256, false);
  auto index = [](StringRef text, size_t i, size_t &len) {
    bool valid;
    uint32_t cp = decodeAt(text, i, len, valid);
    return valid ? cp : 0x110000 + cp;
  };
  for (size_t i = 0, len; i < chars->size(); i += len)
    set[index(*chars, i, len)] = true;
  auto inSet = [&](StringRef c) {
    size_t len;
    return set[index(c, 0, len)];
  };
  size_t lo = 0, hi = s.size();
  while (left && lo < hi) {
    size_t len = std::min(utf8Length(s[lo]), hi - lo);
    if (!inSet(s.slice(lo, lo + len)))
      break;
    lo += len;
  }
  while (right && hi > lo) {
    // The last code point: back over continuation bytes to a lead byte
    // whose sequence ends at `hi`.
    size_t start = hi - 1;
    while (start > lo && hi - start < 4 &&
           (static_cast<unsigned char>(s[start]) & 0xc0) == 0x80)
      --start;
    if (start + std::min(utf8Length(s[start]), s.size() - start) != hi)
      start = hi - 1;
    if (!inSet(s.slice(start, hi)))
      break;
    hi = start;
  }
  return s.slice(lo, hi);
}

bool pyReplace(StringRef s, StringRef old, StringRef repl, int64_t count,
               std::string &out) {
  if (old.empty()) {
    std::vector<size_t> starts = charStarts(s);
    for (size_t k = 0; k + 1 < starts.size() + 1; ++k) {
      if (count < 0 || static_cast<int64_t>(k) < count)
        out += repl;
      if (k + 1 < starts.size())
        out += s.slice(starts[k], starts[k + 1]);
      if (out.size() > kMaxString)
        return false;
    }
    return true;
  }
  Searcher searcher(old);
  size_t i = 0;
  for (int64_t done = 0; count < 0 || done < count; ++done) {
    size_t j = searcher.find(s, i);
    if (j == StringRef::npos)
      break;
    out += s.slice(i, j);
    out += repl;
    if (out.size() > kMaxString)
      return false;
    i = j + old.size();
  }
  out += s.drop_front(i);
  return out.size() <= kMaxString;
}

//===--- int() and float() of strings -------------------------------------===//

/// Removes the underscores of a digit string where Python allows them
/// (single ones between digits; after a base prefix); false when one is
/// misplaced or there is no digit.
static bool dropUnderscores(StringRef digits, bool afterPrefix,
                            std::string &out) {
  if (digits.empty())
    return false;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (digits[i] != '_') {
      out += digits[i];
      continue;
    }
    bool prevOk = i > 0 ? digits[i - 1] != '_' : afterPrefix;
    if (!prevOk || i + 1 == digits.size() || digits[i + 1] == '_')
      return false;
  }
  return !out.empty();
}

NumberParse parsePyInt(StringRef text, int64_t base, int64_t &result) {
  StringRef s = rstripSpace(lstripSpace(text));
  bool negative = false;
  if (s.consume_front("-"))
    negative = true;
  else
    s.consume_front("+");
  auto prefixed = [&](char lowerLetter) {
    return s.size() >= 2 && s[0] == '0' &&
           (s[1] == lowerLetter || s[1] == lowerLetter - 32);
  };
  bool hadPrefix = false;
  if (base == 0) {
    if (prefixed('x'))
      base = 16;
    else if (prefixed('o'))
      base = 8;
    else if (prefixed('b'))
      base = 2;
    if (base != 0) {
      s = s.drop_front(2);
      hadPrefix = true;
    } else {
      base = 10;
      // Base 0 takes no leading zeros ("010"), but "0", "00", "0_0".
      if (s.size() > 1 && s[0] == '0' &&
          s.find_first_not_of("0_") != StringRef::npos)
        return NumberParse::Invalid;
    }
  } else if ((base == 16 && prefixed('x')) || (base == 8 && prefixed('o')) ||
             (base == 2 && prefixed('b'))) {
    s = s.drop_front(2);
    hadPrefix = true;
  }
  std::string digits;
  if (!dropUnderscores(s, hadPrefix, digits))
    return NumberParse::Invalid;
  __int128 value = 0;
  for (char c : digits) {
    int d = isDigit(c)             ? c - '0'
            : c >= 'a' && c <= 'z' ? c - 'a' + 10
            : c >= 'A' && c <= 'Z' ? c - 'A' + 10
                                   : 99;
    if (d >= base)
      return NumberParse::Invalid;
    value = value * base + d;
    if (value > (__int128{1} << 64))
      value = __int128{1} << 64; // past int64; keep reading the digits
  }
  if (negative)
    value = -value;
  if (value > INT64_MAX || value < INT64_MIN)
    return NumberParse::Overflow;
  result = static_cast<int64_t>(value);
  return NumberParse::Ok;
}

bool parsePyFloat(StringRef text, double &result) {
  StringRef s = rstripSpace(lstripSpace(text));
  StringRef body = s;
  bool negative = body.consume_front("-");
  if (!negative)
    body.consume_front("+");
  std::string lowered = lower(body);
  if (lowered == "inf" || lowered == "infinity" || lowered == "nan") {
    result = lowered == "nan" ? std::nan("")
                              : std::numeric_limits<double>::infinity();
    if (negative)
      result = -result;
    return true;
  }
  // digits [. digits] [e [sign] digits], underscores between digits.
  std::string clean = negative ? "-" : "";
  size_t i = 0;
  auto digitRun = [&](bool required) {
    size_t start = i;
    while (i < body.size() && (isDigit(body[i]) || body[i] == '_'))
      ++i;
    if (i == start)
      return !required;
    std::string digits;
    if (!dropUnderscores(body.slice(start, i), false, digits))
      return false;
    clean += digits;
    return true;
  };
  size_t intStart = i;
  if (!digitRun(false))
    return false;
  bool hasInt = i > intStart, hasFrac = false;
  if (i < body.size() && body[i] == '.') {
    clean += '.';
    ++i;
    size_t fracStart = i;
    if (!digitRun(false))
      return false;
    hasFrac = i > fracStart;
  }
  if (!hasInt && !hasFrac)
    return false;
  if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
    clean += 'e';
    ++i;
    if (i < body.size() && (body[i] == '+' || body[i] == '-'))
      clean += body[i++];
    if (!digitRun(true))
      return false;
  }
  if (i != body.size())
    return false;
  result = std::strtod(clean.c_str(), nullptr);
  return true;
}

//===--- round() ----------------------------------------------------------===//

bool pyRoundFloat(double x, int64_t ndigits, double &result) {
  // CPython's float.__round__: NDIGITS_MAX / NDIGITS_MIN, then the value
  // correctly rounded (half to even) at `ndigits` decimal digits.
  if (!std::isfinite(x) || ndigits > 323) {
    result = x;
    return true;
  }
  if (ndigits < -308) {
    result = 0.0 * x;
    return true;
  }
  // The exact decimal expansion of x (a double has at most 1074 digits
  // after the point).
  static thread_local char buf[1500];
  int n = std::snprintf(buf, sizeof buf, "%.1074f", std::fabs(x));
  StringRef text(buf, static_cast<size_t>(n));
  size_t point = text.find('.');
  std::string digits = (text.take_front(point) + text.drop_front(point + 1))
                           .str(); // the decimal point after `point` digits
  int64_t keep = static_cast<int64_t>(point) + ndigits;
  if (keep >= static_cast<int64_t>(digits.size())) {
    result = x;
    return true;
  }
  std::string kept = keep > 0 ? digits.substr(0, keep) : "";
  char first = keep >= 0 ? digits[keep] : '0';
  bool restNonZero =
      keep >= 0 && digits.find_first_not_of('0', keep + 1) != std::string::npos;
  bool lastOdd = !kept.empty() && (kept.back() - '0') % 2 == 1;
  if (first > '5' || (first == '5' && (restNonZero || lastOdd))) {
    size_t k = kept.size();
    while (k > 0 && kept[k - 1] == '9')
      kept[--k] = '0';
    if (k == 0)
      kept.insert(kept.begin(), '1');
    else
      ++kept[k - 1];
  }
  if (kept.empty())
    kept = "0";
  std::string number =
      (x < 0 ? "-" : "") + kept + "e" + std::to_string(-ndigits);
  result = std::strtod(number.c_str(), nullptr);
  return std::isfinite(result);
}

bool pyRoundInt(int64_t x, int64_t ndigits, int64_t &result) {
  if (ndigits >= 0) {
    result = x;
    return true;
  }
  if (ndigits < -38) {
    result = 0;
    return true;
  }
  __int128 p = 1;
  for (int64_t k = 0; k < -ndigits; ++k)
    p *= 10;
  __int128 v = x, q = v / p, r = v % p;
  if (r < 0) { // floor division
    r += p;
    --q;
  }
  if (2 * r > p || (2 * r == p && (q & 1)))
    ++q;
  __int128 rounded = q * p;
  if (rounded > INT64_MAX || rounded < INT64_MIN)
    return false;
  result = static_cast<int64_t>(rounded);
  return true;
}

//===--- JSON in order ----------------------------------------------------===//

namespace {
/// A JSON reader whose objects keep their keys' order (Python's
/// json.loads), into Values.
class OrderedJsonReader {
public:
  explicit OrderedJsonReader(StringRef text) : text(text) {}

  bool read(Value &out) {
    skipSpace();
    if (!value(out, 0))
      return false;
    skipSpace();
    if (p != text.size())
      return fail("unexpected text after the JSON value");
    return true;
  }

  std::string error;

private:
  StringRef text;
  size_t p = 0;

  bool fail(const llvm::Twine &msg) {
    if (error.empty())
      error = ("offset " + llvm::Twine(p) + ": " + msg).str();
    return false;
  }
  void skipSpace() {
    while (p < text.size() && (text[p] == ' ' || text[p] == '\t' ||
                               text[p] == '\n' || text[p] == '\r'))
      ++p;
  }
  bool literal(StringRef word) {
    if (!text.substr(p).starts_with(word))
      return fail("invalid JSON value");
    p += word.size();
    return true;
  }
  bool hex4(uint32_t &v) {
    if (p + 4 > text.size())
      return fail("truncated \\u escape");
    v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = text[p++];
      int d = isDigit(c)             ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0)
        return fail("malformed \\u escape");
      v = v << 4 | static_cast<uint32_t>(d);
    }
    return true;
  }
  bool string(std::string &out) {
    ++p; // '"'
    while (true) {
      if (p >= text.size())
        return fail("unterminated string");
      char c = text[p++];
      if (c == '"')
        return true;
      if (static_cast<unsigned char>(c) < 0x20)
        return fail("a control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (p >= text.size())
        return fail("unterminated string");
      char e = text[p++];
      switch (e) {
      case '"':
      case '\\':
      case '/':
        out += e;
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        uint32_t cp;
        if (!hex4(cp))
          return false;
        if (cp >= 0xd800 && cp < 0xdc00 && text.substr(p).starts_with("\\u")) {
          size_t save = p;
          p += 2;
          uint32_t lo;
          if (!hex4(lo))
            return false;
          if (lo >= 0xdc00 && lo < 0xe000)
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          else
            p = save;
        }
        if (cp >= 0xd800 && cp < 0xe000)
          cp = 0xfffd; // a lone surrogate: UTF-8 cannot hold it
        appendCodePoint(cp, out);
        break;
      }
      default:
        return fail("malformed escape in a string");
      }
    }
  }
  bool number(Value &out) {
    size_t start = p;
    if (p < text.size() && text[p] == '-')
      ++p;
    bool real = false;
    while (p < text.size() &&
           (isDigit(text[p]) || text[p] == '.' || text[p] == 'e' ||
            text[p] == 'E' || text[p] == '+' || text[p] == '-')) {
      real |= !isDigit(text[p]);
      ++p;
    }
    StringRef num = text.slice(start, p);
    if (num.empty() || num == "-")
      return fail("invalid JSON value");
    int64_t i;
    if (!real && !num.getAsInteger(10, i)) {
      out = mkInt(i);
      return true;
    }
    std::string s = num.str();
    char *end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size())
      return fail("malformed number");
    out = mkReal(d);
    return true;
  }
  bool value(Value &out, unsigned level) {
    if (level > kMaxValueDepth)
      return fail("values nested deeper than " + llvm::Twine(kMaxValueDepth) +
                  " levels");
    if (p >= text.size())
      return fail("unexpected end of the JSON text");
    char c = text[p];
    if (c == 'n') {
      out = mkNone();
      return literal("null");
    }
    if (c == 't') {
      out = mkBool(true);
      return literal("true");
    }
    if (c == 'f') {
      out = mkBool(false);
      return literal("false");
    }
    if (c == '"') {
      std::string s;
      if (!string(s))
        return false;
      out = mkStr(std::move(s));
      return true;
    }
    if (c == '[') {
      ++p;
      std::vector<Value> items;
      skipSpace();
      if (p < text.size() && text[p] == ']') {
        ++p;
        out = mkList(std::move(items));
        return true;
      }
      while (true) {
        skipSpace();
        items.emplace_back();
        if (!value(items.back(), level + 1))
          return false;
        skipSpace();
        if (p < text.size() && text[p] == ',') {
          ++p;
          continue;
        }
        if (p < text.size() && text[p] == ']') {
          ++p;
          break;
        }
        return fail("expected ',' or ']'");
      }
      out = mkList(std::move(items));
      return true;
    }
    if (c == '{') {
      ++p;
      auto d = std::make_shared<Dict>();
      skipSpace();
      if (p < text.size() && text[p] == '}') {
        ++p;
        out = mkDict(std::move(d));
        return true;
      }
      while (true) {
        skipSpace();
        if (p >= text.size() || text[p] != '"')
          return fail("expected a string key");
        std::string key;
        if (!string(key))
          return false;
        skipSpace();
        if (p >= text.size() || text[p] != ':')
          return fail("expected ':'");
        ++p;
        skipSpace();
        Value v;
        if (!value(v, level + 1))
          return false;
        d->set(key, std::move(v));
        skipSpace();
        if (p < text.size() && text[p] == ',') {
          ++p;
          continue;
        }
        if (p < text.size() && text[p] == '}') {
          ++p;
          break;
        }
        return fail("expected ',' or '}'");
      }
      out = mkDict(std::move(d));
      return true;
    }
    return number(out);
  }
};
} // namespace

bool parseOrderedJson(StringRef text, Value &out, std::string &error) {
  OrderedJsonReader reader(text);
  if (reader.read(out))
    return true;
  error = reader.error;
  return false;
}

} // namespace mlir::tok::chat_template_detail
