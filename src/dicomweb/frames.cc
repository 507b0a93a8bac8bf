// WADO-RS /frames/{list}: the frames of one instance as multipart/related, native bytes or
// the stored compressed bit streams.
#include "dicomweb/frames.h"

#include <cstring>
#include <filesystem>
#include <memory>

#include "dicom/pixel_frames.h"
#include "dicom/transcode.h"
#include "dicomweb/multipart.h"
#include "dicomweb/pending_bytes.h"
#include "dicomweb/retrieve_util.h"

namespace strata::dicomweb {
namespace {

constexpr char kExplicitLe[] = "1.2.840.10008.1.2.1";
constexpr char kImplicitLe[] = "1.2.840.10008.1.2";
constexpr char kOctetStream[] = "application/octet-stream";
constexpr size_t kMaxFramesPerRequest = 10000;

// Streams the multipart body, reading (and decoding) one frame when its turn comes.
class FramesBody {
 public:
  FramesBody(std::unique_ptr<blob::LocalObject> object, std::unique_ptr<dicom::FrameReader> reader,
             std::string temp_path, std::vector<uint32_t> frames, FrameEncoding encoding,
             std::string boundary, std::string first_frame)
      : object_(std::move(object)),
        reader_(std::move(reader)),
        temp_path_(std::move(temp_path)),
        frames_(std::move(frames)),
        encoding_(std::move(encoding)),
        boundary_(std::move(boundary)) {
    pending_ = PartHeader(first_frame.size()) + first_frame + "\r\n";
    next_ = 1;
  }
  ~FramesBody() {
    reader_.reset();
    if (!temp_path_.empty()) {
      std::error_code ec;
      std::filesystem::remove(temp_path_, ec);
    }
  }

  Result<size_t> Next(char* buf, size_t size) {
    size_t written = 0;
    while (written < size) {
      if (!pending_.empty()) {
        written += pending_.CopyTo(buf + written, size - written);
        continue;
      }
      if (done_) break;
      if (next_ == frames_.size()) {
        pending_ = "--" + boundary_ + "--\r\n";
        done_ = true;
        continue;
      }
      STRATA_ASSIGN_OR_RETURN(std::string frame, ReadFrame(*reader_, encoding_, frames_[next_]));
      ++next_;
      pending_ = PartHeader(frame.size()) + frame + "\r\n";
    }
    return written;
  }

  static Result<std::string> ReadFrame(dicom::FrameReader& reader, const FrameEncoding& encoding,
                                       uint32_t number) {
    return encoding.decompress ? reader.DecodedFrame(number) : reader.StoredFrame(number);
  }

 private:
  // The header name is spelled "Content-Type:" exactly: cornerstone's multipart parser
  // compares it case-sensitively.
  std::string PartHeader(size_t length) const {
    return "--" + boundary_ + "\r\nContent-Type: " + encoding_.part_type +
           "; transfer-syntax=" + encoding_.transfer_syntax +
           "\r\nContent-Length: " + std::to_string(length) + "\r\n\r\n";
  }

  std::unique_ptr<blob::LocalObject> object_;
  std::unique_ptr<dicom::FrameReader> reader_;
  std::string temp_path_;
  std::vector<uint32_t> frames_;
  FrameEncoding encoding_;
  std::string boundary_;
  size_t next_ = 0;
  bool done_ = false;
  PendingBytes pending_;
};

}  // namespace

Result<std::vector<uint32_t>> ParseFrameList(const std::string& text) {
  std::vector<uint32_t> frames;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    const std::string item = text.substr(start, comma - start);
    if (item.empty() || item.size() > 9 ||
        item.find_first_not_of("0123456789") != std::string::npos) {
      return InvalidArgument("frame list '" + text +
                             "' must be comma-separated frame numbers starting at 1");
    }
    const auto number = static_cast<uint32_t>(std::stoul(item));
    if (number == 0) return InvalidArgument("frame numbers start at 1, not 0");
    frames.push_back(number);
    if (frames.size() > kMaxFramesPerRequest) {
      return InvalidArgument("at most " + std::to_string(kMaxFramesPerRequest) +
                             " frames per request");
    }
    if (comma == text.size()) break;
    start = comma + 1;
  }
  return frames;
}

Result<std::optional<FrameEncoding>> NegotiateFrames(const std::string& accept,
                                                     const std::string& stored_ts,
                                                     bool encapsulated) {
  const FrameEncoding native{encapsulated, kOctetStream, kExplicitLe};
  const FrameEncoding as_stored =
      encapsulated ? FrameEncoding{false, dicom::FrameMediaType(stored_ts), stored_ts} : native;
  const bool can_decode = !encapsulated || dicom::CanDecode(stored_ts);
  if (accept.empty()) {
    return can_decode ? std::optional<FrameEncoding>(native) : std::optional<FrameEncoding>();
  }
  for (const std::string& range : SplitTopLevel(accept)) {
    auto media = ParseMediaType(range);
    if (!media.ok()) return media.status();
    std::string type;
    if (media->type == "*/*") {
      type = kOctetStream;
    } else if (media->type == "multipart/related" || media->type == "multipart/*") {
      type = media->Param("type");
      if (type.empty()) type = kOctetStream;
    } else {
      continue;  // frames always come as multipart/related
    }
    const std::string ts = media->Param("transfer-syntax");
    if (type == kOctetStream || type == "*/*") {
      if (ts == "*") return std::optional<FrameEncoding>(as_stored);
      if ((ts.empty() || ts == kExplicitLe || ts == kImplicitLe) && can_decode) {
        FrameEncoding encoding = native;
        if (!ts.empty()) encoding.transfer_syntax = ts;
        return std::optional<FrameEncoding>(encoding);
      }
      continue;
    }
    // A compressed media type (image/jls, image/x-jls, image/jpeg, ...): only as stored.
    if (type == "image/x-jls") type = "image/jls";
    if (encapsulated && type == as_stored.part_type &&
        (ts.empty() || ts == "*" || ts == stored_ts)) {
      return std::optional<FrameEncoding>(as_stored);
    }
  }
  return std::optional<FrameEncoding>();
}

Response RetrieveFrames(Services& services, const Request& request,
                        const catalog::InstanceLocation& location, std::vector<uint32_t> frames) {
  auto object = services.blobs.Open(location.blob_key);
  if (!object.ok()) return Response::Error(object.status());
  auto reader = dicom::FrameReader::Open((*object)->path());
  if (!reader.ok()) return Response::Error(reader.status());
  const dicom::PixelDataInfo info = (*reader)->info();
  if (frames.empty()) {
    for (uint32_t f = 1; f <= info.number_of_frames; ++f) frames.push_back(f);
  }
  for (uint32_t f : frames) {
    if (f > info.number_of_frames) {
      return Response::Error(404, "frame " + std::to_string(f) +
                                      " does not exist: the instance has " +
                                      std::to_string(info.number_of_frames) + " frame(s)");
    }
  }
  auto encoding =
      NegotiateFrames(request.Header("accept"), info.transfer_syntax, info.encapsulated);
  if (!encoding.ok()) return Response::Error(400, "Accept: " + encoding.status().message());
  if (!*encoding) {
    return Response::Error(
        406, "cannot send frames stored in " + info.transfer_syntax + " as asked by Accept '" +
                 request.Header("accept") +
                 "': Strata sends multipart/related; type=\"application/octet-stream\" "
                 "(uncompressed, or as stored with transfer-syntax=*), or the stored "
                 "compressed media type (" +
                 dicom::FrameMediaType(info.transfer_syntax) + ")");
  }
  std::string temp_path;
  if ((*encoding)->decompress && !dicom::CanDecodeFrames(info.transfer_syntax)) {
    // JPEG 2000 has no frame-by-frame decoder in DCMTK: decode the object once to a
    // temporary native file and read frames from that.
    auto staging = services.blobs.StagingPath();
    if (!staging.ok()) return Response::Error(staging.status());
    temp_path = *staging;
    dicom::RegisterTranscodeCodecs();
    Status transcoded = dicom::TranscodeFile((*object)->path(), kExplicitLe, temp_path);
    if (transcoded.ok()) {
      reader = dicom::FrameReader::Open(temp_path);
      if (!reader.ok()) transcoded = reader.status();
    }
    if (!transcoded.ok()) {
      std::error_code ec;
      std::filesystem::remove(temp_path, ec);
      return Response::Error(transcoded);
    }
    (*encoding)->decompress = false;
  }
  // The first frame is read before answering, so that a corrupt object gets an error status
  // rather than a cut-off body.
  auto first = FramesBody::ReadFrame(**reader, **encoding, frames.front());
  if (!first.ok()) {
    if (!temp_path.empty()) {
      std::error_code ec;
      std::filesystem::remove(temp_path, ec);
    }
    return Response::Error(first.status());
  }
  const std::string boundary = NewBoundary();
  const std::string part_type = (*encoding)->part_type;
  auto body =
      std::make_shared<FramesBody>(std::move(*object), std::move(*reader), std::move(temp_path),
                                   std::move(frames), **encoding, boundary, std::move(*first));
  Response response;
  response.headers.emplace_back(
      "Content-Type", "multipart/related; type=\"" + part_type + "\"; boundary=" + boundary);
  // shared_ptr: the body source is a copyable std::function that owns the stream state.
  response.body_source = [body](char* buf, size_t size) { return body->Next(buf, size); };
  return response;
}

Response HandleFrames(Services& services, Request& request) {
  auto frames = ParseFrameList(request.path_params["frames"]);
  if (!frames.ok()) return Response::Error(frames.status());
  auto located = LocateFromPath(services, request);
  if (!located.ok()) return Response::Error(located.status());
  return RetrieveFrames(services, request, located->front(), std::move(*frames));
}

}  // namespace strata::dicomweb
