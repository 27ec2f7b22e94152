//===- PreTokenizerTest.cpp - regex splits of byte-level BPE --------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Expected pieces are those of the Hugging Face tokenizers library (Rust
// regex) for the same patterns; test/tools/tokenizer-hf.test compares whole
// encodings against the library where it is installed.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/PreTokenizer.h"

#include "gtest/gtest.h"

#include <string>
#include <vector>

using namespace mlir::tok;

namespace {

std::vector<std::string> split(llvm::StringRef text, SplitPattern p) {
  std::vector<std::string> out;
  for (llvm::StringRef piece : splitPreTokens(text, p))
    out.push_back(piece.str());
  return out;
}

using Pieces = std::vector<std::string>;

TEST(PreTokenizerTest, GPT2) {
  EXPECT_EQ(split("Hello world", SplitPattern::GPT2),
            (Pieces{"Hello", " world"}));
  // Contractions are case-sensitive; digits and punctuation runs take one
  // optional leading space; of a whitespace run, the last space joins the
  // next word.
  EXPECT_EQ(split("I'm OK'S 12345 ok!!  x\n", SplitPattern::GPT2),
            (Pieces{"I", "'m", " OK", "'", "S", " 12345", " ok", "!!", " ",
                    " x", "\n"}));
  EXPECT_EQ(split("a   ", SplitPattern::GPT2), (Pieces{"a", "   "}));
  // Non-ASCII letters and numbers.
  EXPECT_EQ(split("caf\xc3\xa9 \xd9\xa3\xd9\xa4", SplitPattern::GPT2),
            (Pieces{"caf\xc3\xa9", " \xd9\xa3\xd9\xa4"}));
  EXPECT_TRUE(split("", SplitPattern::GPT2).empty());
}

TEST(PreTokenizerTest, Llama3AndQwen2) {
  // Contractions case-insensitive; a non-letter, non-digit, non-newline
  // character (a space, or '(' at the start of a piece) prefixes a word
  // (here " (" is taken first, as punctuation); digits in groups of
  // three (Llama 3) or one (Qwen2); punctuation takes trailing newlines;
  // whitespace up to the last newline is one piece.
  EXPECT_EQ(
      split("I'M (x) 12345\n\n  y", SplitPattern::Llama3),
      (Pieces{"I", "'M", " (", "x", ")", " ", "123", "45", "\n\n", " ", " y"}));
  EXPECT_EQ(split("12345", SplitPattern::Qwen2),
            (Pieces{"1", "2", "3", "4", "5"}));
  EXPECT_EQ(split("a.\n\nb  \n c", SplitPattern::Llama3),
            (Pieces{"a", ".\n\n", "b", "  \n", " c"}));
}

TEST(PreTokenizerTest, PiecesTileTheText) {
  // Invalid UTF-8 and every ASCII byte: the pieces cover the input.
  std::string text;
  for (int c = 1; c < 128; ++c)
    text.push_back(static_cast<char>(c));
  text += "\xff\xc3(\xe2\x82";
  for (SplitPattern p :
       {SplitPattern::GPT2, SplitPattern::Llama3, SplitPattern::Qwen2}) {
    std::string joined;
    for (const std::string &piece : split(text, p)) {
      EXPECT_FALSE(piece.empty());
      joined += piece;
    }
    EXPECT_EQ(joined, text);
  }
}

TEST(PreTokenizerTest, RecognizesThePatterns) {
  EXPECT_EQ(recognizeSplitPattern("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| "
                                  "?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!"
                                  "\\S)|\\s+"),
            SplitPattern::GPT2);
  EXPECT_EQ(recognizeSplitPattern(
                "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
                "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
                "\\s+(?!\\S)|\\s+"),
            SplitPattern::Llama3);
  EXPECT_EQ(recognizeSplitPattern(
                "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
                "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
                "\\s+(?!\\S)|\\s+"),
            SplitPattern::Qwen2);
  EXPECT_EQ(recognizeSplitPattern("\\w+"), std::nullopt);
}

TEST(PreTokenizerTest, Categories) {
  EXPECT_TRUE(isUnicodeLetter(0x4E2D)); // CJK ideograph
  EXPECT_TRUE(isUnicodeNumber(0x0663)); // Arabic-Indic three
  EXPECT_TRUE(isUnicodeNumber(0x00BD)); // vulgar fraction one half (No)
  EXPECT_FALSE(isUnicodeLetter(0x00BD));
  EXPECT_TRUE(isUnicodeWhiteSpace(0x3000));  // ideographic space
  EXPECT_FALSE(isUnicodeWhiteSpace(0x200B)); // zero width space is not
  EXPECT_TRUE(isUnicodeMark(0x0301));        // combining acute accent
  EXPECT_EQ(findUnicodeMark("e\xcc\x81"), 0x301u);
  EXPECT_EQ(findUnicodeMark("\xc3\xa9"), std::nullopt);
}

} // namespace
