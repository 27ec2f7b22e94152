//===- ChatTemplateTest.cpp - Jinja chat templates ------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The renderer against jinja2 in transformers' environment: the chat
// templates of real model families over a set of conversations, and small
// templates for one rule each, whose texts Inputs/chat_templates.json
// holds (written by bench/conformance/make_chat_fixtures.py), read with
// their dicts in order and each error required to be of jinja2's category;
// then parse errors, Undefined, whitespace control, hostile templates
// (refused, and quickly), control tokens and finding a model's template.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/ChatTemplate.h"
#include "tok/Frontend/ChatPrompt.h"
#include "tok/Frontend/Tokenizer.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include "gtest/gtest.h"

#include <chrono>
#include <string>

using namespace mlir::tok;

namespace {

/// The fixtures' strftime_now time: 2025-03-14 15:09:26 (a Friday).
std::tm fixtureNow() {
  std::tm t = {};
  t.tm_year = 2025 - 1900;
  t.tm_mon = 2;
  t.tm_mday = 14;
  t.tm_hour = 15;
  t.tm_min = 9;
  t.tm_sec = 26;
  t.tm_wday = 5;
  t.tm_yday = 72;
  return t;
}

/// Renders `source` with `variables`; the text or "ERROR: <message>".
std::string render(llvm::StringRef source,
                   const llvm::json::Object &variables = {}) {
  auto t = ChatTemplate::parse(source, "t");
  if (!t)
    return "ERROR: " + llvm::toString(t.takeError());
  t->setNow(fixtureNow());
  auto text = t->renderVariables(variables);
  if (!text)
    return "ERROR: " + llvm::toString(text.takeError());
  return *text;
}

bool startsWith(const std::string &s, llvm::StringRef prefix) {
  return llvm::StringRef(s).starts_with(prefix);
}

/// The category name and message of a ChatTemplateError ("not a
/// ChatTemplateError" for any other error).
std::pair<std::string, std::string> describeError(llvm::Error err) {
  std::pair<std::string, std::string> result{"not a ChatTemplateError", ""};
  llvm::handleAllErrors(
      std::move(err),
      [&](const ChatTemplateError &e) {
        result = {chatTemplateErrcName(e.getErrc()).str(), e.getMessage()};
      },
      [&](const llvm::ErrorInfoBase &e) { result.second = e.message(); });
  return result;
}

/// The category of the error of rendering `source`, or "rendered".
std::string errorCategory(llvm::StringRef source) {
  auto t = ChatTemplate::parse(source, "t");
  if (!t)
    return describeError(t.takeError()).first;
  auto text = t->renderVariables({});
  if (!text)
    return describeError(text.takeError()).first;
  return "rendered";
}

class ChatFixtures : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    llvm::SmallString<256> path(TOK_SOURCE_DIR);
    llvm::sys::path::append(path, "test", "unit", "Frontend", "Inputs");
    llvm::sys::path::append(path, "chat_templates.json");
    auto buffer = llvm::MemoryBuffer::getFile(path);
    ASSERT_TRUE(bool(buffer)) << path.str().str();
    auto parsed = llvm::json::parse((*buffer)->getBuffer());
    ASSERT_TRUE(bool(parsed)) << llvm::toString(parsed.takeError());
    doc = new llvm::json::Value(std::move(*parsed));
  }
  static void TearDownTestSuite() {
    delete doc;
    doc = nullptr;
  }
  static const llvm::json::Object &root() { return *doc->getAsObject(); }

  /// Checks a rendered text (or error) against a fixture entry.
  static void check(const llvm::json::Object &c,
                    llvm::Expected<std::string> got) {
    std::string name = c.getString("name")->str();
    if (std::optional<llvm::StringRef> want = c.getString("expected")) {
      ASSERT_TRUE(bool(got)) << name << ": " << llvm::toString(got.takeError());
      EXPECT_EQ(*got, want->str()) << name;
      return;
    }
    const llvm::json::Object *error = c.getObject("error");
    ASSERT_TRUE(error) << name;
    ASSERT_FALSE(bool(got)) << name << ": rendered, jinja2 failed with "
                            << error->getString("exception")->str();
    checkError(c, got.takeError());
  }
  /// Checks an error against a fixture entry's: the same category (the
  /// exception jinja2 raised), and its message where the fixture has one.
  static void checkError(const llvm::json::Object &c, llvm::Error err) {
    std::string name = c.getString("name")->str();
    const llvm::json::Object &error = *c.getObject("error");
    auto [category, message] = describeError(std::move(err));
    EXPECT_EQ(category, error.getString("category")->str())
        << name << ": '" << message
        << "' (jinja2: " << error.getString("exception")->str() << ")";
    llvm::StringRef want = *error.getString("message");
    EXPECT_NE(message.find(want.str()), std::string::npos)
        << name << ": '" << message << "' lacks '" << want.str() << "'";
  }

  static llvm::json::Value *doc;
};

llvm::json::Value *ChatFixtures::doc = nullptr;

/// Real templates (Llama 2 / 3.1 / 3.2 (excerpt), Qwen2.5 with tools, Gemma 2 /
/// 3, Mistral v3 with tools, Phi-3, Zephyr, DeepSeek-R1, ChatML) over
/// conversations with and without a system message, several turns,
/// Unicode, the generation prompt on and off, tool calls, and the
/// conversations a template refuses with raise_exception.
TEST_F(ChatFixtures, RealTemplatesMatchJinja) {
  const llvm::json::Object *templates = root().getObject("templates");
  const llvm::json::Array *cases = root().getArray("cases");
  ASSERT_TRUE(templates && cases);
  int checked = 0, errors = 0;
  for (const llvm::json::Value &v : *cases) {
    const llvm::json::Object &c = *v.getAsObject();
    llvm::StringRef name = *c.getString("template");
    auto t = ChatTemplate::parse(*templates->getString(name), name);
    ASSERT_TRUE(bool(t)) << llvm::toString(t.takeError());
    t->setNow(fixtureNow());
    check(c, t->renderJson(*c.getString("messages_json"),
                           *c.getBoolean("add_generation_prompt"),
                           *c.getString("variables_json")));
    ++checked;
    errors += c.get("error") != nullptr;
  }
  EXPECT_EQ(checked, 203);
  EXPECT_EQ(errors, 16);
}

/// One Jinja rule each: whitespace control, loops and scopes, namespace,
/// macros, Python's text of values, operators and precedence, tests,
/// filters, methods, subscripts, literals, and the errors.
TEST_F(ChatFixtures, SnippetsMatchJinja) {
  const llvm::json::Array *snippets = root().getArray("snippets");
  ASSERT_TRUE(snippets);
  int checked = 0;
  for (const llvm::json::Value &v : *snippets) {
    const llvm::json::Object &c = *v.getAsObject();
    auto t = ChatTemplate::parse(*c.getString("source"), "snippet");
    ++checked;
    if (!t && c.getObject("error")) {
      checkError(c, t.takeError());
      continue;
    }
    ASSERT_TRUE(bool(t)) << c.getString("name")->str() << ": "
                         << llvm::toString(t.takeError());
    t->setNow(fixtureNow());
    check(c, t->renderVariablesJson(*c.getString("variables_json")));
  }
  EXPECT_EQ(checked, 81);
}

TEST(ChatTemplateTest, RendersMessages) {
  auto t = ChatTemplate::parse(
      "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m['content'] }}"
      "{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
      "{{ tools is none }}",
      "chatml");
  ASSERT_TRUE(bool(t)) << llvm::toString(t.takeError());
  auto text = t->render({{"system", "S"}, {"user", "U"}}, true,
                        llvm::json::Object{{"bos_token", "<s>"}});
  ASSERT_TRUE(bool(text)) << llvm::toString(text.takeError());
  EXPECT_EQ(*text, "<s><system>S<user>U<assistant>True");
  EXPECT_EQ(t->getName(), "chatml");
}

/// Messages are dicts in transformers' order: role, content, then the
/// other keys as given (renderJson keeps a JSON text's order; llvm::json
/// objects, which have none, give the other keys sorted).
TEST(ChatTemplateTest, MessagesKeepTheirKeyOrder) {
  auto t = ChatTemplate::parse("{% for m in messages %}{{ m | tojson }} "
                               "{{ m.items() | list }}|{% endfor %}",
                               "t");
  ASSERT_TRUE(bool(t)) << llvm::toString(t.takeError());
  auto text = t->render({{"user", "U"}}, false);
  ASSERT_TRUE(bool(text)) << llvm::toString(text.takeError());
  EXPECT_EQ(*text, R"({"role": "user", "content": "U"} )"
                   R"([('role', 'user'), ('content', 'U')]|)");
  text = t->render(
      llvm::json::Array{llvm::json::Object{{"tool_calls", llvm::json::Array{}},
                                           {"content", "C"},
                                           {"name", "n"},
                                           {"role", "assistant"}}},
      false, {});
  ASSERT_TRUE(bool(text)) << llvm::toString(text.takeError());
  EXPECT_EQ(*text,
            R"({"role": "assistant", "content": "C", "name": "n", )"
            R"("tool_calls": []} [('role', 'assistant'), ('content', 'C'), )"
            R"(('name', 'n'), ('tool_calls', [])]|)");
  text = t->renderJson(
      R"([{"z": 1, "role": "tool", "a": {"y": 2, "b": 3}, "content": "x"}])",
      false);
  ASSERT_TRUE(bool(text)) << llvm::toString(text.takeError());
  EXPECT_EQ(*text,
            R"({"z": 1, "role": "tool", "a": {"y": 2, "b": 3}, "content": )"
            R"("x"} [('z', 1), ('role', 'tool'), ('a', {'y': 2, 'b': 3}), )"
            R"(('content', 'x')]|)");
  // Malformed JSON input is an error of its own category.
  text = t->renderJson("[{\"role\": }]", false);
  ASSERT_FALSE(bool(text));
  EXPECT_EQ(describeError(text.takeError()).first, "input");
}

/// Errors carry the category of jinja2's exception, or tok's own.
TEST(ChatTemplateTest, ErrorsHaveCategories) {
  EXPECT_EQ(errorCategory("{% if %}"), "syntax");
  EXPECT_EQ(errorCategory("{% include 'x' %}"), "unsupported");
  EXPECT_EQ(errorCategory("{{ [1] | sort }}"), "unsupported");
  EXPECT_EQ(errorCategory("{{ raise_exception('no') }}"), "raise");
  EXPECT_EQ(errorCategory("{{ x.y }}"), "undefined");
  EXPECT_EQ(errorCategory("{{ 1 + 'a' }}"), "type");
  EXPECT_EQ(errorCategory("{{ 'a'.split('') }}"), "value");
  EXPECT_EQ(errorCategory("{{ 1 // 0 }}"), "zero-division");
  EXPECT_EQ(errorCategory("{{ range(100001) }}"), "overflow");
  EXPECT_EQ(errorCategory("{% set x = 1 %}{% set x.a = 1 %}"), "runtime");
  EXPECT_EQ(errorCategory("{{ 9223372036854775807 + 1 }}"), "limit");
  EXPECT_EQ(errorCategory("{{ '1' }}"), "rendered");
  // Found by tok-fuzz-chat-template: a slice in a tuple subscript.
  EXPECT_EQ(errorCategory("{{ 'hello'[::, -0] }}"), "unsupported");
}

TEST(ChatTemplateTest, ParseErrorsNameLineAndColumn) {
  EXPECT_EQ(render("line one\n{% if x %}\n  {{ x + }}\n{% endif %}"),
            "ERROR: t:3:10: expected an expression, got end of print "
            "statement");
  EXPECT_EQ(render("{% if x %}a{% endfor %}"),
            "ERROR: t:1:15: unexpected 'endfor'");
  EXPECT_EQ(render("{% for x in y %}\n{% if x %}"),
            "ERROR: t:2:11: unexpected end of template, expected 'elif' or "
            "'else' or 'endif'");
  EXPECT_EQ(render("{{ x | nosuchfilter }}"),
            "ERROR: t:1:8: no filter named 'nosuchfilter'");
  EXPECT_EQ(render("{{ x is nosuchtest }}"),
            "ERROR: t:1:9: no test named 'nosuchtest'");
  EXPECT_EQ(render("{% frobnicate %}"),
            "ERROR: t:1:4: unknown tag 'frobnicate'");
  EXPECT_EQ(render("{% include 'x' %}"),
            "ERROR: t:1:4: the 'include' tag is not supported");
  EXPECT_EQ(render("ab\n{{ 'unterminated }}"),
            "ERROR: t:2:4: unterminated string");
  EXPECT_EQ(render("{# never closed"),
            "ERROR: t:1:1: missing end of comment tag");
  EXPECT_EQ(render("{{ x ) }}"), "ERROR: t:1:6: unexpected ')'");
  EXPECT_EQ(render("{% break %}"), "ERROR: t:1:4: 'break' outside a loop");
  EXPECT_EQ(render("{{ x"), "ERROR: t:1:5: unexpected end of template, "
                            "expected '}}'");
}

TEST(ChatTemplateTest, RaiseExceptionCarriesTheMessage) {
  std::string got =
      render("x\n{% if messages[0].role == 'system' %}"
             "{{ raise_exception('System role not supported') "
             "}}{% endif %}",
             llvm::json::Object{
                 {"messages",
                  llvm::json::Array{llvm::json::Object{{"role", "system"}}}}});
  EXPECT_EQ(got, "ERROR: t:2:41: System role not supported");
}

TEST(ChatTemplateTest, UndefinedIsEmptyButNotAnObject) {
  EXPECT_EQ(render("[{{ nothing }}]{{ nothing is defined }}"
                   "{{ nothing | default('d') }}{{ nothing | length }}"),
            "[]Falsed0");
  EXPECT_EQ(render("{% if nothing %}yes{% else %}no{% endif %}"), "no");
  EXPECT_EQ(render("{% for x in nothing %}x{% endfor %}done"), "done");
  EXPECT_EQ(render("{{ nothing.attr }}"),
            "ERROR: t:1:11: 'nothing' is undefined");
  EXPECT_EQ(render("{{ d.missing.x }}",
                   llvm::json::Object{{"d", llvm::json::Object{}}}),
            "ERROR: t:1:13: 'dict object' has no attribute 'missing'");
  EXPECT_EQ(render("{{ nothing + 1 }}"),
            "ERROR: t:1:12: 'nothing' is undefined");
  // strftime_now exists only with a time: without one, templates that test
  // for it take their fallback.
  auto t = ChatTemplate::parse(
      "{% if strftime_now is defined %}{{ strftime_now('%d %b %Y') }}"
      "{% else %}26 Jul 2024{% endif %}",
      "t");
  ASSERT_TRUE(bool(t));
  auto plain = t->renderVariables({});
  ASSERT_TRUE(bool(plain));
  EXPECT_EQ(*plain, "26 Jul 2024");
  t->setNow(fixtureNow());
  auto dated = t->renderVariables({});
  ASSERT_TRUE(bool(dated));
  EXPECT_EQ(*dated, "14 Mar 2025");
}

/// trim_blocks drops the newline after a block tag (not after {{ }});
/// lstrip_blocks the indentation before one; '-' strips all whitespace on
/// its side, '+' keeps it.
TEST(ChatTemplateTest, WhitespaceControl) {
  EXPECT_EQ(render("{% if true %}\n  a\n{% endif %}\nb"), "  a\nb");
  EXPECT_EQ(render("x\n    {% if true %}y{% endif %}"), "x\ny");
  EXPECT_EQ(render("x\n    {{ 'y' }}\n"), "x\n    y");
  EXPECT_EQ(render("x  {% if true %}y{% endif %}"), "x  y");
  EXPECT_EQ(render("x\n  {%+ if true %}y{% endif %}"), "x\n  y");
  EXPECT_EQ(render("{% if true +%}\ny{% endif %}"), "\ny");
  EXPECT_EQ(render("a \n\t {{- 'b' -}} \n c"), "abc");
  EXPECT_EQ(render("a\n{#- note -#}\n b"), "ab");
  EXPECT_EQ(render("{% raw %}{{ x }}{% endraw %}"), "{{ x }}");
}

/// Hostile templates end in an error, not a crash or a hang.
TEST(ChatTemplateTest, HostileTemplatesAreRefused) {
  auto fails = [](const std::string &source, llvm::StringRef what) {
    std::string got = render(source);
    EXPECT_TRUE(startsWith(got, "ERROR: ") &&
                got.find(what.str()) != std::string::npos)
        << source.substr(0, 80) << " -> " << got.substr(0, 200);
  };
  // Nesting in the source.
  fails("{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') +
            " }}",
        "nested deeper than");
  fails("{{ " + std::string(100000, '[') + std::string(100000, ']') + " }}",
        "nested deeper than");
  std::string sum = "{{ 1";
  for (int i = 0; i < 100000; ++i)
    sum += " + 1";
  fails(sum + " }}", "nested deeper than");
  std::string chain = "{{ x";
  for (int i = 0; i < 100000; ++i)
    chain += " | trim";
  fails(chain + " }}", "nested deeper than");
  std::string ifs;
  for (int i = 0; i < 5000; ++i)
    ifs += "{% if true %}";
  fails(ifs, "statements nested deeper than");
  fails("{{ " + std::string(100000, '-') + "1 }}", "nested deeper than");
  std::string nots = "{{ ";
  for (int i = 0; i < 50000; ++i)
    nots += "not ";
  fails(nots + "x }}", "nested deeper than");
  // Work and size at run time.
  fails("{% for i in range(100000) %}{% for j in range(100000) %}"
        "{% endfor %}{% endfor %}",
        "loop iterations");
  fails("{% for i in range(10000000) %}{% endfor %}",
        "The sandbox blocks ranges larger than MAX_RANGE (100000)");
  fails("{% for i in range(100000) %}{{ 'x' * 200 }}{% endfor %}",
        "the output exceeds 16777216 bytes");
  fails("{{ 'x' * 100000000000 }}", "a string of more than");
  fails("{{ [1] * 100000000000 }}", "a list of more than");
  fails("{{ ('x' * 300000).split('') }}", "empty separator");
  fails("{{ ('x ' * 300000).split() }}", "a list of more than");
  fails("{% set ns = namespace(s='xx') %}{% for i in range(64) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "a string of more than");
  fails("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
        "macro calls nested deeper than 64");
  fails("{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}"
        "{% endif %}{% endmacro %}{{ f(60) }}",
        "evaluation steps");
  fails("{% set ns = namespace(l=[]) %}{% for i in range(100000) %}"
        "{% set ns.l = [ns.l] %}{% endfor %}",
        "values nested deeper than 256");
  // A namespace that holds itself, printed and compared.
  fails("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}",
        "values nested deeper than");
  EXPECT_EQ(render("{% set ns = namespace() %}{% set ns.me = ns %}"
                   "{{ ns == ns.me }}"),
            "True");
  // A long chain of namespaces built by assignment is freed without
  // recursion.
  EXPECT_EQ(render("{% set st = namespace(cur=namespace()) %}"
                   "{% for i in range(5000) %}{% set n = namespace() %}"
                   "{% set c = st.cur %}{% set c.next = n %}"
                   "{% set st.cur = n %}{% endfor %}ok"),
            "ERROR: t:1:79: more than 4096 namespaces");
  EXPECT_EQ(render("{% set st = namespace(cur=namespace()) %}"
                   "{% for i in range(4000) %}{% set c = st.cur %}"
                   "{% set c.next = namespace() %}{% set st.cur = c.next %}"
                   "{% endfor %}ok"),
            "ok");
  // Deep JSON variables.
  llvm::json::Value deep = llvm::json::Array{};
  for (int i = 0; i < 300; ++i)
    deep = llvm::json::Array{std::move(deep)};
  auto t = ChatTemplate::parse("{{ x }}", "t");
  ASSERT_TRUE(bool(t));
  auto got = t->renderVariables(llvm::json::Object{{"x", std::move(deep)}});
  ASSERT_FALSE(bool(got));
  EXPECT_EQ(llvm::toString(got.takeError()),
            "t: variables nested deeper than 256 levels");
}

/// Work is bounded by the bytes an operation touches, not by the number
/// of operations alone: templates that repeat operations on 16 MiB
/// strings or on long lists, or that run the most steps and iterations
/// allowed, end with an error in well under a second each (the bound here
/// leaves room for slow machines and sanitizers).
TEST(ChatTemplateTest, HostileTemplatesEndQuickly) {
  const std::string big = "{% set s = 'x' * 16000000 %}";
  const std::string list = "{% set a = ['x' * 1000000] * 200000 %}"
                           "{% set b = ['x' * 1000000] * 200000 %}";
  const std::pair<std::string, llvm::StringRef> cases[] = {
      {big + "{% for i in range(100) %}{% for j in range(100) %}"
             "{% set t = s ~ '' %}{% endfor %}{% endfor %}",
       "bytes"},
      {big + "{% for i in range(10000) %}{{ s | length }}{% endfor %}",
       "bytes"},
      {big + "{% for i in range(10000) %}{{ s[-1] }}{% endfor %}", "bytes"},
      {big + "{% for i in range(10000) %}{% set t %}{{ s }}{% endset %}"
             "{% endfor %}",
       "bytes"},
      {big + "{% set n = 'x' * 8000000 ~ 'y' %}{% for i in range(1000) %}"
             "{{ n in s }}{{ s.count(n) }}{{ s.find(n) }}{% endfor %}",
       "bytes"},
      {big + "{% for i in range(1000) %}{{ s.strip(s) }}{{ s == s ~ '' }}"
             "{% endfor %}",
       "bytes"},
      {list + "{{ a == b }}", "bytes"},
      {list + "{{ a | map('upper') | list | length }}", "bytes"},
      {list + "{% for i in range(100000) %}{% for x in a | reverse %}"
              "{% break %}{% endfor %}{% endfor %}",
       "bytes"},
      {list + "{% for i in range(100000) %}{{ a[1:] | length }}{% endfor %}",
       "bytes"},
      {"{% for i in range(100000) %}{% for j in range(100000) %}"
       "{% endfor %}{% endfor %}",
       "loop iterations"},
      {"{% for i in range(100000) %}{% for j in range(10) %}"
       "{{ i + j - i * j }}{% endfor %}{% endfor %}",
       "evaluation steps"},
      {"{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}"
       "{% endif %}{% endmacro %}{{ f(60) }}",
       "evaluation steps"},
  };
  for (const auto &[source, what] : cases) {
    auto start = std::chrono::steady_clock::now();
    std::string got = render(source);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    EXPECT_TRUE(startsWith(got, "ERROR: ") &&
                got.find(what.str()) != std::string::npos)
        << source.substr(0, 120) << " -> " << got.substr(0, 200);
    EXPECT_LT(seconds, 5.0) << source.substr(0, 120);
  }
}

/// Control tokens (GGUF's) split the rendered text as llama.cpp's
/// tokenizer_st_partition does; the pieces between them are encoded as
/// they are (no BOS).
TEST(ChatTemplateTest, EncodesControlTokensOfTheText) {
  std::unique_ptr<Tokenizer> bytes = Tokenizer::createByteTokenizer();
  auto ids = encodeChatText(*bytes, "<s>ab<|x|>c<|x<s>",
                            {{"<s>", 1000}, {"<|x|>", 1001}, {"<|x", 1002}});
  ASSERT_TRUE(bool(ids)) << llvm::toString(ids.takeError());
  EXPECT_EQ(*ids,
            (std::vector<int32_t>{1000, 'a', 'b', 1001, 'c', 1002, 1000}));
  // llama.cpp's order: the longest token first over the whole text, not
  // the leftmost match: "BCD" takes its bytes before "AB" is looked for.
  ids = encodeChatText(*bytes, "xABCD AB", {{"AB", 2000}, {"BCD", 2001}});
  ASSERT_TRUE(bool(ids)) << llvm::toString(ids.takeError());
  EXPECT_EQ(*ids, (std::vector<int32_t>{'x', 'A', 2001, ' ', 2000}));
  // A token's occurrences do not overlap each other; equal lengths go by
  // id.
  ids = encodeChatText(*bytes, "aaa", {{"aa", 3000}});
  ASSERT_TRUE(bool(ids)) << llvm::toString(ids.takeError());
  EXPECT_EQ(*ids, (std::vector<int32_t>{3000, 'a'}));
  ids = encodeChatText(*bytes, "aXY", {{"aX", 1}, {"XY", 2}});
  ASSERT_TRUE(bool(ids)) << llvm::toString(ids.takeError());
  EXPECT_EQ(*ids, (std::vector<int32_t>{1, 'Y'}));
  ids = encodeChatText(*bytes, "aXY", {{"aX", 2}, {"XY", 1}});
  ASSERT_TRUE(bool(ids)) << llvm::toString(ids.takeError());
  EXPECT_EQ(*ids, (std::vector<int32_t>{'a', 1}));
  auto plain = encodeChatText(*bytes, "<s>a", {});
  ASSERT_TRUE(bool(plain));
  EXPECT_EQ(*plain, (std::vector<int32_t>{'<', 's', '>', 'a'}));
}

/// The directories makeModelDir made, removed by the test that made them.
std::vector<std::string> modelDirs;

/// Writes `files` (name, text) into a fresh directory.
std::string
makeModelDir(llvm::ArrayRef<std::pair<std::string, std::string>> files) {
  llvm::SmallString<128> dir;
  EXPECT_FALSE(llvm::sys::fs::createUniqueDirectory("chat-template", dir));
  modelDirs.push_back(dir.str().str());
  for (const auto &[name, text] : files) {
    llvm::SmallString<128> path(dir);
    llvm::sys::path::append(path, name);
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec);
    EXPECT_FALSE(ec);
    os << text;
  }
  return dir.str().str();
}

TEST(ChatTemplateTest, FindsTheTemplateOfAModelDirectory) {
  // A string and AddedToken-style special tokens.
  std::string dir = makeModelDir(
      {{"tokenizer_config.json",
        R"({"chat_template": "{{ bos_token }}{{ messages[0].content }}",
            "bos_token": {"__type": "AddedToken", "content": "<s>"},
            "eos_token": "</s>", "pad_token": null})"},
       {"config.json", "{}"}});
  auto found = findChatTemplate(dir);
  ASSERT_TRUE(bool(found)) << llvm::toString(found.takeError());
  EXPECT_EQ(found->source, "{{ bos_token }}{{ messages[0].content }}");
  EXPECT_EQ(*found->specialTokens.getString("bos_token"), "<s>");
  EXPECT_EQ(*found->specialTokens.getString("eos_token"), "</s>");
  EXPECT_FALSE(found->specialTokens.get("pad_token"));
  // config.json names the same directory.
  auto viaConfig = findChatTemplate(dir + "/config.json");
  ASSERT_TRUE(bool(viaConfig));
  EXPECT_EQ(viaConfig->source, found->source);

  // A list of named templates: "default" is used.
  dir = makeModelDir({{"tokenizer_config.json",
                       R"({"chat_template": [
                             {"name": "tool_use", "template": "T"},
                             {"name": "default", "template": "D"}]})"}});
  found = findChatTemplate(dir);
  ASSERT_TRUE(bool(found));
  EXPECT_EQ(found->source, "D");
  dir = makeModelDir({{"tokenizer_config.json",
                       R"({"chat_template": [
                             {"name": "tool_use", "template": "T"}]})"}});
  found = findChatTemplate(dir);
  ASSERT_FALSE(bool(found));
  EXPECT_NE(llvm::toString(found.takeError())
                .find("chat_template lists no 'default' template (it has: "
                      "tool_use)"),
            std::string::npos);

  // chat_template.jinja takes precedence.
  dir = makeModelDir({{"tokenizer_config.json",
                       R"({"chat_template": "old", "eos_token": "<e>"})"},
                      {"chat_template.jinja", "new\n"}});
  found = findChatTemplate(dir);
  ASSERT_TRUE(bool(found));
  EXPECT_EQ(found->source, "new\n");
  EXPECT_EQ(*found->specialTokens.getString("eos_token"), "<e>");

  // No template anywhere.
  dir = makeModelDir({{"tokenizer_config.json", R"({"eos_token": "<e>"})"}});
  found = findChatTemplate(dir);
  ASSERT_FALSE(bool(found));
  EXPECT_NE(llvm::toString(found.takeError()).find("no chat template"),
            std::string::npos);
  found = findChatTemplate("builtin");
  ASSERT_FALSE(bool(found));
  EXPECT_NE(llvm::toString(found.takeError()).find("no chat template"),
            std::string::npos);
  for (const std::string &d : modelDirs)
    llvm::sys::fs::remove_directories(d);
  modelDirs.clear();
}

} // namespace
