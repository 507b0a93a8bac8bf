// Single frames and bulk data values of a stored instance, for WADO-RS /frames and /bulkdata
// (PS3.18 10.4.1.1.4-5). The adapter over DCMTK's dcmdata; no DCMTK type crosses this header.
//
// Large values stay on disk: the file is parsed with values above a few kilobytes left
// unloaded, and each read loads only what it returns (one frame's bytes or fragments, one
// chunk of a bulk data value), so memory is bounded by one frame, not by the object.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "dicom/tags.h"

namespace strata::dicom {

struct PixelDataInfo {
  std::string transfer_syntax;  // the stored one
  bool encapsulated = false;    // compressed fragments (PS3.5 A.4) rather than native bytes
  uint32_t number_of_frames = 1;
  uint16_t rows = 0;
  uint16_t columns = 0;
  uint16_t samples_per_pixel = 1;
  uint16_t bits_allocated = 0;
  uint64_t frame_bytes = 0;  // one uncompressed frame
};

// Reads frames of one stored Part 10 file. Not thread-safe: one reader per request.
class FrameReader {
 public:
  // kNotFound: no such file, or the object has no Pixel Data;
  // kInvalidArgument: not readable DICOM, or Rows/Columns/BitsAllocated missing.
  static Result<std::unique_ptr<FrameReader>> Open(const std::string& path);
  virtual ~FrameReader() = default;

  virtual const PixelDataInfo& info() const = 0;

  // Frame `number` (1-based) as stored: native pixel data as little-endian bytes, or the
  // frame's compressed bit stream (its fragments joined). Frames of encapsulated data are
  // found by the Basic Offset Table, else one fragment per frame, else by the code stream's
  // start markers. kNotFound when `number` is not in [1, number_of_frames]; kDataLoss when
  // the fragments do not make up that many frames.
  virtual Result<std::string> StoredFrame(uint32_t number) = 0;

  // Frame `number` decompressed to native little-endian bytes (color-by-pixel as the codec
  // delivers it) with DCMTK's codecs (JPEG, JPEG-LS, RLE); native data as in StoredFrame.
  // kUnimplemented for a compressed syntax without a frame decoder (JPEG 2000: transcode
  // the file first, see TranscodeFile); kDataLoss for a corrupt bit stream; kNotFound as above.
  virtual Result<std::string> DecodedFrame(uint32_t number) = 0;
};

// True if FrameReader::DecodedFrame can decode frames stored in `ts`.
bool CanDecodeFrames(const std::string& ts);

// The media type of a compressed frame in `ts` as PS3.18 Table 8.7.3-2 names it
// ("image/jpeg", "image/jls", "image/jp2", "image/jpx", "image/x-dicom-rle"), or
// "application/octet-stream" for native syntaxes.
std::string FrameMediaType(const std::string& ts);

// Streams one bulk data value of a stored file: the element `tag` of the top-level data set,
// or else its first occurrence inside a sequence (Strata's BulkDataURIs name a tag, see
// InstanceToJson). Not thread-safe.
class BulkDataReader {
 public:
  // kNotFound: no such file or no such element; kInvalidArgument: not DICOM, or the
  // element is encapsulated Pixel Data (read it as frames).
  static Result<std::unique_ptr<BulkDataReader>> Open(const std::string& path, Tag tag);
  virtual ~BulkDataReader() = default;
  // The value's length in bytes.
  virtual uint64_t size() const = 0;
  // Copies up to `size` bytes from `offset` into `buf` (little-endian for OW/OF/OD/OL/OV).
  virtual Result<size_t> Read(uint64_t offset, char* buf, size_t size) = 0;
};

}  // namespace strata::dicom
