//===- BatchExecutor.h - one compiled batch step and its pools --*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Private to lib/Driver: what BatchGenerator and ServingEngine share. A
// model compiled once into @batch_step (buildLlamaModule with
// LlamaModuleOptions::batch) with its weights bound and its KV pools
// (this object's buffers, updated in place); run() executes one scheduler
// plan (page copies first, then the packed rows) and returns the logits
// rows of the sequences the plan samples from, in plan order. One caller
// at a time.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_LIB_DRIVER_BATCHEXECUTOR_H
#define TOK_LIB_DRIVER_BATCHEXECUTOR_H

#include "tok/Driver/BatchGenerator.h"
#include "tok/Execution/NpyFile.h"
#include "tok/Serve/Scheduler.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <vector>

namespace mlir {
namespace tok {

class BatchExecutor {
public:
  /// Checks `settings` (the sampling fields aside), sizes the pools (pages
  /// 0: maxSequences contexts) and compiles the step.
  static llvm::Expected<std::unique_ptr<BatchExecutor>>
  create(MLIRContext &context, const LlamaModel &model,
         const BatchSettings &settings);
  ~BatchExecutor();

  /// The scheduler configuration matching the pools.
  serve::SchedulerConfig getSchedulerConfig() const;

  /// Runs `plan`; the logits of its sampled sequences, vocab floats each,
  /// in plan order, valid until the next run().
  llvm::Expected<llvm::ArrayRef<float>> run(const serve::StepPlan &plan);

  int64_t getPages() const { return pages; }
  /// The KV pools' bytes (every layer's keys and values).
  uint64_t getPoolBytes() const { return poolBytes; }
  /// The window eviction the pipeline gave the step (0 0: none).
  int64_t getWindow() const { return window; }
  int64_t getSinks() const { return sinks; }
  int64_t getPageCopies() const { return pageCopies; }
  double getCompileSeconds() const { return compileSeconds; }
  const LlamaModel &getModel() const { return *model; }
  const BatchSettings &getSettings() const { return settings; }

private:
  BatchExecutor() = default;

  const LlamaModel *model = nullptr;
  BatchSettings settings;
  int64_t pages = 0;
  uint64_t poolBytes = 0;
  int64_t window = 0, sinks = 0;
  std::unique_ptr<Jit> jit;
  void (*entry)(void **) = nullptr;
  FunctionType entryType;
  llvm::SmallVector<NpyArray> weights;
  /// Keys and values of every layer: [Hk, pages * pageSize, D] f32 each.
  std::vector<std::vector<float>> pools;
  /// The last step's results (its logits).
  llvm::SmallVector<NpyArray> results;
  int64_t pageCopies = 0;
  double compileSeconds = 0;
};

} // namespace tok
} // namespace mlir

#endif // TOK_LIB_DRIVER_BATCHEXECUTOR_H
