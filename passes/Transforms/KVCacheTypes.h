//===- KVCacheTypes.h - module-wide KV cache type changes -------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Private to the KV-cache passes (tok-kv-evict, tok-kv-quantize,
// tok-kv-select), which change every !tok.kv_cache of a module alike.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_PASSES_TRANSFORMS_KVCACHETYPES_H
#define TOK_PASSES_TRANSFORMS_KVCACHETYPES_H

#include "mlir/IR/AttrTypeSubElements.h"
#include "mlir/IR/BuiltinOps.h"
#include "tok/Dialect/Tok/IR/TokTypes.h"

namespace mlir {
namespace tok {

/// The cache types `op` mentions: operands, results and the arguments of
/// the blocks of its regions (a function's signature).
inline SmallVector<KVCacheType> cacheTypesOf(Operation *op) {
  SmallVector<Type> types(op->getOperandTypes());
  llvm::append_range(types, op->getResultTypes());
  for (Region &region : op->getRegions())
    for (Block &block : region)
      llvm::append_range(types, block.getArgumentTypes());
  SmallVector<KVCacheType> caches;
  for (Type t : types)
    if (auto cache = dyn_cast<KVCacheType>(t))
      caches.push_back(cache);
  return caches;
}

/// Replaces every cache type of `module` (signatures, ops, attributes) by
/// `change(type)`.
inline void replaceCacheTypes(ModuleOp module,
                              function_ref<KVCacheType(KVCacheType)> change) {
  AttrTypeReplacer replacer;
  replacer.addReplacement(
      [&](KVCacheType t) -> std::optional<Type> { return change(t); });
  replacer.recursivelyReplaceElementsIn(module, /*replaceAttrs=*/true,
                                        /*replaceLocs=*/false,
                                        /*replaceTypes=*/true);
}

} // namespace tok
} // namespace mlir

#endif // TOK_PASSES_TRANSFORMS_KVCACHETYPES_H
