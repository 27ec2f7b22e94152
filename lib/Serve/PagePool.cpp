//===- PagePool.cpp - reference-counted pages of KV slots -----------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// A count per page and a stack of free pages (the most recently freed
// page is reused first, while it may still be warm in a cache).
//
//===----------------------------------------------------------------------===//

#include "tok/Serve/PagePool.h"

#include <cassert>

using namespace mlir::tok::serve;

PagePool::PagePool(int64_t numPages, int64_t pageSize)
    : pageSizeValue(pageSize) {
  assert(numPages >= 1 && pageSize >= 1 && "an empty pool");
  counts.assign(numPages, 0);
  freeList.reserve(numPages);
  // Page 0 on top: pages come out in increasing order at first.
  for (int64_t i = numPages - 1; i >= 0; --i)
    freeList.push_back(static_cast<PageId>(i));
}

std::optional<PageId> PagePool::allocate() {
  if (freeList.empty())
    return std::nullopt;
  PageId page = freeList.back();
  freeList.pop_back();
  assert(counts[page] == 0 && "a held page on the free list");
  counts[page] = 1;
  return page;
}

void PagePool::retain(PageId page) {
  if (page < 0 || page >= numPages() || counts[page] == 0) {
    assert(false && "retaining a free page");
    ++misuses;
    return;
  }
  ++counts[page];
}

bool PagePool::release(PageId page) {
  if (page < 0 || page >= numPages() || counts[page] == 0) {
    assert(false && "releasing a free page");
    ++misuses;
    return false;
  }
  if (--counts[page] != 0)
    return false;
  freeList.push_back(page);
  return true;
}

int32_t PagePool::refCount(PageId page) const {
  assert(page >= 0 && page < numPages() && "no such page");
  return counts[page];
}

llvm::Error PagePool::verify() const {
  if (misuses != 0)
    return llvm::createStringError("%lld retain / release calls on free pages",
                                   static_cast<long long>(misuses));
  std::vector<bool> onFreeList(counts.size(), false);
  for (PageId page : freeList) {
    if (page < 0 || page >= numPages())
      return llvm::createStringError("page %d out of range on the free list",
                                     page);
    if (onFreeList[page])
      return llvm::createStringError("page %d twice on the free list", page);
    onFreeList[page] = true;
  }
  for (size_t i = 0, e = counts.size(); i != e; ++i) {
    if (counts[i] < 0)
      return llvm::createStringError("page %zu has count %d", i, counts[i]);
    if ((counts[i] == 0) != onFreeList[i])
      return llvm::createStringError(
          "page %zu has count %d but is %s the free list", i, counts[i],
          onFreeList[i] ? "on" : "not on");
  }
  return llvm::Error::success();
}
