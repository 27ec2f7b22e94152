//===- TokOps.td - tok dialect operations ------------------*- tablegen -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// All tok operations, one file per family. Shape conventions (one sequence;
// batching is a later extension):
//   hidden states  tensor<T x E>          T tokens of model dimension E
//   queries        tensor<Hq x T x D>     head-major
//   keys, values   tensor<Hk x S x D>     Hq is a multiple of Hk (GQA)
//   token ids, positions, indices         tensor<T x i32>
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DIALECT_TOK_IR_TOKOPS_TD
#define TOK_DIALECT_TOK_IR_TOKOPS_TD

include "tok/Dialect/Tok/IR/TokModelOps.td"
include "tok/Dialect/Tok/IR/TokAttentionOps.td"
include "tok/Dialect/Tok/IR/TokKVCacheOps.td"
include "tok/Dialect/Tok/IR/TokKVPoolOps.td"
include "tok/Dialect/Tok/IR/TokTokenOps.td"
include "tok/Dialect/Tok/IR/TokDecodingOps.td"

#endif // TOK_DIALECT_TOK_IR_TOKOPS_TD
