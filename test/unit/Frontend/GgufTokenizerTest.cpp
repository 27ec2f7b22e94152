//===- GgufTokenizerTest.cpp - GGUF vocabularies --------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The two tokenizers a GGUF file describes, built from their data:
// byte-level BPE ("gpt2": tokens by id and ranked merges) against Hugging
// Face's encodings of the same trained vocabularies (test/unit/Frontend/
// Inputs, made by the `tokenizers` library), and scored SentencePiece
// ("llama") against hand-derived expectations of its rule.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/Tokenizer.h"

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

llvm::json::Value readJson(llvm::StringRef name) {
  llvm::SmallString<256> path(TOK_SOURCE_DIR);
  llvm::sys::path::append(path, "test", "unit", "Frontend", "Inputs");
  llvm::sys::path::append(path, name);
  auto buffer = llvm::MemoryBuffer::getFile(path);
  EXPECT_TRUE(bool(buffer)) << path.str().str();
  auto parsed = llvm::json::parse((*buffer)->getBuffer());
  EXPECT_TRUE(bool(parsed));
  return std::move(*parsed);
}

TEST(GgufTokenizerTest, ByteLevelBPEFromTokensAndMergesMatchesHuggingFace) {
  llvm::json::Value encodings = readJson("hf_encodings.json");
  int checked = 0;
  for (auto [kind, pattern] :
       {std::pair<const char *, SplitPattern>{"gpt2", SplitPattern::GPT2},
        {"llama3", SplitPattern::Llama3},
        {"qwen2", SplitPattern::Qwen2}}) {
    // What a GGUF "gpt2" vocabulary holds: the tokens by id and the merges
    // as "left right" strings, in rank order.
    llvm::json::Value json = readJson(std::string(kind) + ".tokenizer.json");
    const llvm::json::Object *model = json.getAsObject()->getObject("model");
    const llvm::json::Object *vocab = model->getObject("vocab");
    std::vector<std::string> byId(vocab->size());
    for (const auto &kv : *vocab)
      byId[*kv.second.getAsInteger()] = kv.first.str();
    std::vector<std::string> mergeText;
    for (const llvm::json::Value &m : *model->getArray("merges")) {
      if (auto s = m.getAsString())
        mergeText.push_back(s->str());
      else
        mergeText.push_back((*m.getAsArray())[0].getAsString()->str() + " " +
                            (*m.getAsArray())[1].getAsString()->str());
    }
    std::vector<llvm::StringRef> tokens(byId.begin(), byId.end()),
        merges(mergeText.begin(), mergeText.end());
    auto t = Tokenizer::createByteLevelBPE(tokens, merges, pattern, {}, kind);
    ASSERT_TRUE(bool(t)) << llvm::toString(t.takeError());
    for (const llvm::json::Value &c :
         *encodings.getAsObject()->getArray(kind)) {
      const llvm::json::Object *obj = c.getAsObject();
      std::string text = obj->getString("text")->str();
      Ids want;
      for (const llvm::json::Value &id : *obj->getArray("ids"))
        want.push_back(static_cast<int32_t>(*id.getAsInteger()));
      auto got = (*t)->encode(text);
      ASSERT_TRUE(bool(got)) << llvm::toString(got.takeError());
      EXPECT_EQ(*got, want) << kind << ": '" << text << "'";
      auto back = (*t)->decode(*got);
      ASSERT_TRUE(bool(back));
      EXPECT_EQ(*back, text);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 30);
}

TEST(GgufTokenizerTest, ByteLevelBPERejectsAMergeOutsideTheVocabulary) {
  std::vector<llvm::StringRef> tokens{"a", "b", "ab"};
  std::vector<llvm::StringRef> merges{"a b", "b c"};
  auto t = Tokenizer::createByteLevelBPE(tokens, merges, SplitPattern::GPT2, {},
                                         "m.gguf");
  ASSERT_FALSE(bool(t));
  EXPECT_EQ(llvm::toString(t.takeError()),
            "m.gguf: merge #1 ('b' + 'c') does not join two vocabulary tokens "
            "into a third");
}

/// A SentencePiece vocabulary: <unk>, <s>, </s>, the 256 byte tokens
/// (ids 3 .. 258), then `pieces` from id 259.
std::unique_ptr<Tokenizer>
sentencePiece(const std::vector<std::pair<std::string, double>> &pieces,
              bool addSpacePrefix = true) {
  std::vector<std::string> text{"<unk>", "<s>", "</s>"};
  std::vector<double> scores{0, 0, 0};
  for (unsigned b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
    text.push_back(hex);
    scores.push_back(0);
  }
  for (const auto &[p, s] : pieces) {
    text.push_back(p);
    scores.push_back(s);
  }
  std::vector<llvm::StringRef> tokens(text.begin(), text.end());
  auto t =
      Tokenizer::createSentencePiece(tokens, scores, addSpacePrefix, "m.gguf");
  EXPECT_TRUE(bool(t)) << llvm::toString(t.takeError());
  return t ? std::move(*t) : nullptr;
}

const char *kMeta = "\xe2\x96\x81"; // U+2581, SentencePiece's space

TEST(GgufTokenizerTest, SentencePieceMergesTheBestScoredPairFirst) {
  std::string m = kMeta;
  // 259 ▁, 260 a, 261 b, 262 ▁a, 263 ab, 264 ▁ab.
  auto t = sentencePiece({{m, -5},
                          {"a", -5},
                          {"b", -5},
                          {m + "a", -1},
                          {"ab", -2},
                          {m + "ab", -3}});
  ASSERT_TRUE(t);
  // "ab" is "▁ab" with the dummy prefix: ▁a (-1) beats ab (-2), then
  // ▁a + b = ▁ab (-3).
  EXPECT_EQ(*t->encode("ab"), (Ids{264}));
  EXPECT_EQ(*t->decode({264}), "ab");
  // Spaces are ▁: "b a" is ▁b ▁a; ▁b is not a token, so ▁ + b, then ▁a.
  EXPECT_EQ(*t->encode("b a"), (Ids{259, 261, 262}));
  EXPECT_EQ(*t->decode({259, 261, 262}), "b a");
  // Unknown code points fall back to their UTF-8 bytes' tokens.
  EXPECT_EQ(*t->encode("\xc3\xa9"), (Ids{259, 3 + 0xc3, 3 + 0xa9}));
  EXPECT_EQ(*t->decode({259, 3 + 0xc3, 3 + 0xa9}), "\xc3\xa9");

  // Swapping the scores of ▁a and ab: "ab" merges first, then ▁ + ab is
  // ▁ab again; but "a" alone becomes ▁a.
  auto s =
      sentencePiece({{m, -5}, {"a", -5}, {"b", -5}, {m + "a", -2}, {"ab", -1}});
  ASSERT_TRUE(s);
  EXPECT_EQ(*s->encode("ab"), (Ids{259, 263}));
  EXPECT_EQ(*s->encode("a"), (Ids{262}));

  // Without the dummy prefix, "ab" is just a + b merged.
  auto n = sentencePiece({{m, -5}, {"a", -5}, {"b", -5}, {"ab", -1}},
                         /*addSpacePrefix=*/false);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n->encode("ab"), (Ids{262}));
  EXPECT_EQ(*n->decode({259, 262}), " ab");
}

TEST(GgufTokenizerTest, SentencePieceNeedsByteTokens) {
  std::vector<llvm::StringRef> tokens{"<unk>", "a"};
  std::vector<double> scores{0, 0};
  auto t = Tokenizer::createSentencePiece(tokens, scores, true, "m.gguf");
  ASSERT_FALSE(bool(t));
  EXPECT_EQ(llvm::toString(t.takeError()),
            "m.gguf: the SentencePiece vocabulary lacks byte tokens (<0x00> "
            ".. <0xFF>) for byte fallback");
  auto u = Tokenizer::createSentencePiece(tokens, {0.0}, true, "m.gguf");
  ASSERT_FALSE(bool(u));
  EXPECT_EQ(llvm::toString(u.takeError()), "m.gguf: 2 tokens but 1 scores");
}

} // namespace
