//===- PrefixIndexTest.cpp - prefix caching of full KV pages --------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// PrefixIndex matches full pages only, and only after the same whole
// prefix; a forced hash collision (a degenerate hash) never matches and is
// never inserted; the index holds one reference per page; eviction takes
// the least recently used pages held by no one else, leaves first.
//
//===----------------------------------------------------------------------===//

#include "tok/Serve/PrefixIndex.h"

#include "llvm/Support/Error.h"

#include <gtest/gtest.h>

#include <numeric>
#include <string>
#include <vector>

using namespace mlir::tok::serve;

namespace {

std::string message(llvm::Error error) {
  return error ? llvm::toString(std::move(error)) : std::string();
}

std::vector<int32_t> iota(int32_t first, int32_t n) {
  std::vector<int32_t> tokens(n);
  std::iota(tokens.begin(), tokens.end(), first);
  return tokens;
}

std::vector<int32_t> concat(std::vector<int32_t> a,
                            const std::vector<int32_t> &b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

/// Computes the pages of tokens as a sequence would (one allocated page per
/// full page) and caches them; returns the pages, still held by the caller.
std::vector<PageId> cacheSequence(PagePool &pool, PrefixIndex &index,
                                  llvm::ArrayRef<int32_t> tokens) {
  std::vector<PageId> pages;
  PrefixPosition at;
  int64_t pageSize = pool.pageSize();
  for (size_t k = 0; (k + 1) * pageSize <= tokens.size(); ++k) {
    PageId page = *pool.allocate();
    pages.push_back(page);
    std::optional<PrefixPosition> next =
        index.insert(at, tokens.slice(k * pageSize, pageSize), page);
    EXPECT_TRUE(next);
    at = *next;
  }
  return pages;
}

void releaseAll(PagePool &pool, llvm::ArrayRef<PageId> pages) {
  for (PageId page : pages)
    pool.release(page);
}

TEST(PrefixIndexTest, MatchesFullPagesOnly) {
  PagePool pool(16, 4);
  PrefixIndex index(pool);
  std::vector<int32_t> tokens = iota(100, 10);
  std::vector<PageId> pages = cacheSequence(pool, index, tokens);
  ASSERT_EQ(pages.size(), 2u);
  EXPECT_EQ(index.size(), 2);

  PrefixMatch all = index.lookup(tokens);
  EXPECT_EQ(all.pages, llvm::SmallVector<PageId>(pages.begin(), pages.end()));
  EXPECT_EQ(all.fullPages, 2);
  // A partial page is never matched, even when its tokens agree.
  EXPECT_EQ(index.lookup(llvm::ArrayRef(tokens).take_front(7)).pages.size(),
            1u);
  EXPECT_EQ(index.lookup(llvm::ArrayRef(tokens).take_front(3)).pages.size(),
            0u);
  // A longer query matches the cached pages and stops.
  EXPECT_EQ(index.lookup(concat(tokens, iota(0, 20))).pages.size(), 2u);
  // One token off in the second page: the first page only.
  std::vector<int32_t> other = tokens;
  other[6] = 7;
  EXPECT_EQ(index.lookup(other).pages.size(), 1u);
  other[0] = 7;
  EXPECT_EQ(index.lookup(other).pages.size(), 0u);
  EXPECT_EQ(message(index.verify()), "");
  releaseAll(pool, pages);
}

TEST(PrefixIndexTest, APageMatchesOnlyAfterItsWholePrefix) {
  PagePool pool(16, 4);
  PrefixIndex index(pool);
  std::vector<PageId> pages =
      cacheSequence(pool, index, concat(iota(1, 4), iota(50, 4)));
  // The second page's tokens after another first page: no match.
  EXPECT_EQ(index.lookup(concat(iota(9, 4), iota(50, 4))).pages.size(), 0u);
  // Nor as a first page.
  EXPECT_EQ(index.lookup(iota(50, 4)).pages.size(), 0u);
  releaseAll(pool, pages);
}

TEST(PrefixIndexTest, HoldsOneReferencePerPage) {
  PagePool pool(4, 4);
  PrefixIndex index(pool);
  std::vector<PageId> pages = cacheSequence(pool, index, iota(0, 8));
  for (PageId page : pages)
    EXPECT_EQ(pool.refCount(page), 2);
  // In use by the sequence: nothing to evict.
  EXPECT_EQ(index.evictablePages(), 0);
  EXPECT_EQ(index.evict(4), 0);
  releaseAll(pool, pages);
  for (PageId page : pages)
    EXPECT_EQ(pool.refCount(page), 1);
  EXPECT_EQ(pool.freePages(), 2);
  EXPECT_EQ(index.evictablePages(), 2);
  EXPECT_EQ(index.evict(4), 2);
  EXPECT_EQ(pool.freePages(), 4);
  EXPECT_EQ(index.size(), 0);
  EXPECT_EQ(message(pool.verify()), "");
  EXPECT_EQ(message(index.verify()), "");
}

TEST(PrefixIndexTest, ADuplicateInsertKeepsTheCachedPage) {
  PagePool pool(4, 4);
  PrefixIndex index(pool);
  std::vector<PageId> first = cacheSequence(pool, index, iota(0, 4));
  // A second sequence computed the same page on its own.
  PageId copy = *pool.allocate();
  std::optional<PrefixPosition> at =
      index.insert(PrefixPosition(), iota(0, 4), copy);
  ASSERT_TRUE(at);
  EXPECT_EQ(*at, index.lookup(iota(0, 4)).end);
  EXPECT_FALSE(index.contains(copy));
  EXPECT_EQ(pool.refCount(copy), 1);
  EXPECT_EQ(index.lookup(iota(0, 4)).pages[0], first[0]);
  pool.release(copy);
  releaseAll(pool, first);
}

TEST(PrefixIndexTest, ACollisionNeverMatches) {
  PagePool pool(8, 4);
  // Every page has the same key.
  PrefixIndex index(
      pool, [](uint64_t, llvm::ArrayRef<int32_t>) { return uint64_t(42); });
  std::vector<PageId> pages = cacheSequence(pool, index, iota(0, 4));
  EXPECT_EQ(index.lookup(iota(0, 4)).pages.size(), 1u);
  // Other tokens find the entry by key but do not match it.
  EXPECT_EQ(index.lookup(iota(1, 4)).pages.size(), 0u);
  // And are not cached over it.
  PageId other = *pool.allocate();
  EXPECT_FALSE(index.insert(PrefixPosition(), iota(1, 4), other));
  EXPECT_EQ(index.collisions(), 1);
  EXPECT_FALSE(index.contains(other));
  EXPECT_EQ(pool.refCount(other), 1);
  EXPECT_EQ(index.lookup(iota(0, 4)).pages[0], pages[0]);
  EXPECT_EQ(message(index.verify()), "");
  pool.release(other);
  releaseAll(pool, pages);
}

TEST(PrefixIndexTest, ACollisionOfParentsNeverMatches) {
  PagePool pool(8, 4);
  // The key ignores the parent: the same page after any prefix collides.
  PrefixIndex index(pool,
                    [](uint64_t, llvm::ArrayRef<int32_t> tokens) -> uint64_t {
                      return static_cast<uint64_t>(tokens[0]);
                    });
  std::vector<PageId> pages =
      cacheSequence(pool, index, concat(iota(10, 4), iota(20, 4)));
  // [20..23] is cached after [10..13] only.
  EXPECT_EQ(index.lookup(iota(20, 4)).pages.size(), 0u);
  EXPECT_EQ(index.lookup(concat(iota(11, 4), iota(20, 4))).pages.size(), 0u);
  EXPECT_EQ(index.lookup(concat(iota(10, 4), iota(20, 4))).pages.size(), 2u);
  releaseAll(pool, pages);
}

TEST(PrefixIndexTest, EvictsLeastRecentlyUsedLeavesFirst) {
  PagePool pool(8, 2);
  PrefixIndex index(pool);
  std::vector<int32_t> a = iota(0, 6), b = iota(100, 4);
  std::vector<PageId> pagesA = cacheSequence(pool, index, a);
  std::vector<PageId> pagesB = cacheSequence(pool, index, b);
  releaseAll(pool, pagesA);
  releaseAll(pool, pagesB);
  EXPECT_EQ(message(index.verify()), "");
  // A is used again: B is the least recently used.
  EXPECT_EQ(index.match(a).pages.size(), 3u);
  EXPECT_EQ(index.evict(1), 1);
  EXPECT_FALSE(index.contains(pagesB[1]));
  EXPECT_TRUE(index.contains(pagesB[0]));
  EXPECT_EQ(index.evict(1), 1);
  EXPECT_FALSE(index.contains(pagesB[0]));
  // Then A, from its last page.
  EXPECT_EQ(index.evict(1), 1);
  EXPECT_FALSE(index.contains(pagesA[2]));
  EXPECT_EQ(index.lookup(a).pages.size(), 2u);
  EXPECT_EQ(message(index.verify()), "");
  // The rest of A, the leaf before its parent.
  EXPECT_EQ(index.evict(10), 2);
  EXPECT_EQ(index.size(), 0);
  EXPECT_EQ(pool.freePages(), 8);
}

TEST(PrefixIndexTest, EvictionSkipsPagesInUse) {
  PagePool pool(8, 2);
  PrefixIndex index(pool);
  std::vector<int32_t> a = iota(0, 6);
  std::vector<PageId> pagesA = cacheSequence(pool, index, a);
  // A sequence holds the last page (and through it needs the others).
  pool.release(pagesA[0]);
  pool.release(pagesA[1]);
  EXPECT_EQ(index.evictablePages(), 0);
  EXPECT_EQ(index.evict(10), 0);
  EXPECT_EQ(index.size(), 3);
  pool.release(pagesA[2]);
  EXPECT_EQ(index.evictablePages(), 3);
  EXPECT_EQ(index.evict(10), 3);
  EXPECT_EQ(message(pool.verify()), "");
}

TEST(PrefixIndexTest, InsertAfterAnEvictedParentIsRefused) {
  PagePool pool(8, 2);
  PrefixIndex index(pool);
  PageId first = *pool.allocate();
  std::optional<PrefixPosition> at =
      index.insert(PrefixPosition(), iota(0, 2), first);
  ASSERT_TRUE(at);
  pool.release(first);
  EXPECT_EQ(index.evict(1), 1);
  // The same tokens cached again get a new serial number.
  PageId again = *pool.allocate();
  std::optional<PrefixPosition> at2 =
      index.insert(PrefixPosition(), iota(0, 2), again);
  ASSERT_TRUE(at2);
  EXPECT_EQ(at2->key, at->key);
  EXPECT_NE(at2->serial, at->serial);
  PageId child = *pool.allocate();
  EXPECT_FALSE(index.insert(*at, iota(2, 2), child));
  EXPECT_TRUE(index.insert(*at2, iota(2, 2), child));
  pool.release(again);
  pool.release(child);
}

TEST(PrefixIndexTest, CountsHitsAndMisses) {
  PagePool pool(8, 2);
  PrefixIndex index(pool);
  std::vector<PageId> pages = cacheSequence(pool, index, iota(0, 4));
  index.lookup(iota(0, 8)); // Not committed: not counted.
  EXPECT_EQ(index.hitPages(), 0);
  index.match(iota(0, 8));
  EXPECT_EQ(index.hitPages(), 2);
  EXPECT_EQ(index.missPages(), 2);
  index.match(iota(9, 3));
  EXPECT_EQ(index.hitPages(), 2);
  EXPECT_EQ(index.missPages(), 3);
  releaseAll(pool, pages);
}

TEST(PrefixIndexTest, ClearReleasesTheIndexReferences) {
  PagePool pool(8, 2);
  PrefixIndex index(pool);
  std::vector<PageId> pages = cacheSequence(pool, index, iota(0, 6));
  pool.release(pages[0]);
  index.clear();
  EXPECT_EQ(index.size(), 0);
  EXPECT_EQ(pool.refCount(pages[0]), 0);
  EXPECT_EQ(pool.refCount(pages[1]), 1);
  pool.release(pages[1]);
  pool.release(pages[2]);
  EXPECT_EQ(pool.freePages(), 8);
  EXPECT_EQ(message(pool.verify()), "");
}

TEST(PrefixIndexTest, DefaultHashCoversParentAndEveryToken) {
  std::vector<int32_t> tokens = iota(0, 16);
  uint64_t key = PrefixIndex::defaultHash(0, tokens);
  EXPECT_NE(key, PrefixIndex::defaultHash(1, tokens));
  for (size_t i = 0; i < tokens.size(); ++i) {
    std::vector<int32_t> other = tokens;
    other[i] += 1 << 24;
    EXPECT_NE(key, PrefixIndex::defaultHash(0, other));
  }
}

} // namespace
