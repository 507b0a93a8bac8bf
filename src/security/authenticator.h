// Authenticator: turns a request's credentials into a Principal.
//
// TokenAuthenticator checks API tokens from the configuration, kept as SHA-256 digests only.
// It takes the HTTP Authorization header: "Bearer <secret>", or "Basic base64(name:secret)"
// so a browser's own login prompt works (the name must be the token's name).
// Thread-safety: immutable after construction; Authenticate may be called concurrently.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "security/principal.h"

namespace strata::security {

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // kUnauthenticated (with a reason safe to show the caller) when the credentials are missing,
  // malformed or unknown.
  virtual Result<Principal> Authenticate(std::string_view authorization_header) const = 0;
};

class TokenAuthenticator : public Authenticator {
 public:
  // Fails with kInvalidArgument on a bad role or digest (the config parser checks these too).
  static Result<TokenAuthenticator> Create(const std::vector<ApiToken>& tokens);

  Result<Principal> Authenticate(std::string_view authorization_header) const override;
  size_t token_count() const { return tokens_.size(); }

 private:
  struct Entry {
    Principal principal;
    std::array<unsigned char, 32> digest;
  };
  std::vector<Entry> tokens_;
};

// A new random token secret (256 bits, base64url without padding).
std::string NewTokenSecret();
// The lower-case hex SHA-256 of `text`, as `auth.tokens` stores it.
std::string Sha256Hex(std::string_view text);

}  // namespace strata::security
