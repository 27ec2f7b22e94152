//===- KVCacheClasses.h - caches that must share one type -------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Private to the KV-cache passes. A model threads one !tok.kv_cache per
// layer through its step function, the functions that call it, the
// `tok.generate` loop and `scf.for` loops; every value on one such thread
// must keep one type. KVCacheClasses groups the cache values of a module
// into these threads (union-find over SSA values and function signature
// slots), numbers them by layer and retypes one thread at a time, which is
// what per-layer budgets need (KVCacheTypes.h changes every cache alike).
//
//===----------------------------------------------------------------------===//

#ifndef TOK_PASSES_TRANSFORMS_KVCACHECLASSES_H
#define TOK_PASSES_TRANSFORMS_KVCACHECLASSES_H

#include "mlir/IR/BuiltinOps.h"
#include "tok/Dialect/Tok/IR/TokTypes.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/EquivalenceClasses.h"

namespace mlir {
namespace tok {

class CachedAttentionOp;

class KVCacheClasses {
public:
  /// Groups the caches of `module` (once per object). Fails (with an error
  /// naming the op) on an op that passes several caches in a way this does not
  /// know (only calls, returns, `scf.for` / `scf.yield`, `tok.generate`,
  /// `tok.draft` and ops with one cache operand are followed).
  LogicalResult build(ModuleOp module);

  /// The layer of the cache `attention` reads: layers are numbered in the
  /// order their first attention appears in the module.
  std::optional<unsigned> layerOf(CachedAttentionOp attention) const;
  unsigned numLayers() const { return layerLeaders.size(); }

  /// The cache values on the thread of `cache` (in no particular order).
  SmallVector<Value> threadOf(Value cache) const;

  /// Gives every value of `layer`'s thread (and the function signature
  /// slots it passes through) the type `change(old type)`.
  void retypeLayer(unsigned layer,
                   function_ref<KVCacheType(KVCacheType)> change);

  /// Updates the function types of `module` to the retyped signature
  /// slots; call after the last retypeLayer.
  void updateFunctionTypes(ModuleOp module) const;

private:
  // A node is a cache value or a slot of a function's signature
  // (argument or result), encoded as an opaque pointer.
  using Node = const void *;
  llvm::EquivalenceClasses<Node> classes;
  llvm::DenseMap<Node, Value> valueOf;
  llvm::SmallVector<Node> layerLeaders;
  // Signature slots: (function, result?, index), each node a distinct heap
  // object; their types after retyping.
  struct Slot {
    Operation *function;
    bool result;
    unsigned index;
  };
  llvm::SmallVector<std::unique_ptr<Slot>> slotStorage;
  llvm::DenseMap<std::tuple<Operation *, unsigned, unsigned>, Node> slotNodes;
  llvm::DenseMap<Node, const Slot *> slotOf;
  llvm::DenseMap<const Slot *, Type> slotTypes;

  Node slot(Operation *function, bool result, unsigned index);
  static Node node(Value v) { return v.getAsOpaquePointer(); }
  void join(Node a, Node b) { classes.unionSets(a, b); }
};

} // namespace tok
} // namespace mlir

#endif // TOK_PASSES_TRANSFORMS_KVCACHECLASSES_H
