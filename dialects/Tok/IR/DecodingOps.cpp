//===- DecodingOps.cpp - sample, generate, draft, verify, accept ----------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "VerifyUtils.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace mlir::tok;

//===----------------------------------------------------------------------===//
// SampleOp
//===----------------------------------------------------------------------===//

LogicalResult SampleOp::inferReturnTypes(
    MLIRContext *context, std::optional<Location> location, ValueRange operands,
    DictionaryAttr attributes, OpaqueProperties properties, RegionRange regions,
    SmallVectorImpl<Type> &inferredReturnTypes) {
  if (operands.empty())
    return failure();
  auto logits = dyn_cast<RankedTensorType>(operands[0].getType());
  if (!logits || logits.getRank() != 2)
    return emitOptionalError(location, "expects tokens x vocabulary logits");
  inferredReturnTypes.push_back(RankedTensorType::get(
      {logits.getDimSize(0)}, IntegerType::get(context, 32)));
  return success();
}

/// Greedy choices take no randomness; stochastic ones need a counter so that
/// each call draws fresh numbers.
static LogicalResult verifyCounter(Operation *op, SamplerAttr sampler,
                                   Value counter) {
  if (sampler.isGreedy() && counter)
    return op->emitOpError("a greedy sampler takes no 'counter'");
  if (!sampler.isGreedy() && !counter)
    return op->emitOpError("a stochastic sampler (temperature ")
           << sampler.getTemperature().convertToDouble()
           << ") needs a 'counter' to draw fresh random numbers";
  return success();
}

/// A top-k filter cannot keep more tokens than the vocabulary has.
static LogicalResult verifyTopK(Operation *op, SamplerAttr sampler,
                                int64_t vocab) {
  if (!ShapedType::isDynamic(vocab) && sampler.getTopK() > vocab)
    return op->emitOpError("sampler top_k (")
           << sampler.getTopK() << ") exceeds the vocabulary of " << vocab;
  return success();
}

LogicalResult SampleOp::verify() {
  if (failed(verifyCounter(*this, getSampler(), getCounter())))
    return failure();
  return verifyTopK(*this, getSampler(), getLogits().getType().getDimSize(1));
}

//===----------------------------------------------------------------------===//
// GenerateOp
//===----------------------------------------------------------------------===//

LogicalResult GenerateOp::verify() {
  int64_t maxNew = getMaxNewTokens();
  if (maxNew <= 0)
    return emitOpError("expects a positive 'max_new_tokens', got ") << maxNew;
  if (std::optional<ArrayRef<int64_t>> eos = getEos()) {
    if (eos->empty())
      return emitOpError("expects at least one 'eos' token id when the "
                         "attribute is present");
    for (int64_t id : *eos)
      if (id < 0)
        return emitOpError("expects non-negative 'eos' token ids, got ") << id;
  }
  if (std::optional<uint64_t> chunk = getPrefillChunk();
      chunk && static_cast<int64_t>(*chunk) <= 0)
    return emitOpError("expects a positive 'prefill_chunk', got ")
           << static_cast<int64_t>(*chunk);
  return success();
}

LogicalResult GenerateOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  int64_t vocab;
  if (failed(verifyStepFunction(*this, getStepAttr(), getParams().getTypes(),
                                getCaches().getTypes(), symbolTable, vocab)))
    return failure();
  Builder b(getContext());
  auto checkCallback = [&](StringRef name, FlatSymbolRefAttr ref,
                           FunctionType expected) -> LogicalResult {
    if (!ref)
      return success();
    auto fn = symbolTable.lookupNearestSymbolFrom<func::FuncOp>(*this, ref);
    if (!fn)
      return emitOpError("'")
             << name << "' " << ref << " does not name a func.func";
    if (fn.getFunctionType() != expected)
      return emitOpError("'")
             << name << "' function " << ref << " must have type " << expected
             << ", but has " << fn.getFunctionType();
    return success();
  };
  if (failed(checkCallback(
          "on_token", getOnTokenAttr(),
          b.getFunctionType({b.getI32Type(), b.getI64Type()}, {}))) ||
      failed(checkCallback(
          "on_round", getOnRoundAttr(),
          b.getFunctionType({b.getI64Type(), b.getI64Type()}, {}))))
    return failure();
  if (std::optional<ArrayRef<int64_t>> eos = getEos();
      eos && !ShapedType::isDynamic(vocab))
    for (int64_t id : *eos)
      if (id >= vocab)
        return emitOpError("'eos' token id ")
               << id << " is outside the vocabulary of " << vocab;
  return verifyTopK(*this, getSampler(), vocab);
}

//===----------------------------------------------------------------------===//
// DraftOp
//===----------------------------------------------------------------------===//

/// The most nodes a drafter can propose: k levels of `branch` children each.
static int64_t maxDraftNodes(DrafterAttr drafter) {
  // Saturate at 2^40 nodes: far beyond any real tree, and small enough that
  // neither the product nor the sum below can overflow (branch < 2^63).
  constexpr int64_t kCap = int64_t{1} << 40;
  int64_t total = 0, level = 1;
  for (int64_t i = 0; i < drafter.getK(); ++i) {
    if (drafter.getBranch() > kCap / level)
      return kCap;
    level *= drafter.getBranch();
    total += level;
    if (total >= kCap)
      return kCap;
  }
  return total;
}

LogicalResult DraftOp::verify() {
  DrafterAttr drafter = getDrafter();
  bool usesModel = drafter.getKind() != DrafterKind::ngram;
  if (!usesModel && !getCaches().empty())
    return emitOpError("an ngram drafter runs no model and takes no caches");
  if (usesModel && getCaches().empty())
    return emitOpError("a ") << stringifyDrafterKind(drafter.getKind())
                             << " drafter runs a model and needs its caches";
  if (getCaches().getTypes() != getNewCaches().getTypes())
    return emitOpError("expects 'new_caches' of the types of 'caches'");
  int64_t nodes = getTokens().getType().getDimSize(0);
  if (failed(verifyLength(*this, "parents", getParents(), nodes,
                          "one per draft token")) ||
      failed(verifyLength(*this, "probs", getProbs(), nodes,
                          "one per draft token")))
    return failure();
  if (!ShapedType::isDynamic(nodes) && nodes > maxDraftNodes(drafter))
    return emitOpError("drafts ")
           << nodes << " tokens, more than the drafter's k = " << drafter.getK()
           << ", branch = " << drafter.getBranch() << " allow";
  return success();
}

LogicalResult DraftOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  FlatSymbolRefAttr step = getDrafter().getStep();
  if (!step)
    return success();
  int64_t vocab;
  return verifyStepFunction(*this, step, /*params=*/{}, getCaches().getTypes(),
                            symbolTable, vocab);
}

//===----------------------------------------------------------------------===//
// VerifyOp
//===----------------------------------------------------------------------===//

LogicalResult VerifyOp::verify() {
  RankedTensorType logits = getLogits().getType();
  int64_t drafts = getDraftTokens().getType().getDimSize(0);
  if (failed(verifyLength(*this, "parents", getParents(), drafts,
                          "one per draft token")))
    return failure();
  int64_t rows = logits.getDimSize(0);
  if (!ShapedType::isDynamic(rows) && !ShapedType::isDynamic(drafts) &&
      rows != drafts + 1)
    return emitOpError("expects ")
           << drafts + 1 << " rows of 'logits' (the pending token and "
           << drafts << " drafts), got " << logits;
  if (failed(verifyCounter(*this, getSampler(), getCounter())) ||
      failed(verifyTopK(*this, getSampler(), logits.getDimSize(1))))
    return failure();
  if (Value probs = getDraftProbs()) {
    if (getSampler().isGreedy())
      return emitOpError("greedy verification is an exact match and takes "
                         "no 'draft_probs'");
    auto type = cast<RankedTensorType>(probs.getType());
    auto expected = RankedTensorType::get({drafts, logits.getDimSize(1)},
                                          type.getElementType());
    if (failed(verifyCompatibleShape(type, expected)))
      return emitOpError("expects 'draft_probs' of type ")
             << expected << " (drafts x vocabulary), got " << type;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// AcceptOp
//===----------------------------------------------------------------------===//

LogicalResult AcceptOp::inferReturnTypes(
    MLIRContext *context, std::optional<Location> location, ValueRange operands,
    DictionaryAttr attributes, OpaqueProperties properties, RegionRange regions,
    SmallVectorImpl<Type> &inferredReturnTypes) {
  if (operands.size() != 4)
    return failure();
  auto tokens = dyn_cast<RankedTensorType>(operands[0].getType());
  auto path = dyn_cast<RankedTensorType>(operands[2].getType());
  if (!tokens || !path || tokens.getRank() != 1 || path.getRank() != 1)
    return emitOptionalError(location, "expects 1-D tokens and path");
  int64_t length = ShapedType::kDynamic;
  if (tokens.hasStaticShape() && path.hasStaticShape())
    length = tokens.getDimSize(0) + path.getDimSize(0) + 1;
  inferredReturnTypes.push_back(
      RankedTensorType::get({length}, IntegerType::get(context, 32)));
  return success();
}
