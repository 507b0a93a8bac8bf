#include "dicomweb/http_server.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <stdexcept>
#include <thread>

namespace strata::dicomweb {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServerOptions options;
    options.bind_address = "127.0.0.1";
    options.port = 0;
    options.max_body_bytes = 1000;
    options.worker_threads = 2;
    server_ = std::make_unique<HttpServer>(options);
    server_->AddRoute("GET", "/echo/{word}", [](Request& r) {
      std::string text = r.path_params.at("word");
      for (const auto& [k, v] : r.query) text += "|" + k + "=" + v;
      return Response::Json(200, text, "text/plain");
    });
    server_->AddRoute("GET", "/throw",
                      [](Request&) -> Response { throw std::runtime_error("boom"); });
    server_->AddRoute("POST", "/count", [](Request& r) {
      size_t total = 0;
      char buf[64];
      while (true) {
        Result<size_t> n = r.body->Read(buf, sizeof(buf));
        if (!n.ok()) return Response::Error(n.status());
        if (*n == 0) break;
        total += *n;
      }
      return Response::Json(200, std::to_string(total), "text/plain");
    });
    server_->AddRoute("GET", "/stream", [](Request&) {
      Response r;
      auto left = std::make_shared<int>(100000);
      r.body_source = [left](char* buf, size_t size) -> Result<size_t> {
        size_t n = std::min(size, static_cast<size_t>(*left));
        std::fill(buf, buf + n, 'z');
        *left -= static_cast<int>(n);
        return n;
      };
      return r;
    });
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_NE(server_->port(), 0);
  }
  void TearDown() override { server_->Stop(); }

  void Connect() {
    stream_ = std::make_unique<beast::tcp_stream>(ioc_);
    stream_->connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
  }

  http::response<http::string_body> Send(http::request<http::string_body> req) {
    if (!stream_) Connect();
    req.version(11);
    req.set(http::field::host, "localhost");
    req.prepare_payload();
    http::write(*stream_, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(*stream_, buffer, res);
    return res;
  }

  http::response<http::string_body> Get(const std::string& target) {
    return Send(http::request<http::string_body>(http::verb::get, target, 11));
  }

  asio::io_context ioc_;
  std::unique_ptr<beast::tcp_stream> stream_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, RoutesPathParamsAndQueryOnOneKeptAliveConnection) {
  auto a = Get("/echo/hello?x=1&y=a%20b+c&flag");
  EXPECT_EQ(a.result_int(), 200);
  EXPECT_EQ(a.body(), "hello|x=1|y=a b c|flag=");
  auto b = Get("/echo/again/");  // same connection, trailing slash
  EXPECT_EQ(b.result_int(), 200);
  EXPECT_EQ(b.body(), "again");
}

TEST_F(HttpServerTest, UnknownPathAndWrongMethod) {
  EXPECT_EQ(Get("/nothing/here").result_int(), 404);
  auto res = Send(http::request<http::string_body>(http::verb::post, "/echo/x", 11));
  EXPECT_EQ(res.result_int(), 405);
  EXPECT_NE(res.body().find("not allowed"), std::string::npos);
  EXPECT_EQ(Get("/echo/bad%zzescape").result_int(), 400);
}

TEST_F(HttpServerTest, HandlerExceptionIs500AndServerKeepsServing) {
  auto res = Get("/throw");
  EXPECT_EQ(res.result_int(), 500);
  EXPECT_NE(res.body().find("boom"), std::string::npos);
  stream_.reset();
  EXPECT_EQ(Get("/echo/alive").body(), "alive");
}

TEST_F(HttpServerTest, BodiesAreStreamedAndLimited) {
  http::request<http::string_body> small(http::verb::post, "/count", 11);
  small.body() = std::string(999, 'a');
  auto ok = Send(small);
  EXPECT_EQ(ok.result_int(), 200);
  EXPECT_EQ(ok.body(), "999");

  stream_.reset();
  http::request<http::string_body> big(http::verb::post, "/count", 11);
  big.body() = std::string(1001, 'a');
  auto refused = Send(big);
  EXPECT_EQ(refused.result_int(), 413);
  EXPECT_NE(refused.body().find("exceeds"), std::string::npos);

  // Chunked: the limit is found while reading.
  stream_.reset();
  Connect();
  std::string chunked =
      "POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3e8\r\n" +
      std::string(1000, 'b') + "\r\n10\r\n" + std::string(16, 'c') + "\r\n0\r\n\r\n";
  asio::write(*stream_, asio::buffer(chunked));
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(*stream_, buffer, res);
  EXPECT_EQ(res.result_int(), 413);

  stream_.reset();
  EXPECT_EQ(Get("/echo/still").body(), "still");
}

TEST_F(HttpServerTest, StreamedResponseIsChunked) {
  auto res = Get("/stream");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_TRUE(res.chunked());
  EXPECT_EQ(res.body(), std::string(100000, 'z'));
}

TEST_F(HttpServerTest, GarbageRequestGets400) {
  Connect();
  asio::write(*stream_, asio::buffer(std::string("NOT HTTP AT ALL\r\n\r\n")));
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  beast::error_code ec;
  http::read(*stream_, buffer, res, ec);
  EXPECT_EQ(res.result_int(), 400);
  stream_.reset();
  EXPECT_EQ(Get("/echo/fine").body(), "fine");
}

// Out of file descriptors, a pending connection fails every accept at once: the server pauses
// between tries instead of spinning, and serves the connection once descriptors are back.
TEST_F(HttpServerTest, FailedAcceptPausesAndRecovers) {
#ifdef STRATA_UBSAN
  // UBSan checks a type it has not seen yet by reading memory through a pipe; with no descriptor
  // left it reports a false error and stops the process. Run in the other builds.
  GTEST_SKIP() << "needs descriptors to run out, which UBSan's type checks cannot take";
#endif
  stream_ = std::make_unique<beast::tcp_stream>(ioc_);
  stream_->socket().open(tcp::v4());
  timeval timeout{10, 0};
  ASSERT_EQ(::setsockopt(stream_->socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout,
                         sizeof(timeout)),
            0);
  testing::internal::CaptureStderr();
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  // The lowest free descriptor becomes the limit, so no new one can be opened.
  const int lowest_free = ::dup(0);
  ASSERT_GE(lowest_free, 0);
  ::close(lowest_free);
  rlimit lowered = saved;
  lowered.rlim_cur = static_cast<rlim_t>(lowest_free);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);
  beast::error_code connect_ec;
  stream_->socket().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()),
                            connect_ec);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_FALSE(connect_ec) << connect_ec.message();

  http::request<http::string_body> req(http::verb::get, "/echo/back", 11);
  req.set(http::field::host, "localhost");
  http::write(*stream_, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(*stream_, buffer, res);
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(res.body(), "back");

  size_t failures = 0;
  for (size_t at = log.find("http_accept_failed"); at != std::string::npos;
       at = log.find("http_accept_failed", at + 1)) {
    ++failures;
  }
  // 500 ms at one try per 100 ms; spinning would log thousands.
  EXPECT_GE(failures, 1u);
  EXPECT_LE(failures, 10u) << log.substr(0, 2000);
}

TEST(QueryStringTest, Decoding) {
  auto q = ParseQueryString("a=1&&b=%41%42&c");
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->size(), 3u);
  EXPECT_EQ((*q)[1].second, "AB");
  EXPECT_EQ((*q)[2].first, "c");
  EXPECT_FALSE(ParseQueryString("a=%4").ok());
  EXPECT_FALSE(ParseQueryString("a=%").ok());
  EXPECT_FALSE(PercentDecode("%G0", false).ok());
  EXPECT_EQ(*PercentDecode("a+b", false), "a+b");
}

}  // namespace
}  // namespace strata::dicomweb
