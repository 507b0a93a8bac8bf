// disk_flush_bench: what one durable object costs this disk, by how its flushes are arranged.
//
//   disk_flush_bench [--dir DIR] [--objects N] [--bytes B] [--rounds R]
//
// Writes N objects of B bytes (default 400 of 573,440: the mixed set's mean) in DIR (default:
// a new folder under the current one, removed afterwards) in six ways, each ending with an
// 8 KiB write to a log file and its fdatasync, as a catalog commit does:
//
//   committed  a new file, fsync, link under its key, fsync of the key's directory (Strata's
//              ingest today: three flushes per acknowledged object);
//   no_dir     the same without the directory's fsync (two flushes; the name is not durable);
//   syncfs     a new file linked under its key, both made durable by one syncfs of the file
//              system (two flushes: syncfs and the log's; the name is durable too);
//   syncfs_x4  the same for four objects at a time, one syncfs and one log flush for the four
//              (what four associations sharing a group commit would cost);
//   in_place   an overwrite of a file written with zeros and fsynced beforehand, fdatasync
//              (two flushes, no block allocation at acknowledgement time);
//   one_flush  the same overwrite, written to the device with sync_file_range and made durable
//              by the log's flush alone (one flush; it relies on the overwrite needing no
//              metadata, which holds on ext4 and XFS, not on copy-on-write file systems).
//
// Prints ms per object for each way, and its ratio to `committed`, per round, then one JSON
// line. It measures the disk, not Strata: what a different arrangement of ingest's flushes
// could save on this machine before anyone builds it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace {

// The arrangements, in the order printed; kWayNames matches.
enum class Way { kCommitted, kNoDir, kSyncfs, kSyncfsX4, kInPlace, kOneFlush };
constexpr Way kWays[] = {Way::kCommitted, Way::kNoDir,   Way::kSyncfs,
                         Way::kSyncfsX4,  Way::kInPlace, Way::kOneFlush};
constexpr const char* kWayNames[] = {"committed", "no_dir",   "syncfs",
                                     "syncfs_x4", "in_place", "one_flush"};

const char* Name(Way way) { return kWayNames[static_cast<int>(way)]; }

struct Args {
  std::string dir;
  int objects = 400;
  size_t bytes = 573440;
  int rounds = 3;
};

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "disk_flush_bench: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

void Check(bool ok, const std::string& what) {
  if (!ok) Fail(what);
}

void WriteAll(int fd, const std::vector<char>& data, const std::string& what) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(done));
    Check(n > 0, "write " + what);
    done += static_cast<size_t>(n);
  }
}

void FsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  Check(fd >= 0, "open " + dir);
  Check(::fsync(fd) == 0, "fsync " + dir);
  ::close(fd);
}

class Bench {
 public:
  Bench(const Args& args, std::string dir)
      : args_(args), dir_(std::move(dir)), data_(args.bytes, '\x5a'), record_(8192, '\x01') {
    log_fd_ = ::open((dir_ + "/log").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    Check(log_fd_ >= 0, "open log");
  }
  ~Bench() { ::close(log_fd_); }

  // ms per object of one way, on fresh folders.
  double Run(Way way, int round) {
    const std::string base = dir_ + "/" + Name(way) + "-" + std::to_string(round);
    Check(::mkdir(base.c_str(), 0755) == 0 && ::mkdir((base + "/keys").c_str(), 0755) == 0,
          "mkdir " + base);
    FsyncDir(base);
    FsyncDir(dir_);
    const bool new_files = way != Way::kInPlace && way != Way::kOneFlush;
    // The last object of each group (and the last of all) carries the group's flushes.
    const int group = way == Way::kSyncfsX4 ? 4 : 1;
    if (!new_files) Preallocate(base);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < args_.objects; ++i) {
      const bool last_of_group = (i + 1) % group == 0 || i + 1 == args_.objects;
      if (new_files) {
        WriteNewFile(way, base, std::to_string(i), last_of_group);
      } else {
        OverwriteSlot(way, base + "/slot-" + std::to_string(i));
      }
      if (!last_of_group) continue;
      Check(::pwrite(log_fd_, record_.data(), record_.size(),
                     static_cast<off_t>((i % 128) * record_.size())) ==
                static_cast<ssize_t>(record_.size()),
            "write log");
      Check(::fdatasync(log_fd_) == 0, "fdatasync log");
    }
    const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
    std::filesystem::remove_all(base);
    return took.count() / args_.objects;
  }

 private:
  // committed, no_dir, syncfs and syncfs_x4: a new file, linked under its key.
  void WriteNewFile(Way way, const std::string& base, const std::string& name, bool last_of_group) {
    const std::string staged = base + "/staged-" + name;
    int fd = ::open(staged.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    Check(fd >= 0, "open " + staged);
    WriteAll(fd, data_, staged);
    const bool by_syncfs = way == Way::kSyncfs || way == Way::kSyncfsX4;
    if (!by_syncfs) Check(::fsync(fd) == 0, "fsync " + staged);
    Check(::link(staged.c_str(), (base + "/keys/" + name).c_str()) == 0, "link " + staged);
    if (way == Way::kCommitted) FsyncDir(base + "/keys");
    if (by_syncfs && last_of_group) Check(::syncfs(fd) == 0, "syncfs " + staged);
    ::close(fd);
    ::unlink(staged.c_str());
  }

  // in_place and one_flush: an overwrite of a slot Preallocate wrote.
  void OverwriteSlot(Way way, const std::string& slot) {
    int fd = ::open(slot.c_str(), O_WRONLY | O_CLOEXEC);
    Check(fd >= 0, "open " + slot);
    WriteAll(fd, data_, slot);
    if (way == Way::kInPlace) {
      Check(::fdatasync(fd) == 0, "fdatasync " + slot);
    } else {
      Check(::sync_file_range(fd, 0, 0,
                              SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                  SYNC_FILE_RANGE_WAIT_AFTER) == 0,
            "sync_file_range " + slot);
    }
    ::close(fd);
  }

  // The slots of in_place and one_flush: written with zeros and flushed, names flushed, untimed.
  void Preallocate(const std::string& base) {
    const std::vector<char> zeros(args_.bytes, '\0');
    for (int i = 0; i < args_.objects; ++i) {
      const std::string slot = base + "/slot-" + std::to_string(i);
      int fd = ::open(slot.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
      Check(fd >= 0, "open " + slot);
      WriteAll(fd, zeros, slot);
      Check(::fsync(fd) == 0, "fsync " + slot);
      ::close(fd);
    }
    FsyncDir(base);
  }

  const Args args_;
  const std::string dir_;
  const std::vector<char> data_;
  const std::vector<char> record_;
  int log_fd_ = -1;
};

bool ParseArgs(int argc, char** argv, Args* args) {
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 >= argc) return false;
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    char* end = nullptr;
    const long number = std::strtol(value, &end, 10);
    const bool numeric = end != value && *end == '\0' && number > 0;
    if (flag == "--dir") {
      args->dir = value;
    } else if (flag == "--objects" && numeric && number <= 100000) {
      args->objects = static_cast<int>(number);
    } else if (flag == "--bytes" && numeric && number <= (1L << 30)) {
      args->bytes = static_cast<size_t>(number);
    } else if (flag == "--rounds" && numeric && number <= 100) {
      args->rounds = static_cast<int>(number);
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!ParseArgs(argc, argv, &args)) {
    std::fprintf(stderr,
                 "usage: disk_flush_bench [--dir DIR] [--objects N] [--bytes B] [--rounds R]\n");
    return 2;
  }
  std::string dir = args.dir;
  if (dir.empty()) {
    char pattern[] = "disk-flush-bench-XXXXXX";
    Check(::mkdtemp(pattern) != nullptr, "mkdtemp");
    dir = pattern;
  } else {
    dir += "/disk-flush-bench";
    Check(::mkdir(dir.c_str(), 0755) == 0, "mkdir " + dir);
  }
  std::map<std::string, std::vector<double>> ms;
  {
    Bench bench(args, dir);
    for (int round = 0; round < args.rounds; ++round) {
      std::printf("round %d:", round + 1);
      for (Way way : kWays) ms[Name(way)].push_back(bench.Run(way, round));
      for (Way way : kWays) {
        std::printf("  %s %.3f ms (x%.2f)", Name(way), ms[Name(way)].back(),
                    ms[Name(way)].back() / ms[Name(Way::kCommitted)].back());
      }
      std::printf("\n");
      std::fflush(stdout);
    }
  }
  std::filesystem::remove_all(dir);
  nlohmann::json out = {{"objects", args.objects}, {"bytes", args.bytes}, {"ms_per_object", ms}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
