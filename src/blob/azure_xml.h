// A small, dependency-free XML reader for the few documents the Blob service returns (List
// Blobs results and error bodies). It accepts well-formed documents without DTDs, decodes
// the predefined and numeric character entities, and rejects anything else with
// kInvalidArgument; nesting depth and size are bounded, so hostile input cannot exhaust the
// stack or memory.
//
// Thread-safety: reentrant functions; values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace strata::blob {

struct XmlElement {
  std::string name;
  std::string text;  // concatenated character data directly inside this element
  std::vector<XmlElement> children;

  // First child named `name`, or nullptr.
  const XmlElement* Child(std::string_view child_name) const;
};

// Parses a whole document; returns its root element.
Result<XmlElement> ParseXml(std::string_view document);

struct BlobListPage {
  std::vector<std::string> names;
  std::string next_marker;  // empty on the last page
};

// Parses an EnumerationResults document of List Blobs. kInvalidArgument if malformed or if
// the root is not EnumerationResults.
Result<BlobListPage> ParseListBlobsResult(std::string_view document);

// The <Code> of an <Error> document, or "" if the document is not one.
std::string ParseAzureErrorCode(std::string_view document);

}  // namespace strata::blob
