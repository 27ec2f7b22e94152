//===- BufferCache.cpp - the heap buffers of generated code ---------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// tok-to-llvm lowers memref.alloc / memref.dealloc to calls of MLIR's
// generic allocation functions (finalize-memref-to-llvm with
// use-generic-functions), which this file implements:
//
//   _mlir_memref_to_llvm_alloc(size)                 malloc-compatible
//   _mlir_memref_to_llvm_aligned_alloc(align, size)  aligned_alloc-compatible
//   _mlir_memref_to_llvm_free(ptr)                   keeps or frees the block
//
// Why: an encoder forward at 512 tokens allocates and frees tens of
// megabytes of activations per block. With plain malloc, glibc serves
// blocks of 128 KiB and more with mmap (or trims the heap top on free), so
// every forward faults the same pages in again, and the kernel's page
// faults, zeroing and cgroup charging took about a fifth of the forward
// (docs/performance.md, "Buffer cache"). Freed blocks of at least
// kMinCachedBytes are kept here in size classes (eight per power of two,
// so a block serves requests up to 12.5 percent smaller than its class)
// and handed out again; smaller ones go straight to malloc / free, whose
// bins already recycle them.
//
// Every block comes from malloc (or aligned_alloc), so a buffer that
// generated code returns can still be released with free() by the host
// (JitCall, tok-compile's glue). The cache holds at most
// TOK_BUFFER_CACHE_MB megabytes (default 1024; 0 turns it off, every call
// then goes to malloc / free); a block freed while the cache is full is
// freed. tok_buffer_cache_trim() releases every cached block. An
// allocation that fails ends the process with a message naming its size
// (generated code would write through the null pointer).
//
//===----------------------------------------------------------------------===//

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#define TOK_HAVE_USABLE_SIZE 1
#else
#define TOK_HAVE_USABLE_SIZE 0
#endif

#define TOK_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

constexpr size_t kMinCachedBytes = size_t(1) << 16;
/// Larger requests bypass the cache (and its class arithmetic).
constexpr size_t kMaxCachedBytes = size_t(1) << 40;
constexpr int kMinLog2 = 16;
constexpr int kStepsPerPowerOfTwo = 8;
constexpr int kClasses = (64 - kMinLog2) * kStepsPerPowerOfTwo;

int floorLog2(size_t v) { return 63 - __builtin_clzll(v); }

size_t usableSize(void *p) {
#if TOK_HAVE_USABLE_SIZE
  return malloc_usable_size(p);
#else
  (void)p;
  return 0;
#endif
}

/// The class a request of `size` bytes (>= kMinCachedBytes) is served from,
/// and that class's block size (>= size).
int classForRequest(size_t size, size_t &classBytes) {
  int p = floorLog2(size);
  size_t step = size_t(1) << (p - 3);
  size_t steps = (size + step - 1) / step; // 8..16
  classBytes = steps * step;
  return (p - kMinLog2) * kStepsPerPowerOfTwo + int(steps - 8);
}

/// The largest class a block of `usable` bytes (>= kMinCachedBytes) can
/// serve every request of.
int classForBlock(size_t usable) {
  int p = floorLog2(usable);
  size_t step = size_t(1) << (p - 3);
  size_t steps = usable / step; // 8..15
  return (p - kMinLog2) * kStepsPerPowerOfTwo + int(steps - 8);
}

/// TOK_BUFFER_CACHE_MB in bytes: a count of megabytes up to 2^20 (1 TiB);
/// anything else is reported once on stderr and the default used.
size_t limitFromEnvironment() {
  constexpr unsigned long long kDefaultMB = 1024, kMaxMB = 1ull << 20;
  const char *v = std::getenv("TOK_BUFFER_CACHE_MB");
  if (!v || !*v)
    return size_t(kDefaultMB) << 20;
  char *end = nullptr;
  unsigned long long mb = std::strtoull(v, &end, 10);
  if (*v < '0' || *v > '9' || *end != '\0' || mb > kMaxMB) {
    std::fprintf(stderr,
                 "tok runtime: TOK_BUFFER_CACHE_MB='%s' is not a number of "
                 "megabytes from 0 to %llu; using %llu\n",
                 v, kMaxMB, kDefaultMB);
    return size_t(kDefaultMB) << 20;
  }
  return size_t(mb) << 20;
}

struct Cache {
  std::mutex mutex;
  std::vector<void *> free[kClasses];
  size_t cachedBytes = 0;
  size_t limit = limitFromEnvironment();

  void *take(size_t size) {
    size_t classBytes = 0;
    int c = classForRequest(size, classBytes);
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (c < kClasses && !free[c].empty()) {
        void *p = free[c].back();
        free[c].pop_back();
        cachedBytes -= usableSize(p);
        return p;
      }
    }
    return std::malloc(classBytes);
  }

  void give(void *p) {
    size_t usable = usableSize(p);
    if (usable >= kMinCachedBytes && usable <= kMaxCachedBytes) {
      int c = classForBlock(usable);
      std::lock_guard<std::mutex> lock(mutex);
      if (c < kClasses && cachedBytes + usable <= limit) {
        free[c].push_back(p);
        cachedBytes += usable;
        return;
      }
    }
    std::free(p);
  }

  void trim() {
    std::lock_guard<std::mutex> lock(mutex);
    for (std::vector<void *> &list : free) {
      for (void *p : list)
        std::free(p);
      list.clear();
    }
    cachedBytes = 0;
  }
};

Cache &cache() {
  // Leaked on purpose: generated code may free buffers from static
  // destructors of the host after this file's statics are gone.
  static Cache *c = new Cache;
  return *c;
}

bool enabled() {
#if TOK_HAVE_USABLE_SIZE
  static const bool on = cache().limit > 0;
  return on;
#else
  return false;
#endif
}

/// Generated code does not test what an allocation returns: a failed one
/// would be a null pointer written through (a crash far from its cause).
/// Say what was asked for, and stop with an error status.
[[noreturn]] void outOfMemory(size_t size) {
  std::fprintf(stderr,
               "tok: out of memory: the compiled code asked for %zu bytes "
               "(%zu MiB)\n",
               size, size >> 20);
  std::fflush(stderr);
  std::_Exit(1);
}

void *checked(void *p, size_t size) {
  if (!p && size)
    outOfMemory(size);
  return p;
}

} // namespace

TOK_EXPORT void *_mlir_memref_to_llvm_alloc(size_t size) {
  if (size < kMinCachedBytes || size > kMaxCachedBytes || !enabled())
    return checked(std::malloc(size), size);
  return checked(cache().take(size), size);
}

TOK_EXPORT void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment,
                                                    size_t size) {
  // Larger alignments than malloc's are not cached on the way out; the
  // block may still be kept when it is freed (it is a malloc block).
  if (alignment <= alignof(std::max_align_t))
    return _mlir_memref_to_llvm_alloc(size);
  if (size > SIZE_MAX - alignment)
    outOfMemory(size);
  size_t rounded = (size + alignment - 1) / alignment * alignment;
  return checked(std::aligned_alloc(alignment, rounded), size);
}

TOK_EXPORT void _mlir_memref_to_llvm_free(void *p) {
  if (!p)
    return;
  if (!enabled()) {
    std::free(p);
    return;
  }
  cache().give(p);
}

/// Frees every cached block (the memory the cache holds goes back to
/// malloc); returns the number of bytes released.
TOK_EXPORT size_t tok_buffer_cache_trim() {
  if (!enabled())
    return 0;
  size_t bytes;
  {
    std::lock_guard<std::mutex> lock(cache().mutex);
    bytes = cache().cachedBytes;
  }
  cache().trim();
  return bytes;
}

/// The bytes the cache holds now.
TOK_EXPORT size_t tok_buffer_cache_bytes() {
  if (!enabled())
    return 0;
  std::lock_guard<std::mutex> lock(cache().mutex);
  return cache().cachedBytes;
}
