//===- TokenizerTest.cpp - tokenizers -------------------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/Tokenizer.h"
#include "tok/Frontend/PreTokenizer.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include "gtest/gtest.h"

#include <cstdio>
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

/// tokenizer.json's post-processor decides a prompt's special tokens:
/// kByteLevel with one spliced in.
std::string withPostProcessor(const std::string &processor) {
  std::string json = kByteLevel;
  json.insert(1, "\"post_processor\": " + processor + ", ");
  return json;
}

Ids prompt(const Tokenizer &t, llvm::StringRef text) {
  auto ids = t.encodePrompt(text);
  EXPECT_TRUE(static_cast<bool>(ids)) << llvm::toString(ids.takeError());
  return ids ? *ids : Ids{};
}

TEST(TokenizerTest, PromptsTakeThePostProcessorsSpecialTokens) {
  // None: the text's ids only.
  auto plain = parse(kByteLevel);
  ASSERT_TRUE(plain);
  EXPECT_EQ(prompt(*plain, "ab"), (Ids{4}));
  // Llama 3's form: Sequence [ByteLevel, TemplateProcessing] with BOS.
  auto llama3 = parse(withPostProcessor(R"({"type": "Sequence", "processors": [
      {"type": "ByteLevel"},
      {"type": "TemplateProcessing",
       "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                  {"Sequence": {"id": "A", "type_id": 0}}],
       "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [7],
                                              "tokens": ["<s>"]}}}]})"));
  ASSERT_TRUE(llama3);
  EXPECT_EQ(prompt(*llama3, "ab"), (Ids{7, 4}));
  EXPECT_EQ(encode(*llama3, "ab"), (Ids{4})); // encode() adds nothing
  // A special token after the text, its id from the vocabulary.
  auto after = parse(withPostProcessor(R"({"type": "TemplateProcessing",
       "single": [{"Sequence": {"id": "A", "type_id": 0}},
                  {"SpecialToken": {"id": "c", "type_id": 0}}]})"));
  ASSERT_TRUE(after);
  EXPECT_EQ(prompt(*after, "ab"), (Ids{4, 2}));
  // BERT's cls and sep.
  auto bert = parse(withPostProcessor(
      R"({"type": "BertProcessing", "cls": ["<s>", 7], "sep": ["c", 2]})"));
  ASSERT_TRUE(bert);
  EXPECT_EQ(prompt(*bert, "ab"), (Ids{7, 4, 2}));

  EXPECT_NE(parseError(withPostProcessor(R"({"type": "Mystery"})"))
                .find("post_processor type 'Mystery' is not supported"),
            std::string::npos);
  EXPECT_NE(parseError(withPostProcessor(R"({"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<x>", "type_id": 0}},
                           {"Sequence": {"id": "A", "type_id": 0}}]})"))
                .find("special token '<x>' is not in the vocabulary"),
            std::string::npos);
  EXPECT_NE(parseError(withPostProcessor(R"({"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                           {"Sequence": {"id": "A", "type_id": 0}}],
                "special_tokens": {"<s>": {"ids": [99]}}})"))
                .find("token '<s>' has id 99, outside the vocabulary"),
            std::string::npos);
  EXPECT_NE(parseError(withPostProcessor(R"({"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}]})"))
                .find("the 'single' template has no sequence A"),
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
  EXPECT_NE(parseError(R"({"model": {"type": "WordLevel", "vocab": {}}})")
                .find("model type 'WordLevel' is not supported (BPE, "
                      "Unigram and WordPiece are)"),
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
  // Regex splits other than the known ones, and normalizers,
  // pre-tokenizers and decoders tok does not implement, are refused rather
  // than ignored.
  EXPECT_NE(parseError(R"({"pre_tokenizer": {"type": "Sequence", )"
                       R"("pretokenizers": [{"type": "Split", "pattern": )"
                       R"({"Regex": "\\w+"}, "behavior": "Isolated"}, )"
                       R"({"type": "ByteLevel", "use_regex": false}]},)"
                       R"( "model": {"type": "BPE", "vocab": {"a": 0}}})")
                .find("the Split pre-tokenizer's pattern is not one of the "
                      "supported ones (GPT-2, Llama 3, Qwen2): '\\w+'"),
            std::string::npos);
  EXPECT_NE(parseError(R"({"normalizer": {"type": "Precompiled"}, )"
                       R"("pre_tokenizer": {"type": "ByteLevel"},)"
                       R"( "model": {"type": "BPE", "vocab": {"a": 0}}})")
                .find("the normalizer 'Precompiled' is not supported (NFC, "
                      "NFD, NFKC, NFKD, Lowercase, Replace with a String "
                      "pattern, Prepend, Strip, StripAccents and Sequence "
                      "are)"),
            std::string::npos);
  EXPECT_NE(parseError(R"({"normalizer": {"type": "Replace", "pattern": )"
                       R"({"Regex": " +"}, "content": " "}, )"
                       R"( "model": {"type": "BPE", "vocab": {"a": 0}}})")
                .find("Regex patterns are not supported"),
            std::string::npos);
  EXPECT_NE(parseError(R"({"pre_tokenizer": {"type": "Whitespace"}, )"
                       R"( "model": {"type": "BPE", "vocab": {"a": 0}}})")
                .find("the pre-tokenizer 'Whitespace' is not supported"),
            std::string::npos);
  EXPECT_NE(parseError(R"({"decoder": {"type": "CTC"}, )"
                       R"( "model": {"type": "BPE", "vocab": {"a": 0}}})")
                .find("the decoder 'CTC' is not supported"),
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

/// A llama2.c tokenizer.bin: <unk>, <s>, </s>, the 256 byte tokens, then
/// `extra` (text, score) pieces.
std::string
llama2cTokenizer(const std::vector<std::pair<std::string, float>> &extra) {
  std::vector<std::pair<std::string, float>> pieces = {
      {"<unk>", 0}, {"\n<s>\n", 0}, {"\n</s>\n", 0}};
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
    pieces.push_back({hex, 0});
  }
  pieces.insert(pieces.end(), extra.begin(), extra.end());
  std::string bytes;
  auto put = [&](const void *p, size_t n) {
    bytes.append(static_cast<const char *>(p), n);
  };
  int32_t maxLength = 16;
  put(&maxLength, 4);
  for (const auto &[text, score] : pieces) {
    int32_t length = static_cast<int32_t>(text.size());
    put(&score, 4);
    put(&length, 4);
    put(text.data(), text.size());
  }
  return bytes;
}

TEST(TokenizerTest, Llama2cMergesTheBestScoredPairFirst) {
  // Ids 259 .. 263: " ", "a", "b", " a", "ab". " a" outscores "ab", so
  // " ab" encodes as " a" + "b", never " " + "ab".
  std::string bin = llama2cTokenizer(
      {{" ", -5}, {"a", -5}, {"b", -5}, {" a", -1}, {"ab", -2}});
  auto t = Tokenizer::parseLlama2c(bin, 264, "tokenizer.bin");
  ASSERT_TRUE(static_cast<bool>(t)) << llvm::toString(t.takeError());
  EXPECT_EQ(encode(**t, "ab"), (Ids{262, 261}));
  EXPECT_EQ(decode(**t, {262, 261}), "ab");
  // Unknown code points fall back to their UTF-8 bytes (id 3 + byte).
  EXPECT_EQ(encode(**t, "\xc3\xa9"), (Ids{259, 3 + 0xc3, 3 + 0xa9}));
  EXPECT_EQ(decode(**t, {259, 3 + 0xc3, 3 + 0xa9}), "\xc3\xa9");
  EXPECT_EQ(decode(**t, {1, 262}), "\n<s>\na");
  EXPECT_TRUE(encode(**t, "").empty());
  // A prompt starts with BOS (id 1), as run.c encodes it.
  auto prompt = (*t)->encodePrompt("ab");
  ASSERT_TRUE(static_cast<bool>(prompt)) << llvm::toString(prompt.takeError());
  EXPECT_EQ(*prompt, (Ids{1, 262, 261}));

  // With the scores swapped, "ab" merges first.
  std::string swapped = llama2cTokenizer(
      {{" ", -5}, {"a", -5}, {"b", -5}, {" a", -2}, {"ab", -1}});
  auto s = Tokenizer::parseLlama2c(swapped, 264, "tokenizer.bin");
  ASSERT_TRUE(static_cast<bool>(s)) << llvm::toString(s.takeError());
  EXPECT_EQ(encode(**s, "ab"), (Ids{259, 263}));
}

TEST(TokenizerTest, Llama2cRejectsBadFiles) {
  std::string bin = llama2cTokenizer({{"a", 0}});
  auto errorOf = [](const std::string &bytes, int64_t vocab) {
    auto t = Tokenizer::parseLlama2c(bytes, vocab, "tokenizer.bin");
    return t ? std::string() : llvm::toString(t.takeError());
  };
  EXPECT_NE(errorOf(bin.substr(0, 2), 260)
                .find("tokenizer.bin: truncated at byte 0 while reading the "
                      "maximum token length"),
            std::string::npos);
  EXPECT_NE(errorOf(bin.substr(0, bin.size() - 1), 260)
                .find("while reading the text of token 259"),
            std::string::npos);
  EXPECT_NE(errorOf(bin, 259).find("9 bytes follow the last of 259 tokens "
                                   "(wrong vocabulary size?)"),
            std::string::npos);
  EXPECT_NE(errorOf(bin, 0).find("the vocabulary size must be positive"),
            std::string::npos);
  std::string longPiece = llama2cTokenizer({{std::string(17, 'x'), 0}});
  EXPECT_NE(
      errorOf(longPiece, 260).find("token 259 has length 17, outside [0, 16]"),
      std::string::npos);
}

TEST(TokenizerTest, MissingFileNamesIt) {
  auto t = Tokenizer::openHuggingFace("/nonexistent/tokenizer.json");
  ASSERT_FALSE(static_cast<bool>(t));
  EXPECT_NE(llvm::toString(t.takeError())
                .find("/nonexistent/tokenizer.json: cannot read"),
            std::string::npos);
}

} // namespace

/// Byte-level BPE with the three regex pre-tokenizers (GPT-2 ByteLevel,
/// Llama 3 Split, Qwen2 Split + NFC) against the ids the Hugging Face
/// tokenizers library assigns (fixtures written by
/// Inputs/make_hf_tokenizers.py), and decoding back to the text.
TEST(TokenizerTest, RegexPreTokenizersMatchHuggingFace) {
  llvm::SmallString<256> dir(TOK_SOURCE_DIR);
  llvm::sys::path::append(dir, "test", "unit", "Frontend", "Inputs");
  llvm::SmallString<256> encPath(dir);
  llvm::sys::path::append(encPath, "hf_encodings.json");
  auto buffer = llvm::MemoryBuffer::getFile(encPath);
  ASSERT_TRUE(bool(buffer));
  auto parsed = llvm::json::parse((*buffer)->getBuffer());
  ASSERT_TRUE(bool(parsed)) << llvm::toString(parsed.takeError());
  int checked = 0;
  for (const char *kind : {"gpt2", "llama3", "qwen2"}) {
    llvm::SmallString<256> path(dir);
    llvm::sys::path::append(path, std::string(kind) + ".tokenizer.json");
    auto t = Tokenizer::openHuggingFace(path);
    ASSERT_TRUE(bool(t)) << llvm::toString(t.takeError());
    const llvm::json::Array *cases = parsed->getAsObject()->getArray(kind);
    ASSERT_TRUE(cases);
    for (const llvm::json::Value &c : *cases) {
      const llvm::json::Object *obj = c.getAsObject();
      std::string text = obj->getString("text")->str();
      std::vector<int32_t> want;
      for (const llvm::json::Value &id : *obj->getArray("ids"))
        want.push_back(static_cast<int32_t>(*id.getAsInteger()));
      auto got = (*t)->encode(text);
      ASSERT_TRUE(bool(got)) << kind << ": " << llvm::toString(got.takeError());
      EXPECT_EQ(*got, want) << kind << ": '" << text << "'";
      auto back = (*t)->decode(*got);
      ASSERT_TRUE(bool(back));
      EXPECT_EQ(*back, text) << kind;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 30);

  // Qwen2 declares NFC: a decomposed "e" + U+0301 is composed first.
  llvm::SmallString<256> qwen(dir);
  llvm::sys::path::append(qwen, "qwen2.tokenizer.json");
  auto t = Tokenizer::openHuggingFace(qwen);
  ASSERT_TRUE(bool(t));
  EXPECT_EQ(encode(**t, "cafe\xcc\x81"), encode(**t, "caf\xc3\xa9"));
}

TEST(TokenizerTest, UnicodeNormalizationForms) {
  // "e" + U+0301 and U+00E9; the ligature U+FB01; U+212B (Angstrom).
  EXPECT_EQ(normalizeUnicode("e\xcc\x81", NormalizationForm::NFC), "\xc3\xa9");
  EXPECT_EQ(normalizeUnicode("\xc3\xa9", NormalizationForm::NFD), "e\xcc\x81");
  EXPECT_EQ(normalizeUnicode("\xef\xac\x81", NormalizationForm::NFC),
            "\xef\xac\x81");
  EXPECT_EQ(normalizeUnicode("\xef\xac\x81", NormalizationForm::NFKC), "fi");
  EXPECT_EQ(normalizeUnicode("\xe2\x84\xab", NormalizationForm::NFKD),
            "A\xcc\x8a");
  // Decomposed Hangul jamo compose to a syllable.
  EXPECT_EQ(normalizeUnicode("\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab",
                             NormalizationForm::NFC),
            "\xed\x95\x9c");
  // Invalid bytes stay; the text around them is normalized.
  EXPECT_EQ(normalizeUnicode("e\xcc\x81\xff", NormalizationForm::NFC),
            "\xc3\xa9\xff");
  // Lowercasing one code point at a time: U+0130 -> "i" U+0307, a final
  // capital sigma -> U+03C3 (no final-sigma context), ASCII as ASCII.
  EXPECT_EQ(lowercaseUnicode("\xc4\xb0X"), "i\xcc\x87x");
  EXPECT_EQ(lowercaseUnicode("\xce\x91\xce\xa3"), "\xce\xb1\xcf\x83");
}

// Unigram: the segmentation of highest total log-probability; a character
// outside the vocabulary is <unk> (consecutive ones fused).
const char *kUnigram = R"({
  "normalizer": {"type": "NFKC"},
  "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581",
                    "prepend_scheme": "always", "split": true},
  "decoder": {"type": "Metaspace", "replacement": "\u2581",
              "prepend_scheme": "always", "split": true},
  "model": {"type": "Unigram", "unk_id": 0, "vocab": [
    ["<unk>", 0.0], ["\u2581", -2.0], ["a", -3.0], ["b", -3.0],
    ["ab", -2.0], ["\u2581a", -2.5], ["\u2581ab", -6.0]]}})";

TEST(TokenizerTest, UnigramTakesTheBestSegmentation) {
  auto t = parse(kUnigram);
  ASSERT_TRUE(t);
  // "\u2581ab": -6 alone, -2.5 - 3 = -5.5 as "\u2581a" "b", -4 as
  // "\u2581" "ab".
  EXPECT_EQ(encode(*t, "ab"), (Ids{1, 4}));
  EXPECT_EQ(encode(*t, "ab a"), (Ids{1, 4, 5}));
  EXPECT_EQ(encode(*t, "axyb"), (Ids{5, 0, 3}));
  EXPECT_EQ(decode(*t, {1, 4, 5}), "ab a");
}

/// tokenizer_config.json's add_bos_token / add_eos_token (and bos_token /
/// eos_token) against the prompt ids transformers gives with them in force
/// (Inputs/make_tokenizer_config.py), with and without a post-processor in
/// tokenizer.json.
TEST(TokenizerTest, TokenizerConfigDecidesBosAndEos) {
  llvm::SmallString<256> dir(TOK_SOURCE_DIR);
  llvm::sys::path::append(dir, "test", "unit", "Frontend", "Inputs");
  llvm::SmallString<256> casesPath(dir);
  llvm::sys::path::append(casesPath, "tokenizer_config_cases.json");
  auto buffer = llvm::MemoryBuffer::getFile(casesPath);
  ASSERT_TRUE(bool(buffer));
  auto parsed = llvm::json::parse((*buffer)->getBuffer());
  ASSERT_TRUE(bool(parsed)) << llvm::toString(parsed.takeError());
  llvm::SmallString<128> config;
  ASSERT_FALSE(
      llvm::sys::fs::createTemporaryFile("tokenizer_config", "json", config));
  int checked = 0;
  for (const llvm::json::Value &c : *parsed->getAsArray()) {
    const llvm::json::Object *obj = c.getAsObject();
    llvm::SmallString<256> path(dir);
    llvm::sys::path::append(path, *obj->getString("tokenizer"));
    auto t = Tokenizer::openHuggingFace(path);
    ASSERT_TRUE(bool(t)) << llvm::toString(t.takeError());
    std::string text;
    llvm::raw_string_ostream os(text);
    os << *obj->get("config");
    {
      std::error_code ec;
      llvm::raw_fd_ostream out(config, ec);
      ASSERT_FALSE(ec);
      out << text;
    }
    ASSERT_FALSE(bool((*t)->applyTokenizerConfig(config)));
    Ids want;
    for (const llvm::json::Value &id : *obj->getArray("ids"))
      want.push_back(static_cast<int32_t>(*id.getAsInteger()));
    EXPECT_EQ(prompt(**t, *obj->getString("text")), want) << text;
    ++checked;
  }
  EXPECT_EQ(checked, 30);

  // A flag that is absent leaves the post-processor's side as it is; a
  // token the vocabulary lacks is an error.
  llvm::SmallString<256> path(dir);
  llvm::sys::path::append(path, "llama2.tokenizer.json");
  auto t = Tokenizer::openHuggingFace(path);
  ASSERT_TRUE(bool(t));
  auto write = [&](llvm::StringRef body) {
    std::error_code ec;
    llvm::raw_fd_ostream out(config, ec);
    out << body;
  };
  write(R"({"add_eos_token": true})");
  ASSERT_FALSE(bool((*t)->applyTokenizerConfig(config)));
  EXPECT_EQ((*t)->getPromptPrefix(), llvm::ArrayRef<int32_t>{1});
  EXPECT_EQ((*t)->getPromptSuffix(), llvm::ArrayRef<int32_t>{2});
  write(R"({"add_bos_token": true, "bos_token": "<nope>"})");
  llvm::Error err = (*t)->applyTokenizerConfig(config);
  ASSERT_TRUE(bool(err));
  EXPECT_NE(llvm::toString(std::move(err))
                .find("'add_bos_token' asks for the bos_token '<nope>', "
                      "which the tokenizer does not have"),
            std::string::npos);
  llvm::sys::fs::remove(config);
}
