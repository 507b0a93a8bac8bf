#include "blob/file_blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <vector>

namespace strata::blob {
namespace {

namespace fs = std::filesystem;

constexpr const char* kStagingDir = ".staging";
// Tier sidecars of emulated tiers: <root>/.tiers/<key>.json.
constexpr const char* kTiersDir = ".tiers";

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
    if (start == 0 && part == kTiersDir) return false;
    start = end + 1;
  }
  for (char c : key) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '.' || c == '_' || c == '-' || c == '/';
    if (!ok) return false;
  }
  return true;
}

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The emulated tier state of one object, as kept in its sidecar. An object without a sidecar
// is in the Hot tier (Azure's account default) with no metadata.
struct TierState {
  StorageTier tier = StorageTier::kHot;
  std::map<std::string, std::string> metadata;
  // A pending rehydration out of Archive: the tier it goes to and when it is done.
  std::optional<StorageTier> rehydrate_to;
  int64_t rehydrate_ready_at_ms = 0;
  BlobProtection protection;

  // Why the object may not be deleted or overwritten at `now_ms`; OK when it may.
  Status CheckMutable(const std::string& what, int64_t now_ms) const {
    if (protection.legal_hold) return FailedPrecondition(what + ": the object is under legal hold");
    if (protection.retain_until_ms > now_ms) {
      return FailedPrecondition(what + ": the object is retained until " +
                                std::to_string(protection.retain_until_ms) + " (Unix ms)");
    }
    return OkStatus();
  }

  std::string ToJson() const {
    nlohmann::json j = {{"tier", std::string(StorageTierName(tier))}, {"metadata", metadata}};
    if (rehydrate_to) {
      j["rehydrate_to"] = std::string(StorageTierName(*rehydrate_to));
      j["rehydrate_ready_at_ms"] = rehydrate_ready_at_ms;
    }
    if (protection.retain_until_ms > 0) j["retain_until_ms"] = protection.retain_until_ms;
    if (protection.legal_hold) j["legal_hold"] = true;
    return j.dump();
  }

  static Result<TierState> FromJson(const std::string& text) {
    TierState state;
    try {
      const nlohmann::json j = nlohmann::json::parse(text);
      std::optional<StorageTier> tier = ParseStorageTier(j.at("tier").get<std::string>());
      if (!tier) return DataLoss("unknown tier in " + text);
      state.tier = *tier;
      if (j.contains("metadata")) {
        state.metadata = j.at("metadata").get<std::map<std::string, std::string>>();
      }
      if (j.contains("rehydrate_to")) {
        state.rehydrate_to = ParseStorageTier(j.at("rehydrate_to").get<std::string>());
        if (!state.rehydrate_to) return DataLoss("unknown rehydration tier in " + text);
        state.rehydrate_ready_at_ms = j.at("rehydrate_ready_at_ms").get<int64_t>();
      }
      state.protection.retain_until_ms = j.value("retain_until_ms", int64_t{0});
      state.protection.legal_hold = j.value("legal_hold", false);
    } catch (const std::exception& e) {
      return DataLoss(std::string("malformed tier sidecar: ") + e.what());
    }
    return state;
  }
};

// "rehydrate-pending-to-hot" (Azure's x-ms-archive-status spelling).
std::string PendingStatus(StorageTier to) {
  std::string name(StorageTierName(to));
  for (char& c : name) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return "rehydrate-pending-to-" + name;
}

class FileBlobStore final : public BlobStore {
 public:
  FileBlobStore(std::string root, FileBlobStoreOptions options)
      : root_(std::move(root)), options_(std::move(options)) {}

  Status PutFile(const std::string& key, const std::string& source_path,
                 bool create_only) override {
    if (!options_.emulate_tiers)
      return PutObject(key, source_path, create_only, /*sync_name=*/true);
    return Put(key, source_path, PutOptions{.create_only = create_only});
  }

  // With emulated tiers a put also writes a sidecar, so it stays durable on return.
  Status PutFileUnsyncedName(const std::string& key, const std::string& source_path,
                             bool create_only) override {
    if (options_.emulate_tiers) return PutFile(key, source_path, create_only);
    return PutObject(key, source_path, create_only, /*sync_name=*/false);
  }

  Status SyncNames(const std::vector<std::string>& keys) override {
    if (options_.emulate_tiers) return OkStatus();
    std::set<std::string> dirs;
    for (const auto& key : keys) {
      if (!IsSafeKey(key)) return InvalidArgument("invalid object key '" + key + "'");
      dirs.insert(fs::path(root_ + "/" + key).parent_path().string());
    }
    for (const auto& dir : dirs) STRATA_RETURN_IF_ERROR(FsyncPath(dir, true));
    return OkStatus();
  }

  Status Put(const std::string& key, const std::string& source_path,
             const PutOptions& options) override {
    if (!options_.emulate_tiers) return BlobStore::Put(key, source_path, options);
    if (!options.create_only && IsSafeKey(key)) {
      // Emulates the store's own WORM protection: no overwrite while retained or held.
      std::lock_guard<std::mutex> lock(tier_mutex_);
      STRATA_RETURN_IF_ERROR(CheckMutable(key, "put"));
    }
    // Objects are placed in parallel; until its sidecar is written a new object reads as
    // the default tier.
    STRATA_RETURN_IF_ERROR(PutObject(key, source_path, options.create_only, /*sync_name=*/true));
    std::lock_guard<std::mutex> lock(tier_mutex_);
    // The new object's state replaces whatever an earlier object under the key had (a
    // replacing put, or a sidecar a crash left behind after its object was deleted).
    if (!options.tier && options.metadata.empty()) return RemoveSidecar(key);
    TierState state;
    state.tier = options.tier.value_or(StorageTier::kHot);
    state.metadata = options.metadata;
    return WriteSidecar(key, state);
  }

  Status SetTier(const std::string& key, StorageTier tier) override {
    if (!options_.emulate_tiers) return BlobStore::SetTier(key, tier);
    if (!IsSafeKey(key)) return InvalidArgument("invalid object key '" + key + "'");
    std::lock_guard<std::mutex> lock(tier_mutex_);
    STRATA_ASSIGN_OR_RETURN(TierState state, LoadState(key));
    if (state.rehydrate_to) {
      // As on Azure, a pending rehydration cannot be redirected or cancelled.
      if (tier == *state.rehydrate_to) return OkStatus();
      return FailedPrecondition("set tier '" + key + "': rehydration to " +
                                std::string(StorageTierName(*state.rehydrate_to)) + " is pending");
    }
    if (state.tier == tier) return OkStatus();
    if (state.tier == StorageTier::kArchive) {
      // Moving out of Archive is the rehydration request; the tier changes when it is done.
      state.rehydrate_to = tier;
      state.rehydrate_ready_at_ms = NowMs() + options_.rehydration_delay.count();
    } else {
      state.tier = tier;
    }
    return WriteSidecar(key, state);
  }

  Status SetProtection(const std::string& key, const BlobProtection& protection) override {
    if (!options_.emulate_tiers) return BlobStore::SetProtection(key, protection);
    if (!IsSafeKey(key)) return InvalidArgument("invalid object key '" + key + "'");
    std::lock_guard<std::mutex> lock(tier_mutex_);
    STRATA_ASSIGN_OR_RETURN(TierState state, LoadState(key));
    state.protection = protection;
    return WriteSidecar(key, state);
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
    if (options_.emulate_tiers) STRATA_RETURN_IF_ERROR(CheckReadable(key));
    return std::make_unique<LocalObject>(path, false);
  }

  Result<BlobInfo> Stat(const std::string& key) override {
    if (!IsSafeKey(key)) return InvalidArgument("invalid object key '" + key + "'");
    struct stat st {};
    if (::stat((root_ + "/" + key).c_str(), &st) != 0) return ErrnoStatus("stat " + key, errno);
    BlobInfo info;
    info.size_bytes = static_cast<uint64_t>(st.st_size);
    if (options_.emulate_tiers) {
      std::lock_guard<std::mutex> lock(tier_mutex_);
      STRATA_ASSIGN_OR_RETURN(TierState state, LoadState(key));
      info.tier = state.tier;
      info.metadata = std::move(state.metadata);
      if (state.rehydrate_to) info.archive_status = PendingStatus(*state.rehydrate_to);
      if (state.protection.retain_until_ms > 0) {
        info.retain_until_ms = state.protection.retain_until_ms;
      }
      info.legal_hold = state.protection.legal_hold;
    }
    return info;
  }

  Status Delete(const std::string& key) override {
    if (!IsSafeKey(key)) return InvalidArgument("invalid object key '" + key + "'");
    const std::string path = root_ + "/" + key;
    // The sidecar goes after its object: a crash in between leaves a sidecar without an
    // object, which the next put of the key replaces, never an object without its tier.
    std::unique_lock<std::mutex> lock(tier_mutex_, std::defer_lock);
    if (options_.emulate_tiers) {
      lock.lock();
      STRATA_RETURN_IF_ERROR(CheckMutable(key, "delete"));
    }
    if (::unlink(path.c_str()) != 0) {
      if (errno != ENOENT) return ErrnoStatus("delete " + key, errno);
    } else {
      STRATA_RETURN_IF_ERROR(FsyncPath(fs::path(path).parent_path().string(), true));
    }
    return options_.emulate_tiers ? RemoveSidecar(key) : OkStatus();
  }

  Status List(const std::string& prefix,
              const std::function<void(const std::string&)>& fn) override {
    std::error_code ec;
    fs::recursive_directory_iterator it(root_, ec), end;
    if (ec) return Unavailable("list " + root_ + ": " + ec.message());
    for (; it != end; it.increment(ec)) {
      if (ec) return Unavailable("list " + root_ + ": " + ec.message());
      if (it->is_directory() && (it->path().filename() == kStagingDir ||
                                 (it.depth() == 0 && it->path().filename() == kTiersDir))) {
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
  // Stores the file at `key` (PutFile without tiers); its directory is flushed only with
  // `sync_name` (otherwise SyncNames does it).
  Status PutObject(const std::string& key, const std::string& source_path, bool create_only,
                   bool sync_name) {
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
    return sync_name ? FsyncPath(dir, true) : OkStatus();
  }

  int64_t NowMs() const { return options_.now_ms ? options_.now_ms() : SystemNowMs(); }

  // Emulates the store's own WORM protection: OK when `key` may be deleted or overwritten
  // (also when it does not exist). REQUIRES: tier_mutex_ held.
  Status CheckMutable(const std::string& key, const std::string& operation) {
    Result<TierState> state = LoadState(key);
    if (state.status().code() == StatusCode::kNotFound) return OkStatus();
    if (!state.ok()) return state.status();
    return state->CheckMutable(operation + " '" + key + "'", NowMs());
  }

  std::string SidecarPath(const std::string& key) const {
    return root_ + "/" + kTiersDir + "/" + key + ".json";
  }

  // The object's tier state, with a rehydration whose time has come completed (and saved).
  // kNotFound if the object does not exist. REQUIRES: tier_mutex_ held.
  Result<TierState> LoadState(const std::string& key) {
    if (::access((root_ + "/" + key).c_str(), F_OK) != 0) return ErrnoStatus("stat " + key, errno);
    TierState state;
    const std::string sidecar = SidecarPath(key);
    if (::access(sidecar.c_str(), F_OK) == 0) {
      std::ifstream in(sidecar, std::ios::binary);
      std::ostringstream text;
      text << in.rdbuf();
      if (!in) return Unavailable("read tier of '" + key + "': " + std::strerror(errno));
      STRATA_ASSIGN_OR_RETURN(state, TierState::FromJson(text.str()));
    } else if (errno != ENOENT) {
      return ErrnoStatus("read tier of '" + key + "'", errno);
    }
    if (state.rehydrate_to && NowMs() >= state.rehydrate_ready_at_ms) {
      state.tier = *state.rehydrate_to;
      state.rehydrate_to.reset();
      state.rehydrate_ready_at_ms = 0;
      STRATA_RETURN_IF_ERROR(WriteSidecar(key, state));
    }
    return state;
  }

  // OK unless the object is in the Archive tier: then kUnavailable with a retry hint, having
  // started a rehydration to Hot if none is pending.
  Status CheckReadable(const std::string& key) {
    std::lock_guard<std::mutex> lock(tier_mutex_);
    STRATA_ASSIGN_OR_RETURN(TierState state, LoadState(key));
    if (state.tier != StorageTier::kArchive) return OkStatus();
    const int64_t now = NowMs();
    std::string what = "rehydration to " +
                       std::string(StorageTierName(state.rehydrate_to.value_or(StorageTier::kHot)));
    if (!state.rehydrate_to) {
      state.rehydrate_to = StorageTier::kHot;
      state.rehydrate_ready_at_ms = now + options_.rehydration_delay.count();
      STRATA_RETURN_IF_ERROR(WriteSidecar(key, state));
      what += " started";
    } else {
      what += " pending";
    }
    const int64_t remaining_ms = std::max<int64_t>(0, state.rehydrate_ready_at_ms - now);
    const int64_t seconds = (remaining_ms + 999) / 1000;
    return Unavailable("object " + key + " is in the Archive tier; " + what + ", ready in about " +
                       std::to_string(seconds) + " s")
        .WithRetryAfter(std::chrono::seconds(seconds));
  }

  // Replaces the sidecar atomically: written beside it, fsynced, renamed, directory fsynced.
  // REQUIRES: tier_mutex_ held.
  Status WriteSidecar(const std::string& key, const TierState& state) {
    const std::string path = SidecarPath(key);
    const std::string dir = fs::path(path).parent_path().string();
    STRATA_RETURN_IF_ERROR(MakeDirsDurably(dir));
    const std::string temp = path + ".tmp";
    {
      std::ofstream out(temp, std::ios::binary | std::ios::trunc);
      out << state.ToJson();
      out.flush();
      if (!out) return Unavailable("write tier of '" + key + "': " + std::strerror(errno));
    }
    STRATA_RETURN_IF_ERROR(FsyncPath(temp, false));
    if (::rename(temp.c_str(), path.c_str()) != 0) {
      int err = errno;
      ::unlink(temp.c_str());
      return ErrnoStatus("write tier of '" + key + "'", err);
    }
    return FsyncPath(dir, true);
  }

  // REQUIRES: tier_mutex_ held.
  Status RemoveSidecar(const std::string& key) {
    const std::string path = SidecarPath(key);
    if (::unlink(path.c_str()) != 0) {
      return errno == ENOENT ? OkStatus() : ErrnoStatus("delete tier of '" + key + "'", errno);
    }
    return FsyncPath(fs::path(path).parent_path().string(), true);
  }

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
  const FileBlobStoreOptions options_;
  std::vector<std::string> leftovers_;  // set once by Init
  // Serialises reads and writes of tier sidecars (emulated tiers only).
  std::mutex tier_mutex_;
};

}  // namespace

Result<std::unique_ptr<BlobStore>> OpenFileBlobStore(const std::string& root) {
  return OpenFileBlobStore(root, FileBlobStoreOptions{});
}

Result<std::unique_ptr<BlobStore>> OpenFileBlobStore(const std::string& root,
                                                     FileBlobStoreOptions options) {
  if (options.emulate_tiers && options.rehydration_delay.count() < 0) {
    return InvalidArgument("rehydration delay must not be negative");
  }
  auto store = std::make_unique<FileBlobStore>(root, std::move(options));
  STRATA_RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<BlobStore>(std::move(store));
}

}  // namespace strata::blob
