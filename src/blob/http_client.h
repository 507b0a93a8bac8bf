// HttpClient: one HTTP exchange, described without any HTTP library's types, so the Azure back
// end can be tested with fakes and the libcurl adapter stays in curl_http_client.cc.
//
// Thread-safety: implementations are safe for concurrent Send calls.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace strata::blob {

struct HttpRequest {
  std::string method;  // "GET", "PUT", "POST", "HEAD", "DELETE"
  std::string url;     // absolute URL including the query string
  // Sent as given; the client adds no headers of its own (no Expect, no default Content-Type).
  std::vector<std::pair<std::string, std::string>> headers;

  // The body is either `body` (small, in memory) or `body_length` bytes of `body_file` from
  // `body_offset`, streamed. With neither, the request has no body.
  std::string body;
  std::string body_file;
  uint64_t body_offset = 0;
  uint64_t body_length = 0;

  // When set, a 2xx response body is written to this file (created or truncated on each
  // attempt) instead of HttpResponse::body, and its MD5 is computed on the way.
  std::string response_file;
};

struct HttpResponse {
  int status = 0;
  // Header names lowercased; values trimmed.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // the body unless it went to response_file (capped for errors)
  uint64_t response_file_bytes = 0;
  std::string response_file_md5;  // raw MD5 of what was written to response_file
  int attempts = 1;               // set by SendWithRetries

  // First header named `name` (lowercase), if any.
  std::optional<std::string> Header(std::string_view name) const;
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // One attempt, no retries. Any HTTP status is a successful exchange; kUnavailable for a
  // network failure or timeout (retryable), kInvalidArgument for a bad request description,
  // kUnavailable/kInternal if the response file cannot be written.
  virtual Result<HttpResponse> Send(const HttpRequest& request) = 0;
};

}  // namespace strata::blob
