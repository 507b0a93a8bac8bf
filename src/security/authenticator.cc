#include "security/authenticator.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cctype>

namespace strata::security {
namespace {

std::array<unsigned char, 32> Sha256(std::string_view text) {
  std::array<unsigned char, 32> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  return digest;
}

Result<std::array<unsigned char, 32>> ParseHexDigest(const std::string& hex) {
  std::array<unsigned char, 32> out{};
  if (hex.size() != 64) return InvalidArgument("token digest must be 64 hex digits");
  for (size_t i = 0; i < 32; ++i) {
    unsigned value = 0;
    for (size_t j = 0; j < 2; ++j) {
      char c = static_cast<char>(std::tolower(static_cast<unsigned char>(hex[2 * i + j])));
      int nibble = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
      if (nibble < 0) return InvalidArgument("token digest must be 64 hex digits");
      value = value * 16 + static_cast<unsigned>(nibble);
    }
    out[i] = static_cast<unsigned char>(value);
  }
  return out;
}

// Decodes standard base64 (with or without padding); nullopt-like error on bad input.
Result<std::string> DecodeBase64(std::string_view in) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() > 4096) return Unauthenticated("credentials too long");
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    int v = (c >= 'A' && c <= 'Z')   ? c - 'A'
            : (c >= 'a' && c <= 'z') ? c - 'a' + 26
            : (c >= '0' && c <= '9') ? c - '0' + 52
            : c == '+'               ? 62
            : c == '/'               ? 63
                                     : -1;
    if (v < 0) return Unauthenticated("Basic credentials are not valid base64");
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return out;
}

bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  }
  return true;
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kReader:
      return "reader";
    case Role::kWriter:
      return "writer";
    case Role::kAdmin:
      return "admin";
  }
  return "reader";
}

Result<Role> ParseRole(std::string_view name) {
  if (name == "reader") return Role::kReader;
  if (name == "writer") return Role::kWriter;
  if (name == "admin") return Role::kAdmin;
  return InvalidArgument("unknown role '" + std::string(name) +
                         "', expected reader, writer or admin");
}

Result<TokenAuthenticator> TokenAuthenticator::Create(const std::vector<ApiToken>& tokens) {
  TokenAuthenticator auth;
  for (const auto& t : tokens) {
    Entry e;
    e.principal.name = t.name;
    STRATA_ASSIGN_OR_RETURN(e.principal.role, ParseRole(t.role));
    STRATA_ASSIGN_OR_RETURN(e.digest, ParseHexDigest(t.sha256_hex));
    auth.tokens_.push_back(std::move(e));
  }
  return auth;
}

Result<Principal> TokenAuthenticator::Authenticate(std::string_view header) const {
  if (header.empty()) return Unauthenticated("credentials required (Authorization header)");
  std::string_view secret;
  std::string basic_name;
  std::string decoded;
  if (StartsWithNoCase(header, "bearer ")) {
    secret = header.substr(7);
  } else if (StartsWithNoCase(header, "basic ")) {
    STRATA_ASSIGN_OR_RETURN(decoded, DecodeBase64(header.substr(6)));
    auto colon = decoded.find(':');
    if (colon == std::string::npos) return Unauthenticated("Basic credentials need name:token");
    basic_name = decoded.substr(0, colon);
    secret = std::string_view(decoded).substr(colon + 1);
  } else {
    return Unauthenticated("unsupported Authorization scheme (use Bearer or Basic)");
  }
  while (!secret.empty() && secret.front() == ' ') secret.remove_prefix(1);
  if (secret.empty()) return Unauthenticated("empty token");
  const auto digest = Sha256(secret);
  // Every entry is compared in constant time, so timing tells nothing about which one matched.
  const Entry* match = nullptr;
  for (const auto& e : tokens_) {
    if (CRYPTO_memcmp(e.digest.data(), digest.data(), digest.size()) == 0) match = &e;
  }
  if (!match) return Unauthenticated("invalid token");
  if (!basic_name.empty() && basic_name != match->principal.name) {
    return Unauthenticated("token does not belong to that name");
  }
  return match->principal;
}

std::string NewTokenSecret() {
  unsigned char raw[32];
  STRATA_CHECK(RAND_bytes(raw, sizeof(raw)) == 1);
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (unsigned char c : raw) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(buffer >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (6 - bits)) & 0x3f]);
  return out;
}

std::string Sha256Hex(std::string_view text) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : Sha256(text)) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

}  // namespace strata::security
