//===- JitCall.h - call a JIT-compiled function on arrays -------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Marshals arrays into the C interface (`llvm.emit_c_interface`) of a
// function lowered by tok-to-llvm and back: every ranked tensor argument is
// passed as a pointer to a memref descriptor, scalars (i32, i64, index, f32)
// by pointer, and the tensor results come back through a pointer to a
// struct of descriptors, whose buffers the caller frees.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_EXECUTION_JITCALL_H
#define TOK_EXECUTION_JITCALL_H

#include "mlir/IR/BuiltinTypes.h"
#include "tok/Execution/NpyFile.h"

#include <memory>

namespace mlir {
namespace tok {

/// The .npy element type that carries values of `type`, if any.
std::optional<NpyDType> getNpyDType(Type type);

/// `fnType` with every memref argument or result of the identity layout
/// as the tensor of its shape: both pass as one memref descriptor, and a
/// memref argument (a buffer the callee updates in place, like a batch
/// step's KV pools) is then marshalled like a tensor.
FunctionType getCallableType(FunctionType fnType);

/// Checks that `fnType` has arguments and results tok-run can marshal;
/// the error names the offending argument or result.
llvm::Error verifyCallableSignature(FunctionType fnType);

/// Checks that `array` can be passed as argument `index` of type `type`:
/// element type, rank and every static dimension.
llvm::Error checkArgument(const NpyArray &array, Type type, unsigned index);

/// Arguments and result slots of one call, laid out for
/// ExecutionEngine::invokePacked.
class JitCall {
public:
  /// `arguments` must satisfy checkArgument for `fnType`; they are passed
  /// by reference (the callee may write into them).
  JitCall(FunctionType fnType, SmallVectorImpl<NpyArray> &arguments);
  ~JitCall();

  /// The packed argument array (pointers to each ABI argument).
  MutableArrayRef<void *> getPackedArguments() { return packed; }

  /// Copies the results out of the callee's buffers and frees those the
  /// callee allocated (not argument buffers or constants it returned, and
  /// each buffer once). Call once after each invocation.
  SmallVector<NpyArray> takeResults();

  /// The result descriptors as the callee wrote them (per result:
  /// allocated and aligned pointers, offset, sizes, strides), for a caller
  /// that takes the buffers over itself instead of takeResults; null
  /// without results.
  const int64_t *getResultDescriptors() const { return resultStruct; }

private:
  FunctionType fnType;
  /// Descriptor words of every tensor argument, then the result struct.
  std::vector<std::unique_ptr<int64_t[]>> descriptors;
  SmallVector<void *> descriptorPointers;
  SmallVector<void *> packed;
  /// The arguments' buffers: a result that aliases one is not freed.
  SmallVector<void *> argumentBuffers;
  int64_t *resultStruct = nullptr;
};

} // namespace tok
} // namespace mlir

#endif // TOK_EXECUTION_JITCALL_H
