//===- WordPieceTest.cpp - BERT WordPiece tokenizers ----------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Expected ids are worked out by hand from the rules (BertNormalizer,
// BertPreTokenizer, greedy longest-match WordPiece); test/Integration's
// bert_embed checks compare against Hugging Face tokenizers on a real
// vocabulary.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/Tokenizer.h"

#include "gtest/gtest.h"

#include <string>
#include <vector>

using namespace mlir::tok;

namespace {

using Ids = std::vector<int32_t>;

const char *const kVocab[] = {"[PAD]", "[UNK]",  "[CLS]", "[SEP]", "[MASK]",
                              "hello", "world",  ",",     "!",     "un",
                              "##aff", "##able", "ab",    "日",    "cafe",
                              "'",     "s",      "ᄒ",    "##ᅡ",   "##ᆫ"};

std::string tokenizerJson(const std::string &normalizerExtra = "",
                          bool postProcessor = true, int maxChars = 100) {
  std::string vocab;
  for (size_t i = 0; i < std::size(kVocab); ++i)
    vocab += (i ? ", \"" : "\"") + std::string(kVocab[i]) +
             "\": " + std::to_string(i);
  std::string added;
  for (int i = 0; i < 5; ++i)
    added += (i ? ", " : "") + std::string("{\"id\": ") + std::to_string(i) +
             ", \"content\": \"" + kVocab[i] + "\", \"special\": true}";
  return "{\"added_tokens\": [" + added +
         "], \"normalizer\": {\"type\": \"BertNormalizer\", "
         "\"lowercase\": true" +
         normalizerExtra +
         "}, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}, " +
         (postProcessor
              ? "\"post_processor\": {\"type\": \"TemplateProcessing\"}, "
              : "") +
         "\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", "
         "\"continuing_subword_prefix\": \"##\", "
         "\"max_input_chars_per_word\": " +
         std::to_string(maxChars) + ", \"vocab\": {" + vocab + "}}}";
}

std::unique_ptr<Tokenizer> parse(const std::string &json) {
  auto tok = Tokenizer::parseHuggingFace(json, "tokenizer.json");
  EXPECT_TRUE(static_cast<bool>(tok)) << llvm::toString(tok.takeError());
  return tok ? std::move(*tok) : nullptr;
}

Ids encode(const Tokenizer &t, llvm::StringRef text) {
  auto ids = t.encode(text);
  EXPECT_TRUE(static_cast<bool>(ids)) << llvm::toString(ids.takeError());
  return ids ? *ids : Ids{};
}

TEST(WordPieceTest, NormalizesSplitsAndMatchesLongestPieces) {
  auto tok = parse(tokenizerJson());
  ASSERT_TRUE(tok);
  // Accents stripped and lowercased; punctuation split off; [CLS] ... [SEP].
  EXPECT_EQ(encode(*tok, "Héllo, WÖRLD!"), (Ids{2, 5, 7, 6, 8, 3}));
  // Greedy longest match with continuation pieces.
  EXPECT_EQ(encode(*tok, "unaffable"), (Ids{2, 9, 10, 11, 3}));
  // A word with an unmatched rest is one [UNK], not a partial match.
  EXPECT_EQ(encode(*tok, "unaffablex hello"), (Ids{2, 1, 5, 3}));
  // CJK ideographs are words of their own; control characters vanish;
  // white space of every kind separates.
  EXPECT_EQ(encode(*tok, "日本"), (Ids{2, 13, 1, 3}));
  EXPECT_EQ(encode(*tok, "a\x01"
                         "b\thello\u3000world"),
            (Ids{2, 12, 5, 6, 3}));
  // Apostrophes are punctuation; accented "café" folds to "cafe".
  EXPECT_EQ(encode(*tok, "café's"), (Ids{2, 14, 15, 16, 3}));
  // Hangul syllables decompose into jamo (NFD) before matching.
  EXPECT_EQ(encode(*tok, "한"), (Ids{2, 17, 18, 19, 3}));
  // Added tokens written in the text are matched as they are.
  EXPECT_EQ(encode(*tok, "hello [MASK] world"), (Ids{2, 5, 4, 6, 3}));
  EXPECT_EQ(encode(*tok, ""), (Ids{2, 3}));
}

TEST(WordPieceTest, OverlongWordsAndOptions) {
  auto tok = parse(tokenizerJson("", /*postProcessor=*/false, /*maxChars=*/5));
  ASSERT_TRUE(tok);
  // No post-processor: no [CLS] / [SEP]. Words of up to 5 characters
  // match; a longer one is [UNK] without trying its pieces.
  EXPECT_EQ(encode(*tok, "hello world"), (Ids{5, 6}));
  EXPECT_EQ(encode(*tok, "unaffable"), (Ids{1}));
}

TEST(WordPieceTest, DecodesWithoutSpecialTokens) {
  auto tok = parse(tokenizerJson());
  ASSERT_TRUE(tok);
  auto text = tok->decode({2, 5, 7, 9, 10, 11, 8, 3});
  ASSERT_TRUE(static_cast<bool>(text)) << llvm::toString(text.takeError());
  EXPECT_EQ(*text, "hello, unaffable!");
  auto bad = tok->decode({99});
  ASSERT_FALSE(static_cast<bool>(bad));
  EXPECT_EQ(llvm::toString(bad.takeError()),
            "token id 99 is outside the vocabulary of 20");
}

TEST(WordPieceTest, RejectsBadInput) {
  auto tok = parse(tokenizerJson());
  ASSERT_TRUE(tok);
  auto ids = tok->encode("ok \xff bad");
  ASSERT_FALSE(static_cast<bool>(ids));
  EXPECT_EQ(llvm::toString(ids.takeError()),
            "the text is not valid UTF-8 (byte 3)");

  auto mixed = Tokenizer::parseHuggingFace(
      tokenizerJson(", \"strip_accents\": false"), "t.json");
  ASSERT_FALSE(static_cast<bool>(mixed));
  EXPECT_EQ(llvm::toString(mixed.takeError()),
            "t.json: BertNormalizer with lowercase and strip_accents set "
            "differently is not supported");

  std::string noUnk = tokenizerJson();
  noUnk.replace(noUnk.find("\"unk_token\": \"[UNK]\""), 20,
                "\"unk_token\": \"<unk>\"");
  auto missing = Tokenizer::parseHuggingFace(noUnk, "t.json");
  ASSERT_FALSE(static_cast<bool>(missing));
  EXPECT_EQ(llvm::toString(missing.takeError()),
            "t.json: the unknown token '<unk>' is not in the vocabulary");
}

} // namespace
