// libFuzzer target: the STOW-RS multipart/related parser and the media type parser, on
// arbitrary bytes fed in pieces whose sizes come from the input itself.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dicomweb/multipart.h"

namespace {

class Sink : public strata::dicomweb::MultipartListener {
 public:
  strata::Status OnPartBegin(const std::map<std::string, std::string>& headers) override {
    in_part_ = true;
    return strata::OkStatus();
  }
  strata::Status OnPartData(std::string_view data) override {
    if (!in_part_) __builtin_trap();  // data outside a part would be a parser bug
    return strata::OkStatus();
  }
  strata::Status OnPartEnd() override {
    in_part_ = false;
    return strata::OkStatus();
  }

 private:
  bool in_part_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t piece = 1 + data[0] % 64;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  // The first line is a media type; the rest is the body.
  size_t eol = input.find('\n');
  std::string_view type = input.substr(0, eol);
  std::string_view body = eol == std::string_view::npos ? "" : input.substr(eol + 1);
  auto media = strata::dicomweb::ParseMediaType(type);
  std::string boundary = media.ok() ? media->Param("boundary") : "b";
  Sink sink;
  auto parser = strata::dicomweb::MultipartParser::Create(boundary, sink, 1024);
  if (!parser.ok()) return 0;
  for (size_t i = 0; i < body.size(); i += piece) {
    if (!parser->Feed(body.substr(i, piece)).ok()) return 0;
  }
  (void)parser->Finish();
  return 0;
}
