//===- ChatTemplate.cpp - chat templates of Hugging Face models -----------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The evaluator of the chat-template interpreter (ChatTemplate.h): it walks
// the tree the parser built (ChatTemplateParser.cpp) over Python-like
// values (None, bool, int, float, str, list / tuple, dict, namespace) whose
// str() / repr() / json.dumps text is Python's (ChatTemplatePython.cpp),
// with Jinja's default Undefined for missing names. Every error is a
// ChatTemplateError "<name>:<line>:<column>: <problem>" whose category
// names the exception jinja2 raises in its place.
//
// A render's time is bounded: every statement and expression is a step,
// every byte a step builds, copies or scans (a list element counting as
// kItemBytes) is work, and both have a budget.
//
//===----------------------------------------------------------------------===//

#include "ChatTemplateDetail.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/Twine.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

using namespace mlir::tok;
using namespace mlir::tok::chat_template_detail;
using llvm::StringRef;
using llvm::Twine;

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

char ChatTemplateError::ID = 0;

void ChatTemplateError::log(llvm::raw_ostream &os) const { os << message; }

std::error_code ChatTemplateError::convertToErrorCode() const {
  return llvm::inconvertibleErrorCode();
}

StringRef mlir::tok::chatTemplateErrcName(ChatTemplateErrc errc) {
  switch (errc) {
  case ChatTemplateErrc::Syntax:
    return "syntax";
  case ChatTemplateErrc::Unsupported:
    return "unsupported";
  case ChatTemplateErrc::Raise:
    return "raise";
  case ChatTemplateErrc::Undefined:
    return "undefined";
  case ChatTemplateErrc::Runtime:
    return "runtime";
  case ChatTemplateErrc::Type:
    return "type";
  case ChatTemplateErrc::Value:
    return "value";
  case ChatTemplateErrc::ZeroDivision:
    return "zero-division";
  case ChatTemplateErrc::Overflow:
    return "overflow";
  case ChatTemplateErrc::Limit:
    return "limit";
  case ChatTemplateErrc::Input:
    return "input";
  }
  return "unknown";
}

namespace {

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

  /// Renders with `variables` (names and values).
  llvm::Expected<std::string>
  run(std::vector<std::pair<std::string, Value>> variables);
  /// A JSON value as a Value (dict keys sorted; with `messageOrder`, a
  /// dict's "role" and "content" first); null when nested too deeply.
  static std::optional<Value> fromJson(const llvm::json::Value &j,
                                       unsigned level,
                                       bool messageOrder = false);

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
  ChatTemplateErrc errorKind = ChatTemplateErrc::Type;
  int64_t steps = 0, iterations = 0;
  /// Bytes built, copied or scanned (see kMaxWork).
  int64_t work = 0;
  unsigned depth = 0, macroDepth = 0;
  std::vector<std::shared_ptr<Dict>> namespaces;

  struct Guard {
    unsigned &d;
    explicit Guard(unsigned &d) : d(d) { ++d; }
    ~Guard() { --d; }
  };

  bool fail(size_t pos, const Twine &msg,
            ChatTemplateErrc kind = ChatTemplateErrc::Type) {
    if (!failed) {
      failed = true;
      errorKind = kind;
      error = prog.location(pos) + ": " + msg.str();
    }
    return false;
  }
  Value failV(size_t pos, const Twine &msg,
              ChatTemplateErrc kind = ChatTemplateErrc::Type) {
    fail(pos, msg, kind);
    return Value();
  }
  bool limit(size_t pos, const Twine &msg) {
    return fail(pos, msg, ChatTemplateErrc::Limit);
  }
  Value limitV(size_t pos, const Twine &msg) {
    limit(pos, msg);
    return Value();
  }
  /// Counts one step of work and one level of nesting.
  bool enter(size_t pos) {
    if (failed)
      return false;
    if (++steps > kMaxSteps)
      return limit(pos, "the template took more than " + Twine(kMaxSteps) +
                            " evaluation steps");
    if (depth > kMaxRunDepth)
      return limit(pos, "evaluation nested deeper than " + Twine(kMaxRunDepth) +
                            " levels");
    return spend(0, pos);
  }
  /// Counts `bytes` of work (built, copied or scanned).
  bool spend(size_t bytes, size_t pos) {
    work += static_cast<int64_t>(std::min<size_t>(bytes, kMaxWork));
    if (work > kMaxWork)
      return limit(pos, "the template built or scanned more than " +
                            Twine(kMaxWork) + " bytes");
    return !failed;
  }
  /// The work of searching for `needle`, per byte of the text: a long
  /// needle is searched for by Knuth-Morris-Pratt, slower than memchr.
  static size_t searchCost(StringRef needle) {
    return needle.size() > 32 ? 3 : 1;
  }
  /// Counts the copy or scan of `count` list elements.
  bool spendItems(size_t count, size_t pos) {
    return spend(std::min<size_t>(count, kMaxWork) * kItemBytes, pos);
  }
  bool checkSize(size_t bytes, size_t pos) {
    if (bytes > kMaxString)
      return limit(pos,
                   "a string of more than " + Twine(kMaxString) + " bytes");
    return true;
  }
  bool checkItems(size_t count, size_t pos) {
    if (count > kMaxItems)
      return limit(pos, "a list of more than " + Twine(kMaxItems) + " items");
    return true;
  }
  bool checkDepth(const Value &v, size_t pos) {
    if (v.depth > kMaxValueDepth)
      return limit(pos, "values nested deeper than " + Twine(kMaxValueDepth) +
                            " levels");
    return true;
  }
  bool emit(StringRef s, size_t pos) {
    if (out->size() + s.size() > kMaxString)
      return limit(pos, "the output exceeds " + Twine(kMaxString) + " bytes");
    out->append(s.data(), s.size());
    return spend(s.size(), pos);
  }
  /// A new string value of `s`, its bytes counted as work.
  Value newStr(std::string s, size_t pos) {
    if (!spend(s.size(), pos))
      return Value();
    return mkStr(std::move(s));
  }
  /// A new list value of `items`, its elements counted as work.
  Value newList(std::vector<Value> items, size_t pos, bool tuple = false) {
    if (!spendItems(items.size(), pos))
      return Value();
    return mkList(std::move(items), tuple);
  }

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
  /// Python's ==; false after an error (the work it took past the
  /// budget), which the caller checks.
  bool equals(const Value &a, const Value &b, size_t pos, unsigned level = 0);
  bool less(const Value &a, const Value &b, bool &result, size_t pos,
            unsigned level = 0);
  bool contains(const Value &container, const Value &item, bool &result,
                size_t pos);
  /// The undefined-value error of `v` (an Undefined) at `pos`.
  Value undefinedError(const Value &v, size_t pos) {
    return failV(pos, v.str(), ChatTemplateErrc::Undefined);
  }
  Value str(const Value &v, size_t pos) {
    std::string s;
    if (!toStr(v, s, pos))
      return Value();
    return mkStr(std::move(s));
  }
  Value newNamespace(size_t pos) {
    if (namespaces.size() >= kMaxNamespaces)
      return limitV(pos, "more than " + Twine(kMaxNamespaces) + " namespaces");
    Value v;
    v.kind = Kind::Namespace;
    v.depth = 1;
    v.dict = std::make_shared<Dict>();
    namespaces.push_back(v.dict);
    return v;
  }
};

std::optional<Value> Interp::fromJson(const llvm::json::Value &j,
                                      unsigned level, bool messageOrder) {
  if (level > kMaxValueDepth)
    return std::nullopt;
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
      std::optional<Value> v = fromJson(x, level + 1);
      if (!v)
        return std::nullopt;
      items.push_back(std::move(*v));
    }
    return mkList(std::move(items));
  }
  case llvm::json::Value::Object: {
    const llvm::json::Object &o = *j.getAsObject();
    std::vector<StringRef> keys;
    for (const auto &kv : o)
      keys.push_back(kv.first);
    llvm::sort(keys, [&](StringRef a, StringRef b) {
      if (messageOrder) {
        auto rank = [](StringRef k) {
          return k == "role" ? 0 : k == "content" ? 1 : 2;
        };
        if (rank(a) != rank(b))
          return rank(a) < rank(b);
      }
      return a < b;
    });
    auto d = std::make_shared<Dict>();
    for (StringRef k : keys) {
      std::optional<Value> v = fromJson(*o.get(k), level + 1);
      if (!v)
        return std::nullopt;
      d->set(k, std::move(*v));
    }
    return mkDict(std::move(d));
  }
  }
  return mkNone();
}

llvm::Expected<std::string>
Interp::run(std::vector<std::pair<std::string, Value>> variables) {
  frames.emplace_back();
  for (auto &[name, value] : variables)
    frames[0][name] = std::move(value);
  std::string result;
  out = &result;
  exec(prog.body);
  if (failed)
    return llvm::make_error<ChatTemplateError>(errorKind, error);
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
        fail(n.pos,
             "cannot assign attribute on non-namespace object '" + n.names[0] +
                 "'",
             ChatTemplateErrc::Runtime);
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
    return fail(pos,
                items.size() < names.size()
                    ? "not enough values to unpack (expected " +
                          Twine(names.size()) + ", got " + Twine(items.size()) +
                          ")"
                    : "too many values to unpack (expected " +
                          Twine(names.size()) + ")",
                ChatTemplateErrc::Value);
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
      limit(n.pos, "the template ran more than " + Twine(kMaxIterations) +
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
    if (!spendItems(v.list().size(), pos))
      return false;
    items = v.list();
    return true;
  case Kind::Dict:
    if (!spendItems(v.dict->entries.size(), pos))
      return false;
    for (const auto &entry : v.dict->entries) {
      if (!spend(entry.first.size(), pos))
        return false;
      items.push_back(mkStr(entry.first));
    }
    return true;
  case Kind::String: {
    StringRef s = v.str();
    if (!spend(s.size(), pos))
      return false;
    size_t count = countChars(s);
    if (!checkItems(count, pos) || !spendItems(count, pos))
      return false;
    std::vector<size_t> starts = charStarts(s);
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
    return checkSize(s.size(), pos) && spend(v.str().size(), pos);
  default: {
    size_t before = s.size();
    return repr(v, s, pos, level) && spend(s.size() - before, pos);
  }
  }
}

bool Interp::repr(const Value &v, std::string &s, size_t pos, unsigned level) {
  if (level > kMaxValueDepth)
    return limit(pos, "values nested deeper than " + Twine(kMaxValueDepth) +
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
    return limit(pos, "values nested deeper than " + Twine(kMaxValueDepth) +
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

bool Interp::equals(const Value &a, const Value &b, size_t pos,
                    unsigned level) {
  if (level > kMaxValueDepth || failed)
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
    if (a.text == b.text)
      return true;
    if (a.str().size() != b.str().size())
      return false;
    return spend(a.str().size(), pos) && a.str() == b.str();
  case Kind::List: {
    if (a.tuple != b.tuple || a.list().size() != b.list().size())
      return false;
    if (a.items == b.items)
      return true;
    for (size_t k = 0; k < a.list().size(); ++k)
      if (!spendItems(1, pos) ||
          !equals(a.list()[k], b.list()[k], pos, level + 1))
        return false;
    return true;
  }
  case Kind::Dict: {
    if (a.dict->entries.size() != b.dict->entries.size())
      return false;
    if (a.dict == b.dict)
      return true;
    for (const auto &entry : a.dict->entries) {
      if (!spend(entry.first.size() + kItemBytes, pos))
        return false;
      const Value *other = b.dict->find(entry.first);
      if (!other || !equals(entry.second, *other, pos, level + 1))
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
    return limit(pos, "values nested deeper than " + Twine(kMaxValueDepth) +
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
    if (!spend(std::min(a.str().size(), b.str().size()), pos))
      return false;
    result = a.str() < b.str();
    return true;
  }
  if (a.kind == Kind::List && b.kind == Kind::List && a.tuple == b.tuple) {
    const auto &x = a.list(), &y = b.list();
    for (size_t k = 0; k < x.size() && k < y.size(); ++k) {
      if (!spendItems(1, pos))
        return false;
      if (equals(x[k], y[k], pos))
        continue;
      if (failed)
        return false;
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
    if (!spend(container.str().size() * searchCost(item.str()) +
                   item.str().size(),
               pos))
      return false;
    result = Searcher(item.str()).find(container.str()) != StringRef::npos;
    return true;
  case Kind::List:
    result = llvm::any_of(container.list(), [&](const Value &x) {
      return spendItems(1, pos) && equals(x, item, pos);
    });
    return !failed;
  case Kind::Dict:
    if (item.kind == Kind::String && !spend(item.str().size(), pos))
      return false;
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
        return failV(e.args[k]->pos, "only strings are supported as dict keys",
                     ChatTemplateErrc::Unsupported);
      if (!spend(key.str().size() + kItemBytes, e.pos))
        return Value();
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
      return limitV(e.pos, "integer overflow");
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
    if (op == "==" || op == "!=") {
      result = equals(left, right, pos) == (op == "==");
      if (failed)
        return Value();
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
        return failV(pos, "division by zero", ChatTemplateErrc::ZeroDivision);
      return mkReal(u / w);
    }
    if (op == "+" || op == "-" || op == "*") {
      if (real)
        return mkReal(op == "+" ? u + w : op == "-" ? u - w : u * w);
      bool overflow = op == "+"   ? __builtin_add_overflow(x, y, &r)
                      : op == "-" ? __builtin_sub_overflow(x, y, &r)
                                  : __builtin_mul_overflow(x, y, &r);
      if (overflow)
        return limitV(pos, "integer overflow");
      return mkInt(r);
    }
    if (op == "//" || op == "%") {
      if (w == 0)
        return failV(pos,
                     op == "//" ? "integer division or modulo by zero"
                                : "modulo by zero",
                     ChatTemplateErrc::ZeroDivision);
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
        return op == "%" ? mkInt(0) : limitV(pos, "integer overflow");
      return mkInt(op == "//" ? floorDiv(x, y) : floorMod(x, y));
    }
    if (op == "**") {
      if (real || y < 0)
        return mkReal(std::pow(u, w));
      int64_t result = 1, base = x;
      for (int64_t e = y; e > 0; e >>= 1) {
        if ((e & 1) && __builtin_mul_overflow(result, base, &result))
          return limitV(pos, "integer overflow");
        if (e > 1 && __builtin_mul_overflow(base, base, &base))
          return limitV(pos, "integer overflow");
      }
      return mkInt(result);
    }
    return unsupported();
  }
  if (op == "+") {
    if (a.kind == Kind::String && b.kind == Kind::String) {
      if (!checkSize(a.str().size() + b.str().size(), pos))
        return Value();
      return newStr(a.str().str() + b.str().str(), pos);
    }
    if (a.kind == Kind::List && b.kind == Kind::List && a.tuple == b.tuple) {
      if (!checkItems(a.list().size() + b.list().size(), pos) ||
          !spendItems(a.list().size() + b.list().size(), pos))
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
      if (len && !spend(n * len, pos))
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
    if (len && !spendItems(n * len, pos))
      return Value();
    std::vector<Value> items;
    for (int64_t k = 0; k < n && len; ++k)
      items.insert(items.end(), seq->list().begin(), seq->list().end());
    return mkList(std::move(items), seq->tuple);
  }
  if (op == "%" && a.kind == Kind::String)
    return failV(pos, "printf-style string formatting is not supported",
                 ChatTemplateErrc::Unsupported);
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
    if (isListed(stringMethods, name))
      return mkFunction(name, &obj);
    break;
  case Kind::Dict:
    if (isListed(dictMethods, name))
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
    if (!spend(key.str().size(), pos))
      return Value();
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
      StringRef s = obj.str();
      int64_t k = key.integer;
      if (k < 0) {
        if (!spend(s.size(), pos))
          return Value();
        k = normalizeIndex(k, countChars(s));
      }
      size_t at = k >= 0 ? charOffset(s, static_cast<size_t>(k)) : s.npos;
      if (!spend(at == s.npos ? s.size() : at, pos))
        return Value();
      if (at < s.size())
        return mkStr(
            s.substr(at, std::min(utf8Length(s[at]), s.size() - at)).str());
    }
  }
  std::string keyText;
  if (!repr(key, keyText, pos, 0) || !spend(keyText.size(), pos))
    return Value();
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
    // The offsets of the code points: 8 bytes each.
    if (!spend(obj.str().size() * 9, pos))
      return Value();
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
    return failV(pos, "slice step cannot be zero", ChatTemplateErrc::Value);
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
  if (!spendItems(picked.size(), pos))
    return Value();
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
    return failV(pos, text, ChatTemplateErrc::Raise);
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
      return failV(pos, "range() arg 3 must not be zero",
                   ChatTemplateErrc::Value);
    // jinja2's sandbox refuses ranges of more than MAX_RANGE items.
    __int128 span = st > 0 ? __int128{hi} - lo : __int128{lo} - hi;
    __int128 step = st > 0 ? st : -__int128{st};
    __int128 length = span > 0 ? (span - 1) / step + 1 : 0;
    if (length > kMaxRange)
      return failV(pos,
                   "Range too big. The sandbox blocks ranges larger than "
                   "MAX_RANGE (" +
                       Twine(kMaxRange) + ").",
                   ChatTemplateErrc::Overflow);
    std::vector<Value> items;
    items.reserve(static_cast<size_t>(length));
    for (int64_t k = 0; k < static_cast<int64_t>(length); ++k)
      items.push_back(mkInt(lo + k * st));
    return newList(std::move(items), pos);
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
      for (const auto &entry : init.dict->entries) {
        if (!spend(entry.first.size() + kItemBytes, pos))
          return Value();
        d->set(entry.first, entry.second);
      }
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
    if (!spend(format->str().size(), pos))
      return Value();
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
    return limitV(pos, "macro calls nested deeper than " +
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
      if (key->kind == Kind::String && !spend(key->str().size(), pos))
        return Value();
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
    Value v = newList(std::move(items), pos);
    return !failed && checkDepth(v, pos) ? v : Value();
  }
  // String methods: each scans the string and its arguments.
  StringRef s = self.str();
  size_t argBytes = 0, cost = 1;
  for (const Value &a : args.positional)
    if (a.kind == Kind::String) {
      argBytes += a.str().size();
      cost = std::max(cost, searchCost(a.str()));
    }
  for (const auto &kw : args.named)
    if (kw.second.kind == Kind::String) {
      argBytes += kw.second.str().size();
      cost = std::max(cost, searchCost(kw.second.str()));
    }
  if (!spend(s.size() * cost + argBytes, pos))
    return Value();
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
    if (from < 0)
      from = std::max<int64_t>(from + static_cast<int64_t>(countChars(s)), 0);
    size_t at = charOffset(s, static_cast<size_t>(from));
    StringRef rest = s.drop_front(at == s.npos ? s.size() : at);
    for (const Value &o : options) {
      if (!spendItems(1, pos) ||
          (o.kind == Kind::String && !spend(o.str().size(), pos)))
        return Value();
      if (o.kind != Kind::String)
        return failV(pos, name +
                              "() takes a string or a tuple of strings, "
                              "not " +
                              typeName(o));
      if (at != s.npos && (name == "startswith" ? rest.starts_with(o.str())
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
      return failV(pos, "empty separator", ChatTemplateErrc::Value);
    if (name == "rsplit" && maxSplit >= 0)
      return failV(pos, "rsplit() with maxsplit is not supported",
                   ChatTemplateErrc::Unsupported);
    std::vector<std::string> parts = pySplit(s, sep, maxSplit);
    if (!checkItems(parts.size(), pos))
      return Value();
    std::vector<Value> items;
    for (std::string &p : parts)
      items.push_back(mkStr(std::move(p)));
    return newList(std::move(items), pos);
  }
  if (name == "splitlines") {
    std::vector<StringRef> lines = pySplitLines(s);
    if (!checkItems(lines.size(), pos))
      return Value();
    std::vector<Value> items;
    for (StringRef line : lines)
      items.push_back(mkStr(line.str()));
    return newList(std::move(items), pos);
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
      return limitV(pos,
                    "a string of more than " + Twine(kMaxString) + " bytes");
    return newStr(std::move(r), pos);
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
      Searcher searcher(*sub);
      int64_t n = 0;
      for (size_t i = searcher.find(s); i != StringRef::npos;
           i = searcher.find(s, i + sub->size()))
        ++n;
      return mkInt(n);
    }
    Searcher searcher(*sub);
    size_t i = name == "find" ? searcher.find(s) : searcher.rfind(s);
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
    return newStr(std::move(r), pos);
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
    return !failed && spend(s.str().size(), pos);
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
      if (!spend(v.str().size(), pos))
        return Value();
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
      // jinja2's do_indent: the text plus "\n", split by splitlines() (all
      // of Python's line boundaries), joined by "\n" with the lines after
      // the first indented (empty ones only with `blank`); `first`
      // indents the start, even of an empty first line.
      const Value *width = args.get(0, "width");
      const Value *first = args.get(1, "first");
      const Value *blank = args.get(2, "blank");
      std::string ind = "    ";
      if (width && width->kind == Kind::String)
        ind = width->str().str();
      else if (width && width->isInt())
        ind = std::string(std::clamp<int64_t>(width->integer, 0, 1024), ' ');
      else if (width)
        return failV(pos, "indent()'s width must be an int or a string");
      std::string text = s.str() + "\n";
      std::vector<StringRef> lines = pySplitLines(text);
      std::string r = first && truthy(*first) ? ind : "";
      for (size_t k = 0; k < lines.size(); ++k) {
        if (k) {
          r += '\n';
          if (!lines[k].empty() || (blank && truthy(*blank)))
            r += ind;
        }
        r += lines[k];
        if (!checkSize(r.size(), pos))
          return Value();
      }
      return newStr(std::move(r), pos);
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
    return newStr(std::move(r), pos);
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
    if (!spend(sv.str().size() * (searchCost(old->str()) - 1) +
                   old->str().size() + repl->str().size(),
               pos))
      return Value();
    if (!pyReplace(sv.str(), old->str(), repl->str(),
                   count && count->isInt() ? count->integer : -1, r))
      return limitV(pos,
                    "a string of more than " + Twine(kMaxString) + " bytes");
    return newStr(std::move(r), pos);
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
    return newStr(std::move(r), pos);
  }
  if (name == "first" || name == "last") {
    std::vector<Value> items;
    if (v.kind == Kind::Undefined || (v.kind == Kind::List && v.list().empty()))
      return mkUndef("no " + name.str() + " item, sequence was empty");
    if (v.kind == Kind::List)
      return name == "first" ? v.list().front() : v.list().back();
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
    return newStr(std::move(r), pos);
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
      if (!spend(v.str().size() * 9, pos))
        return Value();
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
    // jinja2's do_int: int(value, base), else int(float(value)), else the
    // default; do_float: float(value), else the default.
    const Value *dflt = args.get(0, "default");
    Value fallback = dflt ? *dflt : name == "int" ? mkInt(0) : mkReal(0);
    if (v.kind == Kind::Undefined)
      return undefinedError(v, pos);
    auto truncate = [&](double d) {
      if (!std::isfinite(d))
        return fallback;
      if (std::fabs(d) >= 9223372036854775808.0)
        return limitV(pos, "integer overflow");
      return mkInt(static_cast<int64_t>(d));
    };
    if (v.isNumber()) {
      if (name == "float")
        return mkReal(v.asReal());
      return v.kind == Kind::Float ? truncate(v.real) : mkInt(v.integer);
    }
    if (v.kind != Kind::String)
      return fallback;
    if (!spend(v.str().size(), pos))
      return Value();
    if (name == "int") {
      const Value *base = args.get(1, "base");
      int64_t b = base ? (base->isInt() ? base->integer : -1) : 10;
      if (b == 0 || (b >= 2 && b <= 36)) {
        int64_t i;
        switch (parsePyInt(v.str(), b, i)) {
        case NumberParse::Ok:
          return mkInt(i);
        case NumberParse::Overflow:
          return limitV(pos, "integer overflow");
        case NumberParse::Invalid:
          break;
        }
      }
    }
    double d;
    if (!parsePyFloat(v.str(), d))
      return fallback;
    return name == "float" ? mkReal(d) : truncate(d);
  }
  if (name == "abs") {
    if (v.kind == Kind::Float)
      return mkReal(std::fabs(v.real));
    if (v.isInt()) {
      if (v.integer == INT64_MIN)
        return limitV(pos, "integer overflow");
      return mkInt(std::llabs(v.integer));
    }
    return failV(pos, "bad operand type for abs(): '" + typeName(v) + "'");
  }
  if (name == "round") {
    // jinja2's do_round: "common" is Python's round(value, precision) (an
    // int stays an int), "ceil" / "floor" math.ceil / math.floor of
    // value * 10 ** precision, divided by 10 ** precision (a float).
    if (!v.isNumber())
      return failV(pos,
                   "type " + typeName(v) + " doesn't define __round__ method");
    const Value *precision = args.get(0, "precision");
    const Value *method = args.get(1, "method");
    if (precision && !precision->isInt())
      return failV(pos, "'" + typeName(*precision) +
                            "' object cannot be interpreted as an integer");
    int64_t p = precision ? precision->integer : 0;
    StringRef m = "common";
    if (method && method->kind == Kind::String)
      m = method->str();
    if (m != "common" && m != "ceil" && m != "floor")
      return failV(pos, "method must be common, ceil or floor",
                   ChatTemplateErrc::Runtime);
    if (m == "common") {
      if (v.isInt()) {
        int64_t r;
        if (!pyRoundInt(v.integer, p, r))
          return limitV(pos, "integer overflow");
        return mkInt(r);
      }
      double r;
      if (!pyRoundFloat(v.real, p, r))
        return failV(pos, "rounded value too large to represent",
                     ChatTemplateErrc::Overflow);
      return mkReal(r);
    }
    if (v.isInt() && p >= 0)
      return mkReal(static_cast<double>(v.integer));
    // 10 ** p: an int made a float (an error past the floats) or, for a
    // negative p, pow().
    if (p > 308)
      return failV(pos, "int too large to convert to float",
                   ChatTemplateErrc::Overflow);
    double scale = p >= 0
                       ? std::strtod(("1e" + Twine(p)).str().c_str(), nullptr)
                       : std::pow(10.0, static_cast<double>(p));
    double x = v.asReal() * scale;
    if (std::isinf(x))
      return failV(pos, "cannot convert float infinity to integer",
                   ChatTemplateErrc::Overflow);
    if (std::isnan(x))
      return failV(pos, "cannot convert float NaN to integer",
                   ChatTemplateErrc::Value);
    if (scale == 0)
      return failV(pos, "float division by zero",
                   ChatTemplateErrc::ZeroDivision);
    return mkReal((m == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
  }
  if (name == "map" || name == "select" || name == "reject" ||
      name == "selectattr" || name == "rejectattr") {
    std::vector<Value> items, result;
    if (!iterate(v, items, pos))
      return Value();
    bool attrMode = name == "selectattr" || name == "rejectattr";
    bool mapAttr = name == "map" && args.get(0, "") == nullptr;
    for (const Value &item : items) {
      if (!spendItems(1, pos))
        return Value();
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
          if (f.kind != Kind::String || !isListed(kFilters, f.str()) ||
              isListed(kUnsupportedFilters, f.str()) || f.str() == "map")
            return failV(pos, "map() takes the name of a supported filter",
                         f.kind == Kind::String &&
                                 isListed(kUnsupportedFilters, f.str())
                             ? ChatTemplateErrc::Unsupported
                             : ChatTemplateErrc::Runtime);
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
        if (t.kind != Kind::String || !isListed(kTests, t.str()))
          return failV(pos, name + "() takes the name of a test",
                       ChatTemplateErrc::Runtime);
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
  return failV(pos, "the '" + name + "' filter is not supported",
               ChatTemplateErrc::Unsupported);
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
        return fail(pos, "divisibleby takes a non-zero integer",
                    arg->isInt() ? ChatTemplateErrc::ZeroDivision
                                 : ChatTemplateErrc::Type);
      result = arg->integer == -1 || v.integer % arg->integer == 0;
    } else {
      result = (floorMod(v.integer, 2) == 1) == (name == "odd");
    }
  } else if (name == "lower" || name == "upper") {
    Value s = v.kind == Kind::String ? v : str(v, pos);
    if (failed || !spend(s.str().size(), pos))
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
      result = name == "filter" ? isListed(kFilters, v.str()) &&
                                      !isListed(kUnsupportedFilters, v.str())
                                : isListed(kTests, v.str());
  } else {
    // Comparisons.
    if (!needArg())
      return false;
    if (name == "eq" || name == "equalto" || name == "==") {
      result = equals(v, *arg, pos);
      return !failed;
    } else if (name == "ne" || name == "!=") {
      result = !equals(v, *arg, pos);
      return !failed;
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

StringRef ChatTemplate::getName() const { return program->name; }

namespace {
using Variables = std::vector<std::pair<std::string, Value>>;

llvm::Error inputError(const Program &prog, const Twine &msg) {
  return llvm::make_error<ChatTemplateError>(ChatTemplateErrc::Input,
                                             prog.name + ": " + msg.str());
}

/// The variables of a JSON object, dicts sorted (or in message order).
llvm::Error addJsonVariables(const Program &prog,
                             const llvm::json::Object &object,
                             Variables &vars) {
  std::vector<StringRef> keys;
  for (const auto &kv : object)
    keys.push_back(kv.first);
  llvm::sort(keys);
  for (StringRef k : keys) {
    std::optional<Value> v = Interp::fromJson(*object.get(k), 0);
    if (!v)
      return inputError(prog, "variables nested deeper than " +
                                  Twine(kMaxValueDepth) + " levels");
    vars.push_back({k.str(), std::move(*v)});
  }
  return llvm::Error::success();
}

/// The variables of a JSON object's text, dicts in the order of the text.
llvm::Error addJsonVariables(const Program &prog, StringRef json,
                             StringRef what, Variables &vars) {
  Value v;
  std::string error;
  if (!parseOrderedJson(json, v, error))
    return inputError(prog, "malformed JSON " + what + ": " + error);
  if (v.kind != Kind::Dict)
    return inputError(prog, what + " must be a JSON object");
  for (auto &[name, value] : v.dict->entries)
    vars.push_back({name, value});
  return llvm::Error::success();
}

/// transformers' variables of a conversation: messages,
/// add_generation_prompt, tools and documents (None).
Variables chatVariables(Value messages, bool addGenerationPrompt) {
  Variables vars;
  vars.push_back({"messages", std::move(messages)});
  vars.push_back({"add_generation_prompt", mkBool(addGenerationPrompt)});
  vars.push_back({"tools", mkNone()});
  vars.push_back({"documents", mkNone()});
  return vars;
}
} // namespace

llvm::Expected<std::string>
ChatTemplate::renderVariables(const llvm::json::Object &variables) const {
  Variables vars;
  if (llvm::Error err = addJsonVariables(*program, variables, vars))
    return std::move(err);
  Interp interp(*program, now);
  return interp.run(std::move(vars));
}

llvm::Expected<std::string>
ChatTemplate::renderVariablesJson(StringRef variablesJson) const {
  Variables vars;
  if (llvm::Error err =
          addJsonVariables(*program, variablesJson, "variables", vars))
    return std::move(err);
  Interp interp(*program, now);
  return interp.run(std::move(vars));
}

llvm::Expected<std::string>
ChatTemplate::render(const llvm::json::Array &messages,
                     bool addGenerationPrompt,
                     const llvm::json::Object &extra) const {
  std::vector<Value> list;
  for (const llvm::json::Value &m : messages) {
    std::optional<Value> v = Interp::fromJson(m, 1, /*messageOrder=*/true);
    if (!v)
      return inputError(*program, "messages nested deeper than " +
                                      Twine(kMaxValueDepth) + " levels");
    list.push_back(std::move(*v));
  }
  Variables vars = chatVariables(mkList(std::move(list)), addGenerationPrompt);
  if (llvm::Error err = addJsonVariables(*program, extra, vars))
    return std::move(err);
  Interp interp(*program, now);
  return interp.run(std::move(vars));
}

llvm::Expected<std::string>
ChatTemplate::renderJson(StringRef messagesJson, bool addGenerationPrompt,
                         StringRef extraJson) const {
  Value messages;
  std::string error;
  if (!parseOrderedJson(messagesJson, messages, error))
    return inputError(*program, "malformed JSON messages: " + error);
  if (messages.kind != Kind::List)
    return inputError(*program, "the messages must be a JSON array");
  Variables vars = chatVariables(std::move(messages), addGenerationPrompt);
  if (llvm::Error err = addJsonVariables(*program, extraJson, "extra", vars))
    return std::move(err);
  Interp interp(*program, now);
  return interp.run(std::move(vars));
}

llvm::Expected<std::string>
ChatTemplate::render(llvm::ArrayRef<ChatMessage> messages,
                     bool addGenerationPrompt,
                     const llvm::json::Object &extra) const {
  std::vector<Value> list;
  for (const ChatMessage &m : messages) {
    auto d = std::make_shared<Dict>();
    d->set("role", mkStr(m.role));
    d->set("content", mkStr(m.content));
    list.push_back(mkDict(std::move(d)));
  }
  Variables vars = chatVariables(mkList(std::move(list)), addGenerationPrompt);
  if (llvm::Error err = addJsonVariables(*program, extra, vars))
    return std::move(err);
  Interp interp(*program, now);
  return interp.run(std::move(vars));
}
