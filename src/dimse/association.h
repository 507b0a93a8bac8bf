// One association on an accepted TCP connection: receive, check, negotiate, serve, log.
//
// Internal to the dimse module.
#pragma once

#include <mutex>
#include <set>

#include "dimse/scp.h"

namespace strata::dimse {

// Held around every ASC_initializeNetwork in Strata, and by the acceptor also around
// ASC_receiveAssociation. DCMTK's network setup touches process-wide state: it fills DUL's
// global state table (DUL_InitializeFSM, which ThreadSanitizer saw two threads write at once),
// and an acceptor takes its connected socket only through the global dcmExternalSocketHandle.
std::mutex& DcmtkNetworkMutex();

// The sockets of running associations, so that Stop() can shut them down and unblock their
// threads. A socket is removed before DCMTK closes it, so a shut-down never hits a reused
// descriptor. Thread-safe.
class ConnectionRegistry {
 public:
  // False once ShutdownAll has run: the caller must close `fd` itself and stop.
  bool Add(int fd);
  void Remove(int fd);
  // Shuts down (both directions) every registered socket and refuses later Adds.
  void ShutdownAll();

 private:
  std::mutex mutex_;
  std::set<int> fds_;    // GUARDED_BY(mutex_)
  bool closed_ = false;  // GUARDED_BY(mutex_)
};

// Serves the association on connected socket `fd` until it ends, then closes `fd`.
// Registers `fd` with `registry` while it is open. Never throws.
void ServeConnection(ServerContext& server, ConnectionRegistry& registry, int fd);

}  // namespace strata::dimse
