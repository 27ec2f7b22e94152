//===- ChatTemplateDetail.h - the insides of ChatTemplate -------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// What the parts of the chat-template interpreter share: its limits, its
// Python values, the syntax tree the parser (ChatTemplateParser.cpp) builds
// and the evaluator (ChatTemplate.cpp) walks, and Python's text and number
// rules (ChatTemplatePython.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef TOK_LIB_FRONTEND_CHATTEMPLATEDETAIL_H
#define TOK_LIB_FRONTEND_CHATTEMPLATEDETAIL_H

#include "tok/Frontend/ChatTemplate.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mlir::tok::chat_template_detail {

using llvm::StringRef;

//===----------------------------------------------------------------------===//
// Limits
//===----------------------------------------------------------------------===//

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
constexpr int64_t kMaxSteps = int64_t{1} << 22;
/// The bytes of strings (and of list elements, at kItemBytes each) one
/// render may build, copy or scan: with the steps, this bounds a render's
/// time whatever the sizes its operations touch.
constexpr int64_t kMaxWork = int64_t{1} << 28;
constexpr int64_t kItemBytes = 32;
/// Elements of one list (split(), iterating a string, ...).
constexpr size_t kMaxItems = size_t{1} << 18;
/// range() is bounded as jinja2's sandbox bounds it (MAX_RANGE).
constexpr int64_t kMaxRange = 100000;
/// Namespaces one render may create.
constexpr size_t kMaxNamespaces = 4096;
constexpr size_t kMaxString = ChatTemplate::kMaxOutputBytes;

//===----------------------------------------------------------------------===//
// Values
//===----------------------------------------------------------------------===//

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

inline Value mkNone() {
  Value v;
  v.kind = Kind::None;
  return v;
}
inline Value mkBool(bool b) {
  Value v;
  v.kind = Kind::Bool;
  v.integer = b;
  return v;
}
inline Value mkInt(int64_t i) {
  Value v;
  v.kind = Kind::Int;
  v.integer = i;
  return v;
}
inline Value mkReal(double d) {
  Value v;
  v.kind = Kind::Float;
  v.real = d;
  return v;
}
inline Value mkStr(std::string s) {
  Value v;
  v.kind = Kind::String;
  v.text = std::make_shared<const std::string>(std::move(s));
  return v;
}
inline Value mkUndef(std::string why) {
  Value v;
  v.kind = Kind::Undefined;
  v.text = std::make_shared<const std::string>(std::move(why));
  return v;
}
inline Value mkList(std::vector<Value> items, bool tuple = false) {
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
inline Value mkDict(std::shared_ptr<Dict> dict) {
  Value v;
  v.kind = Kind::Dict;
  unsigned d = 0;
  for (const auto &entry : dict->entries)
    d = std::max<unsigned>(d, entry.second.depth);
  v.depth = static_cast<uint16_t>(std::min(d + 1, 65535u));
  v.dict = std::move(dict);
  return v;
}
inline Value mkFunction(StringRef name, const Value *self = nullptr) {
  Value v;
  v.kind = Kind::Function;
  v.text = std::make_shared<const std::string>(name.str());
  if (self)
    v.items = std::make_shared<const std::vector<Value>>(1, *self);
  return v;
}

//===----------------------------------------------------------------------===//
// Syntax tree
//===----------------------------------------------------------------------===//

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

/// The filters and tests jinja2 knows; tok refuses the unsupported ones
/// when it parses.
inline constexpr const char *kFilters[] = {
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
inline constexpr const char *kUnsupportedFilters[] = {
    "unique",    "sum",      "wordcount",      "min",
    "max",       "dictsort", "sort",           "batch",
    "center",    "format",   "pprint",         "slice",
    "striptags", "truncate", "urlencode",      "urlize",
    "wordwrap",  "xmlattr",  "filesizeformat", "forceescape",
    "groupby",   "attr",     "random"};
inline constexpr const char *kTests[] = {
    "defined", "undefined", "none",    "string",   "number",      "integer",
    "float",   "boolean",   "mapping", "iterable", "sequence",    "callable",
    "true",    "false",     "odd",     "even",     "divisibleby", "eq",
    "equalto", "==",        "ne",      "!=",       "lt",          "lessthan",
    "<",       "le",        "<=",      "gt",       "greaterthan", ">",
    "ge",      ">=",        "in",      "sameas",   "lower",       "upper",
    "escaped", "filter",    "test"};

inline bool isListed(llvm::ArrayRef<const char *> list, StringRef name) {
  return llvm::any_of(list, [&](const char *s) { return name == s; });
}

//===----------------------------------------------------------------------===//
// Python's text and number rules (ChatTemplatePython.cpp)
//===----------------------------------------------------------------------===//

/// The byte length of the UTF-8 sequence that starts with `c` (1 for a
/// stray byte).
size_t utf8Length(unsigned char c);
/// Byte offsets of the code points of `s`, then s.size().
std::vector<size_t> charStarts(StringRef s);
size_t countChars(StringRef s);
/// The byte offset of code point `k` of `s` (s.size() for k == the number
/// of code points), or npos past that; no allocation, unlike charStarts.
size_t charOffset(StringRef s, size_t k);
void appendCodePoint(uint32_t cp, std::string &out);
/// The byte length of the whitespace code point (Python's str.isspace) at
/// byte `i` of `s`, or 0.
size_t spaceAt(StringRef s, size_t i);
/// The byte length of the whitespace code point that ends at byte `end`.
size_t spaceBefore(StringRef s, size_t end);
StringRef lstripSpace(StringRef s);
StringRef rstripSpace(StringRef s);
bool isAllSpace(StringRef s);
/// The byte length of the line boundary of Python's str.splitlines at
/// byte `i` of `s` (\n, \r, \r\n, \v, \f, \x1c-\x1e, U+0085, U+2028,
/// U+2029), or 0.
size_t lineBreakAt(StringRef s, size_t i);
bool isAsciiAlpha(char c);
bool isDigit(char c);
bool isNameChar(char c);
char toUpper(char c);
char toLower(char c);
std::string upper(StringRef s);
std::string lower(StringRef s);

/// Python's repr(float): the shortest text that reads back as `v`, fixed
/// notation for exponents in [-4, 16), scientific otherwise.
std::string formatFloat(double v);
/// Python's repr(str): non-printable code points (str.isprintable) as
/// \xhh, \uhhhh or \Uhhhhhhhh.
void reprString(StringRef s, std::string &out);
/// json.dumps of a string with ensure_ascii=False.
void jsonString(StringRef s, std::string &out);
/// Python's type name of `v`.
StringRef typeName(const Value &v);

/// Finds a substring in time linear in the text (Knuth-Morris-Pratt for
/// needles past kShortNeedle bytes, whose quadratic worst case a naive
/// search would hit).
class Searcher {
public:
  explicit Searcher(StringRef needle);
  /// The first occurrence at or after `from`, or npos.
  size_t find(StringRef text, size_t from = 0) const;
  /// The last occurrence, or npos.
  size_t rfind(StringRef text) const;

private:
  static constexpr size_t kShortNeedle = 32;
  StringRef needle;
  std::vector<size_t> border;
};

/// Python's str.split(sep, maxsplit) (sep null: runs of whitespace); stops
/// splitting past kMaxItems parts.
std::vector<std::string> pySplit(StringRef s, const std::string *sep,
                                 int64_t maxSplit);
/// Python's str.splitlines() (without the line ends).
std::vector<StringRef> pySplitLines(StringRef s);
/// Strips the code points of `chars` (null: whitespace) from `s`'s ends.
StringRef pyStrip(StringRef s, const std::string *chars, bool left, bool right);
/// Python's str.replace (an empty `old` inserts `repl` between the code
/// points); false when the result passes kMaxString bytes.
bool pyReplace(StringRef s, StringRef old, StringRef repl, int64_t count,
               std::string &out);
/// Python's str.title() and str.capitalize() (ASCII case mapping).
std::string pyTitle(StringRef s);
std::string pyCapitalize(StringRef s);

enum class NumberParse { Ok, Invalid, Overflow };
/// Python's int(text, base): surrounding whitespace, a sign, a 0x / 0o /
/// 0b prefix for base 16 / 8 / 2 (and base 0, which takes it from the
/// prefix), underscores between digits. Overflow: past int64.
NumberParse parsePyInt(StringRef text, int64_t base, int64_t &result);
/// Python's float(text): decimal or inf / infinity / nan, whitespace
/// around, underscores between digits (no hexadecimal).
bool parsePyFloat(StringRef text, double &result);
/// Python's round(x, ndigits) of a float, correctly rounded from its exact
/// decimal value, halves to even; false when the result overflows.
bool pyRoundFloat(double x, int64_t ndigits, double &result);
/// Python's round(x, ndigits) of an int; false past int64.
bool pyRoundInt(int64_t x, int64_t ndigits, int64_t &result);

/// Reads a JSON text into a Value, objects as dicts that keep the order of
/// their keys (Python's json.loads); `error` says what is malformed.
bool parseOrderedJson(StringRef text, Value &out, std::string &error);

} // namespace mlir::tok::chat_template_detail

#endif // TOK_LIB_FRONTEND_CHATTEMPLATEDETAIL_H
