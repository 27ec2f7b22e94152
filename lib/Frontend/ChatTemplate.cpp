//===- ChatTemplate.cpp - chat templates of Hugging Face models -----------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// A Jinja2 interpreter for chat templates, in three parts:
//  - a lexer that splits the source into text and the tokens of tags,
//    applying Jinja's whitespace rules on the way (a single trailing
//    newline dropped, trim_blocks, lstrip_blocks, '-' and '+' markers);
//  - a recursive-descent parser with Jinja's grammar and operator
//    precedences that builds a tree of statements and expressions, and
//    refuses unknown filters and tests as Jinja's compiler does;
//  - an evaluator over Python-like values (None, bool, int, float, str,
//    list / tuple, dict, namespace) whose str() / repr() / json.dumps text
//    is Python's, with Jinja's default Undefined for missing names.
// Every error is an llvm::Error "<name>:<line>:<column>: <problem>".
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/ChatTemplate.h"
#include "FileError.h"
#include "tok/Frontend/Gguf.h"
#include "tok/Frontend/Tokenizer.h"
#include "tok/Support/Json.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

using namespace mlir::tok;
using llvm::StringRef;
using llvm::Twine;

//===----------------------------------------------------------------------===//
// Limits
//===----------------------------------------------------------------------===//

namespace {
/// Nesting of expressions (parentheses, operators, filter chains) and of
/// statements in the source.
constexpr unsigned kMaxParseDepth = 100;
/// Nested evaluations at run time (statements, expressions, macro calls).
constexpr unsigned kMaxRunDepth = 1000;
constexpr unsigned kMaxMacroDepth = 64;
/// Nesting of list and dict values, and of values printed or compared.
constexpr unsigned kMaxValueDepth = 256;
/// Loop iterations and evaluation steps of one render.
constexpr int64_t kMaxIterations = int64_t{1} << 20;
constexpr int64_t kMaxSteps = int64_t{1} << 24;
/// Elements of one list (range(), split(), iterating a string, ...).
constexpr size_t kMaxItems = size_t{1} << 18;
/// Namespaces one render may create.
constexpr size_t kMaxNamespaces = 4096;
constexpr size_t kMaxString = ChatTemplate::kMaxOutputBytes;
} // namespace

//===----------------------------------------------------------------------===//
// Values
//===----------------------------------------------------------------------===//

namespace mlir::tok::chat_template_detail {

struct Dict;
struct Node;

enum class Kind : uint8_t {
  Undefined,
  None,
  Bool,
  Int,
  Float,
  String,
  List,
  Dict,
  Namespace,
  Function,
  Macro,
  Loop,
};

/// A Python value. Strings, lists and dicts are shared and never changed
/// once built; a namespace is shared and changes ({% set ns.x = ... %}).
struct Value {
  Kind kind = Kind::Undefined;
  bool tuple = false;  // a List that is a Python tuple
  uint16_t depth = 0;  // nesting of a List or Dict
  int64_t integer = 0; // Int, Bool (0 or 1); Loop: the index
  double real = 0;     // Float
  /// String: the text; Undefined: why (for errors); Function: its name.
  std::shared_ptr<const std::string> text;
  /// List: the elements; Function: the receiver of a method (one element);
  /// Loop: the items looped over.
  std::shared_ptr<const std::vector<Value>> items;
  std::shared_ptr<Dict> dict; // Dict, Namespace
  const Node *macro = nullptr;

  StringRef str() const { return *text; }
  const std::vector<Value> &list() const { return *items; }
  bool isNumber() const {
    return kind == Kind::Bool || kind == Kind::Int || kind == Kind::Float;
  }
  bool isInt() const { return kind == Kind::Bool || kind == Kind::Int; }
  double asReal() const { return kind == Kind::Float ? real : double(integer); }
};

/// An insertion-ordered dict with string keys.
struct Dict {
  std::vector<std::pair<std::string, Value>> entries;
  llvm::StringMap<size_t> index;

  const Value *find(StringRef key) const {
    auto it = index.find(key);
    return it == index.end() ? nullptr : &entries[it->second].second;
  }
  void set(StringRef key, Value v) {
    auto [it, inserted] = index.try_emplace(key, entries.size());
    if (inserted)
      entries.emplace_back(key.str(), std::move(v));
    else
      entries[it->second].second = std::move(v);
  }
};

} // namespace mlir::tok::chat_template_detail

using namespace mlir::tok::chat_template_detail;

namespace {

Value mkNone() {
  Value v;
  v.kind = Kind::None;
  return v;
}
Value mkBool(bool b) {
  Value v;
  v.kind = Kind::Bool;
  v.integer = b;
  return v;
}
Value mkInt(int64_t i) {
  Value v;
  v.kind = Kind::Int;
  v.integer = i;
  return v;
}
Value mkReal(double d) {
  Value v;
  v.kind = Kind::Float;
  v.real = d;
  return v;
}
Value mkStr(std::string s) {
  Value v;
  v.kind = Kind::String;
  v.text = std::make_shared<const std::string>(std::move(s));
  return v;
}
Value mkUndef(std::string why) {
  Value v;
  v.kind = Kind::Undefined;
  v.text = std::make_shared<const std::string>(std::move(why));
  return v;
}
Value mkList(std::vector<Value> items, bool tuple = false) {
  Value v;
  v.kind = Kind::List;
  v.tuple = tuple;
  unsigned d = 0;
  for (const Value &x : items)
    d = std::max<unsigned>(d, x.depth);
  v.depth = static_cast<uint16_t>(std::min(d + 1, 65535u));
  v.items = std::make_shared<const std::vector<Value>>(std::move(items));
  return v;
}
Value mkDict(std::shared_ptr<Dict> dict) {
  Value v;
  v.kind = Kind::Dict;
  unsigned d = 0;
  for (const auto &entry : dict->entries)
    d = std::max<unsigned>(d, entry.second.depth);
  v.depth = static_cast<uint16_t>(std::min(d + 1, 65535u));
  v.dict = std::move(dict);
  return v;
}
Value mkFunction(StringRef name, const Value *self = nullptr) {
  Value v;
  v.kind = Kind::Function;
  v.text = std::make_shared<const std::string>(name.str());
  if (self)
    v.items = std::make_shared<const std::vector<Value>>(1, *self);
  return v;
}

//===----------------------------------------------------------------------===//
// Text helpers: UTF-8 code points, Python's whitespace, number formatting
//===----------------------------------------------------------------------===//

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

/// Python's repr(str).
void reprString(StringRef s, std::string &out) {
  char quote = s.contains('\'') && !s.contains('"') ? '"' : '\'';
  out += quote;
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '\\' || c == static_cast<unsigned char>(quote)) {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else if (c == 0xc2 && i + 1 < s.size() &&
               (static_cast<unsigned char>(s[i + 1]) < 0xa1)) {
      // C1 controls and U+00A0 are not printable.
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x",
                    static_cast<unsigned char>(s[i + 1]));
      out += hex;
      ++i;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += quote;
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

//===----------------------------------------------------------------------===//
// Lexer
//===----------------------------------------------------------------------===//

enum class Tok {
  Data,
  VarBegin,
  VarEnd,
  BlockBegin,
  BlockEnd,
  Name,
  String,
  Int,
  Float,
  Op,
  Eof
};

struct Token {
  Tok kind;
  size_t pos;
  std::string text;
  int64_t integer = 0;
  double real = 0;
};

class Lexer {
public:
  explicit Lexer(StringRef src) : src(src) {}
  bool run();

  std::vector<Token> tokens;
  std::string error;
  size_t errorPos = 0;

private:
  StringRef src;

  bool fail(size_t pos, const Twine &msg) {
    if (error.empty()) {
      error = msg.str();
      errorPos = pos;
    }
    return false;
  }
  void push(Tok kind, size_t pos, std::string text = "") {
    tokens.push_back({kind, pos, std::move(text)});
  }
  void data(size_t pos, StringRef text) {
    if (!text.empty())
      push(Tok::Data, pos, text.str());
  }
  size_t skipSpace(size_t p) const {
    while (size_t n = spaceAt(src, p))
      p += n;
    return p;
  }
  /// Text before a tag at `tag` (marker `sign`, of kind `kind`) that
  /// starts at `pos`: '-' strips the whitespace before the tag;
  /// lstrip_blocks the spaces between a line start and a block or
  /// comment.
  StringRef stripBefore(size_t pos, size_t tag, char kind, char sign) const;
  bool lexTag(size_t &p, bool block);
  bool lexString(size_t &p);
  bool lexNumber(size_t &p);
  /// At `p` (after "{%" and a marker): a "raw %}" tag? Then reads up to
  /// its endraw and sets `p` after it.
  bool tryRaw(size_t &p, size_t tag, bool &matched);
};

StringRef Lexer::stripBefore(size_t pos, size_t tag, char kind,
                             char sign) const {
  StringRef text = src.slice(pos, tag);
  if (sign == '-')
    return rstripSpace(text);
  if (sign != '+' && kind != '{') {
    size_t l = text.rfind('\n');
    l = l == StringRef::npos ? 0 : l + 1;
    bool lineStart = l > 0 || pos == 0 || src[pos - 1] == '\n';
    if (lineStart && isAllSpace(text.drop_front(l)))
      return text.take_front(l);
  }
  return text;
}

bool Lexer::run() {
  size_t pos = 0, n = src.size();
  while (pos < n) {
    size_t i = pos;
    while (i + 1 < n &&
           !(src[i] == '{' &&
             (src[i + 1] == '{' || src[i + 1] == '%' || src[i + 1] == '#')))
      ++i;
    if (i + 1 >= n) {
      data(pos, src.drop_front(pos));
      break;
    }
    char kind = src[i + 1];
    char sign = i + 2 < n ? src[i + 2] : 0;
    data(pos, stripBefore(pos, i, kind, sign));
    size_t p = i + 2 + (sign == '-' || sign == '+');
    if (kind == '#') {
      size_t e = src.find("#}", p);
      if (e == StringRef::npos)
        return fail(i, "missing end of comment tag");
      char before = e > p ? src[e - 1] : 0;
      pos = e + 2;
      if (before == '-')
        pos = skipSpace(pos);
      else if (before != '+' && pos < n && src[pos] == '\n')
        ++pos;
      continue;
    }
    if (kind == '%') {
      bool raw = false;
      if (!tryRaw(p, i, raw))
        return false;
      if (raw) {
        pos = p;
        continue;
      }
    }
    push(kind == '{' ? Tok::VarBegin : Tok::BlockBegin, i);
    if (!lexTag(p, kind == '%'))
      return false;
    pos = p;
  }
  push(Tok::Eof, n);
  return true;
}

bool Lexer::tryRaw(size_t &p, size_t tag, bool &matched) {
  size_t n = src.size();
  size_t q = skipSpace(p);
  if (!src.substr(q).starts_with("raw") ||
      (q + 3 < n && isNameChar(src[q + 3])))
    return true;
  q = skipSpace(q + 3);
  if (src.substr(q).starts_with("-%}"))
    q = skipSpace(q + 3);
  else if (src.substr(q).starts_with("%}"))
    q += 2;
  else
    return true;
  matched = true;
  // The body ends at the first {% endraw %}.
  for (size_t j = src.find("{%", q); j != StringRef::npos;
       j = src.find("{%", j + 2)) {
    size_t k = j + 2;
    char sign = k < n ? src[k] : 0;
    if (sign == '-' || sign == '+')
      ++k;
    k = skipSpace(k);
    if (!src.substr(k).starts_with("endraw"))
      continue;
    k = skipSpace(k + 6);
    StringRef rest = src.substr(k);
    size_t end;
    if (rest.starts_with("-%}"))
      end = skipSpace(k + 3);
    else if (rest.starts_with("+%}"))
      end = k + 3;
    else if (rest.starts_with("%}"))
      end = k + 2 + (k + 2 < n && src[k + 2] == '\n');
    else
      continue;
    data(q, stripBefore(q, j, '%', sign));
    p = end;
    return true;
  }
  return fail(tag, "missing end of raw directive");
}

bool Lexer::lexTag(size_t &p, bool block) {
  size_t n = src.size();
  llvm::SmallVector<char, 16> open;
  while (true) {
    while (p < n && (src[p] == ' ' || src[p] == '\t' || src[p] == '\n' ||
                     src[p] == '\r'))
      ++p;
    if (p >= n)
      return fail(p, Twine("unexpected end of template, expected '") +
                         (block ? "%}" : "}}") + "'");
    StringRef rest = src.drop_front(p);
    if (open.empty()) {
      if (block) {
        if (rest.starts_with("-%}")) {
          push(Tok::BlockEnd, p);
          p = skipSpace(p + 3);
          return true;
        }
        if (rest.starts_with("+%}")) {
          push(Tok::BlockEnd, p);
          p += 3;
          return true;
        }
        if (rest.starts_with("%}")) {
          push(Tok::BlockEnd, p);
          p += 2;
          if (p < n && src[p] == '\n')
            ++p; // trim_blocks
          return true;
        }
      } else {
        if (rest.starts_with("-}}")) {
          push(Tok::VarEnd, p);
          p = skipSpace(p + 3);
          return true;
        }
        if (rest.starts_with("}}")) {
          push(Tok::VarEnd, p);
          p += 2;
          return true;
        }
      }
    }
    char c = src[p];
    if (isAsciiAlpha(c) || c == '_') {
      size_t s = p;
      while (p < n && isNameChar(src[p]))
        ++p;
      push(Tok::Name, s, src.slice(s, p).str());
      continue;
    }
    if (isDigit(c)) {
      if (!lexNumber(p))
        return false;
      continue;
    }
    if (c == '\'' || c == '"') {
      if (!lexString(p))
        return false;
      continue;
    }
    static const char *const ops[] = {
        "//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<",
        ">",  "=",  ".",  ",",  ":",  "|",  "(", ")", "[", "]", "{", "}"};
    StringRef op;
    for (const char *o : ops)
      if (rest.starts_with(o)) {
        op = o;
        break;
      }
    if (op.empty())
      return fail(p, Twine("unexpected character '") + Twine(c) + "'");
    if (op == "(" || op == "[" || op == "{") {
      open.push_back(op[0]);
    } else if (op == ")" || op == "]" || op == "}") {
      char want = op == ")" ? '(' : op == "]" ? '[' : '{';
      if (open.empty() || open.back() != want)
        return fail(p, "unexpected '" + op + "'");
      open.pop_back();
    }
    push(Tok::Op, p, op.str());
    p += op.size();
  }
}

bool Lexer::lexNumber(size_t &p) {
  size_t n = src.size(), s = p;
  auto digits = [&] {
    while (p < n && (isDigit(src[p]) ||
                     (src[p] == '_' && p + 1 < n && isDigit(src[p + 1]))))
      ++p;
  };
  digits();
  bool isFloat = false;
  if (p + 1 < n && src[p] == '.' && isDigit(src[p + 1])) {
    isFloat = true;
    ++p;
    digits();
  }
  if (p < n && (src[p] == 'e' || src[p] == 'E')) {
    size_t q = p + 1;
    if (q < n && (src[q] == '+' || src[q] == '-'))
      ++q;
    if (q < n && isDigit(src[q])) {
      isFloat = true;
      p = q;
      digits();
    }
  }
  std::string text;
  for (char c : src.slice(s, p))
    if (c != '_')
      text += c;
  Token t{isFloat ? Tok::Float : Tok::Int, s, text};
  if (isFloat) {
    t.real = std::strtod(text.c_str(), nullptr);
  } else if (StringRef(text).getAsInteger(10, t.integer)) {
    return fail(s, "integer literal " + text + " is too large");
  }
  tokens.push_back(std::move(t));
  return true;
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

/// A string literal, with Python's escapes (Jinja decodes them as
/// "unicode-escape"); unknown escapes stay as written.
bool Lexer::lexString(size_t &p) {
  size_t n = src.size(), s = p;
  char quote = src[p++];
  std::string text;
  auto hex = [&](size_t count, uint32_t &cp) {
    if (p + count > n)
      return false;
    cp = 0;
    for (size_t k = 0; k < count; ++k) {
      char c = src[p + k];
      unsigned d = isDigit(c)               ? c - '0'
                   : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                   : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                            : 16;
      if (d == 16)
        return false;
      cp = cp * 16 + d;
    }
    p += count;
    return true;
  };
  while (true) {
    if (p >= n)
      return fail(s, "unterminated string");
    char c = src[p];
    if (c == quote) {
      ++p;
      break;
    }
    if (c != '\\' || p + 1 >= n) {
      text += c;
      ++p;
      continue;
    }
    char e = src[p + 1];
    p += 2;
    uint32_t cp = 0;
    switch (e) {
    case '\n':
      break;
    case '\\':
    case '\'':
    case '"':
      text += e;
      break;
    case 'n':
      text += '\n';
      break;
    case 't':
      text += '\t';
      break;
    case 'r':
      text += '\r';
      break;
    case 'a':
      text += '\a';
      break;
    case 'b':
      text += '\b';
      break;
    case 'f':
      text += '\f';
      break;
    case 'v':
      text += '\v';
      break;
    case 'x':
    case 'u':
    case 'U':
      if (!hex(e == 'x' ? 2 : e == 'u' ? 4 : 8, cp) || cp > 0x10ffff)
        return fail(p, "malformed \\" + Twine(e) + " escape in a string");
      appendCodePoint(cp, text);
      break;
    default:
      if (e >= '0' && e <= '7') {
        cp = e - '0';
        for (int k = 0; k < 2 && p < n && src[p] >= '0' && src[p] <= '7'; ++k)
          cp = cp * 8 + (src[p++] - '0');
        appendCodePoint(cp, text);
      } else {
        text += '\\';
        text += e;
      }
    }
  }
  push(Tok::String, s, std::move(text));
  return true;
}

} // namespace

//===----------------------------------------------------------------------===//
// Syntax tree
//===----------------------------------------------------------------------===//

namespace mlir::tok::chat_template_detail {

enum class ExprKind {
  Literal,
  Name,
  List,
  Tuple,
  Dict,
  Attr,
  Item,
  Slice,
  Call,
  Filter,
  Test,
  Neg,
  Pos,
  Not,
  And,
  Or,
  Cond,
  Compare,
  Concat,
  Binary,
};

struct Expr {
  ExprKind kind;
  size_t pos;
  unsigned depth = 1;
  Value value;      // Literal
  std::string name; // Name, Attr, Filter, Test, Binary's operator
  /// Operands: the object, callee or filtered value first; Slice: object,
  /// start, stop, step (null when left out); Dict: key, value, ...
  std::vector<std::unique_ptr<Expr>> args;
  std::vector<std::pair<std::string, std::unique_ptr<Expr>>> kwargs;
  std::vector<std::string> ops; // Compare
  bool negated = false;         // Test: "is not"
};
using ExprPtr = std::unique_ptr<Expr>;

enum class NodeKind {
  Text,
  Output,
  If,
  For,
  Set,
  SetBlock,
  Macro,
  Break,
  Continue,
  Block,
};

struct Node {
  NodeKind kind;
  size_t pos;
  std::string text;               // Text; Macro: its name
  std::vector<std::string> names; // For, Set: targets; Macro: parameters
  std::string attr;               // Set of a namespace attribute
  ExprPtr expr;                   // Output, Set: the value; For: the iterable
  ExprPtr filter;                 // For: its `if`
  /// If: one condition per branch (null for else); Macro: defaults.
  std::vector<ExprPtr> conds;
  /// If: the branches; For: body, else; Block, SetBlock, Macro: body.
  std::vector<std::vector<std::unique_ptr<Node>>> bodies;
};
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Program {
  std::string name;
  std::vector<size_t> lineStarts;
  Body body;

  std::string location(size_t pos) const {
    size_t line = std::upper_bound(lineStarts.begin(), lineStarts.end(), pos) -
                  lineStarts.begin();
    size_t col = pos - lineStarts[line - 1] + 1;
    return name + ":" + std::to_string(line) + ":" + std::to_string(col);
  }
};

} // namespace mlir::tok::chat_template_detail

//===----------------------------------------------------------------------===//
// Parser
//===----------------------------------------------------------------------===//

namespace {

const char *const kFilters[] = {
    "abs",         "capitalize", "count",    "d",         "default",
    "e",           "escape",     "first",    "float",     "indent",
    "int",         "items",      "join",     "last",      "length",
    "list",        "lower",      "map",      "reject",    "rejectattr",
    "replace",     "reverse",    "round",    "safe",      "select",
    "selectattr",  "string",     "title",    "tojson",    "trim",
    "upper",       "unique",     "sum",      "wordcount", "min",
    "max",         "dictsort",   "sort",     "batch",     "center",
    "format",      "pprint",     "slice",    "striptags", "truncate",
    "urlencode",   "urlize",     "wordwrap", "xmlattr",   "filesizeformat",
    "forceescape", "groupby",    "attr",     "random"};
const char *const kUnsupportedFilters[] = {
    "unique",    "sum",      "wordcount",      "min",
    "max",       "dictsort", "sort",           "batch",
    "center",    "format",   "pprint",         "slice",
    "striptags", "truncate", "urlencode",      "urlize",
    "wordwrap",  "xmlattr",  "filesizeformat", "forceescape",
    "groupby",   "attr",     "random"};
const char *const kTests[] = {
    "defined", "undefined", "none",    "string",   "number",      "integer",
    "float",   "boolean",   "mapping", "iterable", "sequence",    "callable",
    "true",    "false",     "odd",     "even",     "divisibleby", "eq",
    "equalto", "==",        "ne",      "!=",       "lt",          "lessthan",
    "<",       "le",        "<=",      "gt",       "greaterthan", ">",
    "ge",      ">=",        "in",      "sameas",   "lower",       "upper",
    "escaped", "filter",    "test"};

bool contains(llvm::ArrayRef<const char *> list, StringRef name) {
  return llvm::any_of(list, [&](const char *s) { return name == s; });
}

class Parser {
public:
  explicit Parser(const std::vector<Token> &tokens) : toks(tokens) {}
  bool parseTemplate(Body &out) {
    std::string end;
    return subparse(out, {}, end);
  }

  std::string error;
  size_t errorPos = 0;

private:
  const std::vector<Token> &toks;
  size_t i = 0;
  /// Nesting of expressions and of statements, and enclosing loops.
  unsigned depth = 0, statements = 0, loops = 0;

  struct Guard {
    unsigned &d;
    explicit Guard(unsigned &d) : d(d) { ++d; }
    ~Guard() { --d; }
  };

  const Token &cur() const { return toks[i]; }
  const Token &peek(size_t k = 1) const {
    return toks[std::min(i + k, toks.size() - 1)];
  }
  bool isOp(StringRef op) const {
    return cur().kind == Tok::Op && cur().text == op;
  }
  bool isName(StringRef name) const {
    return cur().kind == Tok::Name && cur().text == name;
  }
  bool skipOp(StringRef op) {
    if (!isOp(op))
      return false;
    ++i;
    return true;
  }
  bool skipName(StringRef name) {
    if (!isName(name))
      return false;
    ++i;
    return true;
  }

  static std::string describe(const Token &t) {
    switch (t.kind) {
    case Tok::Data:
      return "template text";
    case Tok::VarBegin:
      return "'{{'";
    case Tok::VarEnd:
      return "end of print statement";
    case Tok::BlockBegin:
      return "'{%'";
    case Tok::BlockEnd:
      return "end of statement block";
    case Tok::String:
      return "a string";
    case Tok::Eof:
      return "end of template";
    default:
      return "'" + t.text + "'";
    }
  }

  bool fail(size_t pos, const Twine &msg) {
    if (error.empty()) {
      error = msg.str();
      errorPos = pos;
    }
    return false;
  }
  bool expected(const Twine &what) {
    return fail(cur().pos, "expected " + what + ", got " + describe(cur()));
  }
  bool expectOp(StringRef op) { return skipOp(op) || expected("'" + op + "'"); }
  bool expectBlockEnd() {
    if (cur().kind == Tok::BlockEnd) {
      ++i;
      return true;
    }
    return expected("end of statement block");
  }

  ExprPtr make(ExprKind kind, size_t pos) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->pos = pos;
    return e;
  }
  /// Computes the depth of `e` from its operands; null when too deep.
  ExprPtr seal(ExprPtr e) {
    unsigned d = 0;
    for (const ExprPtr &a : e->args)
      if (a)
        d = std::max(d, a->depth);
    for (const auto &kw : e->kwargs)
      d = std::max(d, kw.second->depth);
    e->depth = d + 1;
    if (e->depth > kMaxParseDepth) {
      fail(e->pos, "expression nested deeper than " + Twine(kMaxParseDepth) +
                       " levels");
      return nullptr;
    }
    return e;
  }

  bool subparse(Body &out, llvm::ArrayRef<StringRef> ends, std::string &end);
  bool parseStatement(Body &out);
  bool parseIf(Body &out);
  bool parseFor(Body &out);
  bool parseSet(Body &out);
  bool parseMacro(Body &out);
  bool parseTargets(std::vector<std::string> &names, std::string *attr);

  ExprPtr parseTuple(bool withCondExpr = true, bool explicitParens = false,
                     StringRef extraEnd = "");
  ExprPtr parseExpression(bool withCondExpr = true);
  ExprPtr parseCondExpr();
  ExprPtr parseOr();
  ExprPtr parseAnd();
  ExprPtr parseNot();
  ExprPtr parseCompare();
  ExprPtr parseMath1();
  ExprPtr parseConcat();
  ExprPtr parseMath2();
  ExprPtr parsePow();
  ExprPtr parseUnary(bool withFilter = true);
  ExprPtr parsePrimary();
  ExprPtr parsePostfix(ExprPtr node);
  ExprPtr parseFilterExpr(ExprPtr node);
  ExprPtr parseSubscript(ExprPtr node);
  ExprPtr parseSubscribed();
  bool parseCallArgs(Expr &call);
  ExprPtr parseFilter(ExprPtr node);
  ExprPtr parseTest(ExprPtr node);
  ExprPtr binary(ExprKind kind, StringRef op, ExprPtr left, ExprPtr right,
                 size_t pos) {
    ExprPtr e = make(kind, pos);
    e->name = op.str();
    e->args.push_back(std::move(left));
    e->args.push_back(std::move(right));
    return seal(std::move(e));
  }
};

bool Parser::subparse(Body &out, llvm::ArrayRef<StringRef> ends,
                      std::string &end) {
  Guard guard(statements);
  if (statements > kMaxParseDepth)
    return fail(cur().pos, "statements nested deeper than " +
                               Twine(kMaxParseDepth) + " levels");
  while (true) {
    const Token &t = cur();
    switch (t.kind) {
    case Tok::Eof:
      if (!ends.empty()) {
        std::string list;
        for (StringRef e : ends)
          list += (list.empty() ? "'" : " or '") + e.str() + "'";
        return fail(t.pos, "unexpected end of template, expected " + list);
      }
      return true;
    case Tok::Data: {
      auto node = std::make_unique<Node>();
      node->kind = NodeKind::Text;
      node->pos = t.pos;
      node->text = t.text;
      out.push_back(std::move(node));
      ++i;
      break;
    }
    case Tok::VarBegin: {
      ++i;
      auto node = std::make_unique<Node>();
      node->kind = NodeKind::Output;
      node->pos = t.pos;
      node->expr = parseTuple();
      if (!node->expr)
        return false;
      if (cur().kind != Tok::VarEnd)
        return expected("end of print statement");
      ++i;
      out.push_back(std::move(node));
      break;
    }
    case Tok::BlockBegin: {
      ++i;
      if (cur().kind == Tok::Name &&
          llvm::is_contained(ends, StringRef(cur().text))) {
        end = cur().text;
        ++i;
        return true;
      }
      if (!parseStatement(out))
        return false;
      break;
    }
    default:
      return fail(t.pos, "unexpected " + describe(t));
    }
  }
}

bool Parser::parseStatement(Body &out) {
  const Token &t = cur();
  if (t.kind != Tok::Name)
    return expected("a tag name");
  StringRef name = t.text;
  if (name == "if")
    return parseIf(out);
  if (name == "for")
    return parseFor(out);
  if (name == "set")
    return parseSet(out);
  if (name == "macro")
    return parseMacro(out);
  if (name == "break" || name == "continue") {
    if (!loops)
      return fail(t.pos, "'" + name + "' outside a loop");
    auto node = std::make_unique<Node>();
    node->kind = name == "break" ? NodeKind::Break : NodeKind::Continue;
    node->pos = t.pos;
    ++i;
    if (!expectBlockEnd())
      return false;
    out.push_back(std::move(node));
    return true;
  }
  if (name == "generation") {
    // transformers' {% generation %} marks assistant text; it renders its
    // body.
    auto node = std::make_unique<Node>();
    node->kind = NodeKind::Block;
    node->pos = t.pos;
    ++i;
    if (!expectBlockEnd())
      return false;
    node->bodies.emplace_back();
    std::string end;
    if (!subparse(node->bodies[0], {"endgeneration"}, end) || !expectBlockEnd())
      return false;
    out.push_back(std::move(node));
    return true;
  }
  static const char *const known[] = {
      "filter", "with",   "include", "extends",    "block",
      "call",   "import", "from",    "autoescape", "do"};
  if (contains(known, name))
    return fail(t.pos, "the '" + name + "' tag is not supported");
  if (name.starts_with("end") || name == "elif" || name == "else")
    return fail(t.pos, "unexpected '" + name + "'");
  return fail(t.pos, "unknown tag '" + name + "'");
}

bool Parser::parseIf(Body &out) {
  auto node = std::make_unique<Node>();
  node->kind = NodeKind::If;
  node->pos = cur().pos;
  ++i;
  while (true) {
    ExprPtr cond = parseTuple(/*withCondExpr=*/false);
    if (!cond || !expectBlockEnd())
      return false;
    node->conds.push_back(std::move(cond));
    node->bodies.emplace_back();
    std::string end;
    if (!subparse(node->bodies.back(), {"elif", "else", "endif"}, end))
      return false;
    if (end == "elif")
      continue;
    if (end == "else") {
      if (!expectBlockEnd())
        return false;
      node->conds.push_back(nullptr);
      node->bodies.emplace_back();
      if (!subparse(node->bodies.back(), {"endif"}, end))
        return false;
    }
    if (!expectBlockEnd())
      return false;
    break;
  }
  out.push_back(std::move(node));
  return true;
}

bool Parser::parseTargets(std::vector<std::string> &names, std::string *attr) {
  while (true) {
    if (cur().kind != Tok::Name)
      return expected("a variable name");
    names.push_back(cur().text);
    ++i;
    if (attr && names.size() == 1 && isOp(".")) {
      ++i;
      if (cur().kind != Tok::Name)
        return expected("an attribute name");
      *attr = cur().text;
      ++i;
      return true;
    }
    if (!skipOp(","))
      return true;
    if (cur().kind != Tok::Name)
      return true; // a trailing comma
  }
}

bool Parser::parseFor(Body &out) {
  auto node = std::make_unique<Node>();
  node->kind = NodeKind::For;
  node->pos = cur().pos;
  ++i;
  if (!parseTargets(node->names, nullptr))
    return false;
  if (!skipName("in"))
    return expected("'in'");
  node->expr = parseTuple(/*withCondExpr=*/false, false, "recursive");
  if (!node->expr)
    return false;
  if (skipName("if")) {
    node->filter = parseExpression();
    if (!node->filter)
      return false;
  }
  if (isName("recursive"))
    return fail(cur().pos, "recursive loops are not supported");
  if (!expectBlockEnd())
    return false;
  node->bodies.resize(2);
  std::string end;
  ++loops;
  bool ok = subparse(node->bodies[0], {"endfor", "else"}, end);
  --loops;
  if (!ok)
    return false;
  if (end == "else") {
    if (!expectBlockEnd() || !subparse(node->bodies[1], {"endfor"}, end))
      return false;
  }
  if (!expectBlockEnd())
    return false;
  out.push_back(std::move(node));
  return true;
}

bool Parser::parseSet(Body &out) {
  auto node = std::make_unique<Node>();
  node->pos = cur().pos;
  ++i;
  if (!parseTargets(node->names, &node->attr))
    return false;
  if (skipOp("=")) {
    node->kind = NodeKind::Set;
    node->expr = parseTuple();
    if (!node->expr || !expectBlockEnd())
      return false;
    out.push_back(std::move(node));
    return true;
  }
  if (node->names.size() != 1 || !node->attr.empty())
    return expected("'='");
  node->kind = NodeKind::SetBlock;
  if (!expectBlockEnd())
    return false;
  node->bodies.emplace_back();
  std::string end;
  if (!subparse(node->bodies[0], {"endset"}, end) || !expectBlockEnd())
    return false;
  out.push_back(std::move(node));
  return true;
}

bool Parser::parseMacro(Body &out) {
  auto node = std::make_unique<Node>();
  node->kind = NodeKind::Macro;
  node->pos = cur().pos;
  ++i;
  if (cur().kind != Tok::Name)
    return expected("a macro name");
  node->text = cur().text;
  ++i;
  if (!expectOp("("))
    return false;
  while (!isOp(")")) {
    if (!node->names.empty() && !expectOp(","))
      return false;
    if (isOp(")"))
      break;
    if (cur().kind != Tok::Name)
      return expected("a parameter name");
    node->names.push_back(cur().text);
    ++i;
    ExprPtr def;
    if (skipOp("=")) {
      def = parseExpression();
      if (!def)
        return false;
    }
    node->conds.push_back(std::move(def));
  }
  ++i;
  if (!expectBlockEnd())
    return false;
  node->bodies.emplace_back();
  std::string end;
  unsigned savedLoops = loops;
  loops = 0;
  bool ok = subparse(node->bodies[0], {"endmacro"}, end);
  loops = savedLoops;
  if (!ok)
    return false;
  if (cur().kind == Tok::Name && cur().text == node->text)
    ++i; // {% endmacro name %}
  if (!expectBlockEnd())
    return false;
  out.push_back(std::move(node));
  return true;
}

ExprPtr Parser::parseTuple(bool withCondExpr, bool explicitParens,
                           StringRef extraEnd) {
  size_t pos = cur().pos;
  std::vector<ExprPtr> items;
  bool isTuple = false;
  while (true) {
    if (!items.empty() && !expectOp(","))
      return nullptr;
    Tok k = cur().kind;
    if (k == Tok::BlockEnd || k == Tok::VarEnd || isOp(")") ||
        (!extraEnd.empty() && isName(extraEnd)))
      break;
    ExprPtr e = parseExpression(withCondExpr);
    if (!e)
      return nullptr;
    items.push_back(std::move(e));
    if (isOp(","))
      isTuple = true;
    else
      break;
  }
  if (!isTuple) {
    if (!items.empty())
      return std::move(items[0]);
    if (!explicitParens) {
      expected("an expression");
      return nullptr;
    }
  }
  ExprPtr t = make(ExprKind::Tuple, pos);
  t->args = std::move(items);
  return seal(std::move(t));
}

ExprPtr Parser::parseExpression(bool withCondExpr) {
  return withCondExpr ? parseCondExpr() : parseOr();
}

ExprPtr Parser::parseCondExpr() {
  Guard guard(depth);
  if (depth > kMaxParseDepth) {
    fail(cur().pos,
         "expression nested deeper than " + Twine(kMaxParseDepth) + " levels");
    return nullptr;
  }
  ExprPtr expr = parseOr();
  while (expr && isName("if")) {
    size_t pos = cur().pos;
    ++i;
    ExprPtr cond = parseOr();
    if (!cond)
      return nullptr;
    ExprPtr otherwise;
    if (skipName("else")) {
      otherwise = parseCondExpr();
      if (!otherwise)
        return nullptr;
    }
    ExprPtr e = make(ExprKind::Cond, pos);
    e->args.push_back(std::move(cond));
    e->args.push_back(std::move(expr));
    e->args.push_back(std::move(otherwise));
    expr = seal(std::move(e));
  }
  return expr;
}

ExprPtr Parser::parseOr() {
  ExprPtr left = parseAnd();
  while (left && isName("or")) {
    size_t pos = cur().pos;
    ++i;
    ExprPtr right = parseAnd();
    if (!right)
      return nullptr;
    left = binary(ExprKind::Or, "or", std::move(left), std::move(right), pos);
  }
  return left;
}

ExprPtr Parser::parseAnd() {
  ExprPtr left = parseNot();
  while (left && isName("and")) {
    size_t pos = cur().pos;
    ++i;
    ExprPtr right = parseNot();
    if (!right)
      return nullptr;
    left = binary(ExprKind::And, "and", std::move(left), std::move(right), pos);
  }
  return left;
}

ExprPtr Parser::parseNot() {
  if (isName("not")) {
    Guard guard(depth);
    if (depth > kMaxParseDepth) {
      fail(cur().pos, "expression nested deeper than " + Twine(kMaxParseDepth) +
                          " levels");
      return nullptr;
    }
    size_t pos = cur().pos;
    ++i;
    ExprPtr operand = parseNot();
    if (!operand)
      return nullptr;
    ExprPtr e = make(ExprKind::Not, pos);
    e->args.push_back(std::move(operand));
    return seal(std::move(e));
  }
  return parseCompare();
}

ExprPtr Parser::parseCompare() {
  size_t pos = cur().pos;
  ExprPtr first = parseMath1();
  if (!first)
    return nullptr;
  ExprPtr cmp;
  while (true) {
    std::string op;
    if (cur().kind == Tok::Op &&
        (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
         cur().text == ">" || cur().text == "<=" || cur().text == ">=")) {
      op = cur().text;
      ++i;
    } else if (isName("in")) {
      op = "in";
      ++i;
    } else if (isName("not") && peek().kind == Tok::Name &&
               peek().text == "in") {
      op = "not in";
      i += 2;
    } else {
      break;
    }
    ExprPtr operand = parseMath1();
    if (!operand)
      return nullptr;
    if (!cmp) {
      cmp = make(ExprKind::Compare, pos);
      cmp->args.push_back(std::move(first));
    }
    cmp->ops.push_back(op);
    cmp->args.push_back(std::move(operand));
  }
  return cmp ? seal(std::move(cmp)) : std::move(first);
}

ExprPtr Parser::parseMath1() {
  ExprPtr left = parseConcat();
  while (left && (isOp("+") || isOp("-"))) {
    std::string op = cur().text;
    size_t pos = cur().pos;
    ++i;
    ExprPtr right = parseConcat();
    if (!right)
      return nullptr;
    left = binary(ExprKind::Binary, op, std::move(left), std::move(right), pos);
  }
  return left;
}

ExprPtr Parser::parseConcat() {
  size_t pos = cur().pos;
  ExprPtr first = parseMath2();
  if (!first || !isOp("~"))
    return first;
  ExprPtr e = make(ExprKind::Concat, pos);
  e->args.push_back(std::move(first));
  while (skipOp("~")) {
    ExprPtr next = parseMath2();
    if (!next)
      return nullptr;
    e->args.push_back(std::move(next));
  }
  return seal(std::move(e));
}

ExprPtr Parser::parseMath2() {
  ExprPtr left = parsePow();
  while (left && (isOp("*") || isOp("/") || isOp("//") || isOp("%"))) {
    std::string op = cur().text;
    size_t pos = cur().pos;
    ++i;
    ExprPtr right = parsePow();
    if (!right)
      return nullptr;
    left = binary(ExprKind::Binary, op, std::move(left), std::move(right), pos);
  }
  return left;
}

ExprPtr Parser::parsePow() {
  ExprPtr left = parseUnary();
  while (left && isOp("**")) {
    size_t pos = cur().pos;
    ++i;
    ExprPtr right = parseUnary();
    if (!right)
      return nullptr;
    left =
        binary(ExprKind::Binary, "**", std::move(left), std::move(right), pos);
  }
  return left;
}

ExprPtr Parser::parseUnary(bool withFilter) {
  Guard guard(depth);
  if (depth > kMaxParseDepth) {
    fail(cur().pos,
         "expression nested deeper than " + Twine(kMaxParseDepth) + " levels");
    return nullptr;
  }
  ExprPtr node;
  size_t pos = cur().pos;
  if (isOp("-") || isOp("+")) {
    ExprKind kind = isOp("-") ? ExprKind::Neg : ExprKind::Pos;
    ++i;
    ExprPtr operand = parseUnary(false);
    if (!operand)
      return nullptr;
    node = make(kind, pos);
    node->args.push_back(std::move(operand));
    node = seal(std::move(node));
  } else {
    node = parsePrimary();
  }
  if (!node)
    return nullptr;
  node = parsePostfix(std::move(node));
  if (node && withFilter)
    node = parseFilterExpr(std::move(node));
  return node;
}

ExprPtr Parser::parsePrimary() {
  const Token &t = cur();
  size_t pos = t.pos;
  switch (t.kind) {
  case Tok::Name: {
    ExprPtr e = make(ExprKind::Literal, pos);
    StringRef n = t.text;
    if (n == "true" || n == "True")
      e->value = mkBool(true);
    else if (n == "false" || n == "False")
      e->value = mkBool(false);
    else if (n == "none" || n == "None")
      e->value = mkNone();
    else {
      e->kind = ExprKind::Name;
      e->name = t.text;
    }
    ++i;
    return e;
  }
  case Tok::String: {
    std::string s;
    while (cur().kind == Tok::String) {
      s += cur().text;
      ++i;
    }
    ExprPtr e = make(ExprKind::Literal, pos);
    e->value = mkStr(std::move(s));
    return e;
  }
  case Tok::Int:
  case Tok::Float: {
    ExprPtr e = make(ExprKind::Literal, pos);
    e->value = t.kind == Tok::Int ? mkInt(t.integer) : mkReal(t.real);
    ++i;
    return e;
  }
  case Tok::Op:
    if (t.text == "(") {
      ++i;
      ExprPtr e = parseTuple(true, /*explicitParens=*/true);
      if (!e || !expectOp(")"))
        return nullptr;
      return e;
    }
    if (t.text == "[") {
      ++i;
      ExprPtr e = make(ExprKind::List, pos);
      while (!isOp("]")) {
        if (!e->args.empty() && !expectOp(","))
          return nullptr;
        if (isOp("]"))
          break;
        ExprPtr item = parseExpression();
        if (!item)
          return nullptr;
        e->args.push_back(std::move(item));
      }
      ++i;
      return seal(std::move(e));
    }
    if (t.text == "{") {
      ++i;
      ExprPtr e = make(ExprKind::Dict, pos);
      while (!isOp("}")) {
        if (!e->args.empty() && !expectOp(","))
          return nullptr;
        if (isOp("}"))
          break;
        ExprPtr key = parseExpression();
        if (!key || !expectOp(":"))
          return nullptr;
        ExprPtr value = parseExpression();
        if (!value)
          return nullptr;
        e->args.push_back(std::move(key));
        e->args.push_back(std::move(value));
      }
      ++i;
      return seal(std::move(e));
    }
    break;
  default:
    break;
  }
  expected("an expression");
  return nullptr;
}

ExprPtr Parser::parsePostfix(ExprPtr node) {
  while (node) {
    if (isOp(".") || isOp("["))
      node = parseSubscript(std::move(node));
    else if (isOp("(")) {
      // Errors of a call name where its callee starts.
      ExprPtr call = make(ExprKind::Call, node->pos);
      call->args.push_back(std::move(node));
      if (!parseCallArgs(*call))
        return nullptr;
      node = seal(std::move(call));
    } else
      break;
  }
  return node;
}

ExprPtr Parser::parseFilterExpr(ExprPtr node) {
  while (node) {
    if (isOp("|"))
      node = parseFilter(std::move(node));
    else if (isName("is"))
      node = parseTest(std::move(node));
    else if (isOp("(")) {
      ExprPtr call = make(ExprKind::Call, cur().pos);
      call->args.push_back(std::move(node));
      if (!parseCallArgs(*call))
        return nullptr;
      node = seal(std::move(call));
    } else
      break;
  }
  return node;
}

ExprPtr Parser::parseSubscript(ExprPtr node) {
  size_t pos = cur().pos;
  if (skipOp(".")) {
    const Token &t = cur();
    if (t.kind == Tok::Name) {
      ExprPtr e = make(ExprKind::Attr, pos);
      e->name = t.text;
      e->args.push_back(std::move(node));
      ++i;
      return seal(std::move(e));
    }
    if (t.kind == Tok::Int) {
      ExprPtr e = make(ExprKind::Item, pos);
      e->args.push_back(std::move(node));
      ExprPtr index = make(ExprKind::Literal, t.pos);
      index->value = mkInt(t.integer);
      e->args.push_back(std::move(index));
      ++i;
      return seal(std::move(e));
    }
    expected("a name or a number after '.'");
    return nullptr;
  }
  ++i; // '['
  std::vector<ExprPtr> subs;
  while (!isOp("]")) {
    if (!subs.empty() && !expectOp(","))
      return nullptr;
    if (isOp("]"))
      break;
    ExprPtr s = parseSubscribed();
    if (!s)
      return nullptr;
    subs.push_back(std::move(s));
  }
  ++i;
  if (subs.empty()) {
    fail(pos, "expected a subscript");
    return nullptr;
  }
  if (subs.size() == 1 && subs[0]->kind == ExprKind::Slice) {
    subs[0]->args[0] = std::move(node);
    return seal(std::move(subs[0]));
  }
  ExprPtr e = make(ExprKind::Item, pos);
  e->args.push_back(std::move(node));
  if (subs.size() == 1) {
    e->args.push_back(std::move(subs[0]));
  } else {
    ExprPtr t = make(ExprKind::Tuple, pos);
    t->args = std::move(subs);
    t = seal(std::move(t));
    if (!t)
      return nullptr;
    e->args.push_back(std::move(t));
  }
  return seal(std::move(e));
}

/// One subscript: an expression or a slice (returned as a Slice whose
/// object, args[0], the caller fills in).
ExprPtr Parser::parseSubscribed() {
  size_t pos = cur().pos;
  ExprPtr start;
  if (!isOp(":")) {
    start = parseExpression();
    if (!start || !isOp(":"))
      return start;
  }
  ++i; // ':'
  ExprPtr e = make(ExprKind::Slice, pos);
  e->args.push_back(nullptr);
  e->args.push_back(std::move(start));
  ExprPtr stop, step;
  if (!isOp(":") && !isOp("]") && !isOp(",")) {
    stop = parseExpression();
    if (!stop)
      return nullptr;
  }
  if (skipOp(":") && !isOp("]") && !isOp(",")) {
    step = parseExpression();
    if (!step)
      return nullptr;
  }
  e->args.push_back(std::move(stop));
  e->args.push_back(std::move(step));
  return e;
}

bool Parser::parseCallArgs(Expr &call) {
  ++i; // '('
  bool first = true;
  while (!isOp(")")) {
    if (!first && !expectOp(","))
      return false;
    first = false;
    if (isOp(")"))
      break;
    if (isOp("*") || isOp("**"))
      return fail(cur().pos, "*args and **kwargs are not supported");
    if (cur().kind == Tok::Name && peek().kind == Tok::Op &&
        peek().text == "=") {
      std::string key = cur().text;
      i += 2;
      ExprPtr value = parseExpression();
      if (!value)
        return false;
      call.kwargs.emplace_back(std::move(key), std::move(value));
      continue;
    }
    if (!call.kwargs.empty())
      return fail(cur().pos, "a positional argument after keyword arguments");
    ExprPtr arg = parseExpression();
    if (!arg)
      return false;
    call.args.push_back(std::move(arg));
  }
  ++i;
  return true;
}

ExprPtr Parser::parseFilter(ExprPtr node) {
  while (node && isOp("|")) {
    ++i;
    const Token &t = cur();
    if (t.kind != Tok::Name) {
      expected("a filter name");
      return nullptr;
    }
    if (!contains(kFilters, t.text)) {
      fail(t.pos, "no filter named '" + t.text + "'");
      return nullptr;
    }
    if (contains(kUnsupportedFilters, t.text)) {
      fail(t.pos, "the '" + t.text + "' filter is not supported");
      return nullptr;
    }
    ExprPtr e = make(ExprKind::Filter, t.pos);
    e->name = t.text;
    e->args.push_back(std::move(node));
    ++i;
    if (isOp("(") && !parseCallArgs(*e))
      return nullptr;
    node = seal(std::move(e));
  }
  return node;
}

ExprPtr Parser::parseTest(ExprPtr node) {
  size_t pos = cur().pos;
  ++i; // 'is'
  bool negated = skipName("not");
  const Token &t = cur();
  if (t.kind != Tok::Name) {
    expected("a test name");
    return nullptr;
  }
  if (!contains(kTests, t.text)) {
    fail(t.pos, "no test named '" + t.text + "'");
    return nullptr;
  }
  ExprPtr e = make(ExprKind::Test, pos);
  e->name = t.text;
  e->negated = negated;
  e->args.push_back(std::move(node));
  ++i;
  if (isOp("(")) {
    if (!parseCallArgs(*e))
      return nullptr;
  } else {
    const Token &a = cur();
    bool argStart = a.kind == Tok::Name || a.kind == Tok::String ||
                    a.kind == Tok::Int || a.kind == Tok::Float ||
                    (a.kind == Tok::Op &&
                     (a.text == "(" || a.text == "[" || a.text == "{"));
    if (argStart &&
        !(a.kind == Tok::Name &&
          (a.text == "else" || a.text == "or" || a.text == "and"))) {
      if (isName("is")) {
        fail(a.pos, "tests cannot be chained with 'is'");
        return nullptr;
      }
      ExprPtr arg = parsePrimary();
      if (arg)
        arg = parsePostfix(std::move(arg));
      if (!arg)
        return nullptr;
      e->args.push_back(std::move(arg));
    }
  }
  return seal(std::move(e));
}

//===----------------------------------------------------------------------===//
// Evaluator
//===----------------------------------------------------------------------===//

/// Positional and keyword arguments of a call, filter or test.
struct Args {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> named;

  /// Argument `index` (positional) or `name` (keyword), or null.
  const Value *get(size_t index, StringRef name) const {
    if (index < positional.size())
      return &positional[index];
    for (const auto &kw : named)
      if (kw.first == name)
        return &kw.second;
    return nullptr;
  }
};

enum class Flow { Normal, Break, Continue, Error };

class Interp {
public:
  Interp(const Program &program, const std::optional<std::tm> &now)
      : prog(program), now(now) {}
  ~Interp() {
    // Namespaces can hold each other (even in a cycle): empty them one by
    // one so that nothing is freed recursively.
    for (const std::shared_ptr<Dict> &ns : namespaces) {
      std::vector<std::pair<std::string, Value>> entries;
      entries.swap(ns->entries);
      ns->index.clear();
    }
  }

  llvm::Expected<std::string> run(const llvm::json::Object &variables);

private:
  const Program &prog;
  std::optional<std::tm> now;
  std::vector<llvm::StringMap<Value>> frames;
  /// Lookups see frames[base..] and frames[0] (a macro does not see its
  /// caller's loop variables).
  size_t base = 1;
  std::string *out = nullptr;
  bool failed = false;
  std::string error;
  int64_t steps = 0, iterations = 0;
  unsigned depth = 0, macroDepth = 0;
  std::vector<std::shared_ptr<Dict>> namespaces;

  struct Guard {
    unsigned &d;
    explicit Guard(unsigned &d) : d(d) { ++d; }
    ~Guard() { --d; }
  };

  bool fail(size_t pos, const Twine &msg) {
    if (!failed) {
      failed = true;
      error = prog.location(pos) + ": " + msg.str();
    }
    return false;
  }
  Value failV(size_t pos, const Twine &msg) {
    fail(pos, msg);
    return Value();
  }
  /// Counts one step of work and one level of nesting.
  bool enter(size_t pos) {
    if (failed)
      return false;
    if (++steps > kMaxSteps)
      return fail(pos, "the template took more than " + Twine(kMaxSteps) +
                           " evaluation steps");
    if (depth > kMaxRunDepth)
      return fail(pos, "evaluation nested deeper than " + Twine(kMaxRunDepth) +
                           " levels");
    return true;
  }
  bool checkSize(size_t bytes, size_t pos) {
    if (bytes > kMaxString)
      return fail(pos, "a string of more than " + Twine(kMaxString) + " bytes");
    return true;
  }
  bool checkItems(size_t count, size_t pos) {
    if (count > kMaxItems)
      return fail(pos, "a list of more than " + Twine(kMaxItems) + " items");
    return true;
  }
  bool checkDepth(const Value &v, size_t pos) {
    if (v.depth > kMaxValueDepth)
      return fail(pos, "values nested deeper than " + Twine(kMaxValueDepth) +
                           " levels");
    return true;
  }
  bool emit(StringRef s, size_t pos) {
    if (out->size() + s.size() > kMaxString)
      return fail(pos, "the output exceeds " + Twine(kMaxString) + " bytes");
    out->append(s.data(), s.size());
    return true;
  }

  Value fromJson(const llvm::json::Value &j, unsigned level);
  Value lookup(StringRef name);

  // Statements.
  Flow exec(const Body &body);
  Flow execNode(const Node &n);
  Flow execFor(const Node &n);
  bool bind(const std::vector<std::string> &names, const Value &v, size_t pos);

  // Expressions.
  Value eval(const Expr &e);
  Value evalCompare(const Expr &e);
  bool evalArgs(const Expr &e, size_t first, Args &args);
  Value binaryOp(StringRef op, const Value &a, const Value &b, size_t pos);
  Value getAttr(const Value &obj, StringRef name, size_t pos);
  Value getItem(const Value &obj, const Value &key, size_t pos);
  Value slice(const Value &obj, const Value *start, const Value *stop,
              const Value *step, size_t pos);
  Value call(const Value &f, const Args &args, size_t pos);
  Value callGlobal(StringRef name, const Args &args, size_t pos);
  Value callMethod(const Value &self, StringRef name, const Args &args,
                   size_t pos);
  Value callMacro(const Node &macro, const Args &args, size_t pos);
  Value filter(StringRef name, const Value &v, const Args &args, size_t pos);
  bool test(StringRef name, const Value &v, const Args &args, size_t pos,
            bool &result);

  // Python semantics.
  bool truthy(const Value &v) const;
  bool iterate(const Value &v, std::vector<Value> &items, size_t pos);
  bool toStr(const Value &v, std::string &s, size_t pos, unsigned level = 0);
  bool repr(const Value &v, std::string &s, size_t pos, unsigned level);
  bool toJson(const Value &v, std::string &s, const std::string *indent,
              StringRef itemSep, StringRef keySep, bool sortKeys,
              unsigned level, size_t pos);
  bool equals(const Value &a, const Value &b, unsigned level = 0) const;
  bool less(const Value &a, const Value &b, bool &result, size_t pos,
            unsigned level = 0);
  bool contains(const Value &container, const Value &item, bool &result,
                size_t pos);
  /// The undefined-value error of `v` (an Undefined) at `pos`.
  Value undefinedError(const Value &v, size_t pos) {
    return failV(pos, v.str());
  }
  Value str(const Value &v, size_t pos) {
    std::string s;
    if (!toStr(v, s, pos))
      return Value();
    return mkStr(std::move(s));
  }
  Value newNamespace(size_t pos) {
    if (namespaces.size() >= kMaxNamespaces)
      return failV(pos, "more than " + Twine(kMaxNamespaces) + " namespaces");
    Value v;
    v.kind = Kind::Namespace;
    v.depth = 1;
    v.dict = std::make_shared<Dict>();
    namespaces.push_back(v.dict);
    return v;
  }
};

Value Interp::fromJson(const llvm::json::Value &j, unsigned level) {
  if (level > kMaxValueDepth) {
    if (!failed)
      error = prog.name + ": variables nested deeper than " +
              std::to_string(kMaxValueDepth) + " levels";
    failed = true;
    return Value();
  }
  switch (j.kind()) {
  case llvm::json::Value::Null:
    return mkNone();
  case llvm::json::Value::Boolean:
    return mkBool(*j.getAsBoolean());
  case llvm::json::Value::Number:
    if (std::optional<int64_t> i = j.getAsInteger())
      return mkInt(*i);
    return mkReal(*j.getAsNumber());
  case llvm::json::Value::String:
    return mkStr(j.getAsString()->str());
  case llvm::json::Value::Array: {
    std::vector<Value> items;
    for (const llvm::json::Value &x : *j.getAsArray()) {
      items.push_back(fromJson(x, level + 1));
      if (failed)
        return Value();
    }
    return mkList(std::move(items));
  }
  case llvm::json::Value::Object: {
    const llvm::json::Object &o = *j.getAsObject();
    std::vector<StringRef> keys;
    for (const auto &kv : o)
      keys.push_back(kv.first);
    llvm::sort(keys);
    auto d = std::make_shared<Dict>();
    for (StringRef k : keys) {
      d->set(k, fromJson(*o.get(k), level + 1));
      if (failed)
        return Value();
    }
    return mkDict(std::move(d));
  }
  }
  return mkNone();
}

llvm::Expected<std::string> Interp::run(const llvm::json::Object &variables) {
  frames.emplace_back();
  for (const auto &kv : variables) {
    Value v = fromJson(kv.second, 0);
    if (failed)
      return llvm::createStringError(error);
    frames[0][kv.first] = std::move(v);
  }
  std::string result;
  out = &result;
  exec(prog.body);
  if (failed)
    return llvm::createStringError(error);
  return result;
}

Value Interp::lookup(StringRef name) {
  for (size_t k = frames.size(); k-- > base;) {
    auto it = frames[k].find(name);
    if (it != frames[k].end())
      return it->second;
  }
  auto it = frames[0].find(name);
  if (it != frames[0].end())
    return it->second;
  if (name == "range" || name == "namespace" || name == "raise_exception" ||
      name == "dict" || (name == "strftime_now" && now))
    return mkFunction(name);
  return mkUndef("'" + name.str() + "' is undefined");
}

//===--- Statements -------------------------------------------------------===//

Flow Interp::exec(const Body &body) {
  for (const NodePtr &n : body) {
    Flow f = execNode(*n);
    if (f != Flow::Normal)
      return f;
  }
  return Flow::Normal;
}

Flow Interp::execNode(const Node &n) {
  if (!enter(n.pos))
    return Flow::Error;
  Guard guard(depth);
  switch (n.kind) {
  case NodeKind::Text:
    return emit(n.text, n.pos) ? Flow::Normal : Flow::Error;
  case NodeKind::Output: {
    Value v = eval(*n.expr);
    if (failed)
      return Flow::Error;
    if (v.kind == Kind::String)
      return emit(v.str(), n.pos) ? Flow::Normal : Flow::Error;
    std::string s;
    if (!toStr(v, s, n.pos) || !emit(s, n.pos))
      return Flow::Error;
    return Flow::Normal;
  }
  case NodeKind::If:
    for (size_t k = 0; k < n.conds.size(); ++k) {
      if (n.conds[k]) {
        Value c = eval(*n.conds[k]);
        if (failed)
          return Flow::Error;
        if (!truthy(c))
          continue;
      }
      return exec(n.bodies[k]);
    }
    return Flow::Normal;
  case NodeKind::For:
    return execFor(n);
  case NodeKind::Set: {
    Value v = eval(*n.expr);
    if (failed)
      return Flow::Error;
    if (!n.attr.empty()) {
      Value ns = lookup(n.names[0]);
      if (ns.kind != Kind::Namespace) {
        fail(n.pos, "cannot assign attribute on non-namespace object '" +
                        n.names[0] + "'");
        return Flow::Error;
      }
      ns.dict->set(n.attr, std::move(v));
      return Flow::Normal;
    }
    return bind(n.names, v, n.pos) ? Flow::Normal : Flow::Error;
  }
  case NodeKind::SetBlock: {
    std::string captured;
    std::string *saved = out;
    out = &captured;
    Flow f = exec(n.bodies[0]);
    out = saved;
    if (f == Flow::Error)
      return f;
    frames.back()[n.names[0]] = mkStr(std::move(captured));
    return f;
  }
  case NodeKind::Macro: {
    Value m;
    m.kind = Kind::Macro;
    m.macro = &n;
    frames.back()[n.text] = m;
    return Flow::Normal;
  }
  case NodeKind::Break:
    return Flow::Break;
  case NodeKind::Continue:
    return Flow::Continue;
  case NodeKind::Block:
    return exec(n.bodies[0]);
  }
  return Flow::Normal;
}

bool Interp::bind(const std::vector<std::string> &names, const Value &v,
                  size_t pos) {
  if (names.size() == 1) {
    frames.back()[names[0]] = v;
    return true;
  }
  std::vector<Value> items;
  if (!iterate(v, items, pos))
    return false;
  if (items.size() != names.size())
    return fail(pos, items.size() < names.size()
                         ? "not enough values to unpack (expected " +
                               Twine(names.size()) + ", got " +
                               Twine(items.size()) + ")"
                         : "too many values to unpack (expected " +
                               Twine(names.size()) + ")");
  for (size_t k = 0; k < names.size(); ++k)
    frames.back()[names[k]] = items[k];
  return true;
}

Flow Interp::execFor(const Node &n) {
  Value seq = eval(*n.expr);
  if (failed)
    return Flow::Error;
  std::vector<Value> items;
  if (!iterate(seq, items, n.expr->pos))
    return Flow::Error;
  if (n.filter) {
    std::vector<Value> kept;
    for (Value &item : items) {
      frames.emplace_back();
      bool ok = bind(n.names, item, n.pos);
      Value keep = ok ? eval(*n.filter) : Value();
      frames.pop_back();
      if (failed)
        return Flow::Error;
      if (truthy(keep))
        kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    frames.emplace_back();
    Flow f = exec(n.bodies[1]);
    frames.pop_back();
    return f == Flow::Error ? f : Flow::Normal;
  }
  int64_t length = static_cast<int64_t>(items.size());
  Value loop;
  loop.kind = Kind::Loop;
  loop.depth = 1;
  loop.items = std::make_shared<const std::vector<Value>>(std::move(items));
  for (int64_t k = 0; k < length; ++k) {
    if (++iterations > kMaxIterations) {
      fail(n.pos, "the template ran more than " + Twine(kMaxIterations) +
                      " loop iterations");
      return Flow::Error;
    }
    loop.integer = k;
    frames.emplace_back();
    frames.back()["loop"] = loop;
    Flow f =
        bind(n.names, loop.list()[k], n.pos) ? exec(n.bodies[0]) : Flow::Error;
    frames.pop_back();
    if (f == Flow::Error)
      return f;
    if (f == Flow::Break)
      break;
  }
  return Flow::Normal;
}

//===--- Python semantics -------------------------------------------------===//

bool Interp::truthy(const Value &v) const {
  switch (v.kind) {
  case Kind::Undefined:
  case Kind::None:
    return false;
  case Kind::Bool:
  case Kind::Int:
    return v.integer != 0;
  case Kind::Float:
    return v.real != 0;
  case Kind::String:
    return !v.str().empty();
  case Kind::List:
    return !v.list().empty();
  case Kind::Dict:
    return !v.dict->entries.empty();
  default:
    return true;
  }
}

bool Interp::iterate(const Value &v, std::vector<Value> &items, size_t pos) {
  switch (v.kind) {
  case Kind::Undefined:
    return true;
  case Kind::List:
    items = v.list();
    return true;
  case Kind::Dict:
    for (const auto &entry : v.dict->entries)
      items.push_back(mkStr(entry.first));
    return true;
  case Kind::String: {
    StringRef s = v.str();
    std::vector<size_t> starts = charStarts(s);
    if (!checkItems(starts.size() - 1, pos))
      return false;
    for (size_t k = 0; k + 1 < starts.size(); ++k)
      items.push_back(mkStr(s.slice(starts[k], starts[k + 1]).str()));
    return true;
  }
  default:
    return fail(pos, "'" + typeName(v) + "' object is not iterable");
  }
}

bool Interp::toStr(const Value &v, std::string &s, size_t pos, unsigned level) {
  switch (v.kind) {
  case Kind::Undefined:
    return true;
  case Kind::String:
    s += v.str();
    return checkSize(s.size(), pos);
  default:
    return repr(v, s, pos, level);
  }
}

bool Interp::repr(const Value &v, std::string &s, size_t pos, unsigned level) {
  if (level > kMaxValueDepth)
    return fail(pos, "values nested deeper than " + Twine(kMaxValueDepth) +
                         " levels");
  if (!checkSize(s.size(), pos))
    return false;
  switch (v.kind) {
  case Kind::Undefined:
    s += "Undefined";
    return true;
  case Kind::None:
    s += "None";
    return true;
  case Kind::Bool:
    s += v.integer ? "True" : "False";
    return true;
  case Kind::Int:
    s += std::to_string(v.integer);
    return true;
  case Kind::Float:
    s += formatFloat(v.real);
    return true;
  case Kind::String:
    reprString(v.str(), s);
    return checkSize(s.size(), pos);
  case Kind::List: {
    s += v.tuple ? '(' : '[';
    bool first = true;
    for (const Value &x : v.list()) {
      if (!first)
        s += ", ";
      first = false;
      if (!repr(x, s, pos, level + 1))
        return false;
    }
    if (v.tuple && v.list().size() == 1)
      s += ',';
    s += v.tuple ? ')' : ']';
    return true;
  }
  case Kind::Dict:
  case Kind::Namespace: {
    if (v.kind == Kind::Namespace)
      s += "<Namespace ";
    s += '{';
    bool first = true;
    for (const auto &entry : v.dict->entries) {
      if (!first)
        s += ", ";
      first = false;
      reprString(entry.first, s);
      s += ": ";
      if (!repr(entry.second, s, pos, level + 1))
        return false;
    }
    s += '}';
    if (v.kind == Kind::Namespace)
      s += '>';
    return true;
  }
  case Kind::Function:
    s += "<built-in function ";
    s += v.str();
    s += ">";
    return true;
  case Kind::Macro:
    s += "<Macro '" + v.macro->text + "'>";
    return true;
  case Kind::Loop:
    s += "<LoopContext " + std::to_string(v.integer + 1) + "/" +
         std::to_string(v.list().size()) + ">";
    return true;
  }
  return true;
}

bool Interp::toJson(const Value &v, std::string &s, const std::string *indent,
                    StringRef itemSep, StringRef keySep, bool sortKeys,
                    unsigned level, size_t pos) {
  if (level > kMaxValueDepth)
    return fail(pos, "values nested deeper than " + Twine(kMaxValueDepth) +
                         " levels");
  if (!checkSize(s.size(), pos))
    return false;
  auto newline = [&](unsigned l) {
    if (!indent)
      return;
    s += '\n';
    for (unsigned k = 0; k < l; ++k)
      s += *indent;
  };
  switch (v.kind) {
  case Kind::None:
    s += "null";
    return true;
  case Kind::Bool:
    s += v.integer ? "true" : "false";
    return true;
  case Kind::Int:
    s += std::to_string(v.integer);
    return true;
  case Kind::Float:
    if (std::isnan(v.real))
      s += "NaN";
    else if (std::isinf(v.real))
      s += v.real < 0 ? "-Infinity" : "Infinity";
    else
      s += formatFloat(v.real);
    return true;
  case Kind::String:
    jsonString(v.str(), s);
    return true;
  case Kind::List: {
    if (v.list().empty()) {
      s += "[]";
      return true;
    }
    s += '[';
    bool first = true;
    for (const Value &x : v.list()) {
      if (!first)
        s += itemSep;
      first = false;
      newline(level + 1);
      if (!toJson(x, s, indent, itemSep, keySep, sortKeys, level + 1, pos))
        return false;
    }
    newline(level);
    s += ']';
    return true;
  }
  case Kind::Dict: {
    if (v.dict->entries.empty()) {
      s += "{}";
      return true;
    }
    std::vector<const std::pair<std::string, Value> *> entries;
    for (const auto &entry : v.dict->entries)
      entries.push_back(&entry);
    if (sortKeys)
      llvm::sort(entries, [](const auto *a, const auto *b) {
        return a->first < b->first;
      });
    s += '{';
    bool first = true;
    for (const auto *entry : entries) {
      if (!first)
        s += itemSep;
      first = false;
      newline(level + 1);
      jsonString(entry->first, s);
      s += keySep;
      if (!toJson(entry->second, s, indent, itemSep, keySep, sortKeys,
                  level + 1, pos))
        return false;
    }
    newline(level);
    s += '}';
    return true;
  }
  default:
    return fail(pos,
                "Object of type " + typeName(v) + " is not JSON serializable");
  }
}

bool Interp::equals(const Value &a, const Value &b, unsigned level) const {
  if (level > kMaxValueDepth)
    return false;
  if (a.isNumber() && b.isNumber()) {
    if (a.kind == Kind::Float || b.kind == Kind::Float)
      return a.asReal() == b.asReal();
    return a.integer == b.integer;
  }
  if (a.kind != b.kind)
    return false;
  switch (a.kind) {
  case Kind::Undefined:
  case Kind::None:
    return true;
  case Kind::String:
    return a.str() == b.str();
  case Kind::List: {
    if (a.tuple != b.tuple || a.list().size() != b.list().size())
      return false;
    for (size_t k = 0; k < a.list().size(); ++k)
      if (!equals(a.list()[k], b.list()[k], level + 1))
        return false;
    return true;
  }
  case Kind::Dict: {
    if (a.dict->entries.size() != b.dict->entries.size())
      return false;
    for (const auto &entry : a.dict->entries) {
      const Value *other = b.dict->find(entry.first);
      if (!other || !equals(entry.second, *other, level + 1))
        return false;
    }
    return true;
  }
  case Kind::Namespace:
    return a.dict == b.dict;
  case Kind::Function:
    return a.str() == b.str() && a.items == b.items;
  case Kind::Macro:
    return a.macro == b.macro;
  default:
    return false;
  }
}

bool Interp::less(const Value &a, const Value &b, bool &result, size_t pos,
                  unsigned level) {
  if (level > kMaxValueDepth)
    return fail(pos, "values nested deeper than " + Twine(kMaxValueDepth) +
                         " levels");
  if (a.kind == Kind::Undefined || b.kind == Kind::Undefined) {
    undefinedError(a.kind == Kind::Undefined ? a : b, pos);
    return false;
  }
  if (a.isNumber() && b.isNumber()) {
    if (a.kind == Kind::Float || b.kind == Kind::Float)
      result = a.asReal() < b.asReal();
    else
      result = a.integer < b.integer;
    return true;
  }
  if (a.kind == Kind::String && b.kind == Kind::String) {
    result = a.str() < b.str();
    return true;
  }
  if (a.kind == Kind::List && b.kind == Kind::List && a.tuple == b.tuple) {
    const auto &x = a.list(), &y = b.list();
    for (size_t k = 0; k < x.size() && k < y.size(); ++k) {
      if (equals(x[k], y[k]))
        continue;
      return less(x[k], y[k], result, pos, level + 1);
    }
    result = x.size() < y.size();
    return true;
  }
  return fail(pos, "'<' not supported between instances of '" + typeName(a) +
                       "' and '" + typeName(b) + "'");
}

bool Interp::contains(const Value &container, const Value &item, bool &result,
                      size_t pos) {
  result = false;
  switch (container.kind) {
  case Kind::Undefined:
    return true;
  case Kind::String:
    if (item.kind != Kind::String)
      return fail(pos, "'in <string>' requires string as left operand, not " +
                           typeName(item));
    result = container.str().contains(item.str());
    return true;
  case Kind::List:
    result = llvm::any_of(container.list(),
                          [&](const Value &x) { return equals(x, item); });
    return true;
  case Kind::Dict:
    result = item.kind == Kind::String && container.dict->find(item.str());
    return true;
  default:
    return fail(pos, "argument of type '" + typeName(container) +
                         "' is not iterable");
  }
}

//===--- Expressions ------------------------------------------------------===//

bool Interp::evalArgs(const Expr &e, size_t first, Args &args) {
  for (size_t k = first; k < e.args.size(); ++k) {
    args.positional.push_back(eval(*e.args[k]));
    if (failed)
      return false;
  }
  for (const auto &kw : e.kwargs) {
    args.named.emplace_back(kw.first, eval(*kw.second));
    if (failed)
      return false;
  }
  return true;
}

Value Interp::eval(const Expr &e) {
  if (!enter(e.pos))
    return Value();
  Guard guard(depth);
  switch (e.kind) {
  case ExprKind::Literal:
    return e.value;
  case ExprKind::Name:
    return lookup(e.name);
  case ExprKind::List:
  case ExprKind::Tuple: {
    std::vector<Value> items;
    for (const ExprPtr &a : e.args) {
      items.push_back(eval(*a));
      if (failed)
        return Value();
    }
    Value v = mkList(std::move(items), e.kind == ExprKind::Tuple);
    return checkDepth(v, e.pos) ? v : Value();
  }
  case ExprKind::Dict: {
    auto d = std::make_shared<Dict>();
    for (size_t k = 0; k + 1 < e.args.size(); k += 2) {
      Value key = eval(*e.args[k]);
      Value value = eval(*e.args[k + 1]);
      if (failed)
        return Value();
      if (key.kind != Kind::String)
        return failV(e.args[k]->pos, "only strings are supported as dict keys");
      d->set(key.str(), std::move(value));
    }
    Value v = mkDict(std::move(d));
    return checkDepth(v, e.pos) ? v : Value();
  }
  case ExprKind::Attr: {
    Value obj = eval(*e.args[0]);
    if (failed)
      return Value();
    return getAttr(obj, e.name, e.pos);
  }
  case ExprKind::Item: {
    Value obj = eval(*e.args[0]);
    Value key = eval(*e.args[1]);
    if (failed)
      return Value();
    return getItem(obj, key, e.pos);
  }
  case ExprKind::Slice: {
    Value obj = eval(*e.args[0]);
    Value bounds[3];
    for (int k = 0; k < 3; ++k)
      if (e.args[k + 1])
        bounds[k] = eval(*e.args[k + 1]);
    if (failed)
      return Value();
    return slice(obj, e.args[1] ? &bounds[0] : nullptr,
                 e.args[2] ? &bounds[1] : nullptr,
                 e.args[3] ? &bounds[2] : nullptr, e.pos);
  }
  case ExprKind::Call: {
    Value f = eval(*e.args[0]);
    Args args;
    if (failed || !evalArgs(e, 1, args))
      return Value();
    return call(f, args, e.pos);
  }
  case ExprKind::Filter: {
    Value v = eval(*e.args[0]);
    Args args;
    if (failed || !evalArgs(e, 1, args))
      return Value();
    return filter(e.name, v, args, e.pos);
  }
  case ExprKind::Test: {
    Value v = eval(*e.args[0]);
    Args args;
    if (failed || !evalArgs(e, 1, args))
      return Value();
    bool result = false;
    if (!test(e.name, v, args, e.pos, result))
      return Value();
    return mkBool(result != e.negated);
  }
  case ExprKind::Neg:
  case ExprKind::Pos: {
    Value v = eval(*e.args[0]);
    if (failed)
      return Value();
    if (v.kind == Kind::Undefined)
      return undefinedError(v, e.pos);
    if (!v.isNumber())
      return failV(e.pos, "bad operand type for unary " +
                              Twine(e.kind == ExprKind::Neg ? "-" : "+") +
                              ": '" + typeName(v) + "'");
    if (e.kind == ExprKind::Pos)
      return v.kind == Kind::Bool ? mkInt(v.integer) : v;
    if (v.kind == Kind::Float)
      return mkReal(-v.real);
    if (v.integer == INT64_MIN)
      return failV(e.pos, "integer overflow");
    return mkInt(-v.integer);
  }
  case ExprKind::Not: {
    Value v = eval(*e.args[0]);
    if (failed)
      return Value();
    return mkBool(!truthy(v));
  }
  case ExprKind::And:
  case ExprKind::Or: {
    Value a = eval(*e.args[0]);
    if (failed)
      return Value();
    if (truthy(a) == (e.kind == ExprKind::Or))
      return a;
    return eval(*e.args[1]);
  }
  case ExprKind::Cond: {
    Value c = eval(*e.args[0]);
    if (failed)
      return Value();
    if (truthy(c))
      return eval(*e.args[1]);
    if (e.args[2])
      return eval(*e.args[2]);
    return mkUndef("the inline if expression on line " + prog.location(e.pos) +
                   " evaluated to false and no else "
                   "section was defined");
  }
  case ExprKind::Compare:
    return evalCompare(e);
  case ExprKind::Concat: {
    std::string s;
    for (const ExprPtr &a : e.args) {
      Value v = eval(*a);
      if (failed || !toStr(v, s, e.pos))
        return Value();
    }
    return mkStr(std::move(s));
  }
  case ExprKind::Binary: {
    Value a = eval(*e.args[0]);
    Value b = eval(*e.args[1]);
    if (failed)
      return Value();
    return binaryOp(e.name, a, b, e.pos);
  }
  }
  return Value();
}

Value Interp::evalCompare(const Expr &e) {
  Value left = eval(*e.args[0]);
  if (failed)
    return Value();
  for (size_t k = 0; k < e.ops.size(); ++k) {
    Value right = eval(*e.args[k + 1]);
    if (failed)
      return Value();
    StringRef op = e.ops[k];
    bool result = false;
    size_t pos = e.args[k + 1]->pos;
    if (op == "==") {
      result = equals(left, right);
    } else if (op == "!=") {
      result = !equals(left, right);
    } else if (op == "in" || op == "not in") {
      if (!contains(right, left, result, pos))
        return Value();
      result = result != (op == "not in");
    } else if (op == "<") {
      if (!less(left, right, result, pos))
        return Value();
    } else if (op == ">") {
      if (!less(right, left, result, pos))
        return Value();
    } else if (op == "<=") {
      if (!less(right, left, result, pos))
        return Value();
      result = !result;
    } else { // ">="
      if (!less(left, right, result, pos))
        return Value();
      result = !result;
    }
    if (!result)
      return mkBool(false);
    left = std::move(right);
  }
  return mkBool(true);
}

/// Python's floor division and modulo of integers (no overflow: the caller
/// checks INT64_MIN / -1).
int64_t floorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0)))
    --q;
  return q;
}
int64_t floorMod(int64_t a, int64_t b) {
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0)))
    r += b;
  return r;
}

Value Interp::binaryOp(StringRef op, const Value &a, const Value &b,
                       size_t pos) {
  if (a.kind == Kind::Undefined)
    return undefinedError(a, pos);
  if (b.kind == Kind::Undefined)
    return undefinedError(b, pos);
  auto unsupported = [&] {
    return failV(pos, "unsupported operand type(s) for " + op + ": '" +
                          typeName(a) + "' and '" + typeName(b) + "'");
  };
  if (a.isNumber() && b.isNumber()) {
    bool real = a.kind == Kind::Float || b.kind == Kind::Float;
    int64_t x = a.integer, y = b.integer, r = 0;
    double u = a.asReal(), w = b.asReal();
    if (op == "/") {
      if (w == 0)
        return failV(pos, "division by zero");
      return mkReal(u / w);
    }
    if (op == "+" || op == "-" || op == "*") {
      if (real)
        return mkReal(op == "+" ? u + w : op == "-" ? u - w : u * w);
      bool overflow = op == "+"   ? __builtin_add_overflow(x, y, &r)
                      : op == "-" ? __builtin_sub_overflow(x, y, &r)
                                  : __builtin_mul_overflow(x, y, &r);
      if (overflow)
        return failV(pos, "integer overflow");
      return mkInt(r);
    }
    if (op == "//" || op == "%") {
      if (w == 0)
        return failV(pos, op == "//" ? "integer division or modulo by zero"
                                     : "modulo by zero");
      if (real) {
        // CPython's float divmod.
        double m = std::fmod(u, w);
        double div = (u - m) / w;
        if (m != 0) {
          if ((w < 0) != (m < 0)) {
            m += w;
            div -= 1.0;
          }
        } else {
          m = std::copysign(0.0, w);
        }
        if (op == "%")
          return mkReal(m);
        double q;
        if (div != 0) {
          q = std::floor(div);
          if (div - q > 0.5)
            q += 1.0;
        } else {
          q = std::copysign(0.0, u / w);
        }
        return mkReal(q);
      }
      if (x == INT64_MIN && y == -1)
        return op == "%" ? mkInt(0) : failV(pos, "integer overflow");
      return mkInt(op == "//" ? floorDiv(x, y) : floorMod(x, y));
    }
    if (op == "**") {
      if (real || y < 0)
        return mkReal(std::pow(u, w));
      int64_t result = 1, base = x;
      for (int64_t e = y; e > 0; e >>= 1) {
        if ((e & 1) && __builtin_mul_overflow(result, base, &result))
          return failV(pos, "integer overflow");
        if (e > 1 && __builtin_mul_overflow(base, base, &base))
          return failV(pos, "integer overflow");
      }
      return mkInt(result);
    }
    return unsupported();
  }
  if (op == "+") {
    if (a.kind == Kind::String && b.kind == Kind::String) {
      if (!checkSize(a.str().size() + b.str().size(), pos))
        return Value();
      return mkStr(a.str().str() + b.str().str());
    }
    if (a.kind == Kind::List && b.kind == Kind::List && a.tuple == b.tuple) {
      if (!checkItems(a.list().size() + b.list().size(), pos))
        return Value();
      std::vector<Value> items = a.list();
      items.insert(items.end(), b.list().begin(), b.list().end());
      return mkList(std::move(items), a.tuple);
    }
    return unsupported();
  }
  if (op == "*") {
    const Value *seq = a.isInt() ? &b : &a;
    const Value *count = a.isInt() ? &a : &b;
    if (!count->isInt() ||
        (seq->kind != Kind::String && seq->kind != Kind::List))
      return unsupported();
    int64_t n = std::max<int64_t>(count->integer, 0);
    if (seq->kind == Kind::String) {
      size_t len = seq->str().size();
      if (len &&
          !checkSize(n > int64_t(kMaxString) ? kMaxString + 1 : n * len, pos))
        return Value();
      std::string s;
      for (int64_t k = 0; k < n && len; ++k)
        s += seq->str();
      return mkStr(std::move(s));
    }
    size_t len = seq->list().size();
    if (len &&
        !checkItems(n > int64_t(kMaxItems) ? kMaxItems + 1 : n * len, pos))
      return Value();
    std::vector<Value> items;
    for (int64_t k = 0; k < n && len; ++k)
      items.insert(items.end(), seq->list().begin(), seq->list().end());
    return mkList(std::move(items), seq->tuple);
  }
  if (op == "%" && a.kind == Kind::String)
    return failV(pos, "printf-style string formatting is not supported");
  return unsupported();
}

Value Interp::getAttr(const Value &obj, StringRef name, size_t pos) {
  static const char *const stringMethods[] = {
      "strip",      "lstrip",     "rstrip",  "startswith",   "endswith",
      "split",      "rsplit",     "upper",   "lower",        "title",
      "capitalize", "replace",    "find",    "rfind",        "count",
      "join",       "splitlines", "isdigit", "isalpha",      "isalnum",
      "isspace",    "isupper",    "islower", "removeprefix", "removesuffix"};
  static const char *const dictMethods[] = {"items", "keys", "values", "get"};
  switch (obj.kind) {
  case Kind::Undefined:
    return undefinedError(obj, pos);
  case Kind::String:
    if (::contains(stringMethods, name))
      return mkFunction(name, &obj);
    break;
  case Kind::Dict:
    if (::contains(dictMethods, name))
      return mkFunction(name, &obj);
    if (const Value *v = obj.dict->find(name))
      return *v;
    break;
  case Kind::Namespace:
    if (const Value *v = obj.dict->find(name))
      return *v;
    break;
  case Kind::Loop: {
    // Jinja's LoopContext.
    int64_t k = obj.integer, n = static_cast<int64_t>(obj.list().size());
    if (name == "index0")
      return mkInt(k);
    if (name == "index")
      return mkInt(k + 1);
    if (name == "revindex0")
      return mkInt(n - k - 1);
    if (name == "revindex")
      return mkInt(n - k);
    if (name == "first")
      return mkBool(k == 0);
    if (name == "last")
      return mkBool(k == n - 1);
    if (name == "length")
      return mkInt(n);
    if (name == "depth")
      return mkInt(1);
    if (name == "depth0")
      return mkInt(0);
    if (name == "previtem" && k > 0)
      return obj.list()[k - 1];
    if (name == "nextitem" && k + 1 < n)
      return obj.list()[k + 1];
    if (name == "previtem" || name == "nextitem")
      return mkUndef("there is no " +
                     std::string(name == "previtem" ? "previous" : "next") +
                     " item");
    break;
  }
  default:
    break;
  }
  return mkUndef("'" + typeName(obj).str() + " object' has no attribute '" +
                 name.str() + "'");
}

/// Python's index of `i` in a sequence of `n`, or -1 when out of range.
int64_t normalizeIndex(int64_t i, size_t n) {
  if (i < 0)
    i += static_cast<int64_t>(n);
  return i < 0 || i >= static_cast<int64_t>(n) ? -1 : i;
}

Value Interp::getItem(const Value &obj, const Value &key, size_t pos) {
  if (obj.kind == Kind::Undefined)
    return undefinedError(obj, pos);
  if (key.kind == Kind::String) {
    if (obj.kind == Kind::Dict || obj.kind == Kind::Namespace) {
      if (const Value *v = obj.dict->find(key.str()))
        return *v;
    }
    if (obj.kind != Kind::Namespace)
      return getAttr(obj, key.str(), pos);
    return mkUndef("'Namespace object' has no attribute '" + key.str().str() +
                   "'");
  }
  if (key.isInt() && (obj.kind == Kind::List || obj.kind == Kind::String)) {
    if (obj.kind == Kind::List) {
      int64_t k = normalizeIndex(key.integer, obj.list().size());
      if (k >= 0)
        return obj.list()[k];
    } else {
      std::vector<size_t> starts = charStarts(obj.str());
      int64_t k = normalizeIndex(key.integer, starts.size() - 1);
      if (k >= 0)
        return mkStr(obj.str().slice(starts[k], starts[k + 1]).str());
    }
  }
  std::string keyText;
  repr(key, keyText, pos, 0);
  return mkUndef(typeName(obj).str() + " object has no element " + keyText);
}

Value Interp::slice(const Value &obj, const Value *start, const Value *stop,
                    const Value *step, size_t pos) {
  if (obj.kind == Kind::Undefined)
    return undefinedError(obj, pos);
  if (obj.kind != Kind::List && obj.kind != Kind::String)
    return failV(pos, "'" + typeName(obj) + "' object is not subscriptable");
  auto bound = [&](const Value *v, int64_t &out) {
    if (!v || v->kind == Kind::None)
      return false;
    if (!v->isInt()) {
      fail(pos, "slice indices must be integers or None");
      return false;
    }
    out = v->integer;
    return true;
  };
  std::vector<size_t> starts;
  int64_t n;
  if (obj.kind == Kind::String) {
    starts = charStarts(obj.str());
    n = static_cast<int64_t>(starts.size()) - 1;
  } else {
    n = static_cast<int64_t>(obj.list().size());
  }
  int64_t st = 1, lo = 0, hi = 0;
  bound(step, st);
  if (failed)
    return Value();
  if (st == 0)
    return failV(pos, "slice step cannot be zero");
  bool hasLo = bound(start, lo), hasHi = bound(stop, hi);
  if (failed)
    return Value();
  auto clamp = [&](int64_t v, bool has, int64_t dflt) {
    if (!has)
      return dflt;
    if (v < 0)
      v += n;
    if (st > 0)
      return std::clamp<int64_t>(v, 0, n);
    return std::clamp<int64_t>(v, -1, n - 1);
  };
  lo = clamp(lo, hasLo, st > 0 ? 0 : n - 1);
  hi = clamp(hi, hasHi, st > 0 ? n : -1);
  std::vector<int64_t> picked;
  for (int64_t k = lo; st > 0 ? k < hi : k > hi; k += st)
    picked.push_back(k);
  if (obj.kind == Kind::String) {
    std::string s;
    for (int64_t k : picked)
      s += obj.str().slice(starts[k], starts[k + 1]);
    return mkStr(std::move(s));
  }
  std::vector<Value> items;
  for (int64_t k : picked)
    items.push_back(obj.list()[k]);
  return mkList(std::move(items), obj.tuple);
}

Value Interp::call(const Value &f, const Args &args, size_t pos) {
  if (f.kind == Kind::Undefined)
    return undefinedError(f, pos);
  if (f.kind == Kind::Macro)
    return callMacro(*f.macro, args, pos);
  if (f.kind != Kind::Function)
    return failV(pos, "'" + typeName(f) + "' object is not callable");
  if (f.items)
    return callMethod(f.list()[0], f.str(), args, pos);
  return callGlobal(f.str(), args, pos);
}

Value Interp::callGlobal(StringRef name, const Args &args, size_t pos) {
  if (name == "raise_exception") {
    const Value *msg = args.get(0, "message");
    std::string text;
    if (msg && !toStr(*msg, text, pos))
      return Value();
    return failV(pos, text);
  }
  if (name == "range") {
    if (!args.named.empty() || args.positional.empty() ||
        args.positional.size() > 3)
      return failV(pos, "range() takes 1 to 3 integer arguments");
    for (const Value &a : args.positional)
      if (!a.isInt())
        return failV(pos, "range() takes integers, not '" + typeName(a) + "'");
    int64_t lo = 0, hi, st = 1;
    if (args.positional.size() == 1) {
      hi = args.positional[0].integer;
    } else {
      lo = args.positional[0].integer;
      hi = args.positional[1].integer;
      if (args.positional.size() == 3)
        st = args.positional[2].integer;
    }
    if (st == 0)
      return failV(pos, "range() arg 3 must not be zero");
    std::vector<Value> items;
    for (int64_t k = lo; st > 0 ? k < hi : k > hi; k += st) {
      if (!checkItems(items.size() + 1, pos))
        return Value();
      items.push_back(mkInt(k));
      if ((st > 0 && k > INT64_MAX - st) || (st < 0 && k < INT64_MIN - st))
        break;
    }
    return mkList(std::move(items));
  }
  if (name == "namespace" || name == "dict") {
    Value v;
    std::shared_ptr<Dict> d;
    if (name == "namespace") {
      v = newNamespace(pos);
      if (failed)
        return Value();
      d = v.dict;
    } else {
      d = std::make_shared<Dict>();
    }
    if (args.positional.size() > 1)
      return failV(pos, name + "() takes at most one positional argument");
    if (!args.positional.empty()) {
      const Value &init = args.positional[0];
      if (init.kind != Kind::Dict && init.kind != Kind::Namespace)
        return failV(pos,
                     name + "() takes a dict, not '" + typeName(init) + "'");
      for (const auto &entry : init.dict->entries)
        d->set(entry.first, entry.second);
    }
    for (const auto &kw : args.named)
      d->set(kw.first, kw.second);
    if (name == "namespace")
      return v;
    v = mkDict(std::move(d));
    return checkDepth(v, pos) ? v : Value();
  }
  if (name == "strftime_now") {
    const Value *format = args.get(0, "format");
    if (!format || format->kind != Kind::String)
      return failV(pos, "strftime_now() takes a format string");
    char buf[512];
    std::tm time = *now;
    size_t n =
        std::strftime(buf, sizeof buf, format->str().str().c_str(), &time);
    return mkStr(std::string(buf, n));
  }
  return failV(pos, "'" + name + "' is not callable");
}

Value Interp::callMacro(const Node &macro, const Args &args, size_t pos) {
  if (macroDepth >= kMaxMacroDepth)
    return failV(pos, "macro calls nested deeper than " +
                          Twine(kMaxMacroDepth) + " levels");
  if (args.positional.size() > macro.names.size())
    return failV(pos, "macro '" + macro.text + "' takes " +
                          Twine(macro.names.size()) + " arguments");
  llvm::StringMap<Value> params;
  for (size_t k = 0; k < macro.names.size(); ++k) {
    if (const Value *v = args.get(k, macro.names[k])) {
      params[macro.names[k]] = *v;
    } else if (macro.conds[k]) {
      Value d = eval(*macro.conds[k]);
      if (failed)
        return Value();
      params[macro.names[k]] = d;
    } else {
      params[macro.names[k]] =
          mkUndef("parameter '" + macro.names[k] + "' was not provided");
    }
  }
  for (const auto &kw : args.named)
    if (!llvm::is_contained(macro.names, kw.first))
      return failV(pos, "macro '" + macro.text +
                            "' takes no keyword argument '" + kw.first + "'");
  std::string result;
  std::string *savedOut = out;
  size_t savedBase = base;
  out = &result;
  frames.push_back(std::move(params));
  base = frames.size() - 1;
  ++macroDepth;
  Flow f = exec(macro.bodies[0]);
  --macroDepth;
  frames.pop_back();
  base = savedBase;
  out = savedOut;
  if (f == Flow::Error)
    return Value();
  return mkStr(std::move(result));
}

/// Python's str.split(sep, maxsplit) (sep null: runs of whitespace).
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
    }
    return parts;
  }
  size_t i = 0;
  while (maxSplit < 0 || static_cast<int64_t>(parts.size()) < maxSplit) {
    size_t j = s.find(*sep, i);
    if (j == StringRef::npos)
      break;
    parts.push_back(s.slice(i, j).str());
    i = j + sep->size();
  }
  parts.push_back(s.drop_front(i).str());
  return parts;
}

/// Strips the code points of `chars` (null: whitespace) from `s`'s ends.
StringRef pyStrip(StringRef s, const std::string *chars, bool left,
                  bool right) {
  if (!chars) {
    if (left)
      s = lstripSpace(s);
    if (right)
      s = rstripSpace(s);
    return s;
  }
  std::vector<size_t> setStarts = charStarts(*chars);
  auto inSet = [&](StringRef c) {
    for (size_t k = 0; k + 1 < setStarts.size(); ++k)
      if (StringRef(*chars).slice(setStarts[k], setStarts[k + 1]) == c)
        return true;
    return false;
  };
  std::vector<size_t> starts = charStarts(s);
  size_t lo = 0, hi = starts.size() - 1;
  while (left && lo < hi && inSet(s.slice(starts[lo], starts[lo + 1])))
    ++lo;
  while (right && hi > lo && inSet(s.slice(starts[hi - 1], starts[hi])))
    --hi;
  return s.slice(starts[lo], starts[hi]);
}

/// Python's str.replace (an empty `old` inserts `repl` between the code
/// points).
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
  size_t i = 0;
  for (int64_t done = 0; count < 0 || done < count; ++done) {
    size_t j = s.find(old, i);
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

Value Interp::callMethod(const Value &self, StringRef name, const Args &args,
                         size_t pos) {
  auto strArg = [&](size_t k, StringRef key, const std::string *&out) {
    const Value *v = args.get(k, key);
    out = nullptr;
    if (!v || v->kind == Kind::None)
      return true;
    if (v->kind != Kind::String)
      return fail(pos, name + "() argument must be str, not " + typeName(*v));
    out = v->text.get();
    return true;
  };
  auto intArg = [&](size_t k, StringRef key, int64_t dflt, int64_t &out) {
    const Value *v = args.get(k, key);
    out = dflt;
    if (!v || v->kind == Kind::None)
      return true;
    if (!v->isInt())
      return fail(pos, name + "() argument must be int, not " + typeName(*v));
    out = v->integer;
    return true;
  };
  if (self.kind == Kind::Dict) {
    const Dict &d = *self.dict;
    if (name == "get") {
      const Value *key = args.get(0, "key");
      if (!key)
        return failV(pos, "get() takes a key");
      if (key->kind == Kind::String)
        if (const Value *v = d.find(key->str()))
          return *v;
      const Value *dflt = args.get(1, "default");
      return dflt ? *dflt : mkNone();
    }
    std::vector<Value> items;
    for (const auto &entry : d.entries) {
      if (name == "keys")
        items.push_back(mkStr(entry.first));
      else if (name == "values")
        items.push_back(entry.second);
      else
        items.push_back(mkList({mkStr(entry.first), entry.second}, true));
    }
    Value v = mkList(std::move(items));
    return checkDepth(v, pos) ? v : Value();
  }
  // String methods.
  StringRef s = self.str();
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const std::string *chars;
    if (!strArg(0, "chars", chars))
      return Value();
    return mkStr(pyStrip(s, chars, name != "rstrip", name != "lstrip").str());
  }
  if (name == "startswith" || name == "endswith") {
    const Value *arg = args.get(0, "prefix");
    if (!arg)
      return failV(pos, name + "() takes a string or a tuple of strings");
    std::vector<Value> options;
    if (arg->kind == Kind::List && arg->tuple)
      options = arg->list();
    else
      options.push_back(*arg);
    int64_t from;
    if (!intArg(1, "start", 0, from))
      return Value();
    std::vector<size_t> starts = charStarts(s);
    int64_t n = static_cast<int64_t>(starts.size()) - 1;
    if (from < 0)
      from = std::max<int64_t>(from + n, 0);
    StringRef rest = s.drop_front(starts[std::min(from, n)]);
    for (const Value &o : options) {
      if (o.kind != Kind::String)
        return failV(pos, name +
                              "() takes a string or a tuple of strings, "
                              "not " +
                              typeName(o));
      if (from <= n && (name == "startswith" ? rest.starts_with(o.str())
                                             : rest.ends_with(o.str())))
        return mkBool(true);
    }
    return mkBool(false);
  }
  if (name == "split" || name == "rsplit") {
    const std::string *sep;
    int64_t maxSplit;
    if (!strArg(0, "sep", sep) || !intArg(1, "maxsplit", -1, maxSplit))
      return Value();
    if (sep && sep->empty())
      return failV(pos, "empty separator");
    if (name == "rsplit" && maxSplit >= 0)
      return failV(pos, "rsplit() with maxsplit is not supported");
    std::vector<std::string> parts = pySplit(s, sep, maxSplit);
    if (!checkItems(parts.size(), pos))
      return Value();
    std::vector<Value> items;
    for (std::string &p : parts)
      items.push_back(mkStr(std::move(p)));
    return mkList(std::move(items));
  }
  if (name == "splitlines") {
    std::vector<Value> items;
    size_t i = 0;
    while (i < s.size()) {
      size_t j = s.find_first_of("\r\n", i);
      if (j == StringRef::npos) {
        items.push_back(mkStr(s.drop_front(i).str()));
        break;
      }
      items.push_back(mkStr(s.slice(i, j).str()));
      i = j + (s.substr(j).starts_with("\r\n") ? 2 : 1);
      if (!checkItems(items.size(), pos))
        return Value();
    }
    return mkList(std::move(items));
  }
  if (name == "upper")
    return mkStr(upper(s));
  if (name == "lower")
    return mkStr(lower(s));
  if (name == "title")
    return mkStr(pyTitle(s));
  if (name == "capitalize")
    return mkStr(pyCapitalize(s));
  if (name == "replace") {
    const std::string *old, *repl;
    int64_t count;
    if (!strArg(0, "old", old) || !strArg(1, "new", repl) ||
        !intArg(2, "count", -1, count))
      return Value();
    if (!old || !repl)
      return failV(pos, "replace() takes two strings");
    std::string r;
    if (!pyReplace(s, *old, *repl, count, r))
      return failV(pos,
                   "a string of more than " + Twine(kMaxString) + " bytes");
    return mkStr(std::move(r));
  }
  if (name == "find" || name == "rfind" || name == "count") {
    const std::string *sub;
    if (!strArg(0, "sub", sub))
      return Value();
    if (!sub)
      return failV(pos, name + "() takes a string");
    if (name == "count") {
      if (sub->empty())
        return mkInt(countChars(s) + 1);
      int64_t n = 0;
      for (size_t i = s.find(*sub); i != StringRef::npos;
           i = s.find(*sub, i + sub->size()))
        ++n;
      return mkInt(n);
    }
    size_t i = name == "find" ? s.find(*sub) : s.rfind(*sub);
    return mkInt(i == StringRef::npos ? -1 : countChars(s.take_front(i)));
  }
  if (name == "join") {
    const Value *seq = args.get(0, "iterable");
    std::vector<Value> items;
    if (!seq || !iterate(*seq, items, pos))
      return failV(pos, "join() takes an iterable");
    std::string r;
    for (size_t k = 0; k < items.size(); ++k) {
      if (items[k].kind != Kind::String)
        return failV(pos, "sequence item " + Twine(k) +
                              ": expected str instance, " + typeName(items[k]) +
                              " found");
      if (k)
        r += s;
      r += items[k].str();
      if (!checkSize(r.size(), pos))
        return Value();
    }
    return mkStr(std::move(r));
  }
  if (name == "removeprefix" || name == "removesuffix") {
    const std::string *affix;
    if (!strArg(0, "affix", affix))
      return Value();
    if (!affix)
      return failV(pos, name + "() takes a string");
    StringRef r = s;
    if (name == "removeprefix")
      r.consume_front(*affix);
    else
      r.consume_back(*affix);
    return mkStr(r.str());
  }
  // The is...() predicates (ASCII classes).
  bool any = false, all = !s.empty();
  for (char c : s) {
    bool ok;
    if (name == "isdigit")
      ok = isDigit(c);
    else if (name == "isalpha")
      ok = isAsciiAlpha(c);
    else if (name == "isalnum")
      ok = isAsciiAlpha(c) || isDigit(c);
    else if (name == "isspace")
      ok = spaceAt(StringRef(&c, 1), 0) != 0;
    else if (name == "isupper") {
      ok = !(c >= 'a' && c <= 'z');
      any |= c >= 'A' && c <= 'Z';
    } else {
      ok = !(c >= 'A' && c <= 'Z');
      any |= c >= 'a' && c <= 'z';
    }
    all &= ok;
  }
  if (name == "isupper" || name == "islower")
    return mkBool(all && any);
  return mkBool(all);
}

Value Interp::filter(StringRef name, const Value &v, const Args &args,
                     size_t pos) {
  auto needString = [&](Value &s) {
    s = v.kind == Kind::String ? v : str(v, pos);
    return !failed;
  };
  if (name == "default" || name == "d") {
    const Value *dflt = args.get(0, "default_value");
    const Value *boolean = args.get(1, "boolean");
    bool useDefault = v.kind == Kind::Undefined ||
                      (boolean && truthy(*boolean) && !truthy(v));
    if (useDefault)
      return dflt ? *dflt : mkStr("");
    return v;
  }
  if (name == "length" || name == "count") {
    switch (v.kind) {
    case Kind::Undefined:
      return mkInt(0);
    case Kind::String:
      return mkInt(countChars(v.str()));
    case Kind::List:
      return mkInt(v.list().size());
    case Kind::Dict:
      return mkInt(v.dict->entries.size());
    default:
      return failV(pos, "object of type '" + typeName(v) + "' has no len()");
    }
  }
  if (name == "string")
    return v.kind == Kind::String ? v : str(v, pos);
  if (name == "safe")
    return v;
  if (name == "trim" || name == "upper" || name == "lower" ||
      name == "capitalize" || name == "title" || name == "escape" ||
      name == "e" || name == "indent") {
    Value sv;
    if (!needString(sv))
      return Value();
    StringRef s = sv.str();
    if (name == "trim") {
      const Value *chars = args.get(0, "chars");
      if (chars && chars->kind != Kind::String && chars->kind != Kind::None)
        return failV(pos, "trim() takes a string of characters");
      return mkStr(pyStrip(s,
                           chars && chars->kind == Kind::String
                               ? chars->text.get()
                               : nullptr,
                           true, true)
                       .str());
    }
    if (name == "upper")
      return mkStr(upper(s));
    if (name == "lower")
      return mkStr(lower(s));
    if (name == "capitalize")
      return mkStr(pyCapitalize(s));
    if (name == "title") {
      // Jinja: words start after runs of '-', whitespace, '(', '{', '[',
      // '<'; each word's first letter upper-cased, the rest lower-cased.
      std::string r;
      bool wordStart = true;
      for (char c : s) {
        bool sep = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' ||
                   spaceAt(StringRef(&c, 1), 0);
        if (sep) {
          r += c;
          wordStart = true;
        } else {
          r += wordStart ? toUpper(c) : toLower(c);
          wordStart = false;
        }
      }
      return mkStr(std::move(r));
    }
    if (name == "indent") {
      const Value *width = args.get(0, "width");
      const Value *first = args.get(1, "first");
      const Value *blank = args.get(2, "blank");
      std::string ind = "    ";
      if (width && width->kind == Kind::String)
        ind = width->str().str();
      else if (width && width->isInt())
        ind = std::string(std::clamp<int64_t>(width->integer, 0, 1024), ' ');
      std::string text = s.str() + "\n";
      std::vector<std::string> lines;
      for (size_t i = 0; i < text.size();) {
        size_t j = text.find('\n', i);
        lines.push_back(text.substr(i, j - i));
        i = j + 1;
      }
      std::string r;
      for (size_t k = 0; k < lines.size(); ++k) {
        if (k)
          r += '\n';
        if ((k > 0 || (first && truthy(*first))) &&
            (!lines[k].empty() || (blank && truthy(*blank))))
          r += ind;
        r += lines[k];
        if (!checkSize(r.size(), pos))
          return Value();
      }
      return mkStr(std::move(r));
    }
    // escape
    std::string r;
    for (char c : s) {
      switch (c) {
      case '&':
        r += "&amp;";
        break;
      case '<':
        r += "&lt;";
        break;
      case '>':
        r += "&gt;";
        break;
      case '"':
        r += "&#34;";
        break;
      case '\'':
        r += "&#39;";
        break;
      default:
        r += c;
      }
    }
    if (!checkSize(r.size(), pos))
      return Value();
    return mkStr(std::move(r));
  }
  if (name == "replace") {
    Value sv;
    if (!needString(sv))
      return Value();
    const Value *old = args.get(0, "old"), *repl = args.get(1, "new");
    const Value *count = args.get(2, "count");
    if (!old || !repl || old->kind != Kind::String ||
        repl->kind != Kind::String)
      return failV(pos, "replace() takes two strings");
    std::string r;
    if (!pyReplace(sv.str(), old->str(), repl->str(),
                   count && count->isInt() ? count->integer : -1, r))
      return failV(pos,
                   "a string of more than " + Twine(kMaxString) + " bytes");
    return mkStr(std::move(r));
  }
  if (name == "tojson") {
    const Value *indent = args.get(0, "indent");
    const Value *sortKeys = args.get(3, "sort_keys");
    const Value *separators = args.get(2, "separators");
    std::string ind;
    bool hasIndent = indent && indent->kind != Kind::None;
    if (hasIndent) {
      if (indent->kind == Kind::String)
        ind = indent->str().str();
      else if (indent->isInt())
        ind = std::string(std::clamp<int64_t>(indent->integer, 0, 1024), ' ');
      else
        return failV(pos, "tojson()'s indent must be an int or a string");
    }
    std::string itemSep = hasIndent ? "," : ", ", keySep = ": ";
    if (separators && separators->kind != Kind::None) {
      if (separators->kind != Kind::List || separators->list().size() != 2 ||
          separators->list()[0].kind != Kind::String ||
          separators->list()[1].kind != Kind::String)
        return failV(pos, "tojson()'s separators must be two strings");
      itemSep = separators->list()[0].str().str();
      keySep = separators->list()[1].str().str();
    }
    std::string r;
    if (!toJson(v, r, hasIndent ? &ind : nullptr, itemSep, keySep,
                sortKeys && truthy(*sortKeys), 0, pos))
      return Value();
    return mkStr(std::move(r));
  }
  if (name == "first" || name == "last") {
    std::vector<Value> items;
    if (v.kind == Kind::Undefined)
      return mkUndef("no " + name.str() + " item, sequence was empty");
    if (!iterate(v, items, pos))
      return Value();
    if (items.empty())
      return mkUndef("no " + name.str() + " item, sequence was empty");
    return name == "first" ? items.front() : items.back();
  }
  if (name == "join") {
    const Value *sep = args.get(0, "d");
    const Value *attribute = args.get(1, "attribute");
    std::vector<Value> items;
    if (!iterate(v, items, pos))
      return Value();
    std::string r, sepText;
    if (sep && !toStr(*sep, sepText, pos))
      return Value();
    for (size_t k = 0; k < items.size(); ++k) {
      if (k)
        r += sepText;
      Value item = items[k];
      if (attribute) {
        item = getItem(items[k], *attribute, pos);
        if (failed)
          return Value();
      }
      if (!toStr(item, r, pos))
        return Value();
    }
    return mkStr(std::move(r));
  }
  if (name == "items") {
    if (v.kind == Kind::Undefined)
      return mkList({});
    if (v.kind != Kind::Dict)
      return failV(pos, "can only get item pairs from a mapping");
    return callMethod(v, "items", Args(), pos);
  }
  if (name == "list") {
    std::vector<Value> items;
    if (!iterate(v, items, pos))
      return Value();
    return mkList(std::move(items));
  }
  if (name == "reverse") {
    if (v.kind == Kind::String) {
      std::vector<size_t> starts = charStarts(v.str());
      std::string r;
      for (size_t k = starts.size() - 1; k-- > 0;)
        r += v.str().slice(starts[k], starts[k + 1]);
      return mkStr(std::move(r));
    }
    std::vector<Value> items;
    if (!iterate(v, items, pos))
      return Value();
    std::reverse(items.begin(), items.end());
    return mkList(std::move(items));
  }
  if (name == "int" || name == "float") {
    const Value *dflt = args.get(0, "default");
    Value fallback = dflt ? *dflt : name == "int" ? mkInt(0) : mkReal(0);
    if (v.isNumber())
      return name == "int" ? mkInt(v.kind == Kind::Float
                                       ? (std::isfinite(v.real) &&
                                                  std::fabs(v.real) < 9.2e18
                                              ? static_cast<int64_t>(v.real)
                                              : 0)
                                       : v.integer)
                           : mkReal(v.asReal());
    if (v.kind != Kind::String)
      return fallback;
    StringRef s = lstripSpace(rstripSpace(v.str()));
    if (name == "int") {
      int64_t i;
      if (!s.getAsInteger(10, i))
        return mkInt(i);
    }
    std::string text = s.str();
    char *end = nullptr;
    double d = text.empty() ? 0 : std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size())
      return fallback;
    if (name == "float")
      return mkReal(d);
    return std::isfinite(d) && std::fabs(d) < 9.2e18
               ? mkInt(static_cast<int64_t>(d))
               : fallback;
  }
  if (name == "abs") {
    if (v.kind == Kind::Float)
      return mkReal(std::fabs(v.real));
    if (v.isInt()) {
      if (v.integer == INT64_MIN)
        return failV(pos, "integer overflow");
      return mkInt(std::llabs(v.integer));
    }
    return failV(pos, "bad operand type for abs(): '" + typeName(v) + "'");
  }
  if (name == "round") {
    if (!v.isNumber())
      return failV(pos, "round() takes a number");
    const Value *precision = args.get(0, "precision");
    const Value *method = args.get(1, "method");
    int64_t p = precision && precision->isInt() ? precision->integer : 0;
    double scale = std::pow(10.0, static_cast<double>(p));
    double x = v.asReal() * scale;
    StringRef m = method && method->kind == Kind::String ? method->str()
                                                         : StringRef("common");
    // "common" is Python's round(): halves to even.
    double r = m == "ceil"    ? std::ceil(x)
               : m == "floor" ? std::floor(x)
                              : std::nearbyint(x);
    return mkReal(r / scale);
  }
  if (name == "map" || name == "select" || name == "reject" ||
      name == "selectattr" || name == "rejectattr") {
    std::vector<Value> items, result;
    if (!iterate(v, items, pos))
      return Value();
    bool attrMode = name == "selectattr" || name == "rejectattr";
    bool mapAttr = name == "map" && args.get(0, "") == nullptr;
    for (const Value &item : items) {
      if (name == "map") {
        if (mapAttr) {
          const Value *attribute = args.get(99, "attribute");
          if (!attribute)
            return failV(pos, "map() takes a filter name or attribute=");
          Value x = getItem(item, *attribute, pos);
          if (failed)
            return Value();
          if (x.kind == Kind::Undefined)
            if (const Value *dflt = args.get(99, "default"))
              x = *dflt;
          result.push_back(x);
        } else {
          const Value &f = args.positional[0];
          if (f.kind != Kind::String || !::contains(kFilters, f.str()) ||
              ::contains(kUnsupportedFilters, f.str()) || f.str() == "map")
            return failV(pos, "map() takes the name of a supported filter");
          Args rest;
          rest.positional.assign(args.positional.begin() + 1,
                                 args.positional.end());
          rest.named = args.named;
          result.push_back(filter(f.str(), item, rest, pos));
          if (failed)
            return Value();
        }
        continue;
      }
      Value subject = item;
      size_t first = 0;
      if (attrMode) {
        if (args.positional.empty())
          return failV(pos, name + "() takes an attribute name");
        subject = getItem(item, args.positional[0], pos);
        if (failed)
          return Value();
        first = 1;
      }
      bool keep;
      if (args.positional.size() <= first) {
        keep = truthy(subject);
      } else {
        const Value &t = args.positional[first];
        if (t.kind != Kind::String || !::contains(kTests, t.str()))
          return failV(pos, name + "() takes the name of a test");
        Args rest;
        rest.positional.assign(args.positional.begin() + first + 1,
                               args.positional.end());
        if (!test(t.str(), subject, rest, pos, keep))
          return Value();
      }
      if (keep == (name == "select" || name == "selectattr"))
        result.push_back(item);
    }
    return mkList(std::move(result));
  }
  return failV(pos, "the '" + name + "' filter is not supported");
}

bool Interp::test(StringRef name, const Value &v, const Args &args, size_t pos,
                  bool &result) {
  const Value *arg = args.get(0, "");
  auto needArg = [&] {
    if (!arg)
      return fail(pos, "the '" + name + "' test takes an argument");
    return true;
  };
  if (name == "defined" || name == "undefined") {
    result = (v.kind == Kind::Undefined) == (name == "undefined");
  } else if (name == "none") {
    result = v.kind == Kind::None;
  } else if (name == "string") {
    result = v.kind == Kind::String;
  } else if (name == "number") {
    result = v.isNumber();
  } else if (name == "integer") {
    result = v.kind == Kind::Int;
  } else if (name == "float") {
    result = v.kind == Kind::Float;
  } else if (name == "boolean") {
    result = v.kind == Kind::Bool;
  } else if (name == "true" || name == "false") {
    result = v.kind == Kind::Bool && v.integer == (name == "true");
  } else if (name == "mapping") {
    result = v.kind == Kind::Dict;
  } else if (name == "iterable") {
    result = v.kind == Kind::Undefined || v.kind == Kind::String ||
             v.kind == Kind::List || v.kind == Kind::Dict;
  } else if (name == "sequence") {
    result = v.kind == Kind::Undefined || v.kind == Kind::String ||
             v.kind == Kind::List || v.kind == Kind::Dict;
  } else if (name == "callable") {
    result = v.kind == Kind::Function || v.kind == Kind::Macro;
  } else if (name == "escaped") {
    result = false;
  } else if (name == "odd" || name == "even" || name == "divisibleby") {
    if (v.kind == Kind::Undefined) {
      undefinedError(v, pos);
      return false;
    }
    if (!v.isInt())
      return fail(pos, "the '" + name + "' test takes an integer");
    if (name == "divisibleby") {
      if (!needArg())
        return false;
      if (!arg->isInt() || arg->integer == 0)
        return fail(pos, "divisibleby takes a non-zero integer");
      result = arg->integer == -1 || v.integer % arg->integer == 0;
    } else {
      result = (floorMod(v.integer, 2) == 1) == (name == "odd");
    }
  } else if (name == "lower" || name == "upper") {
    Value s = v.kind == Kind::String ? v : str(v, pos);
    if (failed)
      return false;
    result =
        name == "lower" ? lower(s.str()) == s.str() : upper(s.str()) == s.str();
  } else if (name == "sameas") {
    if (!needArg())
      return false;
    result = v.kind == arg->kind &&
             (v.kind == Kind::None || v.kind == Kind::Undefined ||
              ((v.kind == Kind::Bool || v.kind == Kind::Int) &&
               v.integer == arg->integer) ||
              (v.kind == Kind::String && v.text == arg->text) ||
              (v.kind == Kind::List && v.items == arg->items) ||
              ((v.kind == Kind::Dict || v.kind == Kind::Namespace) &&
               v.dict == arg->dict));
  } else if (name == "in") {
    if (!needArg() || !contains(*arg, v, result, pos))
      return false;
  } else if (name == "filter" || name == "test") {
    if (v.kind != Kind::String)
      result = false;
    else
      result = name == "filter" ? ::contains(kFilters, v.str()) &&
                                      !::contains(kUnsupportedFilters, v.str())
                                : ::contains(kTests, v.str());
  } else {
    // Comparisons.
    if (!needArg())
      return false;
    if (name == "eq" || name == "equalto" || name == "==") {
      result = equals(v, *arg);
    } else if (name == "ne" || name == "!=") {
      result = !equals(v, *arg);
    } else if (name == "lt" || name == "lessthan" || name == "<") {
      return less(v, *arg, result, pos);
    } else if (name == "gt" || name == "greaterthan" || name == ">") {
      return less(*arg, v, result, pos);
    } else if (name == "le" || name == "<=") {
      if (!less(*arg, v, result, pos))
        return false;
      result = !result;
    } else { // ge
      if (!less(v, *arg, result, pos))
        return false;
      result = !result;
    }
  }
  return true;
}

} // namespace

//===----------------------------------------------------------------------===//
// ChatTemplate
//===----------------------------------------------------------------------===//

llvm::Expected<ChatTemplate> ChatTemplate::parse(StringRef source,
                                                 StringRef name) {
  auto program = std::make_shared<Program>();
  program->name = name.str();
  // Jinja reads every newline sequence as "\n" and drops one trailing
  // newline (keep_trailing_newline=False).
  std::string text;
  text.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      text += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n')
        ++i;
    } else {
      text += source[i];
    }
  }
  if (!text.empty() && text.back() == '\n')
    text.pop_back();
  program->lineStarts.push_back(0);
  for (size_t i = 0; i < text.size(); ++i)
    if (text[i] == '\n')
      program->lineStarts.push_back(i + 1);

  Lexer lexer(text);
  if (!lexer.run())
    return llvm::createStringError(program->location(lexer.errorPos) + ": " +
                                   lexer.error);
  Parser parser(lexer.tokens);
  if (!parser.parseTemplate(program->body))
    return llvm::createStringError(program->location(parser.errorPos) + ": " +
                                   parser.error);
  ChatTemplate t;
  t.program = std::move(program);
  return t;
}

StringRef ChatTemplate::getName() const { return program->name; }

llvm::Expected<std::string>
ChatTemplate::renderVariables(const llvm::json::Object &variables) const {
  Interp interp(*program, now);
  return interp.run(variables);
}

llvm::Expected<std::string>
ChatTemplate::render(const llvm::json::Array &messages,
                     bool addGenerationPrompt,
                     const llvm::json::Object &extra) const {
  llvm::json::Object variables{{"messages", llvm::json::Array(messages)},
                               {"add_generation_prompt", addGenerationPrompt},
                               {"tools", nullptr},
                               {"documents", nullptr}};
  for (const auto &kv : extra)
    variables[kv.first] = kv.second;
  return renderVariables(variables);
}

llvm::Expected<std::string>
ChatTemplate::render(llvm::ArrayRef<ChatMessage> messages,
                     bool addGenerationPrompt,
                     const llvm::json::Object &extra) const {
  llvm::json::Array list;
  for (const ChatMessage &m : messages)
    list.push_back(
        llvm::json::Object{{"role", m.role}, {"content", m.content}});
  return render(list, addGenerationPrompt, extra);
}

//===----------------------------------------------------------------------===//
// Finding a model's template
//===----------------------------------------------------------------------===//

static llvm::Expected<std::string> readText(const Twine &path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return fileError(path, "cannot read: " + buffer.getError().message());
  return (*buffer)->getBuffer().str();
}

static llvm::Expected<ModelChatTemplate> findGgufTemplate(StringRef path) {
  auto file = GgufFile::open(path);
  if (!file)
    return file.takeError();
  ModelChatTemplate result;
  result.name = (path + ":tokenizer.chat_template").str();
  if (!(*file)->lookup("tokenizer.chat_template"))
    return fileError(path, "no chat template (the GGUF metadata has no "
                           "tokenizer.chat_template)");
  auto source = (*file)->getString("tokenizer.chat_template");
  if (!source)
    return source.takeError();
  result.source = source->str();
  // BOS and EOS as text, when the vocabulary is there.
  auto tokens = (*file)->getStringArray("tokenizer.ggml.tokens");
  if (!tokens) {
    llvm::consumeError(tokens.takeError());
    return result;
  }
  for (auto [key, name] : {std::pair<StringRef, StringRef>{
                               "tokenizer.ggml.bos_token_id", "bos_token"},
                           {"tokenizer.ggml.eos_token_id", "eos_token"},
                           {"tokenizer.ggml.unknown_token_id", "unk_token"},
                           {"tokenizer.ggml.padding_token_id", "pad_token"}}) {
    if (!(*file)->lookup(key))
      continue;
    auto id = (*file)->getInteger(key);
    if (!id)
      return id.takeError();
    if (*id >= 0 && *id < static_cast<int64_t>(tokens->size()))
      result.specialTokens[name] = (*tokens)[*id].str();
  }
  // Unknown (2), control (3) and user-defined (4) tokens: llama.cpp
  // matches them in a chat prompt's text.
  if ((*file)->lookup("tokenizer.ggml.token_type")) {
    auto types = (*file)->getIntegerArray("tokenizer.ggml.token_type");
    if (!types)
      return types.takeError();
    for (size_t i = 0; i < types->size() && i < tokens->size(); ++i)
      if ((*types)[i] >= 2 && (*types)[i] <= 4 && !(*tokens)[i].empty())
        result.controlTokens.push_back(
            {(*tokens)[i].str(), static_cast<int32_t>(i)});
  }
  return result;
}

llvm::Expected<ModelChatTemplate> mlir::tok::findChatTemplate(StringRef path) {
  if (path.ends_with(".gguf") ||
      (llvm::sys::fs::is_regular_file(path) && !path.ends_with(".json"))) {
    auto magic = llvm::MemoryBuffer::getFileSlice(path, 4, 0);
    if (path.ends_with(".gguf") ||
        (magic && GgufFile::hasMagic((*magic)->getBuffer())))
      return findGgufTemplate(path);
    return fileError(path, "no chat template: chat templates come with "
                           "Hugging Face directories and GGUF files");
  }
  llvm::SmallString<256> dir(path);
  if (!llvm::sys::fs::is_directory(path)) {
    if (!path.ends_with(".json"))
      return fileError(path, "no chat template: chat templates come with "
                             "Hugging Face directories and GGUF files");
    dir = llvm::sys::path::parent_path(path);
    if (dir.empty())
      dir = ".";
  }
  ModelChatTemplate result;
  llvm::SmallString<256> configPath(dir), jinjaPath(dir), mapPath(dir);
  llvm::sys::path::append(configPath, "tokenizer_config.json");
  llvm::sys::path::append(jinjaPath, "chat_template.jinja");
  llvm::sys::path::append(mapPath, "special_tokens_map.json");

  std::optional<llvm::json::Value> config;
  if (llvm::sys::fs::exists(configPath)) {
    auto text = readText(configPath);
    if (!text)
      return text.takeError();
    auto parsed = parseJson(*text);
    if (!parsed)
      return fileError(configPath,
                       "malformed JSON: " + llvm::toString(parsed.takeError()));
    if (!parsed->getAsObject())
      return fileError(configPath, "expected a JSON object");
    config = std::move(*parsed);
  }
  const llvm::json::Object *obj = config ? config->getAsObject() : nullptr;

  if (llvm::sys::fs::exists(jinjaPath)) {
    auto text = readText(jinjaPath);
    if (!text)
      return text.takeError();
    result.source = std::move(*text);
    result.name = jinjaPath.str().str();
  } else if (const llvm::json::Value *t =
                 obj ? obj->get("chat_template") : nullptr) {
    result.name = configPath.str().str();
    if (std::optional<StringRef> s = t->getAsString()) {
      result.source = s->str();
    } else if (const llvm::json::Array *list = t->getAsArray()) {
      std::string names;
      for (const llvm::json::Value &entry : *list) {
        const llvm::json::Object *e = entry.getAsObject();
        std::optional<StringRef> name = e ? e->getString("name") : std::nullopt;
        std::optional<StringRef> tmpl =
            e ? e->getString("template") : std::nullopt;
        if (!name || !tmpl)
          return fileError(configPath, "chat_template: a list entry needs a "
                                       "'name' and a 'template' string");
        names += (names.empty() ? "" : ", ") + name->str();
        if (*name == "default") {
          result.source = tmpl->str();
          result.name += ":default";
        }
      }
      if (result.source.empty())
        return fileError(configPath, "chat_template lists no 'default' "
                                     "template (it has: " +
                                         names + ")");
    } else {
      return fileError(configPath,
                       "chat_template must be a string or a list of {name, "
                       "template}");
    }
  } else {
    return fileError(dir, "no chat template: neither chat_template.jinja nor "
                          "a chat_template in tokenizer_config.json");
  }

  // The special tokens: tokenizer_config.json, then special_tokens_map.json
  // for those it lacks.
  auto addTokens = [&](const llvm::json::Object &o) {
    for (StringRef key : {"bos_token", "eos_token", "unk_token", "sep_token",
                          "pad_token", "cls_token", "mask_token"}) {
      if (result.specialTokens.get(key))
        continue;
      const llvm::json::Value *v = o.get(key);
      if (!v)
        continue;
      if (std::optional<StringRef> s = v->getAsString())
        result.specialTokens[key] = s->str();
      else if (const llvm::json::Object *t = v->getAsObject())
        if (std::optional<StringRef> s = t->getString("content"))
          result.specialTokens[key] = s->str();
    }
  };
  if (obj)
    addTokens(*obj);
  if (llvm::sys::fs::exists(mapPath)) {
    auto text = readText(mapPath);
    if (!text)
      return text.takeError();
    auto parsed = parseJson(*text);
    if (!parsed)
      return fileError(mapPath,
                       "malformed JSON: " + llvm::toString(parsed.takeError()));
    if (const llvm::json::Object *o = parsed->getAsObject())
      addTokens(*o);
  }
  return result;
}

llvm::Expected<std::vector<int32_t>> mlir::tok::encodeChatText(
    const Tokenizer &tokenizer, StringRef text,
    llvm::ArrayRef<std::pair<std::string, int32_t>> controlTokens) {
  if (controlTokens.empty())
    return tokenizer.encode(text);
  // The control tokens by first byte, longest first.
  std::vector<std::vector<const std::pair<std::string, int32_t> *>> byFirst(
      256);
  for (const auto &t : controlTokens)
    if (!t.first.empty())
      byFirst[static_cast<unsigned char>(t.first[0])].push_back(&t);
  for (auto &list : byFirst)
    llvm::sort(list, [](const auto *a, const auto *b) {
      if (a->first.size() != b->first.size())
        return a->first.size() > b->first.size();
      return a->second < b->second;
    });
  std::vector<int32_t> ids;
  size_t start = 0;
  auto flush = [&](size_t end) -> llvm::Error {
    if (end == start)
      return llvm::Error::success();
    auto piece = tokenizer.encode(text.slice(start, end));
    if (!piece)
      return piece.takeError();
    ids.insert(ids.end(), piece->begin(), piece->end());
    return llvm::Error::success();
  };
  for (size_t i = 0; i < text.size();) {
    const std::pair<std::string, int32_t> *match = nullptr;
    for (const auto *t : byFirst[static_cast<unsigned char>(text[i])])
      if (text.substr(i).starts_with(t->first)) {
        match = t;
        break;
      }
    if (!match) {
      ++i;
      continue;
    }
    if (llvm::Error err = flush(i))
      return std::move(err);
    ids.push_back(match->second);
    i += match->first.size();
    start = i;
  }
  if (llvm::Error err = flush(text.size()))
    return std::move(err);
  return ids;
}

llvm::Expected<ChatPrompt>
mlir::tok::applyChatTemplate(StringRef modelPath, const Tokenizer &tokenizer,
                             llvm::ArrayRef<ChatMessage> messages,
                             bool addGenerationPrompt) {
  auto found = findChatTemplate(modelPath);
  if (!found)
    return found.takeError();
  auto chat = ChatTemplate::parse(found->source, found->name);
  if (!chat)
    return chat.takeError();
  std::time_t now = std::time(nullptr);
  std::tm local = {};
  localtime_r(&now, &local);
  chat->setNow(local);
  auto text = chat->render(messages, addGenerationPrompt, found->specialTokens);
  if (!text)
    return text.takeError();
  auto ids = encodeChatText(tokenizer, *text, found->controlTokens);
  if (!ids)
    return ids.takeError();
  return ChatPrompt{std::move(*text), std::move(*ids)};
}
