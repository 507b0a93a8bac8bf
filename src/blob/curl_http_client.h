// CurlHttpClient: the HttpClient on libcurl. libcurl types stay in the .cc file.
//
// Each Send uses its own easy handle, so concurrent calls share nothing but libcurl's global
// state (initialised once). Bodies stream from and to files; memory stays bounded.
// Thread-safety: safe for concurrent use.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "blob/http_client.h"

namespace strata::blob {

struct CurlHttpOptions {
  std::chrono::milliseconds connect_timeout{10'000};
  // Whole exchange; 0 means none. Large transfers rely on low_speed_* instead.
  std::chrono::milliseconds request_timeout{0};
  // Abort a transfer slower than low_speed_bytes_per_second for low_speed_time.
  long low_speed_bytes_per_second = 1024;
  std::chrono::seconds low_speed_time{60};
  bool verify_tls = true;  // peer certificate and host name
  std::string ca_file;     // empty: the system's CA bundle
};

std::unique_ptr<HttpClient> MakeCurlHttpClient(const CurlHttpOptions& options);

}  // namespace strata::blob
