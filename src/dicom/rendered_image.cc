#include "dicom/rendered_image.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcxfer.h>
// DCMTK's plugin headers use dcmimgle's export macros without including them: order matters.
// clang-format off
#include <dcmtk/dcmimgle/dcmimage.h>
#include <dcmtk/dcmimage/dipipng.h>
#include <dcmtk/dcmjpeg/dipijpeg.h>
// clang-format on

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "dicom/pixel_frames.h"
#include "dicom/transcode.h"

namespace strata::dicom {
namespace {

// Pixel data is read only for the frame rendered.
constexpr Uint32 kMaxReadLength = 4096;

// Encodes `image`'s first frame with `plugin` into memory.
Result<std::string> Encode(DicomImage& image, const DiPluginFormat& plugin) {
  char* data = nullptr;
  size_t size = 0;
  FILE* out = open_memstream(&data, &size);
  if (out == nullptr) return Internal("cannot open a memory stream");
  const int ok = image.writePluginFormat(&plugin, out, 0);
  std::fclose(out);
  std::string bytes(data, size);
  std::free(data);
  if (!ok || bytes.empty()) return Internal("the image could not be encoded");
  return bytes;
}

// The size that fits (w, h) inside (max_w, max_h), keeping the aspect ratio.
void FitInside(unsigned long w, unsigned long h, unsigned long max_w, unsigned long max_h,
               unsigned long* out_w, unsigned long* out_h) {
  const double scale = std::min(static_cast<double>(max_w) / static_cast<double>(w),
                                static_cast<double>(max_h) / static_cast<double>(h));
  *out_w = std::max(1UL, static_cast<unsigned long>(std::lround(static_cast<double>(w) * scale)));
  *out_h = std::max(1UL, static_cast<unsigned long>(std::lround(static_cast<double>(h) * scale)));
}

}  // namespace

Result<std::string> RenderFrame(const std::string& path, const RenderOptions& options) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return NotFound("no such file '" + path + "'");
  RegisterTranscodeCodecs();
  DcmFileFormat file;
  OFCondition cond = file.loadFile(path.c_str(), EXS_Unknown, EGL_noChange, kMaxReadLength);
  if (cond.bad()) return InvalidArgument("'" + path + "' is not readable DICOM: " + cond.text());
  DcmDataset* dataset = file.getDataset();
  if (!dataset->tagExists(DCM_PixelData)) return InvalidArgument("the instance is not an image");
  const std::string ts = DcmXfer(dataset->getOriginalXfer()).getXferID();
  if (!CanDecodeFrames(ts)) {
    return Unimplemented("cannot render transfer syntax " + ts);
  }
  Sint32 frames = 1;
  if (dataset->findAndGetSint32(DCM_NumberOfFrames, frames).bad() || frames < 1) frames = 1;
  if (options.frame < 1 || options.frame > static_cast<uint32_t>(frames)) {
    return NotFound("frame " + std::to_string(options.frame) +
                    " does not exist: the instance has " + std::to_string(frames) + " frame(s)");
  }
  DicomImage image(dataset, dataset->getOriginalXfer(),
                   CIF_UsePartialAccessToPixelData | CIF_MayDetachPixelData, options.frame - 1, 1);
  if (image.getStatus() != EIS_Normal) {
    const std::string why = DicomImage::getString(image.getStatus());
    if (image.getStatus() == EIS_NotSupportedValue) {
      return Unimplemented("DCMTK cannot render this image: " + why);
    }
    return InvalidArgument("the instance cannot be rendered: " + why);
  }
  if (image.isMonochrome()) {
    if (options.window) {
      if (options.window->width < 1) return InvalidArgument("window width must be at least 1");
      image.setWindow(options.window->center, options.window->width);
      image.setVoiLutFunction(options.window->sigmoid ? EFV_Sigmoid : EFV_Linear);
    } else if (image.getWindowCount() > 0) {
      image.setWindow(0);
    } else {
      image.setMinMaxWindow();
    }
  }

  DicomImage* result = &image;
  std::unique_ptr<DicomImage> clipped, scaled;
  if (options.viewport) {
    const RenderViewport& v = *options.viewport;
    if (v.width == 0 || v.height == 0) return InvalidArgument("viewport sizes must be positive");
    if (v.sw != 0) {
      if (v.sh == 0 || uint64_t{v.sx} + v.sw > image.getWidth() ||
          uint64_t{v.sy} + v.sh > image.getHeight()) {
        return InvalidArgument("viewport source region lies outside the " +
                               std::to_string(image.getWidth()) + "x" +
                               std::to_string(image.getHeight()) + " image");
      }
      clipped.reset(image.createClippedImage(v.sx, v.sy, v.sw, v.sh));
      if (!clipped) return Internal("cannot clip the image");
      result = clipped.get();
    }
    unsigned long w = 0, h = 0;
    FitInside(result->getWidth(), result->getHeight(), v.width, v.height, &w, &h);
    if (w != result->getWidth() || h != result->getHeight()) {
      scaled.reset(result->createScaledImage(w, h, /*interpolate=*/1, /*aspect=*/0));
      if (!scaled) return Internal("cannot scale the image");
      result = scaled.get();
    }
  }

  if (options.format == RenderFormat::kPng) {
    DiPNGPlugin png;
    png.setInterlaceType(E_pngInterlaceNone);
    png.setMetainfoType(E_pngNoMetainfo);
    return Encode(*result, png);
  }
  DiJPEGPlugin jpeg;
  jpeg.setQuality(static_cast<unsigned int>(std::clamp(options.quality, 1, 100)));
  return Encode(*result, jpeg);
}

}  // namespace strata::dicom
