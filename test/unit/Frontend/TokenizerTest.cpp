//===- TokenizerTest.cpp - tokenizers -------------------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/Tokenizer.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include "gtest/gtest.h"

#include <string>
#include <vector>

using namespace mlir::tok;

namespace {

using Ids = std::vector<int32_t>;

Ids encode(const Tokenizer &t, llvm::StringRef text) {
  auto ids = t.encode(text);
  EXPECT_TRUE(static_cast<bool>(ids)) << llvm::toString(ids.takeError());
  return ids ? *ids : Ids{};
}

std::string decode(const Tokenizer &t, const Ids &ids) {
  auto text = t.decode(ids);
  EXPECT_TRUE(static_cast<bool>(text)) << llvm::toString(text.takeError());
  return text ? *text : "";
}

std::unique_ptr<Tokenizer> parse(const std::string &json) {
  auto tok = Tokenizer::parseHuggingFace(json, "tokenizer.json");
  EXPECT_TRUE(static_cast<bool>(tok)) << llvm::toString(tok.takeError());
  return tok ? std::move(*tok) : nullptr;
}

std::string parseError(const std::string &json) {
  auto tok = Tokenizer::parseHuggingFace(json, "tokenizer.json");
  return tok ? "" : llvm::toString(tok.takeError());
}

TEST(TokenizerTest, ByteTokenizerIsTheIdentityOnBytes) {
  auto t = Tokenizer::createByteTokenizer();
  EXPECT_EQ(t->getVocabSize(), 256);
  std::string all;
  for (int b = 0; b < 256; ++b)
    all.push_back(static_cast<char>(b));
  Ids ids = encode(*t, all);
  ASSERT_EQ(ids.size(), 256u);
  EXPECT_EQ(ids[0], 0);
  EXPECT_EQ(ids[255], 255);
  EXPECT_EQ(decode(*t, ids), all);
  auto bad = t->decode({65, 256});
  ASSERT_FALSE(static_cast<bool>(bad));
  EXPECT_EQ(llvm::toString(bad.takeError()),
            "token id 256 is outside the vocabulary of 256");
}

// GPT-2 byte-level BPE: a space is 'Ġ' (U+0120). The ranks decide: "a b"
// merges first everywhere, so "Ġ a" (rank 2) never finds its pair.
const char *kByteLevel = R"({
  "added_tokens": [{"id": 7, "content": "<s>"}],
  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false,
                    "use_regex": false},
  "decoder": {"type": "ByteLevel"},
  "model": {"type": "BPE",
    "vocab": {"a": 0, "b": 1, "c": 2, "\u0120": 3, "ab": 4, "abc": 5,
              "\u0120a": 6},
    "merges": ["a b", ["ab", "c"], "\u0120 a"]}})";

TEST(TokenizerTest, ByteLevelBPEAppliesMergesByRank) {
  auto t = parse(kByteLevel);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->getVocabSize(), 8);
  EXPECT_EQ(encode(*t, "abc ab"), (Ids{5, 3, 4}));
  EXPECT_EQ(encode(*t, " a"), (Ids{6}));
  EXPECT_EQ(decode(*t, {5, 3, 4}), "abc ab");
  // Added tokens are matched verbatim and split the text around them.
  EXPECT_EQ(encode(*t, "ab<s>c"), (Ids{4, 7, 2}));
  EXPECT_EQ(decode(*t, {4, 7, 2}), "ab<s>c");
  auto missing = t->encode("x");
  ASSERT_FALSE(static_cast<bool>(missing));
  EXPECT_NE(llvm::toString(missing.takeError()).find("byte 120 has no token"),
            std::string::npos);
}

// SentencePiece-style BPE (Llama 2): spaces become U+2581, a leading one is
// prepended, unknown characters fall back to <0xXX> byte tokens.
const char *kSentencePiece = R"({
  "normalizer": {"type": "Sequence", "normalizers": [
    {"type": "Prepend", "prepend": "\u2581"},
    {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
  "pre_tokenizer": null,
  "model": {"type": "BPE", "byte_fallback": true,
    "vocab": {"<0x0A>": 0, "\u2581": 1, "h": 2, "i": 3, "\u2581h": 4,
              "\u2581hi": 5, "hi": 6, "<0xC3>": 7, "<0xA9>": 8},
    "merges": ["\u2581 h", "\u2581h i", "h i"]}})";

TEST(TokenizerTest, SentencePieceBPEWithByteFallback) {
  auto t = parse(kSentencePiece);
  ASSERT_TRUE(t);
  EXPECT_EQ(encode(*t, "hi\nhi"), (Ids{5, 0, 6}));
  EXPECT_EQ(decode(*t, {5, 0, 6}), "hi\nhi");
  EXPECT_EQ(encode(*t, "hi hi"), (Ids{5, 5}));
  EXPECT_EQ(decode(*t, {5, 5}), "hi hi");
  // "é" is not in the vocabulary: its two UTF-8 bytes fall back.
  EXPECT_EQ(encode(*t, "\xc3\xa9"), (Ids{1, 7, 8}));
  EXPECT_EQ(decode(*t, {1, 7, 8}), "\xc3\xa9");
  auto noFallback = t->encode("Z");
  ASSERT_FALSE(static_cast<bool>(noFallback));
  EXPECT_NE(llvm::toString(noFallback.takeError())
                .find("no token for byte 90 and no byte fallback"),
            std::string::npos);
  auto bad = t->decode({9});
  ASSERT_FALSE(static_cast<bool>(bad));
  EXPECT_EQ(llvm::toString(bad.takeError()),
            "token id 9 is outside the vocabulary of 9");
}

TEST(TokenizerTest, RejectsBadTokenizerFiles) {
  EXPECT_NE(parseError("{").find("tokenizer.json: malformed JSON"),
            std::string::npos);
  EXPECT_NE(parseError("{}").find("missing the 'model' object"),
            std::string::npos);
  EXPECT_NE(parseError(R"({"model": {"type": "WordPiece", "vocab": {}}})")
                .find("model type 'WordPiece' is not supported"),
            std::string::npos);
  EXPECT_NE(
      parseError(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}}})")
          .find("vocabulary id 0 is used twice"),
      std::string::npos);
  EXPECT_NE(parseError(R"({"model": {"type": "BPE", "vocab": {"a": 5}}})")
                .find("vocabulary entry 'a' has id outside [0, 1)"),
            std::string::npos);
  EXPECT_NE(parseError(R"({"model": {"type": "BPE", "vocab": {"a": 0},)"
                       R"( "merges": ["a a"]}})")
                .find("merge #0 ('a' + 'a') does not join two vocabulary "
                      "tokens into a third"),
            std::string::npos);
  EXPECT_NE(parseError(R"({"pre_tokenizer": {"type": "ByteLevel"},)"
                       R"( "model": {"type": "BPE", "vocab": {"a": 0}}})")
                .find("regex split is not supported yet"),
            std::string::npos);
}

/// The shared model's tokenizer.json: byte-level BPE without merges, one
/// token per byte, agreeing with the byte tokenizer.
TEST(TokenizerTest, SharedPyllamaTokenizerMatchesBytes) {
  llvm::SmallString<256> path(TOK_SOURCE_DIR);
  for (const char *part :
       {"..", "shared", "models", "pyllama-4m", "tokenizer.json"})
    llvm::sys::path::append(path, part);
  if (!llvm::sys::fs::exists(path))
    GTEST_SKIP() << "no " << path.str().str();
  auto t = Tokenizer::openHuggingFace(path);
  ASSERT_TRUE(static_cast<bool>(t)) << llvm::toString(t.takeError());
  EXPECT_EQ((*t)->getVocabSize(), 256);
  EXPECT_EQ(encode(**t, "def "), (Ids{100, 101, 102, 32}));
  std::string text = "def f(x):\n\treturn x  # \xc3\xa9";
  text += {'\0', '\xff', '\x01'};
  auto bytes = Tokenizer::createByteTokenizer();
  Ids ids = encode(**t, text);
  EXPECT_EQ(ids, encode(*bytes, text));
  EXPECT_EQ(decode(**t, ids), text);
}

TEST(TokenizerTest, MissingFileNamesIt) {
  auto t = Tokenizer::openHuggingFace("/nonexistent/tokenizer.json");
  ASSERT_FALSE(static_cast<bool>(t));
  EXPECT_NE(llvm::toString(t.takeError())
                .find("/nonexistent/tokenizer.json: cannot read"),
            std::string::npos);
}

} // namespace
