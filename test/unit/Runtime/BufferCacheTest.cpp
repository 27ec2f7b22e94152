//===- BufferCacheTest.cpp - the generic allocation functions -------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Calls lib/Runtime/BufferCache.cpp the way code lowered by tok-to-llvm does
// (memref.alloc / memref.dealloc through MLIR's generic functions) and
// checks what a cache must not get wrong: every block is large enough and
// writable for its request, a freed block is handed out again only for a
// request it can hold, blocks stay malloc blocks (free() takes them), the
// cache stays within TOK_BUFFER_CACHE_MB, and threads do not share a block.
//
//===----------------------------------------------------------------------===//

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <set>
#include <thread>
#include <vector>

extern "C" {
void *_mlir_memref_to_llvm_alloc(size_t size);
void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment, size_t size);
void _mlir_memref_to_llvm_free(void *p);
size_t tok_buffer_cache_trim();
size_t tok_buffer_cache_bytes();
}

namespace {

// The cache reads its limit at the first call: 64 MiB for these tests.
const bool kEnvironmentSet = [] {
  setenv("TOK_BUFFER_CACHE_MB", "64", 1);
  return true;
}();

constexpr size_t kKiB = 1024, kMiB = 1024 * 1024;

TEST(BufferCache, AFreedBlockServesTheNextRequestOfItsClass) {
  tok_buffer_cache_trim();
  void *a = _mlir_memref_to_llvm_alloc(3 * kMiB);
  ASSERT_NE(a, nullptr);
  std::memset(a, 1, 3 * kMiB);
  _mlir_memref_to_llvm_free(a);
  EXPECT_GE(tok_buffer_cache_bytes(), 3 * kMiB);
  // 3 MiB - 100 KiB rounds up to the same class (steps of 256 KiB).
  void *b = _mlir_memref_to_llvm_alloc(3 * kMiB - 100 * kKiB);
  EXPECT_EQ(a, b);
  EXPECT_EQ(tok_buffer_cache_bytes(), 0u);
  _mlir_memref_to_llvm_free(b);
  // A larger class does not get the smaller block.
  void *c = _mlir_memref_to_llvm_alloc(3 * kMiB + 300 * kKiB);
  EXPECT_NE(c, a);
  EXPECT_GE(malloc_usable_size(c), 3 * kMiB + 300 * kKiB);
  _mlir_memref_to_llvm_free(c);
  tok_buffer_cache_trim();
  EXPECT_EQ(tok_buffer_cache_bytes(), 0u);
}

TEST(BufferCache, EveryBlockHoldsItsRequest) {
  tok_buffer_cache_trim();
  std::vector<void *> blocks;
  // Sizes around the class boundaries and the cached / uncached threshold,
  // allocated, freed and allocated again in other orders.
  std::vector<size_t> sizes;
  for (size_t base : {size_t(1) << 16, size_t(1) << 20, size_t(3) << 20})
    for (long delta : {-4097L, -1L, 0L, 1L, 4097L, 8191L, 8193L})
      sizes.push_back(size_t(long(base) + delta));
  sizes.push_back(1);
  sizes.push_back(1000);
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < sizes.size(); ++i) {
      size_t size = sizes[(i * 7 + round) % sizes.size()];
      void *p = _mlir_memref_to_llvm_alloc(size);
      ASSERT_NE(p, nullptr);
      EXPECT_GE(malloc_usable_size(p), size);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % alignof(std::max_align_t), 0u);
      std::memset(p, round, size);
      blocks.push_back(p);
    }
    // 23 blocks freed in the order 0, 5, 10, ... (5 and 23 are coprime).
    ASSERT_EQ(blocks.size(), 23u);
    for (size_t i = 0; i < blocks.size(); ++i)
      _mlir_memref_to_llvm_free(blocks[(i * 5) % blocks.size()]);
    blocks.clear();
  }
  tok_buffer_cache_trim();
}

TEST(BufferCache, BlocksStayMallocBlocksAndNullIsIgnored) {
  tok_buffer_cache_trim();
  _mlir_memref_to_llvm_free(nullptr);
  // A block the host releases with free() (a returned buffer).
  void *p = _mlir_memref_to_llvm_alloc(2 * kMiB);
  std::free(p);
  // A block from malloc that generated code frees.
  void *q = std::malloc(kMiB);
  _mlir_memref_to_llvm_free(q);
  EXPECT_GE(tok_buffer_cache_bytes(), kMiB);
  void *r = _mlir_memref_to_llvm_alloc(kMiB);
  EXPECT_EQ(r, q);
  _mlir_memref_to_llvm_free(r);
  // Alignments beyond malloc's.
  void *a = _mlir_memref_to_llvm_aligned_alloc(256, kMiB + 3);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 256, 0u);
  _mlir_memref_to_llvm_free(a);
  tok_buffer_cache_trim();
}

TEST(BufferCache, TheCacheStaysWithinItsLimit) {
  tok_buffer_cache_trim();
  std::vector<void *> blocks;
  for (int i = 0; i < 40; ++i)
    blocks.push_back(_mlir_memref_to_llvm_alloc(4 * kMiB));
  for (void *p : blocks)
    _mlir_memref_to_llvm_free(p);
  // 40 x 4 MiB freed, 64 MiB kept at most.
  EXPECT_LE(tok_buffer_cache_bytes(), 64 * kMiB);
  EXPECT_GE(tok_buffer_cache_bytes(), 60 * kMiB);
  EXPECT_GE(tok_buffer_cache_trim(), 60 * kMiB);
  EXPECT_EQ(tok_buffer_cache_bytes(), 0u);
}

TEST(BufferCache, ThreadsNeverShareABlock) {
  tok_buffer_cache_trim();
  constexpr int kThreads = 4, kRounds = 200;
  std::vector<std::thread> threads;
  std::vector<int> bad(kThreads, 0);
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([t, &bad] {
      for (int i = 0; i < kRounds; ++i) {
        size_t size = (size_t(1) << 17) + size_t((i * 37 + t) % 5) * 70000;
        auto *p =
            static_cast<unsigned char *>(_mlir_memref_to_llvm_alloc(size));
        std::memset(p, t + 1, size);
        // Another thread writing into this block would show here.
        for (size_t j = 0; j < size; j += 4096)
          if (p[j] != t + 1)
            ++bad[t];
        _mlir_memref_to_llvm_free(p);
      }
    });
  for (std::thread &t : threads)
    t.join();
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(bad[t], 0) << "thread " << t;
  tok_buffer_cache_trim();
}

} // namespace
