//===- JitCache.cpp - compiled modules kept on disk between runs ----------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Driver/JitCache.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Support/xxhash.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <link.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <vector>

using namespace mlir::tok;
using llvm::SmallString;
namespace fs = llvm::sys::fs;

namespace {

constexpr uint64_t kDefaultMegabytes = 1024;
/// Entry layout: magic, object size, object checksum, key, object.
constexpr llvm::StringLiteral kMagic = "TOKJIT01";
constexpr size_t kKeySize = 32;
constexpr size_t kHeaderSize = 8 + 8 + 8 + kKeySize;
constexpr llvm::StringLiteral kSuffix = ".tokjit";

std::string hex128(llvm::XXH128_hash_t h) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << llvm::format_hex_no_prefix(h.high64, 16)
     << llvm::format_hex_no_prefix(h.low64, 16);
  return s;
}

/// The hash of this executable's bytes, or "" where it cannot be read.
const std::string &executableHash() {
  static const std::string hash = [] {
    static int anchor;
    std::string exe = fs::getMainExecutable(nullptr, &anchor);
    auto buffer = llvm::MemoryBuffer::getFile(exe, /*IsText=*/false,
                                              /*RequiresNullTerminator=*/false);
    if (!buffer)
      return std::string();
    return hex128(llvm::xxh3_128bits(
        llvm::arrayRefFromStringRef((*buffer)->getBuffer())));
  }();
  return hash;
}

/// The shared objects this process has loaded (libLLVM, libMLIR, libc, ...),
/// each by path, size and modification time: a library upgraded in place
/// keeps its name but may generate other code.
std::string loadedLibraries() {
  std::string list;
  dl_iterate_phdr(
      [](struct dl_phdr_info *info, size_t, void *data) {
        auto &out = *static_cast<std::string *>(data);
        struct stat st;
        if (info->dlpi_name && *info->dlpi_name &&
            ::stat(info->dlpi_name, &st) == 0)
          out += std::string(info->dlpi_name) + " " +
                 std::to_string(st.st_size) + " " +
                 std::to_string(st.st_mtim.tv_sec) + "." +
                 std::to_string(st.st_mtim.tv_nsec) + "\n";
        return 0;
      },
      &list);
  return list;
}

/// Whether `directory` may hold code this process runs: a directory (not
/// a link) owned by this user that no one else can write. One that does
/// not exist yet is created so (owner only). Reported once if not.
bool isPrivateDirectory(const std::string &directory) {
  struct stat st;
  if (::lstat(directory.c_str(), &st) != 0)
    return true;
  if (S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() &&
      !(st.st_mode & (S_IWGRP | S_IWOTH)))
    return true;
  static std::atomic<bool> warned{false};
  if (!warned.exchange(true))
    llvm::errs() << "tok-run: not using the JIT cache " << directory
                 << ": it must be a directory of yours that no one else can "
                    "write\n";
  return false;
}

/// Reports a failure to write the cache, once per process.
void warnStoreFailed(llvm::StringRef path, const std::error_code &ec) {
  static std::atomic<bool> warned{false};
  if (warned.exchange(true))
    return;
  llvm::errs() << "tok-run: cannot write the JIT cache entry " << path << ": "
               << ec.message() << " (compiling without the cache)\n";
}

} // namespace

JitCache JitCache::fromEnvironment() {
  uint64_t megabytes = kDefaultMegabytes;
  if (const char *value = std::getenv("TOK_JIT_CACHE_MB")) {
    uint64_t parsed;
    // At most 1 TiB; anything else is a mistake worth saying.
    if (llvm::StringRef(value).trim().getAsInteger(10, parsed) ||
        parsed > (uint64_t(1) << 20))
      llvm::errs() << "tok-run: TOK_JIT_CACHE_MB='" << value
                   << "' is not a number of megabytes from 0 to 1048576; "
                      "using "
                   << kDefaultMegabytes << "\n";
    else
      megabytes = parsed;
  }
  std::string directory;
  if (const char *dir = std::getenv("TOK_JIT_CACHE_DIR")) {
    directory = dir; // "" turns the cache off
  } else {
    SmallString<256> path;
    const char *xdg = std::getenv("XDG_CACHE_HOME");
    const char *home = std::getenv("HOME");
    if (xdg && *xdg)
      llvm::sys::path::append(path, xdg, "tok", "jit");
    else if (home && *home)
      llvm::sys::path::append(path, home, ".cache", "tok", "jit");
    directory = std::string(path);
  }
  return JitCache(std::move(directory), megabytes << 20);
}

std::string JitCache::makeKey(llvm::StringRef moduleText,
                              llvm::ArrayRef<std::string> parts) {
  const std::string &exe = executableHash();
  if (exe.empty())
    return {};
  std::string all;
  all.reserve(moduleText.size() + 256);
  all += "tok-jit-cache v1\n";
  all += exe;
  all += "\nLLVM " LLVM_VERSION_STRING "\n";
  all += loadedLibraries();
  for (const std::string &part : parts) {
    all += part;
    all += '\0';
  }
  all += moduleText;
  return hex128(llvm::xxh3_128bits(llvm::arrayRefFromStringRef(all)));
}

std::string JitCache::entryPath(llvm::StringRef key) const {
  SmallString<256> path(directory);
  llvm::sys::path::append(path, key + kSuffix);
  return std::string(path);
}

std::unique_ptr<llvm::MemoryBuffer> JitCache::load(llvm::StringRef key) const {
  if (!isEnabled() || key.size() != kKeySize ||
      key.find_first_not_of("0123456789abcdef") != llvm::StringRef::npos ||
      !isPrivateDirectory(directory))
    return nullptr;
  std::string path = entryPath(key);
  // A regular file of this user's, not a link (nor a FIFO that would block).
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return nullptr;
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      st.st_uid != ::geteuid()) {
    ::close(fd);
    return nullptr;
  }
  auto file = llvm::MemoryBuffer::getOpenFile(fs::convertFDToNativeFile(fd),
                                              path, st.st_size,
                                              /*RequiresNullTerminator=*/false);
  ::close(fd);
  if (!file)
    return nullptr;
  llvm::StringRef data = (*file)->getBuffer();
  bool intact = data.size() >= kHeaderSize && data.starts_with(kMagic);
  if (intact) {
    uint64_t size = llvm::support::endian::read64le(data.data() + 8);
    uint64_t sum = llvm::support::endian::read64le(data.data() + 16);
    llvm::StringRef storedKey = data.substr(24, kKeySize);
    llvm::StringRef object = data.substr(kHeaderSize);
    intact = storedKey == key && object.size() == size &&
             llvm::xxh3_64bits(object) == sum;
  }
  if (!intact) {
    llvm::errs() << "tok-run: ignoring the damaged JIT cache entry " << path
                 << "\n";
    // Unless another process has put a new entry there since.
    struct stat now;
    if (::lstat(path.c_str(), &now) == 0 && now.st_ino == st.st_ino &&
        now.st_dev == st.st_dev)
      fs::remove(path);
    return nullptr;
  }
  // Recently used: trim() removes the oldest entries first.
  ::utimes(path.c_str(), nullptr);
  return llvm::MemoryBuffer::getMemBufferCopy(data.substr(kHeaderSize),
                                              "tok-jit-cache:" + key.str());
}

void JitCache::store(llvm::StringRef key, llvm::StringRef object) const {
  if (!isEnabled() || key.size() != kKeySize ||
      object.size() + kHeaderSize > capacity)
    return;
  std::string path = entryPath(key);
  if (std::error_code ec = fs::create_directories(
          directory, /*IgnoreExisting=*/true, fs::perms::owner_all)) {
    warnStoreFailed(path, ec);
    return;
  }
  if (!isPrivateDirectory(directory))
    return;
  // Written aside and renamed: a concurrent reader sees all or nothing.
  SmallString<256> temp;
  int fd;
  if (std::error_code ec = fs::createUniqueFile(
          path + ".tmp%%%%%%%%", fd, temp, fs::OF_None,
          fs::perms::owner_read | fs::perms::owner_write)) {
    warnStoreFailed(path, ec);
    return;
  }
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    char word[8];
    os << kMagic;
    llvm::support::endian::write64le(word, object.size());
    os.write(word, 8);
    llvm::support::endian::write64le(word, llvm::xxh3_64bits(object));
    os.write(word, 8);
    os << key << object;
    os.close();
    if (os.has_error()) {
      std::error_code error = os.error();
      os.clear_error();
      fs::remove(temp);
      warnStoreFailed(path, error);
      return;
    }
  }
  if (std::error_code ec = fs::rename(temp, path)) {
    fs::remove(temp);
    warnStoreFailed(path, ec);
    return;
  }
  trim(path);
}

void JitCache::trim(llvm::StringRef keep) const {
  struct Entry {
    std::string path;
    uint64_t size;
    llvm::sys::TimePoint<> used;
  };
  std::vector<Entry> entries;
  uint64_t total = 0;
  std::error_code ec;
  for (fs::directory_iterator it(directory, ec), end; it != end && !ec;
       it.increment(ec)) {
    llvm::StringRef name = llvm::sys::path::filename(it->path());
    fs::file_status status;
    if (fs::status(it->path(), status, /*Follow=*/false))
      continue;
    // A temporary file an interrupted run left behind (an hour is far
    // longer than any write takes).
    if (name.contains(".tokjit.tmp")) {
      if (std::chrono::system_clock::now() - status.getLastModificationTime() >
          std::chrono::hours(1))
        fs::remove(it->path());
      continue;
    }
    if (!name.ends_with(kSuffix))
      continue;
    entries.push_back(
        {it->path(), status.getSize(), status.getLastModificationTime()});
    total += status.getSize();
  }
  if (total <= capacity)
    return;
  llvm::sort(entries,
             [](const Entry &a, const Entry &b) { return a.used < b.used; });
  for (const Entry &entry : entries) {
    if (total <= capacity)
      break;
    if (entry.path == keep)
      continue;
    if (!fs::remove(entry.path))
      total -= entry.size;
  }
}
