#include "dicomweb/http_server.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <chrono>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <thread>

#include "core/log.h"
#include "dicomweb/http_status.h"

namespace strata::dicomweb {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// A streamed response body goes out in chunks of this size, each one hand-off to the I/O
// threads (Await): a whole-study WADO-RS of 600 MB took 9,000 of them at 64 KiB. One buffer
// per response being written, so memory stays bounded by the worker threads.
constexpr size_t kChunkBytes = 512 * 1024;
constexpr uint32_t kHeaderLimit = 64 * 1024;
constexpr size_t kReadBufferBytes = 64 * 1024;
// How long the accept loop waits after a failed accept before it tries again.
constexpr std::chrono::milliseconds kAcceptPause{100};

// Runs one asynchronous operation from a worker thread and waits for it; the I/O threads
// complete it. Lets handlers read and write as a blocking stream while idle connections wait
// without a thread, and keeps tcp_stream's timeouts.
template <typename Initiate>
std::pair<beast::error_code, size_t> Await(Initiate&& initiate) {
  auto promise = std::make_shared<std::promise<std::pair<beast::error_code, size_t>>>();
  auto future = promise->get_future();
  initiate([promise](beast::error_code ec, size_t n) { promise->set_value({ec, n}); });
  return future.get();
}

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> segments;
  size_t start = 1;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    segments.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  if (!segments.empty() && segments.back().empty()) segments.pop_back();  // trailing slash
  return segments;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Route {
  std::string method;
  std::string pattern;
  std::vector<std::string> segments;
  Handler handler;
};

}  // namespace

std::string Request::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

Response Response::Json(int status, std::string body, std::string content_type) {
  Response r;
  r.status = status;
  r.headers.emplace_back("Content-Type", std::move(content_type));
  r.body = std::move(body);
  return r;
}

Response Response::Error(const Status& status) {
  Response r = Error(HttpStatusFor(status.code()), status.message());
  for (auto& header : ErrorHeaders(status)) r.headers.push_back(std::move(header));
  return r;
}

Response Response::Error(int http_status, const std::string& reason) {
  return Json(http_status, ErrorBody(http_status, reason), "application/json");
}

Result<std::string> PercentDecode(const std::string& text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) {
        return InvalidArgument("malformed percent-escape in '" + text + "'");
      }
      auto hex = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'a' && h <= 'f') return h - 'a' + 10;
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        return -1;
      };
      int hi = hex(text[i + 1]), lo = hex(text[i + 2]);
      if (hi < 0 || lo < 0) return InvalidArgument("malformed percent-escape in '" + text + "'");
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> ParseQueryString(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> params;
  size_t start = 0;
  while (start <= text.size()) {
    size_t amp = text.find('&', start);
    if (amp == std::string::npos) amp = text.size();
    std::string item = text.substr(start, amp - start);
    start = amp + 1;
    if (item.empty()) continue;
    size_t eq = item.find('=');
    STRATA_ASSIGN_OR_RETURN(std::string name, PercentDecode(item.substr(0, eq), true));
    std::string value;
    if (eq != std::string::npos) {
      STRATA_ASSIGN_OR_RETURN(value, PercentDecode(item.substr(eq + 1), true));
    }
    params.emplace_back(std::move(name), std::move(value));
  }
  return params;
}

class HttpServer::Impl {
 public:
  class Session;
  template <typename Stream>
  class Connection;

  explicit Impl(HttpServerOptions options)
      : options_(std::move(options)),
        // On a strand: Stop closes it while accept handlers may run on other I/O threads.
        acceptor_(asio::make_strand(ioc_)),
        work_(asio::make_work_guard(ioc_)),
        workers_(static_cast<size_t>(std::max(1, options_.worker_threads))) {}

  void AddRoute(std::string method, std::string pattern, Handler handler) {
    routes_.push_back(Route{std::move(method), pattern, SplitPath(pattern), std::move(handler)});
  }

  void SetFallback(std::string method, Handler handler) {
    fallbacks_.push_back(Route{std::move(method), "*", {}, std::move(handler)});
  }

  Status Start() {
    STRATA_RETURN_IF_ERROR(LoadTls());
    beast::error_code ec;
    auto address = asio::ip::make_address(options_.bind_address, ec);
    if (ec) return InvalidArgument("http.bind '" + options_.bind_address + "' is not an address");
    tcp::endpoint endpoint(address, options_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Unavailable("cannot listen for HTTP on " + options_.bind_address + ":" +
                         std::to_string(options_.port) + ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    Accept();
    for (int i = 0; i < std::max(1, options_.io_threads); ++i) {
      io_threads_.emplace_back([this] { ioc_.run(); });
    }
    return OkStatus();
  }

  void Stop();
  uint16_t port() const { return port_; }

 private:
  void Accept();
  Status LoadTls();
  friend class Session;
  template <typename Stream>
  friend class Connection;

  HttpServerOptions options_;
  std::vector<Route> routes_;
  std::vector<Route> fallbacks_;  // for paths no route matches
  // Before ioc_: handlers still queued when ioc_ is destroyed own sessions, whose destructors
  // unregister here.
  std::mutex sessions_mu_;
  // Weak, so that Stop never reaches a session that is being destroyed.
  std::map<Session*, std::weak_ptr<Session>> sessions_;  // GUARDED_BY(sessions_mu_)

  std::optional<asio::ssl::context> tls_;  // set when a certificate is configured
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  asio::steady_timer accept_pause_{acceptor_.get_executor()};  // on the acceptor's strand
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  asio::thread_pool workers_;
  std::vector<std::thread> io_threads_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;
};

// What Stop() needs of every connection, whatever its transport.
class HttpServer::Impl::Session {
 public:
  explicit Session(Impl& server) : server_(server) {}
  virtual ~Session() {
    std::lock_guard lock(server_.sessions_mu_);
    server_.sessions_.erase(this);
  }
  // Unblocks whatever the connection waits for.
  virtual void Shutdown() = 0;

 protected:
  // Once a shared_ptr owns the session: Stop then reaches it only while it is whole.
  void Register(std::weak_ptr<Session> self) {
    std::lock_guard lock(server_.sessions_mu_);
    server_.sessions_.emplace(this, std::move(self));
  }

  Impl& server_;
};

// One connection over Stream (TCP, or TLS over TCP): reads a request header asynchronously, runs
// the request on a worker, writes the response, and waits for the next request while the
// connection is kept alive.
template <typename Stream>
class HttpServer::Impl::Connection final : public Session,
                                           public std::enable_shared_from_this<Connection<Stream>>,
                                           BodyReader {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  template <typename... TlsContext>
  Connection(Impl& server, tcp::socket socket, TlsContext&... tls)
      : Session(server), stream_(std::move(socket), tls...) {
    beast::error_code ec;
    auto remote = Lowest().socket().remote_endpoint(ec);
    if (!ec) remote_ = remote.address().to_string();
    // Beast reads at most the buffer's free capacity (at least 512 bytes) per receive call; a
    // body streamed through a small buffer would cost one system call per 512 bytes.
    buffer_.reserve(kReadBufferBytes);
  }

  // TLS: the handshake first (bounded by the idle timeout), then requests.
  void Begin() {
    Register(this->shared_from_this());
    if constexpr (kTls) {
      Lowest().expires_after(std::chrono::seconds(server_.options_.idle_timeout_seconds));
      stream_.async_handshake(
          asio::ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
            if (ec) {
              log::Info("http_tls_handshake_failed",
                        {{"peer", self->remote_}, {"reason", ec.message()}});
              beast::error_code ignored;
              self->Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
              return;
            }
            self->ReadHeader();
          });
    } else {
      ReadHeader();
    }
  }

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    // The limit is applied once the header is in (Process), so an oversized Content-Length
    // gets a proper 413 rather than a parse error.
    parser_->body_limit(std::numeric_limits<uint64_t>::max());
    Lowest().expires_after(std::chrono::seconds(server_.options_.idle_timeout_seconds));
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) {
                                if (ec != http::error::end_of_stream &&
                                    ec != beast::error::timeout && ec != asio::error::eof &&
                                    ec != asio::error::operation_aborted &&
                                    ec != asio::error::connection_reset) {
                                  self->SendBadRequest(ec);  // closes once written
                                } else {
                                  self->Close();
                                }
                                return;
                              }
                              asio::post(self->server_.workers_, [self] { self->Process(); });
                            });
  }

  void Shutdown() override {
    beast::error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
  }

  Result<size_t> Read(char* buf, size_t size) override {
    if (parser_->is_done() || size == 0) return size_t{0};
    if (expect_continue_) {
      expect_continue_ = false;
      static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      Lowest().expires_after(std::chrono::seconds(server_.options_.io_timeout_seconds));
      auto [ec, n] = Await([&](auto handler) {
        asio::async_write(stream_, asio::buffer(kContinue, sizeof(kContinue) - 1),
                          std::move(handler));
      });
      if (ec) return Unavailable("client connection lost: " + ec.message());
    }
    auto& body = parser_->get().body();
    body.data = buf;
    body.size = size;
    Lowest().expires_after(std::chrono::seconds(server_.options_.io_timeout_seconds));
    auto [ec, n] = Await(
        [&](auto handler) { http::async_read(stream_, buffer_, *parser_, std::move(handler)); });
    if (ec == http::error::need_buffer) ec = {};
    if (ec == http::error::body_limit) {
      body_too_large_ = true;
      return ResourceExhausted("request body exceeds " +
                               std::to_string(server_.options_.max_body_bytes) + " bytes");
    }
    if (ec) {
      broken_ = true;
      return Unavailable("reading the request body failed: " + ec.message());
    }
    return size - body.size;
  }

 private:
  auto& Lowest() { return beast::get_lowest_layer(stream_); }

  void Close() {
    if constexpr (kTls) {
      // close_notify first, so the client can tell a complete answer from a cut one.
      Lowest().expires_after(std::chrono::seconds(5));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
        beast::error_code ignored;
        self->Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
      });
    } else {
      beast::error_code ec;
      Lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    }
  }

  // A request that is not HTTP gets a plain 400 before the connection closes.
  void SendBadRequest(beast::error_code ec) {
    Response r = Response::Error(ec == http::error::header_limit ? 431 : 400,
                                 "malformed HTTP request: " + ec.message());
    std::string text = "HTTP/1.1 " + std::to_string(r.status) +
                       " Bad Request\r\nContent-Type: "
                       "application/json\r\nConnection: close\r\nContent-Length: " +
                       std::to_string(r.body.size()) + "\r\n\r\n" + r.body;
    auto owned = std::make_shared<std::string>(std::move(text));
    asio::async_write(
        stream_, asio::buffer(*owned),
        [self = this->shared_from_this(), owned](beast::error_code, size_t) { self->Close(); });
    log::Info("http_request", {{"method", std::string_view()},
                               {"route", std::string_view("-")},
                               {"status", int64_t{r.status}},
                               {"bytes", static_cast<int64_t>(r.body.size())},
                               {"ms", 0.0},
                               {"peer", remote_}});
  }

  const Route* Match(Request& request, bool* method_mismatch) {
    const std::vector<std::string> segments = SplitPath(request.path);
    for (const Route& route : server_.routes_) {
      if (route.segments.size() != segments.size()) continue;
      std::map<std::string, std::string> params;
      bool match = true;
      for (size_t i = 0; i < segments.size() && match; ++i) {
        const std::string& want = route.segments[i];
        if (want.size() > 2 && want.front() == '{' && want.back() == '}') {
          if (segments[i].empty()) match = false;
          params[want.substr(1, want.size() - 2)] = segments[i];
        } else if (want != segments[i]) {
          match = false;
        }
      }
      if (!match) continue;
      if (route.method != request.method) {
        *method_mismatch = true;
        continue;
      }
      request.path_params = std::move(params);
      return &route;
    }
    for (const Route& fallback : server_.fallbacks_) {
      if (!*method_mismatch && fallback.method == request.method) return &fallback;
    }
    return nullptr;
  }

  void Process() {
    const auto started = std::chrono::steady_clock::now();
    auto& header = parser_->get();
    Request request;
    request.method = std::string(header.method_string());
    request.target = std::string(header.target());
    request.remote_address = remote_;
    request.body = this;
    for (const auto& field : header) {
      std::string name = Lower(std::string(field.name_string()));
      auto [it, inserted] = request.headers.emplace(name, std::string(field.value()));
      if (!inserted) it->second += ", " + std::string(field.value());
    }
    parser_->body_limit(server_.options_.max_body_bytes);
    expect_continue_ = Lower(request.Header("expect")) == "100-continue";
    body_too_large_ = false;
    broken_ = false;

    const Route* route = nullptr;
    Response response;
    const size_t question = request.target.find('?');
    auto path = PercentDecode(request.target.substr(0, question), false);
    auto query = question == std::string::npos
                     ? Result<std::vector<std::pair<std::string, std::string>>>(
                           std::vector<std::pair<std::string, std::string>>{})
                     : ParseQueryString(request.target.substr(question + 1));
    if (!path.ok() || !query.ok()) {
      response = Response::Error(!path.ok() ? path.status() : query.status());
    } else if (path->empty() || path->front() != '/') {
      response = Response::Error(400, "request target must be an absolute path");
    } else {
      request.path = std::move(*path);
      request.query = std::move(*query);
      bool method_mismatch = false;
      route = Match(request, &method_mismatch);
      const auto length = parser_->content_length();
      if (request.method == "OPTIONS" && !request.Header("access-control-request-method").empty()) {
        route = nullptr;
        response = CorsPreflight(request);
      } else if (route == nullptr) {
        response = method_mismatch ? Response::Error(405, "method " + request.method +
                                                              " not allowed on " + request.path)
                                   : Response::Error(404, "no resource at " + request.path);
      } else if (length && *length > server_.options_.max_body_bytes) {
        response = Response::Error(413, "request body of " + std::to_string(*length) +
                                            " bytes exceeds the limit of " +
                                            std::to_string(server_.options_.max_body_bytes));
      } else {
        try {
          response = route->handler(request);
        } catch (const std::exception& e) {
          log::Error("http_handler_exception",
                     {{"route", route->pattern}, {"what", std::string(e.what())}});
          response = Response::Error(500, std::string("internal error: ") + e.what());
        }
        if (body_too_large_) {
          response =
              Response::Error(413, "request body exceeds the limit of " +
                                       std::to_string(server_.options_.max_body_bytes) + " bytes");
        }
      }
    }
    AddCorsHeaders(request, response);
    // An unread body would be taken for the next request: close instead of draining it.
    bool keep_alive =
        header.keep_alive() && parser_->is_done() && !broken_ && !server_.stopping_.load();
    uint64_t bytes = 0;
    const bool written = Write(response, header.version(), keep_alive, &bytes);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();
    log::Info("http_request", {{"method", request.method},
                               {"route", route ? std::string_view(route->pattern) : "-"},
                               {"status", int64_t{response.status}},
                               {"bytes", static_cast<int64_t>(bytes)},
                               {"ms", ms},
                               {"peer", remote_}});
    if (written && keep_alive) {
      ReadHeader();
    } else {
      Close();
    }
  }

  bool OriginAllowed(const std::string& origin) const {
    const auto& allowed = server_.options_.cors_allowed_origins;
    return !origin.empty() && std::any_of(allowed.begin(), allowed.end(),
                                          [&](const auto& a) { return a == "*" || a == origin; });
  }

  // The answer to a CORS preflight: which methods and headers the real request may use.
  Response CorsPreflight(const Request& request) const {
    if (!OriginAllowed(request.Header("origin"))) {
      return Response::Error(403, "origin not allowed by auth.cors_allowed_origins");
    }
    Response r;
    r.status = 204;
    r.headers = {{"Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS"},
                 {"Access-Control-Allow-Headers", "Authorization, Content-Type, Accept"},
                 {"Access-Control-Max-Age", "600"}};
    return r;
  }

  void AddCorsHeaders(const Request& request, Response& response) const {
    const std::string origin = request.Header("origin");
    if (!OriginAllowed(origin)) return;
    response.headers.emplace_back("Access-Control-Allow-Origin", origin);
    response.headers.emplace_back("Access-Control-Allow-Credentials", "true");
    response.headers.emplace_back("Access-Control-Expose-Headers",
                                  "Warning, Content-Location, Retry-After, WWW-Authenticate");
    response.headers.emplace_back("Vary", "Origin");
  }

  bool Write(Response& response, unsigned version, bool keep_alive, uint64_t* bytes) {
    Lowest().expires_after(std::chrono::seconds(server_.options_.io_timeout_seconds));
    auto fill_header = [&](auto& res) {
      res.result(static_cast<unsigned>(response.status));
      res.reason(HttpReasonPhrase(response.status));
      res.set(http::field::server, "strata");
      for (const auto& [name, value] : response.headers) res.insert(name, value);
      res.keep_alive(keep_alive);
    };
    if (!response.body_source) {
      http::response<http::string_body> res;
      res.version(version);
      fill_header(res);
      res.body() = std::move(response.body);
      res.prepare_payload();
      *bytes = res.body().size();
      auto [ec, n] =
          Await([&](auto handler) { http::async_write(stream_, res, std::move(handler)); });
      return !ec;
    }
    http::response<http::buffer_body> res;
    res.version(version);
    fill_header(res);
    if (response.content_length) {
      res.content_length(*response.content_length);
    } else {
      res.chunked(true);
    }
    res.body().data = nullptr;
    res.body().more = true;
    http::response_serializer<http::buffer_body> serializer(res);
    {
      auto [ec, n] = Await(
          [&](auto handler) { http::async_write_header(stream_, serializer, std::move(handler)); });
      if (ec) return false;
    }
    std::vector<char> chunk(kChunkBytes);
    while (true) {
      Result<size_t> produced = Result<size_t>(size_t{0});
      try {
        produced = response.body_source(chunk.data(), chunk.size());
      } catch (const std::exception& e) {
        produced = Internal(e.what());
      }
      if (!produced.ok()) {
        // The status line is gone; closing without the last chunk tells the client it failed.
        log::Error("http_body_failed", {{"reason", produced.status().ToString()}});
        return false;
      }
      res.body().data = *produced ? chunk.data() : nullptr;
      res.body().size = *produced;
      res.body().more = *produced != 0;
      Lowest().expires_after(std::chrono::seconds(server_.options_.io_timeout_seconds));
      auto [ec, n] =
          Await([&](auto handler) { http::async_write(stream_, serializer, std::move(handler)); });
      if (ec && ec != http::error::need_buffer) return false;
      *bytes += *produced;
      if (*produced == 0) return true;
    }
  }

  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::buffer_body>> parser_;
  std::string remote_;
  bool expect_continue_ = false;
  bool body_too_large_ = false;
  bool broken_ = false;
};

void HttpServer::Impl::Accept() {
  acceptor_.async_accept(asio::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (!acceptor_.is_open() || stopping_) return;
      log::Warn("http_accept_failed", {{"reason", ec.message()}});
      // Out of descriptors and the like: the pending connection fails again at once, so pause
      // rather than spin.
      accept_pause_.expires_after(kAcceptPause);
      accept_pause_.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec && acceptor_.is_open() && !stopping_) Accept();
      });
      return;
    }
    if (!stopping_) {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      if (tls_) {
        using TlsStream = beast::ssl_stream<beast::tcp_stream>;
        std::make_shared<Connection<TlsStream>>(*this, std::move(socket), *tls_)->Begin();
      } else {
        std::make_shared<Connection<beast::tcp_stream>>(*this, std::move(socket))->Begin();
      }
    }
    Accept();
  });
}

Status HttpServer::Impl::LoadTls() {
  const bool cert = !options_.tls_certificate_file.empty();
  const bool key = !options_.tls_private_key_file.empty();
  if (!cert && !key) return OkStatus();
  if (cert != key) {
    return InvalidArgument("HTTPS needs both http.tls_certificate and http.tls_private_key");
  }
  tls_.emplace(asio::ssl::context::tls_server);
  // TLS 1.2 or newer only.
  tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                    asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  beast::error_code ec;
  tls_->use_certificate_chain_file(options_.tls_certificate_file, ec);
  if (ec) {
    tls_.reset();
    return InvalidArgument("cannot use TLS certificate '" + options_.tls_certificate_file +
                           "': " + ec.message());
  }
  tls_->use_private_key_file(options_.tls_private_key_file, asio::ssl::context::pem, ec);
  if (ec) {
    tls_.reset();
    return InvalidArgument("cannot use TLS private key '" + options_.tls_private_key_file +
                           "' (PEM, matching the certificate): " + ec.message());
  }
  return OkStatus();
}

void HttpServer::Impl::Stop() {
  if (stopped_) return;
  stopped_ = true;
  stopping_ = true;
  if (io_threads_.empty()) return;  // never started
  std::promise<void> closed;
  asio::post(acceptor_.get_executor(), [&] {
    beast::error_code ec;
    acceptor_.close(ec);
    accept_pause_.cancel();
    closed.set_value();
  });
  closed.get_future().wait();
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(sessions_mu_);
    for (auto& [raw, weak] : sessions_) {
      if (auto session = weak.lock()) live.push_back(std::move(session));
    }
  }
  // Outside the lock: dropping the last reference to a session destroys it, and it unregisters.
  for (auto& session : live) session->Shutdown();
  live.clear();
  workers_.join();
  work_.reset();
  ioc_.stop();
  for (auto& t : io_threads_) t.join();
  io_threads_.clear();
}

HttpServer::HttpServer(HttpServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
HttpServer::~HttpServer() { Stop(); }
void HttpServer::AddRoute(std::string method, std::string pattern, Handler handler) {
  impl_->AddRoute(std::move(method), std::move(pattern), std::move(handler));
}
void HttpServer::SetFallback(std::string method, Handler handler) {
  impl_->SetFallback(std::move(method), std::move(handler));
}
Status HttpServer::Start() { return impl_->Start(); }
uint16_t HttpServer::port() const { return impl_->port(); }
void HttpServer::Stop() { impl_->Stop(); }

}  // namespace strata::dicomweb
