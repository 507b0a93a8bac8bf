// Writing an AI heat map over its source image as a DICOM Secondary Capture Image (PS3.3
// A.8.1, SOP class 1.2.840.10008.5.1.4.1.1.7), so that any viewer shows where a model looked.
// The adapter over DCMTK's dcmdata and dcmimgle; no DCMTK type crosses this header.
//
// The picture: the source's first frame windowed to grey (its first VOI window, else its VOI
// LUT, else its min-max; MONOCHROME1 shown inverted, as a viewer would) with the heat blended
// in a red-to-yellow colour map: colour (255, 255 * h, 0), opacity 0.6 * h, fully transparent
// below h = 0.15, where h in [0, 1] is the heat resampled bilinearly from the grid to the
// picture (cell values at cell centres). RGB, 8 bits, explicit VR little endian, not
// compressed. At the source's resolution, or scaled down (pixel-area averaging) so that its
// long side is at most kMaxHeatmapSide pixels: a heat map is coarse, and a full-size
// 3000 x 3000 RGB radiograph would be 27 MB per image.
//
// Attributes: Patient and General Study modules copied from the source as findings_sr.h
// says (with its character set, converted to UTF-8 when a text here is not ASCII); Modality
// OT, ConversionType WSD, ImageType DERIVED\SECONDARY, BurnedInAnnotation NO, the source in
// the Source Image Sequence, the model, version, method and label in DerivationDescription,
// and ImageComments saying the image is machine-generated and not for diagnosis.
//
// Thread-safety: free functions; safe to call concurrently with different output paths.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace strata::dicom {

inline constexpr char kSecondaryCaptureImageStorage[] = "1.2.840.10008.5.1.4.1.1.7";
inline constexpr int kMaxHeatmapSide = 1024;

struct HeatmapCapture {
  // The Part 10 image the heat map was computed on (MONOCHROME1 or MONOCHROME2).
  std::string source_path;
  // Of the capture, chosen by the caller (a retry must reuse them).
  std::string sop_instance_uid;
  std::string series_instance_uid;
  int series_number = 9002;
  int instance_number = 1;
  std::string model_name;     // required
  std::string model_version;  // required
  std::string method;         // required, e.g. "occlusion sensitivity, 8 x 8 grid"
  std::string label;          // required: the finding the heat explains
  double probability = 0;     // of that label, in [0, 1]
  // Unix time in milliseconds: ContentDate/Time and InstanceCreationDate/Time, in UTC.
  // REQUIRES: > 0 (the time the findings were made, not "now" at a retry).
  int64_t content_time_ms = 0;
  // grid_rows * grid_columns values in [0, 1], row-major from the top-left cell; the cells
  // tile the whole image.
  int grid_columns = 0;
  int grid_rows = 0;
  std::vector<float> heat;
};

// Writes `capture` as a Part 10 file (with file meta information) to `output_path`, through a
// temporary file renamed into place. The output depends on `capture` and the source only: the
// same input gives a byte-identical file (no clock, no generated UID).
// Fails with:
//  kInvalidArgument: a malformed UID, an empty model name, version, method or label, a
//                    probability or heat value outside [0, 1], a grid that does not match the
//                    heat values, content_time_ms <= 0, a series/instance number < 0, or a
//                    source that is not readable DICOM, has no Study Instance UID or pixel data
//                    DCMTK cannot render;
//  kUnimplemented: a colour source, or one in a transfer syntax Strata cannot decode;
//  kNotFound: no file at source_path;
//  kInternal: DCMTK cannot build or write the file (its message is included).
Status WriteHeatmapSc(const HeatmapCapture& capture, const std::string& output_path);

// A grid_columns x grid_rows map resampled to width x height by bilinear interpolation between
// cell centres (held constant beyond the outer centres). REQUIRES: positive sizes and
// grid.size() == grid_columns * grid_rows.
std::vector<float> ResampleBilinear(const std::vector<float>& grid, int grid_columns, int grid_rows,
                                    int width, int height);

}  // namespace strata::dicom
