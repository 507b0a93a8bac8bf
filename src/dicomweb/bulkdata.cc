// WADO-RS /bulkdata (PS3.18 10.4.1.1.5): the values /metadata leaves out as BulkDataURIs
// (".../instances/{instance}/bulkdata/7FE00010"), as multipart/related application/octet-stream.
#include <cstring>
#include <memory>

#include "dicom/pixel_frames.h"
#include "dicom/transcode.h"
#include "dicomweb/frames.h"
#include "dicomweb/multipart.h"
#include "dicomweb/pending_bytes.h"
#include "dicomweb/retrieve_util.h"

namespace strata::dicomweb {
namespace {

constexpr dicom::Tag kPixelData = dicom::MakeTag(0x7FE0, 0x0010);

Result<dicom::Tag> ParseTag(const std::string& text) {
  if (text.size() != 8 || text.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
    return InvalidArgument("bulk data tag '" + text + "' must be 8 hexadecimal digits (ggggeeee)");
  }
  return static_cast<dicom::Tag>(std::stoul(text, nullptr, 16));
}

// Whether `accept` allows one multipart/related application/octet-stream part.
Result<bool> AcceptsOctetStream(const std::string& accept) {
  if (accept.empty()) return true;
  for (const std::string& range : SplitTopLevel(accept)) {
    auto media = ParseMediaType(range);
    if (!media.ok()) return media.status();
    if (media->type == "*/*") return true;
    if (media->type != "multipart/related" && media->type != "multipart/*") continue;
    const std::string type = media->Param("type");
    const std::string ts = media->Param("transfer-syntax");
    if ((type.empty() || type == "application/octet-stream" || type == "*/*") &&
        (ts.empty() || ts == "*" || ts == "1.2.840.10008.1.2.1")) {
      return true;
    }
  }
  return false;
}

// Streams one part holding the value, a chunk at a time.
class BulkDataBody {
 public:
  BulkDataBody(std::unique_ptr<blob::LocalObject> object,
               std::unique_ptr<dicom::BulkDataReader> reader, std::string boundary)
      : object_(std::move(object)), reader_(std::move(reader)), boundary_(std::move(boundary)) {
    pending_ = "--" + boundary_ +
               "\r\nContent-Type: application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"
               "\r\nContent-Length: " +
               std::to_string(reader_->size()) + "\r\n\r\n";
  }

  Result<size_t> Next(char* buf, size_t size) {
    size_t written = 0;
    while (written < size) {
      if (!pending_.empty()) {
        written += pending_.CopyTo(buf + written, size - written);
        continue;
      }
      if (state_ == State::kValue) {
        STRATA_ASSIGN_OR_RETURN(size_t n, reader_->Read(offset_, buf + written, size - written));
        offset_ += n;
        written += n;
        if (n == 0 || offset_ >= reader_->size()) {
          pending_ = "\r\n--" + boundary_ + "--\r\n";
          state_ = State::kDone;
        }
        continue;
      }
      break;
    }
    return written;
  }

 private:
  enum class State { kValue, kDone };
  std::unique_ptr<blob::LocalObject> object_;
  std::unique_ptr<dicom::BulkDataReader> reader_;
  std::string boundary_;
  State state_ = State::kValue;
  uint64_t offset_ = 0;
  PendingBytes pending_;
};

}  // namespace

Response HandleBulkData(Services& services, Request& request) {
  auto tag = ParseTag(request.path_params["tag"]);
  if (!tag.ok()) return Response::Error(tag.status());
  auto located = LocateFromPath(services, request);
  if (!located.ok()) return Response::Error(located.status());
  const catalog::InstanceLocation& location = located->front();
  if (*tag == kPixelData && !dicom::IsNativeTransferSyntax(location.transfer_syntax_uid)) {
    // Encapsulated Pixel Data is a sequence of fragments: it is sent frame by frame, with the
    // same negotiation as /frames.
    return RetrieveFrames(services, request, location, {});
  }
  auto accepts = AcceptsOctetStream(request.Header("accept"));
  if (!accepts.ok()) return Response::Error(400, "Accept: " + accepts.status().message());
  if (!*accepts) {
    return Response::Error(406,
                           "bulk data is sent as multipart/related; "
                           "type=\"application/octet-stream\", not as Accept '" +
                               request.Header("accept") + "' asks");
  }
  auto object = services.blobs.Open(location.blob_key);
  if (!object.ok()) return Response::Error(object.status());
  auto reader = dicom::BulkDataReader::Open((*object)->path(), *tag);
  if (!reader.ok()) return Response::Error(reader.status());
  const std::string boundary = NewBoundary();
  auto body = std::make_shared<BulkDataBody>(std::move(*object), std::move(*reader), boundary);
  Response response;
  response.headers.emplace_back(
      "Content-Type", "multipart/related; type=\"application/octet-stream\"; boundary=" + boundary);
  response.body_source = [body](char* buf, size_t size) { return body->Next(buf, size); };
  return response;
}

}  // namespace strata::dicomweb
