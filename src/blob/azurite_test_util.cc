#include "blob/azurite_test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>

#include "core/testing/loopback.h"

namespace strata::blob {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

int FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string Azurite::Start(const std::string& repo_root) {
  const std::string binary = repo_root + "/node_modules/.bin/azurite-blob";
  if (::access(binary.c_str(), X_OK) != 0) {
    return "Azurite not found at " + binary + " (run tools/setup.sh)";
  }
  workdir_ = fs::temp_directory_path() / ("strata_azurite_" + std::to_string(::getpid()));
  fs::create_directories(workdir_);
  port_ = FreeLoopbackPort();
  const std::string port = std::to_string(port_);
  pid_ = ::fork();
  if (pid_ == 0) {
    // Azurite writes a few state files in its working directory, even in memory mode.
    if (::chdir(workdir_.c_str()) != 0) ::_exit(126);
    ::execl(binary.c_str(), binary.c_str(), "--blobHost", "127.0.0.1", "--blobPort", port.c_str(),
            "--inMemoryPersistence", "--disableTelemetry", "--silent", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  if (pid_ < 0) return "fork failed";
  for (int i = 0; i < 300; ++i) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return "Azurite exited during start-up (status " + std::to_string(status) + ")";
    }
    int fd = strata::testing::ConnectLoopback(port_);
    if (fd >= 0) {
      ::close(fd);
      return "";
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  return "Azurite did not listen on port " + port + " within 30 s";
}

void Azurite::Stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 50 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(milliseconds(100));
    }
    if (::waitpid(pid_, &status, WNOHANG) == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }
  std::error_code ec;
  if (!workdir_.empty()) fs::remove_all(workdir_, ec);
}

FaultProxy::FaultProxy(int upstream_port) : upstream_port_(upstream_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  ::listen(listen_fd_, 16);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

FaultProxy::~FaultProxy() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
  acceptor_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  for (std::thread& t : connections_) t.join();
}

void FaultProxy::AcceptLoop() {
  while (!stopping_) {
    int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (stopping_) return;
      continue;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    connections_.emplace_back([this, client] { Serve(client); });
  }
}

void FaultProxy::Serve(int client) {
  if (fail_next_with_503 > 0) {
    --fail_next_with_503;
    Answer503(client);
    ::close(client);
    return;
  }
  int upstream = strata::testing::ConnectLoopback(upstream_port_);
  if (upstream < 0) {
    ::close(client);
    return;
  }
  // Per direction: whether the header end was passed and a byte should be flipped.
  bool corrupt_request = corrupt_next_request_body.exchange(false);
  bool corrupt_response = corrupt_next_response_body.exchange(false);
  std::string request_seen, response_seen;
  pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
  char buffer[65536];
  for (;;) {
    if (::poll(fds, 2, 30'000) <= 0) break;
    bool done = false;
    for (int i = 0; i < 2 && !done; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::recv(fds[i].fd, buffer, sizeof buffer, 0);
      if (n <= 0) {
        done = true;
        break;
      }
      bool& corrupt = i == 0 ? corrupt_request : corrupt_response;
      std::string& seen = i == 0 ? request_seen : response_seen;
      if (corrupt) {
        size_t before = seen.size();
        seen.append(buffer, static_cast<size_t>(n));
        size_t header_end = seen.find("\r\n\r\n");
        if (header_end != std::string::npos && header_end + 4 < seen.size()) {
          size_t body_byte = header_end + 4;
          if (body_byte >= before) {
            buffer[body_byte - before] ^= 0x5a;
            corrupt = false;
          }
        }
      }
      if (!WriteAll(fds[1 - i].fd, buffer, static_cast<size_t>(n))) done = true;
    }
    if (done) break;
  }
  ::close(upstream);
  ::close(client);
}

// Reads the whole request (so the client is not reset mid-upload), then answers 503.
void FaultProxy::Answer503(int client) {
  std::string request;
  char buffer[65536];
  size_t needed = std::string::npos;
  while (needed == std::string::npos || request.size() < needed) {
    ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
    if (n <= 0) return;
    request.append(buffer, static_cast<size_t>(n));
    size_t header_end = request.find("\r\n\r\n");
    if (needed == std::string::npos && header_end != std::string::npos) {
      size_t length = 0;
      std::string lower = request.substr(0, header_end);
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      size_t at = lower.find("content-length:");
      if (at != std::string::npos) length = std::stoul(lower.substr(at + 15));
      needed = header_end + 4 + length;
    }
  }
  ++answered_503;
  const std::string answer =
      "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nx-ms-error-code: ServerBusy\r\n"
      "Content-Length: 0\r\nConnection: close\r\n\r\n";
  WriteAll(client, answer.data(), answer.size());
}

}  // namespace strata::blob
