//===- GenerateExpansion.cpp - tok.generate as a decoding loop ------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// tok.generate becomes a prefill call of the step function followed by an
// scf.while decode loop, still on tok types (caches, tok.sample), so that
// the conversion that follows lowers the loop body like any other code:
//
//   logits, caches = step_last_row(prompt, [0 .. P-1], params, caches)
//   t = sample(logits[0], counter 0); i = 0
//   loop:
//     out[i] = t; on_token(t, i); i += 1
//     if i == max_new_tokens or t == eos: stop
//     logits, caches = step([t], [P + i - 1], params, caches)
//     t = sample(logits[0], counter i)
//   return out[0 .. i)
//
// The caches are loop-carried values updated in place by the step's
// appends, so bufferization keeps one buffer per cache for the whole loop.
// The prefill calls a copy of the step whose head (the tok.linear that
// makes its logits) runs on the last row only, the one it samples; steps
// of another shape are called as they are, and sampled at row P-1.
//
//===----------------------------------------------------------------------===//

#include "tok/Dialect/Tok/Utils/GenerateExpansion.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

using namespace mlir;
using namespace mlir::tok;

namespace {

/// Builds the loop that replaces one tok.generate.
struct GenerateExpander {
  GenerateOp op;
  OpBuilder &b;
  Location loc;
  func::FuncOp step;
  RankedTensorType dynTokens;

  Value index(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }

  Value toI32(Value v) {
    return arith::IndexCastOp::create(b, loc, b.getI32Type(), v);
  }

  /// A one-element tensor<?xi32> holding `v` (an i32).
  Value singleton(Value v) {
    Value t = tensor::FromElementsOp::create(b, loc, ValueRange{v});
    return tensor::CastOp::create(b, loc, dynTokens, t);
  }

  /// Calls the step function (or `fn`); returns the logits and the new
  /// caches.
  func::CallOp callStep(Value tokens, Value positions, ValueRange caches,
                        func::FuncOp fn = nullptr) {
    SmallVector<Value> args{tokens, positions};
    llvm::append_range(args, op.getParams());
    llvm::append_range(args, caches);
    return func::CallOp::create(b, loc, fn ? fn : step, args);
  }

  /// For the prefill, which samples only the last row: a copy of the step
  /// function whose logits are the last row's alone, where they come
  /// straight from a tok.linear over [T, E] hidden states (the head: a
  /// fifth of a 110M model's multiply-adds over a prompt). Null where the
  /// step is not of that shape. One copy per step function.
  func::FuncOp lastRowStep() {
    auto module = step->getParentOfType<ModuleOp>();
    std::string name = (step.getSymName() + "_last_row").str();
    if (auto existing = module.lookupSymbol<func::FuncOp>(name))
      return existing;
    if (step.isExternal())
      return nullptr;
    auto ret = dyn_cast<func::ReturnOp>(step.getBody().back().getTerminator());
    if (!ret || ret.getNumOperands() == 0)
      return nullptr;
    auto head = ret.getOperand(0).getDefiningOp<LinearOp>();
    if (!head || head->getBlock() != &step.getBody().back() ||
        cast<RankedTensorType>(head.getInput().getType()).getRank() != 2)
      return nullptr;
    func::FuncOp copy = step.clone();
    copy.setSymName(name);
    OpBuilder mb(step);
    mb.setInsertionPointAfter(step);
    mb.insert(copy);
    auto copyRet = cast<func::ReturnOp>(copy.getBody().back().getTerminator());
    auto copyHead = copyRet.getOperand(0).getDefiningOp<LinearOp>();
    mb.setInsertionPoint(copyHead);
    Location hl = copyHead.getLoc();
    Value x = copyHead.getInput();
    auto xType = cast<RankedTensorType>(x.getType());
    Value rows = tensor::DimOp::create(mb, hl, x, 0);
    Value last = arith::SubIOp::create(
        mb, hl, rows, arith::ConstantIndexOp::create(mb, hl, 1));
    Value row = tensor::ExtractSliceOp::create(
        mb, hl, x, ArrayRef<OpFoldResult>{last, mb.getIndexAttr(0)},
        ArrayRef<OpFoldResult>{mb.getIndexAttr(1),
                               tensor::getMixedSize(mb, hl, x, 1)},
        ArrayRef<OpFoldResult>{mb.getIndexAttr(1), mb.getIndexAttr(1)});
    if (row.getType() != xType)
      row = tensor::CastOp::create(mb, hl, xType, row);
    Operation *lastHead = mb.clone(*copyHead);
    lastHead->setOperand(0, row);
    copyRet.setOperand(0, lastHead->getResult(0));
    if (copyHead->use_empty())
      copyHead->erase();
    return copy;
  }

  /// The token sampled from row `row` of `logits` with `counter` (an
  /// index) as the sampler's counter.
  Value sampleRow(Value logits, Value row, Value counter) {
    OpFoldResult vocab = tensor::getMixedSize(b, loc, logits, 1);
    SmallVector<OpFoldResult> offsets{row, b.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes{b.getIndexAttr(1), vocab};
    SmallVector<OpFoldResult> strides(2, b.getIndexAttr(1));
    Value slice =
        tensor::ExtractSliceOp::create(b, loc, logits, offsets, sizes, strides);
    Value counterArg;
    if (!op.getSampler().isGreedy())
      counterArg = arith::IndexCastOp::create(b, loc, b.getI64Type(), counter);
    Value tokens =
        SampleOp::create(b, loc, slice, counterArg, op.getSamplerAttr());
    return tensor::ExtractOp::create(b, loc, tokens, ValueRange{index(0)});
  }

  /// The prompt, its positions' prefill (whole or chunked) and the first
  /// token.
  GeneratePrefill prefill() {
    MLIRContext *ctx = b.getContext();
    Value prompt = op.getPrompt();
    if (prompt.getType() != dynTokens)
      prompt = tensor::CastOp::create(b, loc, dynTokens, prompt);
    Value promptLen = tensor::DimOp::create(b, loc, prompt, 0);
    Value nonEmpty = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt,
                                           promptLen, index(0));
    cf::AssertOp::create(b, loc, nonEmpty, "tok.generate: the prompt is empty");
    // Positions 0 .. P-1 of the prompt.
    Value posInit = tensor::EmptyOp::create(
        b, loc, ArrayRef<OpFoldResult>{promptLen}, b.getI32Type());
    AffineMap id = AffineMap::getMultiDimIdentityMap(1, ctx);
    Value positions =
        linalg::GenericOp::create(
            b, loc, TypeRange{dynTokens}, ValueRange{}, ValueRange{posInit},
            ArrayRef<AffineMap>{id}, {utils::IteratorType::parallel},
            [&](OpBuilder &nb, Location l, ValueRange) {
              Value i = linalg::IndexOp::create(nb, l, 0);
              Value i32 = arith::IndexCastOp::create(nb, l, nb.getI32Type(), i);
              linalg::YieldOp::create(nb, l, i32);
            })
            .getResult(0);

    // Prefill (whole, or in chunks) and the first token.
    Value zero = index(0), one = index(1);
    func::FuncOp lastOnly = lastRowStep();
    GeneratePrefill result;
    result.prompt = prompt;
    result.promptLength = promptLen;
    if (std::optional<uint64_t> chunk = op.getPrefillChunk()) {
      auto logitsType =
          cast<RankedTensorType>(step.getFunctionType().getResult(0));
      auto rowType = RankedTensorType::get({1, logitsType.getDimSize(1)},
                                           logitsType.getElementType());
      Value chunkSize = index(static_cast<int64_t>(*chunk));
      SmallVector<Value> inits{
          tensor::EmptyOp::create(b, loc, rowType, ValueRange{})};
      llvm::append_range(inits, op.getCaches());
      auto chunks = scf::ForOp::create(
          b, loc, zero, promptLen, chunkSize, inits,
          [&](OpBuilder &cb, Location, Value start, ValueRange args) {
            OpBuilder::InsertionGuard guard(b);
            b.setInsertionPointToEnd(cb.getBlock());
            Value len = arith::MinSIOp::create(
                b, loc, chunkSize,
                arith::SubIOp::create(b, loc, promptLen, start));
            auto slice = [&](Value v) -> Value {
              return tensor::ExtractSliceOp::create(
                  b, loc, dynTokens, v, ArrayRef<OpFoldResult>{start},
                  ArrayRef<OpFoldResult>{len},
                  ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
            };
            func::CallOp call = callStep(slice(prompt), slice(positions),
                                         args.drop_front(), lastOnly);
            Value last =
                lastOnly ? zero : arith::SubIOp::create(b, loc, len, one);
            Value row = tensor::ExtractSliceOp::create(
                b, loc, rowType, call.getResult(0),
                ArrayRef<OpFoldResult>{last, b.getIndexAttr(0)},
                ArrayRef<OpFoldResult>{b.getIndexAttr(1),
                                       b.getIndexAttr(rowType.getDimSize(1))},
                ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
            // Into the carried row (destination style: one buffer for the
            // whole loop; a linalg.copy, which canonicalization keeps).
            row = linalg::CopyOp::create(b, loc, row, args[0]).getResult(0);
            SmallVector<Value> yielded{row};
            llvm::append_range(yielded, call.getResults().drop_front());
            scf::YieldOp::create(b, loc, yielded);
          });
      result.first = sampleRow(chunks.getResult(0), zero, zero);
      result.caches.assign(chunks.getResults().begin() + 1,
                           chunks.getResults().end());
    } else {
      func::CallOp prefill =
          callStep(prompt, positions, op.getCaches(), lastOnly);
      Value lastRow =
          lastOnly ? zero : arith::SubIOp::create(b, loc, promptLen, one);
      result.first = sampleRow(prefill.getResult(0), lastRow, zero);
      result.caches.assign(prefill.getResults().begin() + 1,
                           prefill.getResults().end());
    }
    return result;
  }

  Value expand() {
    int64_t maxNew = op.getMaxNewTokens();
    GeneratePrefill pre = prefill();
    Value promptLen = pre.promptLength, first = pre.first;
    SmallVector<Value> filled = pre.caches;
    Value zero = index(0), one = index(1);
    Value out = tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{maxNew},
                                        b.getI32Type());
    SmallVector<Value> inits{zero, first, out};
    llvm::append_range(inits, filled);
    SmallVector<Type> types =
        llvm::map_to_vector(inits, [](Value v) { return v.getType(); });
    SmallVector<Location> locs(inits.size(), loc);

    auto loop = scf::WhileOp::create(b, loc, types, inits);
    {
      // Before: store and report the token; go on unless done.
      Block *before = b.createBlock(&loop.getBefore(), {}, types, locs);
      Value i = before->getArgument(0), t = before->getArgument(1);
      Value stored =
          tensor::InsertOp::create(b, loc, t, before->getArgument(2), i);
      if (FlatSymbolRefAttr onToken = op.getOnTokenAttr()) {
        Value i64 = arith::IndexCastOp::create(b, loc, b.getI64Type(), i);
        func::CallOp::create(b, loc, onToken, TypeRange{}, ValueRange{t, i64});
      }
      Value next = arith::AddIOp::create(b, loc, i, one);
      Value more = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                         next, index(maxNew));
      if (op.getEos()) {
        Value notEos = arith::XOrIOp::create(
            b, loc, emitIsEos(b, loc, op, t),
            arith::ConstantOp::create(b, loc, b.getBoolAttr(true)));
        more = arith::AndIOp::create(b, loc, more, notEos);
      }
      SmallVector<Value> carried{next, t, stored};
      llvm::append_range(carried, before->getArguments().drop_front(3));
      scf::ConditionOp::create(b, loc, more, carried);
    }
    {
      // After: one decode step on the last token.
      Block *after = b.createBlock(&loop.getAfter(), {}, types, locs);
      Value i = after->getArgument(0), t = after->getArgument(1);
      Value pos = arith::SubIOp::create(
          b, loc, arith::AddIOp::create(b, loc, promptLen, i), one);
      func::CallOp decode = callStep(singleton(t), singleton(toI32(pos)),
                                     after->getArguments().drop_front(3));
      Value nextToken = sampleRow(decode.getResult(0), zero, i);
      SmallVector<Value> carried{i, nextToken, after->getArgument(2)};
      llvm::append_range(carried, decode.getResults().drop_front());
      scf::YieldOp::create(b, loc, carried);
    }
    b.setInsertionPointAfter(loop);
    Value count = loop.getResult(0);
    Value tokens = tensor::ExtractSliceOp::create(
        b, loc, dynTokens, loop.getResult(2),
        ArrayRef<OpFoldResult>{b.getIndexAttr(0)},
        ArrayRef<OpFoldResult>{count},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
    if (tokens.getType() != op.getType())
      tokens = tensor::CastOp::create(b, loc, op.getType(), tokens);
    return tokens;
  }
};

} // namespace

GeneratePrefill mlir::tok::emitGeneratePrefill(OpBuilder &b, GenerateOp op,
                                               func::FuncOp step) {
  GenerateExpander expander{
      op, b, op.getLoc(), step,
      RankedTensorType::get({ShapedType::kDynamic}, b.getI32Type())};
  return expander.prefill();
}

Value mlir::tok::emitIsEos(OpBuilder &b, Location loc, GenerateOp op,
                           Value token) {
  Value is;
  for (int64_t id : op.getEos().value_or(ArrayRef<int64_t>())) {
    Value eq = arith::CmpIOp::create(
        b, loc, arith::CmpIPredicate::eq, token,
        arith::ConstantOp::create(
            b, loc, b.getI32IntegerAttr(static_cast<int32_t>(id))));
    is = is ? arith::OrIOp::create(b, loc, is, eq).getResult() : eq;
  }
  return is ? is : arith::ConstantOp::create(b, loc, b.getBoolAttr(false));
}

LogicalResult mlir::tok::expandGenerateOps(Operation *root) {
  SmallVector<GenerateOp> ops;
  root->walk([&](GenerateOp op) { ops.push_back(op); });
  SymbolTableCollection symbols;
  for (GenerateOp op : ops) {
    auto step =
        symbols.lookupNearestSymbolFrom<func::FuncOp>(op, op.getStepAttr());
    if (!step)
      return op.emitOpError("step function ")
             << op.getStepAttr() << " does not name a func.func";
    auto logits = cast<RankedTensorType>(step.getFunctionType().getResult(0));
    if (op.getPrefillChunk() && logits.isDynamicDim(1))
      return op.emitOpError("a chunked prefill needs a static vocabulary in "
                            "the step's logits, got ")
             << logits;
    OpBuilder b(op);
    GenerateExpander expander{
        op, b, op.getLoc(), step,
        RankedTensorType::get({ShapedType::kDynamic}, b.getI32Type())};
    Value tokens = expander.expand();
    op.getResult().replaceAllUsesWith(tokens);
    op.erase();
  }
  return success();
}
