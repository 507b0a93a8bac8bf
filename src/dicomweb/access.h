// The one authentication, authorisation and audit layer every HTTP route goes through.
//
// Guarded() wraps a handler: the caller's credentials are checked (401 with a Basic challenge,
// so a browser asks for them), the role is compared with what the route needs (403), the
// handler runs, and one audit event records who did what to which study/series/instance, from
// where, with what outcome. Handlers that change several objects (STOW-RS) record one event per
// object themselves with AuditObject().
#pragma once

#include <string>

#include "audit/audit_log.h"
#include "dicomweb/http_server.h"
#include "security/authenticator.h"

namespace strata::dicomweb {

struct AccessControl {
  const security::Authenticator* authenticator = nullptr;
  audit::AuditLog* audit = nullptr;
};

Handler Guarded(const AccessControl& access, security::Role need, std::string action,
                Handler handler);

// Records an event about one object on behalf of the request's caller.
void AuditObject(const AccessControl& access, const Request& request, const std::string& action,
                 const std::string& study_uid, const std::string& series_uid,
                 const std::string& instance_uid, const Status& outcome);

}  // namespace strata::dicomweb
