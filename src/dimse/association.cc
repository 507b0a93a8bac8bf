#include "dimse/association.h"

#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/dul.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <vector>

#include "core/log.h"
#include "dimse/negotiation.h"

namespace strata::dimse {

std::mutex& DcmtkNetworkMutex() {
  static std::mutex mutex;
  return mutex;
}

namespace {

// Waits until the whole A-ASSOCIATE-RQ PDU (PS3.8 9.3.2) is readable on `fd`, so that DCMTK
// reads it without blocking while DcmtkNetworkMutex is held. Returns false on timeout, on a
// PDU that is not an A-ASSOCIATE-RQ, and when the peer closes its side before sending it all.
bool WaitForAssociateRequest(int fd, int timeout_seconds) {
  // Large requests (many contexts) may not fit the socket buffer; past this, read directly.
  constexpr size_t kMaxPeek = 64 * 1024;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  std::vector<unsigned char> buffer(kMaxPeek);
  size_t wanted = 6;
  bool have_header = false;
  bool complete = false;
  bool peer_done = false;  // the peer closed its side: what is here is all there will be
  for (;;) {
    const ssize_t n = recv(fd, buffer.data(), buffer.size(), MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) break;
    if (n > 0) {
      if (!have_header && static_cast<size_t>(n) >= 6) {
        if (buffer[0] != 0x01) break;
        const uint32_t length = (uint32_t{buffer[2]} << 24) | (uint32_t{buffer[3]} << 16) |
                                (uint32_t{buffer[4]} << 8) | uint32_t{buffer[5]};
        wanted = std::min<size_t>(kMaxPeek, size_t{length} + 6);
        have_header = true;
      }
      if (have_header && static_cast<size_t>(n) >= wanted) {
        complete = true;
        break;
      }
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      break;
    }
    if (peer_done) break;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    // Readable only once `wanted` bytes are there (or the peer closed): no wake-up per segment.
    const int low_water = static_cast<int>(wanted);
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &low_water, sizeof(low_water));
    pollfd pfd{fd, POLLIN | POLLRDHUP, 0};
    const int ready = poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) break;
    if (ready > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) peer_done = true;
  }
  const int one = 1;  // DCMTK reads PDUs of any size from here on
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
  return complete;
}

void Reject(T_ASC_Association* assoc, T_ASC_RejectParametersResult result,
            T_ASC_RejectParametersSource source, T_ASC_RejectParametersReason reason) {
  T_ASC_RejectParameters rej{result, source, reason};
  (void)ASC_rejectAssociation(assoc, &rej);
}

bool CallingAeAllowed(const DimseServerOptions& options, const std::string& calling_ae) {
  if (options.accept_any_calling_ae) return true;
  if (std::find(options.allowed_calling_aes.begin(), options.allowed_calling_aes.end(),
                calling_ae) != options.allowed_calling_aes.end()) {
    return true;
  }
  return std::any_of(options.peers.begin(), options.peers.end(),
                     [&](const DicomPeer& p) { return p.ae_title == calling_ae; });
}

// Runs DIMSE commands until release, abort or error. Returns the outcome for the log line.
std::string ServeCommands(AssociationContext& ctx) {
  const int timeout = ctx.server->options.dimse_timeout_seconds;
  for (;;) {
    T_ASC_PresentationContextID pres_id = 0;
    T_DIMSE_Message msg;
    std::memset(&msg, 0, sizeof(msg));
    OFCondition cond =
        DIMSE_receiveCommand(ctx.assoc, DIMSE_NONBLOCKING, timeout, &pres_id, &msg, nullptr);
    if (cond == DUL_PEERREQUESTEDRELEASE) {
      (void)ASC_acknowledgeRelease(ctx.assoc);
      return "released";
    }
    if (cond == DUL_PEERABORTEDASSOCIATION) return "aborted_by_peer";
    if (cond == DIMSE_NODATAAVAILABLE) {
      (void)ASC_abortAssociation(ctx.assoc);
      return "idle_timeout";
    }
    if (cond.bad()) {
      (void)ASC_abortAssociation(ctx.assoc);
      return ctx.server->stopping ? "server_stopping"
                                  : std::string("network_error: ") + cond.text();
    }
    switch (msg.CommandField) {
      case DIMSE_C_ECHO_RQ:
        cond = HandleEcho(ctx, pres_id, msg.msg.CEchoRQ);
        break;
      case DIMSE_C_STORE_RQ:
        cond = HandleStore(ctx, pres_id, msg.msg.CStoreRQ);
        break;
      case DIMSE_C_FIND_RQ:
        cond = HandleFind(ctx, pres_id, msg.msg.CFindRQ);
        break;
      case DIMSE_C_MOVE_RQ:
        cond = HandleMove(ctx, pres_id, msg.msg.CMoveRQ);
        break;
      case DIMSE_C_GET_RQ:
        cond = HandleGet(ctx, pres_id, msg.msg.CGetRQ);
        break;
      case DIMSE_C_CANCEL_RQ:
        // A cancel after its operation finished: nothing left to cancel (PS3.7 9.3.2.3).
        cond = EC_Normal;
        break;
      default:
        log::Warn(
            "dimse_unsupported_command",
            {{"calling_ae", ctx.calling_ae}, {"command", static_cast<int64_t>(msg.CommandField)}});
        (void)ASC_abortAssociation(ctx.assoc);
        return "aborted_unsupported_command";
    }
    if (cond.bad()) {
      (void)ASC_abortAssociation(ctx.assoc);
      return ctx.server->stopping ? "server_stopping"
                                  : std::string("network_error: ") + cond.text();
    }
  }
}

}  // namespace

bool ConnectionRegistry::Add(int fd) {
  std::lock_guard lock(mutex_);
  if (closed_) return false;
  fds_.insert(fd);
  return true;
}

void ConnectionRegistry::Remove(int fd) {
  std::lock_guard lock(mutex_);
  fds_.erase(fd);
}

void ConnectionRegistry::ShutdownAll() {
  std::lock_guard lock(mutex_);
  closed_ = true;
  for (int fd : fds_) shutdown(fd, SHUT_RDWR);
}

std::string AbstractSyntaxOf(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id) {
  T_ASC_PresentationContext pc;
  if (ASC_findAcceptedPresentationContext(assoc->params, pres_id, &pc).bad()) return "";
  return pc.abstractSyntax;
}

void ServeConnection(ServerContext& server, ConnectionRegistry& registry, int fd) {
  const DimseServerOptions& options = server.options;
  if (!registry.Add(fd)) {
    close(fd);
    return;
  }
  bool fd_registered = true;
  auto unregister = [&] {
    if (fd_registered) registry.Remove(fd);
    fd_registered = false;
  };

  if (!WaitForAssociateRequest(fd, options.acse_timeout_seconds)) {
    unregister();
    close(fd);
    log::Info("dimse_association", {{"outcome", std::string("no_associate_request")}});
    return;
  }

  T_ASC_Network* net = nullptr;
  T_ASC_Association* assoc = nullptr;
  OFCondition cond = EC_Normal;
  {
    std::lock_guard lock(DcmtkNetworkMutex());
    dcmExternalSocketHandle.set(fd);
    cond = ASC_initializeNetwork(NET_ACCEPTOR, 0, options.acse_timeout_seconds, &net);
    if (cond.good()) {
      cond = ASC_receiveAssociation(net, &assoc, options.max_pdu, nullptr, nullptr, OFFalse,
                                    DUL_NOBLOCK, options.acse_timeout_seconds);
    }
    dcmExternalSocketHandle.set(-1);
  }
  auto cleanup = [&] {
    unregister();
    if (assoc != nullptr) {
      // Without a DUL association DCMTK never took over the socket.
      if (assoc->DULassociation == nullptr) close(fd);
      // Bounded wait for the peer to close after a release, so Stop() is not held up.
      (void)ASC_dropSCPAssociation(assoc, /*timeout=*/2);
      (void)ASC_destroyAssociation(&assoc);
    } else {
      close(fd);
    }
    if (net != nullptr) (void)ASC_dropNetwork(&net);
  };
  if (cond.bad()) {
    log::Warn("dimse_association",
              {{"outcome", std::string("receive_failed")}, {"reason", std::string(cond.text())}});
    cleanup();
    return;
  }

  char calling[64] = {0};
  char called[64] = {0};
  char responding[64] = {0};
  (void)ASC_getAPTitles(assoc->params, calling, sizeof(calling), called, sizeof(called), responding,
                        sizeof(responding));
  char peer[128] = {0};
  char local[128] = {0};
  (void)ASC_getPresentationAddresses(assoc->params, peer, sizeof(peer), local, sizeof(local));
  char app_context[128] = {0};
  (void)ASC_getApplicationContextName(assoc->params, app_context, sizeof(app_context));

  AssociationContext ctx;
  ctx.server = &server;
  ctx.assoc = assoc;
  ctx.calling_ae = TrimSpaces(calling);
  ctx.peer_address = peer;
  const std::string called_ae = TrimSpaces(called);

  std::string outcome;
  bool counted = false;
  if (std::string(app_context) != UID_StandardApplicationContext) {
    Reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
           ASC_REASON_SU_APPCONTEXTNAMENOTSUPPORTED);
    outcome = "rejected_application_context";
  } else if (called_ae != options.ae_title) {
    Reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
           ASC_REASON_SU_CALLEDAETITLENOTRECOGNIZED);
    outcome = "rejected_called_ae";
  } else if (!CallingAeAllowed(options, ctx.calling_ae)) {
    Reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER,
           ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED);
    outcome = "rejected_calling_ae";
    Audit(ctx, "dimse.associate", "", "", "",
          PermissionDenied("calling AE title not allowed: " + ctx.calling_ae));
  } else if (server.stopping || ++server.active_associations > options.max_associations) {
    counted = !server.stopping;
    Reject(assoc, ASC_RESULT_REJECTEDTRANSIENT, ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED,
           ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED);
    outcome = "rejected_local_limit";
  } else {
    counted = true;
    NegotiatePresentationContexts(assoc->params);
    if (ASC_countAcceptedPresentationContexts(assoc->params) == 0) {
      Reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_NOREASON);
      outcome = "rejected_no_acceptable_context";
    } else if ((cond = ASC_acknowledgeAssociation(assoc)).bad()) {
      outcome = std::string("acknowledge_failed: ") + cond.text();
    } else {
      try {
        outcome = ServeCommands(ctx);
      } catch (const std::exception& e) {
        (void)ASC_abortAssociation(assoc);
        outcome = std::string("internal_error: ") + e.what();
      }
    }
  }
  if (counted) --server.active_associations;
  const bool failed = outcome != "released";
  (failed ? log::Warn : log::Info)("dimse_association", {{"calling_ae", ctx.calling_ae},
                                                         {"called_ae", called_ae},
                                                         {"peer", ctx.peer_address},
                                                         {"outcome", outcome},
                                                         {"stored", ctx.stored},
                                                         {"failures", ctx.failures}});
  cleanup();
}

void Audit(const AssociationContext& ctx, const char* action, const std::string& study_uid,
           const std::string& series_uid, const std::string& instance_uid, const Status& outcome,
           const std::string& detail) {
  audit::AuditEvent e;
  e.actor = "ae:" + ctx.calling_ae;
  e.role = "dimse";
  e.source = ctx.peer_address;
  e.protocol = "dimse";
  e.action = action;
  e.study_uid = study_uid;
  e.series_uid = series_uid;
  e.instance_uid = instance_uid;
  e.outcome = outcome.ok()                                      ? "success"
              : outcome.code() == StatusCode::kPermissionDenied ? "denied"
                                                                : "failure";
  e.detail = outcome.ok() ? detail : outcome.ToString();
  ctx.server->audit->Record(std::move(e));
}

}  // namespace strata::dimse
