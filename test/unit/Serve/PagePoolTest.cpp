//===- PagePoolTest.cpp - reference-counted pages of KV slots -------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// PagePool hands out every page once, takes them back when the last holder
// releases them (and reuses them), and reports a release of a free page.
//
//===----------------------------------------------------------------------===//

#include "tok/Serve/PagePool.h"

#include "llvm/Support/Error.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

using namespace mlir::tok::serve;

namespace {

/// The message of an error, or "" for success.
std::string message(llvm::Error error) {
  return error ? llvm::toString(std::move(error)) : std::string();
}

TEST(PagePoolTest, AllocatesEveryPageOnce) {
  PagePool pool(8, 16);
  EXPECT_EQ(pool.numPages(), 8);
  EXPECT_EQ(pool.pageSize(), 16);
  std::set<PageId> seen;
  for (int i = 0; i < 8; ++i) {
    std::optional<PageId> page = pool.allocate();
    ASSERT_TRUE(page);
    EXPECT_TRUE(seen.insert(*page).second);
    EXPECT_EQ(pool.refCount(*page), 1);
  }
  EXPECT_FALSE(pool.allocate());
  EXPECT_EQ(pool.freePages(), 0);
  EXPECT_EQ(pool.usedPages(), 8);
  EXPECT_EQ(message(pool.verify()), "");
}

TEST(PagePoolTest, ReusesReleasedPages) {
  PagePool pool(2, 4);
  PageId a = *pool.allocate();
  PageId b = *pool.allocate();
  EXPECT_FALSE(pool.allocate());
  EXPECT_TRUE(pool.release(a));
  EXPECT_TRUE(pool.isFree(a));
  EXPECT_EQ(pool.allocate(), a);
  EXPECT_TRUE(pool.release(b));
  EXPECT_TRUE(pool.release(a));
  EXPECT_EQ(pool.freePages(), 2);
  EXPECT_EQ(message(pool.verify()), "");
}

TEST(PagePoolTest, CountsBackToZero) {
  PagePool pool(4, 4);
  PageId page = *pool.allocate();
  pool.retain(page);
  pool.retain(page);
  EXPECT_EQ(pool.refCount(page), 3);
  EXPECT_FALSE(pool.release(page));
  EXPECT_FALSE(pool.release(page));
  EXPECT_EQ(pool.freePages(), 3);
  EXPECT_EQ(message(pool.verify()), "");
  EXPECT_TRUE(pool.release(page));
  EXPECT_EQ(pool.refCount(page), 0);
  EXPECT_EQ(pool.freePages(), 4);
  EXPECT_EQ(message(pool.verify()), "");
}

TEST(PagePoolTest, ReleasingAFreePageIsABug) {
  PagePool pool(2, 4);
  PageId page = *pool.allocate();
  EXPECT_TRUE(pool.release(page));
  // Asserts where assertions are on; otherwise ignored and reported.
  EXPECT_DEBUG_DEATH(pool.release(page), "releasing a free page");
#ifdef NDEBUG
  EXPECT_EQ(pool.freePages(), 2);
  EXPECT_EQ(message(pool.verify()), "1 retain / release calls on free pages");
#endif
}

} // namespace
