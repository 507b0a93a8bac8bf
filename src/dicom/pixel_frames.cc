#include "dicom/pixel_frames.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfcache.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "dicom/transcode.h"

namespace strata::dicom {
namespace {

// Values longer than this stay in the file until read; frames are read piecewise.
constexpr Uint32 kMaxReadLength = 4096;

Result<std::unique_ptr<DcmFileFormat>> LoadLazily(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return NotFound("no such file '" + path + "'");
  auto file = std::make_unique<DcmFileFormat>();
  OFCondition cond = file->loadFile(path.c_str(), EXS_Unknown, EGL_noChange, kMaxReadLength);
  if (cond.bad()) return InvalidArgument("'" + path + "' is not readable DICOM: " + cond.text());
  return file;
}

// Whether a fragment's first bytes begin a JPEG, JPEG-LS or JPEG 2000 code stream (or a JP2
// file), i.e. start a new frame when frames span several fragments.
bool StartsCodeStream(const std::array<uint8_t, 8>& b, size_t n) {
  if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return true;  // SOI
  if (n >= 4 && b[0] == 0xFF && b[1] == 0x4F && b[2] == 0xFF && b[3] == 0x51) return true;
  return n >= 8 && b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0x0C && b[4] == 0x6A &&
         b[5] == 0x50;  // JP2 signature box
}

class DcmtkFrameReader : public FrameReader {
 public:
  DcmtkFrameReader(std::unique_ptr<DcmFileFormat> file, DcmPixelData* pixel_data,
                   PixelDataInfo info)
      : file_(std::move(file)), pixel_data_(pixel_data), info_(std::move(info)) {}

  const PixelDataInfo& info() const override { return info_; }

  // Finds which items of the pixel sequence make up each frame (PS3.5 A.4). Item 0 is the
  // Basic Offset Table; frame f is items [first_item_[f], first_item_[f + 1]).
  Status MapFragments() {
    DcmPixelSequence* sequence = nullptr;
    const E_TransferSyntax xfer = file_->getDataset()->getOriginalXfer();
    if (pixel_data_->getEncapsulatedRepresentation(xfer, nullptr, sequence).bad() ||
        sequence == nullptr) {
      return DataLoss("encapsulated pixel data has no pixel sequence");
    }
    sequence_ = sequence;
    const uint32_t items = static_cast<uint32_t>(sequence->card());
    if (items < 2) return DataLoss("encapsulated pixel data has no fragments");
    const uint32_t fragments = items - 1;
    const uint32_t frames = info_.number_of_frames;
    first_item_.clear();
    if (frames == 1) {
      first_item_ = {1, items};
      return OkStatus();
    }
    STRATA_ASSIGN_OR_RETURN(std::vector<uint32_t> offsets, BasicOffsetTable());
    if (offsets.size() == frames) {
      // Offsets count from the first fragment's item tag; each item has an 8-byte header.
      uint64_t position = 0;
      size_t next = 0;
      for (uint32_t i = 1; i < items && next < frames; ++i) {
        if (position == offsets[next]) {
          first_item_.push_back(i);
          ++next;
        }
        DcmPixelItem* item = nullptr;
        if (sequence->getItem(item, i).bad()) return DataLoss("unreadable pixel data fragment");
        position += 8 + item->getLength();
      }
      if (next == frames) {
        first_item_.push_back(items);
        return OkStatus();
      }
      first_item_.clear();  // a table that matches no fragment: fall back to the others
    }
    if (fragments == frames) {
      for (uint32_t i = 1; i <= items; ++i) first_item_.push_back(i);
      return OkStatus();
    }
    for (uint32_t i = 1; i < items; ++i) {
      DcmPixelItem* item = nullptr;
      if (sequence->getItem(item, i).bad()) return DataLoss("unreadable pixel data fragment");
      std::array<uint8_t, 8> head{};
      const Uint32 n = std::min<Uint32>(8, item->getLength());
      if (n > 0 && item->getPartialValue(head.data(), 0, n, &cache_).bad()) {
        return DataLoss("unreadable pixel data fragment");
      }
      if (i == 1 || StartsCodeStream(head, n)) first_item_.push_back(i);
    }
    if (first_item_.size() != frames) {
      return DataLoss("encapsulated pixel data holds " + std::to_string(first_item_.size()) +
                      " frames in " + std::to_string(fragments) + " fragments, expected " +
                      std::to_string(frames));
    }
    first_item_.push_back(items);
    return OkStatus();
  }

  Result<std::string> StoredFrame(uint32_t number) override {
    STRATA_RETURN_IF_ERROR(CheckFrame(number));
    if (!info_.encapsulated) return NativeFrame(number);
    std::string out;
    for (uint32_t i = first_item_[number - 1]; i < first_item_[number]; ++i) {
      DcmPixelItem* item = nullptr;
      if (sequence_->getItem(item, i).bad()) return DataLoss("unreadable pixel data fragment");
      const Uint32 length = item->getLength();
      if (length == 0) continue;
      const size_t at = out.size();
      out.resize(at + length);
      if (item->getPartialValue(out.data() + at, 0, length, &cache_).bad()) {
        return DataLoss("pixel data fragment " + std::to_string(i) + " cannot be read");
      }
    }
    return out;
  }

  Result<std::string> DecodedFrame(uint32_t number) override {
    STRATA_RETURN_IF_ERROR(CheckFrame(number));
    if (!info_.encapsulated) return NativeFrame(number);
    if (!CanDecodeFrames(info_.transfer_syntax)) {
      return Unimplemented("frames in transfer syntax " + info_.transfer_syntax +
                           " cannot be decoded one by one");
    }
    RegisterTranscodeCodecs();
    DcmDataset* dataset = file_->getDataset();
    Uint32 size = 0;
    if (pixel_data_->getUncompressedFrameSize(dataset, size).bad() || size < info_.frame_bytes) {
      return DataLoss("cannot size a decoded frame");
    }
    std::string out(size, '\0');
    Uint32 start_item = first_item_[number - 1];
    OFString color_model;
    OFCondition cond = pixel_data_->getUncompressedFrame(dataset, number - 1, start_item,
                                                         out.data(), size, color_model, &cache_);
    if (cond.bad()) {
      return DataLoss("frame " + std::to_string(number) + " cannot be decoded: " + cond.text());
    }
    out.resize(info_.frame_bytes);  // the decoder's size is padded to even
    return out;
  }

 private:
  Status CheckFrame(uint32_t number) const {
    if (number < 1 || number > info_.number_of_frames) {
      return NotFound("frame " + std::to_string(number) + " does not exist: the instance has " +
                      std::to_string(info_.number_of_frames) + " frame(s)");
    }
    return OkStatus();
  }

  Result<std::vector<uint32_t>> BasicOffsetTable() {
    DcmPixelItem* table = nullptr;
    if (sequence_->getItem(table, 0).bad()) return DataLoss("pixel sequence has no offset table");
    const Uint32 length = table->getLength();
    std::vector<uint32_t> offsets(length / 4);
    if (!offsets.empty() &&
        table
            ->getPartialValue(offsets.data(), 0, static_cast<Uint32>(offsets.size() * 4), &cache_,
                              EBO_LittleEndian)
            .bad()) {
      return DataLoss("basic offset table cannot be read");
    }
    // The table item is OB: its bytes come as in the file, 32-bit little-endian words.
    for (uint32_t& v : offsets) {
      const auto* b = reinterpret_cast<const uint8_t*>(&v);
      v = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
    }
    return offsets;
  }

  Result<std::string> NativeFrame(uint32_t number) {
    const uint64_t bits =
        uint64_t{info_.rows} * info_.columns * info_.samples_per_pixel * info_.bits_allocated;
    if (info_.bits_allocated == 1 && info_.number_of_frames > 1 && bits % 8 != 0) {
      return Unimplemented("frames of 1-bit pixel data that do not start on a byte boundary");
    }
    const uint64_t offset = (number - 1) * bits / 8;
    if (offset + info_.frame_bytes > pixel_data_->getLength()) {
      return DataLoss("pixel data is shorter than " + std::to_string(info_.number_of_frames) +
                      " frames");
    }
    std::string out(info_.frame_bytes, '\0');
    OFCondition cond = pixel_data_->getPartialValue(out.data(), static_cast<Uint32>(offset),
                                                    static_cast<Uint32>(info_.frame_bytes), &cache_,
                                                    EBO_LittleEndian);
    if (cond.bad()) return DataLoss(std::string("pixel data cannot be read: ") + cond.text());
    return out;
  }

  std::unique_ptr<DcmFileFormat> file_;
  DcmPixelData* pixel_data_;  // owned by file_
  PixelDataInfo info_;
  DcmPixelSequence* sequence_ = nullptr;  // owned by file_; encapsulated only
  std::vector<uint32_t> first_item_;
  DcmFileCache cache_;
};

}  // namespace

Result<std::unique_ptr<FrameReader>> FrameReader::Open(const std::string& path) {
  STRATA_ASSIGN_OR_RETURN(auto file, LoadLazily(path));
  DcmDataset* dataset = file->getDataset();
  DcmElement* element = nullptr;
  if (dataset->findAndGetElement(DCM_PixelData, element).bad() || element == nullptr) {
    return NotFound("the instance has no Pixel Data");
  }
  PixelDataInfo info;
  const DcmXfer xfer(dataset->getOriginalXfer());
  info.transfer_syntax = xfer.getXferID();
  info.encapsulated = xfer.isEncapsulated();
  Sint32 frames = 1;
  if (dataset->findAndGetSint32(DCM_NumberOfFrames, frames).bad() || frames < 1) frames = 1;
  info.number_of_frames = static_cast<uint32_t>(frames);
  (void)dataset->findAndGetUint16(DCM_SamplesPerPixel, info.samples_per_pixel);
  if (dataset->findAndGetUint16(DCM_Rows, info.rows).bad() ||
      dataset->findAndGetUint16(DCM_Columns, info.columns).bad() ||
      dataset->findAndGetUint16(DCM_BitsAllocated, info.bits_allocated).bad() || info.rows == 0 ||
      info.columns == 0 || info.bits_allocated == 0) {
    return InvalidArgument("the instance lacks Rows, Columns or BitsAllocated");
  }
  info.frame_bytes =
      (uint64_t{info.rows} * info.columns * info.samples_per_pixel * info.bits_allocated + 7) / 8;
  auto* pixel_data = static_cast<DcmPixelData*>(element);
  auto reader = std::make_unique<DcmtkFrameReader>(std::move(file), pixel_data, std::move(info));
  if (reader->info().encapsulated) STRATA_RETURN_IF_ERROR(reader->MapFragments());
  return std::unique_ptr<FrameReader>(std::move(reader));
}

bool CanDecodeFrames(const std::string& ts) {
  return IsNativeTransferSyntax(ts) || ts == UID_JPEGProcess1TransferSyntax ||
         ts == UID_JPEGProcess2_4TransferSyntax || ts == UID_JPEGProcess14TransferSyntax ||
         ts == UID_JPEGProcess14SV1TransferSyntax || ts == UID_JPEGLSLosslessTransferSyntax ||
         ts == UID_JPEGLSLossyTransferSyntax || ts == UID_RLELosslessTransferSyntax;
}

std::string FrameMediaType(const std::string& ts) {
  if (ts == UID_JPEGProcess1TransferSyntax || ts == UID_JPEGProcess2_4TransferSyntax ||
      ts == UID_JPEGProcess14TransferSyntax || ts == UID_JPEGProcess14SV1TransferSyntax) {
    return "image/jpeg";
  }
  if (ts == UID_JPEGLSLosslessTransferSyntax || ts == UID_JPEGLSLossyTransferSyntax) {
    return "image/jls";
  }
  if (ts == UID_JPEG2000LosslessOnlyTransferSyntax || ts == UID_JPEG2000TransferSyntax) {
    return "image/jp2";
  }
  if (ts == UID_JPEG2000Part2MulticomponentImageCompressionLosslessOnlyTransferSyntax ||
      ts == UID_JPEG2000Part2MulticomponentImageCompressionTransferSyntax) {
    return "image/jpx";
  }
  if (ts == UID_RLELosslessTransferSyntax) return "image/x-dicom-rle";
  if (ts == "1.2.840.10008.1.2.4.201" || ts == "1.2.840.10008.1.2.4.202" ||
      ts == "1.2.840.10008.1.2.4.203") {
    return "image/jphc";
  }
  return "application/octet-stream";
}

namespace {

class DcmtkBulkDataReader : public BulkDataReader {
 public:
  DcmtkBulkDataReader(std::unique_ptr<DcmFileFormat> file, DcmElement* element)
      : file_(std::move(file)), element_(element) {}

  uint64_t size() const override { return element_->getLength(); }

  Result<size_t> Read(uint64_t offset, char* buf, size_t size) override {
    const uint64_t total = element_->getLength();
    if (offset >= total || size == 0) return size_t{0};
    const auto n = static_cast<Uint32>(std::min<uint64_t>(size, total - offset));
    OFCondition cond =
        element_->getPartialValue(buf, static_cast<Uint32>(offset), n, &cache_, EBO_LittleEndian);
    if (cond.bad()) return DataLoss(std::string("bulk data cannot be read: ") + cond.text());
    return size_t{n};
  }

 private:
  std::unique_ptr<DcmFileFormat> file_;
  DcmElement* element_;  // owned by file_
  DcmFileCache cache_;
};

}  // namespace

Result<std::unique_ptr<BulkDataReader>> BulkDataReader::Open(const std::string& path, Tag tag) {
  STRATA_ASSIGN_OR_RETURN(auto file, LoadLazily(path));
  DcmDataset* dataset = file->getDataset();
  const DcmTagKey key(static_cast<Uint16>(tag >> 16), static_cast<Uint16>(tag & 0xFFFF));
  DcmElement* element = nullptr;
  if (dataset->findAndGetElement(key, element, OFFalse).bad() &&
      dataset->findAndGetElement(key, element, OFTrue).bad()) {
    char hex[9];
    std::snprintf(hex, sizeof(hex), "%08X", tag);
    return NotFound(std::string("the instance has no attribute ") + hex);
  }
  if (key == DCM_PixelData && DcmXfer(dataset->getOriginalXfer()).isEncapsulated()) {
    return InvalidArgument("encapsulated Pixel Data is read as frames");
  }
  return std::unique_ptr<BulkDataReader>(
      std::make_unique<DcmtkBulkDataReader>(std::move(file), element));
}

}  // namespace strata::dicom
