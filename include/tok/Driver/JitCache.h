//===- JitCache.h - compiled modules kept on disk between runs --*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Lowering a model and generating its machine code takes seconds (the
// built-in model: about 5 s on two cores), running it milliseconds. The
// JIT cache keeps each object file tok-run generated, under a key of
// everything the object depends on, so that running the same module again
// loads it instead:
//
//   - the module before lowering, printed in full (generic form, no
//     locations, no elided constants);
//   - the lowering pipeline, the optimization level and the entry points;
//   - the host CPU and its features;
//   - the tok-run executable itself (its bytes: any rebuild of tok changes
//     the key), and the LLVM version.
//
// TOK_JIT_CACHE_DIR names the directory (default $XDG_CACHE_HOME/tok/jit,
// else ~/.cache/tok/jit), TOK_JIT_CACHE_MB caps its size (default 1024;
// 0 turns the cache off). Entries are written to a temporary file and
// renamed into place, so concurrent runs never see half an entry; each
// carries a header with its length and checksum, and an entry that does not
// match them is ignored (and replaced). Over the cap, the least recently
// used entries are removed.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DRIVER_JITCACHE_H
#define TOK_DRIVER_JITCACHE_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <memory>
#include <string>

namespace mlir {
namespace tok {

class JitCache {
public:
  /// The cache TOK_JIT_CACHE_DIR and TOK_JIT_CACHE_MB describe (a value that
  /// is not a count of megabytes is reported on stderr and the default
  /// used), or a disabled one.
  static JitCache fromEnvironment();
  /// A cache in `directory` holding at most `capacityBytes`; 0 disables it.
  JitCache(std::string directory, uint64_t capacityBytes)
      : directory(std::move(directory)), capacity(capacityBytes) {}

  bool isEnabled() const { return capacity > 0 && !directory.empty(); }
  llvm::StringRef getDirectory() const { return directory; }

  /// The key of an object compiled from `moduleText` (the printed module)
  /// with the rest of the inputs in `parts` (pipeline, options, CPU, ...);
  /// the tok-run executable and the LLVM version are added here. 32 hex
  /// digits.
  static std::string makeKey(llvm::StringRef moduleText,
                             llvm::ArrayRef<std::string> parts);

  /// The object stored under `key`, or null. A damaged entry is reported on
  /// stderr, removed, and counts as absent.
  std::unique_ptr<llvm::MemoryBuffer> load(llvm::StringRef key) const;
  /// Stores `object` under `key` (best effort: a failure is reported on
  /// stderr once and otherwise ignored), then trims the cache to its cap.
  void store(llvm::StringRef key, llvm::StringRef object) const;

  /// The path of the entry for `key`.
  std::string entryPath(llvm::StringRef key) const;

private:
  void trim(llvm::StringRef keep) const;

  std::string directory;
  uint64_t capacity;
};

} // namespace tok
} // namespace mlir

#endif // TOK_DRIVER_JITCACHE_H
