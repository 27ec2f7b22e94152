//===- JitCacheTest.cpp - tok-run's on-disk cache of compiled modules -----===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// lib/Driver/JitCache.cpp decides whether tok-run runs code compiled in
// an earlier process, so what it must not get wrong is checked here: a key
// changes with every input, an entry comes back byte for byte, a damaged
// entry is never handed out (and is removed), the size cap holds with the
// least recently used entries removed first, and a disabled cache writes
// nothing. (tok-run's use of it: test/tools/tok-run-jit-cache.test.)
//
//===----------------------------------------------------------------------===//

#include "tok/Driver/JitCache.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <sys/time.h>
#include <vector>

using mlir::tok::JitCache;
namespace fs = llvm::sys::fs;

namespace {

class JitCacheTest : public ::testing::Test {
protected:
  void SetUp() override {
    llvm::SmallString<128> path;
    ASSERT_FALSE(fs::createUniqueDirectory("tok-jit-cache-test", path));
    root = std::string(path);
  }
  void TearDown() override { fs::remove_directories(root); }

  std::string dir(const char *name) const {
    llvm::SmallString<128> path(root);
    llvm::sys::path::append(path, name);
    return std::string(path);
  }
  static int countEntries(const std::string &directory) {
    int n = 0;
    std::error_code ec;
    for (fs::directory_iterator it(directory, ec), end; it != end && !ec;
         it.increment(ec))
      n += llvm::StringRef(it->path()).ends_with(".tokjit");
    return n;
  }
  /// Sets an entry's last use `secondsAgo` seconds before now.
  static void age(const std::string &path, int secondsAgo) {
    struct timeval now;
    gettimeofday(&now, nullptr);
    struct timeval times[2] = {now, now};
    times[0].tv_sec -= secondsAgo;
    times[1].tv_sec -= secondsAgo;
    ASSERT_EQ(utimes(path.c_str(), times), 0);
  }

  std::string root;
};

std::string key(llvm::StringRef module, llvm::ArrayRef<std::string> parts) {
  return JitCache::makeKey(module, parts);
}

TEST_F(JitCacheTest, KeyChangesWithEveryInput) {
  std::string base = key("module", {"lowering=tok-to-llvm", "O3"});
  ASSERT_EQ(base.size(), 32u);
  EXPECT_EQ(base.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(base, key("module", {"lowering=tok-to-llvm", "O3"}));
  EXPECT_NE(base, key("module ", {"lowering=tok-to-llvm", "O3"}));
  EXPECT_NE(base, key("module", {"lowering=tok-to-llvm", "O2"}));
  EXPECT_NE(base, key("module", {"lowering=tok-to-nvvm", "O3"}));
  EXPECT_NE(base, key("module", {"lowering=tok-to-llvm", "O3", "entry=f"}));
  // Parts are delimited: moving text between them changes the key.
  EXPECT_NE(key("m", {"ab", "c"}), key("m", {"a", "bc"}));
}

TEST_F(JitCacheTest, StoresAndLoadsByteForByte) {
  JitCache cache(dir("c"), 1 << 20);
  std::string k = key("m", {});
  EXPECT_EQ(cache.load(k), nullptr);
  std::string object("\x7f"
                     "ELF\0\1\2 object bytes",
                     20);
  cache.store(k, object);
  auto loaded = cache.load(k);
  ASSERT_NE(loaded, nullptr);
  EXPECT_EQ(loaded->getBuffer(), object);
  // Another key is another entry.
  EXPECT_EQ(cache.load(key("m2", {})), nullptr);
  // Storing again replaces the entry.
  cache.store(k, "new");
  auto replaced = cache.load(k);
  ASSERT_NE(replaced, nullptr);
  EXPECT_EQ(replaced->getBuffer(), "new");
  EXPECT_EQ(countEntries(dir("c")), 1);
}

TEST_F(JitCacheTest, DamagedEntriesAreRemovedNotLoaded) {
  JitCache cache(dir("c"), 1 << 20);
  std::string object(4096, 'x');
  std::string k = key("m", {});
  std::string path = cache.entryPath(k);
  auto rewrite = [&](auto change) {
    cache.store(k, object);
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    in.close();
    change(bytes);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  };
  // Cut short, in the header and in the object.
  rewrite([](std::string &b) { b.resize(10); });
  EXPECT_EQ(cache.load(k), nullptr);
  EXPECT_FALSE(fs::exists(path));
  rewrite([](std::string &b) { b.resize(b.size() - 1); });
  EXPECT_EQ(cache.load(k), nullptr);
  // One flipped bit of the object (the checksum), of the magic, of the key.
  rewrite([](std::string &b) { b[b.size() - 7] ^= 1; });
  EXPECT_EQ(cache.load(k), nullptr);
  rewrite([](std::string &b) { b[0] ^= 1; });
  EXPECT_EQ(cache.load(k), nullptr);
  rewrite([](std::string &b) { b[30] ^= 1; });
  EXPECT_EQ(cache.load(k), nullptr);
  // An intact entry filed under another key's name is not that key's.
  cache.store(k, object);
  std::string other = key("other", {});
  ASSERT_FALSE(fs::rename(path, cache.entryPath(other)));
  EXPECT_EQ(cache.load(other), nullptr);
  // Garbage for a key is not asked for.
  EXPECT_EQ(cache.load("../../etc/passwd"), nullptr);
}

TEST_F(JitCacheTest, CapRemovesLeastRecentlyUsedFirst) {
  // Room for three entries of 100 KiB (plus headers), not four.
  JitCache cache(dir("c"), 350 << 10);
  std::string object(100 << 10, 'o');
  std::string k[4];
  for (int i = 0; i < 4; ++i)
    k[i] = key("m" + std::to_string(i), {});
  for (int i = 0; i < 3; ++i) {
    cache.store(k[i], object);
    age(cache.entryPath(k[i]), 100 - 10 * i); // k[0] oldest
  }
  ASSERT_EQ(countEntries(dir("c")), 3);
  // Using k[0] makes it the most recent: k[1] goes when k[3] arrives.
  ASSERT_NE(cache.load(k[0]), nullptr);
  cache.store(k[3], object);
  EXPECT_EQ(countEntries(dir("c")), 3);
  EXPECT_NE(cache.load(k[0]), nullptr);
  EXPECT_EQ(cache.load(k[1]), nullptr);
  EXPECT_NE(cache.load(k[2]), nullptr);
  EXPECT_NE(cache.load(k[3]), nullptr);
  // An object larger than the whole cache is not stored (and evicts
  // nothing).
  cache.store(key("huge", {}), std::string(400 << 10, 'h'));
  EXPECT_EQ(countEntries(dir("c")), 3);
}

TEST_F(JitCacheTest, OnlyAPrivateDirectoryAndRegularFilesAreUsed) {
  // A directory others may write: nothing loaded from it, nothing stored.
  JitCache cache(dir("shared"), 1 << 20);
  std::string k = key("m", {});
  cache.store(k, "object");
  ASSERT_NE(cache.load(k), nullptr);
  ASSERT_EQ(chmod(dir("shared").c_str(), 0777), 0);
  EXPECT_EQ(cache.load(k), nullptr);
  cache.store(key("m2", {}), "object");
  EXPECT_EQ(countEntries(dir("shared")), 1);
  ASSERT_EQ(chmod(dir("shared").c_str(), 0700), 0);
  // An entry that is a link (here to a good entry) is not followed.
  std::string other = key("other", {});
  ASSERT_FALSE(fs::create_link(cache.entryPath(k), cache.entryPath(other)));
  EXPECT_EQ(cache.load(other), nullptr);
  EXPECT_NE(cache.load(k), nullptr);
  // A cache directory that is a link is not used.
  ASSERT_FALSE(fs::create_link(dir("shared"), dir("link")));
  JitCache viaLink(dir("link"), 1 << 20);
  EXPECT_EQ(viaLink.load(k), nullptr);
}

TEST_F(JitCacheTest, DisabledCacheWritesNothing) {
  JitCache off(dir("off"), 0);
  EXPECT_FALSE(off.isEnabled());
  off.store(key("m", {}), "object");
  EXPECT_FALSE(fs::exists(dir("off")));
  JitCache noDirectory("", 1 << 20);
  EXPECT_FALSE(noDirectory.isEnabled());
  EXPECT_EQ(noDirectory.load(key("m", {})), nullptr);
}

TEST_F(JitCacheTest, Environment) {
  // Restores the variables this test changes.
  struct Saved {
    std::vector<std::pair<std::string, std::optional<std::string>>> vars;
    Saved() {
      for (const char *name : {"TOK_JIT_CACHE_DIR", "TOK_JIT_CACHE_MB",
                               "XDG_CACHE_HOME", "HOME"}) {
        const char *v = getenv(name);
        vars.push_back(
            {name, v ? std::optional<std::string>(v) : std::nullopt});
      }
    }
    ~Saved() {
      for (auto &[name, value] : vars)
        if (value)
          setenv(name.c_str(), value->c_str(), 1);
        else
          unsetenv(name.c_str());
    }
  } saved;
  setenv("TOK_JIT_CACHE_DIR", dir("env").c_str(), 1);
  setenv("TOK_JIT_CACHE_MB", "3", 1);
  JitCache fromEnv = JitCache::fromEnvironment();
  EXPECT_TRUE(fromEnv.isEnabled());
  EXPECT_EQ(fromEnv.getDirectory(), dir("env"));
  // 3 MB: an entry of 2 MiB fits, one of 4 MiB does not.
  fromEnv.store(key("a", {}), std::string(2 << 20, 'a'));
  fromEnv.store(key("b", {}), std::string(4 << 20, 'b'));
  EXPECT_EQ(countEntries(dir("env")), 1);
  setenv("TOK_JIT_CACHE_MB", "0", 1);
  EXPECT_FALSE(JitCache::fromEnvironment().isEnabled());
  // Not a number: the default (on).
  setenv("TOK_JIT_CACHE_MB", "-1", 1);
  EXPECT_TRUE(JitCache::fromEnvironment().isEnabled());
  setenv("TOK_JIT_CACHE_DIR", "", 1);
  EXPECT_FALSE(JitCache::fromEnvironment().isEnabled());
  // Without TOK_JIT_CACHE_DIR: under XDG_CACHE_HOME, else HOME.
  unsetenv("TOK_JIT_CACHE_DIR");
  unsetenv("TOK_JIT_CACHE_MB");
  setenv("XDG_CACHE_HOME", "/xdg", 1);
  EXPECT_EQ(JitCache::fromEnvironment().getDirectory(), "/xdg/tok/jit");
  unsetenv("XDG_CACHE_HOME");
  setenv("HOME", "/home/someone", 1);
  EXPECT_EQ(JitCache::fromEnvironment().getDirectory(),
            "/home/someone/.cache/tok/jit");
}

} // namespace
