// Rendering a stored image frame to JPEG or PNG, for WADO-RS /rendered and /thumbnail
// (PS3.18 8.3.5, 10.4.1.1.3). The adapter over DCMTK's dcmimage (DicomImage, DiJPEGPlugin,
// DiPNGPlugin); no DCMTK type crosses this header.
// Thread-safety: a free function, safe to call concurrently on different files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/status.h"

namespace strata::dicom {

enum class RenderFormat { kJpeg, kPng };

struct RenderWindow {  // PS3.18 8.3.5.1.4 window=center,width,function
  double center = 0;
  double width = 1;
  bool sigmoid = false;  // VOI LUT Function SIGMOID, else LINEAR
};

struct RenderViewport {  // PS3.18 8.3.5.1.3 viewport=vw,vh[,sx,sy,sw,sh]
  uint32_t width = 0;    // vw
  uint32_t height = 0;   // vh
  // Source region in image pixels; sw == 0 means the whole image.
  uint32_t sx = 0, sy = 0, sw = 0, sh = 0;
};

struct RenderOptions {
  RenderFormat format = RenderFormat::kJpeg;
  uint32_t frame = 1;  // 1-based
  // Absent: the object's first VOI window, else the frame's min/max (monochrome only).
  std::optional<RenderWindow> window;
  // Absent: the image's own size. The (cropped) image is scaled to fit inside the viewport,
  // keeping its aspect ratio.
  std::optional<RenderViewport> viewport;
  int quality = 90;  // JPEG quality, 1..100
};

// The frame of the Part 10 file at `path` rendered as `options` say; the encoded image bytes.
// Failure codes: kNotFound (no file, or no such frame), kInvalidArgument (not an image, or a
// viewport outside the image), kUnimplemented (a transfer syntax DCMTK cannot decode, e.g.
// JPEG 2000: transcode first), kInternal (encoding failed).
Result<std::string> RenderFrame(const std::string& path, const RenderOptions& options);

}  // namespace strata::dicom
