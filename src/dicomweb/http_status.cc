#include "dicomweb/http_status.h"

#include <nlohmann/json.hpp>

namespace strata::dicomweb {

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kAborted:
    case StatusCode::kFailedPrecondition:
      // The request conflicts with the archive's state (PS3.18 uses 409 for refused stores).
      return 409;
    case StatusCode::kCancelled:
      // Client closed the request (nginx's 499 is non-standard; 400 is what a client can read).
      return 400;
    case StatusCode::kUnimplemented:
      return 501;
    case StatusCode::kResourceExhausted:
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kDeadlineExceeded:
      return 504;
    case StatusCode::kInternal:
    case StatusCode::kDataLoss:
      return 500;
  }
  return 500;
}

const char* HttpReasonPhrase(int http_status) {
  switch (http_status) {
    case 200:
      return "OK";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
}

std::string ErrorBody(int http_status, const std::string& reason) {
  nlohmann::json body = {
      {"status", http_status}, {"error", HttpReasonPhrase(http_status)}, {"reason", reason}};
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::vector<std::pair<std::string, std::string>> ErrorHeaders(const Status& status) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!status.ok() && status.retry_after_seconds()) {
    headers.emplace_back("Retry-After", std::to_string(*status.retry_after_seconds()));
  }
  return headers;
}

}  // namespace strata::dicomweb
