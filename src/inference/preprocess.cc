#include "inference/preprocess.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmimgle/dcmimage.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <string_view>
#include <vector>

#include "dicom/dicom_file.h"
#include "dicom/transcode.h"

namespace strata::inference {
namespace {

namespace fs = std::filesystem;

bool IsJpeg2000(std::string_view ts) {
  return ts == UID_JPEG2000LosslessOnlyTransferSyntax || ts == UID_JPEG2000TransferSyntax ||
         ts == UID_JPEG2000Part2MulticomponentImageCompressionLosslessOnlyTransferSyntax ||
         ts == UID_JPEG2000Part2MulticomponentImageCompressionTransferSyntax;
}

// A file removed when it goes out of scope.
class TemporaryFile {
 public:
  TemporaryFile() {
    static std::atomic<uint64_t> counter{0};
    path_ = (fs::temp_directory_path() / ("strata-preprocess-" + std::to_string(::getpid()) + "-" +
                                          std::to_string(counter.fetch_add(1)) + ".dcm"))
                .string();
  }
  ~TemporaryFile() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Status LoadFile(const std::string& path, DcmFileFormat& file) {
  // Default read length: large values (pixel data) are read from the file when first used.
  const OFCondition cond = file.loadFile(path.c_str());
  if (cond.bad()) {
    return InvalidArgument("preprocess: " + path + " is not readable DICOM: " + cond.text());
  }
  return OkStatus();
}

// Applies the card's VOI window; returns what was applied (see PreprocessInfo::window_used).
Result<std::string> ApplyWindow(DicomImage& image, const WindowSpec& window) {
  bool applied = false;
  std::string used;
  switch (window.mode) {
    case WindowMode::kFromFile:
      if (image.getWindowCount() > 0) {
        applied = image.setWindow(0) != 0;
        used = "file";
      } else if (image.getVoiLutCount() > 0) {
        applied = image.setVoiLut(0) != 0;
        used = "voi_lut";
      }
      if (applied) break;
      [[fallthrough]];
    case WindowMode::kMinMax:
      applied = image.setMinMaxWindow(0) != 0;
      used = "min_max";
      break;
    case WindowMode::kFixed:
      applied = image.setWindow(window.center, window.width) != 0;
      used = "fixed";
      break;
  }
  if (!applied) return InvalidArgument("preprocess: cannot apply the " + used + " window");
  return used;
}

// Grey values in [0, 1] (0 = least dense, after MONOCHROME1 handling) of the first frame.
Result<cv::Mat> RenderGrey(DicomImage& image, const ModelCard& card, PreprocessInfo& info) {
  const bool monochrome1 = image.getPhotometricInterpretation() == EPI_Monochrome1;
  info.monochrome1 = monochrome1;
  info.source_width = static_cast<int>(image.getWidth());
  info.source_height = static_cast<int>(image.getHeight());
  STRATA_ASSIGN_OR_RETURN(info.window_used, ApplyWindow(image, card.preprocessing.window));
  const auto* samples = static_cast<const Uint16*>(image.getOutputData(16, 0));
  if (samples == nullptr) {
    return InvalidArgument(std::string("preprocess: DCMTK cannot render the pixel data: ") +
                           DicomImage::getString(image.getStatus()));
  }
  // DCMTK renders MONOCHROME1 for display, i.e. already inverted to MONOCHROME2 polarity;
  // a card that wants stored polarity gets the inversion undone.
  const bool flip = monochrome1 && !card.preprocessing.invert_monochrome1;
  cv::Mat grey(info.source_height, info.source_width, CV_32F);
  constexpr float kScale = 1.0f / 65535.0f;
  for (int y = 0; y < grey.rows; ++y) {
    const Uint16* in = samples + static_cast<size_t>(y) * grey.cols;
    float* out = grey.ptr<float>(y);
    for (int x = 0; x < grey.cols; ++x) {
      const float v = static_cast<float>(in[x]) * kScale;
      out[x] = flip ? 1.0f - v : v;
    }
  }
  return grey;
}

Tensor ToTensor(const cv::Mat& grey, const ModelCard& card) {
  cv::Mat resized;
  const cv::Size size(card.input.width, card.input.height);
  if (grey.size() == size) {
    resized = grey;
  } else {
    const int interpolation =
        card.preprocessing.resize == ResizeMethod::kArea ? cv::INTER_AREA : cv::INTER_LINEAR;
    cv::resize(grey, resized, size, 0, 0, interpolation);
  }
  Tensor t;
  t.channels = card.input.channels;
  t.height = card.input.height;
  t.width = card.input.width;
  t.values.resize(t.ExpectedSize());
  const size_t plane = static_cast<size_t>(t.height) * t.width;
  for (int c = 0; c < t.channels; ++c) {
    const float mean = static_cast<float>(card.preprocessing.mean[c]);
    const float inv_std = static_cast<float>(1.0 / card.preprocessing.std[c]);
    float* out = t.values.data() + c * plane;
    for (int y = 0; y < t.height; ++y) {
      const float* in = resized.ptr<float>(y);
      for (int x = 0; x < t.width; ++x) out[y * t.width + x] = (in[x] - mean) * inv_std;
    }
  }
  return t;
}

Result<Tensor> PreprocessLoaded(DcmFileFormat& file, const std::string& path, const ModelCard& card,
                                PreprocessInfo& info) {
  if (!file.getDataset()->tagExists(DCM_PixelData)) {
    return InvalidArgument("preprocess: " + path + " has no pixel data");
  }
  OFString photometric;
  (void)file.getDataset()->findAndGetOFString(DCM_PhotometricInterpretation, photometric);
  if (photometric.empty()) {
    return InvalidArgument("preprocess: " + path + " has no Photometric Interpretation");
  }
  if (photometric != "MONOCHROME1" && photometric != "MONOCHROME2") {
    return Unimplemented("preprocess: " + path + " has Photometric Interpretation '" +
                         photometric.c_str() + "'; models take MONOCHROME1 or MONOCHROME2");
  }
  // Frame 0 only, and partial access so that DCMTK decodes just that frame.
  DicomImage image(&file, EXS_Unknown, CIF_UsePartialAccessToPixelData, 0, 1);
  if (image.getStatus() != EIS_Normal) {
    return InvalidArgument("preprocess: " + path + ": DCMTK cannot render the image: " +
                           DicomImage::getString(image.getStatus()));
  }
  STRATA_ASSIGN_OR_RETURN(cv::Mat grey, RenderGrey(image, card, info));
  try {
    return ToTensor(grey, card);
  } catch (const cv::Exception& e) {
    return Internal(std::string("preprocess: resize failed: ") + e.what());
  }
}

}  // namespace

Result<Tensor> PreprocessDicomFile(const std::string& path, const ModelCard& card,
                                   PreprocessInfo* info) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return NotFound("preprocess: no such file: " + path);
  dicom::RegisterCodecs();
  PreprocessInfo local_info;
  PreprocessInfo& out_info = info != nullptr ? *info : local_info;

  DcmFileFormat file;
  STRATA_RETURN_IF_ERROR(LoadFile(path, file));
  const std::string ts = DcmXfer(file.getDataset()->getOriginalXfer()).getXferID();
  if (!dicom::CanDecode(ts)) {
    return Unimplemented("preprocess: " + path + ": cannot decode transfer syntax " + ts);
  }
  if (!IsJpeg2000(ts)) return PreprocessLoaded(file, path, card, out_info);

  // DCMTK's free edition has no JPEG 2000 decoder; the dicom module decodes it with OpenJPEG
  // into an uncompressed copy.
  TemporaryFile native;
  STRATA_RETURN_IF_ERROR(
      dicom::TranscodeFile(path, UID_LittleEndianExplicitTransferSyntax, native.path()));
  DcmFileFormat decoded;
  STRATA_RETURN_IF_ERROR(LoadFile(native.path(), decoded));
  return PreprocessLoaded(decoded, path, card, out_info);
}

}  // namespace strata::inference
