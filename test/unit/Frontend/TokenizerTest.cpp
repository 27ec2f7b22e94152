//===- TokenizerTest.cpp - tokenizers -------------------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/Tokenizer.h"
#include "tok/Frontend/Normalizer.h"

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
  // A character with no token, no byte fallback and no unk_token is
  // dropped, as `tokenizers` drops it; its neighbours then merge.
  EXPECT_EQ(encode(*t, "x"), Ids{});
  EXPECT_EQ(encode(*t, "axb"), (Ids{4}));
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
  "decoder": {"type": "Sequence", "decoders": [
    {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
    {"type": "ByteFallback"}, {"type": "Fuse"},
    {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
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
  // "Z" has neither a token nor a byte token (<0x5A>), and there is no
  // unk_token: dropped.
  EXPECT_EQ(encode(*t, "Z"), (Ids{1}));
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
/// tokenizer.json: both flags set, one of them absent (its side as the
/// post-processor has it) and both absent.
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
  EXPECT_EQ(checked, 60);

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

namespace {

/// A tokenizer.json with `model` and, where given, `added_tokens` and
/// `decoder`; no normalizer, pre-tokenizer or post-processor.
std::string bare(const std::string &model, const std::string &added = "[]",
                 const std::string &decoder = "null") {
  return R"({"added_tokens": )" + added + R"(, "decoder": )" + decoder +
         R"(, "model": )" + model + "}";
}

/// An added token that is not special, normalized, lstrip or rstrip unless
/// `extra` says so.
std::string addedToken(int id, const std::string &content,
                       const std::string &extra = "") {
  return R"({"id": )" + std::to_string(id) + R"(, "content": ")" + content +
         "\"" + extra + "}";
}

// The expected ids below are what `tokenizers` 0.23.3 gives for the same
// tokenizer.json.

TEST(TokenizerTest, NoDecoderJoinsTokensWithSpaces) {
  // TokenizerImpl::decode without a decoder: the tokens' text joined by
  // " ", whatever the model (BPE here, Unigram below).
  auto t = parse(bare(R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2},
                          "merges": ["a b"]})"));
  ASSERT_TRUE(t);
  EXPECT_EQ(decode(*t, {2, 0, 1}), "ab a b");
  EXPECT_EQ(decode(*t, {}), "");
  // A Sequence of no decoders concatenates.
  auto fused = parse(bare(R"({"type": "BPE", "vocab": {"a": 0, "b": 1}})", "[]",
                          R"({"type": "Sequence", "decoders": []})"));
  ASSERT_TRUE(fused);
  EXPECT_EQ(decode(*fused, {0, 1}), "ab");
}

TEST(TokenizerTest, BPEUnknownCharactersAsTokenizersHandlesThem) {
  // An unknown token is emitted at the next known character or the end, so
  // fused unknowns span byte-fallback characters and follow their bytes:
  // "x", "\u00e9" (bytes), "y", "a" -> <0xC3> <0xA9> <unk> a.
  auto t = parse(bare(R"({"type": "BPE", "vocab": {"<unk>": 0, "a": 1,
      "<0xC3>": 2, "<0xA9>": 3}, "merges": [], "byte_fallback": true,
      "fuse_unk": true, "unk_token": "<unk>"})"));
  ASSERT_TRUE(t);
  EXPECT_EQ(encode(*t, "x\xc3\xa9ya"), (Ids{2, 3, 0, 1}));
  EXPECT_EQ(encode(*t, "xy"), (Ids{0}));
  EXPECT_EQ(encode(*t, "axa"), (Ids{1, 0, 1}));
}

TEST(TokenizerTest, DuplicateMergesAndPiecesKeepTheLast) {
  // "a b" is listed again after "b c": its rank is the later one, so
  // "b c" merges first in "abc".
  auto bpe = parse(bare(R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2,
      "ab": 3, "bc": 4}, "merges": ["a b", "b c", "a b"]})"));
  ASSERT_TRUE(bpe);
  EXPECT_EQ(encode(*bpe, "abc"), (Ids{0, 4}));
  // A Unigram piece listed twice encodes as its last id; both decode.
  auto unigram = parse(bare(R"({"type": "Unigram", "unk_id": 0, "vocab": [
      ["<unk>", 0.0], ["a", -1.0], ["a", -2.0]]})"));
  ASSERT_TRUE(unigram);
  EXPECT_EQ(encode(*unigram, "aa"), (Ids{2, 2}));
  EXPECT_EQ(unigram->getTokenId("a").value_or(-1), 2);
  EXPECT_EQ(decode(*unigram, {1, 2}), "a a");
}

TEST(TokenizerTest, AddedTokensMatchLeftmostLongest) {
  // Overlapping added tokens: the leftmost match wins, and of those that
  // start there the longest; scanning resumes after it.
  std::string added = "[" + addedToken(6, "ab") + ", " + addedToken(7, "abc") +
                      ", " + addedToken(8, "bcd") + ", " + addedToken(9, "cd") +
                      ", " + addedToken(10, "bcda") + "]";
  auto t = parse(bare(R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2,
      "d": 3, "x": 4, "y": 5}, "merges": []})",
                      added));
  ASSERT_TRUE(t);
  EXPECT_EQ(encode(*t, "abcd"), (Ids{7, 3}));
  EXPECT_EQ(encode(*t, "xbcd"), (Ids{4, 8}));
  EXPECT_EQ(encode(*t, "abcbcd"), (Ids{7, 8}));
  EXPECT_EQ(encode(*t, "xabx"), (Ids{4, 6, 4}));
  EXPECT_EQ(encode(*t, "acdab"), (Ids{0, 9, 6}));
  EXPECT_EQ(encode(*t, "abcda"), (Ids{7, 3, 0}));
  EXPECT_EQ(encode(*t, "xbcdab"), (Ids{4, 10, 1}));
}

TEST(TokenizerTest, AddedTokensStripUnicodeWhiteSpace) {
  // lstrip / rstrip take Unicode White_Space (U+3000 before, U+00A0
  // after), not only ASCII; "x" has no token and is dropped.
  auto t = parse(bare(
      R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2},
                          "merges": ["a b"]})",
      "[" + addedToken(3, "<x>", R"(, "lstrip": true, "rstrip": true)") + "]"));
  ASSERT_TRUE(t);
  EXPECT_EQ(encode(*t, "axb\xe3\x80\x80<x>\xc2\xa0"
                       "ab"),
            (Ids{2, 3, 2}));
  EXPECT_EQ(encode(*t, " \t<x>\n"), (Ids{3}));
}

TEST(TokenizerTest, ManyAddedTokensInALongText) {
  // 6,000 added tokens sharing their first bytes, in 200 KB of text: each
  // position walks only the prefixes the tokens share with the text.
  std::string added = "[";
  for (int i = 1; i <= 6000; ++i)
    added +=
        (i > 1 ? ", " : "") + addedToken(i, "<t" + std::to_string(i) + ">");
  added += "]";
  auto t =
      parse(bare(R"({"type": "BPE", "vocab": {"a": 0}, "merges": []})", added));
  ASSERT_TRUE(t);
  std::string text;
  Ids want;
  for (int i = 0; text.size() < 200000; ++i) {
    int id = 1 + (i * 7919) % 6000;
    text += "a<t" + std::to_string(id) + ">";
    want.push_back(0);
    want.push_back(id);
  }
  EXPECT_EQ(encode(*t, text), want);
}

TEST(TokenizerTest, UnigramWithALongPiece) {
  // A 20 KB piece in a 40 KB text: the Viterbi walks the piece trie from
  // each position, as far as the text follows some piece.
  std::string piece;
  uint32_t state = 12345;
  for (int i = 0; i < 20000; ++i) {
    state = state * 1103515245u + 12345u;
    piece.push_back(static_cast<char>('a' + (state >> 16) % 26));
  }
  std::string vocab = R"([["<unk>", 0.0])";
  for (char c = 'a'; c <= 'z'; ++c)
    vocab += std::string(R"(, [")") + c + R"(", -5.0])";
  vocab += R"(, [")" + piece + R"(", -1.0]])";
  auto t = parse(
      bare(R"({"type": "Unigram", "unk_id": 0, "vocab": )" + vocab + "}"));
  ASSERT_TRUE(t);
  int32_t pieceId = 27;
  EXPECT_EQ(encode(*t, piece + "ab" + piece), (Ids{pieceId, 1, 2, pieceId}));
  // The piece less its last letter is letters, one token each.
  Ids letters = encode(*t, piece.substr(0, piece.size() - 1) + "!");
  ASSERT_EQ(letters.size(), piece.size());
  EXPECT_EQ(letters.front(), 1 + (piece[0] - 'a'));
  EXPECT_EQ(letters.back(), 0); // "!" is unknown
}

TEST(TokenizerTest, UnigramScoresAreReadAsTokenizersReadsThem) {
  // Correctly rounded, -1.483471358875755 + -11.286836983076435 is
  // -12.770308341952191 exactly, a tie that keeps "ab" (found first).
  // serde_json's default parsing, which `tokenizers` uses, reads the third
  // an ulp higher (significand 12770308341952191 / 1e15, each rounded), so
  // "a" + "b" scores higher: `tokenizers` gives [1, 2].
  auto t = parse(bare(R"({"type": "Unigram", "unk_id": 0, "vocab": [
      ["<unk>", 0.0], ["a", -1.483471358875755], ["b", -11.286836983076435],
      ["ab", -12.770308341952191]]})"));
  ASSERT_TRUE(t);
  EXPECT_EQ(encode(*t, "ab"), (Ids{1, 2}));
  EXPECT_EQ(decode(*t, {1, 2, 3}), "a b ab");
}

TEST(TokenizerTest, OpenPicksTheKindOfFile) {
  llvm::SmallString<256> dir(TOK_SOURCE_DIR);
  llvm::sys::path::append(dir, "test", "unit", "Frontend", "Inputs");
  llvm::SmallString<256> json(dir);
  llvm::sys::path::append(json, "gpt2.tokenizer.json");
  auto hf = Tokenizer::open(json);
  ASSERT_TRUE(bool(hf)) << llvm::toString(hf.takeError());
  EXPECT_EQ(encode(**hf, "Hello"), (Ids{39, 68, 75, 75, 78}));

  // A llama2.c tokenizer.bin: the entry count from the file when not given.
  llvm::SmallString<128> bin;
  ASSERT_FALSE(llvm::sys::fs::createTemporaryFile("tokenizer", "bin", bin));
  {
    std::error_code ec;
    llvm::raw_fd_ostream out(bin, ec);
    ASSERT_FALSE(ec);
    out << llama2cTokenizer({{"a", -1}});
  }
  auto counted = Tokenizer::open(bin);
  ASSERT_TRUE(bool(counted)) << llvm::toString(counted.takeError());
  EXPECT_EQ((*counted)->getVocabSize(), 260);
  auto wrong = Tokenizer::open(bin, 261);
  ASSERT_FALSE(bool(wrong));
  EXPECT_NE(llvm::toString(wrong.takeError()).find("while reading"),
            std::string::npos);
  llvm::sys::fs::remove(bin);

  auto missing = Tokenizer::open("/nonexistent/tokenizer.json");
  ASSERT_FALSE(bool(missing));
  EXPECT_NE(llvm::toString(missing.takeError())
                .find("/nonexistent/tokenizer.json: cannot read"),
            std::string::npos);
}

} // namespace
