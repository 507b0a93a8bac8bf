// HttpServer: an HTTP/1.1 server (the adapter over Boost.Beast/Asio) with a route table.
//
// Connections are kept alive; an idle connection waits for its next request asynchronously on
// the I/O threads and costs no worker. Each request runs its handler on one of a small pool of
// worker threads, where the handler may block (catalog reads, durable ingest). Request bodies
// are read by the handler as a stream (BodyReader) and response bodies may be produced as a
// stream (Response::body_source), so memory does not grow with body size. Bodies larger than
// max_body_bytes get 413. A handler that throws gets 500 and the server keeps serving. One JSON
// log line per request (method, route pattern, status, bytes, milliseconds; no query values).
//
// No Beast type appears here. Thread-safety: AddRoute before Start; Start/Stop from one
// controlling thread; handlers run concurrently on the worker threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace strata::dicomweb {

// Pulls a request body. Read returns the number of bytes put in `buf` (at most `size`), 0 at
// the end of the body; kResourceExhausted when the body exceeds the server's limit (the server
// then answers 413), kUnavailable when the client goes away or times out.
//
// Each Read is one hand-off to the connection's I/O thread and back, so handlers read
// kBodyReadChunk at a time: at 64 KiB the hand-offs held four-connection STOW-RS about a fifth
// below what it reaches at 1 MiB.
inline constexpr size_t kBodyReadChunk = 1024 * 1024;

class BodyReader {
 public:
  virtual ~BodyReader() = default;
  virtual Result<size_t> Read(char* buf, size_t size) = 0;
};

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as received: path and query
  std::string path;    // without the query, percent-decoded
  // Query parameters in order, names and values percent-decoded ('+' is a space).
  std::vector<std::pair<std::string, std::string>> query;
  std::map<std::string, std::string> headers;      // names lower-cased
  std::map<std::string, std::string> path_params;  // {name} segments of the matched route
  std::string remote_address;
  BodyReader* body = nullptr;  // valid during the handler call
  // Who is calling, set by the access layer before the handler runs (see access.h).
  std::string user;
  std::string role;

  // The header's value, or "" when absent.
  std::string Header(const std::string& lower_name) const;
};

// Produces the next piece of a streamed body into `buf`: returns the bytes written (at most
// `size`), 0 at the end. An error after the headers were sent closes the connection.
using BodySource = std::function<Result<size_t>(char* buf, size_t size)>;

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;                        // used when body_source is empty
  BodySource body_source;                  // streamed, sent chunked
  std::optional<uint64_t> content_length;  // for body_source, when known in advance

  static Response Json(int status, std::string body, std::string content_type);
  static Response Error(const Status& status);  // HTTP status via HttpStatusFor
  static Response Error(int http_status, const std::string& reason);
};

using Handler = std::function<Response(Request&)>;

struct HttpServerOptions {
  std::string bind_address = "0.0.0.0";
  uint16_t port = 8080;  // 0: pick a free port (tests)
  uint64_t max_body_bytes = 4ULL << 30;
  int worker_threads = 8;
  int io_threads = 2;
  int idle_timeout_seconds = 60;  // keep-alive connection with no request
  int io_timeout_seconds = 60;    // one read or write making no progress
  // Origins whose browser pages may call across origins ("*": any). CORS preflights (OPTIONS
  // with Access-Control-Request-Method) are answered here, before any route or credential.
  std::vector<std::string> cors_allowed_origins;
  // HTTPS (TLS 1.2 or newer) when both are set: PEM certificate chain and private key files.
  std::string tls_certificate_file;
  std::string tls_private_key_file;
};

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Registers `handler` for `method` and a path pattern such as
  // "/dicomweb/studies/{study}/series"; a {name} segment matches one non-empty segment.
  // A path that matches a pattern with another method gets 405.
  void AddRoute(std::string method, std::string pattern, Handler handler);

  // Registers `handler` for `method` requests whose path matches no route (e.g. a web app's
  // static files); without one, such requests get 404.
  void SetFallback(std::string method, Handler handler);

  // Binds and starts serving. kUnavailable if the address cannot be bound.
  Status Start();
  // The bound port (after Start).
  uint16_t port() const;
  // Stops accepting, closes connections, joins every thread. Idempotent.
  void Stop();

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Splits "a=1&b=x%20y" into decoded pairs. kInvalidArgument on a malformed %-escape.
Result<std::vector<std::pair<std::string, std::string>>> ParseQueryString(const std::string& text);

// Percent-decodes `text` ('+' as space when `plus_is_space`). kInvalidArgument when malformed.
Result<std::string> PercentDecode(const std::string& text, bool plus_is_space);

}  // namespace strata::dicomweb
