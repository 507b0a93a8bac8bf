// DimseServer over DCMTK: our own listening socket (DCMTK's binds every interface), one thread
// per connection, association handling in association.cc.
#include "dimse/dimse_server.h"

#include <arpa/inet.h>
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmnet/dul.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <thread>

#include "core/log.h"
#include "dicom/transcode.h"
#include "dimse/association.h"
#include "dimse/scp.h"

namespace strata::dimse {
namespace {

// One connection's thread; `done` is set as its last action so the acceptor can join it.
struct Worker {
  std::thread thread;
  std::atomic<bool> done{false};
};

void SetNoDelay(int fd) {
  int one = 1;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

class DcmtkDimseServer : public DimseServer {
 public:
  DcmtkDimseServer(const DimseServerOptions& options, ingest::IngestService& ingest,
                   catalog::Catalog& catalog, blob::BlobStore& blobs, audit::AuditLog& audit) {
    context_.options = options;
    context_.ingest = &ingest;
    context_.catalog = &catalog;
    context_.blobs = &blobs;
    context_.audit = &audit;
  }
  ~DcmtkDimseServer() override { Stop(); }

  Status Start() override {
    if (listen_fd_ >= 0 || stopped_) {
      return FailedPrecondition("DIMSE server already started (a server runs once)");
    }
    // DCMTK sets TCP_NODELAY on sockets it opens itself (C-MOVE sub-associations) only when
    // this is set; accepted sockets get it below.
    // setenv is not thread-safe: Start runs during start-up, before other threads read the
    // environment.
    setenv("TCP_NODELAY", "1", /*overwrite=*/1);
    dcmDisableGethostbyaddr.set(OFTrue);
    // Bounds connect() to C-MOVE destinations (DCMTK's default blocks indefinitely).
    dcmConnectionTimeout.set(context_.options.acse_timeout_seconds);
    dicom::RegisterTranscodeCodecs();

    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(context_.options.port);
    if (inet_pton(AF_INET, context_.options.bind_address.c_str(), &addr.sin_addr) != 1) {
      return InvalidArgument("dimse bind address is not an IPv4 address: " +
                             context_.options.bind_address);
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Unavailable(std::string("socket: ") + std::strerror(errno));
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 64) != 0) {
      const std::string error = std::strerror(errno);
      close(fd);
      return Unavailable("cannot listen on " + context_.options.bind_address + ":" +
                         std::to_string(context_.options.port) + ": " + error);
    }
    socklen_t len = sizeof(addr);
    (void)getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    wake_fd_ = eventfd(0, EFD_CLOEXEC);
    if (wake_fd_ < 0) {
      close(fd);
      return Unavailable(std::string("eventfd: ") + std::strerror(errno));
    }
    listen_fd_ = fd;
    context_.stopping = false;
    acceptor_ = std::thread([this] { AcceptLoop(); });
    log::Info("dimse_listening", {{"ae_title", context_.options.ae_title},
                                  {"bind", context_.options.bind_address},
                                  {"port", static_cast<int64_t>(port_)}});
    return OkStatus();
  }

  uint16_t port() const override { return port_; }

  void Stop() override {
    if (listen_fd_ < 0) return;
    context_.stopping = true;
    uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
    acceptor_.join();
    registry_.ShutdownAll();
    for (auto& worker : workers_) worker->thread.join();
    workers_.clear();
    close(listen_fd_);
    close(wake_fd_);
    listen_fd_ = -1;
    wake_fd_ = -1;
    stopped_ = true;
    log::Info("dimse_stopped", {{"port", static_cast<int64_t>(port_)}});
  }

 private:
  void ReapWorkers() {
    for (auto it = workers_.begin(); it != workers_.end();) {
      if ((*it)->done) {
        (*it)->thread.join();
        it = workers_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void AcceptLoop() {
    // Connections beyond this are closed at once; up to it, the association thread answers
    // with an A-ASSOCIATE-RJ "local limit exceeded" when max_associations are running.
    const size_t max_connections = static_cast<size_t>(context_.options.max_associations) * 2 + 8;
    while (!context_.stopping) {
      pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      const int n = poll(fds, 2, 1000);
      ReapWorkers();
      if (n < 0 && errno != EINTR) {
        log::Error("dimse_poll_failed", {{"reason", std::string(std::strerror(errno))}});
        break;
      }
      if (n <= 0 || (fds[1].revents & POLLIN) || !(fds[0].revents & POLLIN)) continue;
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
          log::Warn("dimse_accept_failed", {{"reason", std::string(std::strerror(errno))}});
          // Out of descriptors and the like: back off rather than spin.
          usleep(100 * 1000);
        }
        continue;
      }
      SetNoDelay(fd);
      if (workers_.size() >= max_connections) {
        log::Warn("dimse_connection_refused", {{"reason", std::string("too many connections")}});
        close(fd);
        continue;
      }
      auto worker = std::make_unique<Worker>();
      Worker* raw = worker.get();
      worker->thread = std::thread([this, fd, raw] {
        ServeConnection(context_, registry_, fd);
        raw->done = true;
      });
      workers_.push_back(std::move(worker));
    }
  }

  ServerContext context_;
  ConnectionRegistry registry_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  uint16_t port_ = 0;
  bool stopped_ = false;
  std::thread acceptor_;
  std::list<std::unique_ptr<Worker>> workers_;  // only the acceptor thread, then Stop()
};

}  // namespace

std::unique_ptr<DimseServer> CreateDimseServer(const DimseServerOptions& options,
                                               ingest::IngestService& ingest,
                                               catalog::Catalog& catalog, blob::BlobStore& blobs,
                                               audit::AuditLog& audit) {
  return std::make_unique<DcmtkDimseServer>(options, ingest, catalog, blobs, audit);
}

}  // namespace strata::dimse
