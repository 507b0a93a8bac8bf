// PendingBytes: the unsent rest of one piece of a streamed response body (a multipart part
// header, a zip record, a JSON item), which a body source copies out before producing more.
#pragma once

#include <algorithm>
#include <cstring>
#include <string>

namespace strata::dicomweb {

class PendingBytes {
 public:
  PendingBytes& operator=(std::string bytes) {
    bytes_ = std::move(bytes);
    pos_ = 0;
    return *this;
  }
  bool empty() const { return pos_ >= bytes_.size(); }
  // Copies as much as fits into [buf, buf + size); returns the number of bytes copied.
  size_t CopyTo(char* buf, size_t size) {
    const size_t n = std::min(size, bytes_.size() - pos_);
    std::memcpy(buf, bytes_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  std::string bytes_;
  size_t pos_ = 0;
};

}  // namespace strata::dicomweb
