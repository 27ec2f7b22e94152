//===- PrefixIndex.cpp - prefix caching of full KV pages ------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Entries live in one list in LRU order (oldest first) with two maps into
// it, by key and by page. A new entry goes just before its parent and a
// used chain moves to the back leaf first, so every entry stays older than
// its parent: one oldest-first walk evicts leaves, then the parents they
// leave childless.
//
//===----------------------------------------------------------------------===//

#include "tok/Serve/PrefixIndex.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/xxhash.h"

#include <cassert>

using namespace mlir::tok::serve;

PrefixIndex::PrefixIndex(PagePool &pool, HashFn hash)
    : pool(pool), hash(hash ? std::move(hash) : HashFn(defaultHash)) {}

PrefixIndex::~PrefixIndex() { clear(); }

uint64_t PrefixIndex::defaultHash(uint64_t parent,
                                  llvm::ArrayRef<int32_t> tokens) {
  llvm::SmallVector<uint8_t, 8 + 4 * 64> bytes;
  bytes.reserve(8 + 4 * tokens.size());
  for (int i = 0; i < 8; ++i)
    bytes.push_back(static_cast<uint8_t>(parent >> (8 * i)));
  for (int32_t token : tokens) {
    uint32_t bits = static_cast<uint32_t>(token);
    for (int i = 0; i < 4; ++i)
      bytes.push_back(static_cast<uint8_t>(bits >> (8 * i)));
  }
  return llvm::xxh3_64bits(bytes);
}

PrefixMatch PrefixIndex::lookup(llvm::ArrayRef<int32_t> tokens) const {
  PrefixMatch match;
  int64_t pageSize = pool.pageSize();
  match.fullPages = static_cast<int64_t>(tokens.size()) / pageSize;
  PrefixPosition at;
  for (int64_t k = 0; k < match.fullPages; ++k) {
    llvm::ArrayRef<int32_t> pageTokens = tokens.slice(k * pageSize, pageSize);
    auto it = byKey.find(hash(at.key, pageTokens));
    if (it == byKey.end())
      break;
    // The key only finds the entry: it must follow the same entry and hold
    // the same tokens, or it is another prefix whose key collided.
    const Entry &entry = *it->second;
    if (entry.parentSerial != at.serial ||
        !llvm::equal(entry.tokens, pageTokens))
      break;
    match.pages.push_back(entry.page);
    at = {entry.key, entry.serial};
  }
  match.end = at;
  return match;
}

void PrefixIndex::commit(const PrefixMatch &match) {
  hits += static_cast<int64_t>(match.pages.size());
  misses += match.fullPages - static_cast<int64_t>(match.pages.size());
  // Most recently used: leaf first, so that the chain's root ends newest.
  for (PageId page : llvm::reverse(match.pages)) {
    auto it = byPage.find(page);
    assert(it != byPage.end() && "a matched page left the index");
    entries.splice(entries.end(), entries, it->second);
  }
}

PrefixMatch PrefixIndex::match(llvm::ArrayRef<int32_t> tokens) {
  PrefixMatch result = lookup(tokens);
  commit(result);
  return result;
}

std::optional<PrefixPosition>
PrefixIndex::insert(PrefixPosition parent, llvm::ArrayRef<int32_t> pageTokens,
                    PageId page) {
  assert(static_cast<int64_t>(pageTokens.size()) == pool.pageSize() &&
         "only full pages are cached");
  assert(!contains(page) && "a page cached twice");
  EntryList::iterator parentIt = entries.end();
  if (!parent.isRoot()) {
    auto it = byKey.find(parent.key);
    if (it == byKey.end() || it->second->serial != parent.serial)
      return std::nullopt; // Evicted since (or replaced).
    parentIt = it->second;
  }
  uint64_t key = hash(parent.key, pageTokens);
  if (auto it = byKey.find(key); it != byKey.end()) {
    const Entry &entry = *it->second;
    if (entry.parentSerial == parent.serial &&
        llvm::equal(entry.tokens, pageTokens))
      return PrefixPosition{entry.key, entry.serial};
    ++numCollisions;
    return std::nullopt;
  }
  Entry entry{key,
              nextSerial++,
              parent.key,
              parent.serial,
              std::vector<int32_t>(pageTokens.begin(), pageTokens.end()),
              page};
  // Just older than the parent (a chain's first page: newest).
  auto it = entries.insert(parentIt, std::move(entry));
  if (parentIt != entries.end())
    ++parentIt->children;
  byKey[key] = it;
  byPage[page] = it;
  pool.retain(page);
  return PrefixPosition{it->key, it->serial};
}

bool PrefixIndex::evictable(const Entry &entry) const {
  return entry.children == 0 && pool.refCount(entry.page) == 1;
}

void PrefixIndex::erase(EntryList::iterator it) {
  if (it->parentSerial != 0) {
    auto parent = byKey.find(it->parentKey);
    assert(parent != byKey.end() &&
           parent->second->serial == it->parentSerial &&
           "a cached page without its parent");
    --parent->second->children;
  }
  byKey.erase(it->key);
  byPage.erase(it->page);
  pool.release(it->page);
  entries.erase(it);
}

int64_t PrefixIndex::evict(int64_t n) {
  int64_t freed = 0;
  for (auto it = entries.begin(); it != entries.end() && freed < n;) {
    auto next = std::next(it);
    if (evictable(*it)) {
      erase(it);
      ++freed;
    }
    it = next;
  }
  return freed;
}

void PrefixIndex::clear() {
  for (Entry &entry : entries)
    pool.release(entry.page);
  entries.clear();
  byKey.clear();
  byPage.clear();
}

int64_t PrefixIndex::evictablePages() const {
  // A page is evictable once its children are: count what one walk frees.
  llvm::DenseMap<uint64_t, int64_t> freedChildren;
  int64_t n = 0;
  for (const Entry &entry : entries) {
    if (entry.children != freedChildren.lookup(entry.serial) ||
        pool.refCount(entry.page) != 1)
      continue;
    ++n;
    if (entry.parentSerial != 0)
      ++freedChildren[entry.parentSerial];
  }
  return n;
}

llvm::Error PrefixIndex::verify() const {
  if (byKey.size() != entries.size() || byPage.size() != entries.size())
    return llvm::createStringError("%zu entries but %zu keys and %zu pages",
                                   entries.size(), byKey.size(), byPage.size());
  llvm::DenseMap<uint64_t, size_t> order;
  llvm::DenseMap<uint64_t, int64_t> children;
  size_t i = 0;
  for (auto it = entries.begin(); it != entries.end(); ++it, ++i)
    order[it->serial] = i;
  i = 0;
  for (auto it = entries.begin(); it != entries.end(); ++it, ++i) {
    const Entry &entry = *it;
    auto byKeyIt = byKey.find(entry.key);
    auto byPageIt = byPage.find(entry.page);
    if (byKeyIt == byKey.end() || byKeyIt->second != it ||
        byPageIt == byPage.end() || byPageIt->second != it)
      return llvm::createStringError("page %d not mapped to its entry",
                                     entry.page);
    if (entry.page < 0 || entry.page >= pool.numPages() ||
        pool.refCount(entry.page) < 1)
      return llvm::createStringError("cached page %d is not held", entry.page);
    if (static_cast<int64_t>(entry.tokens.size()) != pool.pageSize() ||
        hash(entry.parentKey, entry.tokens) != entry.key)
      return llvm::createStringError("page %d has a wrong key", entry.page);
    if (entry.parentSerial == 0)
      continue;
    auto parent = byKey.find(entry.parentKey);
    if (parent == byKey.end() || parent->second->serial != entry.parentSerial)
      return llvm::createStringError("page %d is cached without its parent",
                                     entry.page);
    if (order.lookup(entry.parentSerial) <= i)
      return llvm::createStringError(
          "page %d is not older than its parent in the LRU", entry.page);
    ++children[entry.parentSerial];
  }
  for (const Entry &entry : entries)
    if (entry.children != children.lookup(entry.serial))
      return llvm::createStringError(
          "page %d counts %lld children, not %lld", entry.page,
          static_cast<long long>(entry.children),
          static_cast<long long>(children.lookup(entry.serial)));
  return llvm::Error::success();
}
