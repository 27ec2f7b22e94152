//===- ChatTemplateParser.cpp - Jinja lexer and parser --------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The front half of the chat-template interpreter (ChatTemplate.h):
//  - a lexer that splits the source into text and the tokens of tags,
//    applying Jinja's whitespace rules on the way (a single trailing
//    newline dropped, trim_blocks, lstrip_blocks, '-' and '+' markers);
//  - a recursive-descent parser with Jinja's grammar and operator
//    precedences that builds a tree of statements and expressions
//    (ChatTemplateDetail.h), and refuses unknown filters and tests as
//    Jinja's compiler does.
//
//===----------------------------------------------------------------------===//

#include "ChatTemplateDetail.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/Twine.h"

using namespace mlir::tok;
using namespace mlir::tok::chat_template_detail;
using llvm::StringRef;
using llvm::Twine;

namespace {

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
  ChatTemplateErrc errorKind = ChatTemplateErrc::Syntax;

private:
  StringRef src;

  bool fail(size_t pos, const Twine &msg,
            ChatTemplateErrc kind = ChatTemplateErrc::Syntax) {
    if (error.empty()) {
      error = msg.str();
      errorPos = pos;
      errorKind = kind;
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
    return fail(s, "integer literal " + text + " is too large",
                ChatTemplateErrc::Limit);
  }
  tokens.push_back(std::move(t));
  return true;
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
// Parser
//===----------------------------------------------------------------------===//

namespace {

class Parser {
public:
  explicit Parser(const std::vector<Token> &tokens) : toks(tokens) {}
  bool parseTemplate(Body &out) {
    std::string end;
    return subparse(out, {}, end);
  }

  std::string error;
  size_t errorPos = 0;
  ChatTemplateErrc errorKind = ChatTemplateErrc::Syntax;

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

  bool fail(size_t pos, const Twine &msg,
            ChatTemplateErrc kind = ChatTemplateErrc::Syntax) {
    if (error.empty()) {
      error = msg.str();
      errorPos = pos;
      errorKind = kind;
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
      fail(e->pos,
           "expression nested deeper than " + Twine(kMaxParseDepth) + " levels",
           ChatTemplateErrc::Limit);
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
    return fail(cur().pos,
                "statements nested deeper than " + Twine(kMaxParseDepth) +
                    " levels",
                ChatTemplateErrc::Limit);
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
  if (isListed(known, name))
    return fail(t.pos, "the '" + name + "' tag is not supported",
                ChatTemplateErrc::Unsupported);
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
    return fail(cur().pos, "recursive loops are not supported",
                ChatTemplateErrc::Unsupported);
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
         "expression nested deeper than " + Twine(kMaxParseDepth) + " levels",
         ChatTemplateErrc::Limit);
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
      fail(cur().pos,
           "expression nested deeper than " + Twine(kMaxParseDepth) + " levels",
           ChatTemplateErrc::Limit);
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
         "expression nested deeper than " + Twine(kMaxParseDepth) + " levels",
         ChatTemplateErrc::Limit);
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
  // A slice among several subscripts (x[1:2, 3]) would be a tuple holding
  // a slice object, which no template needs (and the fuzzer found).
  for (const ExprPtr &s : subs)
    if (s->kind == ExprKind::Slice) {
      fail(s->pos, "a slice in a tuple subscript is not supported",
           ChatTemplateErrc::Unsupported);
      return nullptr;
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
      return fail(cur().pos, "*args and **kwargs are not supported",
                  ChatTemplateErrc::Unsupported);
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
    if (!isListed(kFilters, t.text)) {
      fail(t.pos, "no filter named '" + t.text + "'");
      return nullptr;
    }
    if (isListed(kUnsupportedFilters, t.text)) {
      fail(t.pos, "the '" + t.text + "' filter is not supported",
           ChatTemplateErrc::Unsupported);
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
  if (!isListed(kTests, t.text)) {
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

} // namespace

//===----------------------------------------------------------------------===//
// ChatTemplate::parse
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
    return llvm::make_error<ChatTemplateError>(
        lexer.errorKind,
        program->location(lexer.errorPos) + ": " + lexer.error);
  Parser parser(lexer.tokens);
  if (!parser.parseTemplate(program->body))
    return llvm::make_error<ChatTemplateError>(
        parser.errorKind,
        program->location(parser.errorPos) + ": " + parser.error);
  ChatTemplate t;
  t.program = std::move(program);
  return t;
}
