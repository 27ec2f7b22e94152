//===- LayerFunctions.h - a model's layers as called functions --*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Private to the tok passes. The importers build each layer of a model as a
// private function marked `tok.layer`, called once per layer from the step
// (decoder) or @encode (encoder), each call carrying its layer's index as
// `tok.layer = l`. A pass that gives layers different settings clones the
// layer function once per distinct setting (specializeLayerCalls), so the
// module grows with the number of distinct layers, not with the depth; a
// pass whose state flows from one layer into the next (token merging and
// pruning) inlines the calls (inlineLayerCalls).
//
//===----------------------------------------------------------------------===//

#ifndef TOK_PASSES_TRANSFORMS_LAYERFUNCTIONS_H
#define TOK_PASSES_TRANSFORMS_LAYERFUNCTIONS_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

#include <string>

namespace mlir {
namespace tok {

/// Whether `call` runs one layer: it carries `tok.layer = l`, or its callee
/// is marked `tok.layer`.
bool isLayerCall(func::CallOp call);

/// The layer calls directly in `caller`'s body, in order.
SmallVector<func::CallOp> getLayerCalls(func::FuncOp caller);

/// Every layer call in `module`, in module order.
SmallVector<func::CallOp> getLayerCalls(ModuleOp module);

/// The layer index of `call`: its `tok.layer` value, else `fallback`.
int64_t getLayerIndex(func::CallOp call, int64_t fallback);

/// The function `call` calls (null if it is not in the module).
func::FuncOp getCallee(func::CallOp call);

/// Gives each call a callee of its own key: calls of one function with
/// equal keys share one clone of it, named `<callee>_<n>` and placed after
/// it. A function whose calls all get one key is left as it is. Functions
/// marked `tok.layer` that nothing calls any more are erased.
void specializeLayerCalls(ModuleOp module, ArrayRef<func::CallOp> calls,
                          ArrayRef<std::string> keys);

/// Replaces `call` by a copy of the body of `callee`, a single-block
/// function, and erases it.
void inlineCall(func::CallOp call, func::FuncOp callee);

/// Replaces each layer call in `caller` (whose callee `which` accepts, all
/// without it) by a copy of its callee's body (single-block callees only;
/// fails with an error otherwise), then erases layer functions nothing
/// calls any more.
LogicalResult
inlineLayerCalls(func::FuncOp caller,
                 function_ref<bool(func::FuncOp)> which = nullptr);

/// inlineLayerCalls on every function of `module` with such calls.
LogicalResult
inlineLayerCalls(ModuleOp module,
                 function_ref<bool(func::FuncOp)> which = nullptr);

/// Calls `fn` on every op of `root` and, once each, of every function it
/// calls directly or transitively.
void walkWithCallees(func::FuncOp root, function_ref<void(Operation *)> fn);

} // namespace tok
} // namespace mlir

#endif // TOK_PASSES_TRANSFORMS_LAYERFUNCTIONS_H
