//===- WordPiece.h - BERT WordPiece tokenizers ------------------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_LIB_FRONTEND_WORDPIECE_H
#define TOK_LIB_FRONTEND_WORDPIECE_H

#include "tok/Frontend/Tokenizer.h"

#include "llvm/Support/JSON.h"

namespace mlir {
namespace tok {

/// A tokenizer.json whose model is WordPiece (BERT-family encoders).
llvm::Expected<std::unique_ptr<Tokenizer>>
parseWordPieceTokenizer(const llvm::json::Object &root, llvm::StringRef name);

} // namespace tok
} // namespace mlir

#endif // TOK_LIB_FRONTEND_WORDPIECE_H
