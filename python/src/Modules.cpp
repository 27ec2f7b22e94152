//===- Modules.cpp - tok.compile and tok.Module ---------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// IR crosses as text: compile() is tok-opt as a function (parse, run a pass
// pipeline, print), and a LoadedModule is tok-run as an object (parse,
// lower, JIT-compile, then call its functions on NumPy arrays). Arguments
// are passed in place when they are C-contiguous arrays of the right
// element type (a view, no copy); results that the compiled code allocated
// with the identity layout become NumPy arrays that own those buffers (no
// copy); anything else is copied. Calls run under the driver's guard
// (runGuarded), so a failed run-time check raises tok.RuntimeCheckError.
//
//===----------------------------------------------------------------------===//

#include "Modules.h"

#include "Common.h"

#include "tok/Driver/Jit.h"
#include "tok/Execution/JitCall.h"
#include "tok/Execution/NpyFile.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <nanobind/ndarray.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstdlib>
#include <cstring>

namespace nb = nanobind;
using namespace mlir;
using namespace tokpy;

namespace {

/// The diagnostics of one parse or pass run, printed as tok-opt prints
/// them (with the source line), and where the first error is.
class Diagnostics {
public:
  Diagnostics(MLIRContext &context, llvm::SourceMgr &sourceMgr)
      : os(text), printer(sourceMgr, &context, os),
        first(&context, [this](Diagnostic &diag) {
          if (diag.getSeverity() == DiagnosticSeverity::Error &&
              location.empty())
            if (auto loc = dyn_cast<FileLineColLoc>(diag.getLocation()))
              location = (loc.getFilename().str() + ":" +
                          std::to_string(loc.getLine()) + ":" +
                          std::to_string(loc.getColumn()));
          return failure(); // on to the printer
        }) {}

  [[noreturn]] void fail(ErrorKind kind, const std::string &what) {
    std::string message = what;
    if (!text.empty())
      message += ":\n" + llvm::StringRef(text).rtrim().str();
    throw TokException(kind, message, location);
  }

private:
  std::string text, location;
  llvm::raw_string_ostream os;
  SourceMgrDiagnosticHandler printer;
  ScopedDiagnosticHandler first;
};

/// Adds `pipeline` (tok-opt's syntax, with or without the builtin.module
/// anchor) to `pm`; the error says why not.
void addPipeline(PassManager &pm, const std::string &pipeline) {
  std::string error;
  llvm::raw_string_ostream os(error);
  llvm::StringRef text(pipeline);
  text = text.trim();
  if (text.empty())
    return;
  // The anchor is the pass manager's own.
  if (text.starts_with("builtin.module(") && text.ends_with(")"))
    text = text.drop_front(strlen("builtin.module(")).drop_back().trim();
  if (text.empty() || succeeded(parsePassPipeline(text, pm, os)))
    return;
  fail(ErrorKind::Compile, "cannot parse the pipeline '" + pipeline +
                               "': " + llvm::StringRef(error).trim().str());
}

OwningOpRef<ModuleOp> parseModule(MLIRContext &context,
                                  llvm::SourceMgr &sourceMgr,
                                  Diagnostics &diagnostics) {
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    diagnostics.fail(ErrorKind::Compile, "the module does not parse");
  return module;
}

std::string compileText(const std::string &text, const std::string &pipeline,
                        const std::string &name) {
  std::unique_ptr<MLIRContext> context = makeContext();
  PassManager pm(context.get());
  addPipeline(pm, pipeline);
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(llvm::MemoryBuffer::getMemBufferCopy(text, name),
                               llvm::SMLoc());
  Diagnostics diagnostics(*context, sourceMgr);
  OwningOpRef<ModuleOp> module = parseModule(*context, sourceMgr, diagnostics);
  if (failed(pm.run(*module)))
    diagnostics.fail(ErrorKind::Compile,
                     "the pipeline '" + pipeline + "' failed");
  std::string out;
  llvm::raw_string_ostream os(out);
  module->print(os);
  return out;
}

std::string typeString(Type type) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << type;
  return s;
}

/// The .npy element type of a NumPy array's dtype.
std::optional<tok::NpyDType> npyType(nb::dlpack::dtype dtype) {
  using Code = nb::dlpack::dtype_code;
  auto code = static_cast<Code>(dtype.code);
  if (dtype.lanes != 1)
    return std::nullopt;
  if (code == Code::Float && dtype.bits == 16)
    return tok::NpyDType::F16;
  if (code == Code::Float && dtype.bits == 32)
    return tok::NpyDType::F32;
  if (code == Code::Float && dtype.bits == 64)
    return tok::NpyDType::F64;
  if (code == Code::Int && dtype.bits == 32)
    return tok::NpyDType::I32;
  if (code == Code::Int && dtype.bits == 64)
    return tok::NpyDType::I64;
  if (code == Code::UInt && dtype.bits == 8)
    return tok::NpyDType::U8;
  if (code == Code::UInt && dtype.bits == 16)
    return tok::NpyDType::U16;
  return std::nullopt;
}

nb::dlpack::dtype dlpackType(tok::NpyDType type) {
  switch (type) {
  case tok::NpyDType::F16:
    return nb::dlpack::dtype{
        static_cast<uint8_t>(nb::dlpack::dtype_code::Float), 16, 1};
  case tok::NpyDType::F32:
    return nb::dtype<float>();
  case tok::NpyDType::F64:
    return nb::dtype<double>();
  case tok::NpyDType::I32:
    return nb::dtype<int32_t>();
  case tok::NpyDType::I64:
    return nb::dtype<int64_t>();
  case tok::NpyDType::U8:
    return nb::dtype<uint8_t>();
  case tok::NpyDType::U16:
    return nb::dtype<uint16_t>();
  }
  return nb::dtype<float>();
}

/// A module lowered, JIT-compiled and loaded, with its callable functions.
class LoadedModule {
public:
  static std::shared_ptr<LoadedModule> load(const std::string &text,
                                            const std::string &pipeline,
                                            unsigned optLevel,
                                            const std::string &name) {
    auto loaded = std::make_shared<LoadedModule>();
    loaded->context = makeContext();
    MLIRContext &context = *loaded->context;
    llvm::StringRef lowering = llvm::StringRef(pipeline).trim();
    if (lowering.starts_with("builtin.module("))
      fail(ErrorKind::Compile, "give the pipeline without the "
                               "builtin.module(...) anchor; it runs on the "
                               "module");
    if (lowering.empty())
      lowering = "tok-to-llvm";
    if (lowering != "none") {
      PassManager check(&context);
      addPipeline(check, lowering.str());
    }
    llvm::SourceMgr sourceMgr;
    sourceMgr.AddNewSourceBuffer(
        llvm::MemoryBuffer::getMemBufferCopy(text, name), llvm::SMLoc());
    Diagnostics diagnostics(context, sourceMgr);
    OwningOpRef<ModuleOp> module = parseModule(context, sourceMgr, diagnostics);
    for (auto fn : module->getOps<func::FuncOp>()) {
      if (fn.isExternal() || fn.isPrivate())
        continue;
      Function f;
      f.name = fn.getName().str();
      f.type = tok::getCallableType(fn.getFunctionType());
      f.signature = typeString(fn.getFunctionType());
      if (llvm::Error err = tok::verifyCallableSignature(f.type))
        f.problem = llvm::toString(std::move(err));
      else
        fn->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                    UnitAttr::get(&context));
      loaded->functions.push_back(std::move(f));
    }
    tok::JitOptions options;
    options.lowering = lowering.str();
    options.optLevel = optLevel;
    auto jit = tok::Jit::create(*module, options);
    if (!jit)
      diagnostics.fail(ErrorKind::Compile, "cannot compile the module: " +
                                               llvm::toString(jit.takeError()));
    loaded->jit = std::move(*jit);
    for (Function &f : loaded->functions) {
      if (!f.problem.empty())
        continue;
      f.entry = take(ErrorKind::Compile,
                     loaded->jit->lookupPacked("_mlir_ciface_" + f.name));
    }
    return loaded;
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const Function &f : functions)
      out.push_back(f.name);
    return out;
  }

  std::string signature(const std::string &name) const {
    return find(name).signature;
  }

  nb::object call(const std::string &name, nb::list args) {
    const Function &f = find(name);
    if (!f.entry)
      fail(ErrorKind::Argument, "@" + name + " cannot be called: " + f.problem);
    unsigned n = f.type.getNumInputs();
    if (args.size() != n)
      fail(ErrorKind::Argument, "@" + name + " takes " + std::to_string(n) +
                                    " argument(s), got " +
                                    std::to_string(args.size()));
    llvm::SmallVector<tok::NpyArray> arrays;
    llvm::SmallPtrSet<const void *, 8> argumentBuffers;
    for (unsigned i = 0; i < n; ++i) {
      Type type = f.type.getInput(i);
      std::string which = "@" + name + ": argument #" + std::to_string(i);
      if (isa<RankedTensorType>(type)) {
        nb::ndarray<nb::ro> array;
        if (!nb::try_cast(args[i], array, /*convert=*/false))
          fail(ErrorKind::Argument,
               which + " has type " + typeString(type) +
                   "; it takes an array (buffer protocol or DLPack), not " +
                   nb::type_name(args[i].type()).c_str());
        if (array.device_type() != nb::device::cpu::value)
          fail(ErrorKind::Argument, which + ": the array is not in host "
                                            "memory");
        std::optional<tok::NpyDType> dtype = npyType(array.dtype());
        if (!dtype)
          fail(ErrorKind::Argument,
               which + " has type " + typeString(type) +
                   "; arrays of float16, float32, float64, int32, int64, "
                   "uint8 and uint16 (bf16 bits) are accepted");
        llvm::SmallVector<int64_t> shape;
        int64_t expected = 1;
        bool contiguous = true;
        for (int64_t d = array.ndim() - 1; d >= 0; --d) {
          if (array.shape(d) != 1 && array.stride(d) != expected)
            contiguous = false;
          expected *= array.shape(d);
        }
        for (size_t d = 0; d < array.ndim(); ++d)
          shape.push_back(array.shape(d));
        if (!contiguous)
          fail(ErrorKind::Argument,
               which + ": the array is not C-contiguous "
                       "(numpy.ascontiguousarray makes it so)");
        tok::NpyArray view = tok::NpyArray::view(*dtype, shape, array.data());
        if (llvm::Error err = tok::checkArgument(view, type, i))
          fail(ErrorKind::Argument,
               "@" + name + ": " + llvm::toString(std::move(err)));
        argumentBuffers.insert(array.data());
        arrays.push_back(std::move(view));
        continue;
      }
      arrays.push_back(scalar(args[i], type, which));
    }

    // The call, without the GIL.
    tok::GuardedRun run;
    struct Result {
      tok::NpyDType type;
      void *allocated, *data;
      llvm::SmallVector<int64_t> shape, strides;
    };
    std::vector<Result> results;
    {
      nb::gil_scoped_release release;
      tok::JitCall call(f.type, arrays);
      void **packed = call.getPackedArguments().data();
      void (*entry)(void **) = f.entry;
      run = tok::runGuarded([&] { entry(packed); });
      if (run.outcome == tok::GuardedRun::Completed) {
        const int64_t *desc = call.getResultDescriptors();
        for (Type t : f.type.getResults()) {
          auto tensor = cast<RankedTensorType>(t);
          int64_t rank = tensor.getRank();
          Result r;
          r.type = *tok::getNpyDType(tensor.getElementType());
          r.allocated = reinterpret_cast<void *>(desc[0]);
          r.data = reinterpret_cast<char *>(desc[1]) +
                   desc[2] * tok::getNpyElementSize(r.type);
          for (int64_t d = 0; d < rank; ++d) {
            r.shape.push_back(desc[3 + d]);
            r.strides.push_back(desc[3 + rank + d]);
          }
          results.push_back(std::move(r));
          desc += 3 + 2 * rank;
        }
      }
    }
    if (run.outcome != tok::GuardedRun::Completed)
      fail(ErrorKind::RuntimeCheck,
           "@" + name + ": run-time check failed: " + run.message);

    // Arrays: the callee's buffers taken over where the layout allows.
    llvm::SmallPtrSet<void *, 4> taken, toFree;
    nb::list out;
    for (Result &r : results) {
      bool calleeOwned =
          r.allocated &&
          reinterpret_cast<intptr_t>(r.allocated) != 0xdeadbeef &&
          !argumentBuffers.contains(r.allocated) &&
          !argumentBuffers.contains(r.data);
      int64_t expected = 1;
      bool contiguous = true;
      for (int64_t d = static_cast<int64_t>(r.shape.size()) - 1; d >= 0; --d) {
        if (r.shape[d] != 1 && r.strides[d] != expected)
          contiguous = false;
        expected *= r.shape[d];
      }
      std::vector<size_t> shape(r.shape.begin(), r.shape.end());
      int64_t elem = tok::getNpyElementSize(r.type);
      if (calleeOwned && contiguous && !taken.contains(r.allocated)) {
        taken.insert(r.allocated);
        nb::capsule owner(r.allocated, [](void *p) noexcept { std::free(p); });
        out.append(nb::ndarray<nb::numpy>(r.data, shape.size(), shape.data(),
                                          owner, nullptr, dlpackType(r.type))
                       .cast());
        continue;
      }
      // A copy, element by element through the strides.
      int64_t count = expected;
      void *copy = std::malloc(std::max<int64_t>(count * elem, 1));
      llvm::SmallVector<int64_t> index(r.shape.size(), 0);
      for (int64_t e = 0; e < count; ++e) {
        int64_t offset = 0;
        for (size_t d = 0; d < r.shape.size(); ++d)
          offset += index[d] * r.strides[d];
        std::memcpy(static_cast<char *>(copy) + e * elem,
                    static_cast<char *>(r.data) + offset * elem, elem);
        for (int64_t d = static_cast<int64_t>(r.shape.size()) - 1; d >= 0;
             --d) {
          if (++index[d] < r.shape[d])
            break;
          index[d] = 0;
        }
      }
      if (calleeOwned)
        toFree.insert(r.allocated);
      nb::capsule owner(copy, [](void *p) noexcept { std::free(p); });
      out.append(nb::ndarray<nb::numpy>(copy, shape.size(), shape.data(), owner,
                                        nullptr, dlpackType(r.type))
                     .cast());
    }
    for (void *p : toFree)
      if (!taken.contains(p))
        std::free(p);
    if (out.size() == 0)
      return nb::none();
    if (out.size() == 1)
      return out[0];
    return nb::tuple(out);
  }

private:
  struct Function {
    std::string name;
    FunctionType type;
    std::string signature;
    /// Why it cannot be called, if it cannot.
    std::string problem;
    void (*entry)(void **) = nullptr;
  };

  const Function &find(const std::string &name) const {
    for (const Function &f : functions)
      if (f.name == name)
        return f;
    std::string known;
    for (const Function &f : functions)
      known += (known.empty() ? "" : ", ") + ("@" + f.name);
    fail(ErrorKind::Argument, "the module has no public function @" + name +
                                  " (it has " +
                                  (known.empty() ? "none" : known) + ")");
  }

  /// A scalar argument: a Python number or a NumPy scalar.
  static tok::NpyArray scalar(nb::handle value, Type type,
                              const std::string &which) {
    tok::NpyArray array;
    array.type = *tok::getNpyDType(type);
    array.allocate();
    bool isFloat = isa<FloatType>(type);
    if (array.type == tok::NpyDType::F16 || array.type == tok::NpyDType::U16)
      fail(ErrorKind::Argument, which + " is a " + typeString(type) +
                                    " scalar, which cannot be passed");
    if (nb::isinstance<nb::bool_>(value) ||
        (!nb::isinstance<nb::int_>(value) &&
         !nb::isinstance<nb::float_>(value) && !nb::hasattr(value, "item")))
      fail(ErrorKind::Argument, which + " is a " + typeString(type) +
                                    " scalar; it takes a number, not " +
                                    nb::type_name(value.type()).c_str());
    nb::object item =
        nb::hasattr(value, "item") ? value.attr("item")() : nb::borrow(value);
    if (!isFloat && !nb::isinstance<nb::int_>(item))
      fail(ErrorKind::Argument,
           which + " is a " + typeString(type) + " scalar; it takes an int");
    switch (array.type) {
    case tok::NpyDType::F32:
      *static_cast<float *>(array.data()) = nb::cast<float>(item);
      break;
    case tok::NpyDType::F64:
      *static_cast<double *>(array.data()) = nb::cast<double>(item);
      break;
    case tok::NpyDType::I32:
      *static_cast<int32_t *>(array.data()) = nb::cast<int32_t>(item);
      break;
    case tok::NpyDType::I64:
      *static_cast<int64_t *>(array.data()) = nb::cast<int64_t>(item);
      break;
    default:
      break;
    }
    return array;
  }

  std::unique_ptr<MLIRContext> context;
  std::unique_ptr<tok::Jit> jit;
  std::vector<Function> functions;
};

} // namespace

void tokpy::bindModules(nb::module_ &m) {
  m.def(
      "compile",
      [](const std::string &text, const std::string &pipeline,
         const std::string &name) {
        nb::gil_scoped_release release;
        return compileText(text, pipeline, name);
      },
      nb::arg("module_text"), nb::arg("pipeline"), nb::arg("name") = "<module>",
      "Parses a module, runs a pass pipeline on it (tok-opt's syntax, with "
      "or without the builtin.module(...) anchor) and returns the result as "
      "text.");

  nb::class_<LoadedModule>(m, "LoadedModule")
      .def_static(
          "load",
          [](const std::string &text, const std::string &pipeline,
             unsigned optLevel, const std::string &name) {
            if (optLevel > 3)
              fail(ErrorKind::Argument,
                   "opt_level must be 0 to 3, got " + std::to_string(optLevel));
            nb::gil_scoped_release release;
            return LoadedModule::load(text, pipeline, optLevel, name);
          },
          nb::arg("module_text"), nb::arg("pipeline") = "tok-to-llvm",
          nb::arg("opt_level") = 3, nb::arg("name") = "<module>")
      .def("names", &LoadedModule::names)
      .def("signature", &LoadedModule::signature, nb::arg("name"))
      .def("call", &LoadedModule::call, nb::arg("name"), nb::arg("args"));
}
