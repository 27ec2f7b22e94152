//===- PagePool.h - reference-counted pages of KV slots ---------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The bookkeeping of a paged KV cache: numPages pages of pageSize token
// slots each, handed out by id and counted by reference. The KV memory
// itself lives with the executor; a slot's address there is
// page * pageSize + offset. A page is free when its count is 0; allocate()
// hands a free page out with a count of 1, retain() adds a holder (a
// sequence sharing a cached prefix page, the prefix index), release()
// drops one and returns the page to the free list when the last holder
// goes. Releasing a free page is a bug of the caller: it asserts, and in
// builds without assertions it is ignored and remembered, so that verify()
// reports it (docs/serving.md, "Scheduler").
//
//===----------------------------------------------------------------------===//

#ifndef TOK_SERVE_PAGEPOOL_H
#define TOK_SERVE_PAGEPOOL_H

#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace mlir {
namespace tok {
namespace serve {

/// A page of the KV cache, 0 .. numPages - 1.
using PageId = int32_t;

class PagePool {
public:
  /// numPages pages of pageSize slots (both at least 1).
  PagePool(int64_t numPages, int64_t pageSize);

  /// A free page with a reference count of 1, or none when all are held.
  /// The most recently freed page comes back first.
  std::optional<PageId> allocate();
  /// Adds a holder to a held page.
  void retain(PageId page);
  /// Drops a holder; returns true when that freed the page.
  bool release(PageId page);

  int32_t refCount(PageId page) const;
  bool isFree(PageId page) const { return refCount(page) == 0; }

  int64_t numPages() const { return static_cast<int64_t>(counts.size()); }
  int64_t pageSize() const { return pageSizeValue; }
  int64_t freePages() const { return static_cast<int64_t>(freeList.size()); }
  int64_t usedPages() const { return numPages() - freePages(); }

  /// Checks the invariants: the free list holds exactly the pages with a
  /// count of 0, each once, no count is negative, and no retain / release
  /// of a free page was ever attempted.
  llvm::Error verify() const;

private:
  int64_t pageSizeValue;
  std::vector<int32_t> counts;
  /// Free pages; allocate() takes from the back.
  std::vector<PageId> freeList;
  /// retain / release calls on free or out-of-range pages (ignored).
  int64_t misuses = 0;
};

} // namespace serve
} // namespace tok
} // namespace mlir

#endif // TOK_SERVE_PAGEPOOL_H
