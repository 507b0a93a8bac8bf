#include "blob/crypto_util.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

namespace strata::blob {
namespace {

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t n = (static_cast<uint8_t>(bytes[i]) << 16) |
                 (static_cast<uint8_t>(bytes[i + 1]) << 8) | static_cast<uint8_t>(bytes[i + 2]);
    out += kBase64Alphabet[(n >> 18) & 63];
    out += kBase64Alphabet[(n >> 12) & 63];
    out += kBase64Alphabet[(n >> 6) & 63];
    out += kBase64Alphabet[n & 63];
  }
  size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    if (rest == 2) n |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += kBase64Alphabet[(n >> 18) & 63];
    out += kBase64Alphabet[(n >> 12) & 63];
    out += rest == 2 ? kBase64Alphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return InvalidArgument("base64 length is not a multiple of 4");
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int padding = 0;
    for (int j = 0; j < 4; ++j) {
      char c = text[i + j];
      bool last_group = i + 4 == text.size();
      if (c == '=' && last_group && j >= 2) {
        v[j] = 0;
        ++padding;
        continue;
      }
      if (padding > 0) return InvalidArgument("base64 data after padding");
      v[j] = Base64Value(c);
      if (v[j] < 0) return InvalidArgument("invalid base64 character");
    }
    uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out += static_cast<char>((n >> 16) & 0xff);
    if (padding < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (padding < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}

std::string HexEncode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    out += kDigits[(static_cast<uint8_t>(c) >> 4) & 0xf];
    out += kDigits[static_cast<uint8_t>(c) & 0xf];
  }
  return out;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(), &mac_size);
  return std::string(reinterpret_cast<const char*>(mac.data()), mac_size);
}

struct Hasher::Impl {
  EVP_MD_CTX* ctx = nullptr;
};

Hasher::Hasher(Algorithm algorithm) : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  STRATA_CHECK(impl_->ctx != nullptr) << "EVP_MD_CTX_new failed";
  const EVP_MD* md = algorithm == Algorithm::kMd5 ? EVP_md5() : EVP_sha256();
  STRATA_CHECK(EVP_DigestInit_ex(impl_->ctx, md, nullptr) == 1) << "digest unavailable";
}

Hasher::~Hasher() { EVP_MD_CTX_free(impl_->ctx); }

void Hasher::Update(const void* data, size_t size) { EVP_DigestUpdate(impl_->ctx, data, size); }

std::string Hasher::Final() {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  EVP_DigestFinal_ex(impl_->ctx, digest.data(), &size);
  return std::string(reinterpret_cast<const char*>(digest.data()), size);
}

Result<std::string> Md5OfFileRange(const std::string& path, uint64_t offset, uint64_t length) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Unavailable("open " + path + ": " + std::strerror(errno));
  Md5Hasher hasher;
  std::vector<char> buffer(1 << 16);
  uint64_t done = 0;
  while (done < length) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buffer.size(), length - done));
    ssize_t got = ::pread(fd, buffer.data(), want, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return Unavailable("read " + path + ": " + std::strerror(err));
    }
    if (got == 0) {
      ::close(fd);
      return InvalidArgument("file " + path + " is shorter than expected");
    }
    hasher.Update(buffer.data(), static_cast<size_t>(got));
    done += static_cast<uint64_t>(got);
  }
  ::close(fd);
  return hasher.Final();
}

Result<std::string> Md5OfBlocksAndWhole(
    const std::string& path, uint64_t length, uint64_t block_size,
    const std::function<bool(uint64_t index, std::string raw_md5)>& on_block) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Unavailable("open " + path + ": " + std::strerror(errno));
  Md5Hasher whole;
  std::vector<char> buffer(1 << 20);
  uint64_t done = 0;
  for (uint64_t index = 0; done < length; ++index) {
    const uint64_t block_end = std::min(length, done + block_size);
    Md5Hasher block;
    while (done < block_end) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(buffer.size(), block_end - done));
      ssize_t got = ::pread(fd, buffer.data(), want, static_cast<off_t>(done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        int err = errno;
        ::close(fd);
        return got < 0 ? Unavailable("read " + path + ": " + std::strerror(err))
                       : InvalidArgument("file " + path + " is shorter than expected");
      }
      block.Update(buffer.data(), static_cast<size_t>(got));
      whole.Update(buffer.data(), static_cast<size_t>(got));
      done += static_cast<uint64_t>(got);
    }
    if (!on_block(index, block.Final())) {
      ::close(fd);
      return Cancelled("hashing " + path + " stopped");
    }
  }
  ::close(fd);
  return whole.Final();
}

Result<std::string> Sha256HexOfFile(const std::string& path, uint64_t offset) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Unavailable("open " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) < offset) {
    ::close(fd);
    return InvalidArgument("file " + path + " is shorter than expected");
  }
  Sha256Hasher hasher;
  // One buffer per thread, left uninitialised: ingest hashes every stored file, and a fresh
  // zero-filled megabyte per call showed up in its profile.
  constexpr size_t kBufferBytes = 256 << 10;
  thread_local auto buffer = std::make_unique_for_overwrite<char[]>(kBufferBytes);
  uint64_t position = offset;
  while (true) {
    ssize_t got = ::pread(fd, buffer.get(), kBufferBytes, static_cast<off_t>(position));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int err = errno;
      ::close(fd);
      return Unavailable("read " + path + ": " + std::strerror(err));
    }
    if (got == 0) break;
    hasher.Update(buffer.get(), static_cast<size_t>(got));
    position += static_cast<uint64_t>(got);
  }
  ::close(fd);
  return HexEncode(hasher.Final());
}

std::string UrlEncode(std::string_view text, bool keep_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved || (keep_slash && c == '/')) {
      out += c;
    } else {
      out += '%';
      out += kDigits[(static_cast<uint8_t>(c) >> 4) & 0xf];
      out += kDigits[static_cast<uint8_t>(c) & 0xf];
    }
  }
  return out;
}

}  // namespace strata::blob
