#include "blob/file_blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <vector>

namespace strata::blob {
namespace {

namespace fs = std::filesystem;

constexpr const char* kStagingDir = ".staging";

Status ErrnoStatus(const std::string& what, int err) {
  std::string msg = what + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) return ResourceExhausted(msg);
  if (err == ENOENT) return NotFound(msg);
  if (err == EEXIST) return AlreadyExists(msg);
  return Unavailable(msg);
}

Status FsyncPath(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open " + path, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus("fsync " + path, err);
  return OkStatus();
}

// Keys are relative paths of safe characters; anything that could escape the root is refused.
bool IsSafeKey(const std::string& key) {
  if (key.empty() || key.front() == '/' || key.size() > 1024) return false;
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string::npos) end = key.size();
    std::string part = key.substr(start, end - start);
    if (part.empty() || part == "." || part == ".." || part == kStagingDir) return false;
    start = end + 1;
  }
  for (char c : key) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '.' || c == '_' || c == '-' || c == '/';
    if (!ok) return false;
  }
  return true;
}

class FileBlobStore final : public BlobStore {
 public:
  explicit FileBlobStore(std::string root) : root_(std::move(root)) {}

  Status PutFile(const std::string& key, const std::string& source_path,
                 bool create_only) override {
    if (!IsSafeKey(key)) return InvalidArgument("invalid object key '" + key + "'");
    const std::string target = root_ + "/" + key;
    const std::string dir = fs::path(target).parent_path().string();
    STRATA_RETURN_IF_ERROR(MakeDirsDurably(dir));
    STRATA_RETURN_IF_ERROR(FsyncPath(source_path, false));
    if (create_only) {
      // link() fails with EEXIST atomically: two writers of one key cannot both win.
      if (::link(source_path.c_str(), target.c_str()) != 0) {
        return ErrnoStatus("store " + key, errno);
      }
    } else {
      // Replace atomically: link under a temporary name, then rename over the key.
      const std::string temp = target + ".replacing";
      ::unlink(temp.c_str());
      if (::link(source_path.c_str(), temp.c_str()) != 0) return ErrnoStatus("store " + key, errno);
      if (::rename(temp.c_str(), target.c_str()) != 0) {
        int err = errno;
        ::unlink(temp.c_str());
        return ErrnoStatus("store " + key, err);
      }
    }
    return FsyncPath(dir, true);
  }

  std::vector<std::string> StagedLeftovers() override { return leftovers_; }

  Result<std::string> StagingPath() override {
    static std::atomic<uint64_t> counter{0};
    thread_local std::mt19937_64 rng{std::random_device{}()};
    char name[64];
    std::snprintf(name, sizeof name, "%d-%llu-%016llx.part", static_cast<int>(::getpid()),
                  static_cast<unsigned long long>(counter.fetch_add(1)),
                  static_cast<unsigned long long>(rng()));
    return root_ + "/" + kStagingDir + "/" + name;
  }

  Result<std::unique_ptr<LocalObject>> Open(const std::string& key) override {
    if (!IsSafeKey(key)) return InvalidArgument("invalid object key '" + key + "'");
    std::string path = root_ + "/" + key;
    if (::access(path.c_str(), R_OK) != 0) return ErrnoStatus("open " + key, errno);
    return std::make_unique<LocalObject>(path, false);
  }

  Result<BlobInfo> Stat(const std::string& key) override {
    if (!IsSafeKey(key)) return InvalidArgument("invalid object key '" + key + "'");
    struct stat st {};
    if (::stat((root_ + "/" + key).c_str(), &st) != 0) return ErrnoStatus("stat " + key, errno);
    BlobInfo info;
    info.size_bytes = static_cast<uint64_t>(st.st_size);
    return info;
  }

  Status Delete(const std::string& key) override {
    if (!IsSafeKey(key)) return InvalidArgument("invalid object key '" + key + "'");
    const std::string path = root_ + "/" + key;
    if (::unlink(path.c_str()) != 0) {
      return errno == ENOENT ? OkStatus() : ErrnoStatus("delete " + key, errno);
    }
    return FsyncPath(fs::path(path).parent_path().string(), true);
  }

  Status List(const std::string& prefix,
              const std::function<void(const std::string&)>& fn) override {
    std::error_code ec;
    fs::recursive_directory_iterator it(root_, ec), end;
    if (ec) return Unavailable("list " + root_ + ": " + ec.message());
    for (; it != end; it.increment(ec)) {
      if (ec) return Unavailable("list " + root_ + ": " + ec.message());
      if (it->is_directory() && it->path().filename() == kStagingDir) {
        it.disable_recursion_pending();
        continue;
      }
      if (!it->is_regular_file()) continue;
      std::string key = fs::relative(it->path(), root_).string();
      if (key.rfind(prefix, 0) == 0) fn(key);
    }
    return OkStatus();
  }

  Result<uint64_t> FreeBytes() override {
    struct statvfs vfs {};
    if (::statvfs(root_.c_str(), &vfs) != 0) return ErrnoStatus("statvfs " + root_, errno);
    return static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  }

  Status Init() {
    STRATA_RETURN_IF_ERROR(MakeDirsDurably(root_ + "/" + kStagingDir));
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root_ + "/" + kStagingDir, ec)) {
      leftovers_.push_back(entry.path().string());
    }
    return OkStatus();
  }

 private:
  // Creates missing directories of `dir`, fsyncing the parent of each new one so that the
  // new entries survive a crash along with the objects stored in them.
  static Status MakeDirsDurably(const std::string& dir) {
    fs::path path(dir);
    std::vector<fs::path> missing;
    for (fs::path p = path; !p.empty() && ::access(p.c_str(), F_OK) != 0; p = p.parent_path()) {
      missing.push_back(p);
      if (p == p.parent_path()) break;
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
      if (::mkdir(it->c_str(), 0755) != 0 && errno != EEXIST) {
        return ErrnoStatus("create " + it->string(), errno);
      }
      fs::path parent = it->parent_path();
      STRATA_RETURN_IF_ERROR(FsyncPath(parent.empty() ? "." : parent.string(), true));
    }
    return OkStatus();
  }

  const std::string root_;
  std::vector<std::string> leftovers_;  // set once by Init
};

}  // namespace

Result<std::unique_ptr<BlobStore>> OpenFileBlobStore(const std::string& root) {
  auto store = std::make_unique<FileBlobStore>(root);
  STRATA_RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<BlobStore>(std::move(store));
}

}  // namespace strata::blob
