//===- PrefixIndex.h - prefix caching of full KV pages ----------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Which full pages of KV are cached, keyed by everything before and in
// them. The key of page k of a sequence is a 64-bit hash (xxh3) of the key
// of page k - 1 and the pageSize token ids of page k, so one key names a
// whole prefix. Keys only find entries: an entry also stores its token ids
// and the serial number of its parent entry, and match() accepts an entry
// only when both agree, so a hash collision can cost a cache hit but never
// return the KV of other tokens (an insert that collides is refused).
//
// The index holds one reference on each cached page. Pages whose only
// holder is the index can be evicted; evict(n) frees up to n of them, least
// recently used first and always a leaf of the prefix tree before its
// parent (a child stays older than its parent in the LRU order), so what
// stays cached is always reachable from the root.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_SERVE_PREFIXINDEX_H
#define TOK_SERVE_PREFIXINDEX_H

#include "tok/Serve/PagePool.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <unordered_map>
#include <vector>

namespace mlir {
namespace tok {
namespace serve {

/// Where a chain of cached pages ends: the key and serial number of its
/// last entry (the root: no page yet).
struct PrefixPosition {
  uint64_t key = 0;
  uint64_t serial = 0;
  bool isRoot() const { return serial == 0; }
  bool operator==(const PrefixPosition &o) const {
    return key == o.key && serial == o.serial;
  }
};

/// The longest cached run of full pages that prefixes some tokens.
struct PrefixMatch {
  /// The cached pages, in order (page k holds positions k * pageSize ..).
  llvm::SmallVector<PageId, 8> pages;
  /// The position after the last of them (insert() continues from here).
  PrefixPosition end;
  /// Full pages the tokens had (what a lookup could have hit).
  int64_t fullPages = 0;
};

class PrefixIndex {
public:
  /// The key of a page from its parent's key and its token ids.
  using HashFn =
      std::function<uint64_t(uint64_t, llvm::ArrayRef<int32_t> tokens)>;

  /// An index over pool's pages. hash replaces xxh3 (tests force
  /// collisions with it).
  explicit PrefixIndex(PagePool &pool, HashFn hash = nullptr);
  ~PrefixIndex();
  PrefixIndex(const PrefixIndex &) = delete;
  PrefixIndex &operator=(const PrefixIndex &) = delete;

  /// xxh3 over the parent key and the token ids (little-endian bytes).
  static uint64_t defaultHash(uint64_t parent, llvm::ArrayRef<int32_t> tokens);

  /// The longest cached run of full pages prefixing tokens, without side
  /// effects (the pages are not retained).
  PrefixMatch lookup(llvm::ArrayRef<int32_t> tokens) const;
  /// Records a lookup that was used: its pages become the most recently
  /// used, and the hit / miss counters count its pages.
  void commit(const PrefixMatch &match);
  /// lookup + commit.
  PrefixMatch match(llvm::ArrayRef<int32_t> tokens);

  /// Caches page, which holds the KV of pageTokens (pageSize ids) after the
  /// chain ending at parent, and retains it. Returns the position of the
  /// entry: the new one, or an existing entry for the same tokens after the
  /// same parent (page is then not cached; the caller keeps its own copy).
  /// Returns none, caching nothing, when parent is no longer cached or the
  /// key collides with an entry for other tokens.
  std::optional<PrefixPosition> insert(PrefixPosition parent,
                                       llvm::ArrayRef<int32_t> pageTokens,
                                       PageId page);

  /// Frees up to n pages held only by the index (least recently used
  /// leaves first); returns how many.
  int64_t evict(int64_t n);
  /// Drops every entry and its reference (pages other holders keep stay
  /// held).
  void clear();

  /// Cached pages.
  int64_t size() const { return static_cast<int64_t>(entries.size()); }
  /// Cached pages that evict() could free now.
  int64_t evictablePages() const;
  bool contains(PageId page) const { return byPage.count(page) != 0; }

  /// Counters: full pages found / not found by committed lookups, and
  /// inserts refused for a hash collision.
  int64_t hitPages() const { return hits; }
  int64_t missPages() const { return misses; }
  int64_t collisions() const { return numCollisions; }

  /// Checks the invariants: maps and entries agree, each cached page is
  /// held (by the index at least), each entry's parent is cached and newer
  /// in the LRU order, child counts are right.
  llvm::Error verify() const;

private:
  struct Entry {
    uint64_t key;
    uint64_t serial;
    /// The parent entry (0: the root).
    uint64_t parentKey;
    uint64_t parentSerial;
    std::vector<int32_t> tokens;
    PageId page;
    int64_t children = 0;
  };
  using EntryList = std::list<Entry>;

  bool evictable(const Entry &entry) const;
  void erase(EntryList::iterator it);

  PagePool &pool;
  HashFn hash;
  /// Oldest first; a child always before its parent.
  EntryList entries;
  /// Not a DenseMap: every 64-bit value is a possible key.
  std::unordered_map<uint64_t, EntryList::iterator> byKey;
  llvm::DenseMap<PageId, EntryList::iterator> byPage;
  uint64_t nextSerial = 1;
  int64_t hits = 0;
  int64_t misses = 0;
  int64_t numCollisions = 0;
};

} // namespace serve
} // namespace tok
} // namespace mlir

#endif // TOK_SERVE_PREFIXINDEX_H
