#include "dicomweb/multipart.h"

#include <algorithm>
#include <cctype>

namespace strata::dicomweb {
namespace {

constexpr size_t kMaxTransportPadding = 256;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IsTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// RFC 2046 5.1.1 bcharsnospace plus space (not last).
bool IsValidBoundary(const std::string& b) {
  if (b.empty() || b.size() > 70 || b.back() == ' ') return false;
  return std::all_of(b.begin(), b.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
  });
}

}  // namespace

std::string MediaType::Param(const std::string& name) const {
  auto it = params.find(name);
  return it == params.end() ? "" : it->second;
}

Result<MediaType> ParseMediaType(std::string_view text) {
  MediaType media;
  size_t semi = text.find(';');
  std::string_view type = Trim(text.substr(0, semi));
  size_t slash = type.find('/');
  if (type.empty() || slash == std::string_view::npos || slash == 0 || slash + 1 == type.size() ||
      !std::all_of(type.begin(), type.end(), [](char c) { return c == '/' || IsTokenChar(c); }) ||
      type.find('/', slash + 1) != std::string_view::npos) {
    return InvalidArgument("malformed media type '" + std::string(text) + "'");
  }
  media.type = Lower(type);
  size_t pos = semi == std::string_view::npos ? text.size() : semi + 1;
  while (pos < text.size()) {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) ++pos;
    if (pos == text.size()) break;
    if (text[pos] == ';') {
      ++pos;
      continue;
    }
    size_t eq = text.find('=', pos);
    if (eq == std::string_view::npos) {
      return InvalidArgument("media type parameter without '=' in '" + std::string(text) + "'");
    }
    std::string_view name = Trim(text.substr(pos, eq - pos));
    if (name.empty() || !std::all_of(name.begin(), name.end(), IsTokenChar)) {
      return InvalidArgument("malformed media type parameter in '" + std::string(text) + "'");
    }
    pos = eq + 1;
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) ++pos;
    std::string value;
    if (pos < text.size() && text[pos] == '"') {
      ++pos;
      bool closed = false;
      while (pos < text.size()) {
        char c = text[pos++];
        if (c == '\\' && pos < text.size()) {
          value += text[pos++];
        } else if (c == '"') {
          closed = true;
          break;
        } else {
          value += c;
        }
      }
      if (!closed) {
        return InvalidArgument("unterminated quoted parameter in '" + std::string(text) + "'");
      }
      while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) ++pos;
      if (pos < text.size() && text[pos] != ';') {
        return InvalidArgument("text after a quoted parameter in '" + std::string(text) + "'");
      }
    } else {
      size_t end = text.find(';', pos);
      if (end == std::string_view::npos) end = text.size();
      value = std::string(Trim(text.substr(pos, end - pos)));
      pos = end;
    }
    media.params[Lower(name)] = std::move(value);
  }
  return media;
}

Result<MultipartParser> MultipartParser::Create(const std::string& boundary,
                                                MultipartListener& listener,
                                                size_t max_header_bytes) {
  if (!IsValidBoundary(boundary)) {
    return InvalidArgument("multipart boundary must be 1-70 characters of RFC 2046 bchars");
  }
  return MultipartParser(boundary, listener, max_header_bytes);
}

MultipartParser::MultipartParser(const std::string& boundary, MultipartListener& listener,
                                 size_t max_header_bytes)
    : delimiter_("\r\n--" + boundary),
      listener_(&listener),
      max_header_bytes_(max_header_bytes),
      // The first boundary may start the body; a virtual CRLF lets one search find both.
      pending_("\r\n") {}

Status MultipartParser::Fail(std::string reason) {
  state_ = State::kFailed;
  pending_.clear();
  return InvalidArgument("malformed multipart body: " + reason);
}

Status MultipartParser::Feed(std::string_view data) {
  if (state_ == State::kFailed) return InvalidArgument("malformed multipart body");
  if (state_ == State::kEpilogue) return OkStatus();  // ignored after the closing boundary
  pending_.append(data);
  Status status = Process();
  if (!status.ok()) {
    state_ = State::kFailed;
    pending_.clear();
  }
  return status;
}

Status MultipartParser::Process() {
  size_t pos = 0;
  const size_t keep = delimiter_.size() - 1;  // a delimiter may straddle two pieces
  bool more = true;
  while (more) {
    switch (state_) {
      case State::kPreamble: {
        size_t found = pending_.find(delimiter_, pos);
        if (found != std::string::npos) {
          pos = found + delimiter_.size();
          state_ = State::kAfterBoundary;
        } else {
          if (pending_.size() > pos + keep) pos = pending_.size() - keep;
          more = false;
        }
        break;
      }
      case State::kAfterBoundary: {
        if (pending_.size() - pos < 2) {
          more = false;
          break;
        }
        if (pending_.compare(pos, 2, "--") == 0) {
          state_ = State::kEpilogue;
          pos = pending_.size();
          more = false;
          break;
        }
        size_t padding = 0;
        while (pos + padding < pending_.size() &&
               (pending_[pos + padding] == ' ' || pending_[pos + padding] == '\t')) {
          ++padding;
        }
        if (padding > kMaxTransportPadding) return Fail("boundary line too long");
        if (pending_.size() - pos - padding < 2) {
          more = false;
          break;
        }
        if (pending_.compare(pos + padding, 2, "\r\n") != 0) {
          return Fail("boundary not followed by CRLF");
        }
        pos += padding + 2;
        state_ = State::kHeaders;
        break;
      }
      case State::kHeaders: {
        if (pending_.size() - pos < 2) {
          more = false;
          break;
        }
        std::map<std::string, std::string> headers;
        if (pending_.compare(pos, 2, "\r\n") == 0) {
          pos += 2;  // a part without headers
        } else {
          size_t end = pending_.find("\r\n\r\n", pos);
          if (end == std::string::npos || end - pos > max_header_bytes_) {
            if (pending_.size() - pos > max_header_bytes_) {
              return Fail("part headers longer than " + std::to_string(max_header_bytes_) +
                          " bytes");
            }
            more = false;
            break;
          }
          std::string_view block(pending_.data() + pos, end - pos);
          std::string last_name;
          while (!block.empty()) {
            size_t eol = block.find("\r\n");
            std::string_view line = block.substr(0, eol);
            block = eol == std::string_view::npos ? std::string_view() : block.substr(eol + 2);
            if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
              if (last_name.empty()) return Fail("continuation line before any header");
              headers[last_name] += " " + std::string(Trim(line));
              continue;
            }
            size_t colon = line.find(':');
            if (colon == std::string_view::npos || colon == 0) {
              return Fail("part header line without a name and ':'");
            }
            std::string_view name = line.substr(0, colon);
            if (!std::all_of(name.begin(), name.end(), IsTokenChar)) {
              return Fail("invalid part header name");
            }
            last_name = Lower(name);
            headers[last_name] = std::string(Trim(line.substr(colon + 1)));
          }
          pos = end + 4;
        }
        ++parts_;
        STRATA_RETURN_IF_ERROR(listener_->OnPartBegin(headers));
        state_ = State::kBody;
        break;
      }
      case State::kBody: {
        size_t found = pending_.find(delimiter_, pos);
        if (found != std::string::npos) {
          if (found > pos) {
            STRATA_RETURN_IF_ERROR(
                listener_->OnPartData(std::string_view(pending_).substr(pos, found - pos)));
          }
          STRATA_RETURN_IF_ERROR(listener_->OnPartEnd());
          pos = found + delimiter_.size();
          state_ = State::kAfterBoundary;
        } else {
          if (pending_.size() > pos + keep) {
            size_t safe = pending_.size() - keep;
            STRATA_RETURN_IF_ERROR(
                listener_->OnPartData(std::string_view(pending_).substr(pos, safe - pos)));
            pos = safe;
          }
          more = false;
        }
        break;
      }
      case State::kEpilogue:
        pos = pending_.size();
        more = false;
        break;
      case State::kFailed:
        return InvalidArgument("malformed multipart body");
    }
  }
  pending_.erase(0, pos);
  return OkStatus();
}

Status MultipartParser::Finish() {
  switch (state_) {
    case State::kEpilogue:
      return OkStatus();
    case State::kPreamble:
      return Fail("no boundary found");
    case State::kFailed:
      return InvalidArgument("malformed multipart body");
    default:
      return Fail("body ends before the closing boundary");
  }
}

}  // namespace strata::dicomweb
