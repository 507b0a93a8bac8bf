// Small wrappers over OpenSSL used by the Azure back end and blob naming: base64, hex,
// HMAC-SHA256, MD5 and SHA-256 (incremental, over a file range, of a file), and URL
// percent-encoding.
//
// Thread-safety: free functions are reentrant; a Hasher is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace strata::blob {

std::string Base64Encode(std::string_view bytes);
// kInvalidArgument on characters outside the standard alphabet or bad padding.
Result<std::string> Base64Decode(std::string_view text);
std::string HexEncode(std::string_view bytes);

// Raw 32-byte HMAC-SHA256 of `data` under `key`.
std::string HmacSha256(std::string_view key, std::string_view data);

// Incremental MD5 or SHA-256; Final returns the raw digest and may be called once.
class Hasher {
 public:
  enum class Algorithm { kMd5, kSha256 };
  explicit Hasher(Algorithm algorithm);
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;
  void Update(const void* data, size_t size);
  std::string Final();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class Md5Hasher final : public Hasher {
 public:
  Md5Hasher() : Hasher(Algorithm::kMd5) {}
};

class Sha256Hasher final : public Hasher {
 public:
  Sha256Hasher() : Hasher(Algorithm::kSha256) {}
};

// Raw MD5 of `length` bytes of `path` starting at `offset`. kUnavailable if the file cannot
// be read, kInvalidArgument if it is shorter than offset + length.
Result<std::string> Md5OfFileRange(const std::string& path, uint64_t offset, uint64_t length);

// Reads the first `length` bytes of `path` once and hashes them two ways: each block of
// `block_size` bytes (the last may be shorter), handed to `on_block(index, raw_md5)` in order as
// soon as it is complete, and the whole range, returned. `on_block` returning false stops the
// pass early (kCancelled). Errors as Md5OfFileRange.
// REQUIRES: block_size > 0.
Result<std::string> Md5OfBlocksAndWhole(
    const std::string& path, uint64_t length, uint64_t block_size,
    const std::function<bool(uint64_t index, std::string raw_md5)>& on_block);

// Hex SHA-256 of the bytes of `path` from `offset` to the end, read in bounded chunks.
// kUnavailable if the file cannot be read, kInvalidArgument if it is shorter than `offset`.
Result<std::string> Sha256HexOfFile(const std::string& path, uint64_t offset = 0);

// Percent-encodes everything except RFC 3986 unreserved characters (and '/' if keep_slash).
std::string UrlEncode(std::string_view text, bool keep_slash);

}  // namespace strata::blob
