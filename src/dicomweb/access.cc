#include "dicomweb/access.h"

#include <utility>

#include "core/log.h"

namespace strata::dicomweb {
namespace {

std::string PathParam(const Request& request, const char* name) {
  auto it = request.path_params.find(name);
  return it == request.path_params.end() ? "" : it->second;
}

audit::AuditEvent EventFor(const Request& request, const std::string& action) {
  audit::AuditEvent e;
  e.actor = request.user.empty() ? "anonymous" : request.user;
  e.role = request.role;
  e.source = request.remote_address;
  e.protocol = "http";
  e.action = action;
  return e;
}

Response Denied(const AccessControl& access, Request& request, const std::string& action,
                int status, const std::string& reason) {
  audit::AuditEvent e = EventFor(request, action);
  e.study_uid = PathParam(request, "study");
  e.series_uid = PathParam(request, "series");
  e.instance_uid = PathParam(request, "instance");
  e.outcome = "denied";
  e.detail = std::to_string(status) + " " + reason;
  access.audit->Record(std::move(e));
  log::Warn("http_access_denied", {{"action", action},
                                   {"status", int64_t{status}},
                                   {"user", request.user},
                                   {"peer", request.remote_address},
                                   {"reason", reason}});
  Response response = Response::Error(status, reason);
  if (status == 401) {
    response.headers.emplace_back("WWW-Authenticate", "Basic realm=\"Strata\", charset=\"UTF-8\"");
  }
  return response;
}

}  // namespace

Handler Guarded(const AccessControl& access, security::Role need, std::string action,
                Handler handler) {
  return [access, need, action = std::move(action), handler = std::move(handler)](Request& r) {
    auto principal = access.authenticator->Authenticate(r.Header("authorization"));
    if (!principal.ok()) return Denied(access, r, action, 401, principal.status().message());
    r.user = principal->name;
    r.role = std::string(security::RoleName(principal->role));
    if (!security::Grants(principal->role, need)) {
      return Denied(access, r, action, 403,
                    "role " + r.role + " may not do this (needs " +
                        std::string(security::RoleName(need)) + ")");
    }
    Response response = handler(r);
    audit::AuditEvent e = EventFor(r, action);
    e.study_uid = PathParam(r, "study");
    e.series_uid = PathParam(r, "series");
    e.instance_uid = PathParam(r, "instance");
    e.outcome = response.status < 400 ? "success" : "failure";
    e.detail = std::to_string(response.status);
    access.audit->Record(std::move(e));
    return response;
  };
}

void AuditObject(const AccessControl& access, const Request& request, const std::string& action,
                 const std::string& study_uid, const std::string& series_uid,
                 const std::string& instance_uid, const Status& outcome) {
  audit::AuditEvent e = EventFor(request, action);
  e.study_uid = study_uid;
  e.series_uid = series_uid;
  e.instance_uid = instance_uid;
  e.outcome = outcome.ok() ? "success" : "failure";
  e.detail = outcome.ok() ? "" : outcome.ToString();
  access.audit->Record(std::move(e));
}

}  // namespace strata::dicomweb
