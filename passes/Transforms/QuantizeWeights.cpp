//===- QuantizeWeights.cpp - tok-quantize-weights -------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Retypes weight matrices to #tok.quant. A weight enters as an argument
// named by `tok.weight` (of @generate, @step, ...) and flows unchanged into
// step functions (tok.generate's params) and layer functions (call
// operands); its type must change along the whole path at once. So the
// pass first finds, for every weight argument, every value it reaches and
// what reads it (tok.embed, tok.linear inside or outside a layer function,
// or something else), then picks a scheme by that role and retypes all the
// values together. Paths that meet in a shared argument (a layer function
// called for every layer) change together or not at all.
//
//===----------------------------------------------------------------------===//

#include "tok/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "tok/Dialect/Tok/IR/TokDialect.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

#include "llvm/ADT/SetVector.h"

namespace mlir {
namespace tok {
#define GEN_PASS_DEF_TOKQUANTIZEWEIGHTSPASS
#include "tok/Transforms/Passes.h.inc"
} // namespace tok
} // namespace mlir

using namespace mlir;
using namespace mlir::tok;

namespace {

/// What reads a weight, wherever it flows.
struct Reach {
  /// The function arguments it flows into, the original first.
  llvm::SetVector<BlockArgument> args;
  bool embedded = false, layerLinear = false, headLinear = false;
  /// Something that cannot take a #tok.quant value.
  bool other = false;
};

class QuantizeWeights
    : public tok::impl::TokQuantizeWeightsPassBase<QuantizeWeights> {
public:
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<std::optional<WeightScheme>> layers = parse("scheme", scheme),
                                               table = parse("embedding",
                                                             embedding),
                                               headScheme = parse("head", head);
    if (!layers || !table || !headScheme)
      return signalPassFailure();
    if (embedding.empty())
      table = layers;
    if (head.empty())
      headScheme = layers;

    SymbolTable symbols(module);
    // The arguments named by tok.weight (of entry and step functions).
    SmallVector<BlockArgument> roots;
    module.walk([&](func::FuncOp fn) {
      if (fn.isExternal())
        return;
      for (unsigned i = 0, e = fn.getNumArguments(); i < e; ++i)
        if (fn.getArgAttr(i, TokDialect::getWeightAttrName()))
          roots.push_back(fn.getArgument(i));
    });

    // A step's weight arguments are reached from the entry's: only the
    // arguments no other weight reaches start a path.
    llvm::DenseSet<BlockArgument> downstream;
    for (BlockArgument root : roots) {
      Reach reach;
      follow(root, symbols, reach);
      for (BlockArgument a : reach.args)
        if (a != root)
          downstream.insert(a);
    }
    // What each path would become (null: stays).
    struct Path {
      BlockArgument root;
      Reach reach;
      Type newType;
    };
    SmallVector<Path> paths;
    for (BlockArgument root : roots) {
      if (downstream.contains(root))
        continue;
      Path &path = paths.emplace_back();
      path.root = root;
      follow(root, symbols, path.reach);
      path.newType = chooseType(root, path.reach, *layers, *table, *headScheme);
    }
    // Paths that meet in a shared argument (a layer function called for
    // every layer) change together or not at all: an argument left as it
    // is for one path (a weight that also reaches another op) keeps every
    // path through it.
    llvm::DenseMap<BlockArgument, SmallVector<size_t>> through;
    for (auto [i, path] : llvm::enumerate(paths))
      for (BlockArgument a : path.reach.args)
        through[a].push_back(i);
    for (bool changed = true; changed;) {
      changed = false;
      for (Path &path : paths) {
        if (!path.newType)
          continue;
        for (BlockArgument a : path.reach.args)
          for (size_t other : through[a])
            if (paths[other].newType != path.newType) {
              path.newType = nullptr;
              paths[other].newType = nullptr;
              changed = true;
            }
      }
    }
    for (Path &path : paths) {
      if (!path.newType)
        continue;
      for (BlockArgument a : path.reach.args)
        a.setType(path.newType);
      ++numWeights;
    }
    // Function types follow their arguments.
    module.walk([&](func::FuncOp fn) {
      if (fn.isExternal())
        return;
      fn.setType(FunctionType::get(
          &getContext(), fn.getBody().getArgumentTypes(), fn.getResultTypes()));
    });
  }

private:
  /// The #tok.quant type of the weight entering at `root`, given what it
  /// reaches, or null where it stays.
  Type chooseType(BlockArgument root, const Reach &reach,
                  std::optional<WeightScheme> layers,
                  std::optional<WeightScheme> table,
                  std::optional<WeightScheme> headScheme) {
    auto type = dyn_cast<RankedTensorType>(root.getType());
    if (!type || type.getRank() != 2 || getWeightQuant(type) ||
        !isa<FloatType>(type.getElementType()) || reach.other)
      return nullptr;
    std::optional<WeightScheme> want;
    if (reach.embedded)
      want = table;
    else if (reach.headLinear && !reach.layerLinear)
      want = headScheme;
    else if (reach.layerLinear || reach.headLinear)
      want = layers;
    if (!want)
      return nullptr;
    auto quant = WeightQuantAttr::get(&getContext(), *want);
    if (ShapedType::isDynamic(type.getDimSize(1)) ||
        type.getDimSize(1) % quant.getBlockSize() != 0)
      return nullptr;
    return RankedTensorType::get(type.getShape(),
                                 Float32Type::get(&getContext()), quant);
  }

  /// The scheme an option names: none (nullopt inside), or failure.
  std::optional<std::optional<WeightScheme>> parse(StringRef option,
                                                   StringRef value) {
    if (value.empty() || value == "none")
      return std::optional<WeightScheme>();
    std::optional<WeightScheme> s = symbolizeWeightScheme(value);
    if (!s) {
      getOperation()->emitError()
          << "tok-quantize-weights: " << option << " must be q8_0, q4_0, "
          << "q4_k, q6_k, i8_channel or none, got '" << value << "'";
      return std::nullopt;
    }
    return std::optional<WeightScheme>(s);
  }

  /// Everything `arg` reaches and what reads it.
  void follow(BlockArgument arg, SymbolTable &symbols, Reach &reach) {
    if (!reach.args.insert(arg))
      return;
    auto fn = cast<func::FuncOp>(arg.getOwner()->getParentOp());
    bool inLayer = static_cast<bool>(fn->getAttr("tok.layer"));
    for (OpOperand &use : arg.getUses()) {
      Operation *user = use.getOwner();
      unsigned n = use.getOperandNumber();
      if (auto embed = dyn_cast<EmbedOp>(user);
          embed && embed.getTable() == arg) {
        reach.embedded = true;
      } else if (auto linear = dyn_cast<LinearOp>(user);
                 linear && linear.getWeight() == arg) {
        (inLayer ? reach.layerLinear : reach.headLinear) = true;
      } else if (auto call = dyn_cast<func::CallOp>(user)) {
        auto callee = symbols.lookup<func::FuncOp>(call.getCallee());
        if (!callee || callee.isExternal()) {
          reach.other = true;
          continue;
        }
        follow(callee.getArgument(n), symbols, reach);
      } else if (auto gen = dyn_cast<GenerateOp>(user)) {
        // params(i) is the step's argument 2 + i (after ids, positions).
        auto params = gen.getParams();
        auto step = symbols.lookup<func::FuncOp>(gen.getStep());
        unsigned first = params.getBeginOperandIndex();
        if (!step || step.isExternal() || n < first ||
            n >= first + params.size()) {
          reach.other = true;
          continue;
        }
        follow(step.getArgument(2 + (n - first)), symbols, reach);
      } else {
        reach.other = true;
      }
    }
  }
};

} // namespace
