//===- Json.h - JSON parsing with a nesting limit ---------------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// llvm::json::parse descends recursively, one stack frame per array or
// object level, so a file of 50,000 '[' overflows the stack before the
// parser can say anything. Every JSON tok reads (config.json, safetensors
// headers and indexes, tokenizer.json, KV profiles) comes through
// parseJson, which first counts the nesting outside strings and refuses a
// document deeper than kMaxJsonDepth with an error naming the limit. Real
// files nest a few levels (tokenizer.json: 5).
//
//===----------------------------------------------------------------------===//

#ifndef TOK_SUPPORT_JSON_H
#define TOK_SUPPORT_JSON_H

#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

namespace mlir::tok {

/// The deepest nesting of arrays and objects tok parses.
inline constexpr unsigned kMaxJsonDepth = 256;

/// Parses `text` as JSON, refusing nesting deeper than kMaxJsonDepth
/// before the recursive parser sees it.
inline llvm::Expected<llvm::json::Value> parseJson(llvm::StringRef text) {
  unsigned depth = 0;
  bool inString = false, escaped = false;
  for (size_t i = 0, e = text.size(); i < e; ++i) {
    char c = text[i];
    if (inString) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        inString = false;
      continue;
    }
    if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth)
        return llvm::createStringError(
            "arrays and objects nested deeper than " +
            llvm::Twine(kMaxJsonDepth) + " levels (at byte " + llvm::Twine(i) +
            ")");
    } else if ((c == ']' || c == '}') && depth) {
      --depth;
    }
  }
  return llvm::json::parse(text);
}

} // namespace mlir::tok

#endif // TOK_SUPPORT_JSON_H
