// WADO-RS /rendered and /thumbnail (PS3.18 10.4.1.1.3, 10.4.1.1.6): one frame as a JPEG or PNG
// picture, with the window, viewport and quality query parameters (PS3.18 8.3.5.1).
#include <charconv>
#include <filesystem>

#include "dicom/rendered_image.h"
#include "dicom/transcode.h"
#include "dicomweb/frames.h"
#include "dicomweb/multipart.h"
#include "dicomweb/retrieve_util.h"

namespace strata::dicomweb {
namespace {

constexpr uint32_t kThumbnailSize = 128;
// A study or series thumbnail tries this many instances before giving up (e.g. SRs first).
constexpr size_t kThumbnailCandidates = 8;

std::vector<std::string> SplitCommas(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    out.push_back(
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

Result<double> ParseNumber(const std::string& name, const std::string& text) {
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) {
    return InvalidArgument(name + ": '" + text + "' is not a number");
  }
  return value;
}

Result<uint32_t> ParseCount(const std::string& name, const std::string& text) {
  STRATA_ASSIGN_OR_RETURN(double value, ParseNumber(name, text));
  if (value < 0 || value > 65535 || value != static_cast<double>(static_cast<uint32_t>(value))) {
    return InvalidArgument(name + ": '" + text + "' is not a whole number in [0, 65535]");
  }
  return static_cast<uint32_t>(value);
}

// window=center,width,function and viewport=vw,vh[,sx,sy,sw,sh], quality=q.
Status ParseRenderParams(const Request& request, dicom::RenderOptions* options) {
  for (const auto& [name, value] : request.query) {
    if (name == "window") {
      const auto parts = SplitCommas(value);
      if (parts.size() != 3) {
        return InvalidArgument("window must be center,width,function, not '" + value + "'");
      }
      dicom::RenderWindow window;
      STRATA_ASSIGN_OR_RETURN(window.center, ParseNumber("window center", parts[0]));
      STRATA_ASSIGN_OR_RETURN(window.width, ParseNumber("window width", parts[1]));
      if (window.width < 1) return InvalidArgument("window width must be at least 1");
      std::string function = parts[2];
      for (char& c : function) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (function == "sigmoid") {
        window.sigmoid = true;
      } else if (function != "linear") {
        return InvalidArgument("window function '" + parts[2] +
                               "' is not supported (linear or sigmoid)");
      }
      options->window = window;
    } else if (name == "viewport") {
      const auto parts = SplitCommas(value);
      if (parts.size() != 2 && parts.size() != 6) {
        return InvalidArgument("viewport must be vw,vh or vw,vh,sx,sy,sw,sh, not '" + value + "'");
      }
      dicom::RenderViewport viewport;
      STRATA_ASSIGN_OR_RETURN(viewport.width, ParseCount("viewport width", parts[0]));
      STRATA_ASSIGN_OR_RETURN(viewport.height, ParseCount("viewport height", parts[1]));
      if (viewport.width == 0 || viewport.height == 0) {
        return InvalidArgument("viewport width and height must be positive");
      }
      if (parts.size() == 6) {
        STRATA_ASSIGN_OR_RETURN(viewport.sx, ParseCount("viewport sx", parts[2]));
        STRATA_ASSIGN_OR_RETURN(viewport.sy, ParseCount("viewport sy", parts[3]));
        STRATA_ASSIGN_OR_RETURN(viewport.sw, ParseCount("viewport sw", parts[4]));
        STRATA_ASSIGN_OR_RETURN(viewport.sh, ParseCount("viewport sh", parts[5]));
        if (viewport.sw == 0 || viewport.sh == 0) {
          return InvalidArgument("viewport sw and sh must be positive");
        }
      }
      options->viewport = viewport;
    } else if (name == "quality") {
      STRATA_ASSIGN_OR_RETURN(uint32_t quality, ParseCount("quality", value));
      if (quality < 1 || quality > 100) return InvalidArgument("quality must be in [1, 100]");
      options->quality = static_cast<int>(quality);
    }
  }
  return OkStatus();
}

// The picture format from Accept: image/jpeg (also the default), image/png. nullopt: 406.
Result<std::optional<dicom::RenderFormat>> NegotiateFormat(const std::string& accept) {
  if (accept.empty()) return std::optional<dicom::RenderFormat>(dicom::RenderFormat::kJpeg);
  for (const std::string& range : SplitTopLevel(accept)) {
    auto media = ParseMediaType(range);
    if (!media.ok()) return media.status();
    if (media->type == "image/jpeg" || media->type == "image/*" || media->type == "*/*") {
      return std::optional<dicom::RenderFormat>(dicom::RenderFormat::kJpeg);
    }
    if (media->type == "image/png") {
      return std::optional<dicom::RenderFormat>(dicom::RenderFormat::kPng);
    }
  }
  return std::optional<dicom::RenderFormat>();
}

// Renders, decoding JPEG 2000 (which DCMTK cannot render) into a temporary file first.
Result<std::string> Render(Services& services, const catalog::InstanceLocation& location,
                           const dicom::RenderOptions& options) {
  STRATA_ASSIGN_OR_RETURN(auto object, services.blobs.Open(location.blob_key));
  auto rendered = dicom::RenderFrame(object->path(), options);
  if (rendered.ok() || rendered.status().code() != StatusCode::kUnimplemented ||
      !dicom::CanDecode(location.transfer_syntax_uid)) {
    return rendered;
  }
  STRATA_ASSIGN_OR_RETURN(std::string temp_path, services.blobs.StagingPath());
  dicom::RegisterTranscodeCodecs();
  Status transcoded = dicom::TranscodeFile(object->path(), "1.2.840.10008.1.2.1", temp_path);
  if (transcoded.ok()) rendered = dicom::RenderFrame(temp_path, options);
  std::error_code ec;
  std::filesystem::remove(temp_path, ec);
  if (!transcoded.ok()) return transcoded;
  return rendered;
}

}  // namespace

Response HandleRendered(Services& services, Request& request, bool thumbnail) {
  dicom::RenderOptions options;
  if (thumbnail) options.viewport = dicom::RenderViewport{kThumbnailSize, kThumbnailSize};
  Status params = ParseRenderParams(request, &options);
  if (!params.ok()) return Response::Error(params);
  auto frames_param = request.path_params.find("frames");
  if (frames_param != request.path_params.end()) {
    auto frames = ParseFrameList(frames_param->second);
    if (!frames.ok()) return Response::Error(frames.status());
    if (frames->size() != 1) {
      return Response::Error(400, "a rendered frame is one frame number, not a list");
    }
    options.frame = frames->front();
  }
  auto format = NegotiateFormat(request.Header("accept"));
  if (!format.ok()) return Response::Error(400, "Accept: " + format.status().message());
  if (!*format) {
    return Response::Error(406, "rendered images are image/jpeg or image/png, not Accept '" +
                                    request.Header("accept") + "'");
  }
  options.format = **format;
  auto located = LocateFromPath(services, request);
  if (!located.ok()) return Response::Error(located.status());
  const std::vector<catalog::InstanceLocation>& locations = *located;
  // A study or series is represented by its middle instance, or the next one that renders.
  Result<std::string> picture = NotFound("nothing to render");
  for (size_t i = 0; i < std::min(locations.size(), kThumbnailCandidates); ++i) {
    const auto& location = locations[(locations.size() / 2 + i) % locations.size()];
    picture = Render(services, location, options);
    if (picture.ok() || picture.status().code() != StatusCode::kInvalidArgument ||
        request.path_params.count("instance") != 0) {
      break;
    }
  }
  if (!picture.ok()) return Response::Error(picture.status());
  Response response;
  response.headers.emplace_back(
      "Content-Type", options.format == dicom::RenderFormat::kPng ? "image/png" : "image/jpeg");
  response.body = std::move(*picture);
  return response;
}

}  // namespace strata::dicomweb
