#include "dicom/heatmap_sc.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmimgle/dcmimage.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "dicom/internal/derived_instance.h"
#include "dicom/pixel_frames.h"
#include "dicom/transcode.h"

namespace strata::dicom {
namespace {

using internal::CheckUid;
using internal::DcmtkError;

constexpr float kMaxOpacity = 0.6f;   // the grey image stays readable under the hottest cell
constexpr float kHeatFloor = 0.15f;   // cooler than this: no colour at all
constexpr size_t kMaxShortText = 64;  // LO
constexpr size_t kMaxST = 1024;       // ST

constexpr const char* kComments =
    "MACHINE-GENERATED AI HEAT MAP - NOT FOR DIAGNOSIS. A visual aid showing which image "
    "regions most influenced the model's probability; not a segmentation, not reviewed by a "
    "clinician.";

// The Patient and General Study attributes copied from the source (findings_sr.h's list);
// Type 2 ones are written empty when the source lacks them.
struct CopiedTag {
  DcmTagKey key;
  bool type2;
};
const CopiedTag kCopied[] = {
    {DCM_PatientName, true},
    {DCM_PatientID, true},
    {DCM_IssuerOfPatientID, false},
    {DCM_PatientBirthDate, true},
    {DCM_PatientSex, true},
    {DCM_StudyInstanceUID, true},
    {DCM_StudyDate, true},
    {DCM_StudyTime, true},
    {DCM_AccessionNumber, true},
    {DCM_StudyID, true},
    {DCM_ReferringPhysicianName, true},
    {DCM_StudyDescription, false},
};

Status Validate(const HeatmapCapture& c) {
  STRATA_RETURN_IF_ERROR(CheckUid(c.sop_instance_uid, "heat map SOP Instance UID"));
  STRATA_RETURN_IF_ERROR(CheckUid(c.series_instance_uid, "heat map Series Instance UID"));
  if (c.series_number < 0 || c.instance_number < 0) {
    return InvalidArgument("series and instance numbers must not be negative");
  }
  if (c.model_name.empty() || c.model_version.empty() || c.method.empty() || c.label.empty()) {
    return InvalidArgument("model name, version, method and label are required");
  }
  if (!std::isfinite(c.probability) || c.probability < 0 || c.probability > 1) {
    return InvalidArgument("probability must be a finite number in [0, 1]");
  }
  if (c.content_time_ms <= 0) return InvalidArgument("content_time_ms is not set");
  if (c.grid_columns < 1 || c.grid_rows < 1 ||
      c.heat.size() != static_cast<size_t>(c.grid_columns) * static_cast<size_t>(c.grid_rows)) {
    return InvalidArgument("the heat map has " + std::to_string(c.heat.size()) +
                           " values for a grid of " + std::to_string(c.grid_columns) + " x " +
                           std::to_string(c.grid_rows));
  }
  for (float h : c.heat) {
    if (!std::isfinite(h) || h < 0 || h > 1) {
      return InvalidArgument("heat values must be finite numbers in [0, 1]");
    }
  }
  return OkStatus();
}

// The picture's size: the source's, or scaled down to a long side of kMaxHeatmapSide.
void OutputSize(unsigned long w, unsigned long h, unsigned long* out_w, unsigned long* out_h) {
  const unsigned long side = std::max(w, h);
  if (side <= static_cast<unsigned long>(kMaxHeatmapSide)) {
    *out_w = w;
    *out_h = h;
    return;
  }
  const double scale = static_cast<double>(kMaxHeatmapSide) / static_cast<double>(side);
  *out_w = std::max(1UL, static_cast<unsigned long>(std::lround(static_cast<double>(w) * scale)));
  *out_h = std::max(1UL, static_cast<unsigned long>(std::lround(static_cast<double>(h) * scale)));
}

struct Picture {
  unsigned long width = 0;
  unsigned long height = 0;
  std::vector<Uint8> grey;
};

// The source's first frame as display grey levels at the output size.
Result<Picture> RenderGrey(DcmDataset& dataset, const std::string& path) {
  DicomImage image(&dataset, dataset.getOriginalXfer(), CIF_UsePartialAccessToPixelData, 0, 1);
  if (image.getStatus() != EIS_Normal) {
    return InvalidArgument("source " + path + ": DCMTK cannot render the image: " +
                           DicomImage::getString(image.getStatus()));
  }
  if (!image.isMonochrome()) return Unimplemented("source " + path + " is not a monochrome image");
  // As preprocessing's "from_file" window (inference/preprocess.h) does.
  bool windowed = false;
  if (image.getWindowCount() > 0) {
    windowed = image.setWindow(0) != 0;
  } else if (image.getVoiLutCount() > 0) {
    windowed = image.setVoiLut(0) != 0;
  }
  if (!windowed && image.setMinMaxWindow(0) == 0) {
    return InvalidArgument("source " + path + ": cannot window the image");
  }
  // DCMTK renders MONOCHROME1 for display: dense is bright, like MONOCHROME2.
  const auto* samples = static_cast<const Uint8*>(image.getOutputData(8, 0, 0));
  if (samples == nullptr) {
    return InvalidArgument("source " + path + ": DCMTK cannot render the pixel data: " +
                           DicomImage::getString(image.getStatus()));
  }
  Picture picture;
  const unsigned long width = image.getWidth();
  const unsigned long height = image.getHeight();
  OutputSize(width, height, &picture.width, &picture.height);
  picture.grey.resize(picture.width * picture.height);
  // Each output pixel is the mean of the source pixels it covers (the identity at full size).
  // Done here rather than with DicomImage::createScaledImage, which takes seconds for a large
  // radiograph.
  for (unsigned long oy = 0; oy < picture.height; ++oy) {
    const unsigned long y0 = oy * height / picture.height;
    const unsigned long y1 = std::max(y0 + 1, (oy + 1) * height / picture.height);
    for (unsigned long ox = 0; ox < picture.width; ++ox) {
      const unsigned long x0 = ox * width / picture.width;
      const unsigned long x1 = std::max(x0 + 1, (ox + 1) * width / picture.width);
      unsigned long sum = 0;
      for (unsigned long y = y0; y < y1; ++y) {
        const Uint8* row = samples + y * width;
        for (unsigned long x = x0; x < x1; ++x) sum += row[x];
      }
      const unsigned long count = (y1 - y0) * (x1 - x0);
      picture.grey[oy * picture.width + ox] = static_cast<Uint8>((sum + count / 2) / count);
    }
  }
  return picture;
}

// Grey blended with the heat colour, as the header describes; RGB by pixel.
std::vector<Uint8> Blend(const Picture& picture, const HeatmapCapture& c) {
  const int w = static_cast<int>(picture.width);
  const int h = static_cast<int>(picture.height);
  const std::vector<float> heat = ResampleBilinear(c.heat, c.grid_columns, c.grid_rows, w, h);
  std::vector<Uint8> rgb(static_cast<size_t>(w) * static_cast<size_t>(h) * 3);
  for (size_t i = 0; i < heat.size(); ++i) {
    const float grey = picture.grey[i];
    float r = grey, g = grey, b = grey;
    if (heat[i] >= kHeatFloor) {
      const float a = kMaxOpacity * heat[i];
      r = (1 - a) * grey + a * 255.0f;
      g = (1 - a) * grey + a * 255.0f * heat[i];
      b = (1 - a) * grey;
    }
    rgb[3 * i] = static_cast<Uint8>(std::lround(std::clamp(r, 0.0f, 255.0f)));
    rgb[3 * i + 1] = static_cast<Uint8>(std::lround(std::clamp(g, 0.0f, 255.0f)));
    rgb[3 * i + 2] = static_cast<Uint8>(std::lround(std::clamp(b, 0.0f, 255.0f)));
  }
  return rgb;
}

std::string Describe(const HeatmapCapture& c) {
  char probability[32];
  std::snprintf(probability, sizeof(probability), "%.3f", c.probability);
  return internal::TruncateUtf8("AI heat map (" + c.method + ") of finding '" + c.label +
                                    "' (probability " + probability + ") by model " + c.model_name +
                                    " " + c.model_version +
                                    ": colour marks where hiding the image lowered the "
                                    "probability most. Machine-generated; not for diagnosis.",
                                kMaxST);
}

bool TextIsAscii(const HeatmapCapture& c) {
  return internal::IsAscii(c.model_name) && internal::IsAscii(c.model_version) &&
         internal::IsAscii(c.method) && internal::IsAscii(c.label);
}

// Decodes the source's pixel data where DCMTK's frame decoders cannot (JPEG 2000): into an
// uncompressed copy beside the output, removed when this goes out of scope.
class DecodedCopy {
 public:
  explicit DecodedCopy(std::string path) : path_(std::move(path)) {}
  ~DecodedCopy() { (void)std::remove(path_.c_str()); }
  DecodedCopy(const DecodedCopy&) = delete;
  DecodedCopy& operator=(const DecodedCopy&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

std::vector<float> ResampleBilinear(const std::vector<float>& grid, int grid_columns, int grid_rows,
                                    int width, int height) {
  STRATA_CHECK(grid_columns > 0 && grid_rows > 0 && width > 0 && height > 0 &&
               grid.size() == static_cast<size_t>(grid_columns) * grid_rows)
      << "ResampleBilinear: bad sizes";
  // Per output column (row): the two grid columns (rows) around it and the weight of the second.
  struct Tap {
    int lo, hi;
    float t;
  };
  auto taps = [](int cells, int size) {
    std::vector<Tap> out(static_cast<size_t>(size));
    for (int i = 0; i < size; ++i) {
      const float u = std::clamp(
          (static_cast<float>(i) + 0.5f) * static_cast<float>(cells) / static_cast<float>(size) -
              0.5f,
          0.0f, static_cast<float>(cells - 1));
      const int lo = static_cast<int>(u);
      out[static_cast<size_t>(i)] = {lo, std::min(lo + 1, cells - 1), u - static_cast<float>(lo)};
    }
    return out;
  };
  const std::vector<Tap> xs = taps(grid_columns, width);
  const std::vector<Tap> ys = taps(grid_rows, height);
  std::vector<float> out(static_cast<size_t>(width) * static_cast<size_t>(height));
  for (int y = 0; y < height; ++y) {
    const Tap& ty = ys[static_cast<size_t>(y)];
    const float* row_lo = grid.data() + static_cast<size_t>(ty.lo) * grid_columns;
    const float* row_hi = grid.data() + static_cast<size_t>(ty.hi) * grid_columns;
    for (int x = 0; x < width; ++x) {
      const Tap& tx = xs[static_cast<size_t>(x)];
      const float top = row_lo[tx.lo] + (row_lo[tx.hi] - row_lo[tx.lo]) * tx.t;
      const float bottom = row_hi[tx.lo] + (row_hi[tx.hi] - row_hi[tx.lo]) * tx.t;
      out[static_cast<size_t>(y) * width + x] = top + (bottom - top) * ty.t;
    }
  }
  return out;
}

Status WriteHeatmapSc(const HeatmapCapture& capture, const std::string& output_path) {
  STRATA_RETURN_IF_ERROR(Validate(capture));
  RegisterTranscodeCodecs();
  DcmFileFormat source;
  STRATA_ASSIGN_OR_RETURN(const std::string charset,
                          internal::LoadSource(capture.source_path, !TextIsAscii(capture), source));
  DcmDataset& src = *source.getDataset();
  if (!src.tagExists(DCM_PixelData)) {
    return InvalidArgument("source " + capture.source_path + " has no pixel data");
  }
  OFString source_class, source_instance;
  if (src.findAndGetOFString(DCM_SOPClassUID, source_class).bad() ||
      src.findAndGetOFString(DCM_SOPInstanceUID, source_instance).bad()) {
    return InvalidArgument("source " + capture.source_path + " has no SOP Class/Instance UID");
  }
  STRATA_RETURN_IF_ERROR(CheckUid(internal::Trimmed(source_class), "source SOP Class UID"));
  STRATA_RETURN_IF_ERROR(CheckUid(internal::Trimmed(source_instance), "source SOP Instance UID"));

  const std::string ts = DcmXfer(src.getOriginalXfer()).getXferID();
  Picture picture;
  if (CanDecodeFrames(ts)) {
    STRATA_ASSIGN_OR_RETURN(picture, RenderGrey(src, capture.source_path));
  } else if (CanDecode(ts)) {
    DecodedCopy copy(output_path + ".source.tmp");
    STRATA_RETURN_IF_ERROR(
        TranscodeFile(capture.source_path, UID_LittleEndianExplicitTransferSyntax, copy.path()));
    DcmFileFormat decoded;
    const OFCondition cond = decoded.loadFile(copy.path().c_str());
    if (cond.bad()) return DcmtkError("reading the decoded source", cond);
    STRATA_ASSIGN_OR_RETURN(picture, RenderGrey(*decoded.getDataset(), capture.source_path));
  } else {
    return Unimplemented("source " + capture.source_path + ": cannot decode transfer syntax " + ts);
  }

  DcmFileFormat out;
  DcmDataset& ds = *out.getDataset();
  OFCondition cond = EC_Normal;
  auto put = [&](const DcmTagKey& key, const std::string& value) {
    if (cond.good()) cond = ds.putAndInsertString(key, value.c_str());
  };
  auto put_u16 = [&](const DcmTagKey& key, Uint16 value) {
    if (cond.good()) cond = ds.putAndInsertUint16(key, value);
  };
  if (!charset.empty()) put(DCM_SpecificCharacterSet, charset);
  for (const CopiedTag& tag : kCopied) {
    if (!cond.good()) break;
    if (src.tagExistsWithValue(tag.key)) {
      cond = src.findAndInsertCopyOfElement(tag.key, &ds);
    } else if (tag.type2) {
      cond = ds.insertEmptyElement(tag.key);
    }
  }
  if (cond.bad()) return DcmtkError("copying the source's patient and study attributes", cond);

  const internal::DateTime content = internal::UtcDateTime(capture.content_time_ms);
  put(DCM_SOPClassUID, kSecondaryCaptureImageStorage);
  put(DCM_SOPInstanceUID, capture.sop_instance_uid);
  put(DCM_InstanceCreationDate, content.date);
  put(DCM_InstanceCreationTime, content.time);
  put(DCM_ContentDate, content.date);
  put(DCM_ContentTime, content.time);
  // General Series and SC Equipment: a workstation's derived image.
  put(DCM_Modality, "OT");
  put(DCM_SeriesInstanceUID, capture.series_instance_uid);
  put(DCM_SeriesNumber, std::to_string(capture.series_number));
  put(DCM_SeriesDescription,
      internal::TruncateUtf8("AI heat map: " + capture.model_name + " " + capture.model_version,
                             kMaxShortText));
  put(DCM_ConversionType, "WSD");
  put(DCM_Manufacturer, "Strata");
  // General Image.
  put(DCM_InstanceNumber, std::to_string(capture.instance_number));
  put(DCM_PatientOrientation, "");
  put(DCM_ImageType, "DERIVED\\SECONDARY");
  put(DCM_DerivationDescription, Describe(capture));
  put(DCM_ImageComments, kComments);
  put(DCM_BurnedInAnnotation, "NO");
  put(DCM_LossyImageCompression, "00");
  if (cond.bad()) return DcmtkError("heat map attributes", cond);

  DcmItem* reference = nullptr;
  cond = ds.findOrCreateSequenceItem(DCM_SourceImageSequence, reference, 0);
  if (cond.good())
    cond = reference->putAndInsertString(DCM_ReferencedSOPClassUID, source_class.c_str());
  if (cond.good()) {
    cond = reference->putAndInsertString(DCM_ReferencedSOPInstanceUID, source_instance.c_str());
  }
  if (cond.bad()) return DcmtkError("source image sequence", cond);

  // Image Pixel: RGB by pixel, 8 bits.
  put_u16(DCM_SamplesPerPixel, 3);
  put(DCM_PhotometricInterpretation, "RGB");
  put_u16(DCM_PlanarConfiguration, 0);
  put_u16(DCM_Rows, static_cast<Uint16>(picture.height));
  put_u16(DCM_Columns, static_cast<Uint16>(picture.width));
  put_u16(DCM_BitsAllocated, 8);
  put_u16(DCM_BitsStored, 8);
  put_u16(DCM_HighBit, 7);
  put_u16(DCM_PixelRepresentation, 0);
  const std::vector<Uint8> rgb = Blend(picture, capture);
  if (cond.good()) {
    cond = ds.putAndInsertUint8Array(DCM_PixelData, rgb.data(),
                                     static_cast<unsigned long>(rgb.size()));
  }
  if (cond.bad()) return DcmtkError("heat map pixel data", cond);
  return internal::SaveAtomically(out, output_path);
}

}  // namespace strata::dicom
