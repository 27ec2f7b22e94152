//===- TokAttrs.cpp - tok dialect enums and attributes --------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Dialect/Tok/IR/TokAttrs.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/TypeUtilities.h"
#include "tok/Dialect/Tok/IR/TokDialect.h"
#include "tok/Dialect/Tok/IR/TokLimits.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::tok;

#include "tok/Dialect/Tok/IR/TokEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "tok/Dialect/Tok/IR/TokAttrs.cpp.inc"

void TokDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "tok/Dialect/Tok/IR/TokAttrs.cpp.inc"
      >();
}

LogicalResult MaskAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               MaskKind kind, int64_t window, int64_t sinks,
                               bool blockDiagonal) {
  if (window < 0)
    return emitError() << "mask window must be >= 0, got " << window;
  if (sinks < 0)
    return emitError() << "mask sinks must be >= 0, got " << sinks;
  if (window > kMaxCacheSlots || sinks > kMaxCacheSlots)
    return emitError() << "mask window and sinks must be at most "
                       << kMaxCacheSlots << ", got " << window << " and "
                       << sinks;
  if (kind != MaskKind::causal && (window || sinks))
    return emitError() << "a sliding window or sinks need a causal mask";
  if (sinks && !window)
    return emitError() << "mask sinks (" << sinks
                       << ") need a sliding window; without one every key "
                          "is visible already";
  return success();
}

LogicalResult ScoresAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 int64_t rows, APFloat decayValue) {
  double decay = decayValue.convertToDouble();
  if (rows < 0)
    return emitError() << "scores rows must be >= 0 (0 = every row), got "
                       << rows;
  if (rows > kMaxCacheSlots)
    return emitError() << "scores rows must be at most " << kMaxCacheSlots
                       << ", got " << rows;
  if (!(decay > 0.0 && decay <= 1.0))
    return emitError() << "scores decay must be in (0, 1], got " << decay;
  return success();
}

LogicalResult KVQuantAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                  int64_t bits, int64_t group,
                                  int64_t residual) {
  if (bits != 4 && bits != 8)
    return emitError() << "kv_quant bits must be 4 or 8, got " << bits;
  if (group <= 0 || group > kMaxHeadDim)
    return emitError() << "kv_quant group must be in [1, " << kMaxHeadDim
                       << "], got " << group;
  if (residual > kMaxCacheSlots)
    return emitError() << "kv_quant residual must be at most " << kMaxCacheSlots
                       << ", got " << residual;
  if (residual < 0 || residual % group != 0)
    return emitError() << "kv_quant residual must be a non-negative multiple "
                          "of the group size "
                       << group << ", got " << residual;
  return success();
}

LogicalResult EvictAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                EvictPolicy policy, int64_t budget,
                                int64_t sinks, int64_t recent,
                                APFloat decayValue, int64_t observe,
                                int64_t pool) {
  double decay = decayValue.convertToDouble();
  StringRef name = stringifyEvictPolicy(policy);
  if (budget <= 0)
    return emitError() << "eviction budget must be positive, got " << budget;
  if (sinks < 0 || recent < 0 || observe < 0)
    return emitError() << "eviction sinks, recent and observe must be >= 0";
  for (int64_t v : {budget, sinks, recent, observe, pool})
    if (v > kMaxCacheSlots)
      return emitError() << "eviction budget, sinks, recent, observe and "
                            "pool must be at most "
                         << kMaxCacheSlots << ", got " << v;
  if (policy == EvictPolicy::window && sinks + recent != budget)
    return emitError() << "window eviction keeps sinks + recent slots: "
                          "expected budget "
                       << sinks + recent << ", got " << budget;
  if (policy != EvictPolicy::window && sinks)
    return emitError() << "sinks only apply to window eviction, not '" << name
                       << "'";
  if ((policy == EvictPolicy::tova || policy == EvictPolicy::snapkv) && recent)
    return emitError() << "'" << name
                       << "' keeps no recent window of its own; recent "
                          "must be 0, got "
                       << recent;
  if ((policy == EvictPolicy::h2o || policy == EvictPolicy::a2sf) &&
      recent >= budget)
    return emitError() << "'" << name << "' keeps recent (" << recent
                       << ") plus heavy hitters: recent must be below the "
                          "budget "
                       << budget;
  if (policy == EvictPolicy::a2sf) {
    if (!(decay > 0.0 && decay < 1.0))
      return emitError() << "a2sf needs a forgetting factor decay in (0, 1), "
                            "got "
                         << decay;
  } else if (decay != 1.0) {
    return emitError() << "decay only applies to a2sf eviction, not '" << name
                       << "'";
  }
  if (policy == EvictPolicy::snapkv) {
    if (observe <= 0 || observe > budget)
      return emitError() << "snapkv needs an observation window in [1, "
                         << budget << "], got " << observe;
    if (pool < 1 || pool % 2 == 0)
      return emitError() << "snapkv pooling width must be odd and positive, "
                            "got "
                         << pool;
  } else if (observe || pool != 1) {
    return emitError() << "observe and pool only apply to snapkv eviction, "
                          "not '"
                       << name << "'";
  }
  return success();
}

LogicalResult SamplerAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                  APFloat temperatureValue, int64_t topK,
                                  APFloat topPValue, int64_t seed) {
  double temperature = temperatureValue.convertToDouble();
  double topP = topPValue.convertToDouble();
  if (!(temperature >= 0.0))
    return emitError() << "sampler temperature must be >= 0, got "
                       << temperature;
  if (topK < 0 || topK > kMaxTopK)
    return emitError() << "sampler top_k must be in [0, " << kMaxTopK
                       << "] (0 = off), got " << topK;
  if (!(topP > 0.0 && topP <= 1.0))
    return emitError() << "sampler top_p must be in (0, 1], got " << topP;
  return success();
}

LogicalResult DrafterAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                  DrafterKind kind, int64_t k, int64_t branch,
                                  int64_t nMax, int64_t nMin, NgramMatch match,
                                  FlatSymbolRefAttr step,
                                  DenseI64ArrayAttr skipAttr,
                                  APFloat confidenceValue) {
  double confidence = confidenceValue.convertToDouble();
  ArrayRef<int64_t> skip;
  if (skipAttr)
    skip = skipAttr.asArrayRef();
  if (k < 1 || k > kMaxDraftTokens)
    return emitError() << "drafter k (draft length) must be in [1, "
                       << kMaxDraftTokens << "], got " << k;
  if (branch < 1 || branch > kMaxDraftBranch)
    return emitError() << "drafter branch must be in [1, " << kMaxDraftBranch
                       << "], got " << branch;
  if (nMax > kMaxNgram)
    return emitError() << "drafter n_max must be at most " << kMaxNgram
                       << ", got " << nMax;
  if (!(confidence >= 0.0 && confidence < 1.0))
    return emitError() << "drafter confidence must be in [0, 1), got "
                       << confidence;
  if (kind != DrafterKind::ngram && !step)
    return emitError() << "a " << stringifyDrafterKind(kind)
                       << " drafter needs 'step', the step function of the "
                          "model it runs";
  if (kind == DrafterKind::ngram && step)
    return emitError() << "an ngram drafter runs no model and takes no "
                          "'step'";
  if (kind == DrafterKind::layer_skip) {
    if (skip.empty())
      return emitError() << "a layer_skip drafter needs a non-empty 'skip' "
                            "list of layers";
    for (size_t i = 0; i < skip.size(); ++i)
      if (skip[i] < 0 || (i && skip[i] <= skip[i - 1]))
        return emitError() << "drafter skip layers must be non-negative and "
                              "strictly increasing";
  } else if (!skip.empty()) {
    return emitError() << "'skip' only applies to a layer_skip drafter";
  }
  if (kind == DrafterKind::ngram) {
    if (nMin < 1 || nMin > nMax)
      return emitError() << "ngram drafter needs 1 <= n_min <= n_max, got "
                            "n_min = "
                         << nMin << ", n_max = " << nMax;
  } else if (nMax != 3 || nMin != 1 || match != NgramMatch::recent) {
    return emitError()
           << "n_max, n_min and match only apply to an ngram drafter";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// WeightQuantAttr
//===----------------------------------------------------------------------===//

int64_t WeightQuantAttr::getBlockSize() const {
  switch (getScheme()) {
  case WeightScheme::q8_0:
  case WeightScheme::q4_0:
  case WeightScheme::i8_channel:
    return 32;
  case WeightScheme::q4_k:
  case WeightScheme::q6_k:
    return 256;
  }
  llvm_unreachable("unknown weight scheme");
}

int64_t WeightQuantAttr::getBlockBytes() const {
  switch (getScheme()) {
  case WeightScheme::q8_0:
    return 34;
  case WeightScheme::q4_0:
    return 18;
  case WeightScheme::q4_k:
    return 144;
  case WeightScheme::q6_k:
    return 210;
  case WeightScheme::i8_channel:
    return 32;
  }
  llvm_unreachable("unknown weight scheme");
}

int64_t WeightQuantAttr::getRowTrailerBytes() const {
  return getScheme() == WeightScheme::i8_channel ? 4 : 0;
}

int64_t WeightQuantAttr::getRowBytes(int64_t k) const {
  return k / getBlockSize() * getBlockBytes() + getRowTrailerBytes();
}

LogicalResult WeightQuantAttr::verifyEncoding(
    ArrayRef<int64_t> shape, Type elementType,
    function_ref<InFlightDiagnostic()> emitError) const {
  if (!elementType.isF32())
    return emitError() << "a #tok.quant weight dequantizes to f32, got element "
                          "type "
                       << elementType;
  if (shape.size() != 2)
    return emitError() << "a #tok.quant weight is a matrix (N x K), got rank "
                       << shape.size();
  int64_t k = shape[1];
  if (ShapedType::isDynamic(k) || k % getBlockSize() != 0)
    return emitError() << "a #tok.quant<" << stringifyWeightScheme(getScheme())
                       << "> weight needs a static K that is a multiple of "
                          "its block size "
                       << getBlockSize() << ", got K = "
                       << (ShapedType::isDynamic(k) ? std::string("?")
                                                    : std::to_string(k));
  return success();
}
