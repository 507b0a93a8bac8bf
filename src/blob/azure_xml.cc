#include "blob/azure_xml.h"

#include <charconv>

namespace strata::blob {
namespace {

constexpr int kMaxDepth = 32;
constexpr size_t kMaxDocumentBytes = 16 * 1024 * 1024;

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == ':' || static_cast<unsigned char>(c) >= 0x80;
}

void AppendUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

class Parser {
 public:
  explicit Parser(std::string_view doc) : doc_(doc) {}

  Result<XmlElement> Document() {
    if (doc_.size() > kMaxDocumentBytes) return Fail("document too large");
    SkipMisc();
    if (!Peek('<')) return Fail("no root element");
    XmlElement root;
    STRATA_RETURN_IF_ERROR(Element(root, 0));
    SkipMisc();
    if (pos_ != doc_.size()) return Fail("content after the root element");
    return root;
  }

 private:
  Status Fail(const std::string& why) const {
    return InvalidArgument("malformed XML at byte " + std::to_string(pos_) + ": " + why);
  }
  bool Peek(char c) const { return pos_ < doc_.size() && doc_[pos_] == c; }
  bool StartsWith(std::string_view s) const { return doc_.substr(pos_, s.size()) == s; }
  void SkipSpace() {
    while (pos_ < doc_.size() &&
           (doc_[pos_] == ' ' || doc_[pos_] == '\t' || doc_[pos_] == '\n' || doc_[pos_] == '\r')) {
      ++pos_;
    }
  }
  // Skips whitespace, the XML declaration, processing instructions and comments.
  void SkipMisc() {
    if (StartsWith("\xEF\xBB\xBF")) pos_ += 3;  // UTF-8 byte order mark
    for (;;) {
      SkipSpace();
      if (StartsWith("<?")) {
        size_t end = doc_.find("?>", pos_);
        pos_ = end == std::string_view::npos ? doc_.size() : end + 2;
      } else if (StartsWith("<!--")) {
        size_t end = doc_.find("-->", pos_);
        pos_ = end == std::string_view::npos ? doc_.size() : end + 3;
      } else {
        return;
      }
    }
  }

  Result<std::string> Name() {
    size_t start = pos_;
    while (pos_ < doc_.size() && IsNameChar(doc_[pos_])) ++pos_;
    if (pos_ == start) return Fail("expected a name");
    return std::string(doc_.substr(start, pos_ - start));
  }

  // Decodes character data up to (not including) `stop`, handling entities.
  Status CharData(char stop, std::string& out) {
    while (pos_ < doc_.size() && doc_[pos_] != stop) {
      char c = doc_[pos_];
      if (c == '&') {
        size_t end = doc_.find(';', pos_);
        if (end == std::string_view::npos || end - pos_ > 12) return Fail("bad entity");
        std::string_view entity = doc_.substr(pos_ + 1, end - pos_ - 1);
        if (entity == "amp") {
          out += '&';
        } else if (entity == "lt") {
          out += '<';
        } else if (entity == "gt") {
          out += '>';
        } else if (entity == "quot") {
          out += '"';
        } else if (entity == "apos") {
          out += '\'';
        } else if (entity.size() > 1 && entity[0] == '#') {
          bool hex = entity[1] == 'x';
          std::string_view digits = entity.substr(hex ? 2 : 1);
          uint32_t cp = 0;
          auto [ptr, ec] =
              std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
          if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() ||
              cp == 0 || cp > 0x10FFFF) {
            return Fail("bad character reference");
          }
          AppendUtf8(cp, out);
        } else {
          return Fail("unknown entity");
        }
        pos_ = end + 1;
      } else if (c == '<' && stop != '<') {
        return Fail("'<' in attribute value");
      } else {
        out += c;
        ++pos_;
      }
    }
    return OkStatus();
  }

  Status Element(XmlElement& element, int depth) {
    if (depth >= kMaxDepth) return Fail("nesting too deep");
    ++pos_;  // '<'
    STRATA_ASSIGN_OR_RETURN(element.name, Name());
    // Attributes are read for well-formedness and dropped: nothing we need lives there.
    for (;;) {
      SkipSpace();
      if (StartsWith("/>")) {
        pos_ += 2;
        return OkStatus();
      }
      if (Peek('>')) {
        ++pos_;
        break;
      }
      STRATA_ASSIGN_OR_RETURN(std::string attribute, Name());
      SkipSpace();
      if (!Peek('=')) return Fail("expected '=' after attribute " + attribute);
      ++pos_;
      SkipSpace();
      if (!Peek('"') && !Peek('\'')) return Fail("expected a quoted attribute value");
      char quote = doc_[pos_++];
      std::string ignored;
      STRATA_RETURN_IF_ERROR(CharData(quote, ignored));
      if (!Peek(quote)) return Fail("unterminated attribute value");
      ++pos_;
    }
    // Content.
    for (;;) {
      if (pos_ >= doc_.size()) return Fail("unterminated element " + element.name);
      if (StartsWith("</")) {
        pos_ += 2;
        STRATA_ASSIGN_OR_RETURN(std::string closing, Name());
        if (closing != element.name) return Fail("mismatched closing tag " + closing);
        SkipSpace();
        if (!Peek('>')) return Fail("expected '>'");
        ++pos_;
        return OkStatus();
      }
      if (StartsWith("<!--")) {
        size_t end = doc_.find("-->", pos_);
        if (end == std::string_view::npos) return Fail("unterminated comment");
        pos_ = end + 3;
      } else if (StartsWith("<![CDATA[")) {
        size_t end = doc_.find("]]>", pos_);
        if (end == std::string_view::npos) return Fail("unterminated CDATA");
        element.text.append(doc_.substr(pos_ + 9, end - pos_ - 9));
        pos_ = end + 3;
      } else if (StartsWith("<?")) {
        size_t end = doc_.find("?>", pos_);
        if (end == std::string_view::npos) return Fail("unterminated processing instruction");
        pos_ = end + 2;
      } else if (StartsWith("<!")) {
        return Fail("DTDs are not accepted");
      } else if (Peek('<')) {
        element.children.emplace_back();
        STRATA_RETURN_IF_ERROR(Element(element.children.back(), depth + 1));
      } else {
        STRATA_RETURN_IF_ERROR(CharData('<', element.text));
      }
    }
  }

  std::string_view doc_;
  size_t pos_ = 0;
};

}  // namespace

const XmlElement* XmlElement::Child(std::string_view child_name) const {
  for (const XmlElement& child : children) {
    if (child.name == child_name) return &child;
  }
  return nullptr;
}

Result<XmlElement> ParseXml(std::string_view document) { return Parser(document).Document(); }

Result<BlobListPage> ParseListBlobsResult(std::string_view document) {
  STRATA_ASSIGN_OR_RETURN(XmlElement root, ParseXml(document));
  if (root.name != "EnumerationResults") {
    return InvalidArgument("List Blobs answer is not EnumerationResults but " + root.name);
  }
  BlobListPage page;
  if (const XmlElement* blobs = root.Child("Blobs")) {
    for (const XmlElement& blob : blobs->children) {
      if (blob.name != "Blob") continue;  // BlobPrefix entries only appear with a delimiter
      const XmlElement* name = blob.Child("Name");
      if (name == nullptr || name->text.empty()) return InvalidArgument("Blob without a Name");
      page.names.push_back(name->text);
    }
  }
  if (const XmlElement* marker = root.Child("NextMarker")) page.next_marker = marker->text;
  return page;
}

std::string ParseAzureErrorCode(std::string_view document) {
  Result<XmlElement> root = ParseXml(document);
  if (!root.ok() || root->name != "Error") return "";
  const XmlElement* code = root->Child("Code");
  return code == nullptr ? "" : code->text;
}

}  // namespace strata::blob
