// Azure Storage Shared Key and service SAS signing: pure functions from a request description
// (or SAS fields) to the string-to-sign and its HMAC-SHA256 signature. No I/O, no clock.
//
// Rules followed (and pinned by tests, see ../shared/ECOSYSTEM.md §1):
// - Canonicalized resource = "/" + account + the URL path as sent. With a path-style emulator
//   URL the path already starts with the account: "/devstoreaccount1/devstoreaccount1/c/b".
// - Every standard header in the string-to-sign and every x-ms-* header is taken from the
//   headers actually sent; callers must sign exactly what they send.
// - Content-Length is the empty string when it is 0.
//
// Thread-safety: reentrant functions.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strata::blob {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct SignableRequest {
  std::string method;  // "GET", "PUT", ...
  std::string path;    // URL path as sent (percent-encoded), starting with '/'
  // Query parameters, decoded (names and values as they are before percent-encoding).
  std::vector<std::pair<std::string, std::string>> query;
  HeaderList headers;  // every header that will be sent; names in any case
};

// The Shared Key (version 2009-09-19 and later) string-to-sign for `request`.
std::string SharedKeyStringToSign(const SignableRequest& request, std::string_view account);

// base64(HMAC-SHA256(key, string_to_sign)); `key` is the decoded account key.
std::string SharedKeySignature(std::string_view key, std::string_view string_to_sign);

// The Authorization header value: "SharedKey <account>:<signature>".
std::string SharedKeyAuthorization(std::string_view account, std::string_view key,
                                   const SignableRequest& request);

// Fields of a blob or container service SAS (x-ms-version 2020-12-06 and later layout).
struct ServiceSasFields {
  std::string account;
  std::string container;
  std::string blob;         // empty for a container SAS
  std::string permissions;  // e.g. "r", "racwdl"
  std::string start;        // ISO 8601 UTC, may be empty
  std::string expiry;       // ISO 8601 UTC, e.g. "2030-01-01T00:00:00Z"
  std::string version = "2021-12-02";
  std::string protocol;  // "https", "https,http" or empty
};

// The service SAS string-to-sign for `fields`.
std::string ServiceSasStringToSign(const ServiceSasFields& fields);

// The SAS query string (without a leading '?'), percent-encoded, signed with `key`.
std::string ServiceSasToken(const ServiceSasFields& fields, std::string_view key);

}  // namespace strata::blob
