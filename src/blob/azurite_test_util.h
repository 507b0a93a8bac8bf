// Test helpers for the Azure back end: an Azurite process on a free loopback port, and a
// fault-injecting TCP relay in front of it. Test-only code (linked into test binaries).
//
// Thread-safety: Azurite is used from one thread; FaultProxy serves each connection on its
// own thread and its fault switches are atomics, safe to flip from the test thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace strata::blob {

// A loopback TCP port that was free a moment ago.
int FreeLoopbackPort();

// Azurite's blob service, in memory, started from <repo_root>/node_modules/.bin/azurite-blob
// (installed by tools/setup.sh) and stopped by its PID.
class Azurite {
 public:
  ~Azurite() { Stop(); }
  // Empty on success, else why it could not start (missing binary, early exit, no port).
  std::string Start(const std::string& repo_root);
  // SIGTERM, then SIGKILL after 5 s; removes its working folder. Idempotent.
  void Stop();
  int port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::filesystem::path workdir_;
};

// A loopback TCP relay to 127.0.0.1:upstream_port that can, per new connection (clients that
// keep connections open see a fault only on their next new one), answer
// "503 ServerBusy, Retry-After: 1" instead of forwarding, or flip the first body byte of the
// next request or response. All connection threads are joined on destruction.
class FaultProxy {
 public:
  explicit FaultProxy(int upstream_port);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const { return port_; }

  std::atomic<int> fail_next_with_503{0};  // connections still to be answered with 503
  std::atomic<bool> corrupt_next_request_body{false};
  std::atomic<bool> corrupt_next_response_body{false};
  std::atomic<int> answered_503{0};

 private:
  void AcceptLoop();
  void Serve(int client);
  void Answer503(int client);

  const int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> connections_;  // GUARDED_BY(mutex_)
};

}  // namespace strata::blob
