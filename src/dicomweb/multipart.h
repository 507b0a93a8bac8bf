// Media types and a streaming multipart/related parser (RFC 2046 5.1, RFC 2387) for STOW-RS.
//
// The parser is fed the body in pieces of any size and calls its listener for each part's
// headers, data and end; it never holds more than one piece plus a boundary's length and one
// part's headers (bounded by max_header_bytes), so memory stays bounded for any body size.
// It parses untrusted input: every malformation is a kInvalidArgument naming the problem.
// Thread-safety: a parser belongs to one thread.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "core/status.h"

namespace strata::dicomweb {

// "multipart/related; type=\"application/dicom\"; boundary=x" -> type "multipart/related" and
// lower-cased parameter names with unquoted values.
struct MediaType {
  std::string type;  // lower-cased "type/subtype"
  std::map<std::string, std::string> params;

  std::string Param(const std::string& name) const;
};

// kInvalidArgument for a malformed media type or parameter list.
Result<MediaType> ParseMediaType(std::string_view text);

class MultipartListener {
 public:
  virtual ~MultipartListener() = default;
  // `headers` have lower-cased names. A non-OK status stops parsing and is returned by Feed.
  virtual Status OnPartBegin(const std::map<std::string, std::string>& headers) = 0;
  virtual Status OnPartData(std::string_view data) = 0;
  virtual Status OnPartEnd() = 0;
};

class MultipartParser {
 public:
  // REQUIRES: `listener` outlives the parser. kInvalidArgument from Create for a boundary that
  // is empty, longer than 70 characters or has characters RFC 2046 does not allow.
  static Result<MultipartParser> Create(const std::string& boundary, MultipartListener& listener,
                                        size_t max_header_bytes = 16 * 1024);

  // Parses the next piece of the body. After an error the parser stays failed.
  Status Feed(std::string_view data);
  // The body ended: kInvalidArgument unless the closing boundary was seen.
  Status Finish();

  int parts() const { return parts_; }

 private:
  enum class State { kPreamble, kAfterBoundary, kHeaders, kBody, kEpilogue, kFailed };

  MultipartParser(const std::string& boundary, MultipartListener& listener,
                  size_t max_header_bytes);
  Status Process();
  Status Fail(std::string reason);

  std::string delimiter_;  // "\r\n--" + boundary
  MultipartListener* listener_;
  size_t max_header_bytes_;
  State state_ = State::kPreamble;
  std::string pending_;  // bytes not yet consumed; bounded as described above
  int parts_ = 0;
};

}  // namespace strata::dicomweb
