//===- tok-compile.cpp - model -> shared library + C header ---------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Compiles a model's @generate ahead of time. In the output directory:
//
//   <name>.h          the C API: load, generate, free, last error
//   lib<name>.so      the compiled model and its C glue (needs only libc,
//                     libm and tok's parallel runtime, found by rpath in
//                     the lib/ beside tok-compile's bin/: no MLIR)
//   <name>.weights    the weights as float32, 64-byte aligned, in argument
//                     order, mapped (not copied) by <name>_load
//
// The glue is generated C: it checks its inputs (prompt length against the
// cache, token ids against the vocabulary) and returns an error instead of
// reaching the compiled code's run-time checks, builds the memref
// descriptors of the prompt and of every weight, and forwards each token
// to the caller's callback.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/LlamaModel.h"
#include "tok/Frontend/LlamaModule.h"
#include "tok/InitAllTok.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory category("tok-compile options");
static cl::opt<std::string>
    modelPath("model",
              cl::desc("'builtin', a llama2.c .bin, or a Hugging Face "
                       "directory"),
              cl::value_desc("path|builtin"), cl::init("builtin"),
              cl::cat(category));
static cl::opt<std::string> outDir("o", cl::desc("Output directory"),
                                   cl::value_desc("dir"), cl::Required,
                                   cl::cat(category));
static cl::opt<std::string>
    libName("name",
            cl::desc("Name of the library, header and C symbols (a C "
                     "identifier)"),
            cl::value_desc("name"), cl::init("tok_model"), cl::cat(category));
static cl::opt<int64_t> maxNewTokens("max-new-tokens",
                                     cl::desc("Tokens each generate call "
                                              "produces (fewer at eos)"),
                                     cl::init(64), cl::cat(category));
static cl::opt<int64_t>
    cacheCapacity("cache-capacity",
                  cl::desc("KV-cache slots per layer: prompt + new tokens "
                           "must fit (default: the model's positions, at "
                           "most 4096)"),
                  cl::init(0), cl::cat(category));
static cl::opt<double> temperature("temperature",
                                   cl::desc("Sampling temperature (0: "
                                            "greedy)"),
                                   cl::init(0.0), cl::cat(category));
static cl::opt<int64_t> topK("top-k", cl::desc("Top-k cut (0: none)"),
                             cl::init(0), cl::cat(category));
static cl::opt<double> topP("top-p", cl::desc("Top-p cut (1: none)"),
                            cl::init(1.0), cl::cat(category));
static cl::opt<int64_t> seed("seed", cl::desc("Sampling seed"), cl::init(0),
                             cl::cat(category));
static cl::opt<int64_t> eosToken("eos",
                                 cl::desc("End-of-sequence token (default: "
                                          "the model's; -1: none)"),
                                 cl::init(-2), cl::cat(category));
static cl::opt<std::string>
    passPipeline("pipeline",
                 cl::desc("tok passes applied before lowering (as in "
                          "tok-run generate)"),
                 cl::init(""), cl::cat(category));
static cl::opt<std::string>
    cCompiler("cc", cl::desc("C compiler that builds and links the glue"),
              cl::init(TOK_C_COMPILER), cl::cat(category));

static int fail(const llvm::Twine &message) {
  llvm::errs() << "tok-compile: " << message << "\n";
  return 1;
}

/// The generated C header.
static std::string emitHeader(StringRef name, const tok::LlamaConfig &c,
                              int64_t capacity, int64_t maxNew) {
  std::string upper = StringRef(name).upper();
  return llvm::formatv(
             R"c(/* {0}.h: generated by tok-compile from a {1} model ({2} layers, dim {3},
 * vocabulary {4}). Link with lib{0}.so; no MLIR is needed at run time. */
#ifndef {5}_H
#define {5}_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

#define {5}_VOCAB_SIZE {4}
#define {5}_CACHE_CAPACITY {6}
#define {5}_MAX_NEW_TOKENS {7}

typedef struct {0} {0};

/* Called with each generated token as soon as it is chosen (index 0 first). */
typedef void (*{0}_token_fn)(int32_t token, int64_t index, void *user);

/* Maps the weights file written by tok-compile ({0}.weights). Returns NULL
 * on failure; {0}_last_error() says why. */
{0} *{0}_load(const char *weights_path);

/* Generates up to {5}_MAX_NEW_TOKENS tokens after `prompt` (n_prompt ids,
 * n_prompt + {5}_MAX_NEW_TOKENS <= {5}_CACHE_CAPACITY), writes them to
 * `out` (room for {5}_MAX_NEW_TOKENS) and calls `on_token` (may be NULL)
 * with each. Returns the number generated, or -1 on bad input. Not
 * reentrant: one call at a time per process. */
int64_t {0}_generate({0} *model, const int32_t *prompt, int64_t n_prompt,
                     int32_t *out, {0}_token_fn on_token, void *user);

/* Unmaps the weights and frees the model. */
void {0}_free({0} *model);

/* The message of the last failure of this thread ("" if none). */
const char *{0}_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* {5}_H */
)c",
             name, c.modelType, c.layers, c.dim, c.vocab, upper, capacity,
             maxNew)
      .str();
}

/// The generated C glue.
static std::string emitGlue(StringRef name, ArrayRef<tok::LlamaWeight> weights,
                            const tok::LlamaConfig &c, int64_t capacity,
                            int64_t maxNew) {
  std::string out;
  llvm::raw_string_ostream os(out);
  os << "/* Generated by tok-compile: the C glue of " << name << ". */\n";
  os << "#include \"" << name << ".h\"\n";
  os << R"c(#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define RANKED(n) struct { void *allocated, *aligned; int64_t offset, sizes[n], strides[n]; }
typedef RANKED(1) memref1;
typedef RANKED(2) memref2;
typedef struct { int64_t rank; void *descriptor; } unranked;

static _Thread_local char last_error[256];
static void set_error(const char *message) {
  snprintf(last_error, sizeof last_error, "%s", message);
}

/* memref.copy of layouts the compiled code cannot copy itself: an
 * element-wise strided copy of `src` into `dst` (same sizes). */
__attribute__((visibility("hidden"))) void memrefCopy(int64_t elem,
                                                     unranked *src,
                                                     unranked *dst) {
  int64_t rank = src->rank;
  int64_t *s = (int64_t *)src->descriptor, *d = (int64_t *)dst->descriptor;
  char *sp = (char *)((void **)s)[1], *dp = (char *)((void **)d)[1];
  int64_t *sizes = s + 3, *sstr = s + 3 + rank, *dstr = d + 3 + rank;
  int64_t soff = s[2], doff = d[2], idx[16] = {0}, total = 1;
  for (int64_t k = 0; k < rank; ++k)
    total *= sizes[k];
  for (int64_t e = 0; e < total; ++e) {
    int64_t so = soff, dof = doff;
    for (int64_t k = 0; k < rank; ++k)
      so += idx[k] * sstr[k], dof += idx[k] * dstr[k];
    memcpy(dp + dof * elem, sp + so * elem, (size_t)elem);
    for (int64_t k = rank - 1; k >= 0; --k) {
      if (++idx[k] < sizes[k])
        break;
      idx[k] = 0;
    }
  }
}

static )c"
     << name << R"c(_token_fn active_fn;
static void *active_user;
__attribute__((visibility("hidden"))) void tok_on_token(int32_t token,
                                                       int64_t index) {
  if (active_fn)
    active_fn(token, index, active_user);
}
/* Speculative rounds (--pipeline tok-speculative-decoding) report their
   drafted / accepted counts here; the C API does not expose them. */
__attribute__((visibility("hidden"))) void tok_on_round(int64_t drafted,
                                                       int64_t accepted) {
  (void)drafted;
  (void)accepted;
}

)c";
  // The compiled entry.
  os << "void _mlir_ciface_generate(memref1 *result, memref1 *prompt";
  for (auto [i, w] : llvm::enumerate(weights))
    os << ", memref" << w.shape.size() << " *w" << i;
  os << ");\n\n";
  os << "#define NUM_WEIGHTS " << weights.size() << "\n";
  os << "static const int64_t weight_elements[NUM_WEIGHTS] = {";
  for (auto [i, w] : llvm::enumerate(weights)) {
    int64_t n = 1;
    for (int64_t d : w.shape)
      n *= d;
    os << (i ? ", " : "") << n;
  }
  os << "};\n\n";
  os << "struct " << name
     << " { void *map; size_t size; float *w[NUM_WEIGHTS]; };\n\n";
  os << llvm::formatv(
      R"c(const char *{0}_last_error(void) {{ return last_error; }

{0} *{0}_load(const char *path) {{
  int fd = open(path, O_RDONLY);
  if (fd < 0) {{
    snprintf(last_error, sizeof last_error, "%s: cannot open", path);
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < 64) {{
    close(fd);
    snprintf(last_error, sizeof last_error, "%s: too short for a weights file", path);
    return NULL;
  }
  void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) {{
    snprintf(last_error, sizeof last_error, "%s: cannot map", path);
    return NULL;
  }
  /* Header: "TOKW", version 1, count, then count (offset, elements) pairs. */
  const int64_t *h = (const int64_t *)map;
  size_t header = (size_t)(3 + 2 * NUM_WEIGHTS) * 8;
  if (memcmp(map, "TOKW", 4) != 0 || h[1] != 1 || h[2] != NUM_WEIGHTS ||
      (size_t)st.st_size < header) {{
    munmap(map, (size_t)st.st_size);
    snprintf(last_error, sizeof last_error,
             "%s: not a weights file of this model (%d weights)", path, NUM_WEIGHTS);
    return NULL;
  }
  {0} *m = calloc(1, sizeof *m);
  if (!m) {{
    munmap(map, (size_t)st.st_size);
    set_error("out of memory");
    return NULL;
  }
  m->map = map;
  m->size = (size_t)st.st_size;
  for (int i = 0; i < NUM_WEIGHTS; ++i) {{
    int64_t off = h[3 + 2 * i], n = h[4 + 2 * i];
    if (n != weight_elements[i] || off < 0 || off % 64 != 0 ||
        (uint64_t)off > m->size || (uint64_t)n * 4 > m->size - (uint64_t)off) {{
      snprintf(last_error, sizeof last_error,
               "%s: weight #%d has the wrong size or lies outside the file", path, i);
      {0}_free(m);
      return NULL;
    }
    m->w[i] = (float *)((char *)map + off);
  }
  return m;
}

void {0}_free({0} *m) {{
  if (!m)
    return;
  munmap(m->map, m->size);
  free(m);
}

)c",
      name);
  os << "int64_t " << name << "_generate(" << name
     << " *m, const int32_t *prompt, int64_t n, int32_t *out, " << name
     << "_token_fn fn, void *user) {\n";
  os << llvm::formatv(R"c(  if (!m || !prompt || !out) {{
    set_error("null model, prompt or output");
    return -1;
  }
  if (n < 1 || n > {1} - {0}) {{
    snprintf(last_error, sizeof last_error,
             "the prompt has %lld tokens; 1 to %d fit with {0} new tokens in the cache of {1}",
             (long long)n, {1} - {0});
    return -1;
  }
  for (int64_t i = 0; i < n; ++i)
    if (prompt[i] < 0 || prompt[i] >= {2}) {{
      snprintf(last_error, sizeof last_error,
               "token id %d (prompt[%lld]) is outside the vocabulary of {2}",
               prompt[i], (long long)i);
      return -1;
    }
  memref1 p = {{(void *)prompt, (void *)prompt, 0, {{n}, {{1}};
)c",
                      maxNew, capacity, c.vocab);
  for (auto [i, w] : llvm::enumerate(weights)) {
    if (w.shape.size() == 1)
      os << llvm::formatv("  memref1 d{0} = {{m->w[{0}], m->w[{0}], 0, "
                          "{{{1}}, {{1}};\n",
                          i, w.shape[0]);
    else
      os << llvm::formatv("  memref2 d{0} = {{m->w[{0}], m->w[{0}], 0, "
                          "{{{1}, {2}}, {{{2}, 1}};\n",
                          i, w.shape[0], w.shape[1]);
  }
  os << "  memref1 r;\n  active_fn = fn;\n  active_user = user;\n";
  os << "  _mlir_ciface_generate(&r, &p";
  for (size_t i = 0; i < weights.size(); ++i)
    os << ", &d" << i;
  os << ");\n";
  os << R"c(  active_fn = NULL;
  int64_t count = r.sizes[0];
  for (int64_t i = 0; i < count; ++i)
    out[i] = ((int32_t *)r.aligned)[r.offset + i * r.strides[0]];
  free(r.allocated);
  last_error[0] = 0;
  return count;
}
)c";
  return out;
}

/// Writes the weights file: "TOKW", version 1, count, (offset, elements)
/// per weight, then the float32 data, each weight 64-byte aligned.
static llvm::Error writeWeights(StringRef path, const tok::LlamaModel &model,
                                ArrayRef<tok::LlamaWeight> weights) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return llvm::createStringError(path + ": cannot write: " + ec.message());
  auto align = [](uint64_t x) { return (x + 63) / 64 * 64; };
  std::vector<int64_t> header{0, 1, static_cast<int64_t>(weights.size())};
  std::memcpy(header.data(), "TOKW\0\0\0\0", 8);
  uint64_t offset = align((3 + 2 * weights.size()) * 8);
  std::vector<uint64_t> offsets;
  for (const tok::LlamaWeight &w : weights) {
    int64_t n = 1;
    for (int64_t d : w.shape)
      n *= d;
    offsets.push_back(offset);
    header.push_back(static_cast<int64_t>(offset));
    header.push_back(n);
    offset = align(offset + 4 * n);
  }
  os.write(reinterpret_cast<const char *>(header.data()), header.size() * 8);
  uint64_t at = header.size() * 8;
  for (auto [i, w] : llvm::enumerate(weights)) {
    int64_t n = 1;
    for (int64_t d : w.shape)
      n *= d;
    for (; at < offsets[i]; ++at)
      os << '\0';
    // The library's weights are float32, whatever the checkpoint stores.
    std::vector<float> data = model.readWeightAsF32(i);
    os.write(reinterpret_cast<const char *>(data.data()), 4 * n);
    at += 4 * n;
  }
  os.close();
  if (os.has_error())
    return llvm::createStringError(path +
                                   ": cannot write: " + os.error().message());
  return llvm::Error::success();
}

int main(int argc, char **argv) {
  llvm::InitLLVM y(argc, argv);
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerOpenMPDialectTranslation(registry);
  tok::registerAllTokDialects(registry);
  registerAllPasses();
  tok::registerAllTokPasses();
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "tok-compile: compile a model's generation loop ahead of time into a "
      "shared library, a C header and a weights file\n\n"
      "  tok-compile --model builtin -o out/ --name tiny\n"
      "  cc app.c -Iout -Lout -ltiny -Wl,-rpath,out\n");

  StringRef name = libName;
  if (name.empty() || !(llvm::isAlpha(name[0]) || name[0] == '_') ||
      !llvm::all_of(name,
                    [](char ch) { return llvm::isAlnum(ch) || ch == '_'; }))
    return fail("--name '" + name + "' is not a C identifier");
  if (maxNewTokens <= 0)
    return fail("--max-new-tokens must be positive");
  if (cacheCapacity < 0)
    return fail("--cache-capacity must be positive");
  if (!(temperature >= 0.0) || topK < 0 || !(topP > 0.0 && topP <= 1.0))
    return fail("sampling options out of range (temperature >= 0, top-k >= "
                "0, 0 < top-p <= 1)");

  auto opened = tok::LlamaModel::open(modelPath, "",
                                      tok::LlamaModel::TokenizerPolicy::Skip);
  if (!opened)
    return fail(llvm::toString(opened.takeError()));
  tok::LlamaModel &model = **opened;
  const tok::LlamaConfig &config = model.getConfig();
  // Prompt + new tokens never exceed the model's positions; by default the
  // cache holds all of them, up to 4096 slots (a long-context model would
  // otherwise allocate its whole context per call).
  if (cacheCapacity > config.maxPositions)
    return fail("--cache-capacity " + llvm::Twine(cacheCapacity) +
                " exceeds the model's " + llvm::Twine(config.maxPositions) +
                " positions");
  int64_t capacity = cacheCapacity
                         ? static_cast<int64_t>(cacheCapacity)
                         : std::min<int64_t>(config.maxPositions, 4096);
  if (maxNewTokens >= capacity)
    return fail("--max-new-tokens " + llvm::Twine(maxNewTokens) +
                " leaves no room for a prompt in the cache of " +
                llvm::Twine(capacity) + " slots");

  // Outputs: refuse to overwrite anything.
  llvm::SmallString<256> header(outDir), lib(outDir), weightsPath(outDir),
      glue(outDir), object(outDir);
  llvm::sys::path::append(header, name + ".h");
  llvm::sys::path::append(lib, "lib" + name + ".so");
  llvm::sys::path::append(weightsPath, name + ".weights");
  for (StringRef p :
       {StringRef(header), StringRef(lib), StringRef(weightsPath)})
    if (llvm::sys::fs::exists(p))
      return fail(p + " exists; remove it or choose another -o / --name");
  if (std::error_code ec = llvm::sys::fs::create_directories(outDir))
    return fail(outDir + ": cannot create: " + ec.message());

  tok::LlamaModuleOptions options;
  options.interleavedRope = model.hasInterleavedRope();
  options.cacheCapacity = capacity;
  tok::LlamaGenerateOptions gen;
  gen.maxNewTokens = maxNewTokens;
  gen.stream = true;
  gen.sampler = {temperature, topK, topP, seed};
  gen.eos = tok::chooseEos(eosToken, config);
  if (gen.eos && *gen.eos >= config.vocab)
    return fail("--eos is outside the vocabulary");
  options.generate = gen;

  MLIRContext context(registry);
  OwningOpRef<ModuleOp> module =
      tok::buildLlamaModule(&context, config, options);
  module->lookupSymbol<func::FuncOp>("generate")
      ->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                UnitAttr::get(&context));
  PassManager pm(&context);
  if (!passPipeline.empty() &&
      failed(parsePassPipeline(passPipeline, pm, llvm::errs())))
    return 1;
  if (failed(parsePassPipeline("tok-to-llvm", pm, llvm::errs())) ||
      failed(pm.run(*module)))
    return fail("lowering the model failed");

  // LLVM IR for the host, optimized, to an object file.
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(*module, llvmContext, name);
  if (!llvmModule)
    return fail("translation to LLVM IR failed");
  std::string triple = llvm::sys::getProcessTriple(), error;
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(llvm::Triple(triple), error);
  if (!target)
    return fail("no target for " + triple + ": " + error);
  llvm::StringMap<bool> hostFeatures = llvm::sys::getHostCPUFeatures();
  std::string features;
  for (auto &f : hostFeatures)
    features += (f.second ? "+" : "-") + f.first().str() + ",";
  llvm::TargetOptions targetOptions;
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
      llvm::Triple(triple), llvm::sys::getHostCPUName(), features,
      targetOptions, llvm::Reloc::PIC_, std::nullopt,
      llvm::CodeGenOptLevel::Aggressive));
  // Only the C entry leaves the object, and only for the glue: the rest
  // (@step, @forward, ...) is internal, so unused functions disappear.
  for (llvm::Function &f : *llvmModule) {
    if (f.isDeclaration())
      continue;
    if (f.getName() == "_mlir_ciface_generate")
      f.setVisibility(llvm::GlobalValue::HiddenVisibility);
    else
      f.setLinkage(llvm::GlobalValue::InternalLinkage);
  }
  llvmModule->setTargetTriple(llvm::Triple(triple));
  llvmModule->setDataLayout(machine->createDataLayout());
  if (llvm::Error err =
          makeOptimizingTransformer(3, 0, machine.get())(llvmModule.get()))
    return fail("LLVM optimization failed: " + llvm::toString(std::move(err)));
  // From here on, every file written is removed again if a later step
  // fails, so that a failed run leaves nothing that blocks the next one.
  std::vector<std::string> written;
  auto failClean = [&](const llvm::Twine &message) {
    for (const std::string &path : written)
      llvm::sys::fs::remove(path);
    return fail(message);
  };
  int fd;
  if (std::error_code ec =
          llvm::sys::fs::createTemporaryFile("tok-model", "o", fd, object))
    return failClean("cannot create a temporary object file: " + ec.message());
  written.push_back(object.str().str());
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    llvm::legacy::PassManager codegen;
    if (machine->addPassesToEmitFile(codegen, os, nullptr,
                                     llvm::CodeGenFileType::ObjectFile))
      return failClean("the target cannot emit object files");
    codegen.run(*llvmModule);
    os.close();
    if (os.has_error()) {
      std::string message = os.error().message();
      os.clear_error();
      return failClean(object + ": cannot write: " + message);
    }
  }

  // The header, the glue, the library, the weights.
  std::vector<tok::LlamaWeight> weights = tok::getLlamaWeights(config);
  auto writeText = [&](int fd, StringRef text) -> bool {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << text;
    os.close();
    bool ok = !os.has_error();
    os.clear_error();
    return ok;
  };
  if (std::error_code ec = llvm::sys::fs::openFileForWrite(header, fd))
    return failClean(header + ": cannot write: " + ec.message());
  written.push_back(header.str().str());
  if (!writeText(fd, emitHeader(name, config, capacity, maxNewTokens)))
    return failClean(header + ": cannot write");
  if (std::error_code ec =
          llvm::sys::fs::createTemporaryFile("tok-glue", "c", fd, glue))
    return failClean("cannot create a temporary C file: " + ec.message());
  written.push_back(glue.str().str());
  if (!writeText(fd, emitGlue(name, weights, config, capacity, maxNewTokens)))
    return failClean(glue + ": cannot write");
  auto cc = llvm::sys::findProgramByName(cCompiler);
  if (!cc)
    return failClean("C compiler '" + cCompiler +
                     "' not found (give one with --cc)");
  std::string include = "-I" + std::string(outDir);
  // tok's parallel runtime (the __kmpc_* calls of the parallel loops), in
  // the lib/ beside this executable's bin/ (build tree or installed prefix).
  std::string exe = llvm::sys::fs::getMainExecutable(
      nullptr, reinterpret_cast<void *>(&fail));
  SmallString<256> runtimeDir(
      llvm::sys::path::parent_path(llvm::sys::path::parent_path(exe)));
  llvm::sys::path::append(runtimeDir, "lib");
  std::string runtimeLib = std::string(runtimeDir);
  std::vector<std::string> ccArgs{*cc,
                                  "-O2",
                                  "-shared",
                                  "-fPIC",
                                  include,
                                  glue.str().str(),
                                  object.str().str(),
                                  "-o",
                                  lib.str().str(),
                                  "-L" + runtimeLib,
                                  "-Wl,-rpath," + runtimeLib,
                                  "-ltok_parallel_runtime",
                                  "-lm"};
  SmallVector<StringRef> argRefs(ccArgs.begin(), ccArgs.end());
  std::string ccError;
  written.push_back(lib.str().str());
  int rc =
      llvm::sys::ExecuteAndWait(*cc, argRefs, std::nullopt, {}, 0, 0, &ccError);
  if (rc != 0)
    return failClean("building lib" + name + ".so with " + *cc + " failed" +
                     (ccError.empty() ? "" : ": " + ccError));
  written.push_back(weightsPath.str().str());
  if (llvm::Error err = writeWeights(weightsPath, model, weights))
    return failClean(llvm::toString(std::move(err)));
  llvm::sys::fs::remove(glue);
  llvm::sys::fs::remove(object);
  llvm::errs() << "tok-compile: wrote " << header << ", " << lib << " and "
               << weightsPath << "\n";
  return 0;
}
