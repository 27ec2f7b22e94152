//===- CudaRuntime.cpp - the mgpu* runtime ABI over the CUDA driver -------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// What code lowered by `tok-to-nvvm` calls on the host: the mgpu* functions
// that upstream's gpu-to-llvm emits (signatures: docs/algorithms.md, "Host
// runtime ABI"), implemented over the CUDA driver API. libcuda.so.1 is
// opened with dlopen on first use, so this library builds, links and loads
// on machines without CUDA; there every call fails softly.
//
// Errors are sticky: the first failing driver call records a message
// ("<call>: <CUDA error name>: <description>"), prints it once to stderr,
// and every later mgpu* call does nothing (allocations return null). A
// caller checks tokCudaLastError() after running compiled code; tok-run
// does, and exits with status 1. This replaces the upstream runtime's
// print-and-continue, which turns a failed launch into silently wrong
// output.
//
// The library links only libc and libdl: it is what a GPU machine without
// MLIR needs to run compiled code.
//
//===----------------------------------------------------------------------===//

#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#define TOK_CUDA_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

// The driver API types this file needs, by their ABI (cuda.h is not
// required to build).
using CUresult = int;
using CUdevice = int;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUevent = struct CUevent_st *;
using CUdeviceptr = uint64_t;
using CUjit_option = int;

constexpr CUresult kSuccess = 0;
// The driver is being torn down: module unloads and frees that static
// destructors run at process exit meet this; there is nothing left to free.
constexpr CUresult kDeinitialized = 4;
constexpr unsigned kStreamNonBlocking = 1;
constexpr CUjit_option kJitErrorLogBuffer = 5;
constexpr CUjit_option kJitErrorLogBufferSize = 6;
constexpr CUjit_option kJitOptimizationLevel = 7;
constexpr int kFuncMaxDynamicSharedSize = 8;
constexpr int kAttrComputeCapabilityMajor = 75;
constexpr int kAttrComputeCapabilityMinor = 76;

/// The driver entry points, resolved once.
struct Driver {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDeviceGetCount)(int *);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuCtxPushCurrent)(CUcontext);
  CUresult (*cuCtxPopCurrent)(CUcontext *);
  CUresult (*cuModuleLoadData)(CUmodule *, const void *);
  CUresult (*cuModuleLoadDataEx)(CUmodule *, const void *, unsigned,
                                 CUjit_option *, void **);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuFuncSetAttribute)(CUfunction, int, int);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, unsigned, CUstream, void **,
                             void **);
  CUresult (*cuStreamCreate)(CUstream *, unsigned);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuStreamDestroy)(CUstream);
  CUresult (*cuStreamWaitEvent)(CUstream, CUevent, unsigned);
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemcpyAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
  CUresult (*cuMemsetD32Async)(CUdeviceptr, unsigned, size_t, CUstream);
  CUresult (*cuMemsetD16Async)(CUdeviceptr, unsigned short, size_t, CUstream);
  CUresult (*cuEventCreate)(CUevent *, unsigned);
  CUresult (*cuEventDestroy)(CUevent);
  CUresult (*cuEventRecord)(CUevent, CUstream);
  CUresult (*cuEventSynchronize)(CUevent);
  CUresult (*cuGetErrorName)(CUresult, const char **);
  CUresult (*cuGetErrorString)(CUresult, const char **);
};

struct State {
  std::mutex mutex;
  /// Guards `error` (mgpu* calls may come from several host threads).
  std::mutex errorMutex;
  bool initialized = false;
  bool report = true;
  Driver driver{};
  CUcontext context = nullptr;
  int device = 0;
  std::string error;
};

State &state() {
  static State s;
  return s;
}

void setError(const std::string &message) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.errorMutex);
  if (!s.error.empty())
    return;
  s.error = message;
  if (s.report)
    std::fprintf(stderr, "tok cuda runtime: %s\n", message.c_str());
}

bool failed() {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.errorMutex);
  return !s.error.empty();
}

/// Records a failed driver call; true if `result` is an error.
bool check(CUresult result, const char *what) {
  if (result == kSuccess)
    return false;
  const Driver &d = state().driver;
  const char *name = "unknown error", *text = "";
  if (d.cuGetErrorName)
    d.cuGetErrorName(result, &name);
  if (d.cuGetErrorString)
    d.cuGetErrorString(result, &text);
  setError(std::string(what) + ": " + name + " (" + std::to_string(result) +
           "): " + text);
  return true;
}

template <typename F>
bool resolve(void *lib, F &fn, const char *name, const char *fallback) {
  void *sym = dlsym(lib, name);
  if (!sym && fallback)
    sym = dlsym(lib, fallback);
  fn = reinterpret_cast<F>(sym);
  if (!sym)
    setError(std::string("libcuda.so.1 has no ") + name);
  return sym != nullptr;
}

/// Opens the driver and retains the primary context of device 0 (or
/// TOK_CUDA_DEVICE) once; false (with the error recorded) if impossible.
bool initialize() {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.initialized)
    return !failed();
  s.initialized = true;
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    setError(std::string("no CUDA driver: ") + dlerror());
    return false;
  }
  Driver &d = s.driver;
  bool ok =
      resolve(lib, d.cuGetErrorName, "cuGetErrorName", nullptr) &&
      resolve(lib, d.cuGetErrorString, "cuGetErrorString", nullptr) &&
      resolve(lib, d.cuInit, "cuInit", nullptr) &&
      resolve(lib, d.cuDeviceGet, "cuDeviceGet", nullptr) &&
      resolve(lib, d.cuDeviceGetCount, "cuDeviceGetCount", nullptr) &&
      resolve(lib, d.cuDeviceGetAttribute, "cuDeviceGetAttribute", nullptr) &&
      resolve(lib, d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain",
              nullptr) &&
      resolve(lib, d.cuCtxPushCurrent, "cuCtxPushCurrent_v2",
              "cuCtxPushCurrent") &&
      resolve(lib, d.cuCtxPopCurrent, "cuCtxPopCurrent_v2",
              "cuCtxPopCurrent") &&
      resolve(lib, d.cuModuleLoadData, "cuModuleLoadData", nullptr) &&
      resolve(lib, d.cuModuleLoadDataEx, "cuModuleLoadDataEx", nullptr) &&
      resolve(lib, d.cuModuleUnload, "cuModuleUnload", nullptr) &&
      resolve(lib, d.cuModuleGetFunction, "cuModuleGetFunction", nullptr) &&
      resolve(lib, d.cuFuncSetAttribute, "cuFuncSetAttribute", nullptr) &&
      resolve(lib, d.cuLaunchKernel, "cuLaunchKernel", nullptr) &&
      resolve(lib, d.cuStreamCreate, "cuStreamCreate", nullptr) &&
      resolve(lib, d.cuStreamSynchronize, "cuStreamSynchronize", nullptr) &&
      resolve(lib, d.cuStreamDestroy, "cuStreamDestroy_v2",
              "cuStreamDestroy") &&
      resolve(lib, d.cuStreamWaitEvent, "cuStreamWaitEvent", nullptr) &&
      resolve(lib, d.cuMemAlloc, "cuMemAlloc_v2", nullptr) &&
      resolve(lib, d.cuMemFree, "cuMemFree_v2", nullptr) &&
      resolve(lib, d.cuMemcpyAsync, "cuMemcpyAsync", nullptr) &&
      resolve(lib, d.cuMemsetD32Async, "cuMemsetD32Async", nullptr) &&
      resolve(lib, d.cuMemsetD16Async, "cuMemsetD16Async", nullptr) &&
      resolve(lib, d.cuEventCreate, "cuEventCreate", nullptr) &&
      resolve(lib, d.cuEventDestroy, "cuEventDestroy_v2", "cuEventDestroy") &&
      resolve(lib, d.cuEventRecord, "cuEventRecord", nullptr) &&
      resolve(lib, d.cuEventSynchronize, "cuEventSynchronize", nullptr);
  if (!ok)
    return false;
  if (check(d.cuInit(0), "cuInit"))
    return false;
  int count = 0;
  if (check(d.cuDeviceGetCount(&count), "cuDeviceGetCount"))
    return false;
  int ordinal = 0;
  if (const char *env = std::getenv("TOK_CUDA_DEVICE"))
    ordinal = std::atoi(env);
  if (count <= ordinal) {
    setError("no CUDA device " + std::to_string(ordinal) + " (" +
             std::to_string(count) + " found)");
    return false;
  }
  CUdevice device;
  if (check(d.cuDeviceGet(&device, ordinal), "cuDeviceGet") ||
      check(d.cuDevicePrimaryCtxRetain(&s.context, device),
            "cuDevicePrimaryCtxRetain"))
    return false;
  s.device = device;
  return true;
}

/// Makes the primary context current for one mgpu* call.
class ScopedContext {
public:
  ScopedContext() : ok(initialize()) {
    if (!ok)
      return;
    CUresult result = state().driver.cuCtxPushCurrent(state().context);
    ok = result == kSuccess;
    if (result != kDeinitialized)
      check(result, "cuCtxPushCurrent");
  }
  ~ScopedContext() {
    if (ok) {
      CUcontext popped;
      state().driver.cuCtxPopCurrent(&popped);
    }
  }
  explicit operator bool() const { return ok; }

private:
  bool ok;
};

const Driver &cu() { return state().driver; }

} // namespace

//===----------------------------------------------------------------------===//
// tok's own entry points
//===----------------------------------------------------------------------===//

/// Opens the driver and the device; 0 on success. The message is then in
/// tokCudaLastError().
TOK_CUDA_EXPORT int tokCudaInit() { return initialize() ? 0 : 1; }

/// Whether the first error is printed to stderr (the default; a caller that
/// reports tokCudaLastError() itself turns it off).
TOK_CUDA_EXPORT void tokCudaSetReporting(int report) {
  state().report = report != 0;
}

/// The first error any call met, or null.
TOK_CUDA_EXPORT const char *tokCudaLastError() {
  // The message never changes once set, so the pointer stays valid.
  return failed() ? state().error.c_str() : nullptr;
}

/// The device's compute capability as 10 * major + minor (90 for an H100),
/// or 0 if there is no device.
TOK_CUDA_EXPORT int tokCudaComputeCapability() {
  if (!initialize())
    return 0;
  int major = 0, minor = 0;
  if (check(cu().cuDeviceGetAttribute(&major, kAttrComputeCapabilityMajor,
                                      state().device),
            "cuDeviceGetAttribute") ||
      check(cu().cuDeviceGetAttribute(&minor, kAttrComputeCapabilityMinor,
                                      state().device),
            "cuDeviceGetAttribute"))
    return 0;
  return 10 * major + minor;
}

//===----------------------------------------------------------------------===//
// The mgpu* ABI of gpu-to-llvm
//===----------------------------------------------------------------------===//

TOK_CUDA_EXPORT void *mgpuModuleLoad(void *data, size_t /*size*/) {
  ScopedContext scope;
  CUmodule module = nullptr;
  if (!scope || failed() ||
      check(cu().cuModuleLoadData(&module, data), "cuModuleLoadData"))
    return nullptr;
  return module;
}

TOK_CUDA_EXPORT void *mgpuModuleLoadJIT(void *ptx, int optLevel) {
  ScopedContext scope;
  if (!scope || failed())
    return nullptr;
  char log[8192] = {0};
  CUjit_option options[] = {kJitErrorLogBuffer, kJitErrorLogBufferSize,
                            kJitOptimizationLevel};
  void *values[] = {log, reinterpret_cast<void *>(sizeof(log)),
                    reinterpret_cast<void *>(static_cast<intptr_t>(optLevel))};
  CUmodule module = nullptr;
  CUresult result = cu().cuModuleLoadDataEx(&module, ptx, 3, options, values);
  if (result != kSuccess) {
    check(result, (std::string("JIT-compiling the PTX: ") + log).c_str());
    return nullptr;
  }
  return module;
}

TOK_CUDA_EXPORT void mgpuModuleUnload(void *module) {
  ScopedContext scope;
  if (scope && module)
    check(cu().cuModuleUnload(static_cast<CUmodule>(module)), "cuModuleUnload");
}

TOK_CUDA_EXPORT void *mgpuModuleGetFunction(void *module, const char *name) {
  ScopedContext scope;
  CUfunction function = nullptr;
  if (!scope || failed() || !module)
    return nullptr;
  if (check(cu().cuModuleGetFunction(&function, static_cast<CUmodule>(module),
                                     name),
            (std::string("cuModuleGetFunction(") + name + ")").c_str()))
    return nullptr;
  return function;
}

TOK_CUDA_EXPORT void mgpuLaunchKernel(void *function, intptr_t gridX,
                                      intptr_t gridY, intptr_t gridZ,
                                      intptr_t blockX, intptr_t blockY,
                                      intptr_t blockZ, int32_t smem,
                                      void *stream, void **params, void **extra,
                                      size_t /*paramsCount*/) {
  ScopedContext scope;
  if (!scope || failed() || !function)
    return;
  auto f = static_cast<CUfunction>(function);
  if (smem > 48 * 1024 &&
      check(cu().cuFuncSetAttribute(f, kFuncMaxDynamicSharedSize, smem),
            "cuFuncSetAttribute(max dynamic shared memory)"))
    return;
  check(cu().cuLaunchKernel(f, gridX, gridY, gridZ, blockX, blockY, blockZ,
                            smem, static_cast<CUstream>(stream), params, extra),
        "cuLaunchKernel");
}

TOK_CUDA_EXPORT void *mgpuStreamCreate() {
  ScopedContext scope;
  CUstream stream = nullptr;
  if (!scope || failed() ||
      check(cu().cuStreamCreate(&stream, kStreamNonBlocking), "cuStreamCreate"))
    return nullptr;
  return stream;
}

TOK_CUDA_EXPORT void mgpuStreamDestroy(void *stream) {
  ScopedContext scope;
  if (scope && stream)
    check(cu().cuStreamDestroy(static_cast<CUstream>(stream)),
          "cuStreamDestroy");
}

TOK_CUDA_EXPORT void mgpuStreamSynchronize(void *stream) {
  ScopedContext scope;
  // Synchronizing reports errors of earlier asynchronous work (a kernel
  // that faulted), so it runs even when the stream is null.
  if (scope && !failed())
    check(cu().cuStreamSynchronize(static_cast<CUstream>(stream)),
          "cuStreamSynchronize (an earlier launch or copy failed)");
}

TOK_CUDA_EXPORT void mgpuStreamWaitEvent(void *stream, void *event) {
  ScopedContext scope;
  if (scope && !failed())
    check(cu().cuStreamWaitEvent(static_cast<CUstream>(stream),
                                 static_cast<CUevent>(event), 0),
          "cuStreamWaitEvent");
}

TOK_CUDA_EXPORT void *mgpuEventCreate() {
  ScopedContext scope;
  CUevent event = nullptr;
  // Timing stays enabled (upstream disables it), so that benchmarks can use
  // the same events.
  if (!scope || failed() ||
      check(cu().cuEventCreate(&event, 0), "cuEventCreate"))
    return nullptr;
  return event;
}

TOK_CUDA_EXPORT void mgpuEventDestroy(void *event) {
  ScopedContext scope;
  if (scope && event)
    check(cu().cuEventDestroy(static_cast<CUevent>(event)), "cuEventDestroy");
}

TOK_CUDA_EXPORT void mgpuEventSynchronize(void *event) {
  ScopedContext scope;
  if (scope && !failed())
    check(cu().cuEventSynchronize(static_cast<CUevent>(event)),
          "cuEventSynchronize");
}

TOK_CUDA_EXPORT void mgpuEventRecord(void *event, void *stream) {
  ScopedContext scope;
  if (scope && !failed())
    check(cu().cuEventRecord(static_cast<CUevent>(event),
                             static_cast<CUstream>(stream)),
          "cuEventRecord");
}

TOK_CUDA_EXPORT void *mgpuMemAlloc(uint64_t bytes, void * /*stream*/,
                                   bool /*isHostShared*/) {
  ScopedContext scope;
  CUdeviceptr ptr = 0;
  // cuMemAlloc rejects 0 bytes; an empty buffer is never dereferenced.
  if (!scope || failed() || bytes == 0)
    return nullptr;
  if (check(cu().cuMemAlloc(&ptr, bytes),
            ("cuMemAlloc(" + std::to_string(bytes) + " bytes)").c_str()))
    return nullptr;
  return reinterpret_cast<void *>(ptr);
}

TOK_CUDA_EXPORT void mgpuMemFree(void *ptr, void * /*stream*/) {
  ScopedContext scope;
  if (scope && ptr)
    check(cu().cuMemFree(reinterpret_cast<CUdeviceptr>(ptr)), "cuMemFree");
}

TOK_CUDA_EXPORT void mgpuMemcpy(void *dst, void *src, size_t bytes,
                                void *stream) {
  ScopedContext scope;
  if (!scope || failed() || bytes == 0)
    return;
  check(cu().cuMemcpyAsync(reinterpret_cast<CUdeviceptr>(dst),
                           reinterpret_cast<CUdeviceptr>(src), bytes,
                           static_cast<CUstream>(stream)),
        "cuMemcpyAsync");
}

TOK_CUDA_EXPORT void mgpuMemset32(void *dst, unsigned value, size_t count,
                                  void *stream) {
  ScopedContext scope;
  if (!scope || failed() || count == 0)
    return;
  check(cu().cuMemsetD32Async(reinterpret_cast<CUdeviceptr>(dst), value, count,
                              static_cast<CUstream>(stream)),
        "cuMemsetD32Async");
}

TOK_CUDA_EXPORT void mgpuMemset16(void *dst, unsigned short value, size_t count,
                                  void *stream) {
  ScopedContext scope;
  if (!scope || failed() || count == 0)
    return;
  check(cu().cuMemsetD16Async(reinterpret_cast<CUdeviceptr>(dst), value, count,
                              static_cast<CUstream>(stream)),
        "cuMemsetD16Async");
}

TOK_CUDA_EXPORT void mgpuSetDefaultDevice(int32_t device) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.initialized) {
    if (device != s.device)
      setError("mgpuSetDefaultDevice after the first CUDA call");
    return;
  }
  setenv("TOK_CUDA_DEVICE", std::to_string(device).c_str(), 1);
}
