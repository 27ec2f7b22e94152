//===- TokTypes.cpp - tok dialect types -----------------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Dialect/Tok/IR/TokTypes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/TypeUtilities.h"
#include "tok/Dialect/Tok/IR/TokDialect.h"
#include "tok/Dialect/Tok/IR/TokLimits.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::tok;

#define GET_TYPEDEF_CLASSES
#include "tok/Dialect/Tok/IR/TokTypes.cpp.inc"

void TokDialect::registerTypes() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "tok/Dialect/Tok/IR/TokTypes.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// KVCacheType
//===----------------------------------------------------------------------===//

// !tok.kv_cache<H x C x D x T [, scores] [, quant = #tok.kv_quant<...>]
//                [, pages = P]>
Type KVCacheType::parse(AsmParser &parser) {
  SMLoc loc = parser.getCurrentLocation();
  SmallVector<int64_t> dims;
  Type elementType;
  if (parser.parseLess() ||
      parser.parseDimensionList(dims, /*allowDynamic=*/false,
                                /*withTrailingX=*/true) ||
      parser.parseType(elementType))
    return {};
  if (dims.size() != 3) {
    parser.emitError(loc, "expected kv_heads x capacity x head_dim x "
                          "element type, got ")
        << dims.size() << " dimensions";
    return {};
  }
  bool scores = false;
  KVQuantAttr quant;
  std::optional<int64_t> pages;
  while (succeeded(parser.parseOptionalComma())) {
    SMLoc keyLoc = parser.getCurrentLocation();
    if (succeeded(parser.parseOptionalKeyword("scores"))) {
      if (scores) {
        parser.emitError(keyLoc, "'scores' given twice");
        return {};
      }
      scores = true;
      continue;
    }
    if (succeeded(parser.parseOptionalKeyword("quant"))) {
      if (quant) {
        parser.emitError(keyLoc, "'quant' given twice");
        return {};
      }
      if (parser.parseEqual() || parser.parseAttribute(quant))
        return {};
      continue;
    }
    if (succeeded(parser.parseOptionalKeyword("pages"))) {
      if (pages) {
        parser.emitError(keyLoc, "'pages' given twice");
        return {};
      }
      int64_t p = 0;
      if (parser.parseEqual() || parser.parseInteger(p))
        return {};
      pages = p;
      continue;
    }
    parser.emitError(keyLoc, "expected 'scores', 'quant' or 'pages'");
    return {};
  }
  if (parser.parseGreater())
    return {};
  return getChecked([&] { return parser.emitError(loc); }, parser.getContext(),
                    dims[0], dims[1], dims[2], elementType, scores, quant,
                    pages.value_or(0));
}

void KVCacheType::print(AsmPrinter &printer) const {
  printer << '<' << getKvHeads() << 'x' << getCapacity() << 'x' << getHeadDim()
          << 'x' << getElementType();
  if (getScores())
    printer << ", scores";
  if (getQuant())
    printer << ", quant = " << getQuant();
  if (getPages())
    printer << ", pages = " << getPages();
  printer << '>';
}

LogicalResult KVCacheType::verify(function_ref<InFlightDiagnostic()> emitError,
                                  int64_t kvHeads, int64_t capacity,
                                  int64_t headDim, Type elementType,
                                  bool scores, KVQuantAttr quant,
                                  int64_t pages) {
  if (kvHeads <= 0 || capacity <= 0 || headDim <= 0)
    return emitError() << "kv_cache dimensions must be positive, got "
                       << kvHeads << "x" << capacity << "x" << headDim;
  if (!elementType.isF32() && !elementType.isF16() && !elementType.isBF16())
    return emitError() << "kv_cache element type must be f32, f16 or bf16, "
                          "got "
                       << elementType;
  if (kvHeads > kMaxKVHeads || headDim > kMaxHeadDim ||
      capacity > kMaxCacheSlots)
    return emitError() << "kv_cache dimensions " << kvHeads << "x" << capacity
                       << "x" << headDim << " exceed tok's limits ("
                       << kMaxKVHeads << " heads, " << kMaxCacheSlots
                       << " slots, head_dim " << kMaxHeadDim << ")";
  if (pages < 0 || pages > capacity)
    return emitError() << "kv_cache pages (the page size; 0: no page bounds) "
                          "must be in [0, capacity = "
                       << capacity << "], got " << pages;
  if (pages > 0 && quant)
    return emitError() << "kv_cache page bounds over quantized storage are "
                          "not supported: use 'pages' or 'quant'";
  if (quant) {
    if (headDim % quant.getGroup() != 0)
      return emitError() << "kv_cache head_dim " << headDim
                         << " is not a multiple of the quantization group "
                         << quant.getGroup();
    if (quant.getBits() == 4 && headDim % 2 != 0)
      return emitError() << "kv_cache head_dim " << headDim
                         << " must be even for 4-bit quantization (two "
                            "channels per byte)";
    if (quant.getResidual() > capacity)
      return emitError() << "kv_cache quantization residual "
                         << quant.getResidual() << " exceeds the capacity "
                         << capacity;
  }
  return success();
}

RankedTensorType KVCacheType::getScoresType() const {
  return RankedTensorType::get({getKvHeads(), getCapacity()},
                               Float32Type::get(getContext()));
}

//===----------------------------------------------------------------------===//
// KVPoolType
//===----------------------------------------------------------------------===//

// !tok.kv_pool<H x pages x page_size x D x T>
Type KVPoolType::parse(AsmParser &parser) {
  SMLoc loc = parser.getCurrentLocation();
  SmallVector<int64_t> dims;
  Type elementType;
  if (parser.parseLess() ||
      parser.parseDimensionList(dims, /*allowDynamic=*/false,
                                /*withTrailingX=*/true) ||
      parser.parseType(elementType) || parser.parseGreater())
    return {};
  if (dims.size() != 4) {
    parser.emitError(loc, "expected kv_heads x pages x page_size x head_dim "
                          "x element type, got ")
        << dims.size() << " dimensions";
    return {};
  }
  return getChecked([&] { return parser.emitError(loc); }, parser.getContext(),
                    dims[0], dims[1], dims[2], dims[3], elementType);
}

void KVPoolType::print(AsmPrinter &printer) const {
  printer << '<' << getKvHeads() << 'x' << getPages() << 'x' << getPageSize()
          << 'x' << getHeadDim() << 'x' << getElementType() << '>';
}

LogicalResult KVPoolType::verify(function_ref<InFlightDiagnostic()> emitError,
                                 int64_t kvHeads, int64_t pages,
                                 int64_t pageSize, int64_t headDim,
                                 Type elementType) {
  if (kvHeads <= 0 || pages <= 0 || pageSize <= 0 || headDim <= 0)
    return emitError() << "kv_pool dimensions must be positive, got " << kvHeads
                       << "x" << pages << "x" << pageSize << "x" << headDim;
  if (!elementType.isF32() && !elementType.isF16() && !elementType.isBF16())
    return emitError() << "kv_pool element type must be f32, f16 or bf16, "
                          "got "
                       << elementType;
  if (kvHeads > kMaxKVHeads || headDim > kMaxHeadDim ||
      pageSize > kMaxCacheSlots || pages > kMaxCacheSlots / pageSize)
    return emitError() << "kv_pool dimensions " << kvHeads << "x" << pages
                       << "x" << pageSize << "x" << headDim
                       << " exceed tok's limits (" << kMaxKVHeads << " heads, "
                       << kMaxCacheSlots << " slots in all, head_dim "
                       << kMaxHeadDim << ")";
  return success();
}
