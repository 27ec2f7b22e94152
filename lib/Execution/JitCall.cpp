//===- JitCall.cpp - call a JIT-compiled function on arrays ---------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Execution/JitCall.h"

#include "tok/Dialect/Tok/IR/TokAttrs.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

using namespace mlir;
using namespace mlir::tok;

std::optional<NpyDType> mlir::tok::getNpyDType(Type type) {
  if (type.isF16())
    return NpyDType::F16;
  if (type.isBF16())
    return NpyDType::U16;
  if (type.isF32())
    return NpyDType::F32;
  if (type.isF64())
    return NpyDType::F64;
  if (type.isInteger(32))
    return NpyDType::I32;
  if (type.isInteger(64) || type.isIndex())
    return NpyDType::I64;
  return std::nullopt;
}

static std::string typeString(Type type) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << type;
  return s;
}

static llvm::Error callError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

llvm::Error mlir::tok::verifyCallableSignature(FunctionType fnType) {
  for (auto [i, type] : llvm::enumerate(fnType.getInputs())) {
    Type elem = type;
    if (getWeightQuant(type))
      continue;
    if (auto tensor = dyn_cast<RankedTensorType>(type))
      elem = tensor.getElementType();
    else if (isa<ShapedType>(type))
      return callError("argument #" + llvm::Twine(i) + " has type " +
                       typeString(type) +
                       "; only ranked tensors and scalars can be passed");
    if (!getNpyDType(elem))
      return callError(
          "argument #" + llvm::Twine(i) + " has element type " +
          typeString(elem) +
          "; supported are f16, bf16 (as uint16 bits), f32, f64, i32, "
          "i64 and index");
  }
  for (auto [i, type] : llvm::enumerate(fnType.getResults())) {
    auto tensor = dyn_cast<RankedTensorType>(type);
    if (!tensor || !getNpyDType(tensor.getElementType()))
      return callError("result #" + llvm::Twine(i) + " has type " +
                       typeString(type) +
                       "; results must be ranked tensors of f16, bf16, f32, "
                       "f64, i32, i64 or index");
  }
  return llvm::Error::success();
}

llvm::Error mlir::tok::checkArgument(const NpyArray &array, Type type,
                                     unsigned index) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (WeightQuantAttr quant = getWeightQuant(type)) {
    // Its bytes: N rows of K / block blocks.
    int64_t rows = tensor.getDimSize(0),
            rowBytes = quant.getRowBytes(tensor.getDimSize(1));
    if (array.type != NpyDType::U8 || array.shape.size() != 2 ||
        array.shape[0] != rows || array.shape[1] != rowBytes)
      return callError("argument #" + llvm::Twine(index) + " has type " +
                       typeString(type) + ", stored as " + llvm::Twine(rows) +
                       " x " + llvm::Twine(rowBytes) +
                       " bytes; the input must be a uint8 array of that "
                       "shape");
    return llvm::Error::success();
  }
  Type elem = tensor ? tensor.getElementType() : type;
  std::optional<NpyDType> want = getNpyDType(elem);
  if (!want || *want != array.type)
    return callError("argument #" + llvm::Twine(index) + " expects element " +
                     "type " + typeString(elem) + ", but the input holds '" +
                     getNpyDescriptor(array.type) + "' values");
  ArrayRef<int64_t> shape = tensor ? tensor.getShape() : ArrayRef<int64_t>();
  if (array.shape.size() != shape.size())
    return callError("argument #" + llvm::Twine(index) + " has type " +
                     typeString(type) + " (rank " + llvm::Twine(shape.size()) +
                     "), but the input has rank " +
                     llvm::Twine(array.shape.size()));
  for (auto [d, size] : llvm::enumerate(shape))
    if (!ShapedType::isDynamic(size) && size != array.shape[d])
      return callError("argument #" + llvm::Twine(index) + " has type " +
                       typeString(type) + ", but dimension " + llvm::Twine(d) +
                       " of the input is " + llvm::Twine(array.shape[d]));
  return llvm::Error::success();
}

/// Words of a memref descriptor of rank `rank`: allocated and aligned
/// pointers, offset, sizes, strides.
static int64_t descriptorWords(int64_t rank) { return 3 + 2 * rank; }

JitCall::JitCall(FunctionType fnType, SmallVectorImpl<NpyArray> &arguments)
    : fnType(fnType) {
  // Results come first, through a pointer to a struct of descriptors.
  int64_t resultWords = 0;
  for (Type type : fnType.getResults())
    resultWords += descriptorWords(cast<RankedTensorType>(type).getRank());
  if (resultWords) {
    descriptors.push_back(std::make_unique<int64_t[]>(resultWords));
    resultStruct = descriptors.back().get();
    descriptorPointers.push_back(resultStruct);
  }
  for (auto [i, type] : llvm::enumerate(fnType.getInputs())) {
    NpyArray &array = arguments[i];
    argumentBuffers.push_back(array.data());
    if (!isa<RankedTensorType>(type)) {
      // Scalars are passed by pointer to their value.
      descriptorPointers.push_back(array.data());
      continue;
    }
    int64_t rank = array.shape.size();
    descriptors.push_back(std::make_unique<int64_t[]>(descriptorWords(rank)));
    int64_t *desc = descriptors.back().get();
    desc[0] = reinterpret_cast<int64_t>(array.data());
    desc[1] = reinterpret_cast<int64_t>(array.data());
    desc[2] = 0;
    int64_t stride = 1;
    for (int64_t d = rank - 1; d >= 0; --d) {
      desc[3 + d] = array.shape[d];
      desc[3 + rank + d] = stride;
      stride *= array.shape[d];
    }
    descriptorPointers.push_back(desc);
  }
  // invokePacked wants, for each ABI argument, a pointer to where it lives.
  // A scalar's ABI argument is its value, which lives in the array; a
  // memref's is the descriptor pointer, which lives in descriptorPointers.
  unsigned next = 0;
  if (resultStruct)
    packed.push_back(&descriptorPointers[next++]);
  for (Type type : fnType.getInputs()) {
    if (isa<RankedTensorType>(type))
      packed.push_back(&descriptorPointers[next]);
    else
      packed.push_back(descriptorPointers[next]);
    ++next;
  }
}

JitCall::~JitCall() = default;

SmallVector<NpyArray> JitCall::takeResults() {
  llvm::SmallPtrSet<void *, 4> toFree;
  SmallVector<NpyArray> results;
  int64_t *desc = resultStruct;
  for (Type type : fnType.getResults()) {
    auto tensor = cast<RankedTensorType>(type);
    int64_t rank = tensor.getRank();
    NpyArray out;
    out.type = *getNpyDType(tensor.getElementType());
    for (int64_t d = 0; d < rank; ++d)
      out.shape.push_back(desc[3 + d]);
    out.allocate();
    int64_t elemSize = getNpyElementSize(out.type);
    auto *base = reinterpret_cast<char *>(desc[1]) + desc[2] * elemSize;
    // Copy element by element through the strides (identity layouts make
    // this a plain copy, but nothing here relies on it).
    int64_t count = out.getNumElements();
    SmallVector<int64_t> index(rank, 0);
    char *dst = static_cast<char *>(out.data());
    for (int64_t e = 0; e < count; ++e) {
      int64_t offset = 0;
      for (int64_t d = 0; d < rank; ++d)
        offset += index[d] * desc[3 + rank + d];
      std::memcpy(dst + e * elemSize, base + offset * elemSize, elemSize);
      for (int64_t d = rank - 1; d >= 0; --d) {
        if (++index[d] < out.shape[d])
          break;
        index[d] = 0;
      }
    }
    // The results the callee allocated are ours to free, once each. A
    // result may also alias an argument (returned unchanged), a global
    // constant (MLIR marks those with the allocated pointer 0xdeadbeef) or
    // another result: none of those is freed here.
    // Freed only after every result is copied: two results may share it.
    void *allocated = reinterpret_cast<void *>(desc[0]);
    if (allocated && reinterpret_cast<intptr_t>(allocated) != 0xdeadbeef &&
        !llvm::is_contained(argumentBuffers, allocated))
      toFree.insert(allocated);
    results.push_back(std::move(out));
    desc += descriptorWords(rank);
  }
  for (void *allocated : toFree)
    std::free(allocated);
  return results;
}

FunctionType mlir::tok::getCallableType(FunctionType fnType) {
  auto convert = [](TypeRange types) {
    SmallVector<Type> out;
    for (Type t : types) {
      auto memref = dyn_cast<MemRefType>(t);
      if (memref && memref.getLayout().isIdentity() && !memref.getMemorySpace())
        t = RankedTensorType::get(memref.getShape(), memref.getElementType());
      out.push_back(t);
    }
    return out;
  };
  return FunctionType::get(fnType.getContext(), convert(fnType.getInputs()),
                           convert(fnType.getResults()));
}
